//! The shared queue backend: Redis Streams, for queues several nodes consume at once.
//!
//! Queue `name` is the stream `<prefix>:queue:<name>` with one consumer group, `wasmhost`;
//! every node is a consumer named after it (the runtime config's `node`, by default the host
//! name), so a restarted node keeps its name; consumers that hold nothing and have been idle
//! for ten visibility timeouts are removed. Ids come from `INCRBY <stream>:seq`. Delayed messages and retries
//! wait in the sorted set `<stream>:delayed` (score: due time in ms), and are moved into the
//! stream by a Lua script when due, so no worker blocks on a retry.
//!
//! - `send`: one atomic `MULTI` of `XADD`s (due now) and `ZADD`s (delayed); durable once Redis
//!   acknowledges it (and persists it: see `docs/deploying.md`);
//! - `receive`: move the due delayed messages, then `XAUTOCLAIM` the entries another consumer
//!   has held longer than the visibility timeout (a dead or hung node's messages go to a live
//!   one; the cursor is kept between calls), counting each lost delivery as a failure (from
//!   the entry's delivery count), then `XREADGROUP ... >` for new ones;
//! - `renew`: `XCLAIM ... JUSTID` of the entries this consumer still holds, which restarts
//!   their visibility timeout;
//! - `ack`: `XACK` and `XDEL`; `retry`: `XACK`, `XDEL` and `ZADD`; both in a Lua script that
//!   does nothing for an entry this consumer no longer holds (another one claimed it).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use redis::aio::ConnectionManager;
use redis::streams::{
    StreamAutoClaimReply, StreamId, StreamInfoConsumersReply, StreamPendingCountReply,
    StreamReadReply,
};
use redis::{Script, Value};

use super::backend::{LOST_DELIVERY, Received, Undecodable};
use super::{QueueBackend, StoredMessage};
use crate::capability::backend::{BackendError, connection_manager, now_ms};
use crate::runtime_config::RedisUrl;

/// The consumer group every node joins.
pub const GROUP: &str = "wasmhost";

/// How often an idle consumer looks at a Redis queue (other nodes' sends wake no one here).
pub const IDLE_POLL_MS: u64 = 100;

/// How many visibility timeouts a consumer that holds nothing may stay idle before another
/// node removes it: 10 (a live consumer reads at least every second).
pub const DEAD_CONSUMER_IDLE: u64 = 10;

/// How often a node looks for dead consumers: every 5 min.
const CLEANUP_EVERY_MS: u64 = 300_000;

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

/// The Lua function every held-entry script starts with: whether consumer `ARGV[2]` of group
/// `ARGV[1]` still holds entry `id` of stream `KEYS[1]`.
const HELD: &str = r"
local function held(id)
  return #redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2]) > 0
end
";

/// `KEYS[1]` = stream, `ARGV[1]` = group, `ARGV[2]` = consumer, `ARGV[3..]` = entry ids.
/// Acknowledges and deletes the entries the consumer holds; returns how many.
const ACK: &str = r"
local done = 0
for i = 3, #ARGV do
  if held(ARGV[i]) then
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
    redis.call('XDEL', KEYS[1], ARGV[i])
    done = done + 1
  end
end
return done
";

/// `KEYS[1]` = stream, `KEYS[2]` = delayed set, `ARGV[1]` = group, `ARGV[2]` = consumer,
/// `ARGV[3]` = entry id, `ARGV[4]` = due (ms), `ARGV[5]` = the message to retry. If the
/// consumer holds the entry: acknowledges and deletes it, and adds the message to the set.
const RETRY: &str = r"
if not held(ARGV[3]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
return 1
";

/// `KEYS[1]` = stream, `ARGV[1]` = group, `ARGV[2]` = consumer, `ARGV[3..]` = entry ids.
/// Restarts the idle time of the entries the consumer holds (`XCLAIM ... JUSTID`, which does
/// not count a delivery); returns how many.
const RENEW: &str = r"
local done = 0
for i = 3, #ARGV do
  if held(ARGV[i]) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    done = done + 1
  end
end
return done
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
    ack: Script,
    retry: Script,
    renew: Script,
    /// Where the next `XAUTOCLAIM` starts (`0-0` after a full pass).
    cursor: Mutex<String>,
    /// When this node last looked for dead consumers (ms since the Unix epoch).
    cleaned_ms: AtomicU64,
}

fn classify(err: redis::RedisError) -> BackendError {
    BackendError::Unavailable(format!("redis: {err}"))
}

