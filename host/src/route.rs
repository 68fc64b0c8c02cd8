//! Layer 2, startup step 2 (see [`crate`]): HTTP routes, parsed once at startup from `[[trigger.http]] route`, matched per request.
//!
//! Syntax (as Spin's):
//! - exact: `/a/b` matches only `/a/b`;
//! - parameter: `/users/:id` matches one non-empty segment and binds it to `id`;
//! - trailing wildcard: `/static/...` matches `/static` and everything below it.
//!
//! Precedence is Spin's: a route without the wildcard that matches wins; else the wildcard
//! route with the longest matching prefix. Within each, a literal segment beats a parameter.
//! Matching runs on two radix trees ([`matchit`]) built at startup, so the per-request cost
//! is one tree walk, plus one per segment of the deepest wildcard prefix when no route
//! without the wildcard matches, and no allocation.

use std::fmt;
use std::str::FromStr;

/// Headers wasmhost sets on every routed request. Any header of the same names sent by the
/// client is removed first, so a guest can trust them.
pub mod headers {
    use http::HeaderName;

    /// Prefix of every wasmhost request header.
    pub const PREFIX: &str = "wasmhost-";
    /// The manifest route that matched, as written (`/users/:id`).
    pub const ROUTE: HeaderName = HeaderName::from_static("wasmhost-route");
    /// The wildcard tail with its leading `/` (`/a/b` for `/static/...` and `/static/a/b`),
    /// empty for the bare prefix; absent for routes without a wildcard.
    pub const PATH_INFO: HeaderName = HeaderName::from_static("wasmhost-path-info");
    /// The client's socket address, `ip:port`.
    pub const CLIENT_ADDR: HeaderName = HeaderName::from_static("wasmhost-client-addr");
    /// Prefix of one header per route parameter: `wasmhost-param-<name>` (name lowercased).
    pub const PARAM_PREFIX: &str = "wasmhost-param-";

    /// Prefix of Spin's routing headers, set (and removed from what clients send) for Spin
    /// apps only.
    pub const SPIN_PREFIX: &str = "spin-";
    /// Spin: the URL the client asked for, `scheme://host/path?query`.
    pub const SPIN_FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");
    /// Spin: the wildcard tail (as [`PATH_INFO`]), empty for routes without a wildcard.
    pub const SPIN_PATH_INFO: HeaderName = HeaderName::from_static("spin-path-info");
    /// Spin: the route that matched, with the base (always `/`).
    pub const SPIN_MATCHED_ROUTE: HeaderName = HeaderName::from_static("spin-matched-route");
    /// Spin: the route as written.
    pub const SPIN_RAW_COMPONENT_ROUTE: HeaderName =
        HeaderName::from_static("spin-raw-component-route");
    /// Spin: the route as written, without its trailing `/...`.
    pub const SPIN_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-component-route");
    /// Spin: the base path, always `/`.
    pub const SPIN_BASE_PATH: HeaderName = HeaderName::from_static("spin-base-path");
    /// Spin: the client's socket address, `ip:port`.
    pub const SPIN_CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");
    /// Spin: prefix of one header per route parameter, `spin-path-match-<name>`.
    pub const SPIN_PATH_MATCH_PREFIX: &str = "spin-path-match-";
}

/// A checked route, for example `/users/:id` or `/static/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Wildcard,
}

/// Why a route string is not a valid route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The route does not begin with `/`.
    #[error("route `{0}` must start with `/`")]
    NoLeadingSlash(String),
    /// `//` or a trailing `/` (other than the root route `/`).
    #[error("route `{0}` has an empty segment (`//` or a trailing `/`)")]
    EmptySegment(String),
    /// `...` somewhere other than the last segment.
    #[error("route `{0}`: the wildcard `...` may only be the last segment")]
    WildcardNotLast(String),
    /// A `:name` whose name is empty or not `[A-Za-z_][A-Za-z0-9_-]*`.
    #[error("route `{route}`: parameter `:{name}` must be a name of letters, digits, `_` or `-`")]
    BadParam {
        /// The whole route.
        route: String,
        /// The parameter name as written.
        name: String,
    },
    /// The same parameter name twice in one route.
    #[error("route `{route}`: parameter `:{name}` appears twice")]
    DuplicateParam {
        /// The whole route.
        route: String,
        /// The repeated name.
        name: String,
    },
    /// A character with a meaning in other routers' syntaxes (`{`, `}`, `*`), `?` / `#`, or a
    /// control character (which the `wasmhost-route` header could not carry).
    #[error(
        "route `{route}`: character `{}` is not allowed in a route",
        ch.escape_debug()
    )]
    BadChar {
        /// The whole route.
        route: String,
        /// The character.
        ch: char,
    },
}

