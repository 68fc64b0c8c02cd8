//! End-to-end tests of logs and request ids: the real `wasmhost` binary with
//! `--log-format json`, whose stderr is parsed line by line, and `x-request-id` handling.

use wasmhost_tests::{Server, guests, wasmhost_binary};

fn start(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        r#"manifest_version = 1
[application]
name = "logs"

[[trigger.http]]
route = "/id/request-id"
component = "probe"
[[trigger.http]]
route = "/trap"
component = "trap"
[[trigger.http]]
route = "/log/hello"
component = "log"
[[trigger.http]]
route = "/log/long"
component = "log"
[[trigger.http]]
route = "/log/many/:n"
component = "log"
[[trigger.http]]
route = "/log/pieces"
component = "log"

[component.probe]
source = "{probe}"
[component.trap]
source = "{trap}"
[component.log]
source = "{log}"
"#,
        probe = guests::CONFIG_PROBE,
        trap = guests::TRAP,
        log = guests::LOG_PROBE,
    );
    let path = dir.path().join("wasmhost.toml");
    std::fs::write(&path, manifest).unwrap();
    let server = Server::start_app(wasmhost_binary(), &path, extra).unwrap();
    (dir, server)
}

/// GET `path` with `x-request-id: sent` if given; the response's `x-request-id` and body.
async fn get(server: &Server, path: &str, sent: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(server.url(path));
    if let Some(id) = sent {
        request = request.header("x-request-id", id);
    }
    let response = request.send().await.unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    (
        response.status().as_u16(),
        id,
        response.text().await.unwrap(),
    )
}

#[tokio::test]
async fn request_ids_are_kept_if_sane_generated_otherwise_echoed_and_seen_by_the_guest() {
    let (_dir, server) = start(&[]);
    // A sane client id goes through to the guest and back.
    let (status, id, seen) = get(&server, "/id/request-id", Some("client-id_1.2:3")).await;
    assert_eq!(
        (status, id.as_str(), seen.as_str()),
        (200, "client-id_1.2:3", "client-id_1.2:3")
    );
    // None, or one that is not sane: a fresh UUID, which the guest sees too.
    for sent in [None, Some("has spaces in it"), Some(&*"x".repeat(200))] {
        let (_, id, seen) = get(&server, "/id/request-id", sent).await;
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(seen, id);
    }
    let (_, first, _) = get(&server, "/id/request-id", None).await;
    let (_, second, _) = get(&server, "/id/request-id", None).await;
    assert_ne!(first, second);
    // The host's own answers carry it too.
    let (status, id, _) = get(&server, "/trap", Some("trap-1")).await;
    assert_eq!((status, id.as_str()), (500, "trap-1"));
}

#[tokio::test]
async fn json_logs_parse_and_name_component_trigger_and_request_id() {
    let (_dir, server) = start(&["--log-format", "json"]);
    let (status, id, _) = get(&server, "/trap", None).await;
    assert_eq!(status, 500);
    // The guest's own stderr lines carry the id too and come first: wait for the host's.
    let log = server.log_with("guest trapped");
    // Every line is JSON: the trap guest's panic message too.
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "component ready"),
        "{log}"
    );
    let trap = lines
        .iter()
        .find(|l| {
            l["fields"]["request_id"] == id.as_str() && l["target"] == "wasmhost::trigger::http"
        })
        .unwrap_or_else(|| panic!("no line with request id {id}:\n{log}"));
    assert_eq!(trap["level"], "ERROR");
    assert_eq!(trap["fields"]["component"], "trap");
    assert_eq!(trap["fields"]["trigger"], "http");
    assert_eq!(trap["fields"]["app"], "logs");
    assert!(
        trap["fields"]["message"]
            .as_str()
            .unwrap()
            .starts_with("guest trapped")
    );
}

/// The JSON log lines of `server` so far, once one of them holds `needle`.
fn json_lines(server: &Server, needle: &str) -> Vec<serde_json::Value> {
    server
        .log_with(needle)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[tokio::test]
async fn guest_output_becomes_log_lines_with_component_and_request_id() {
    let (_dir, server) = start(&["--log-format", "json"]);
    let (status, id, _) = get(&server, "/log/hello", None).await;
    assert_eq!(status, 200);
    let lines = json_lines(&server, "a warning");
    let guest: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == "wasmhost::guest")
        .collect();
    let line = |text: &str| {
        guest
            .iter()
            .find(|l| l["fields"]["message"] == text)
            .unwrap_or_else(|| panic!("no guest line `{text}`: {lines:?}"))
    };
    let hello = line("hello from the guest");
    assert_eq!(hello["fields"]["stream"], "stdout");
    assert_eq!(hello["fields"]["component"], "log");
    assert_eq!(hello["fields"]["request_id"], id.as_str());
    assert_eq!(hello["fields"]["app"], "logs");
    assert_eq!(line("a warning")["fields"]["stream"], "stderr");
    assert!(
        server
            .stdout()
            .lines()
            .all(|l| !l.contains("hello from the guest"))
    );
}

