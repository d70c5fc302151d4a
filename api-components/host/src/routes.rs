//! HTTP route matching as Spin does it: exact segments, `:name` segments and a trailing
//! `/...` wildcard; the most specific matching route wins, whatever the manifest order.

use anyhow::{Result, bail};
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Exact(String),
    Param(String),
}

/// One `[[trigger.http]]` route, compiled.
#[derive(Debug, Clone)]
pub struct Route {
    /// The route exactly as written in the manifest (`spin-matched-route`).
    pub raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
    /// Index of the component (into the app's component list) serving this route.
    pub component: usize,
}

/// What a request path matched: the route, its named parameters and the path info.
#[derive(Debug)]
pub struct RouteMatch<'a> {
    pub route: &'a Route,
    pub params: Vec<(String, String)>,
    /// The part of the path the wildcard matched, with a leading `/` (or empty).
    pub path_info: String,
}

impl Route {
    pub fn parse(raw: &str, component: usize) -> Result<Route> {
        if !raw.starts_with('/') {
            bail!("route {raw:?} must start with '/'");
        }
        let mut parts: Vec<&str> = raw.split('/').filter(|s| !s.is_empty()).collect();
        let wildcard = parts.last() == Some(&"...");
        if wildcard {
            parts.pop();
        }
        let mut segments = Vec::with_capacity(parts.len());
        for part in parts {
            if part == "..." {
                bail!("route {raw:?}: '...' may only end a route");
            }
            segments.push(match part.strip_prefix(':') {
                Some("") => bail!("route {raw:?}: ':' needs a name"),
                Some(name) => Segment::Param(name.to_string()),
                None => Segment::Exact(part.to_string()),
            });
        }
        Ok(Route {
            raw: raw.to_string(),
            segments,
            wildcard,
            component,
        })
    }

    /// The route without its wildcard (`spin-component-route`).
    pub fn component_route(&self) -> String {
        self.raw
            .strip_suffix("/...")
            .unwrap_or(&self.raw)
            .to_string()
    }

