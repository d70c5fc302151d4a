//! `refinery::embed_migrations!` includes each SQL file with `include_str!`, so cargo notices
//! edits to existing migrations but not a new file. Watching the directory fixes that.

fn main() {
    println!("cargo::rerun-if-changed=../migrations");
}