#[tokio::test]
async fn a_huge_line_is_truncated_and_a_flood_is_rate_limited() {
    let (_dir, server) = start(&["--log-format", "json"]);
    assert_eq!(get(&server, "/log/long", None).await.0, 200);
    let lines = json_lines(&server, "truncated_bytes");
    let long = lines
        .iter()
        .find(|l| l["fields"]["truncated_bytes"].is_u64())
        .expect("the long line");
    let kept = long["fields"]["message"].as_str().unwrap().len();
    assert_eq!(kept, 16 << 10);
    assert_eq!(
        long["fields"]["truncated_bytes"].as_u64().unwrap() as usize,
        (10 << 20) - kept
    );

    // 1 500 lines at once: the first 1 000 (the burst) get through, most of the rest are
    // dropped; a line that gets through later reports how many were dropped before it.
    assert_eq!(get(&server, "/log/many/1500", None).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, last, _) = get(&server, "/log/many/1", None).await;
    assert_eq!(status, 200);
    // The last request's own line comes after the final report.
    let lines = json_lines(&server, &last);
    let kept = lines
        .iter()
        .filter(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("line "))
        })
        .count();
    // The limiter refills at 100/s, so a line may get through mid-flood and report the count
    // so far; the rest is reported later. Add every report.
    let warnings: Vec<_> = lines
        .iter()
        .filter(|l| l["fields"]["dropped"].is_u64())
        .collect();
    assert!(!warnings.is_empty(), "a dropped-lines warning");
    assert!(warnings.iter().all(|w| w["level"] == "WARN"));
    let dropped: usize = warnings
        .iter()
        .map(|w| w["fields"]["dropped"].as_u64().unwrap() as usize)
        .sum();
    assert!(dropped >= 300, "dropped {dropped}");
    assert_eq!(
        kept + dropped,
        1501,
        "every line is either logged or counted"
    );
}

#[tokio::test]
async fn pieces_written_through_separate_handles_are_one_line_per_stream() {
    let (_dir, server) = start(&["--log-format", "json"]);
    let (status, id, _) = get(&server, "/log/pieces", None).await;
    assert_eq!(status, 200);
    // No newline at all: each stream's line is logged when the instance is dropped.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let lines = json_lines(&server, "start12");
        let mut pieces: Vec<(String, String)> = lines
            .iter()
            .filter(|l| {
                l["target"] == "wasmhost::guest" && l["fields"]["request_id"] == id.as_str()
            })
            .map(|l| {
                (
                    l["fields"]["stream"].as_str().unwrap().to_owned(),
                    l["fields"]["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        pieces.sort_unstable();
        if pieces.len() >= 2 || std::time::Instant::now() > deadline {
            let want = [("stderr", "start12"), ("stdout", "start12")]
                .map(|(stream, text)| (stream.to_owned(), text.to_owned()));
            assert_eq!(pieces, want);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The lines of `log` that hold `needle`.
fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|line| line.contains(needle)).collect()
}

#[tokio::test]
async fn a_guest_panic_is_one_line_with_its_message_and_location() {
    let (_dir, server) = start(&[]);
    let (status, id, _) = get(&server, "/trap", None).await;
    assert_eq!(status, 500);
    let log = server.log_with("guest trapped");
    // The panic's report is not logged line by line (nor std's RUST_BACKTRACE hint): the
    // trap's line tells it.
    assert!(lines_with(&log, "RUST_BACKTRACE").is_empty(), "{log}");
    assert!(lines_with(&log, "wasmhost::guest").is_empty(), "{log}");
    let trapped = lines_with(&log, "guest trapped");
    assert_eq!(trapped.len(), 1, "{log}");
    assert!(
        trapped[0].contains(
            "guest trapped: guest panicked at trap/src/lib.rs:15:5: trap guest asked to fail on /trap"
        ),
        "{log}"
    );
    // The host's own stack is never shown, even with RUST_BACKTRACE set for the host.
    assert!(!log.contains("Stack backtrace"), "{log}");
    assert!(log.contains(&id), "{log}");
}

#[tokio::test]
async fn the_text_log_has_an_access_line_per_request_unless_turned_off() {
    let (_dir, server) = start(&[]);
    assert_eq!(
        get(&server, "/log/many/1?secret=hunter2", None).await.0,
        200
    );
    assert_eq!(
        reqwest::get(server.url("/nowhere"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let log = server.log_with("GET /nowhere 404");
    let access = lines_with(&log, "wasmhost::access");
    assert_eq!(access.len(), 2, "{log}");
    // `INFO wasmhost::access: GET /log/many/1 200 1.234ms component=log`: no query, the
    // time to the µs at most.
    let line = access[0];
    let after = line
        .split("GET /log/many/1 200 ")
        .nth(1)
        .unwrap_or_else(|| panic!("{line}"));
    let (took, component) = after.split_once(' ').unwrap();
    assert_eq!(component, "component=log", "{line}");
    let digits = took.trim_end_matches(|c: char| c.is_alphabetic() || c == 'µ');
    let decimals = digits.split_once('.').map_or(0, |(_, d)| d.len());
    assert!(decimals <= 3 && !digits.is_empty(), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
    assert!(access[1].contains("GET /nowhere 404 "), "{log}");
    assert!(access[1].ends_with("component=-"), "{log}");
    // `component ready` durations are to the µs too.
    for ready in lines_with(&log, "component ready") {
        let ms = ready.split("ms=").nth(1).unwrap();
        let decimals = ms.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(decimals <= 3, "{ready}");
    }

    let (_dir, quiet) = start(&["--no-access-log"]);
    assert_eq!(get(&quiet, "/log/many/1", None).await.0, 200);
    let log = quiet.log_with("line 0");
    assert!(lines_with(&log, "wasmhost::access").is_empty(), "{log}");
    // Nor does the JSON log ever have them.
    let (_dir, json) = start(&["--log-format", "json"]);
    assert_eq!(get(&json, "/log/many/1", None).await.0, 200);
    let log = json.log_with("line 0");
    assert!(lines_with(&log, "wasmhost::access").is_empty(), "{log}");
}
