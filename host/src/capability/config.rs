//! Variables (`wasi:config/store@0.2.0-rc.1`, and the same interface at the
//! `0.2.0-draft-2024-09-27` the Spin SDK imports): the config keys a component may read.
//! Spin's `fermyon:spin/variables` reads the same keys ([`spin`]).
//!
//! At startup, [`ComponentConfig::render`] renders each of a component's
//! `[component.<id>.variables]` templates with the app's resolved variables
//! ([`crate::variables`]); per request, `get` and `get-all` only read that map, behind an
//! `Arc`. A key the manifest does not give the component reads as absent (`ok(none)`), as in
//! Spin: the component cannot tell an ungranted key from an unknown one.
//!
//! Values rendered from a secret variable are marked secret: their `Debug` is `<secret>`, and
//! nothing in the host logs a config value.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use wasmtime::component::{HasData, Linker};

use crate::app::Component;
use crate::bindings::spin::fermyon::spin2_0_0::variables as spin_variables;
use crate::bindings::spin::wasi::config::store as draft;
use crate::bindings::wasi::config::store;
use crate::variables::{self, Value};

pub mod spin;

pub use spin::VariablesError;

/// The rendered config of one component: key → value. Cloning is an `Arc` increment.
#[derive(Debug, Clone, Default)]
pub struct ComponentConfig(Arc<BTreeMap<String, Value>>);

impl ComponentConfig {
    /// Renders `component`'s templates with the app's resolved variable `values` (from
    /// [`variables::resolve`]).
    pub fn render(component: &Component, values: &BTreeMap<String, Value>) -> Self {
        Self(Arc::new(
            component
                .config
                .iter()
                .map(|(key, template)| (key.clone(), variables::render(template, values)))
                .collect(),
        ))
    }

    /// The value of `key`, if the component has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

/// The config capability's view of one instance.
pub struct ConfigView<'a> {
    /// The instance's component's config.
    pub config: &'a ComponentConfig,
}

/// The error of a `wasi:config/store` call (either version): the WIT `error` for the guest, or
/// a trap for a broken host invariant. Reading a rendered map cannot fail today; the type
/// keeps the shape of every capability (trappable errors).
#[derive(Debug)]
pub enum ConfigError {
    /// Told to the guest.
    Guest(store::Error),
    /// A host-side fault: traps the instance.
    Trap(wasmtime::Error),
}

impl store::Host for ConfigView<'_> {
    async fn get(&mut self, key: String) -> Result<Option<String>, ConfigError> {
        Ok(self.config.get(&key).map(|value| value.text.clone()))
    }

    async fn get_all(&mut self) -> Result<Vec<(String, String)>, ConfigError> {
        Ok(self
            .config
            .0
            .iter()
            .map(|(key, value)| (key.clone(), value.text.clone()))
            .collect())
    }

    fn convert_error(&mut self, err: ConfigError) -> wasmtime::Result<store::Error> {
        match err {
            ConfigError::Guest(err) => Ok(err),
            ConfigError::Trap(trap) => Err(trap),
        }
    }
}

/// `wasi:config/store@0.2.0-draft-2024-09-27`, the same interface as `0.2.0-rc.1` under its
/// older version: each call forwards to the `0.2.0-rc.1` one.
impl draft::Host for ConfigView<'_> {
    async fn get(&mut self, key: String) -> Result<Option<String>, ConfigError> {
        store::Host::get(self, key).await
    }

    async fn get_all(&mut self) -> Result<Vec<(String, String)>, ConfigError> {
        store::Host::get_all(self).await
    }

    fn convert_error(&mut self, err: ConfigError) -> wasmtime::Result<draft::Error> {
        match store::Host::convert_error(self, err)? {
            store::Error::Upstream(message) => Ok(draft::Error::Upstream(message)),
            store::Error::Io(message) => Ok(draft::Error::Io(message)),
        }
    }
}

/// [`HasData`] marker for the config imports.
struct HasConfig;

impl HasData for HasConfig {
    type Data<'a> = ConfigView<'a>;
}

/// Adds `wasi:config/store` (`0.2.0-rc.1` and `0.2.0-draft-2024-09-27`) and Spin's
/// `fermyon:spin/variables@2.0.0` to `linker`; `view` borrows the instance's [`ConfigView`].
///
/// # Errors
/// An import already defined in `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> ConfigView<'_>,
) -> Result<()> {
    store::add_to_linker::<_, HasConfig>(linker, view)?;
    draft::add_to_linker::<_, HasConfig>(linker, view)?;
    spin_variables::add_to_linker::<_, HasConfig>(linker, view)?;
    Ok(())
}