impl FromStr for Route {
    type Err = RouteError;

    fn from_str(text: &str) -> Result<Self, RouteError> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(RouteError::NoLeadingSlash(text.to_owned()));
        };
        if let Some(ch) = text
            .chars()
            .find(|c| matches!(c, '{' | '}' | '*' | '?' | '#') || c.is_control())
        {
            return Err(RouteError::BadChar {
                route: text.to_owned(),
                ch,
            });
        }
        let mut segments = Vec::new();
        if !rest.is_empty() {
            let parts: Vec<&str> = rest.split('/').collect();
            for (i, part) in parts.iter().enumerate() {
                let segment = match *part {
                    "" => return Err(RouteError::EmptySegment(text.to_owned())),
                    "..." if i + 1 == parts.len() => Segment::Wildcard,
                    "..." => return Err(RouteError::WildcardNotLast(text.to_owned())),
                    param if param.starts_with(':') => {
                        let name = &param[1..];
                        if !is_param_name(name) {
                            return Err(RouteError::BadParam {
                                route: text.to_owned(),
                                name: name.to_owned(),
                            });
                        }
                        if segments.contains(&Segment::Param(name.to_owned())) {
                            return Err(RouteError::DuplicateParam {
                                route: text.to_owned(),
                                name: name.to_owned(),
                            });
                        }
                        Segment::Param(name.to_owned())
                    }
                    literal => Segment::Literal(literal.to_owned()),
                };
                segments.push(segment);
            }
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }
}

fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Route {
    /// The route as written in the manifest.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parameter names, in path order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Whether the route ends in the wildcard `...`.
    pub fn is_wildcard(&self) -> bool {
        self.segments.last() == Some(&Segment::Wildcard)
    }

    /// The matchit pattern: without the wildcard, and parameters named by position (`{p0}`,
    /// `{p1}`, ..) so that routes naming the same position differently (`/a/:x/b`,
    /// `/a/:y/c`) do not conflict in the tree. For a wildcard route it is the pattern of its
    /// prefix (`/static/...` → `/static`; `/...` → `/`).
    fn matchit_pattern(&self) -> String {
        let mut out = String::new();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(lit) => out.push_str(&format!("/{lit}")),
                Segment::Param(_) => out.push_str(&format!("/{{p{i}}}")),
                Segment::Wildcard => {}
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }

    /// The route with parameter names erased: two routes with the same shape match exactly the
    /// same paths, so a manifest may not declare both.
    pub fn shape(&self) -> String {
        let mut out: String = self
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(lit) => format!("/{lit}"),
                Segment::Param(_) => "/:".to_owned(),
                Segment::Wildcard => "/...".to_owned(),
            })
            .collect();
        if out.is_empty() {
            out.push('/');
        }
        out
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A routing table from [`Route`]s to values of type `T`, built once at startup, with Spin's
/// precedence: a route without the wildcard that matches wins; else the wildcard route with
/// the longest prefix that matches. Among routes of one kind and length, a literal segment
/// beats a parameter. Two radix trees ([`matchit`]): one of the routes without the
/// wildcard, one of the wildcard routes' prefixes; a path is looked up whole in the first,
/// then cut at each `/` (longest first, no deeper than the deepest prefix) in the second.
#[derive(Debug)]
pub struct Router<T> {
    tree: matchit::Router<usize>,
    prefixes: matchit::Router<usize>,
    /// The most segments a wildcard route's prefix has.
    depth: usize,
    entries: Vec<(Route, T)>,
}

