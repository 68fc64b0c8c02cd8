//! Request ids: each HTTP request, and each cron run, gets one, carried in every log line
//! about it.
//!
//! An HTTP request keeps the `x-request-id` its client sent if that is sane (1 to 128 bytes of
//! ASCII letters, digits, `-`, `_`, `.`, `:`); otherwise the host generates a UUID v4. The id
//! replaces the request's `x-request-id` (so the guest sees it), is echoed on the response,
//! and goes with the request along internal chains.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

/// The header that carries the id, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client id kept, in bytes.
pub const MAX_LEN: usize = 128;

/// A request id, held as the header value it travels in (cloning is a reference-count
/// increment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The client's `x-request-id` in `headers` if it is sane, else a new one.
    pub fn from_client(headers: &HeaderMap) -> Self {
        match headers.get(HEADER) {
            Some(value) if is_sane(value.as_bytes()) => Self(value.clone()),
            _ => Self::generate(),
        }
    }

    /// A new id: a random UUID v4, hyphenated, lowercase.
    pub fn generate() -> Self {
        let mut buf = uuid::Uuid::encode_buffer();
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
        Self(HeaderValue::from_str(text).expect("a UUID is a valid header value"))
    }

    /// `text` as the id if it is sane (a workflow instance id, an activity's idempotency
    /// key), else a new one: the log lines of an instance's turns and activities carry it.
    pub fn named(text: &str) -> Self {
        match HeaderValue::from_str(text) {
            Ok(value) if is_sane(value.as_bytes()) => Self(value),
            _ => Self::generate(),
        }
    }

    /// The id as a header value.
    pub fn header(&self) -> &HeaderValue {
        &self.0
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only sane (ASCII) or generated values are ever held.
        self.0.to_str().unwrap_or_default()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_sane(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(value: &str) -> RequestId {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(value).unwrap());
        RequestId::from_client(&headers)
    }

    #[test]
    fn sane_client_ids_are_kept_others_replaced() {
        assert_eq!(from("abc-123_x.y:z").as_str(), "abc-123_x.y:z");
        let generated = [
            from(""),
            from("has space"),
            from(&"x".repeat(129)),
            from("a\"b"),
        ];
        for id in generated {
            assert_eq!(id.as_str().len(), 36, "{id}");
        }
        assert_ne!(RequestId::generate(), RequestId::generate());
        assert_eq!(RequestId::from_client(&HeaderMap::new()).as_str().len(), 36);
    }
}
