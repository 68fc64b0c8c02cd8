//! Per guest call, for the config capability: Spin's `fermyon:spin/variables@2.0.0`, on the
//! same [`ConfigView`] as `wasi:config/store` (the component's rendered
//! `[component.<id>.variables]`). Added to the linker by [`super::add_to_linker`].
//!
//! `get(name)` answers as Spin does: a name that is not a variable name (a lowercase ASCII
//! letter, then lowercase letters, digits or `_`: [`crate::variables::is_variable_name`]) gets
//! `invalid-name(name)`; a name the component has no config key for gets `undefined(name)`,
//! whether or not the app declares such a variable. The error text is only ever the name the
//! guest gave: a value, secret or not, is never in an error, and nothing here logs.

use crate::bindings::spin::fermyon::spin2_0_0::variables::{Error, Host};
use crate::capability::config::ConfigView;
use crate::variables::is_variable_name;

/// The error of a `fermyon:spin/variables` call: the WIT `error` for the guest, or a trap for a
/// broken host invariant (none today; the type keeps the shape of every capability).
#[derive(Debug)]
pub enum VariablesError {
    /// Told to the guest.
    Guest(Error),
    /// A host-side fault: traps the instance.
    Trap(wasmtime::Error),
}

impl Host for ConfigView<'_> {
    async fn get(&mut self, name: String) -> Result<String, VariablesError> {
        if !is_variable_name(&name) {
            return Err(VariablesError::Guest(Error::InvalidName(name)));
        }
        match self.config.get(&name) {
            Some(value) => Ok(value.text.clone()),
            None => Err(VariablesError::Guest(Error::Undefined(name))),
        }
    }

    fn convert_error(&mut self, err: VariablesError) -> wasmtime::Result<Error> {
        match err {
            VariablesError::Guest(err) => Ok(err),
            VariablesError::Trap(trap) => Err(trap),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::capability::config::ComponentConfig;
    use crate::variables::Value;

    fn get(name: &str) -> Result<String, Error> {
        let values = BTreeMap::from([
            (
                "api_url".to_owned(),
                Value {
                    text: "https://x".into(),
                    secret: false,
                },
            ),
            (
                "api_key".to_owned(),
                Value {
                    text: "s3cr3t".into(),
                    secret: true,
                },
            ),
        ]);
        let config = ComponentConfig(Arc::new(values));
        let mut view = ConfigView { config: &config };
        futures::executor::block_on(view.get(name.to_owned()))
            .map_err(|err| view.convert_error(err).expect("not a trap"))
    }

    #[test]
    fn a_defined_variable_reads_as_its_value() {
        assert_eq!(get("api_url").unwrap(), "https://x");
        assert_eq!(get("api_key").unwrap(), "s3cr3t");
    }

    #[test]
    fn a_name_that_is_not_a_variable_name_is_invalid() {
        for name in ["", "API_KEY", "1key", "_key", "api-key", "api key", "ключ"] {
            assert!(
                matches!(get(name), Err(Error::InvalidName(n)) if n == name),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_name_the_component_lacks_is_undefined_and_names_no_value() {
        let Err(Error::Undefined(text)) = get("api_keys") else {
            panic!("not undefined");
        };
        assert_eq!(text, "api_keys");
    }
}
