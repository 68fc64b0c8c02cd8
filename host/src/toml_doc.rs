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
    /// Deserializes the whole text into `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, TomlError> {
        toml::from_str(self.text).map_err(|err| {
            let span = err.span().unwrap_or(0..0);
            TomlError {
                location: self.location(span.clone()),
                table: self.table_at(span.start).map(str::to_owned),
                message: err.message().to_owned(),
            }
        })
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
