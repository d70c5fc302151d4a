//! Query-string parameters whose values are plain tokens (integers, flags), so no
//! percent-decoding is needed.

/// The value of the first `name=...` in `query`, if any (`name` alone gives `""`).
pub fn param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}