fn encode(message: &StoredMessage) -> Result<Vec<u8>, BackendError> {
    postcard::to_stdvec(message).map_err(|err| BackendError::Unavailable(err.to_string()))
}

/// The message of stream entry `entry`, with the entry id as its receipt.
///
/// # Errors
/// An entry without an `m` field of bytes, or whose bytes are not a postcard-encoded
/// [`StoredMessage`]: why, in words; never a panic.
pub fn decode(entry: &StreamId) -> Result<StoredMessage, String> {
    let Some(Value::BulkString(bytes)) = entry.map.get("m") else {
        return Err(format!(
            "stream entry {} has no message field `m`",
            entry.id
        ));
    };
    let mut message: StoredMessage =
        postcard::from_bytes(bytes).map_err(|err| format!("corrupt message: {err}"))?;
    message.receipt = entry.id.clone();
    Ok(message)
}

/// Stream entry `entry`, which does not decode for `error`: its `m` bytes (if any) as its
/// body, its id as its receipt.
fn undecodable(entry: &StreamId, error: String) -> Undecodable {
    let body = match entry.map.get("m") {
        Some(Value::BulkString(bytes)) => bytes.clone(),
        _ => Vec::new(),
    };
    let mut raw = StoredMessage::new(body, None, Vec::new(), 0);
    raw.receipt = entry.id.clone();
    Undecodable { entry: raw, error }
}

impl RedisQueue {
    /// Queue `name` on the server at `url`, under `prefix`, consumed here as consumer
    /// `consumer` (the node's name); entries a consumer holds longer than `visibility`
    /// without a renewal are claimed. Connects lazily; must be called inside a tokio runtime.
    ///
    /// # Errors
    /// A URL the Redis client does not accept (checked with the runtime config already).
    pub fn open(
        url: &RedisUrl,
        prefix: &str,
        name: &str,
        consumer: &str,
        visibility: Duration,
    ) -> Result<Self> {
        let connection = connection_manager(url)?;
        let stream = format!("{prefix}:queue:{name}");
        Ok(Self {
            connection,
            delayed: format!("{stream}:delayed"),
            seq: format!("{stream}:seq"),
            stream,
            consumer: consumer.to_owned(),
            visibility_ms: u64::try_from(visibility.as_millis()).unwrap_or(u64::MAX),
            promote: Script::new(PROMOTE),
            ack: Script::new(&format!("{HELD}{ACK}")),
            retry: Script::new(&format!("{HELD}{RETRY}")),
            renew: Script::new(&format!("{HELD}{RENEW}")),
            cursor: Mutex::new("0-0".to_owned()),
            cleaned_ms: AtomicU64::new(0),
        })
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// Runs `script` (one of the held-entry scripts) on the entries of `messages`.
    async fn held(&self, script: &Script, messages: &[StoredMessage]) -> Result<(), BackendError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut invocation = script.key(&self.stream);
        invocation.arg(GROUP).arg(&self.consumer);
        for message in messages {
            invocation.arg(&message.receipt);
        }
        invocation
            .invoke_async::<i64>(&mut self.connection())
            .await
            .map(drop)
            .map_err(classify)
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

    /// Takes up to `max` entries: claimed ones first, then new ones; each with its lost
    /// deliveries (0 for a new one).
    async fn take(&self, max: usize) -> Result<Vec<(StreamId, u32)>, redis::RedisError> {
        let mut connection = self.connection();
        self.promote
            .key(&self.stream)
            .key(&self.delayed)
            .arg(now_ms())
            .arg(max)
            .invoke_async::<i64>(&mut connection)
            .await?;
        let cursor = self
            .cursor
            .lock()
            .map_or_else(|_| "0-0".to_owned(), |c| c.clone());
        let claimed: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&self.stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(self.visibility_ms)
            .arg(&cursor)
            .arg("COUNT")
            .arg(max)
            .query_async(&mut connection)
            .await?;
        if let Ok(mut cursor) = self.cursor.lock() {
            cursor.clone_from(&claimed.next_stream_id);
        }
        let lost = self.deliveries(&claimed.claimed).await?;
        let mut entries: Vec<(StreamId, u32)> = claimed.claimed.into_iter().zip(lost).collect();
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
            let new = read.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
            entries.extend(new.map(|entry| (entry, 0)));
        }
        Ok(entries)
    }

