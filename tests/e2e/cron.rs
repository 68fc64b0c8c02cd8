//! End-to-end tests of cron triggers: the real `wasmhost` binary running
//! `tests/guests/cron-probe` on schedules with a seconds field; the runs are counted in the
//! key-value store (read back through `apps/kv-counter`) and in the log.

use std::time::Duration;

use wasmhost_tests::{Server, guests, run, shared_compile_cache, wasmhost_binary};

fn write_manifest(dir: &std::path::Path, body: &str) -> String {
    let manifest = format!(
        r#"manifest_version = 1
[application]
name = "cron"

[[trigger.http]]
route = "/kv/:key"
component = "kv-counter"

[component.kv-counter]
source = "{kv_counter}"
key_value_stores = ["default"]
{body}"#,
        kv_counter = guests::KV_COUNTER
    );
    let path = dir.join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    path.display().to_string()
}

/// A cron-probe component `id` counting into key `id`, with extra config lines.
fn probe(id: &str, config: &str) -> String {
    format!(
        "[component.{id}]\nsource = \"{}\"\nkey_value_stores = [\"default\"]\n[component.{id}.variables]\nkey = \"{id}\"\n{config}\n",
        guests::CRON_PROBE
    )
}

async fn count(server: &Server, key: &str) -> u64 {
    let response = reqwest::get(server.url(&format!("/kv/{key}")))
        .await
        .unwrap();
    if response.status() == 404 {
        return 0;
    }
    response.text().await.unwrap().trim().parse().unwrap()
}

#[tokio::test]
async fn schedules_fire_skip_overlaps_and_count_failures() {
    let dir = tempfile::tempdir().unwrap();
    let body = [
        "[[trigger.cron]]\nschedule = \"* * * * * *\"\ncomponent = \"ticker\"\n".to_owned(),
        "[[trigger.cron]]\nschedule = \"* * * * * *\"\ncomponent = \"sleeper\"\ntimezone = \"Europe/Paris\"\n".to_owned(),
        "[[trigger.cron]]\nschedule = \"*/1 * * * * *\"\ncomponent = \"failer\"\n".to_owned(),
        probe("ticker", ""),
        // Each run takes 2.5 s: of the ticks every second, those during a run are skipped.
        probe("sleeper", "sleep_ms = \"2500\""),
        probe("failer", "fail = \"true\""),
    ]
    .concat();
    let manifest = write_manifest(dir.path(), &body);
    let cache = shared_compile_cache();
    let args = [
        manifest.as_str(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--admin-listen",
        "127.0.0.1:0",
    ];
    let server = Server::start(wasmhost_binary(), &args).unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let stdout = server.stdout();
    assert!(stdout.contains("ticker: `* * * * * *` (UTC)"), "{stdout}");
    assert!(
        stdout.contains("sleeper: `* * * * * *` (Europe/Paris)"),
        "{stdout}"
    );
    let ticker = count(&server, "ticker").await;
    let sleeper = count(&server, "sleeper").await;
    let failer = count(&server, "failer").await;
    let metrics = reqwest::get(format!("http://{}/metrics", server.admin_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let log = server.stop();
    let metric = |series: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"));
        line[series.len()..].trim().parse().unwrap()
    };

    // About 6 ticks in 6 s; a wide range, for a slow machine.
    assert!(
        (3..=8).contains(&ticker),
        "ticker ran {ticker} times\n{log}"
    );
    // At most one run per 2.5 s: 6 s hold 2 or 3 runs; the rest of the ticks were skipped.
    assert!(
        (1..=3).contains(&sleeper),
        "sleeper ran {sleeper} times\n{log}"
    );
    assert!(
        log.contains("cron tick skipped: the previous run is still going"),
        "{log}"
    );
    assert!(log.contains("skips=2"), "the skips are counted:\n{log}");
    let skips = metric(r#"wasmhost_cron_skips_total{component="sleeper",schedule="* * * * * *"}"#);
    assert!(skips >= 2.0, "{metrics}");
    // Failed runs are logged with their message and counted; the next ticks still run.
    assert!(failer >= 2, "failer ran {failer} times\n{log}");
    assert!(
        log.contains("cron run failed: asked to fail (failer)"),
        "{log}"
    );
    let failed =
        metric(r#"wasmhost_invocations_total{component="failer",trigger="cron",outcome="error"}"#);
    let started =
        metric(r#"wasmhost_cron_runs_total{component="failer",schedule="*/1 * * * * *"}"#);
    assert!(failed >= 2.0 && started >= failed, "{metrics}");
    assert_eq!(
        metric(r#"wasmhost_invocations_total{component="ticker",trigger="cron",outcome="error"}"#),
        0.0
    );
}

#[test]
fn a_bad_schedule_fails_at_startup_naming_trigger_line_and_expression() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[[trigger.cron]]\nschedule = \"*/5 * * *\"\ncomponent = \"ticker\"\n{}",
        probe("ticker", "")
    );
    let manifest = write_manifest(dir.path(), &body);
    let (ok, _, stderr) = run(wasmhost_binary(), &["serve", &manifest]).unwrap();
    assert!(!ok);
    assert!(
        stderr.contains(
            "wasmhost.toml:13:12: `trigger.cron[0].schedule`: `*/5 * * *` is not a cron schedule"
        ),
        "{stderr}"
    );
}

#[test]
fn a_cron_trigger_needs_a_cron_component() {
    let dir = tempfile::tempdir().unwrap();
    let body = "[[trigger.cron]]\nschedule = \"0 * * * *\"\ncomponent = \"kv-counter\"\n";
    let manifest = write_manifest(dir.path(), body);
    let cache = shared_compile_cache();
    let (ok, _, stderr) = run(
        wasmhost_binary(),
        &["serve", &manifest, "--cache-dir", cache.to_str().unwrap()],
    )
    .unwrap();
    assert!(!ok);
    assert!(stderr.contains("component `kv-counter`"), "{stderr}");
    assert!(
        stderr.contains(
            "cron schedule `0 * * * *` calls it, but it does not export wasmhost:host/cron-handler"
        ),
        "{stderr}"
    );
}
