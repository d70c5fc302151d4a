//! Sets the `spin_cli` cfg when the real Spin CLI is found, so the `#[each_host]` tests also
//! run on it (see `test-support/src/spin_find.rs`).

#[path = "../../test-support/src/spin_find.rs"]
mod spin_find;

fn main() {
    spin_find::emit_build_cfg();
}