/// A successful match: the route's value, its parameter values in path order, and the
/// wildcard tail.
#[derive(Debug)]
pub struct RouteMatch<'r, 'p, T> {
    /// The value stored with the matched route.
    pub value: &'r T,
    /// The matched route.
    pub route: &'r Route,
    params: matchit::Params<'r, 'p>,
    tail: Option<&'p str>,
}

impl<'r, 'p, T> RouteMatch<'r, 'p, T> {
    /// The values of the route's parameters, in the order of [`Route::params`], as they appear
    /// in the path (still percent-encoded).
    pub fn param_values(&self) -> impl Iterator<Item = &'p str> + '_ {
        self.params.iter().map(|(_, v)| v)
    }

    /// For a wildcard route, the part of the path after its prefix, with its leading `/`
    /// (empty when the path was the bare prefix, `/` when it was the prefix and a slash);
    /// `None` for other routes.
    pub fn path_info(&self) -> Option<&'p str> {
        self.tail
    }
}

/// Two routes that match exactly the same paths (the same [`Route::shape`]).
#[derive(Debug, thiserror::Error)]
#[error("routes number {first} and {second} match the same paths")]
pub struct RouteConflict {
    /// Index of the route registered first.
    pub first: usize,
    /// Index of the route that conflicts with it.
    pub second: usize,
}

impl<T> Router<T> {
    /// Builds the table.
    ///
    /// # Errors
    /// [`RouteConflict`] with the indices (in input order) of two routes of the same
    /// [`Route::shape`], the only routes that cannot be told apart.
    pub fn new(routes: impl IntoIterator<Item = (Route, T)>) -> Result<Self, RouteConflict> {
        let entries: Vec<(Route, T)> = routes.into_iter().collect();
        let mut tree = matchit::Router::new();
        let mut prefixes = matchit::Router::new();
        let mut depth = 0;
        let mut shapes = std::collections::HashMap::new();
        let mut patterns = std::collections::HashMap::new();
        for (i, (route, _)) in entries.iter().enumerate() {
            if let Some(first) = shapes.insert(route.shape(), i) {
                return Err(RouteConflict { first, second: i });
            }
            let into = if route.is_wildcard() {
                depth = depth.max(route.segments.len() - 1);
                &mut prefixes
            } else {
                &mut tree
            };
            // Patterns of different shapes do not conflict (parameters are whole segments
            // named by position, and no pattern has a catch-all); if matchit ever disagrees,
            // the route it names is reported.
            let pattern = route.matchit_pattern();
            if let Err(err) = into.insert(pattern.clone(), i) {
                let first = match err {
                    matchit::InsertError::Conflict { with } => patterns.get(&with).copied(),
                    _ => None,
                };
                return Err(RouteConflict {
                    first: first.unwrap_or(i),
                    second: i,
                });
            }
            patterns.insert(pattern, i);
        }
        Ok(Self {
            tree,
            prefixes,
            depth,
            entries,
        })
    }

    /// Finds the route for `path` (the URI path, without the query), by the precedence of
    /// [`Router`]. At most one lookup per segment of the deepest wildcard prefix, plus one;
    /// no allocation.
    pub fn at<'r, 'p>(&'r self, path: &'p str) -> Option<RouteMatch<'r, 'p, T>> {
        if let Ok(matched) = self.tree.at(path) {
            return Some(self.found(*matched.value, matched.params, None));
        }
        if !path.starts_with('/') {
            return None;
        }
        // The ends of the path's prefixes of at most `depth` segments, longest first: the
        // cut after `depth` segments (or the whole path), then each `/` before it. The root
        // prefix `/` (of `/...`) is the cut at 0; the path `/` is only that.
        let limit = path
            .match_indices('/')
            .nth(self.depth)
            .map_or(path.len(), |(at, _)| at);
        let whole = (path != "/" || limit == 0).then_some(limit);
        let cuts = whole
            .into_iter()
            .chain(path[..limit].rmatch_indices('/').map(|(at, _)| at));
        // (A cut at 1 is after an empty first segment, `//..`, which no prefix has.)
        for cut in cuts.filter(|&cut| cut != 1) {
            let prefix = if cut == 0 { "/" } else { &path[..cut] };
            if let Ok(matched) = self.prefixes.at(prefix) {
                return Some(self.found(*matched.value, matched.params, Some(&path[cut..])));
            }
        }
        None
    }

