//! Layer 2, startup step 2: the `[[trigger.http]]` entries of the manifest, checked into
//! [`HttpTrigger`]s (a route and a component, a redirect, a static response or static files).

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use http::HeaderValue;
use toml::Spanned;

use super::raw::{self, RawManifest};
use super::{Doc, ManifestError, ManifestErrorKind, ManifestErrors, trigger_component};
use crate::app::{AuthLevel, CorsPolicy, FixedResponse, HttpTarget, HttpTrigger, StaticFiles};
use crate::route::Route;

/// Checks every `[[trigger.http]]`: its route (parsed, and not the same shape as an earlier
/// one) and what answers it ([`check_http_target`]).
///
/// # Errors
/// Every trigger's first error.
pub(super) fn check_http_triggers(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
) -> Result<Vec<HttpTrigger>, ManifestErrors> {
    let app_error =
        |span, field, message| doc.error(span, ManifestErrorKind::Application { field, message });
    let default_auth = match &raw.application.auth {
        Some(auth) => auth_level(auth).map_err(|m| app_error(auth.span(), "auth", m))?,
        None => AuthLevel::Anonymous,
    };
    let default_cors = match &raw.application.cors {
        Some(cors) => Some(Arc::new(
            cors_policy(cors.get_ref()).map_err(|m| app_error(cors.span(), "cors", m))?,
        )),
        None => None,
    };
    let mut http_triggers = Vec::with_capacity(raw.trigger.http.len());
    let mut errors = Vec::new();
    let mut seen: HashMap<String, &Spanned<String>> = HashMap::new();
    for (i, trigger) in raw.trigger.http.iter().enumerate() {
        match check_http_trigger(
            doc,
            raw,
            index,
            &mut seen,
            i,
            trigger,
            default_auth,
            &default_cors,
        ) {
            Ok(checked) => http_triggers.push(checked),
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() {
        Ok(http_triggers)
    } else {
        Err(ManifestErrors(errors))
    }
}

/// Checks `[[trigger.http]]` number `i`, whose route must not have the shape of one `seen`.
#[allow(clippy::too_many_arguments)]
fn check_http_trigger<'r>(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
    seen: &mut HashMap<String, &'r Spanned<String>>,
    i: usize,
    trigger: &'r raw::RawHttpTrigger,
    default_auth: AuthLevel,
    default_cors: &Option<Arc<CorsPolicy>>,
) -> Result<HttpTrigger, ManifestError> {
    let route: Route = trigger.route.get_ref().parse().map_err(|err| {
        doc.error(
            trigger.route.span(),
            ManifestErrorKind::Route {
                index: i,
                error: err,
            },
        )
    })?;
    if let Some(first) = seen.insert(route.shape(), &trigger.route) {
        return Err(doc.error(
            trigger.route.span(),
            ManifestErrorKind::DuplicateRoute {
                index: i,
                route: route.to_string(),
                first: first.get_ref().clone(),
                first_location: Box::new(doc.location(first.span())),
            },
        ));
    }
    let target = check_http_target(doc, raw, index, i, trigger)?;
    let route_error = |span, field, message| route_error(doc, i, span, field, message);
    let auth = match &trigger.auth {
        Some(auth) => auth_level(auth).map_err(|m| route_error(auth.span(), ".auth", m))?,
        None => default_auth,
    };
    let cors = match &trigger.cors {
        Some(cors) => Some(Arc::new(
            cors_policy(cors.get_ref()).map_err(|m| route_error(cors.span(), ".cors", m))?,
        )),
        None => default_cors.clone(),
    };
    Ok(HttpTrigger {
        route,
        target,
        private: trigger.private,
        auth,
        cors,
    })
}

/// The error at `span` in `[[trigger.http]]` number `i`, field `field` (with its leading `.`).
fn route_error(
    doc: &Doc<'_>,
    i: usize,
    span: Range<usize>,
    field: &'static str,
    message: String,
) -> ManifestError {
    doc.error(
        span,
        ManifestErrorKind::HttpTarget {
            index: i,
            field,
            message,
        },
    )
}

/// `auth = "anonymous" | "function" | "admin"`.
fn auth_level(auth: &Spanned<String>) -> Result<AuthLevel, String> {
    match auth.get_ref().as_str() {
        "anonymous" => Ok(AuthLevel::Anonymous),
        "function" => Ok(AuthLevel::Function),
        "admin" => Ok(AuthLevel::Admin),
        other => Err(format!(
            "`{other}` is not an authorization level: give `anonymous`, `function` or `admin`"
        )),
    }
}

/// Checks a `cors` table and makes its header values.
fn cors_policy(raw: &raw::RawCors) -> Result<CorsPolicy, String> {
    let any_origin = raw.allowed_origins.iter().any(|o| o == "*");
    if any_origin && raw.allow_credentials {
        return Err(
            "`allowed_origins = [\"*\"]` cannot go with `allow_credentials = true` (browsers refuse `*` with credentials): list the origins".to_owned(),
        );
    }
    if raw.allowed_origins.is_empty() {
        return Err("`allowed_origins` is empty: list origins, or `*`".to_owned());
    }
    let mut origins = Vec::new();
    for origin in raw.allowed_origins.iter().filter(|o| *o != "*") {
        let parsed = url::Url::parse(origin).map_err(|_| bad_origin(origin))?;
        let bare = parsed.origin().ascii_serialization();
        if !matches!(parsed.scheme(), "http" | "https")
            || bare != origin.to_ascii_lowercase().trim_end_matches('/')
        {
            return Err(bad_origin(origin));
        }
        origins.push(bare);
    }
    let methods = match &raw.allowed_methods {
        Some(methods) => methods.clone(),
        None => vec!["GET".into(), "HEAD".into(), "POST".into()],
    };
    for method in &methods {
        if method != "*" {
            http::Method::from_bytes(method.as_bytes())
                .map_err(|_| format!("`{method}` is not an HTTP method"))?;
        }
    }
    let any_header = raw.allowed_headers.iter().any(|h| h == "*");
    for header in raw.allowed_headers.iter().chain(&raw.exposed_headers) {
        if header != "*" {
            http::HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("`{header}` is not a header name"))?;
        }
    }
    let joined = |items: &[String]| {
        (!items.is_empty())
            .then(|| HeaderValue::from_str(&items.join(", ")).ok())
            .flatten()
    };
    Ok(CorsPolicy {
        origins: (!any_origin).then_some(origins),
        methods: joined(&methods).unwrap_or(HeaderValue::from_static("GET, HEAD, POST")),
        headers: if any_header {
            None
        } else {
            joined(&raw.allowed_headers)
        },
        any_header,
        exposed_headers: joined(&raw.exposed_headers),
        max_age: raw.max_age_secs.map(HeaderValue::from),
        credentials: raw.allow_credentials,
    })
}

