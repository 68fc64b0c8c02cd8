//! Layer 2, startup steps 1 and 2 (see [`crate`]): the text of a TOML file being read (the manifest or the runtime
//! config), for turning the byte spans serde and toml report into `file:line:column` and for
//! naming the table an error is in.

use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::app::Location;

/// A TOML file's path and text.
pub(crate) struct TomlDoc<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

/// A TOML error from toml itself: syntax, a missing or unknown field, a wrong type.
pub(crate) struct TomlError {
    /// Where.
    pub location: Location,
    /// The header of the enclosing table (`[component.hello]`), if any.
    pub table: Option<String>,
    /// toml's message.
    pub message: String,
}

/// Reads the file at `path` (made absolute): its path and text, or the location (line 0) and
/// the I/O error's message.
pub(crate) fn read(path: &Path) -> Result<(std::path::PathBuf, String), (Location, String)> {
    let file = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match std::fs::read_to_string(&file) {
        Ok(text) => Ok((file, text)),
        Err(err) => Err((
            Location {
                file,
                line: 0,
                column: 0,
            },
            err.to_string(),
        )),
    }
}

impl TomlDoc<'_> {
    /// Deserializes the whole text into `T`. serde's messages are put in words a manifest's
    /// author uses ([`explain`]); an error without a span (a missing top-level key) is at the
    /// top of the file, in no table. Errors: [`TomlError`], at the first problem.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, TomlError> {
        toml::from_str(self.text).map_err(|err| {
            let span = err.span().unwrap_or(0..0);
            if span == (0..0) {
                // No span, or toml's empty one at 0: the top-level table, whose keys come
                // before any header.
                return TomlError {
                    location: self.location(span),
                    table: None,
                    message: explain(err.message(), None).replace(
                        "is missing",
                        "is missing at the top of the file (before any `[table]`)",
                    ),
                };
            }
            TomlError {
                location: self.location(span.clone()),
                table: self.table_at(span.start).map(str::to_owned),
                message: explain(err.message(), self.key_at(span.start)),
            }
        })
    }

    /// The key whose value holds byte `offset` (`max_retries` in `max_retries = "three"`, also
    /// for an item of a list or inline table after it), with whether `offset` is inside a
    /// list: the last `key =` before it.
    fn key_at(&self, offset: usize) -> Option<Key<'_>> {
        let before = &self.text[..offset.min(self.text.len())];
        let equals = before.rfind('=')?;
        let start = before[..equals]
            .rfind(['\n', '{', ','])
            .map_or(0, |at| at + 1);
        let name = before[start..equals].trim().trim_matches(['"', '\'']);
        let value = &before[equals + 1..];
        let in_list = value.matches('[').count() > value.matches(']').count();
        (!name.is_empty() && !name.starts_with('[')).then_some(Key { name, in_list })
    }

    /// The line and column (1-based, column in characters) where `span` starts.
    pub fn location(&self, span: Range<usize>) -> Location {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location {
            file: self.file.to_owned(),
            line,
            column,
        }
    }

    /// The header of the table that holds byte `offset` (`[component.hello]`), if any.
    fn table_at(&self, offset: usize) -> Option<&str> {
        let end = self.text[offset.min(self.text.len())..]
            .find('\n')
            .map_or(self.text.len(), |n| offset + n);
        self.text[..end]
            .lines()
            .rev()
            .map(str::trim)
            .find(|line| line.starts_with('['))
    }
}

/// The key an error is about, found by [`TomlDoc::key_at`].
#[derive(Debug, Clone, Copy)]
struct Key<'a> {
    name: &'a str,
    /// The error is about an item of a list that is the key's value.
    in_list: bool,
}

