//! Manifest checks. The error texts are snapshots (`host/src/manifest/snapshots/`): they are
//! the user interface of a bad manifest.

use std::path::Path;

use super::*;
use crate::app::{ComponentId, ComponentLimits, HttpTarget};
use std::time::Duration;

const FILE: &str = "/app/wasmhost.toml";

fn error(text: &str) -> String {
    parse(Path::new(FILE), text).unwrap_err().to_string()
}

const GOOD: &str = r#"manifest_version = 1
[application]
name = "demo"

[[trigger.http]]
route = "/hello/:name"
component = "hello"

[[trigger.http]]
route = "/static/..."
component = "files"

[component.hello]
source = "hello.wasm"
[component.hello.build]
command = "cargo build"
workdir = "hello"

[component.files]
source = "/abs/files.wasm"
"#;

#[test]
fn good_manifest_resolves_paths_and_components() {
    let app = parse(Path::new(FILE), GOOD).unwrap();
    assert_eq!(app.name, "demo");
    assert_eq!(app.components.len(), 2);
    let hello = &app.components[app.http_triggers[0].target.component().unwrap()];
    assert_eq!(hello.id.as_str(), "hello");
    assert_eq!(hello.source, Path::new("/app/hello.wasm"));
    assert_eq!(
        hello.source_location.to_string(),
        "/app/wasmhost.toml:14:10"
    );
    let build = hello.build.as_ref().unwrap();
    assert_eq!(
        (build.command.as_str(), build.workdir.as_path()),
        ("cargo build", Path::new("/app/hello"))
    );
    let files = &app.components[app.http_triggers[1].target.component().unwrap()];
    assert_eq!(files.source, Path::new("/abs/files.wasm"));
    assert!(app.http_triggers[1].route.is_wildcard());
}

#[test]
fn unknown_field() {
    insta::assert_snapshot!(error(&GOOD.replace("workdir", "work_dir")));
}

#[test]
fn unknown_component() {
    insta::assert_snapshot!(error(
        &GOOD.replace("component = \"files\"", "component = \"file\"")
    ));
}

#[test]
fn duplicate_route() {
    insta::assert_snapshot!(error(&GOOD.replace("/static/...", "/hello/:who")));
}

#[test]
fn bad_route_syntax() {
    insta::assert_snapshot!(error(&GOOD.replace("/static/...", "/static/.../x")));
}

#[test]
fn missing_file() {
    let app = parse(Path::new(FILE), GOOD).unwrap();
    insta::assert_snapshot!(check_sources(&app).unwrap_err().to_string());
}

#[test]
fn missing_file_with_a_build_command_suggests_wasmhost_build() {
    let text = GOOD.replace(
        "source = \"/abs/files.wasm\"",
        "source = \"/abs/files.wasm\"\nbuild.command = \"cargo build --target wasm32-wasip2 --release\"",
    );
    let app = parse(Path::new(FILE), &text).unwrap();
    insta::assert_snapshot!(check_sources(&app).unwrap_err().to_string());
}

#[test]
fn missing_field() {
    insta::assert_snapshot!(error(&GOOD.replace("source = \"/abs/files.wasm\"", "")));
}

#[test]
fn bad_component_id() {
    insta::assert_snapshot!(error(&GOOD.replace("component.files]", "component.Files]")));
}

#[test]
fn unsupported_version() {
    insta::assert_snapshot!(error(
        &GOOD.replace("manifest_version = 1", "manifest_version = 2")
    ));
}

#[test]
fn toml_syntax_error() {
    insta::assert_snapshot!(error(&GOOD.replace("name = \"demo\"", "name = demo")));
}

#[test]
fn no_manifest_names_the_path_and_suggests_wasmhost_new() {
    let err = load(Path::new("/nonexistent/dir/wasmhost.toml"))
        .unwrap_err()
        .to_string();
    insta::assert_snapshot!("no_manifest_file", err);
    let dir = tempfile::tempdir().unwrap();
    let err = load(dir.path()).unwrap_err().to_string();
    insta::assert_snapshot!(
        "no_manifest_in_a_directory",
        err.replace(dir.path().to_str().unwrap(), "<dir>")
    );
}

