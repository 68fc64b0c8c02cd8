//! Variables: the config keys the manifest gives this component, over the standard
//! `wasi:config/store@0.2.0-rc.1`.
//!
//! The manifest maps each key to a template over the app's variables
//! (`[component.x.variables] api_url = "https://{{ api_host }}/v1"`); the host renders them at
//! startup, from `--var`, `WASMHOST_VAR_<NAME>` or the default. A key the manifest does not
//! give the component is [`Error::Undefined`].
//!
//! ```no_run
//! use wasmhost_sdk::variables;
//!
//! # fn main() -> Result<(), variables::Error> {
//! let api_url = variables::get("api_url")?;
//! # let _ = api_url;
//! # Ok(())
//! # }
//! ```

use std::fmt;

use crate::wit::wasi::config::store;

/// What reading a variable can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The component has no key of that name (the key, as asked).
    Undefined(String),
    /// The host's config source failed (`wasi:config/store.error`, upstream or I/O).
    Host(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undefined(key) => write!(
                f,
                "variable `{key}` is not defined for this component ([component.<id>.variables])"
            ),
            Self::Host(message) => write!(f, "reading variables failed: {message}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<store::Error> for Error {
    fn from(err: store::Error) -> Self {
        match err {
            store::Error::Upstream(message) | store::Error::Io(message) => Self::Host(message),
        }
    }
}

/// The value of config key `key`.
///
/// # Errors
/// [`Error::Undefined`] if the manifest gives this component no such key; [`Error::Host`] if
/// the host cannot read it.
pub fn get(key: &str) -> Result<String, Error> {
    store::get(key)?.ok_or_else(|| Error::Undefined(key.to_owned()))
}

/// Every config key of this component with its value, in no particular order.
///
/// # Errors
/// [`Error::Host`] if the host cannot read them.
pub fn get_all() -> Result<Vec<(String, String)>, Error> {
    Ok(store::get_all()?)
}
