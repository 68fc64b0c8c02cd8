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

/// Fuzzing by property: no text makes the runtime config checker panic (arbitrary text, and
/// tables of the real names with arbitrary fields, so the checks past TOML parsing run too),
/// and a valid config reads back as the backends it was written from. 256 cases per property
/// per run (`PROPTEST_CASES` overrides).
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// `text` as a TOML string (a quoted key or a value).
    fn quoted(text: &str) -> String {
        toml::Value::String(text.to_owned()).to_string()
    }

    /// A TOML value: mostly strings near the real ones (types, Redis URLs, paths, prefixes),
    /// else a number of any size, a boolean, an array or an inline table.
    fn value() -> impl Strategy<Value = String> {
        let text = prop_oneof![
            Just("sled".to_owned()),
            Just("redis".to_owned()),
            "(redis|rediss|unix|redis\\+unix|http)://[a-z:@/?=&%.*\\[\\]0-9 ]{0,16}",
            "[a-z/:.@*?\\[\\]\\\\ _-]{0,12}",
            "\\PC{0,12}",
        ];
        prop_oneof![
            8 => text.prop_map(|s| quoted(&s)),
            1 => any::<i64>().prop_map(|n| n.to_string()),
            1 => prop_oneof![
                Just("18446744073709551616".to_owned()),
                Just("1.5e300".to_owned()),
                any::<bool>().prop_map(|b| b.to_string()),
                Just("[\"sled\"]".to_owned()),
                Just("{ type = \"sled\" }".to_owned()),
            ],
        ]
    }

    /// A `node` line or not, then `[<table>.<name>]` tables of the real names (rarely an
    /// unknown one), names valid or not, each real field present or not (rarely an unknown
    /// field), each value mostly of the field's type but arbitrary; an `[outbound_http]`
    /// table or not.
    fn tables() -> impl Strategy<Value = String> {
        let table = prop_oneof![
            10 => proptest::sample::select(&["key_value_store", "queue", "topic"][..]),
            1 => Just("stores"),
        ];
        let name = prop_oneof![
            8 => "[a-z_-]{1,4}",
            1 => "\\PC{0,4}",
            1 => "a{64,66}",
        ];
        let field = |name: &'static str, present, typed: BoxedStrategy<String>| {
            let value = prop_oneof![4 => typed, 1 => value()];
            proptest::option::weighted(present, value.prop_map(move |v| format!("{name} = {v}\n")))
        };
        let kind = proptest::sample::select(&["\"sled\"", "\"redis\""][..]).prop_map(str::to_owned);
        let text = value().boxed();
        let number = || {
            prop_oneof![0..=70_000_i64, -1..=i64::MAX]
                .prop_map(|n| n.to_string())
                .boxed()
        };
        let fields = (
            field("type", 0.9, kind.boxed()),
            field("path", 0.4, text.clone()),
            field("url", 0.4, text.clone()),
            field("prefix", 0.4, text.clone()),
            field("visibility_timeout_ms", 0.3, number()),
            field("max_key_bytes", 0.2, number()),
            field("max_value_bytes", 0.2, number()),
            field("typ", 0.05, text.clone()),
        );
        let table = (table, name, fields).prop_map(|(table, name, fields)| {
            let (kind, path, url, prefix, visibility, key, value, typo) = fields;
            let fields: String = [kind, path, url, prefix, visibility, key, value, typo]
                .into_iter()
                .flatten()
                .collect();
            format!("[{table}.{}]\n{fields}", quoted(&name))
        });
        let node = field("node", 0.3, node().prop_map(|n| quoted(&n)).boxed());
        let boolean = any::<bool>().prop_map(|b| b.to_string()).boxed();
        let outbound = (
            field("allow_private_networks", 0.8, boolean),
            field("typ", 0.05, text),
        )
            .prop_map(|(allow, typo)| {
                format!(
                    "[outbound_http]\n{}",
                    allow.into_iter().chain(typo).collect::<String>()
                )
            });
        let outbound = proptest::option::weighted(0.3, outbound);
        (node, proptest::collection::vec(table, 1..4), outbound).prop_map(
            |(node, tables, outbound)| {
                node.unwrap_or_default() + &tables.concat() + &outbound.unwrap_or_default()
            },
        )
    }

    /// A valid `node`: 1 to 20 printable ASCII characters, no space.
    fn node() -> impl Strategy<Value = String> {
        "[!-~]{1,20}"
    }

    /// A valid store: its TOML fields and the backend they describe (a sled path relative to
    /// the directory of [`FILE`], a Redis URL with a password that starts `S3cr`).
    fn store() -> impl Strategy<Value = (String, Backend)> {
        let sled = "[a-z]{1,6}(/[a-z]{1,6}){0,2}".prop_map(|path| {
            let backend = Backend::Sled {
                path: Path::new(FILE).parent().unwrap().join(&path),
            };
            (
                format!("type = \"sled\"\npath = {}\n", quoted(&path)),
                backend,
            )
        });
        let redis = (
            "[a-z]{1,6}",
            "[a-z0-9]{4,8}",
            "[a-z]{1,8}",
            1..=u16::MAX,
            0..16_u8,
            proptest::option::of("[a-zA-Z0-9_.-]{1,8}"),
        )
            .prop_map(|(user, password, host, port, db, prefix)| {
                let url = format!("redis://{user}:S3cr{password}@{host}:{port}/{db}");
                let mut text = format!("type = \"redis\"\nurl = {}\n", quoted(&url));
                if let Some(prefix) = &prefix {
                    text += &format!("prefix = {}\n", quoted(prefix));
                }
                let prefix = prefix.unwrap_or_else(|| DEFAULT_REDIS_PREFIX.to_owned());
                (
                    text,
                    Backend::Redis {
                        url: RedisUrl(url),
                        prefix,
                    },
                )
            });
        prop_oneof![sled, redis]
    }

    /// A valid key-value store: its TOML fields, and the backend and size limits (if it
    /// sets any) they describe.
    fn key_value_store() -> impl Strategy<Value = (String, (Backend, Option<KeyValueLimits>))> {
        let limit = |max: u64| proptest::option::of(1..=max);
        (store(), limit(1 << 16), limit(512 << 20)).prop_map(|((mut text, backend), key, value)| {
            let defaults = KeyValueLimits::default();
            for (field, given) in [("max_key_bytes", key), ("max_value_bytes", value)] {
                if let Some(given) = given {
                    text += &format!("{field} = {given}\n");
                }
            }
            let limits = (key.is_some() || value.is_some()).then(|| KeyValueLimits {
                max_key_bytes: key.map_or(defaults.max_key_bytes, |n| n as usize),
                max_value_bytes: value.map_or(defaults.max_value_bytes, |n| n as usize),
            });
            (text, (backend, limits))
        })
    }

    /// A queue or topic as the tests compare it: its backend, its visibility timeout, and the
    /// line of the runtime config where that is written (if it is).
    type Queue = (Backend, Duration, Option<String>);

    /// A valid queue or topic: its TOML fields and what they describe.
    fn queue() -> impl Strategy<Value = (String, Queue)> {
        (store(), proptest::option::of(1..=u64::MAX)).prop_map(|((mut text, backend), ms)| {
            let line = ms.map(|ms| format!("visibility_timeout_ms = {ms}"));
            if let Some(line) = &line {
                text += &format!("{line}\n");
            }
            let visibility_timeout = ms.map_or(DEFAULT_VISIBILITY_TIMEOUT, Duration::from_millis);
            (text, (backend, visibility_timeout, line))
        })
    }

    /// `queues` of a config read from `text`, as [`Queue`]s.
    fn as_read(
        text: &str,
        queues: &BTreeMap<String, QueueBackendConfig>,
    ) -> BTreeMap<String, Queue> {
        let line = |location: &Location| text.lines().nth(location.line - 1).map(str::to_owned);
        queues
            .iter()
            .map(|(name, queue)| {
                let written = queue.visibility_location.as_ref().and_then(line);
                (
                    name.clone(),
                    (queue.backend.clone(), queue.visibility_timeout, written),
                )
            })
            .collect()
    }

    /// Up to three valid entries of one table, by distinct valid names: the TOML of their
    /// tables `[<table>.<name>]`, and what each describes.
    fn entries<T: std::fmt::Debug>(
        table: &'static str,
        entry: impl Strategy<Value = (String, T)>,
    ) -> impl Strategy<Value = (String, BTreeMap<String, T>)> {
        proptest::collection::btree_map("[a-zA-Z0-9_-]{1,8}", entry, 0..4).prop_map(
            move |entries| {
                let mut text = String::new();
                let mut described = BTreeMap::new();
                for (name, (fields, value)) in entries {
                    text += &format!("[{table}.{name}]\n{fields}");
                    described.insert(name, value);
                }
                (text, described)
            },
        )
    }

    /// `text` checked: the config, or `None` after checking that the error points into the
    /// text (a line it has, a column of that line or just past it).
    fn checked(text: &str) -> Result<Option<RuntimeConfig>, TestCaseError> {
        let location = match RuntimeConfig::parse(Path::new(FILE), text) {
            Ok(config) => return Ok(Some(config)),
            Err(err) => err.location,
        };
        prop_assert_eq!(location.file.as_path(), Path::new(FILE));
        let line = text.split('\n').nth(location.line.wrapping_sub(1));
        prop_assert!(line.is_some(), "no line {} in {:?}", location.line, text);
        let columns = line.unwrap_or_default().chars().count() + 1;
        prop_assert!((1..=columns).contains(&location.column), "{:?}", location);
        Ok(None)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any text is a runtime config or an error that points into the text, never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            checked(&text)?;
        }

        /// Tables of the real names with arbitrary fields are a config or an error that
        /// points into the text, never a panic; an accepted config has only valid names,
        /// Redis prefixes and timeouts.
        #[test]
        fn tables_of_real_names_never_panic(text in tables()) {
            let Some(config) = checked(&text)? else {
                return Ok(());
            };
            let queues = config.queues.iter().chain(&config.topics);
            let backends = config
                .key_value_stores
                .iter()
                .chain(queues.clone().map(|(name, queue)| (name, &queue.backend)));
            for (name, backend) in backends {
                prop_assert!(is_label(name), "{:?}", name);
                if let Backend::Redis { prefix, .. } = backend {
                    prop_assert!(is_redis_prefix(prefix), "{:?}", prefix);
                }
            }
            for (_, queue) in queues {
                prop_assert!(queue.visibility_timeout > Duration::ZERO);
            }
            for limits in config.key_value_limits.values() {
                prop_assert!((1..=1 << 16).contains(&limits.max_key_bytes), "{:?}", limits);
                prop_assert!((1..=512 << 20).contains(&limits.max_value_bytes), "{:?}", limits);
            }
            if let Some(node) = &config.node {
                prop_assert!(is_node_name(node), "{:?}", node);
            }
        }

        /// A valid config reads back as the node, stores (with their size limits), queues
        /// and topics (with where their visibility timeout is written) and outbound setting
        /// it was written from, and its `Debug` never shows a Redis password.
        #[test]
        fn valid_configs_read_back(
            node in proptest::option::of(node()),
            (stores_text, stores) in entries("key_value_store", key_value_store()),
            (queues_text, queues) in entries("queue", queue()),
            (topics_text, topics) in entries("topic", queue()),
            private in proptest::option::of(any::<bool>()),
        ) {
            let node_text = node.as_ref().map(|n| format!("node = {}\n", quoted(n)));
            let private_text =
                private.map(|b| format!("[outbound_http]\nallow_private_networks = {b}\n"));
            let text = format!(
                "{}{stores_text}{queues_text}{topics_text}{}",
                node_text.unwrap_or_default(),
                private_text.unwrap_or_default(),
            );
            let config = RuntimeConfig::parse(Path::new(FILE), &text).unwrap();
            prop_assert_eq!(&config.node, &node);
            prop_assert_eq!(config.allow_private_networks, private == Some(true));
            let backends: BTreeMap<_, _> =
                stores.iter().map(|(name, (backend, _))| (name.clone(), backend.clone())).collect();
            prop_assert_eq!(&config.key_value_stores, &backends);
            let limits: BTreeMap<_, _> = stores
                .iter()
                .filter_map(|(name, (_, limits))| Some((name.clone(), (*limits)?)))
                .collect();
            prop_assert_eq!(&config.key_value_limits, &limits);
            prop_assert_eq!(as_read(&text, &config.queues), queues);
            prop_assert_eq!(as_read(&text, &config.topics), topics);
            let shown = format!("{config:?}");
            prop_assert!(!shown.contains("S3cr"), "{}", shown);
        }
    }
}