    fn found<'r, 'p>(
        &'r self,
        index: usize,
        params: matchit::Params<'r, 'p>,
        tail: Option<&'p str>,
    ) -> RouteMatch<'r, 'p, T> {
        let (route, value) = &self.entries[index];
        RouteMatch {
            value,
            route,
            params,
            tail,
        }
    }

    /// The routes and their values, in manifest order.
    pub fn entries(&self) -> &[(Route, T)] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router<usize> {
        Router::new(
            routes
                .iter()
                .enumerate()
                .map(|(i, r)| (r.parse().unwrap(), i)),
        )
        .unwrap()
    }

    fn matched(
        router: &Router<usize>,
        path: &str,
    ) -> Option<(String, Vec<String>, Option<String>)> {
        router.at(path).map(|m| {
            (
                m.route.as_str().to_owned(),
                m.param_values().map(str::to_owned).collect(),
                m.path_info().map(str::to_owned),
            )
        })
    }

    #[test]
    fn parses_the_three_kinds_of_segment() {
        let route: Route = "/users/:id/files/...".parse().unwrap();
        assert_eq!(route.params().collect::<Vec<_>>(), ["id"]);
        assert!(route.is_wildcard());
        assert_eq!(route.shape(), "/users/:/files/...");
        assert_eq!("/".parse::<Route>().unwrap().shape(), "/");
        assert_eq!("/...".parse::<Route>().unwrap().shape(), "/...");
    }

    #[test]
    fn rejects_bad_syntax() {
        let err = |s: &str| s.parse::<Route>().unwrap_err().to_string();
        assert_eq!(err("users"), "route `users` must start with `/`");
        assert_eq!(
            err("/a//b"),
            "route `/a//b` has an empty segment (`//` or a trailing `/`)"
        );
        assert_eq!(
            err("/a/"),
            "route `/a/` has an empty segment (`//` or a trailing `/`)"
        );
        assert_eq!(
            err("/.../a"),
            "route `/.../a`: the wildcard `...` may only be the last segment"
        );
        assert_eq!(
            err("/a/:"),
            "route `/a/:`: parameter `:` must be a name of letters, digits, `_` or `-`"
        );
        assert_eq!(
            err("/a/:x/:x"),
            "route `/a/:x/:x`: parameter `:x` appears twice"
        );
        assert_eq!(
            err("/a/{id}"),
            "route `/a/{id}`: character `{` is not allowed in a route"
        );
        assert_eq!(
            err("/a/*"),
            "route `/a/*`: character `*` is not allowed in a route"
        );
    }

    #[test]
    fn most_specific_route_wins() {
        let r = router(&[
            "/...",
            "/users/:id",
            "/users/me",
            "/users/:id/...",
            "/static/...",
        ]);
        assert_eq!(matched(&r, "/users/me").unwrap().0, "/users/me");
        assert_eq!(
            matched(&r, "/users/42").unwrap(),
            ("/users/:id".to_owned(), vec!["42".to_owned()], None)
        );
        assert_eq!(
            matched(&r, "/users/42/a/b").unwrap(),
            (
                "/users/:id/...".to_owned(),
                vec!["42".to_owned()],
                Some("/a/b".to_owned())
            )
        );
        assert_eq!(matched(&r, "/static").unwrap().2, Some(String::new()));
        assert_eq!(
            matched(&r, "/static/css/x.css").unwrap().2,
            Some("/css/x.css".to_owned())
        );
        assert_eq!(matched(&r, "/other/thing").unwrap().0, "/...");
        assert_eq!(matched(&r, "/").unwrap().0, "/...");
    }