/// serde's and toml's `message` in a manifest author's words, naming `key`: Rust types become
/// "a whole number", "true or false", "a string", "a list", "a table"; an unknown key gets
/// the nearest valid one ("did you mean"); a missing one is called a key.
fn explain(message: &str, key: Option<Key<'_>>) -> String {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return unknown_key(rest);
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("the key {rest} is missing");
    }
    let (kind, rest) = if let Some(rest) = message.strip_prefix("invalid type: ") {
        ("type", rest)
    } else if let Some(rest) = message.strip_prefix("invalid value: ") {
        ("value", rest)
    } else {
        return message.to_owned();
    };
    let Some((found, expected)) = rest.split_once(", expected ") else {
        return message.to_owned();
    };
    let found = found_in_words(found);
    let mut expected = expected_in_words(expected);
    if kind == "value" && expected == "a whole number" {
        expected = "a whole number, 0 or more".to_owned();
    }
    match key {
        Some(Key {
            name,
            in_list: true,
        }) => format!(
            "`{name}` must be a list of {}; this item is {found}",
            plural(&expected)
        ),
        Some(Key { name, .. }) => format!("`{name}` must be {expected}, not {found}"),
        None => format!("expected {expected}, not {found}"),
    }
}

/// What serde says it found (`string "three"`, ``integer `3` ``), in words.
fn found_in_words(found: &str) -> String {
    let unquoted = |text: &str| text.trim_matches('`').to_owned();
    match found.split_once(' ') {
        Some(("string", text)) => format!("the string {text}"),
        Some(("integer" | "floating", text)) => format!("the number {}", unquoted(text)),
        Some(("boolean", text)) => unquoted(text),
        _ => match found {
            "sequence" => "a list".to_owned(),
            "map" => "a table".to_owned(),
            other => other.to_owned(),
        },
    }
}

/// What serde expected (a Rust type, `a sequence`, `struct RawLimits`), in words.
fn expected_in_words(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128"
        | "isize" | "an integer" => "a whole number".to_owned(),
        "f32" | "f64" | "a float" => "a number".to_owned(),
        "a boolean" | "bool" => "true or false".to_owned(),
        "a string" | "a borrowed string" | "a character" | "char" => "a string".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a map" => "a table".to_owned(),
        other if other.starts_with("struct ") || other.starts_with("map") => "a table".to_owned(),
        other => other.to_owned(),
    }
}

/// `a string` → `strings`, for "a list of strings".
fn plural(one: &str) -> String {
    let bare = one
        .strip_prefix("a ")
        .or_else(|| one.strip_prefix("an "))
        .unwrap_or(one);
    match bare {
        "true or false" => "true or false values".to_owned(),
        "list" => "lists".to_owned(),
        other => format!("{other}s"),
    }
}

/// `` `compnent`, expected one of `route`, `component` `` (toml's rest of the message after
/// "unknown field ") as "unknown key `compnent`; did you mean `component`?", listing the valid
/// keys when none is near.
fn unknown_key(rest: &str) -> String {
    // serde says ", there are no fields" for a table that takes no keys.
    let rest = rest.strip_suffix(", there are no fields").unwrap_or(rest);
    let (key, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let key = key.trim_matches('`');
    let valid: Vec<&str> = expected
        .trim_start_matches("one of ")
        .split([',', ' '])
        .map(|name| name.trim_matches('`'))
        .filter(|name| !name.is_empty() && *name != "or")
        .collect();
    let nearest = valid
        .iter()
        .map(|name| (strsim::damerau_levenshtein(key, name), *name))
        .filter(|(distance, name)| *distance <= (name.len().max(key.len()) / 3).max(1))
        .min();
    match (nearest, valid.is_empty()) {
        (Some((_, name)), _) => format!("unknown key `{key}`; did you mean `{name}`?"),
        (None, true) => format!("unknown key `{key}`: this table takes no keys"),
        (None, false) => format!(
            "unknown key `{key}`; the keys here are {}",
            valid
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::unknown_key;

    #[test]
    fn unknown_keys_get_the_nearest_or_the_list_or_none() {
        assert_eq!(
            unknown_key("`compnent`, expected `route` or `component`"),
            "unknown key `compnent`; did you mean `component`?"
        );
        assert_eq!(
            unknown_key("`zzz`, expected one of `route`, `component`"),
            "unknown key `zzz`; the keys here are `route`, `component`"
        );
        assert_eq!(
            unknown_key("`x`, there are no fields"),
            "unknown key `x`: this table takes no keys"
        );
    }
}
