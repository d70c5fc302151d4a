//! `#[each_host]`: runs one async test on both hosts of the REST components.
//!
//! ```ignore
//! #[each_host]                              // or #[each_host(flavor = "multi_thread")]
//! async fn login_works(host: Host) { let s = Stack::start(host).await; ... }
//! ```
//!
//! becomes the function itself plus `mod login_works { api_host, spin }`: two `#[tokio::test]`s
//! (the attribute's arguments are passed to `tokio::test`) that call it with
//! `test_support::Host::ApiHost` and `test_support::Host::Spin`. The Spin one is
//! `#[ignore]`d unless the crate's build script set the `spin_cli` cfg (it found Spin 4.1 or
//! later through `SPIN_BIN` or `PATH`; see `test_support::spin_find`), so a run without Spin
//! counts those tests as skipped, never as passed.
//!
//! Written with `proc_macro` alone: the only thing read from the item is the name after `fn`.

use proc_macro::{Delimiter, TokenStream, TokenTree};

/// See the crate documentation.
#[proc_macro_attribute]
pub fn each_host(args: TokenStream, item: TokenStream) -> TokenStream {
    let Some(name) = function_name(&item) else {
        return "compile_error!(\"#[each_host] goes on an `async fn name(host: Host)`\");"
            .parse()
            .unwrap();
    };
    let test_args = args.to_string();
    let tokio_test = if test_args.trim().is_empty() {
        "#[::tokio::test]".to_owned()
    } else {
        format!("#[::tokio::test({test_args})]")
    };
    let wrappers = format!(
        "#[allow(non_snake_case)]
        mod {name} {{
            {tokio_test}
            async fn api_host() {{
                super::{name}(::test_support::Host::ApiHost).await
            }}
            {tokio_test}
            #[cfg_attr(
                not(spin_cli),
                ignore = \"the real Spin CLI (4.1 or later) was not found when the tests were built: set SPIN_BIN or put spin on PATH\"
            )]
            async fn spin() {{
                super::{name}(::test_support::Host::Spin).await
            }}
        }}"
    );
    let mut out = item;
    out.extend(wrappers.parse::<TokenStream>().unwrap());
    out
}

/// The identifier after the first top-level `fn`.
fn function_name(item: &TokenStream) -> Option<String> {
    let mut tokens = item.clone().into_iter();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Ident(ident) if ident.to_string() == "fn" => {
                return match tokens.next()? {
                    TokenTree::Ident(name) => Some(name.to_string()),
                    _ => None,
                };
            }
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => return None,
            _ => {}
        }
    }
    None
}