    #[test]
    fn exact_routes_match_only_themselves() {
        let r = router(&["/a/b", "/"]);
        assert!(matched(&r, "/a/b").is_some());
        assert!(matched(&r, "/a").is_none());
        assert!(matched(&r, "/a/b/c").is_none());
        assert!(matched(&r, "/a/b/").is_none());
        assert_eq!(matched(&r, "/").unwrap().0, "/");
    }

    #[test]
    fn params_match_one_nonempty_segment() {
        let r = router(&["/users/:id"]);
        assert!(matched(&r, "/users/").is_none());
        assert!(matched(&r, "/users/1/2").is_none());
    }

    #[test]
    fn differently_named_params_at_one_position_coexist() {
        let r = router(&["/a/:x/b", "/a/:y/c"]);
        assert_eq!(matched(&r, "/a/1/c").unwrap().0, "/a/:y/c");
    }

    /// The docs' precedence example: a parameter and the wildcard at one position coexist
    /// (matchit holds them in two trees); `/static/` is the wildcard's with the path info `/`.
    #[test]
    fn a_parameter_and_the_wildcard_at_one_position_coexist() {
        let r = router(&["/users/me", "/users/:id", "/users/...", "/static/..."]);
        assert_eq!(matched(&r, "/users/me").unwrap().0, "/users/me");
        assert_eq!(matched(&r, "/users/42").unwrap().0, "/users/:id");
        assert_eq!(
            matched(&r, "/users/42/posts").unwrap(),
            (
                "/users/...".to_owned(),
                vec![],
                Some("/42/posts".to_owned())
            )
        );
        assert_eq!(matched(&r, "/users").unwrap().0, "/users/...");
        assert_eq!(matched(&r, "/static/").unwrap().2, Some("/".to_owned()));
        assert_eq!(matched(&r, "/static").unwrap().2, Some(String::new()));
    }

    /// Spin's precedence: a wildcard route with a parameter beside one with the wildcard at
    /// the same position, and the longest matching prefix wins.
    #[test]
    fn the_longest_wildcard_prefix_wins() {
        let r = router(&[
            "/...",
            "/users/...",
            "/users/:id/...",
            "/users/me/...",
            "/a/:x/...",
            "/a/b/c/...",
        ]);
        assert_eq!(
            matched(&r, "/users/42/posts").unwrap(),
            (
                "/users/:id/...".to_owned(),
                vec!["42".to_owned()],
                Some("/posts".to_owned())
            )
        );
        assert_eq!(matched(&r, "/users/me/x").unwrap().0, "/users/me/...");
        assert_eq!(
            matched(&r, "/users/42").unwrap().2,
            Some(String::new()),
            "the bare prefix of `/users/:id/...`"
        );
        assert_eq!(matched(&r, "/users/").unwrap().0, "/users/...");
        assert_eq!(matched(&r, "/users").unwrap().0, "/users/...");
        assert_eq!(matched(&r, "/a/b/c/d").unwrap().0, "/a/b/c/...");
        assert_eq!(
            matched(&r, "/a/b/z").unwrap(),
            (
                "/a/:x/...".to_owned(),
                vec!["b".to_owned()],
                Some("/z".to_owned())
            )
        );
        assert_eq!(
            matched(&r, "/elsewhere/x").unwrap().2,
            Some("/elsewhere/x".to_owned())
        );
        assert_eq!(
            matched(&r, "/").unwrap(),
            ("/...".to_owned(), vec![], Some("/".to_owned()))
        );
    }

    #[test]
    fn exact_route_beats_wildcard_prefix() {
        let r = router(&["/static/...", "/static"]);
        assert_eq!(matched(&r, "/static").unwrap().0, "/static");
        assert_eq!(matched(&r, "/static/x").unwrap().0, "/static/...");
    }

    #[test]
    fn same_shape_conflicts() {
        let routes = ["/users/:id", "/users/:name"].map(|r| (r.parse::<Route>().unwrap(), ()));
        let err = Router::new(routes).unwrap_err();
        assert_eq!((err.first, err.second), (0, 1));
    }

