//! The Redis queue backend itself, against a real `redis-server`, for what the binary does not
//! show on demand: two consumers of one queue racing for a message, a renewal, a stale holder,
//! a claim scan longer than one call, a dead consumer.

use std::time::Duration;

use wasmhost::capability::queue::redis::RedisQueue;
use wasmhost::capability::queue::{LOST_DELIVERY, QueueBackend, StoredMessage};
use wasmhost::runtime_config::RuntimeConfig;
use wasmhost_tests::RedisServer;

/// The visibility timeout of these tests: 1 s.
const VISIBILITY: Duration = Duration::from_secs(1);

/// Consumer `consumer` of queue `q` on `redis`, with visibility timeout [`VISIBILITY`].
fn consumer(redis: &RedisServer, consumer: &str) -> RedisQueue {
    consumer_with(redis, consumer, VISIBILITY)
}

/// Consumer `consumer` of queue `q` on `redis`, with visibility timeout `visibility`.
fn consumer_with(redis: &RedisServer, consumer: &str, visibility: Duration) -> RedisQueue {
    let config = RuntimeConfig::parse(
        std::path::Path::new("/runtime.toml"),
        &format!(
            "[queue.q]\ntype = \"redis\"\nurl = \"{}\"\nprefix = \"t\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let wasmhost::runtime_config::Backend::Redis { url, .. } = &config.queues["q"].backend else {
        unreachable!("a redis queue")
    };
    RedisQueue::open(url, "t", "q", consumer, visibility).unwrap()
}

fn message(body: &str) -> StoredMessage {
    StoredMessage::new(body.into(), None, Vec::new(), 0)
}

/// Renews `held` with `queue` every 200 ms for `total`.
async fn renew_for(queue: &RedisQueue, held: &[StoredMessage], total: Duration) {
    let end = tokio::time::Instant::now() + total;
    while tokio::time::Instant::now() < end {
        queue.renew(held).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A message its consumer renews stays with it past the visibility timeout; once the renewals
/// stop, another consumer claims it with the lost delivery counted, and the first one's late
/// ack and retry then do nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_message_stays_held_and_a_stale_holder_changes_nothing() {
    let redis = RedisServer::start();
    let (a, b) = (consumer(&redis, "node-a"), consumer(&redis, "node-b"));
    a.send(vec![message("m")]).await.unwrap();
    let held = a.receive(10).await.unwrap().messages;
    assert_eq!(held.len(), 1);

    renew_for(&a, &held, VISIBILITY * 2).await;
    assert!(b.receive(10).await.unwrap().messages.is_empty());

    tokio::time::sleep(VISIBILITY + Duration::from_millis(200)).await;
    let claimed = b.receive(10).await.unwrap().messages;
    assert_eq!(claimed.len(), 1, "the unrenewed message is claimed");
    assert_eq!(claimed[0].failures, 1);
    assert_eq!(claimed[0].last_error.as_deref(), Some(LOST_DELIVERY));

    a.ack(&held).await.unwrap();
    let mut retried = held[0].clone();
    retried.failures = 1;
    a.retry(&retried).await.unwrap();
    assert_eq!(a.depth().await.unwrap(), (0, 1), "b still holds it");
    b.ack(&claimed).await.unwrap();
    assert_eq!(a.depth().await.unwrap(), (0, 0));
}

/// `XAUTOCLAIM` examines at most ten entries per message asked for: a lost entry behind more
/// live ones than that is still claimed, because each call goes on where the last one stopped.
#[tokio::test(flavor = "multi_thread")]
async fn the_claim_scan_goes_on_where_it_stopped() {
    let redis = RedisServer::start();
    let (live, dying, third) = (
        consumer(&redis, "live"),
        consumer(&redis, "dying"),
        consumer(&redis, "third"),
    );
    let bodies: Vec<StoredMessage> = (0..16).map(|i| message(&i.to_string())).collect();
    live.send(bodies).await.unwrap();
    let held = live.receive(15).await.unwrap().messages;
    assert_eq!(held.len(), 15);
    let lost = dying.receive(1).await.unwrap().messages;
    assert_eq!(lost[0].body, b"15");

    renew_for(&live, &held, VISIBILITY + Duration::from_millis(300)).await;
    let mut claimed = Vec::new();
    for _ in 0..3 {
        live.renew(&held).await.unwrap();
        claimed = third.receive(1).await.unwrap().messages;
        if !claimed.is_empty() {
            break;
        }
    }
    assert_eq!(claimed.len(), 1, "the lost entry is never claimed");
    assert_eq!(claimed[0].body, b"15");
}

/// A consumer that holds nothing and has been idle for ten visibility timeouts (a stopped
/// node) is removed from the group by the next node that starts; one that holds a message
/// stays, however long idle.
#[tokio::test(flavor = "multi_thread")]
async fn a_dead_consumer_is_removed() {
    let redis = RedisServer::start();
    let visibility = Duration::from_millis(200);
    let first = consumer_with(&redis, "first", visibility);
    first.send(vec![message("held")]).await.unwrap();
    assert_eq!(first.receive(1).await.unwrap().messages.len(), 1);
    redis.cli(&["XGROUP", "CREATECONSUMER", "t:queue:q", "wasmhost", "ghost"]);
    let consumers = || redis.cli(&["XINFO", "CONSUMERS", "t:queue:q", "wasmhost"]);
    assert!(consumers().contains("ghost"));
    tokio::time::sleep(visibility * 10 + Duration::from_millis(300)).await;
    let second = consumer_with(&redis, "second", visibility);
    second.receive(1).await.unwrap();
    let left = consumers();
    assert!(!left.contains("ghost"), "{left}");
    assert!(left.contains("first"), "{left}");
}