#[test]
fn an_unreadable_manifest_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(MANIFEST_FILE), b"\xff not UTF-8").unwrap();
    let err = load(&dir.path().join(MANIFEST_FILE))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("wasmhost.toml: cannot read the manifest"),
        "{err}"
    );
}

/// serde's type errors name the key and say what it must be in words, not Rust types.
#[test]
fn type_errors_name_the_key_in_words() {
    let manifest = |rest: &str| {
        format!(
            "manifest_version = 1\n[application]\nname = \"x\"\n[component.a]\nsource = \"a.wasm\"\n{rest}"
        )
    };
    let cases = [
        (
            "whole_number",
            "[[trigger.queue]]\nqueue = \"q\"\ncomponent = \"a\"\nmax_retries = \"three\"\n",
        ),
        ("negative", "[component.a.limits]\nmemory_mb = -1\n"),
        (
            "true_or_false",
            "[[trigger.http]]\nroute = \"/\"\nprivate = \"yes\"\n",
        ),
        ("string", "[component.b]\nsource = 3\n"),
        (
            "list",
            "[component.b]\nsource = \"b.wasm\"\nqueues = \"q\"\n",
        ),
        (
            "list_of_strings",
            "[component.b]\nsource = \"b.wasm\"\nkey_value_stores = [\"a\", 1]\n",
        ),
        ("table", "[component.b]\nsource = \"b.wasm\"\nlimits = 3\n"),
    ];
    for (name, rest) in cases {
        insta::assert_snapshot!(format!("type_error_{name}"), error(&manifest(rest)));
    }
}

#[test]
fn a_missing_top_level_key_is_at_the_top() {
    insta::assert_snapshot!(error("[application]\nname = \"x\"\n"));
}

#[test]
fn a_misspelled_key_gets_the_nearest() {
    insta::assert_snapshot!(
        "misspelled_key",
        error(
            "manifest_version = 1\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/\"\ncompnent = \"a\"\n"
        )
    );
    insta::assert_snapshot!(
        "unknown_key_with_nothing_near",
        error(
            "manifest_version = 1\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/\"\nhandler = \"a\"\n"
        )
    );
}

#[test]
fn kebab_case_ids() {
    for good in ["a", "hello", "hello-world", "v2", "a1-b2"] {
        assert!(good.parse::<ComponentId>().is_ok(), "{good}");
    }
    for bad in ["", "Hello", "hello_world", "-a", "a-", "a--b", "2a", "a.b"] {
        assert!(bad.parse::<ComponentId>().is_err(), "{bad}");
    }
}

/// `GOOD` with variables and one component's config keys.
fn with_variables(variables: &str, config: &str) -> String {
    format!("{GOOD}[component.files.variables]\n{config}\n[variables]\n{variables}\n")
}

#[test]
fn variables_and_config_templates() {
    let text = with_variables(
        "host = { default = \"api.example.com\" }\nkey = { required = true, secret = true }",
        "api_url = \"https://{{ host }}/v1\"\nauth = \"{{key}}\"",
    );
    let app = parse(Path::new(FILE), &text).unwrap();
    assert_eq!(app.variables.len(), 2);
    let key = app.variables.iter().find(|v| v.name == "key").unwrap();
    assert!(key.secret && key.default.is_none());
    let files = app.components.iter().find(|c| c.id.as_str() == "files");
    let config = &files.unwrap().config;
    assert_eq!(config.keys().collect::<Vec<_>>(), ["api_url", "auth"]);
    assert_eq!(config["api_url"].variables().collect::<Vec<_>>(), ["host"]);
}

#[test]
fn variable_needs_default_or_required() {
    insta::assert_snapshot!(error(&with_variables("host = {}", "")));
    insta::assert_snapshot!(error(&with_variables(
        "host = { default = \"a\", required = true }",
        ""
    )));
}

#[test]
fn bad_variable_name() {
    insta::assert_snapshot!(error(&with_variables("Host = { default = \"a\" }", "")));
}

#[test]
fn template_naming_an_undeclared_variable() {
    insta::assert_snapshot!(error(&with_variables(
        "host = { default = \"a\" }",
        "url = \"https://{{ hots }}/\""
    )));
}

