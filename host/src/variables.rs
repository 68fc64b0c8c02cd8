//! Layer 2, startup step 2 (see [`crate`]): application variables and the config templates components see.
//!
//! The manifest declares variables (`[variables] api_host = { default = "..." }`,
//! `api_key = { required = true, secret = true }`) and maps each component's config keys to
//! templates over them (`[component.x.variables] api_url = "https://{{ api_host }}/v1"`).
//! [`Template`] parses a template once, when the manifest is checked; [`resolve`] gives every
//! variable its value once at startup (`--var` over `WASMHOST_VAR_<NAME>` over the default)
//! and renders each component's templates. Per request, `wasi:config/store`
//! (the config capability) only reads the rendered map.
//!
//! A secret variable's value, and every config value rendered from one, is a [`Value`] with
//! `secret` set: its `Debug` shows `<secret>`, and nothing logs it.

use std::collections::BTreeMap;
use std::fmt;

/// Prefix of the environment variables that set application variables:
/// `WASMHOST_VAR_API_KEY` sets `api_key`.
pub const ENV_PREFIX: &str = "WASMHOST_VAR_";

/// Prefix of Spin's environment variables provider, read for Spin apps too:
/// `SPIN_VARIABLE_API_KEY` sets `api_key`.
pub const SPIN_ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// Whether `name` is a valid variable or config key name: a lowercase ASCII letter, then
/// lowercase letters, digits or `_` (as Spin).
pub fn is_variable_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A declared application variable.
#[derive(Clone, PartialEq, Eq)]
pub struct Variable {
    /// Its name.
    pub name: String,
    /// Its default value; `None` for a required variable.
    pub default: Option<String>,
    /// Whether its value is a secret.
    pub secret: bool,
    /// Where the manifest declares it, for the error of a required one given no value.
    pub location: crate::app::Location,
}

impl fmt::Debug for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let default = match (&self.default, self.secret) {
            (Some(_), true) => Some("<secret>"),
            (default, _) => default.as_deref(),
        };
        f.debug_struct("Variable")
            .field("name", &self.name)
            .field("default", &default)
            .field("secret", &self.secret)
            .finish()
    }
}

/// A config template: literal text and `{{ variable }}` references, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Variable(String),
}

/// A template that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without a matching `}}`.
    #[error("`{{{{` at byte {0} is not closed by `}}}}`")]
    Unclosed(usize),
    /// `{{ x }}` where `x` is not a variable name.
    #[error("`{{{{ {0} }}}}`: `{0}` is not a variable name (lowercase letters, digits, `_`)")]
    BadName(String),
}

impl std::str::FromStr for Template {
    type Err = TemplateError;

    fn from_str(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or(TemplateError::Unclosed(text.len() - rest.len() + open))?;
            let name = after[..close].trim();
            if !is_variable_name(name) {
                return Err(TemplateError::BadName(name.to_owned()));
            }
            parts.push(Part::Variable(name.to_owned()));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self(parts))
    }
}

impl Template {
    /// The variables the template refers to, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|part| match part {
            Part::Variable(name) => Some(name.as_str()),
            Part::Text(_) => None,
        })
    }
}

/// A config value a component reads, and whether any secret went into it.
#[derive(Clone, PartialEq, Eq)]
pub struct Value {
    /// The text.
    pub text: String,
    /// Whether a secret variable went into it.
    pub secret: bool,
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str("<secret>")
        } else {
            fmt::Debug::fmt(&self.text, f)
        }
    }
}

/// A required variable with no value. Displays as `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{location}: `variables.{name}`: variable `{name}` is required and has no value: set it with `--var {name}=...` or the environment variable `{env}`"
)]
pub struct MissingVariable {
    /// The variable.
    pub name: String,
    /// The environment variable that would set it.
    pub env: String,
    /// Where the manifest declares it.
    pub location: crate::app::Location,
}