    /// Regression (found by `any_route_text_parses_or_errs`): a control character is refused
    /// at parse time; a route `/\0` was accepted and the app's router then panicked making
    /// its `wasmhost-route` header.
    #[test]
    fn control_characters_are_refused() {
        let err = |s: &str| s.parse::<Route>().unwrap_err().to_string();
        assert_eq!(
            err("/\0"),
            "route `/\0`: character `\\0` is not allowed in a route"
        );
        assert_eq!(
            err("/a\u{7f}/:b"),
            "route `/a\u{7f}/:b`: character `\\u{7f}` is not allowed in a route"
        );
        assert!("/a\t".parse::<Route>().is_err());
        assert!("/caf\u{e9}/\u{1F600}".parse::<Route>().is_ok());
    }

    /// Fuzzing by property: parsing and matching never panic, a route matches the paths
    /// made from it, and a match explains the path it matched (512 cases per property per
    /// run, 256 for those that parse a manifest).
    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Route or path segments: the route syntax, dots, percent-encodings (valid or not),
        /// literals of the table in [`any_path_matches_or_not`], control characters,
        /// non-ASCII, anything.
        fn segment() -> impl Strategy<Value = String> {
            const NEAR: [&str; 16] = [
                "", ".", "..", "...", ":", ":id", ":1x", "%2F", "%2e%2E", "%", "%zz", "users",
                "me", "static", "é", "a",
            ];
            prop_oneof![
                3 => proptest::sample::select(&NEAR[..]).prop_map(str::to_owned),
                1 => "[a-z0-9%:.]{1,8}",
                1 => "[a-z\\x00-\\x1f\\x7f-\\x9f]{1,4}",
                1 => "\\PC{1,6}",
                1 => any::<String>(),
            ]
        }

        /// Text as a route or a request path could be: segments joined by `/` (so `//` and
        /// a trailing `/` too), with or without the leading `/`; very long paths; or
        /// arbitrary text.
        fn path() -> impl Strategy<Value = String> {
            let joined = (any::<bool>(), proptest::collection::vec(segment(), 0..8)).prop_map(
                |(slash, segments)| {
                    format!("{}{}", if slash { "/" } else { "" }, segments.join("/"))
                },
            );
            let long = (1..2000_usize, "[a-z/%]{1,3}")
                .prop_map(|(n, piece)| format!("/{}", piece.repeat(n)));
            prop_oneof![4 => joined, 1 => long, 1 => "\\PC{0,40}", 1 => any::<String>()]
        }

        /// Text that is mostly a valid route (literals, parameters, a wildcard, and now and
        /// then any segment), else as [`path`].
        fn route() -> impl Strategy<Value = String> {
            let part = prop_oneof![
                3 => "[a-z0-9%.\u{e9}-]{1,6}",
                2 => ":[a-z]{1,3}",
                1 => Just("...".to_owned()),
                1 => segment(),
            ];
            let route = proptest::collection::vec(part, 0..4).prop_map(|parts| {
                let route: String = parts.iter().map(|part| format!("/{part}")).collect();
                if route.is_empty() {
                    "/".to_owned()
                } else {
                    route
                }
            });
            prop_oneof![3 => route, 1 => path()]
        }