#[test]
fn template_that_does_not_parse() {
    insta::assert_snapshot!(error(&with_variables(
        "host = { default = \"a\" }",
        "url = \"https://{{ host /\""
    )));
}

#[test]
fn bad_allowed_outbound_host() {
    let text = GOOD.replace(
        "source = \"/abs/files.wasm\"",
        "source = \"/abs/files.wasm\"\nallowed_outbound_hosts = [\"https://api.example.com/v1\"]",
    );
    insta::assert_snapshot!(error(&text));
}

#[test]
fn chaining_to_an_unknown_component() {
    let text = GOOD.replace(
        "source = \"/abs/files.wasm\"",
        "source = \"/abs/files.wasm\"\nallowed_outbound_hosts = [\"http://nope.internal\"]",
    );
    insta::assert_snapshot!(error(&text));
}

#[test]
fn outbound_grants_and_limits() {
    let text = GOOD.replace(
        "source = \"/abs/files.wasm\"",
        "source = \"/abs/files.wasm\"\nallowed_outbound_hosts = [\"http://hello.internal\", \"https://*.example.com\"]\n[component.files.outbound_http]\nfirst_byte_timeout_ms = 250\nmax_requests = 7",
    );
    let app = parse(Path::new(FILE), &text).unwrap();
    let files = app
        .components
        .iter()
        .find(|c| c.id.as_str() == "files")
        .unwrap();
    let hello = app
        .components
        .iter()
        .position(|c| c.id.as_str() == "hello")
        .unwrap();
    let grant = &files.outbound_http;
    assert_eq!(grant.chain_targets, [hello]);
    assert_eq!(grant.allowed_hosts.len(), 2);
    assert_eq!(grant.limits.first_byte_timeout.as_millis(), 250);
    assert_eq!(grant.limits.max_requests, 7);
    assert_eq!(grant.limits.connect_timeout.as_millis(), 5000);
    let zero = text.replace("max_requests = 7", "max_requests = 0");
    insta::assert_snapshot!(error(&zero));
}

#[test]
fn templated_outbound_host_naming_an_undeclared_variable() {
    let text = with_variables("host = { default = \"a\" }", "").replace(
        "source = \"/abs/files.wasm\"",
        "source = \"/abs/files.wasm\"\nallowed_outbound_hosts = [\"https://{{ hots }}\"]",
    );
    insta::assert_snapshot!(error(&text));
}

/// [`GOOD`] with a component `worker` granted queue `jobs` and topic `news`, then `triggers`.
fn with_queues(triggers: &str) -> String {
    format!(
        "{GOOD}\n[component.worker]\nsource = \"worker.wasm\"\nqueues = [\"jobs\"]\ntopics = [\"news\"]\n{triggers}"
    )
}

#[test]
fn queue_and_topic_triggers_resolve_to_queues() {
    let text = with_queues(
        r#"
[[trigger.queue]]
queue = "jobs"
component = "worker"

[[trigger.topic]]
topic = "news"
component = "worker"

[[trigger.topic]]
topic = "news"
subscription = "audit"
component = "hello"
max_retries = 7
dead_letter = "audit-failures"
"#,
    );
    let app = parse(Path::new(FILE), &text).unwrap();
    let worker = app
        .components
        .iter()
        .position(|c| c.id.as_str() == "worker");
    assert_eq!(app.components[worker.unwrap()].topics, ["news"]);
    let triggers: Vec<(&str, Option<&str>, &str, u32)> = app
        .queue_triggers
        .iter()
        .map(|t| {
            let topic = t.topic.as_deref();
            (
                t.queue.as_str(),
                topic,
                t.dead_letter.as_str(),
                t.max_retries,
            )
        })
        .collect();
    assert_eq!(
        triggers,
        [
            ("jobs", None, "jobs-dead-letter", 3),
            ("news.worker", Some("news"), "news-worker-dead-letter", 3),
            ("news.audit", Some("news"), "audit-failures", 7),
        ]
    );
    assert_eq!(app.topics["news"], ["news.worker", "news.audit"]);
}