    /// Matches the segments of a path (see [`Router::route`]); `trailing_slash` says
    /// whether the path ended with `/`, which the path info keeps, as in Spin.
    fn matches<'a>(
        &'a self,
        path_segments: &[&str],
        trailing_slash: bool,
    ) -> Option<RouteMatch<'a>> {
        if path_segments.len() < self.segments.len()
            || (!self.wildcard && path_segments.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        for (segment, actual) in self.segments.iter().zip(path_segments) {
            match segment {
                Segment::Exact(s) if s == actual => {}
                Segment::Exact(_) => return None,
                // Also an empty segment (`/users//files`), as in Spin.
                Segment::Param(name) => params.push((name.clone(), actual.to_string())),
            }
        }
        let rest = &path_segments[self.segments.len()..];
        let slash = if trailing_slash { "/" } else { "" };
        let path_info = match (self.wildcard, rest.is_empty()) {
            (false, _) => String::new(),
            (true, true) => slash.to_string(),
            (true, false) => format!("/{}{slash}", rest.join("/")),
        };
        Some(RouteMatch {
            route: self,
            params,
            path_info,
        })
    }

    /// Rank of the segment at `i`: exact beats `:param`, a route ending there beats a
    /// wildcard that would also swallow nothing.
    fn rank(&self, i: usize) -> u8 {
        match self.segments.get(i) {
            Some(Segment::Exact(_)) => 4,
            Some(Segment::Param(_)) => 3,
            None if !self.wildcard => 2,
            None => 1,
        }
    }

    fn specificity(&self, other: &Route) -> Ordering {
        let n = self.segments.len().max(other.segments.len()) + 1;
        (0..n)
            .map(|i| self.rank(i).cmp(&other.rank(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

/// All public routes of the application.
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(routes: Vec<Route>) -> Result<Router> {
        let mut kept: Vec<Route> = Vec::with_capacity(routes.len());
        for route in routes {
            // The same route written twice: the later one serves it, as in Spin.
            if let Some(same) = kept.iter_mut().find(|r| r.raw == route.raw) {
                tracing::warn!(route = %route.raw, "route given twice: the later one is used");
                *same = route;
                continue;
            }
            if let Some(other) = kept
                .iter()
                .find(|r| r.segments == route.segments && r.wildcard == route.wildcard)
            {
                bail!("routes {:?} and {:?} are duplicates", other.raw, route.raw);
            }
            kept.push(route);
        }
        Ok(Router { routes: kept })
    }

    /// The most specific route matching `path` (the URI path, without query). As in
    /// Spin, slashes at either end of the path are ignored, empty segments inside it
    /// are not (`/a//b` has three), and the path info keeps the remaining segments as
    /// they were, with a trailing slash when the path had one.
    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let trimmed = path.trim_matches('/');
        let segments: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        let trailing_slash = path.ends_with('/');
        self.routes
            .iter()
            .filter_map(|r| r.matches(&segments, trailing_slash))
            .max_by(|a, b| a.route.specificity(b.route))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router {
        Router::new(
            routes
                .iter()
                .enumerate()
                .map(|(i, r)| Route::parse(r, i).unwrap())
                .collect(),
        )
        .unwrap()
    }

    fn hit(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.route.raw.clone())
    }

    #[test]
    fn most_specific_wins() {
        let r = router(&[
            "/...",
            "/api/...",
            "/api/health/...",
            "/api/health/detailed",
            "/api/:x/y",
        ]);
        assert_eq!(
            hit(&r, "/api/health/detailed").unwrap(),
            "/api/health/detailed"
        );
        assert_eq!(hit(&r, "/api/health").unwrap(), "/api/health/...");
        assert_eq!(hit(&r, "/api/health/").unwrap(), "/api/health/...");
        assert_eq!(hit(&r, "/api/health/other").unwrap(), "/api/health/...");
        assert_eq!(hit(&r, "/api/users/y").unwrap(), "/api/:x/y");
        assert_eq!(hit(&r, "/api/users/z").unwrap(), "/api/...");
        assert_eq!(hit(&r, "/").unwrap(), "/...");
        assert_eq!(hit(&r, "/elsewhere").unwrap(), "/...");
    }

    /// spin.toml serves `/api/workspace/:id/shutdown` (sessions) beside a wildcard for the rest
    /// of `/api/workspace/` (workspace files, later): the exact route must take only its path.
    #[test]
    fn shutdown_route_does_not_steal_the_workspace_wildcard() {
        let r = router(&[
            "/api/workspace/...",
            "/api/workspace/:id/shutdown",
            "/workspace/:id/shutdown",
            "/api/sessions/...",
        ]);
        let shutdown = "/api/workspace/:id/shutdown";
        assert_eq!(hit(&r, "/api/workspace/abc/shutdown").unwrap(), shutdown);
        assert_eq!(hit(&r, "/api/workspace/abc/shutdown/").unwrap(), shutdown);
        for other in [
            "/api/workspace/abc/files",
            "/api/workspace/abc/file/shutdown",
            "/api/workspace/abc/shutdown/more",
            "/api/workspace/shutdown",
        ] {
            assert_eq!(hit(&r, other).unwrap(), "/api/workspace/...", "{other}");
        }
        assert_eq!(
            hit(&r, "/workspace/abc/shutdown").unwrap(),
            "/workspace/:id/shutdown"
        );
        assert!(hit(&r, "/workspace/abc/files").is_none());
        assert_eq!(hit(&r, "/api/sessions").unwrap(), "/api/sessions/...");
    }

    #[test]
    fn exact_route_matches_only_itself() {
        let r = router(&["/a/b"]);
        assert!(hit(&r, "/a").is_none());
        assert!(hit(&r, "/a/b/c").is_none());
        assert_eq!(hit(&r, "/a/b").unwrap(), "/a/b");
    }

    #[test]
    fn params_and_path_info() {
        let r = router(&["/users/:id/files/..."]);
        let m = r.route("/users/42/files/src/main.rs").unwrap();
        assert_eq!(m.params, vec![("id".to_string(), "42".to_string())]);
        assert_eq!(m.path_info, "/src/main.rs");
        assert_eq!(m.route.component_route(), "/users/:id/files");
        assert_eq!(r.route("/users/42/files").unwrap().path_info, "");
    }

    /// What the real Spin answers for these paths (recorded with `spin up`).
    #[test]
    fn path_info_and_empty_segments_as_in_spin() {
        let r = router(&[
            "/fixture/...",
            "/fixture/users/:id/files/...",
            "/exact/echo",
        ]);
        let info = |path: &str| {
            let m = r.route(path).unwrap();
            (m.route.raw.clone(), m.path_info.clone(), m.params.clone())
        };
        let none: Vec<(String, String)> = Vec::new();
        let id = |v: &str| vec![("id".to_string(), v.to_string())];
        assert_eq!(
            info("/fixture"),
            ("/fixture/...".into(), "".into(), none.clone())
        );
        assert_eq!(
            info("/fixture/"),
            ("/fixture/...".into(), "/".into(), none.clone())
        );
        assert_eq!(
            info("/fixture//"),
            ("/fixture/...".into(), "/".into(), none.clone())
        );
        assert_eq!(
            info("/fixture/a/"),
            ("/fixture/...".into(), "/a/".into(), none.clone())
        );
        assert_eq!(
            info("//fixture/a"),
            ("/fixture/...".into(), "/a".into(), none.clone())
        );
        assert_eq!(
            info("/fixture/a//b/echo"),
            ("/fixture/...".into(), "/a//b/echo".into(), none.clone())
        );
        assert_eq!(
            info("/fixture//users/7/files/x"),
            (
                "/fixture/...".into(),
                "//users/7/files/x".into(),
                none.clone()
            )
        );
        let users = "/fixture/users/:id/files/...".to_string();
        assert_eq!(
            info("/fixture/users//files/x"),
            (users.clone(), "/x".into(), id(""))
        );
        assert_eq!(
            info("/fixture/users/7/files//"),
            (users.clone(), "/".into(), id("7"))
        );
        assert_eq!(
            info("/fixture/users/%37/files"),
            (users, "".into(), id("%37"))
        );
        assert_eq!(
            info("/exact/echo//"),
            ("/exact/echo".into(), "".into(), none)
        );
        assert!(router(&["/exact/echo"]).route("/exact//echo").is_none());
    }

    #[test]
    fn a_route_given_twice_is_served_by_the_later_one() {
        let r = router(&["/a/...", "/a/..."]);
        assert_eq!(r.route("/a/b").unwrap().route.component, 1);
    }

    #[test]
    fn bad_routes_are_rejected() {
        assert!(Route::parse("api", 0).is_err());
        assert!(Route::parse("/a/.../b", 0).is_err());
        assert!(Route::parse("/a/:", 0).is_err());
        assert!(
            Router::new(vec![
                Route::parse("/a/...", 0).unwrap(),
                Route::parse("/a//...", 1).unwrap()
            ])
            .is_err()
        );
    }
}
