//! The shared queue backend: Redis Streams, for queues several nodes consume at once.
//!
//! Queue `name` is the stream `<prefix>:queue:<name>` with one consumer group, `wasmhost`;
//! every node is a consumer of its own (a random name per process). Ids come from
//! `INCRBY <stream>:seq`. Delayed messages and retries wait in the sorted set
//! `<stream>:delayed` (score: due time in ms), and are moved into the stream by a Lua script
//! when due, so no worker blocks on a retry.
//!
//! - `send`: one atomic `MULTI` of `XADD`s (due now) and `ZADD`s (delayed); durable once Redis
//!   acknowledges it;
//! - `receive`: move the due delayed messages, then `XAUTOCLAIM` the entries another consumer
//!   has held longer than the visibility timeout (a dead node's messages go to a live one),
//!   then `XREADGROUP ... >` for new ones;
//! - `ack`: `XACK` and `XDEL`; `retry`: `XACK`, `XDEL` and `ZADD` in one `MULTI`.

use std::time::Duration;

use anyhow::Result;
use redis::aio::ConnectionManager;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use redis::{Script, Value};

use super::{QueueBackend, StoredMessage};
use crate::capability::backend::{BackendError, connection_manager, now_ms};
use crate::runtime_config::RedisUrl;

/// The consumer group every node joins.
pub const GROUP: &str = "wasmhost";

/// How often an idle consumer looks at a Redis queue (other nodes' sends wake no one here).
pub const IDLE_POLL_MS: u64 = 100;

/// `KEYS[1]` = stream, `KEYS[2]` = delayed set, `ARGV[1]` = now (ms), `ARGV[2]` = at most.
/// Moves the due members of the set into the stream; returns how many.
const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'm', m)
  redis.call('ZREM', KEYS[2], m)
end
return #due
";

/// One queue on a Redis server.
pub struct RedisQueue {
    connection: ConnectionManager,
    stream: String,
    delayed: String,
    seq: String,
    consumer: String,
    visibility_ms: u64,
    promote: Script,
}

fn classify(err: redis::RedisError) -> BackendError {
    BackendError::Unavailable(format!("redis: {err}"))
}

fn encode(message: &StoredMessage) -> Result<Vec<u8>, BackendError> {
    postcard::to_stdvec(message).map_err(|err| BackendError::Unavailable(err.to_string()))
}

/// The message of stream entry `entry`, with the entry id as its receipt.
fn decode(entry: &StreamId) -> Result<StoredMessage, BackendError> {
    let Some(Value::BulkString(bytes)) = entry.map.get("m") else {
        return Err(BackendError::Unavailable(format!(
            "redis: stream entry {} has no message",
            entry.id
        )));
    };
    let mut message: StoredMessage = postcard::from_bytes(bytes)
        .map_err(|err| BackendError::Unavailable(format!("corrupt message: {err}")))?;
    message.receipt = entry.id.clone();
    Ok(message)
}

impl RedisQueue {
    /// Queue `name` on the server at `url`, under `prefix`; entries another consumer holds
    /// longer than `visibility` are claimed. Connects lazily; must be called inside a tokio
    /// runtime.
    ///
    /// # Errors
    /// A URL the Redis client does not accept (checked with the runtime config already).
    pub fn open(url: &RedisUrl, prefix: &str, name: &str, visibility: Duration) -> Result<Self> {
        let connection = connection_manager(url)?;
        let stream = format!("{prefix}:queue:{name}");
        let mut consumer = uuid::Uuid::encode_buffer();
        Ok(Self {
            connection,
            delayed: format!("{stream}:delayed"),
            seq: format!("{stream}:seq"),
            stream,
            consumer: uuid::Uuid::new_v4()
                .simple()
                .encode_lower(&mut consumer)
                .to_owned(),
            visibility_ms: u64::try_from(visibility.as_millis()).unwrap_or(u64::MAX),
            promote: Script::new(PROMOTE),
        })
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// Creates the consumer group (and the stream) if they do not exist yet.
    async fn ensure_group(&self) -> Result<(), BackendError> {
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async::<()>(&mut self.connection())
            .await;
        match created {
            Err(err) if err.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map_err(classify),
        }
    }

    async fn take(&self, max: usize) -> Result<Vec<StreamId>, redis::RedisError> {
        let mut connection = self.connection();
        self.promote
            .key(&self.stream)
            .key(&self.delayed)
            .arg(now_ms())
            .arg(max)
            .invoke_async::<i64>(&mut connection)
            .await?;
        let claimed: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(self.visibility_ms)
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut connection)
            .await?;
        let mut entries = claimed.claimed;
        if entries.len() < max {
            let read: Option<StreamReadReply> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(GROUP)
                .arg(&self.consumer)
                .arg("COUNT")
                .arg(max - entries.len())
                .arg("STREAMS")
                .arg(&self.stream)
                .arg(">")
                .query_async(&mut connection)
                .await?;
            entries.extend(read.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids));
        }
        Ok(entries)
    }
}