#[test]
fn a_topic_trigger_takes_no_queue() {
    insta::assert_snapshot!(error(&with_queues(
        "[[trigger.topic]]\ntopic = \"news\"\nqueue = \"jobs\"\ncomponent = \"worker\"\n"
    )));
}

#[test]
fn a_queue_trigger_needs_its_queue() {
    insta::assert_snapshot!(error(&with_queues(
        "[[trigger.queue]]\ncomponent = \"worker\"\nbatch_size = 2\n"
    )));
}

#[test]
fn two_subscriptions_of_one_name() {
    insta::assert_snapshot!(error(&with_queues(
        "[[trigger.topic]]\ntopic = \"news\"\ncomponent = \"worker\"\n\
         [[trigger.topic]]\ntopic = \"news\"\nsubscription = \"worker\"\ncomponent = \"hello\"\n"
    )));
}

#[test]
fn bad_topic_name_and_settings() {
    insta::assert_snapshot!(error(&with_queues(
        "[[trigger.topic]]\ntopic = \"news.today\"\ncomponent = \"worker\"\n"
    )));
    insta::assert_snapshot!(error(&with_queues(
        "[[trigger.queue]]\nqueue = \"jobs\"\ncomponent = \"worker\"\nbatch_size = 0\n"
    )));
    insta::assert_snapshot!(error(&with_queues(
        "[[trigger.queue]]\nqueue = \"jobs\"\ncomponent = \"worker\"\ndead_letter = \"jobs\"\n"
    )));
    insta::assert_snapshot!(error(&GOOD.replace(
        "source = \"hello.wasm\"",
        "source = \"hello.wasm\"\ntopics = [\"news\", \"news\"]"
    )));
}

#[test]
fn component_limits_parse_and_are_checked() {
    let text = GOOD.replace(
        "workdir = \"hello\"\n",
        "workdir = \"hello\"\n[component.hello.limits]\nmemory_mb = 64\ncpu_ms = 250\ntimeout_ms = 5000\nmax_concurrent_requests = 7\n",
    );
    let app = parse(Path::new(FILE), &text).unwrap();
    let by_id = |id: &str| {
        app.components
            .iter()
            .find(|c| c.id.as_str() == id)
            .unwrap()
            .limits
    };
    let limits = by_id("hello");
    assert_eq!(limits.memory_bytes, Some(64 << 20));
    assert_eq!(limits.cpu, Some(Duration::from_millis(250)));
    assert_eq!(limits.timeout, Some(Duration::from_secs(5)));
    assert_eq!(limits.max_concurrent_requests, Some(7));
    assert_eq!(by_id("files"), ComponentLimits::default());
    insta::assert_snapshot!(error(&text.replace("cpu_ms = 250", "cpu_ms = 5")));
}

/// Fuzzing by property: no input makes the manifest checker panic. Arbitrary text, and (more
/// to the point) manifests assembled from the real fields with arbitrary values, so the
/// checks past TOML parsing run too. 512 cases per property per run (`PROPTEST_CASES`
/// overrides).
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A TOML value for a field: a quoted string from a small alphabet rich in separators, a
    /// number, or an array of strings.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z/:.*{} _-]{0,12}".prop_map(|s| format!("{s:?}")),
            any::<i64>().prop_map(|n| n.to_string()),
            proptest::collection::vec("[a-z/:.*_-]{0,8}", 0..3).prop_map(|v| format!("{v:?}")),
        ]
    }

    /// A manifest of known tables and fields, each with an arbitrary value.
    fn manifest() -> impl Strategy<Value = String> {
        const FIELDS: [&str; 16] = [
            "[[trigger.http]]\nroute",
            "[[trigger.http]]\ncomponent",
            "[[trigger.queue]]\nqueue",
            "[[trigger.topic]]\ntopic",
            "[[trigger.cron]]\nschedule",
            "[[trigger.workflow]]\nname = \"w\"\ncomponent = \"a\"\nactivities",
            "[[trigger.workflow]]\nname = \"w\"\ncomponent",
            "[[trigger.activity]]\nname = \"v\"\ncomponent = \"a\"\nmax_concurrency",
            "[[trigger.activity]]\ncomponent = \"a\"\nname",
            "[component.a]\nworkflows",
            "[component.a]\nsource",
            "[component.a]\nqueues",
            "[component.a]\nallowed_outbound_hosts",
            "[component.a.limits]\ncpu_ms",
            "[component.a.variables]\nk",
            "[variables]\nv",
        ];
        proptest::collection::vec((proptest::sample::select(&FIELDS[..]), value()), 0..6).prop_map(
            |entries| {
                let mut text = "manifest_version = 1\n[application]\nname = \"p\"\n".to_owned();
                for (field, value) in entries {
                    text += &format!("{field} = {value}\n");
                }
                text
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse(Path::new(FILE), &text);
        }

        #[test]
        fn manifests_of_real_fields_never_panic(text in manifest()) {
            let _ = parse(Path::new(FILE), &text);
        }
    }
}