/// A Spin app's `runtime-config.toml` reads unchanged: `type = "spin"` is a sled store beside
/// Spin's path, and the environment and static variables providers give prefixes and values.
#[test]
fn spin_runtime_config_maps() {
    let text = r#"
[key_value_store.default]
type = "spin"
path = ".spin/sqlite_key_value.db"

[key_value_store.cache]
type = "redis"
url = "redis://127.0.0.1:6379"

[[variables_provider]]
type = "env"
prefix = "MYAPP"

[[config_provider]]
type = "static"
values = { region = "eu" }
"#;
    let config = RuntimeConfig::parse(Path::new(FILE), text).unwrap();
    let default = &config.key_value_stores["default"];
    let dir = Path::new(FILE).parent().unwrap();
    assert_eq!(
        *default,
        Backend::Sled {
            path: dir.join(".spin/sqlite_key_value.db.sled")
        }
    );
    assert_eq!(config.key_value_stores["cache"].kind(), "redis");
    assert_eq!(config.variables.env_prefixes, ["MYAPP_"]);
    assert_eq!(config.variables.values["region"], "eu");

    let vault = "[[variables_provider]]\ntype = \"vault\"\n";
    insta::assert_snapshot!(
        RuntimeConfig::parse(Path::new(FILE), vault)
            .unwrap_err()
            .to_string()
    );
}

