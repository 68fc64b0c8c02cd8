//! End-to-end test of `apps/shortener` as shipped (its own manifest), on sled stores and queues
//! of the test's own: links in the key-value store, clicks counted through queue `clicks` by a
//! queue-triggered component, link creation recorded through topic `links`.

use std::time::{Duration, Instant};

use wasmhost_tests::{Server, repo_root, wasmhost_binary};

#[tokio::test(flavor = "multi_thread")]
async fn links_redirect_and_their_clicks_are_counted_through_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let runtime_config = dir.path().join("runtime-config.toml");
    let mut config = "[key_value_store.default]\ntype = \"sled\"\npath = \"kv\"\n".to_owned();
    for table in [
        "queue.clicks",
        "queue.clicks-dead-letter",
        "queue.links-stats-dead-letter",
        "topic.links",
    ] {
        config += &format!("[{table}]\ntype = \"sled\"\npath = \"queues\"\n");
    }
    std::fs::write(&runtime_config, config).unwrap();
    let manifest = repo_root().join("apps/shortener/wasmhost.toml");
    let server = Server::start_app(
        wasmhost_binary(),
        &manifest,
        &["--runtime-config", runtime_config.to_str().unwrap()],
    )
    .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let created = client
        .post(server.url("/links"))
        .body("https://example.com/a very long path")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 400, "a URL with spaces");
    let created = client
        .post(server.url("/links"))
        .body("https://example.com/some/long/path?q=1")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let code = created.text().await.unwrap().trim().to_owned();
    assert_eq!(code, "1");
    let created = client
        .post(server.url("/links"))
        .header("content-type", "application/json")
        .body(r#"{"url": "https://example.com/json"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    assert_eq!(created.headers()["location"], "/2");
    let bad = client
        .post(server.url("/links"))
        .header("content-type", "application/json")
        .body(r#"{"link": "https://example.com/json"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(
        bad.headers()["content-type"],
        "text/plain; charset=utf-8",
        "errors are text"
    );
    assert_eq!(
        bad.text().await.unwrap(),
        "invalid JSON body: missing field `url` at line 1 column 36\n"
    );
    let wrong_method = client.delete(server.url("/links")).send().await.unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert_eq!(wrong_method.headers()["allow"], "POST");

    for _ in 0..10 {
        let follow = client
            .get(server.url(&format!("/{code}")))
            .send()
            .await
            .unwrap();
        assert_eq!(follow.status().as_u16(), 302);
        assert_eq!(
            follow.headers()["location"],
            "https://example.com/some/long/path?q=1"
        );
    }
    assert_eq!(
        client
            .get(server.url("/nope"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );

    // The counter is eventually consistent: it follows the queue.
    let deadline = Instant::now() + Duration::from_secs(20);
    let stats = loop {
        let text = client
            .get(server.url(&format!("/links/{code}/stats")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let stats: serde_json::Value = serde_json::from_str(&text).unwrap();
        if stats["clicks"] == 10 && stats["created"].is_string() {
            break stats;
        }
        assert!(Instant::now() < deadline, "{stats}\n{}", server.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(stats["url"], "https://example.com/some/long/path?q=1");
    assert_eq!(stats["code"], "1");
    assert!(stats["created"].as_str().unwrap().contains('T'), "{stats}");
}