/// Gives every variable its value: `overrides` (from `--var`) first, then the environment as
/// read by `env`, under each of `prefixes` in turn (`<PREFIX><NAME>`, the name in upper case:
/// [`ENV_PREFIX`] gives `WASMHOST_VAR_API_KEY`, Spin's `SPIN_VARIABLE_` gives
/// `SPIN_VARIABLE_API_KEY`), then the default.
///
/// # Errors
/// A [`MissingVariable`] for each required variable that gets no value, naming the
/// environment variable of the first prefix.
pub fn resolve(
    variables: &[Variable],
    overrides: &BTreeMap<String, String>,
    prefixes: &[&str],
    env: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, Value>, Vec<MissingVariable>> {
    let (values, missing): (Vec<_>, Vec<_>) = variables
        .iter()
        .map(|variable| {
            let upper = variable.name.to_ascii_uppercase();
            let text = overrides
                .get(&variable.name)
                .cloned()
                .or_else(|| {
                    prefixes
                        .iter()
                        .find_map(|prefix| env(&format!("{prefix}{upper}")))
                })
                .or_else(|| variable.default.clone())
                .ok_or_else(|| MissingVariable {
                    name: variable.name.clone(),
                    env: format!("{}{upper}", prefixes.first().unwrap_or(&ENV_PREFIX)),
                    location: variable.location.clone(),
                })?;
            let value = Value {
                text,
                secret: variable.secret,
            };
            Ok((variable.name.clone(), value))
        })
        .partition(Result::is_ok);
    if missing.is_empty() {
        Ok(values.into_iter().filter_map(Result::ok).collect())
    } else {
        Err(missing.into_iter().filter_map(Result::err).collect())
    }
}

/// Renders `template` with the resolved `values`. A value is secret if any variable in it is.
///
/// # Panics
/// If the template names a variable missing from `values`; the manifest check rejects
/// templates naming undeclared variables, and [`resolve`] gives every declared one a value.
pub fn render(template: &Template, values: &BTreeMap<String, Value>) -> Value {
    let mut out = Value {
        text: String::new(),
        secret: false,
    };
    for part in &template.0 {
        match part {
            Part::Text(text) => out.text.push_str(text),
            Part::Variable(name) => {
                let value = &values[name];
                out.text.push_str(&value.text);
                out.secret |= value.secret;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variable(name: &str, default: Option<&str>, secret: bool) -> Variable {
        Variable {
            name: name.to_owned(),
            default: default.map(str::to_owned),
            secret,
            location: crate::app::Location {
                file: "/a/wasmhost.toml".into(),
                line: 9,
                column: 1,
            },
        }
    }

    #[test]
    fn templates_parse_and_render() {
        let template: Template = "https://{{ host }}/v1?k={{key}}".parse().unwrap();
        assert_eq!(template.variables().collect::<Vec<_>>(), ["host", "key"]);
        let values = resolve(
            &[
                variable("host", Some("api.example.com"), false),
                variable("key", None, true),
            ],
            &BTreeMap::from([("key".to_owned(), "hunter2".to_owned())]),
            &[ENV_PREFIX],
            |_| None,
        )
        .unwrap();
        let value = render(&template, &values);
        assert_eq!(value.text, "https://api.example.com/v1?k=hunter2");
        assert!(value.secret);
        assert_eq!(format!("{value:?}"), "<secret>");
        assert_eq!("plain".parse::<Template>().unwrap().variables().count(), 0);
        assert_eq!(
            "a {{ b".parse::<Template>(),
            Err(TemplateError::Unclosed(2))
        );
        assert_eq!(
            "{{ Bad }}".parse::<Template>(),
            Err(TemplateError::BadName("Bad".to_owned()))
        );
    }

    #[test]
    fn precedence_is_flag_then_environment_then_default() {
        let variables = [variable("region", Some("eu"), false)];
        let env = |name: &str| (name == "WASMHOST_VAR_REGION").then(|| "us".to_owned());
        let none = BTreeMap::new();
        assert_eq!(
            resolve(&variables, &none, &[ENV_PREFIX], |_| None).unwrap()["region"].text,
            "eu"
        );
        assert_eq!(
            resolve(&variables, &none, &[ENV_PREFIX], env).unwrap()["region"].text,
            "us"
        );
        let flag = BTreeMap::from([("region".to_owned(), "ap".to_owned())]);
        assert_eq!(
            resolve(&variables, &flag, &[ENV_PREFIX], env).unwrap()["region"].text,
            "ap"
        );
    }

    #[test]
    fn each_prefix_is_tried_in_turn() {
        let variables = [variable("api_token", None, true)];
        let env = |name: &str| (name == "SPIN_VARIABLE_API_TOKEN").then(|| "t".to_owned());
        let none = BTreeMap::new();
        let values = resolve(&variables, &none, &[ENV_PREFIX, "SPIN_VARIABLE_"], env).unwrap();
        assert_eq!(values["api_token"].text, "t");
        assert!(resolve(&variables, &none, &[ENV_PREFIX], env).is_err());
    }

    #[test]
    fn a_required_variable_without_value_is_named() {
        let err = resolve(
            &[variable("api_key", None, true)],
            &BTreeMap::new(),
            &[ENV_PREFIX],
            |_| None,
        )
        .unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(
            err[0].to_string(),
            "/a/wasmhost.toml:9:1: `variables.api_key`: variable `api_key` is required and has no value: set it with `--var api_key=...` or the environment variable `WASMHOST_VAR_API_KEY`"
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let shown = format!("{:?}", variable("api_key", Some("hunter2"), true));
        assert!(!shown.contains("hunter2"), "{shown}");
        let shown = format!("{:?}", variable("region", Some("eu"), false));
        assert!(shown.contains("eu"), "{shown}");
    }
}