#[test]
fn redirects_and_static_responses_need_no_component() {
    let text = format!(
        "{GOOD}[[trigger.http]]\nroute = \"/old/...\"\nredirect = {{ to = \"https://example.com/new\", status = 301 }}\n\
         [[trigger.http]]\nroute = \"/robots.txt\"\nstatic_response = {{ status = 200, headers = {{ content-type = \"text/plain\" }}, body = \"User-agent: *\\n\" }}\n"
    );
    let app = parse(Path::new(FILE), &text).unwrap();
    let HttpTarget::Fixed(redirect) = &app.http_triggers[2].target else {
        panic!("a redirect is a fixed response")
    };
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.headers["location"], "https://example.com/new");
    let HttpTarget::Fixed(robots) = &app.http_triggers[3].target else {
        panic!("a static response is a fixed response")
    };
    assert_eq!(robots.headers["content-type"], "text/plain");
    assert_eq!(&robots.body[..], b"User-agent: *\n");

    let both = GOOD.replace(
        "route = \"/static/...\"\ncomponent = \"files\"",
        "route = \"/static/...\"\ncomponent = \"files\"\nredirect = { to = \"/x\" }",
    );
    insta::assert_snapshot!(error(&both));
    let bad_status = format!(
        "{GOOD}[[trigger.http]]\nroute = \"/old\"\nredirect = {{ to = \"/new\", status = 200 }}\n"
    );
    insta::assert_snapshot!(error(&bad_status));
    let bad_header = format!(
        "{GOOD}[[trigger.http]]\nroute = \"/x\"\nstatic_response = {{ headers = {{ \"bad header\" = \"v\" }} }}\n"
    );
    insta::assert_snapshot!(error(&bad_header));
}

#[test]
fn blob_triggers_resolve_to_queues_with_their_filters() {
    let text = with_queues(
        r#"
[[trigger.blob]]
container = "uploads"
component = "worker"

[[trigger.blob]]
container = "uploads"
subscription = "thumbs"
prefix = "images/"
suffix = ".png"
events = ["created", "deleted"]
component = "hello"
max_retries = 1
"#,
    )
    .replace(
        "source = \"hello.wasm\"",
        "source = \"hello.wasm\"\nblob_containers = [\"uploads\", \"archive\"]",
    );
    let app = parse(Path::new(FILE), &text).unwrap();
    let hello = app.components.iter().find(|c| c.id.as_str() == "hello");
    assert_eq!(hello.unwrap().blob_containers, ["uploads", "archive"]);
    let triggers: Vec<(&str, Option<&str>, &str, u32)> = app
        .queue_triggers
        .iter()
        .map(|t| {
            let topic = t.topic.as_deref();
            let dead = t.dead_letter.as_str();
            (t.queue.as_str(), topic, dead, t.max_retries)
        })
        .collect();
    assert_eq!(
        triggers,
        [
            (
                "blob.uploads.worker",
                Some("uploads"),
                "blob-uploads-worker-dead-letter",
                3
            ),
            (
                "blob.uploads.thumbs",
                Some("uploads"),
                "blob-uploads-thumbs-dead-letter",
                1
            ),
        ]
    );
    let [all, thumbs] = &app.blob_triggers[..] else {
        panic!("two blob triggers: {:?}", app.blob_triggers);
    };
    assert!((all.created, all.deleted) == (true, false));
    assert!(all.matches("any/thing", true) && !all.matches("any/thing", false));
    assert!(thumbs.matches("images/a.png", false) && !thumbs.matches("images/a.jpg", true));
    assert!(!thumbs.matches("docs/a.png", true));
}

