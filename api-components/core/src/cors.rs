//! Cross-origin resource sharing: which browser origins may call the API, and the headers
//! that say so. Pure logic (no spin-sdk), unit-tested natively; the components apply it with
//! `component::serve`.
//!
//! The allowed origins come from the `cors_origins` Spin variable (`CORS_ORIGINS` of the
//! original service): a comma-separated list of origins such as `https://app.example.org`, or
//! `*` for any origin. Empty (the default) turns CORS off: no CORS headers at all, and a
//! preflight is treated like any other `OPTIONS` request (405).
//!
//! When on:
//! - a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) from an
//!   allowed origin is answered `204` by [`Origins::preflight_headers`], before any route or
//!   method check; from another origin `403` without CORS headers;
//! - every other answer (errors too) gets `Access-Control-Allow-Origin` (the request's origin,
//!   echoed, also for `*`) and `Access-Control-Expose-Headers` when the origin is allowed;
//! - every answer gets `Vary: Origin`, because it depends on the request's `Origin`.
//!
//! Bearer tokens travel in `Authorization`, not in cookies, so
//! `Access-Control-Allow-Credentials` is never sent.

/// Methods a preflight may ask for: every method some route of the API takes.
pub const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// Request headers browsers may send beside the CORS-safelisted ones.
pub const ALLOW_HEADERS: &str = "Authorization, Content-Type, If-Match, If-None-Match, Accept";

/// Response headers scripts may read beside the CORS-safelisted ones.
pub const EXPOSE_HEADERS: &str =
    "ETag, Retry-After, Content-Disposition, Location, WWW-Authenticate, Allow";

/// How long browsers may cache a preflight answer, in seconds (Chromium caps it at 7200).
pub const MAX_AGE_SECONDS: u32 = 600;

/// The origins allowed to call the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins {
    /// `*` was listed.
    any: bool,
    /// Listed origins, lowercase, without a trailing `/`.
    listed: Vec<String>,
}

/// A header of a CORS answer: name (lowercase) and value.
pub type Header = (&'static str, String);

impl Origins {
    /// Parses the `cors_origins` variable: origins separated by commas (blanks around them
    /// ignored), `*` for any.
    pub fn parse(text: &str) -> Origins {
        let mut origins = Origins::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                origins.any = true;
            } else {
                origins.listed.push(normalize(item));
            }
        }
        origins
    }

    /// Whether CORS is on at all.
    pub fn is_enabled(&self) -> bool {
        self.any || !self.listed.is_empty()
    }

    /// Whether `origin` (an `Origin` header value) may call the API.
    pub fn allows(&self, origin: &str) -> bool {
        let origin = origin.trim();
        // `null` (sandboxed frames, file: pages) is never an allowed origin, not even for `*`.
        if origin.is_empty() || origin == "null" {
            return false;
        }
        self.any || self.listed.contains(&normalize(origin))
    }

    /// The headers of a `204` answer to a preflight from `origin`, or `None` when that
    /// origin is not allowed (answer `403`, with [`Origins::vary`] only).
    pub fn preflight_headers(&self, origin: &str) -> Option<Vec<Header>> {
        if !self.allows(origin) {
            return None;
        }
        Some(vec![
            ("access-control-allow-origin", origin.trim().to_owned()),
            ("access-control-allow-methods", ALLOW_METHODS.to_owned()),
            ("access-control-allow-headers", ALLOW_HEADERS.to_owned()),
            ("access-control-max-age", MAX_AGE_SECONDS.to_string()),
            ("vary", "Origin".to_owned()),
        ])
    }

    /// The headers to add to an actual (non-preflight) answer for a request with `origin`
    /// (`None`: the request had no `Origin`). Empty when CORS is off.
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<Header> {
        let mut headers = self.vary();
        if let Some(origin) = origin.filter(|o| self.allows(o)) {
            headers.push(("access-control-allow-origin", origin.trim().to_owned()));
            headers.push(("access-control-expose-headers", EXPOSE_HEADERS.to_owned()));
        }
        headers
    }

    /// `Vary: Origin` when CORS is on: a cache must not hand one origin's answer to another.
    pub fn vary(&self) -> Vec<Header> {
        if self.is_enabled() {
            vec![("vary", "Origin".to_owned())]
        } else {
            Vec::new()
        }
    }
}