    /// How many deliveries of each of the `claimed` entries were lost: its delivery count
    /// (`XPENDING`) less this one.
    async fn deliveries(&self, claimed: &[StreamId]) -> Result<Vec<u32>, redis::RedisError> {
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for entry in claimed {
            pipe.cmd("XPENDING")
                .arg(&self.stream)
                .arg(GROUP)
                .arg(&entry.id)
                .arg(&entry.id)
                .arg(1);
        }
        let replies: Vec<StreamPendingCountReply> =
            pipe.query_async(&mut self.connection()).await?;
        Ok(replies
            .iter()
            .map(|reply| {
                let delivered = reply.ids.first().map_or(1, |p| p.times_delivered);
                u32::try_from(delivered.saturating_sub(1)).unwrap_or(u32::MAX)
            })
            .collect())
    }

    /// At the first call, then every [`CLEANUP_EVERY_MS`]: removes the consumers of the group
    /// that hold nothing and have been idle for [`DEAD_CONSUMER_IDLE`] visibility timeouts
    /// (stopped or renamed nodes; a live one that is removed is made again by its next read).
    async fn remove_dead_consumers(&self) -> Result<(), redis::RedisError> {
        let now = now_ms();
        let last = self.cleaned_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < CLEANUP_EVERY_MS
            || self
                .cleaned_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        let mut connection = self.connection();
        let info: StreamInfoConsumersReply = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&self.stream)
            .arg(GROUP)
            .query_async(&mut connection)
            .await?;
        let dead_after = self.visibility_ms.saturating_mul(DEAD_CONSUMER_IDLE);
        for dead in info
            .consumers
            .iter()
            .filter(|c| c.pending == 0 && c.idle as u64 >= dead_after && c.name != self.consumer)
        {
            redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(&self.stream)
                .arg(GROUP)
                .arg(&dead.name)
                .query_async::<()>(&mut connection)
                .await?;
            tracing::info!(stream = %self.stream, consumer = %dead.name, "removed a dead queue consumer");
        }
        Ok(())
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

    async fn receive(&self, max: usize) -> Result<Received, BackendError> {
        if max == 0 {
            return Ok(Received::default());
        }
        if let Err(err) = self.remove_dead_consumers().await {
            tracing::debug!(stream = %self.stream, "cannot look for dead consumers: {err}");
        }
        let entries = match self.take(max).await {
            Err(err) if err.code() == Some("NOGROUP") => {
                // A new stream, or a Redis that lost its data: make the group, then read.
                self.ensure_group().await?;
                self.take(max).await.map_err(classify)?
            }
            other => other.map_err(classify)?,
        };
        let mut received = Received::default();
        for (entry, lost) in &entries {
            match decode(entry) {
                Ok(mut message) => {
                    if *lost > 0 {
                        message.failures = message.failures.saturating_add(*lost);
                        message.last_error = Some(LOST_DELIVERY.to_owned());
                    }
                    received.messages.push(message);
                }
                Err(error) => received.undecodable.push(undecodable(entry, error)),
            }
        }
        Ok(received)
    }

    async fn renew(&self, messages: &[StoredMessage]) -> Result<(), BackendError> {
        self.held(&self.renew, messages).await
    }

    async fn ack(&self, messages: &[StoredMessage]) -> Result<(), BackendError> {
        self.held(&self.ack, messages).await
    }