#[test]
fn bad_blob_triggers_and_grants() {
    insta::assert_snapshot!(error(&with_queues(
        "[[trigger.blob]]\ncomponent = \"worker\"\nprefix = \"a/\"\n"
    )));
    insta::assert_snapshot!(error(&with_queues(
        "[[trigger.blob]]\ncontainer = \"files\"\ncomponent = \"worker\"\nevents = [\"updated\"]\n"
    )));
    insta::assert_snapshot!(error(&with_queues(
        "[[trigger.queue]]\nqueue = \"jobs\"\ncomponent = \"worker\"\nsuffix = \".png\"\n"
    )));
    insta::assert_snapshot!(error(&with_queues(
        "[[trigger.blob]]\ncontainer = \"files\"\ncomponent = \"worker\"\n\
         [[trigger.blob]]\ncontainer = \"files\"\ncomponent = \"worker\"\n"
    )));
    insta::assert_snapshot!(error(&GOOD.replace(
        "source = \"hello.wasm\"",
        "source = \"hello.wasm\"\nblob_containers = [\"my.files\"]"
    )));
}

/// Every section is checked even when another fails, and every HTTP trigger: one run shows
/// each error, at its line.
#[test]
fn every_error_is_reported_at_once() {
    let text = "manifest_version = 1\n[application]\nname = \"x\"\n\
                [[trigger.http]]\nroute = \"/a\"\ncomponent = \"nope\"\n\
                [[trigger.http]]\nroute = \"b\"\ncomponent = \"a\"\n\
                [[trigger.http]]\nroute = \"/a\"\ncomponent = \"a\"\n\
                [[trigger.cron]]\nschedule = \"every day\"\ncomponent = \"a\"\n\
                [component.a]\nsource = \"a.wasm\"\nkey_value_stores = [\"no good\"]\n";
    insta::assert_snapshot!(error(text));
}

/// [`GOOD`] with an orchestrator `order`, an activity component `stock` and `hello` granted
/// workflow `order`, then `rest`.
fn with_workflows(rest: &str) -> String {
    format!(
        r#"{}
[component.order]
source = "order.wasm"
[component.order.limits]
cpu_ms = 100
[component.order.build]
command = "cargo build"

[component.stock]
source = "stock.wasm"
key_value_stores = ["default"]

[[trigger.workflow]]
name = "order"
component = "order"
activities = ["reserve", "release"]
workflows = ["shipping", "order"]

[[trigger.workflow]]
name = "shipping"
component = "order"

[[trigger.activity]]
name = "reserve"
component = "stock"
max_concurrency = 4

[[trigger.activity]]
name = "release"
component = "stock"
{rest}"#,
        GOOD.replace(
            "source = \"hello.wasm\"",
            "source = \"hello.wasm\"\nworkflows = [\"order\"]"
        )
    )
}

#[test]
fn workflows_and_activities_resolve_to_their_components() {
    let app = parse(Path::new(FILE), &with_workflows("")).unwrap();
    let position = |id: &str| {
        app.components
            .iter()
            .position(|c| c.id.as_str() == id)
            .unwrap()
    };
    let workflows: Vec<(&str, usize, &[String], &[String])> = app
        .workflow_triggers
        .iter()
        .map(|w| {
            (
                w.name.as_str(),
                w.component,
                &w.activities[..],
                &w.workflows[..],
            )
        })
        .collect();
    let (reserve_release, shipping_order) = (
        ["reserve".to_owned(), "release".to_owned()],
        ["shipping".to_owned(), "order".to_owned()],
    );
    assert_eq!(
        workflows,
        [
            (
                "order",
                position("order"),
                &reserve_release[..],
                &shipping_order[..]
            ),
            ("shipping", position("order"), &[][..], &[][..]),
        ]
    );
    assert_eq!(
        app.workflow_triggers[1].location.to_string(),
        "/app/wasmhost.toml:41:8"
    );
    let activities: Vec<(&str, usize, u32)> = app
        .activity_triggers
        .iter()
        .map(|a| (a.name.as_str(), a.component, a.max_concurrency))
        .collect();
    assert_eq!(
        activities,
        [
            ("reserve", position("stock"), 4),
            ("release", position("stock"), 16)
        ]
    );
    assert_eq!(app.components[position("hello")].workflows, ["order"]);
    assert!(app.components[position("stock")].workflows.is_empty());
}

