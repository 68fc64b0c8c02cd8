//! Layer 4, beside the capabilities (no guest calls it): the keys of HTTP routes whose `auth`
//! is `function` or `admin` (Azure Functions' authorization levels). The HTTP trigger verifies
//! a request's key with a [`KeyRing`]; `wasmhost keys` manages them ([`KeyStore`]).
//!
//! A key is `wh_<id>_<secret>`: a 16-hex-digit id (how it is looked up, and what logs and the
//! guest may see) and 256 random bits (64 hex digits). The store keeps the id, a name, the
//! scope ([`KeyScope`]), an optional expiry and an HMAC-SHA256 of the whole key under the
//! store's own random 256-bit pepper, never the key. Verifying is one map lookup and one HMAC
//! in memory, compared in constant time; the ring is refreshed from the store every
//! [`REFRESH`], and last-used times are written back then.
//!
//! The store is a directory (`.wasmhost/keys` next to the manifest: one JSON file per key,
//! written whole and renamed into place, so `wasmhost keys` can change it while a node
//! serves), or a Redis hash that every node of a cluster reads (the runtime config's
//! `[keys]`).

mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use crate::app::AuthLevel;
use crate::capability::backend::now_ms;
use crate::metrics::Metrics;
use prometheus_client::metrics::counter::Counter;

pub use store::KeyStore;

/// How often a node reads the keys again (new, revoked, rotated ones) and writes last-used
/// times: 2 s.
pub const REFRESH: Duration = Duration::from_secs(2);

/// What a key opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "component", rename_all = "lowercase")]
pub enum KeyScope {
    /// The `function` routes of one component.
    Component(String),
    /// Every `function` route of the app.
    App,
    /// Every route, `admin` ones included.
    Admin,
}

impl std::fmt::Display for KeyScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Component(id) => write!(f, "component `{id}`"),
            Self::App => f.write_str("app"),
            Self::Admin => f.write_str("admin"),
        }
    }
}

/// A key as the store keeps it: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The id: 16 hex digits, also the key's second part.
    pub id: String,
    /// A name for people (`ci`, `partner-acme`).
    pub name: String,
    /// What it opens.
    pub scope: KeyScope,
    /// HMAC-SHA256 of the whole key under the store's pepper, hex.
    pub hash: String,
    /// When it was made, ms since the Unix epoch.
    pub created_ms: u64,
    /// When it stops working, ms since the Unix epoch; `None`: never.
    pub expires_ms: Option<u64>,
    /// When a request last used it, ms since the Unix epoch (written back every [`REFRESH`]).
    #[serde(default)]
    pub last_used_ms: Option<u64>,
}

/// Who a verified key belongs to, for the guest's `wasmhost-key-id` and `wasmhost-key-name`.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id.
    pub id: http::HeaderValue,
    /// The key's name.
    pub name: http::HeaderValue,
}

/// The keys of one app, in memory, refreshed from its [`KeyStore`], and the failures of the
/// clients that sent wrong ones.
pub struct KeyRing {
    store: KeyStore,
    keys: ArcSwap<HashMap<String, Arc<LoadedKey>>>,
    failures: FailureLimiter,
    unauthorized: Counter,
    rate_limited: Counter,
}

/// Failed keys per client address: [`FAILURES_PER_MINUTE`], in bursts of [`FAILURE_BURST`]
/// (GCRA, `governor`).
type FailureLimiter = governor::RateLimiter<
    std::net::IpAddr,
    governor::state::keyed::HashMapStateStore<std::net::IpAddr>,
    governor::clock::DefaultClock,
>;

/// Failed keys one client address may send per minute, sustained, before it gets 429: 30.
pub const FAILURES_PER_MINUTE: u32 = 30;
/// Failed keys one client address may send at once before the rate applies: 10.
pub const FAILURE_BURST: u32 = 10;

/// Why a request that needs a key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No key, or one that does not open the route: 401.
    Unauthorized,
    /// Too many failures from the client's address: 429.
    TooMany,
}

/// A key ready to verify against.
struct LoadedKey {
    record: KeyRecord,
    hash: Vec<u8>,
    caller: Caller,
    last_used_ms: AtomicU64,
}

