//! A router inside a component: method and route to a handler, with typed path parameters. It
//! sits just after the host's own routing: the manifest's `[[trigger.http]]` routes pick the
//! component, and a [`Router`] in the component picks the function, the way a Workers
//! `Router` or Spin's `Router` does.
//!
//! ```no_run
//! use wasmhost_sdk::router::{Params, Router};
//! use wasmhost_sdk::{HttpError, Json, Request, RequestBodyExt, http_component};
//!
//! #[derive(serde::Deserialize, serde::Serialize)]
//! struct User {
//!     name: String,
//! }
//!
//! #[http_component]
//! fn handle(req: Request) -> wasmhost_sdk::Response {
//!     Router::new()
//!         .get("/users/me", |_, _| "you\n")
//!         .get("/users/:id", get_user)
//!         .post("/users", |req: Request, _| -> Result<_, HttpError> {
//!             let user: User = req.json()?; // 400 with serde's message if it is not a User
//!             Ok(Json(user))
//!         })
//!         .get("/files/...", |_, params: Params| format!("file {}\n", params.rest()))
//!         .handle(req)
//! }
//!
//! fn get_user(_req: Request, params: Params) -> Result<String, HttpError> {
//!     let id: u64 = params.parse("id")?; // `/users/abc` is a 400 naming `id`
//!     Ok(format!("user {id}\n"))
//! }
//! # fn main() {}
//! ```
//!
//! **Routes** are written as in the manifest: `/users/me` (exact), `/users/:id` (a parameter
//! matches one whole segment), `/files/...` (a wildcard matches the rest of the path,
//! `/files` and `/files/` included). The most specific route wins, segment by segment: an
//! exact segment beats a parameter, a parameter beats a wildcard, and of two wildcards the
//! longer prefix wins; a trailing `/` in the request is ignored. Routes match the request's
//! whole path (not the part after the manifest route).
//!
//! **Answers of its own:** no route matches: 404; a route matches but has no handler for the
//! method: 405 with `Allow`; `HEAD` uses the `GET` handler if there is no `HEAD` one. A route
//! the router cannot parse is a 500 for every request, with the route and the reason in the
//! log.
//!
//! **Async handlers** are added with the `_async` methods (`get_async`, ...); a router with
//! them is run with [`Router::handle_async`] from an `async` `#[http_component]`, or with
//! [`Router::handle`], which drives them on the SDK's executor.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use http::{HeaderValue, Method, StatusCode, header};
use percent_encoding::percent_decode_str;

use crate::error::HttpError;
use crate::response::{IntoResponse, Response};
use crate::{Request, executor};

/// A handler's response, as the router keeps it: a boxed future (ready at once for a
/// synchronous handler).
type Pending = Pin<Box<dyn Future<Output = Response>>>;

/// A handler as the router keeps it.
type Handler = Box<dyn Fn(Request, Params) -> Pending>;

/// Methods to handlers, for one route.
type Methods = BTreeMap<MethodKey, Handler>;

/// A method, ordered by name so that `Allow` lists them in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct MethodKey(String);

impl From<&Method> for MethodKey {
    fn from(method: &Method) -> Self {
        Self(method.as_str().to_owned())
    }
}

/// Routes requests to handlers by method and route. See the [module](self) documentation.
#[derive(Default)]
pub struct Router {
    /// Patterns to indexes into `table`, ordered by specificity (routefinder).
    routes: routefinder::Router<usize>,
    /// Each route's pattern (to find it again when a second method is added) and methods.
    table: Vec<(String, Methods)>,
    /// The first route that could not be added, with the reason: every request is then a 500.
    invalid: Option<String>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes.len())
            .field("invalid", &self.invalid)
            .finish()
    }
}

/// `Router::get`, `Router::get_async`, ... for each method.
macro_rules! methods {
    ($($method:ident, $method_async:ident => $constant:ident;)*) => {$(
        #[doc = concat!("Adds `handler` for `", stringify!($constant), "` requests to `route`.")]
        pub fn $method<R, F>(self, route: &str, handler: F) -> Self
        where
            R: IntoResponse,
            F: Fn(Request, Params) -> R + 'static,
        {
            self.on(Method::$constant, route, handler)
        }

        #[doc = concat!("Adds the async `handler` for `", stringify!($constant), "` requests to `route`.")]
        pub fn $method_async<R, Fut, F>(self, route: &str, handler: F) -> Self
        where
            R: IntoResponse,
            Fut: Future<Output = R> + 'static,
            F: Fn(Request, Params) -> Fut + 'static,
        {
            self.on_async(Method::$constant, route, handler)
        }
    )*};
}

impl Router {
    /// A router with no routes: every request is a 404.
    pub fn new() -> Self {
        Self::default()
    }

