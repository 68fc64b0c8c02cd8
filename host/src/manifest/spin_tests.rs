//! The Spin manifest (`spin.toml`) translation: what maps, the ids Spin gives inline
//! components, and the errors and warnings for what wasmhost does not support (snapshots in
//! `host/src/manifest/snapshots/`).

use std::path::Path;

use super::*;
use crate::app::{HttpTarget, ManifestFormat};

const FILE: &str = "/app/spin.toml";

/// A manifest as Spin's `http-rust` template writes it, plus the keys wasmhost maps.
const TEMPLATE: &str = r#"spin_manifest_version = 2

[application]
name = "hello"
version = "0.1.0"
authors = ["Someone <someone@example.com>"]
description = "A Spin app"

[variables]
greeting = { default = "hello" }
api_token = { required = true, secret = true }

[[trigger.http]]
route = "/hello/..."
component = "hello"

[[trigger.http]]
route = { private = true }
component = "backend"

[[trigger.http]]
id = "health"
route = "/health"
component = { source = "health.wasm" }

[[trigger.http]]
route = "/teapot"
static_response = { status_code = 418, body = "short and stout" }

[component.hello]
source = "target/wasm32-wasip2/release/hello.wasm"
allowed_outbound_hosts = ["http://self", "http://backend.spin.internal", "redis://cache:6379"]
key_value_stores = ["default"]
environment = { MODE = "demo" }
variables = { greeting = "{{ greeting }}", token = "{{ api_token }}" }
[component.hello.build]
command = "cargo build --target wasm32-wasip2 --release"
watch = ["src/**/*.rs", "Cargo.toml"]

[component.backend]
source = "backend.wasm"
[component.backend.tool.spin-test]
source = "tests.wasm"
"#;

#[test]
fn the_template_manifest_maps_into_the_model() {
    let app = parse(Path::new(FILE), TEMPLATE).unwrap();
    assert_eq!(app.format, ManifestFormat::Spin);
    assert_eq!(app.name, "hello");
    let ids: Vec<&str> = app.components.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["backend", "health-component", "hello"]);
    // The private route has no HTTP trigger of its own: three routes.
    let routes: Vec<&str> = app.http_triggers.iter().map(|t| t.route.as_str()).collect();
    assert_eq!(routes, ["/hello/...", "/health", "/teapot"]);
    let HttpTarget::Fixed(teapot) = &app.http_triggers[2].target else {
        panic!("a static response");
    };
    assert_eq!(teapot.status.as_u16(), 418);
    let hello = &app.components[2];
    assert_eq!(hello.environment.len(), 1);
    assert_eq!(hello.config.len(), 2);
    assert_eq!(hello.key_value_stores[0].label, "default");
    // `http://backend.spin.internal` grants service chaining to `backend`.
    assert_eq!(hello.outbound_http.chain_targets, [0]);
    assert_eq!(
        hello.build.as_ref().unwrap().command,
        "cargo build --target wasm32-wasip2 --release"
    );
    let required = app
        .variables
        .iter()
        .find(|v| v.name == "api_token")
        .unwrap();
    assert!(required.secret && required.default.is_none());
    let warnings: Vec<String> = app.warnings.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(warnings.join("\n"));
}

#[test]
fn a_directory_with_only_a_spin_toml_is_a_spin_app() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spin.toml"), TEMPLATE).unwrap();
    assert_eq!(manifest_path(dir.path()), dir.path().join("spin.toml"));
    std::fs::write(dir.path().join("wasmhost.toml"), "").unwrap();
    assert_eq!(manifest_path(dir.path()), dir.path().join("wasmhost.toml"));
}

fn error(text: &str) -> String {
    parse(Path::new(FILE), text).unwrap_err().to_string()
}

const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"a\"\n";

#[test]
fn unsupported_keys_are_errors_at_their_line() {
    let sqlite = format!(
        "{HEAD}[[trigger.http]]\nroute = \"/...\"\ncomponent = \"todo\"\n[component.todo]\nsource = \"todo.wasm\"\nsqlite_databases = [\"default\"]\n"
    );
    insta::assert_snapshot!(error(&sqlite));
    let remote = format!(
        "{HEAD}[component.todo]\nsource = {{ url = \"https://example.com/todo.wasm\", digest = \"sha256:00\" }}\n"
    );
    insta::assert_snapshot!(error(&remote));
    let redis = format!(
        "{HEAD}[[trigger.redis]]\nchannel = \"messages\"\ncomponent = \"todo\"\n[component.todo]\nsource = \"todo.wasm\"\n"
    );
    insta::assert_snapshot!(error(&redis));
    let wagi = format!(
        "{HEAD}[[trigger.http]]\nroute = \"/...\"\ncomponent = \"todo\"\nexecutor = {{ type = \"wagi\" }}\n[component.todo]\nsource = \"todo.wasm\"\n"
    );
    insta::assert_snapshot!(error(&wagi));
    let version = "spin_manifest_version = 1\nname = \"a\"\n[[component]]\nid = \"a\"\n";
    insta::assert_snapshot!(error(version));
}

#[test]
fn files_are_checked_and_patterns_expanded() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    std::fs::create_dir_all(base.join("static/css")).unwrap();
    std::fs::write(base.join("static/index.html"), "<p>").unwrap();
    std::fs::write(base.join("static/css/site.css"), "p{}").unwrap();
    std::fs::write(base.join("static/notes.tmp"), "x").unwrap();
    let text = format!(
        "{HEAD}[component.web]\nsource = \"web.wasm\"\nfiles = [\"static/**/*\", {{ source = \"static\", destination = \"/assets\" }}]\nexclude_files = [\"**/*.tmp\"]\n"
    );
    let app = parse(&base.join("spin.toml"), &text).unwrap();
    let files = &app.components[0].files;
    let crate::app::FileMount::Directory { destination, .. } = &files[0] else {
        panic!("the placement first");
    };
    assert_eq!(destination, "/assets");
    let crate::app::FileMount::Files(staged) = &files[1] else {
        panic!("then the staged files");
    };
    let relative: Vec<String> = staged
        .iter()
        .map(|f| f.relative.display().to_string())
        .collect();
    assert_eq!(relative, ["static/css/site.css", "static/index.html"]);

    let escape =
        format!("{HEAD}[component.web]\nsource = \"web.wasm\"\nfiles = [\"../secrets/*\"]\n");
    insta::assert_snapshot!(
        parse(&base.join("spin.toml"), &escape)
            .unwrap_err()
            .to_string()
            .replace(&base.display().to_string(), "<dir>")
    );
}
