//! The shared key-value backend: Redis, for stores several nodes use at once.
//!
//! Store `label`'s key `k` is the Redis key `<prefix>:kv:<label>:<k>`. One [`ConnectionManager`]
//! per store multiplexes every instance's calls on one connection and reconnects after a
//! failure; while Redis is down, calls fail within [`CONNECT_TIMEOUT`](crate::capability::backend::CONNECT_TIMEOUT) /
//! [`RESPONSE_TIMEOUT`](crate::capability::backend::RESPONSE_TIMEOUT)
//! instead of hanging, and succeed again once it is back. Writes are durable once Redis
//! acknowledges them.
//!
//! Counters are `INCRBY`; compare-and-swap is a Lua script, atomic on the server; `list-keys`
//! is `SCAN MATCH <prefix>:kv:<label>:*` with Redis's own cursor (a key may come twice across
//! pages, as `SCAN` documents); `get-many` is a Lua script that stops past its byte limit;
//! `set-many` and `delete-many` are single `MSET` / `DEL` commands.

use anyhow::Result;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::backend::get_many_too_big;
use super::{BackendError, KeyPage, KeyValueBackend, LIST_PAGE};
use crate::capability::backend::connection_manager;
use crate::runtime_config::RedisUrl;

/// `KEYS[1]` = key, `ARGV[1]` = "1" if a value is expected, `ARGV[2]` = expected value,
/// `ARGV[3]` = new value. Returns 1 if written, 0 if the current value differed.
const COMPARE_AND_SWAP: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
";

/// `KEYS` = keys, `ARGV[1]` = the most value bytes to return. Returns the values (nil for a
/// missing key), or the error `TOOBIG <bytes so far>` once they come to more.
const GET_MANY: &str = r"
local total = 0
local values = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value then
    total = total + #value
    if total > tonumber(ARGV[1]) then
      return redis.error_reply('TOOBIG ' .. total)
    end
  end
  values[i] = value
end
return values
";

/// One store on a Redis server.
pub struct RedisStore {
    connection: ConnectionManager,
    /// `<prefix>:kv:<label>:`.
    namespace: String,
    /// `<prefix>:kv:<label>:*`, the `SCAN MATCH` pattern (labels and prefixes hold no glob
    /// character, so nothing needs escaping).
    pattern: String,
    compare_and_swap: Script,
    get_many: Script,
}

impl RedisStore {
    /// A store whose keys are `<prefix>:kv:<label>:<key>` on the server at `url`. Connects lazily,
    /// on first use; must be called inside a tokio runtime.
    ///
    /// # Errors
    /// A URL the Redis client does not accept (checked with the runtime config already).
    pub fn open(url: &RedisUrl, prefix: &str, label: &str) -> Result<Self> {
        Ok(Self {
            connection: connection_manager(url)?,
            namespace: format!("{prefix}:kv:{label}:"),
            pattern: format!("{prefix}:kv:{label}:*"),
            compare_and_swap: Script::new(COMPARE_AND_SWAP),
            get_many: Script::new(GET_MANY),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.namespace)
    }

    fn keys(&self, keys: &[String]) -> Vec<String> {
        keys.iter().map(|key| self.key(key)).collect()
    }

    /// A connection handle: a cheap clone sharing the multiplexed connection.
    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

/// Redis errors: a server's refusal of the data (`WRONGTYPE`, "not an integer") is the
/// guest's doing; anything else (I/O, timeouts, a lost connection) is an outage.
fn classify(err: redis::RedisError) -> BackendError {
    match err.kind() {
        redis::ErrorKind::Server(_) => BackendError::Invalid(format!("redis: {err}")),
        _ => BackendError::Unavailable(format!("redis: {err}")),
    }
}

#[async_trait::async_trait]
impl KeyValueBackend for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        self.connection().get(self.key(key)).await.map_err(classify)
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.connection()
            .set(self.key(key), value)
            .await
            .map_err(classify)
    }

    async fn delete(&self, key: &str) -> Result<(), BackendError> {
        self.connection()
            .del::<_, ()>(self.key(key))
            .await
            .map_err(classify)
    }

    async fn exists(&self, key: &str) -> Result<bool, BackendError> {
        self.connection()
            .exists(self.key(key))
            .await
            .map_err(classify)
    }

    async fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage, BackendError> {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor.unwrap_or(0))
            .arg("MATCH")
            .arg(&self.pattern)
            .arg("COUNT")
            .arg(LIST_PAGE)
            .query_async(&mut self.connection())
            .await
            .map_err(classify)?;
        let keys = keys
            .iter()
            .map(|key| {
                let key = key.strip_prefix(self.namespace.as_bytes()).unwrap_or(key);
                String::from_utf8_lossy(key).into_owned()
            })
            .collect();
        Ok(KeyPage {
            keys,
            cursor: (next != 0).then_some(next),
        })
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, BackendError> {
        self.connection()
            .incr(self.key(key), delta)
            .await
            .map_err(classify)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, BackendError> {
        let written: i64 = self
            .compare_and_swap
            .key(self.key(key))
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(value)
            .invoke_async(&mut self.connection())
            .await
            .map_err(classify)?;
        Ok(written == 1)
    }

    async fn get_many(
        &self,
        keys: &[String],
        max_bytes: usize,
    ) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.get_many.prepare_invoke();
        invocation.arg(max_bytes);
        for key in keys {
            invocation.key(self.key(key));
        }
        match invocation.invoke_async(&mut self.connection()).await {
            Err(err) if err.code() == Some("TOOBIG") => {
                let total = err.detail().and_then(|d| d.trim().parse().ok());
                Err(get_many_too_big(total.unwrap_or(max_bytes)))
            }
            other => other.map_err(classify),
        }
    }

    async fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), BackendError> {
        if entries.is_empty() {
            return Ok(());
        }
        let entries: Vec<(String, &[u8])> = entries
            .iter()
            .map(|(key, value)| (self.key(key), value.as_slice()))
            .collect();
        self.connection().mset(&entries).await.map_err(classify)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), BackendError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.connection()
            .del::<_, ()>(self.keys(keys))
            .await
            .map_err(classify)
    }

    async fn ping(&self) -> Result<(), BackendError> {
        redis::cmd("PING")
            .query_async::<()>(&mut self.connection())
            .await
            .map_err(classify)
    }
}
