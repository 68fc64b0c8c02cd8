//! The name resolution of outbound requests, which keeps guests off internal addresses
//! ([`is_internal_address`]: loopback, private, link-local where cloud metadata lives): the
//! connector connects only to the addresses this resolver returns, and it returns only the
//! checked ones, so a name that resolves to an internal address, once or later (DNS
//! rebinding), never gets there. Per connection, inside the first-byte timeout.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

use crate::allowed_hosts::is_internal_address;

/// Resolves names with the system resolver (`getaddrinfo`, on tokio's blocking pool) and
/// drops the internal addresses, unless allowed.
#[derive(Clone)]
pub struct CheckedResolver(Arc<Internal>);

/// Which names may resolve to internal addresses.
struct Internal {
    /// Every name (`[outbound_http] allow_private_networks = true`).
    all: bool,
    /// `localhost`, where `allowed_outbound_hosts` names it literally.
    localhost: bool,
}

impl CheckedResolver {
    /// A resolver for one component: `allow_private_networks` from the runtime config;
    /// `localhost_named` when one of its `allowed_outbound_hosts` is `localhost` exactly.
    pub fn new(allow_private_networks: bool, localhost_named: bool) -> Self {
        Self(Arc::new(Internal {
            all: allow_private_networks,
            localhost: localhost_named,
        }))
    }
}

impl tower_service::Service<Name> for CheckedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allowed = self.0.all || (self.0.localhost && name.as_str() == "localhost");
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if allowed {
                return Ok(resolved.into_iter());
            }
            let external: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| !is_internal_address(addr.ip()))
                .collect();
            if external.is_empty() && !resolved.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    ProhibitedAddress,
                ));
            }
            Ok(external.into_iter())
        })
    }
}

/// The error of a name that resolves only to internal addresses.
#[derive(Debug, thiserror::Error)]
#[error("the name resolves only to internal addresses, which allowed_outbound_hosts does not name")]
pub struct ProhibitedAddress;