#[async_trait::async_trait]
impl QueueBackend for RedisQueue {
    async fn send(&self, mut messages: Vec<StoredMessage>) -> Result<Vec<u64>, BackendError> {
        let mut connection = self.connection();
        let count = messages.len() as u64;
        let last: u64 = redis::cmd("INCRBY")
            .arg(&self.seq)
            .arg(count)
            .query_async(&mut connection)
            .await
            .map_err(classify)?;
        let now = now_ms();
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut ids = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter_mut().enumerate() {
            message.id = last - count + 1 + i as u64;
            ids.push(message.id);
            let bytes = encode(message)?;
            if message.due_ms <= now {
                pipe.cmd("XADD")
                    .arg(&self.stream)
                    .arg("*")
                    .arg("m")
                    .arg(bytes)
                    .ignore();
            } else {
                pipe.cmd("ZADD")
                    .arg(&self.delayed)
                    .arg(message.due_ms)
                    .arg(bytes)
                    .ignore();
            }
        }
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(classify)?;
        Ok(ids)
    }

    async fn receive(&self, max: usize) -> Result<Vec<StoredMessage>, BackendError> {
        let entries = match self.take(max).await {
            Err(err) if err.code() == Some("NOGROUP") => {
                // A new stream, or a Redis that lost its data: make the group, then read.
                self.ensure_group().await?;
                self.take(max).await.map_err(classify)?
            }
            other => other.map_err(classify)?,
        };
        entries.iter().map(decode).collect()
    }

    async fn ack(&self, messages: &[StoredMessage]) -> Result<(), BackendError> {
        if messages.is_empty() {
            return Ok(());
        }
        let receipts: Vec<&str> = messages.iter().map(|m| m.receipt.as_str()).collect();
        redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(&receipts)
            .ignore()
            .cmd("XDEL")
            .arg(&self.stream)
            .arg(&receipts)
            .ignore()
            .query_async::<()>(&mut self.connection())
            .await
            .map_err(classify)
    }

    async fn retry(&self, message: &StoredMessage) -> Result<(), BackendError> {
        let bytes = encode(message)?;
        redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(&message.receipt)
            .ignore()
            .cmd("XDEL")
            .arg(&self.stream)
            .arg(&message.receipt)
            .ignore()
            .cmd("ZADD")
            .arg(&self.delayed)
            .arg(message.due_ms)
            .arg(bytes)
            .ignore()
            .query_async::<()>(&mut self.connection())
            .await
            .map_err(classify)
    }

    async fn next_due_ms(&self) -> Result<Option<u64>, BackendError> {
        // Other nodes' sends wake no consumer here: look again soon in any case.
        let first: Vec<(Vec<u8>, u64)> = redis::cmd("ZRANGE")
            .arg(&self.delayed)
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut self.connection())
            .await
            .map_err(classify)?;
        let soon = now_ms() + IDLE_POLL_MS;
        Ok(Some(
            first.first().map_or(soon, |(_, due)| (*due).min(soon)),
        ))
    }

    async fn peek(&self, max: usize) -> Result<Vec<StoredMessage>, BackendError> {
        let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut self.connection())
            .await
            .map_err(classify)?;
        entries.ids.iter().map(decode).collect()
    }

    async fn depth(&self) -> Result<(u64, u64), BackendError> {
        let mut connection = self.connection();
        let (length, delayed): (u64, u64) = redis::pipe()
            .cmd("XLEN")
            .arg(&self.stream)
            .cmd("ZCARD")
            .arg(&self.delayed)
            .query_async(&mut connection)
            .await
            .map_err(classify)?;
        let pending: Value = redis::cmd("XPENDING")
            .arg(&self.stream)
            .arg(GROUP)
            .query_async(&mut connection)
            .await
            .or_else(|err| {
                if err.code() == Some("NOGROUP") {
                    Ok(Value::Nil)
                } else {
                    Err(err)
                }
            })
            .map_err(classify)?;
        let in_flight = match pending {
            Value::Array(summary) => match summary.first() {
                Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                _ => 0,
            },
            _ => 0,
        };
        Ok((length.saturating_sub(in_flight) + delayed, in_flight))
    }

    async fn ping(&self) -> Result<(), BackendError> {
        redis::cmd("PING")
            .query_async::<()>(&mut self.connection())
            .await
            .map_err(classify)
    }
}