impl KeyRing {
    /// The ring of `store`, read once now.
    ///
    /// # Errors
    /// The store cannot be read (the error names the file).
    pub async fn open(store: KeyStore, metrics: &Metrics) -> anyhow::Result<Self> {
        let quota = governor::Quota::per_minute(
            std::num::NonZeroU32::new(FAILURES_PER_MINUTE).unwrap_or(std::num::NonZeroU32::MIN),
        )
        .allow_burst(std::num::NonZeroU32::new(FAILURE_BURST).unwrap_or(std::num::NonZeroU32::MIN));
        let ring = Self {
            store,
            keys: ArcSwap::from_pointee(HashMap::new()),
            failures: governor::RateLimiter::hashmap(quota),
            unauthorized: metrics.auth_failures("unauthorized"),
            rate_limited: metrics.auth_failures("rate_limited"),
        };
        ring.refresh().await?;
        Ok(ring)
    }

    /// Reads the store again, keeping the last-used times seen here, and writes back the ones
    /// newer than the store's.
    ///
    /// # Errors
    /// The store cannot be read or written.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let old = self.keys.load_full();
        let mut keys = HashMap::new();
        for mut record in self.store.list().await? {
            let seen = old
                .get(&record.id)
                .map_or(0, |key| key.last_used_ms.load(Ordering::Relaxed));
            if seen > record.last_used_ms.unwrap_or(0) {
                record.last_used_ms = Some(seen);
                self.store.write(&record).await?;
            }
            let Ok(hash) = hex_decode(&record.hash) else {
                tracing::warn!(key = %record.id, "key with a malformed hash is ignored");
                continue;
            };
            let caller = Caller {
                id: http::HeaderValue::from_str(&record.id)?,
                name: http::HeaderValue::from_str(&record.name)
                    .unwrap_or_else(|_| http::HeaderValue::from_static("")),
            };
            keys.insert(
                record.id.clone(),
                Arc::new(LoadedKey {
                    last_used_ms: AtomicU64::new(seen.max(record.last_used_ms.unwrap_or(0))),
                    hash,
                    caller,
                    record,
                }),
            );
        }
        self.keys.store(Arc::new(keys));
        self.failures.retain_recent();
        Ok(())
    }

    /// Counts a refused key from `client` (its address, if known): [`Refusal::TooMany`] once
    /// the address has failed too often, else [`Refusal::Unauthorized`].
    pub fn refuse(&self, client: Option<std::net::IpAddr>) -> Refusal {
        let limited = client.is_some_and(|ip| self.failures.check_key(&ip).is_err());
        if limited {
            self.rate_limited.inc();
            Refusal::TooMany
        } else {
            self.unauthorized.inc();
            Refusal::Unauthorized
        }
    }

    /// The caller if `key` (as sent) is a live key of this ring that opens a route of `level`
    /// whose target is `component`; `None` otherwise, for whatever reason (the caller is told
    /// nothing more).
    pub fn verify(&self, key: &[u8], level: AuthLevel, component: &str) -> Option<Caller> {
        let id = parse_id(key)?;
        let keys = self.keys.load();
        let loaded = keys.get(id)?;
        let now = now_ms();
        if loaded.record.expires_ms.is_some_and(|at| at <= now) {
            return None;
        }
        let opens = match (&loaded.record.scope, level) {
            (_, AuthLevel::Anonymous) | (KeyScope::Admin, _) => true,
            (KeyScope::App, AuthLevel::Function) => true,
            (KeyScope::Component(id), AuthLevel::Function) => id == component,
            (_, AuthLevel::Admin) => false,
        };
        if !opens || !self.store.verify(key, &loaded.hash) {
            return None;
        }
        loaded.last_used_ms.store(now, Ordering::Relaxed);
        Some(loaded.caller.clone())
    }
}

/// The id of a key `wh_<id>_<secret>`, if it has that shape.
fn parse_id(key: &[u8]) -> Option<&str> {
    let rest = key.strip_prefix(b"wh_")?;
    let id = rest.get(..16)?;
    if rest.get(16) != Some(&b'_') || !id.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    std::str::from_utf8(id).ok()
}

/// Bytes as lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase or uppercase hex as bytes.
fn hex_decode(text: &str) -> Result<Vec<u8>, std::num::ParseIntError> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2).unwrap_or("zz"), 16))
        .collect()
}
