//! End-to-end test of `apps/weather-proxy` as shipped (its own manifest), against a local
//! hyper [`Upstream`] standing in for the weather API: outbound HTTP, variables, the key-value
//! cache and the cron refresh together.

use std::time::{Duration, Instant};

use wasmhost_tests::{Server, Upstream, repo_root, wasmhost_binary};

async fn weather(server: &Server, city: &str) -> (u16, String, String) {
    let response = reqwest::get(server.url(&format!("/weather/{city}")))
        .await
        .unwrap();
    let cache = response
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        response.status().as_u16(),
        cache,
        response.text().await.unwrap(),
    )
}

#[tokio::test]
async fn caches_upstream_answers_and_the_cron_job_refreshes_them() {
    let upstream = Upstream::start().await;
    // The cache lives in a sled store of the test's own.
    let dir = tempfile::tempdir().unwrap();
    let runtime_config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &runtime_config,
        "[key_value_store.default]\ntype = \"sled\"\npath = \"kv\"\n",
    )
    .unwrap();
    let manifest = repo_root().join("apps/weather-proxy/wasmhost.toml");
    let upstream_url = format!("upstream_url={}", upstream.url(""));
    let server = Server::start_app(
        wasmhost_binary(),
        &manifest,
        &[
            "--runtime-config",
            runtime_config.to_str().unwrap(),
            "--var",
            &upstream_url,
            "--var",
            "cities=oslo",
        ],
    )
    .unwrap();

    // A miss fetches from the upstream; the next read is a hit that does not.
    let (status, cache_state, body) = weather(&server, "lima").await;
    assert_eq!((status, cache_state.as_str()), (200, "miss"), "{body}");
    assert!(body.starts_with(r#"{"city":"lima","temp_c":21"#), "{body}");
    let served = upstream.weather_served();
    let (status, cache_state, cached) = weather(&server, "lima").await;
    assert_eq!(
        (status, cache_state.as_str(), cached.as_str()),
        (200, "hit", body.as_str())
    );
    assert_eq!(upstream.weather_served(), served);

    // The cron job (every 30 s, at :00 and :30) fetches `cities` again and overwrites the
    // cache: oslo's cached answer changes without a miss.
    let (_, cache_state, first) = weather(&server, "oslo").await;
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (status, now, body) = weather(&server, "oslo").await;
        assert_eq!((status, now.as_str()), (200, "hit"), "{body}");
        if body != first {
            assert!(body.starts_with(r#"{"city":"oslo""#), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cron job never refreshed oslo (first read: {cache_state})\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(weather(&server, "Bad_City").await.0, 400);
}