        /// The path that `found` says it matched: the route with its parameter values and
        /// wildcard tail put back.
        fn rebuilt(found: &RouteMatch<'_, '_, usize>) -> String {
            let mut values = found.param_values();
            let mut path = String::new();
            for segment in &found.route.segments {
                match segment {
                    Segment::Literal(literal) => path += &format!("/{literal}"),
                    Segment::Param(_) => path += &format!("/{}", values.next().unwrap_or("")),
                    Segment::Wildcard => path += found.path_info().unwrap_or(""),
                }
            }
            if path.is_empty() {
                "/".to_owned()
            } else {
                path
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any text parses as a route or an error, never a panic; a route keeps its text,
            /// which a header can carry (`wasmhost-route`).
            #[test]
            fn any_route_text_parses_or_errs(text in route()) {
                if let Ok(route) = text.parse::<Route>() {
                    prop_assert_eq!(route.as_str(), text.as_str());
                    prop_assert!(http::HeaderValue::from_str(route.as_str()).is_ok(), "{:?}", text);
                }
            }

            /// Against routes of every kind, any path matches or not, never a panic; a match
            /// puts back together as the path, with one non-empty parameter value without `/`
            /// per parameter, and a tail exactly for a wildcard route.
            #[test]
            fn any_path_matches_or_not(path in path()) {
                let r = router(&[
                    "/",
                    "/users/:id",
                    "/users/me",
                    "/users/:id/...",
                    "/static/...",
                    "/a/:x/b",
                    "/a/:y/c",
                    "/%2e%2E/:p",
                    "/é/...",
                    "/me/...",
                ]);
                if let Some(found) = r.at(&path) {
                    prop_assert_eq!(rebuilt(&found), path.as_str());
                    let values: Vec<&str> = found.param_values().collect();
                    prop_assert_eq!(values.len(), found.route.params().count());
                    prop_assert!(values.iter().all(|v| !v.is_empty() && !v.contains('/')));
                    prop_assert_eq!(found.path_info().is_some(), found.route.is_wildcard());
                }
            }

            /// Any table of routes builds or conflicts, and matches any path or not, never a
            /// panic; a match puts back together as the path.
            #[test]
            fn any_table_matches_or_not(
                routes in proptest::collection::vec("(/(:?[a-z]{1,3}|\\.\\.\\.)){0,3}", 0..6),
                path in path(),
            ) {
                let parsed: Vec<(Route, usize)> = routes
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| Some((r.parse().ok()?, i)))
                    .collect();
                if let Ok(router) = Router::new(parsed)
                    && let Some(found) = router.at(&path)
                {
                    prop_assert_eq!(rebuilt(&found), path.as_str());
                }
            }

            /// A route matches the paths made from it, whatever the parameter values and the
            /// wildcard tail (dots, percent signs, non-ASCII), and gives them back.
            #[test]
            fn a_route_matches_its_own_paths(
                segments in proptest::collection::vec(("[a-z]{1,4}", any::<bool>()), 1..4),
                values in proptest::collection::vec("[^/]{1,6}", 4),
                tail in proptest::option::of("(/[^/]{0,4}){0,3}"),
            ) {
                let mut route: String = segments
                    .iter()
                    .map(|(name, param)| if *param { format!("/:{name}x") } else { format!("/{name}") })
                    .collect();
                if tail.is_some() {
                    route += "/...";
                }
                let Ok(parsed) = route.parse::<Route>() else {
                    // Two parameters with one name.
                    return Ok(());
                };
                let mut path: String = segments
                    .iter()
                    .zip(&values)
                    .map(|((name, param), value)| if *param { format!("/{value}") } else { format!("/{name}") })
                    .collect();
                path += tail.as_deref().unwrap_or("");
                let router = Router::new([(parsed, 0)]).unwrap();
                let found = router.at(&path);
                prop_assert!(found.is_some(), "{} does not match {}", route, path);
                let found = found.unwrap();
                let given: Vec<&str> = segments
                    .iter()
                    .zip(&values)
                    .filter(|((_, param), _)| *param)
                    .map(|(_, value)| value.as_str())
                    .collect();
                prop_assert_eq!(found.param_values().collect::<Vec<_>>(), given);
                prop_assert_eq!(found.path_info(), tail.as_deref());
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// A manifest's routes of any text are refused or accepted at parse time, and the
            /// accepted ones build the app's routing table or a conflict error, never a panic.
            #[test]
            fn any_manifest_routes_parse_and_serve_or_err(
                routes in proptest::collection::vec(route(), 1..4),
            ) {
                let mut text = "manifest_version = 1\n[application]\nname = \"r\"\n\
                                [component.a]\nsource = \"a.wasm\"\n"
                    .to_owned();
                for route in &routes {
                    let route = toml::Value::String(route.clone());
                    text += &format!("[[trigger.http]]\nroute = {route}\ncomponent = \"a\"\n");
                }
                let path = std::path::Path::new("/app/wasmhost.toml");
                if let Ok(app) = crate::manifest::parse(path, &text) {
                    prop_assert_eq!(app.http_triggers.len(), routes.len());
                    let _ = crate::app_version::router(&app);
                }
            }
        }
    }
}