#[test]
fn blob_containers_resolve_to_local_or_s3() {
    let config = RuntimeConfig::parse(
        Path::new(FILE),
        r#"
[blob_container.uploads]
type = "local"
path = "data/blobs"
max_object_bytes = 1048576

[blob_container.archive]
type = "s3"
endpoint = "http://127.0.0.1:9000"
bucket = "shop"
prefix = "/prod/"
poll_interval_ms = 5000
"#,
    )
    .unwrap();
    assert_eq!(
        config.blob_container("uploads", Path::new("/app")),
        BlobContainerConfig {
            backend: BlobBackendConfig::Local {
                path: "/ops/data/blobs".into()
            },
            max_object_bytes: 1 << 20,
            poll_interval: None,
        }
    );
    assert_eq!(
        config.blob_container("archive", Path::new("/app")),
        BlobContainerConfig {
            backend: BlobBackendConfig::S3 {
                endpoint: Some("http://127.0.0.1:9000".into()),
                bucket: "shop".into(),
                prefix: "prod".into(),
                region: "us-east-1".into(),
            },
            max_object_bytes: 1 << 30,
            poll_interval: Some(Duration::from_secs(5)),
        }
    );
    assert_eq!(
        config.blob_container("other", Path::new("/app")).backend,
        BlobBackendConfig::Local {
            path: "/app/.wasmhost/blobs".into()
        }
    );
}

#[test]
fn bad_blob_containers() {
    insta::assert_snapshot!(error("[blob_container.a]\ntype = \"gcs\"\n"));
    insta::assert_snapshot!(error(
        "[blob_container.a]\ntype = \"s3\"\nregion = \"eu\"\n"
    ));
    insta::assert_snapshot!(error(
        "[blob_container.a]\ntype = \"local\"\nbucket = \"b\"\n"
    ));
    insta::assert_snapshot!(error(
        "[blob_container.a]\ntype = \"s3\"\nbucket = \"b\"\nendpoint = \"http://key:secret@minio:9000\"\n"
    ));
    insta::assert_snapshot!(error(
        "[blob_container.a]\ntype = \"local\"\nmax_object_bytes = 0\n"
    ));
    insta::assert_snapshot!(error(
        "[blob_container.a]\ntype = \"local\"\npoll_interval_ms = 10\n"
    ));
}
