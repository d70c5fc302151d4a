//! `spin:variables/variables@3.0.0`: a component reads its variables, already rendered
//! for it by the host (see `variables`), through the asynchronous `get`.
//!
//! Names follow Spin's rule ([`validate_name`]); an invalid one is `invalid-name`, a
//! valid one the component does not declare is `undefined`.

use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{Accessor, HasData, Linker};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "api-host:spin/variables",
        // `get` is a WIT `async` function, so it takes an `Accessor` by default. No
        // `tracing`: it would log the values, and variables hold secrets.
    });
}

use bindings::spin::variables::variables as wit;

/// The variables of one component, by name.
pub struct VarsCtx {
    pub values: Arc<BTreeMap<String, String>>,
}

/// Implemented by the store data: where its [`VarsCtx`] is.
pub trait VarsView: Send {
    fn vars(&mut self) -> &mut VarsCtx;
}

/// Adds `spin:variables/variables@3.0.0` to `linker`.
pub fn add_to_linker<T: VarsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Vars>(linker, |data| data.vars())
}

/// Selects `&mut VarsCtx` as the bindings' view of the store.
struct Vars;

impl HasData for Vars {
    type Data<'a> = &'a mut VarsCtx;
}

impl wit::Host for VarsCtx {}

impl<T> wit::HostWithStore<T> for Vars {
    async fn get(accessor: &Accessor<T, Self>, name: String) -> Result<String, wit::Error> {
        validate_name(&name)
            .map_err(|reason| wit::Error::InvalidName(format!("{name:?}: {reason}")))?;
        let value = accessor.with(|mut access| access.get().values.get(&name).cloned());
        value.ok_or(wit::Error::Undefined(name))
    }
}

/// Spin's rule for variable names: lowercase ASCII letters, digits and single
/// underscores; starting with a letter, ending with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), &'static str> {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return Err("must not be empty");
    };
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
    {
        return Err("may contain only lowercase letters, digits and underscores");
    }
    if !first.is_ascii_lowercase() {
        return Err("must start with a lowercase letter");
    }
    if !last.is_ascii_alphanumeric() {
        return Err("must end with a lowercase letter or digit");
    }
    if name.contains("__") {
        return Err("must not contain consecutive underscores");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_name;

    #[test]
    fn names_follow_spin_rules() {
        for ok in ["a", "abc", "a1b2c3", "a_1", "database_url", "a_1_b_3"] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "aX",
            "1bc",
            "_x",
            "x.y",
            "x_",
            "a__b",
            "x-y",
            "DATABASE_URL",
            "é",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