#[test]
fn bad_workflow_and_activity_names() {
    insta::assert_snapshot!(error(&with_workflows(
        "[[trigger.workflow]]\nname = \"order.v2\"\ncomponent = \"order\"\n"
    )));
    insta::assert_snapshot!(error(&with_workflows(
        "[[trigger.workflow]]\nname = \"order\"\ncomponent = \"order\"\n\
         [[trigger.activity]]\nname = \"reserve\"\ncomponent = \"hello\"\n"
    )));
}

#[test]
fn workflow_triggers_name_defined_components_activities_and_workflows() {
    insta::assert_snapshot!(error(&with_workflows(
        "[[trigger.workflow]]\nname = \"refund\"\ncomponent = \"ordr\"\n\
         [[trigger.activity]]\nname = \"charge\"\ncomponent = \"payment\"\n"
    )));
    insta::assert_snapshot!(error(
        &with_workflows("").replace("[\"reserve\", \"release\"]", "[\"reserve\", \"charge\"]")
    ));
    insta::assert_snapshot!(error(
        &with_workflows("").replace("[\"shipping\", \"order\"]", "[\"shiping\"]")
    ));
    insta::assert_snapshot!(error(
        &with_workflows("").replace("workflows = [\"order\"]", "workflows = [\"orders\"]")
    ));
}

#[test]
fn workflow_lists_name_each_once() {
    insta::assert_snapshot!(error(
        &with_workflows("").replace("[\"reserve\", \"release\"]", "[\"reserve\", \"reserve\"]")
    ));
    insta::assert_snapshot!(error(&with_workflows("").replace(
        "workflows = [\"order\"]",
        "workflows = [\"order\", \"order\"]"
    )));
}

#[test]
fn bad_workflow_keys_and_settings() {
    insta::assert_snapshot!(error(&with_workflows("max_concurrency = 0\n")));
    insta::assert_snapshot!(error(
        &with_workflows("").replace("activities =", "activites =")
    ));
    insta::assert_snapshot!(error(
        &with_workflows("").replace("[\"reserve\", \"release\"]", "\"reserve\"")
    ));
}

/// Every trigger that names an orchestrator and every grant it has is an error, all in one
/// run; its `limits` and `build` are not.
#[test]
fn an_orchestrator_runs_only_as_its_workflow_and_has_no_grants() {
    let others = "[[trigger.http]]\nroute = \"/order\"\ncomponent = \"order\"\n\
                  [[trigger.cron]]\nschedule = \"* * * * *\"\ncomponent = \"order\"\n\
                  [[trigger.queue]]\nqueue = \"orders\"\ncomponent = \"order\"\n\
                  [[trigger.topic]]\ntopic = \"news\"\ncomponent = \"order\"\n\
                  [[trigger.blob]]\ncontainer = \"files\"\ncomponent = \"order\"\n\
                  [[trigger.activity]]\nname = \"audit\"\ncomponent = \"order\"\n";
    insta::assert_snapshot!(error(&with_workflows(others)));
    let grants = "key_value_stores = [\"default\"]\nqueues = [\"q\"]\ntopics = [\"t\"]\n\
                  blob_containers = [\"b\"]\nworkflows = [\"shipping\"]\n\
                  allowed_outbound_hosts = [\"https://example.com\"]\n\
                  environment = { A = \"b\" }\nfiles = [\"static/*\"]\n\
                  [component.order.outbound_http]\nmax_requests = 3\n\
                  [component.order.variables]\nk = \"v\"\n\
                  [component.order.limits]";
    insta::assert_snapshot!(error(
        &with_workflows("").replace("[component.order.limits]", grants)
    ));
}