    methods! {
        get, get_async => GET;
        post, post_async => POST;
        put, put_async => PUT;
        patch, patch_async => PATCH;
        delete, delete_async => DELETE;
        head, head_async => HEAD;
        options, options_async => OPTIONS;
    }

    /// Adds `handler` for `method` requests to `route`. A second handler for the same method
    /// and route replaces the first.
    pub fn on<R, F>(self, method: Method, route: &str, handler: F) -> Self
    where
        R: IntoResponse,
        F: Fn(Request, Params) -> R + 'static,
    {
        self.add(
            method,
            route,
            Box::new(move |req, params| {
                let response = handler(req, params).into_response();
                Box::pin(std::future::ready(response))
            }),
        )
    }

    /// Adds the async `handler` for `method` requests to `route`.
    pub fn on_async<R, Fut, F>(self, method: Method, route: &str, handler: F) -> Self
    where
        R: IntoResponse,
        Fut: Future<Output = R> + 'static,
        F: Fn(Request, Params) -> Fut + 'static,
    {
        self.add(
            method,
            route,
            Box::new(move |req, params| {
                let response = handler(req, params);
                Box::pin(async move { response.await.into_response() })
            }),
        )
    }

    fn add(mut self, method: Method, route: &str, handler: Handler) -> Self {
        if self.invalid.is_some() {
            return self;
        }
        let spec = match pattern(route) {
            Ok(spec) => spec,
            Err(reason) => {
                self.invalid = Some(format!("route `{route}` is invalid: {reason}"));
                return self;
            }
        };
        // routefinder orders routes by their shape only, so it cannot find one by its text.
        if let Some((_, methods)) = self.table.iter_mut().find(|(p, _)| *p == spec) {
            methods.insert(MethodKey::from(&method), handler);
            return self;
        }
        if let Err(reason) = self.routes.add(spec.as_str(), self.table.len()) {
            self.invalid = Some(format!("route `{route}` is invalid: {reason}"));
            return self;
        }
        let methods = Methods::from([(MethodKey::from(&method), handler)]);
        self.table.push((spec, methods));
        self
    }

    /// Routes `req` and runs its handler to the end (an async one on the SDK's executor).
    pub fn handle(&self, req: Request) -> Response {
        executor::block_on(self.handle_async(req))
    }

    /// Routes `req` and awaits its handler.
    pub async fn handle_async(&self, req: Request) -> Response {
        if let Some(invalid) = &self.invalid {
            return HttpError::internal(format!("wasmhost_sdk::router: {invalid}")).into_response();
        }
        let path = req.uri().path().to_owned();
        let Some(found) = self.routes.best_match(&path) else {
            return HttpError::not_found("not found").into_response();
        };
        let (_, methods) = &self.table[*found.handler()];
        let method = MethodKey::from(req.method());
        let handler = methods.get(&method).or_else(|| {
            (*req.method() == Method::HEAD)
                .then(|| methods.get(&MethodKey::from(&Method::GET)))
                .flatten()
        });
        let Some(handler) = handler else {
            return not_allowed(methods);
        };
        let captures = found.captures();
        let params = Params {
            params: captures
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            rest: captures.wildcard().map(str::to_owned),
        };
        handler(req, params).await
    }
}

/// 405 with `Allow` listing the route's methods.
fn not_allowed(methods: &Methods) -> Response {
    let allow: Vec<&str> = methods.keys().map(|m| m.0.as_str()).collect();
    let mut response = HttpError::with_status(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// The router's pattern for a manifest-style `route`: `/...` at the end becomes the
/// wildcard `*`; `:name` segments stay.
///
/// # Errors
/// A route that does not start with `/`, or has `...` or `*` anywhere but as its last segment.
fn pattern(route: &str) -> Result<String, &'static str> {
    if !route.starts_with('/') {
        return Err("a route starts with `/`");
    }
    let (prefix, wildcard) = match route.strip_suffix("/...") {
        Some(prefix) => (prefix, true),
        None => (route, false),
    };
    if prefix.contains("...") || prefix.contains('*') {
        return Err("a wildcard (`/...`) may only end a route");
    }
    Ok(if wildcard {
        format!("{prefix}/*")
    } else {
        prefix.to_owned()
    })
}

/// The path parameters of the matched route: its `:name` segments, and what its wildcard
/// matched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// `(name, raw value)`, in the route's order.
    params: Vec<(String, String)>,
    /// What the wildcard matched, raw, without its leading `/`.
    rest: Option<String>,
}