    async fn retry(&self, message: &StoredMessage) -> Result<(), BackendError> {
        let bytes = encode(message)?;
        self.retry
            .key(&self.stream)
            .key(&self.delayed)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(&message.receipt)
            .arg(message.due_ms)
            .arg(bytes)
            .invoke_async::<i64>(&mut self.connection())
            .await
            .map(drop)
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
        Ok(entries.ids.iter().filter_map(|e| decode(e).ok()).collect())
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

    /// `CONFIG GET appendonly`: without an append-only file, Redis loses the writes since its
    /// last snapshot (messages included) when it restarts. A server that refuses `CONFIG`
    /// (managed Redis often does) is not second-guessed.
    async fn durability_warning(&self) -> Result<Option<String>, BackendError> {
        let reply: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendonly")
            .query_async(&mut self.connection())
            .await;
        match reply {
            Ok(pair) if pair.get(1).is_some_and(|value| value == "no") => Ok(Some(
                "its Redis keeps no append-only file (appendonly no): messages acknowledged to their senders are lost if Redis restarts; set `appendonly yes`".to_owned(),
            )),
            Ok(_) => Ok(None),
            Err(err) if matches!(err.kind(), redis::ErrorKind::Server(_)) => Ok(None),
            Err(err) => Err(classify(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;
    use redis::FromRedisValue;
    use redis::streams::StreamRangeReply;

    use super::*;
    use crate::capability::queue::backend::strategy::{stored_bytes, stored_message};

    /// [`encode`], which cannot fail for a message.
    fn encoded(message: &StoredMessage) -> Vec<u8> {
        encode(message).unwrap()
    }

    /// Any Redis reply value, nested a little: integers and doubles at their extremes
    /// included, and a bulk string holding a number too large for any type.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Nil),
            Just(Value::Okay),
            prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX)].prop_map(Value::Int),
            prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY)].prop_map(Value::Double),
            any::<bool>().prop_map(Value::Boolean),
            "\\PC{0,8}".prop_map(Value::SimpleString),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::BulkString),
            Just(Value::BulkString(
                b"340282366920938463463374607431768211456".to_vec()
            )),
            stored_bytes(encoded).prop_map(Value::BulkString),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Set),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Value::Map),
            ]
        })
    }

    /// A stream entry's field map: mostly an `m`, mostly a stored message whole or damaged,
    /// else any value; other fields of any name and value.
    fn fields() -> impl Strategy<Value = HashMap<String, Value>> {
        let message = prop_oneof![
            2 => stored_bytes(encoded).prop_map(Value::BulkString),
            1 => value(),
        ];
        let others = proptest::collection::hash_map("\\PC{0,4}", value(), 0..3);
        (proptest::option::weighted(0.8, message), others).prop_map(|(message, mut fields)| {
            if let Some(message) = message {
                fields.insert("m".to_owned(), message);
            }
            fields
        })
    }

    /// `entry` decodes to a message with the entry id as its receipt, or to an error, and is
    /// then kept as undecodable with the entry id as its receipt and its `m` bytes, if any,
    /// as its body.
    fn decodes_or_errs(entry: &StreamId) -> Result<(), TestCaseError> {
        match decode(entry) {
            Ok(message) => prop_assert_eq!(&message.receipt, &entry.id),
            Err(error) => {
                let kept = undecodable(entry, error);
                prop_assert_eq!(&kept.entry.receipt, &entry.id);
                let bytes = match entry.map.get("m") {
                    Some(Value::BulkString(bytes)) => &bytes[..],
                    _ => &[],
                };
                prop_assert_eq!(&kept.entry.body[..], bytes);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A stream entry with any fields decodes to a message with the entry id as its
        /// receipt, or an error and an undecodable entry with that receipt, never a panic.
        #[test]
        fn any_stream_entry_decodes_or_errs(id in "\\PC{0,24}", map in fields()) {
            decodes_or_errs(&StreamId { id, map, ..StreamId::default() })?;
        }

        /// Any `XRANGE` reply (any value, or entries of any fields) parses to entries that
        /// each decode to a message (the entry id its receipt) or an error, or does not parse,
        /// never a panic.
        #[test]
        fn any_range_reply_decodes_or_errs(
            reply in prop_oneof![
                value(),
                proptest::collection::vec(("\\PC{0,8}", fields()), 0..4).prop_map(|entries| {
                    Value::Array(
                        entries
                            .into_iter()
                            .map(|(id, map)| {
                                let fields = map
                                    .into_iter()
                                    .flat_map(|(name, value)| [Value::BulkString(name.into_bytes()), value]);
                                Value::Array(vec![
                                    Value::BulkString(id.into_bytes()),
                                    Value::Array(fields.collect()),
                                ])
                            })
                            .collect(),
                    )
                }),
            ],
        ) {
            if let Ok(reply) = StreamRangeReply::from_redis_value(reply) {
                for entry in &reply.ids {
                    decodes_or_errs(entry)?;
                }
            }
        }

        /// An encoded message in an entry's `m` field decodes back to itself, with the entry
        /// id as its receipt.
        #[test]
        fn a_message_round_trips(message in stored_message(), id in "[0-9]{1,13}-[0-9]{1,3}") {
            let map = HashMap::from([("m".to_owned(), Value::BulkString(encoded(&message)))]);
            let entry = StreamId { id: id.clone(), map, ..StreamId::default() };
            let decoded = decode(&entry).unwrap();
            prop_assert_eq!(decoded, StoredMessage { receipt: id, ..message });
        }
    }
}