fn bad_origin(origin: &str) -> String {
    format!(
        "`{origin}` is not an origin: give `scheme://host[:port]` (http or https, no path), or `*`"
    )
}

/// Checks what answers `[[trigger.http]]` number `i`: exactly one of a defined component, a
/// redirect to a valid URI with a redirect status, a static response with a valid status and
/// headers, or the files of an existing directory on a wildcard route.
fn check_http_target(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
    i: usize,
    trigger: &raw::RawHttpTrigger,
) -> Result<HttpTarget, ManifestError> {
    let error =
        |span: Range<usize>, field, message: String| route_error(doc, i, span, field, message);
    let given = [
        trigger.component.is_some(),
        trigger.redirect.is_some(),
        trigger.static_response.is_some(),
        trigger.static_files.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(error(
            trigger.route.span(),
            "",
            "give exactly one of `component`, `redirect`, `static_response` and `static_files`"
                .to_owned(),
        ));
    }
    if let (Some(follow), None) = (&trigger.follow_symlinks, &trigger.static_files) {
        return Err(error(
            follow.span(),
            ".follow_symlinks",
            "only a `static_files` route takes `follow_symlinks`".to_owned(),
        ));
    }
    if let Some(dir) = &trigger.static_files {
        if !trigger.route.get_ref().ends_with("/...") {
            return Err(error(
                trigger.route.span(),
                ".route",
                "a `static_files` route must end in `/...` (the tail names the file)".to_owned(),
            ));
        }
        let base = doc.0.file.parent().unwrap_or(Path::new("/"));
        let path = base.join(dir.get_ref());
        if !path.is_dir() {
            return Err(error(
                dir.span(),
                ".static_files",
                format!("`{}` is not a directory", path.display()),
            ));
        }
        let follow = trigger
            .follow_symlinks
            .as_ref()
            .is_some_and(|f| *f.get_ref());
        let files = StaticFiles::new(path, follow).map_err(|err| {
            error(
                dir.span(),
                ".static_files",
                format!("cannot resolve the directory: {err}"),
            )
        })?;
        return Ok(HttpTarget::Files(Arc::new(files)));
    }
    if let Some(component) = &trigger.component {
        return trigger_component(doc, raw, index, "http", i, component).map(HttpTarget::Component);
    }
    let mut headers = http::HeaderMap::new();
    let (status, body) = if let Some(redirect) = &trigger.redirect {
        let status = redirect.status.as_ref().map_or(302, |s| *s.get_ref());
        if ![301, 302, 303, 307, 308].contains(&status) {
            let span = redirect.status.as_ref().map_or(0..0, Spanned::span);
            return Err(error(
                span,
                ".redirect.status",
                format!("{status} is not a redirect status (301, 302, 303, 307 or 308)"),
            ));
        }
        let to = redirect.to.get_ref();
        let location = to
            .parse::<http::Uri>()
            .ok()
            .and_then(|_| http::HeaderValue::from_str(to).ok())
            .ok_or_else(|| {
                error(
                    redirect.to.span(),
                    ".redirect.to",
                    format!("`{to}` is not a URI"),
                )
            })?;
        headers.insert(http::header::LOCATION, location);
        (status, bytes::Bytes::new())
    } else {
        let fixed = trigger
            .static_response
            .as_ref()
            .expect("exactly one target is given");
        let status = fixed.status.as_ref().map_or(200, |s| *s.get_ref());
        if !(100..=599).contains(&status) {
            let span = fixed.status.as_ref().map_or(0..0, Spanned::span);
            return Err(error(
                span,
                ".static_response.status",
                format!("{status} is not an HTTP status"),
            ));
        }
        for (name, value) in &fixed.headers {
            let name_ok = http::HeaderName::try_from(name.get_ref().as_str());
            let value_ok = http::HeaderValue::from_str(value.get_ref());
            match (name_ok, value_ok) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                (Err(_), _) => {
                    return Err(error(
                        name.span(),
                        ".static_response.headers",
                        format!("`{}` is not a header name", name.get_ref()),
                    ));
                }
                (_, Err(_)) => {
                    return Err(error(
                        value.span(),
                        ".static_response.headers",
                        format!("the value of `{}` is not a header value", name.get_ref()),
                    ));
                }
            }
        }
        let body = fixed.body.clone().unwrap_or_default();
        (status, bytes::Bytes::from(body))
    };
    Ok(HttpTarget::Fixed(Arc::new(FixedResponse {
        status: http::StatusCode::from_u16(status).expect("checked above"),
        headers,
        body,
    })))
}
