//! `weather-proxy`: a caching proxy in front of a weather API, and the cron job that keeps its
//! cache fresh. One component with two exports:
//!
//! - HTTP, `GET /weather/:city`: the cached answer from the `default` key-value store
//!   (`x-cache: hit`), or else a fetch from the upstream, stored, then answered
//!   (`x-cache: miss`). An upstream that fails is 502; one the manifest does not allow is 403.
//! - cron: at every tick, fetches each city of the `cities` variable (comma-separated) and
//!   stores it, so readers get fresh data without waiting on the upstream.
//!
//! The upstream is the `upstream_url` variable: `GET <upstream_url>/<city>?format=j1`, the JSON
//! form of wttr.in's API. The manifest allows exactly that host (`allowed_outbound_hosts =
//! ["{{ upstream_url }}"]`).

use wasmhost_sdk::cron::Tick;
use wasmhost_sdk::http::{self, StatusCode};
use wasmhost_sdk::key_value::Store;
use wasmhost_sdk::outbound_http::{self, Error};
use wasmhost_sdk::{Body, variables};
use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, cron_component, http_component};

#[http_component]
fn handle(req: Request) -> Response {
    let Some(city) = req.param("city").filter(|city| is_city(city)) else {
        return (
            StatusCode::BAD_REQUEST,
            "a city is lowercase letters and `-`\n",
        )
            .into_response();
    };
    let store = match Store::open_default() {
        Ok(store) => store,
        Err(err) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
    };
    match store.get(&cache_key(city)) {
        Ok(Some(cached)) => return answer(cached, "hit"),
        Ok(None) => {}
        Err(err) => eprintln!("weather-proxy: reading the cache failed: {err}"),
    }
    match fetch(city) {
        Ok(fresh) => {
            if let Err(err) = store.set(&cache_key(city), &fresh) {
                eprintln!("weather-proxy: caching {city} failed: {err}");
            }
            answer(fresh, "miss")
        }
        Err(Error::Denied) => (
            StatusCode::FORBIDDEN,
            "upstream_url is not in allowed_outbound_hosts\n",
        )
            .into_response(),
        Err(err) => (
            StatusCode::BAD_GATEWAY,
            format!("the upstream failed: {err}\n"),
        )
            .into_response(),
    }
}

#[cron_component]
fn refresh(_tick: Tick) -> Result<(), String> {
    let cities = variables::get("cities").map_err(|e| e.to_string())?;
    let store = Store::open_default().map_err(|e| e.to_string())?;
    for city in cities
        .split(',')
        .map(str::trim)
        .filter(|city| is_city(city))
    {
        let fresh = fetch(city).map_err(|err| format!("fetching {city}: {err}"))?;
        store
            .set(&cache_key(city), &fresh)
            .map_err(|err| format!("caching {city}: {err}"))?;
    }
    Ok(())
}

fn is_city(city: &str) -> bool {
    !city.is_empty() && city.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

fn cache_key(city: &str) -> String {
    format!("weather:{city}")
}

/// `GET <upstream_url>/<city>?format=j1`, the whole body if the status is a success.
fn fetch(city: &str) -> Result<Vec<u8>, Error> {
    let upstream = variables::get("upstream_url").map_err(|e| Error::Other(e.to_string()))?;
    let request = http::Request::get(format!(
        "{}/{city}?format=j1",
        upstream.trim_end_matches('/')
    ))
    .body(())
    .map_err(|e| Error::InvalidRequest(e.to_string()))?;
    let response = outbound_http::send(request)?;
    if !response.status().is_success() {
        return Err(Error::Other(format!("status {}", response.status())));
    }
    response
        .into_body()
        .into_bytes()
        .map_err(|e| Error::Other(e.to_string()))
}

fn answer(body: Vec<u8>, cache: &'static str) -> Response {
    http::Response::builder()
        .header("content-type", "application/json")
        .header("x-cache", cache)
        .body(Body::Bytes(body))
        .expect("static headers are valid")
}