impl Params {
    /// Parameter `name`, percent-decoded (`caf%C3%A9` → `café`; an invalid UTF-8 sequence
    /// becomes U+FFFD). `None` if the route has no such parameter.
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.raw(name).map(decode)
    }

    /// Parameter `name` as it appeared in the path, percent-encoded.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    /// Parameter `name`, percent-decoded and parsed as a `T` (`u64`, `uuid::Uuid`, any
    /// [`FromStr`]).
    ///
    /// # Errors
    /// A 400 that names the parameter and says why it does not parse; a 500 (logged) if the
    /// route has no such parameter, which is a bug in the handler.
    pub fn parse<T>(&self, name: &str) -> Result<T, HttpError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let value = self.get(name).ok_or_else(|| {
            HttpError::internal(format!("the matched route has no parameter `{name}`"))
        })?;
        value.parse().map_err(|err| {
            HttpError::bad_request(format!("path parameter `{name}` (`{value}`): {err}"))
        })
    }

    /// What the route's wildcard (`/...`) matched, percent-decoded, without a leading `/`:
    /// `a/b.css` for `/files/a/b.css` on `/files/...`, empty for `/files`. Empty for a route
    /// without a wildcard.
    pub fn rest(&self) -> Cow<'_, str> {
        self.rest.as_deref().map_or(Cow::Borrowed(""), decode)
    }

    /// Every `(name, raw value)` parameter, in the route's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// `raw`, percent-decoded.
fn decode(raw: &str) -> Cow<'_, str> {
    percent_decode_str(raw).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_routes_become_router_patterns() {
        assert_eq!(pattern("/users/:id").unwrap(), "/users/:id");
        assert_eq!(pattern("/files/...").unwrap(), "/files/*");
        assert_eq!(pattern("/...").unwrap(), "/*");
        assert!(pattern("users").is_err());
        assert!(pattern("/a/.../b").is_err());
    }

    fn request(method: Method, path: &str) -> Request {
        http::Request::builder()
            .method(method)
            .uri(format!("http://localhost{path}"))
            .body(crate::IncomingBody::new(None))
            .unwrap()
    }

    /// The status, `Allow` and body text of `router`'s answer to `method path`.
    fn answer(router: &Router, method: Method, path: &str) -> (u16, String, String) {
        let response = router.handle(request(method, path));
        let allow = response
            .headers()
            .get(header::ALLOW)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = match response.body() {
            crate::Body::Bytes(bytes) => String::from_utf8(bytes.clone()).unwrap(),
            crate::Body::Empty => String::new(),
            _ => panic!("a streaming body"),
        };
        (response.status().as_u16(), allow, body)
    }

    fn users() -> Router {
        Router::new()
            .get("/users/me", |_, _| "me")
            .get("/users/:id", |_, p: Params| {
                format!("user {}", p.get("id").unwrap())
            })
            .delete("/users/:id", |_, _| StatusCode::NO_CONTENT)
            .get("/users/...", |_, p: Params| format!("rest {}", p.rest()))
            .get_async("/slow/:n", |_, p: Params| async move {
                p.parse::<u32>("n").map(|n| format!("slow {n}"))
            })
    }

    #[test]
    fn the_most_specific_route_wins_by_method() {
        let router = users();
        let get = |path| answer(&router, Method::GET, path);
        assert_eq!(get("/users/me").2, "me");
        assert_eq!(get("/users/me/").2, "me");
        assert_eq!(get("/users/caf%C3%A9").2, "user café");
        assert_eq!(get("/users/a/b%20c").2, "rest a/b c");
        assert_eq!(get("/users").2, "rest ");
        assert_eq!(get("/slow/7").2, "slow 7");
        assert_eq!(get("/slow/x").0, 400);
        assert_eq!(get("/nowhere").0, 404);
        assert_eq!(answer(&router, Method::DELETE, "/users/1").0, 204);
        assert_eq!(answer(&router, Method::HEAD, "/users/me").2, "me");
        let (status, allow, _) = answer(&router, Method::POST, "/users/1");
        assert_eq!((status, allow.as_str()), (405, "DELETE, GET"));
    }

    #[test]
    fn an_invalid_route_answers_500_without_its_detail() {
        let router = Router::new()
            .get("/ok", |_, _| "ok")
            .get("oops", |_, _| "no");
        assert_eq!(
            router.invalid.as_deref(),
            Some("route `oops` is invalid: a route starts with `/`")
        );
        assert_eq!(
            answer(&router, Method::GET, "/ok"),
            (500, String::new(), "internal server error\n".into())
        );
    }

    #[test]
    fn params_decode_and_parse() {
        let params = Params {
            params: vec![
                ("id".into(), "42".into()),
                ("name".into(), "caf%C3%A9".into()),
            ],
            rest: Some("a%20b/c".into()),
        };
        assert_eq!(params.get("name").unwrap(), "café");
        assert_eq!(params.raw("name"), Some("caf%C3%A9"));
        assert_eq!(params.parse::<u64>("id").unwrap(), 42);
        let err = params.parse::<u64>("name").unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            err.message(),
            "path parameter `name` (`café`): invalid digit found in string"
        );
        assert!(!params.parse::<u64>("nope").unwrap_err().is_public());
        assert_eq!(params.rest(), "a b/c");
    }
}