/// Whether a request is a CORS preflight: `OPTIONS` with both `Origin` and
/// `Access-Control-Request-Method`.
pub fn is_preflight(method: &str, origin: Option<&str>, request_method: Option<&str>) -> bool {
    method.eq_ignore_ascii_case("OPTIONS") && origin.is_some() && request_method.is_some()
}

/// Origins compare without case (scheme and host are case-insensitive; browsers send them in
/// lowercase) and without a trailing `/` (a common slip in configuration).
fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_off() {
        for text in ["", " ", ",", " , "] {
            let o = Origins::parse(text);
            assert!(!o.is_enabled(), "{text:?}");
            assert!(!o.allows("https://a.example"));
            assert!(o.response_headers(Some("https://a.example")).is_empty());
            assert!(o.preflight_headers("https://a.example").is_none());
        }
    }

    #[test]
    fn listed_origins_match_exactly_ignoring_case_and_trailing_slash() {
        let o = Origins::parse(" https://App.example.org/ ,http://localhost:5173");
        assert!(o.is_enabled());
        assert!(o.allows("https://app.example.org"));
        assert!(o.allows("http://localhost:5173"));
        assert!(!o.allows("http://localhost:5174"));
        assert!(!o.allows("https://app.example.org.evil.test"));
        assert!(!o.allows("http://app.example.org"));
        assert!(!o.allows("null"));
        assert!(!o.allows(""));
    }

    #[test]
    fn star_allows_any_real_origin_and_echoes_it() {
        let o = Origins::parse("*");
        assert!(o.allows("https://anything.test"));
        assert!(!o.allows("null"));
        let h = o.response_headers(Some("https://anything.test"));
        assert!(h.contains(&(
            "access-control-allow-origin",
            "https://anything.test".to_owned()
        )));
    }

    #[test]
    fn preflight_headers_name_methods_headers_and_max_age() {
        let o = Origins::parse("https://a.example");
        let h = o.preflight_headers("https://a.example").unwrap();
        let get = |name: &str| h.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        assert_eq!(
            get("access-control-allow-origin"),
            Some("https://a.example")
        );
        assert!(
            get("access-control-allow-methods")
                .unwrap()
                .contains("PATCH")
        );
        assert!(
            get("access-control-allow-headers")
                .unwrap()
                .contains("If-Match")
        );
        assert!(
            get("access-control-allow-headers")
                .unwrap()
                .contains("Authorization")
        );
        assert_eq!(get("access-control-max-age"), Some("600"));
        assert_eq!(get("vary"), Some("Origin"));
        assert!(o.preflight_headers("https://b.example").is_none());
    }

    #[test]
    fn actual_answers_get_vary_always_and_allow_origin_only_when_allowed() {
        let o = Origins::parse("https://a.example");
        assert_eq!(
            o.response_headers(None),
            vec![("vary", "Origin".to_owned())]
        );
        assert_eq!(
            o.response_headers(Some("https://b.example")),
            vec![("vary", "Origin".to_owned())]
        );
        let h = o.response_headers(Some("https://a.example"));
        assert_eq!(h.len(), 3);
        assert!(h.iter().any(|(n, v)| *n == "access-control-expose-headers"
            && v.contains("ETag")
            && v.contains("Retry-After")));
    }

    #[test]
    fn preflight_needs_options_origin_and_requested_method() {
        assert!(is_preflight("OPTIONS", Some("https://a"), Some("PUT")));
        assert!(!is_preflight("OPTIONS", None, Some("PUT")));
        assert!(!is_preflight("OPTIONS", Some("https://a"), None));
        assert!(!is_preflight("GET", Some("https://a"), Some("PUT")));
    }
}
