//! Runtime config checks. Error texts are snapshots: they are the user interface of a bad
//! runtime config.

use std::path::Path;

use super::*;

const FILE: &str = "/ops/runtime.toml";

fn error(text: &str) -> String {
    RuntimeConfig::parse(Path::new(FILE), text)
        .unwrap_err()
        .to_string()
}

const GOOD: &str = r#"
[key_value_store.default]
type = "sled"
path = "data/kv"

[key_value_store.sessions]
type = "redis"
url = "redis://:hunter2@127.0.0.1:6379/0"
prefix = "shop"

[key_value_store.cache]
type = "redis"
url = "redis://127.0.0.1:6380"
"#;

#[test]
fn good_config_resolves_backends() {
    let config = RuntimeConfig::parse(Path::new(FILE), GOOD).unwrap();
    assert_eq!(
        config.key_value_backend("default", Path::new("/app")),
        Backend::Sled {
            path: "/ops/data/kv".into()
        }
    );
    let Backend::Redis { url, prefix } = config.key_value_backend("sessions", Path::new("/app"))
    else {
        panic!("sessions is a Redis store");
    };
    assert_eq!(prefix, "shop");
    assert_eq!(url.expose(), "redis://:hunter2@127.0.0.1:6379/0");
    let Backend::Redis { prefix, .. } = config.key_value_backend("cache", Path::new("/app")) else {
        panic!("cache is a Redis store");
    };
    assert_eq!(prefix, DEFAULT_REDIS_PREFIX);
    assert_eq!(
        config.key_value_backend("other", Path::new("/app")),
        Backend::Sled {
            path: "/app/.wasmhost/kv".into()
        }
    );
}

#[test]
fn redis_password_never_shown() {
    let config = RuntimeConfig::parse(Path::new(FILE), GOOD).unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("redis://:***@127.0.0.1:6379/0"), "{shown}");
    let url = RedisUrl("rediss://user:pw@host:1/2".into());
    assert_eq!(url.to_string(), "rediss://user:***@host:1/2");
    assert_eq!(RedisUrl("redis://host".into()).to_string(), "redis://host");
    assert_eq!(
        RedisUrl("redis://user@host".into()).to_string(),
        "redis://user@host"
    );
    assert_eq!(
        RedisUrl("unix:///run/redis.sock?db=1&pass=hunter2".into()).to_string(),
        "unix:///run/redis.sock?db=1&pass=***"
    );
    assert_eq!(
        RedisUrl("redis+unix:///s.sock?password=hunter2&user=u".into()).to_string(),
        "redis+unix:///s.sock?password=***&user=u"
    );
}

#[test]
fn unknown_field() {
    insta::assert_snapshot!(error(&GOOD.replace("prefix", "prefx")));
}

#[test]
fn unknown_type() {
    insta::assert_snapshot!(error(&GOOD.replace("\"sled\"", "\"sqlite\"")));
}

#[test]
fn field_not_for_type() {
    insta::assert_snapshot!(error(
        &GOOD.replace("path = \"data/kv\"", "url = \"redis://x\"")
    ));
}

#[test]
fn missing_field() {
    insta::assert_snapshot!(error(&GOOD.replace("url = \"redis://127.0.0.1:6380\"", "")));
}

#[test]
fn bad_redis_url_hides_the_url() {
    let message = error(&GOOD.replace("redis://:hunter2@127.0.0.1:6379/0", "http://:hunter2@x"));
    assert!(!message.contains("hunter2"), "{message}");
    insta::assert_snapshot!(message);
}

#[test]
fn bad_prefix() {
    insta::assert_snapshot!(error(&GOOD.replace("\"shop\"", "\"shop:*\"")));
}

#[test]
fn bad_label() {
    insta::assert_snapshot!(error(&GOOD.replace("store.cache]", "store.\"a b\"]")));
}

fn app(grants: &[&str]) -> App {
    let list = grants
        .iter()
        .map(|g| format!("\"{g}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let manifest = format!(
        "manifest_version = 1\n[application]\nname = \"a\"\n[component.counter]\nsource = \"c.wasm\"\nkey_value_stores = [{list}]\n"
    );
    crate::manifest::parse(Path::new("/app/wasmhost.toml"), &manifest).unwrap()
}

#[test]
fn grants_need_a_defined_store_once_a_config_is_given() {
    let config = RuntimeConfig::parse(Path::new(FILE), GOOD).unwrap();
    config.check_grants(&app(&["default", "sessions"])).unwrap();
    insta::assert_snapshot!(
        config
            .check_grants(&app(&["default", "carts"]))
            .unwrap_err()
            .to_string()
    );
    // Without a runtime config every label is a sled store.
    RuntimeConfig::default()
        .check_grants(&app(&["default", "carts"]))
        .unwrap();
}
