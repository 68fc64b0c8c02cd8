//! `kv-probe`: drives every key-value call from inside a guest, so that the same checks run
//! through the whole host path against each backend.
//!
//! - `GET /suite/:store`: runs the capability suite on the store; 200 `ok`, or 500 naming the
//!   first check that failed;
//! - `GET /open/:store`: 200 `ok`, or 403 / 404 / 500 with the error;
//! - `POST /claim/:store/:key`: compare-and-swap from "absent" to the body; `won` or `lost`;
//! - `PUT /set/:store/:key`: sets the key to the body; 204, or 500 with the error;
//! - `GET /get/:store/:key`: the value, 404 if absent, or 500 with the error;
//! - `GET /empty-identifier/:key`: as `/get`, in the store `open("")` gives;
//! - `GET /get-many/:store/:key/:count`: `get-many` of `key` named `count` times; the bytes
//!   returned in all, or 500 with the error.

use wasmhost_sdk::http::StatusCode;
use wasmhost_sdk::key_value::{Error, Store};
use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, http_component};

#[http_component]
fn handle(req: Request) -> Response {
    let store = req.param("store").unwrap_or_default().to_owned();
    match req.route().unwrap_or_default() {
        "/suite/:store" => match Store::open(&store)
            .map_err(|e| e.to_string())
            .and_then(|s| suite(&s))
        {
            Ok(()) => "ok\n".into_response(),
            Err(failed) => (StatusCode::INTERNAL_SERVER_ERROR, failed + "\n").into_response(),
        },
        "/open/:store" => match Store::open(&store) {
            Ok(_) => "ok\n".into_response(),
            Err(Error::AccessDenied) => (StatusCode::FORBIDDEN, "access-denied\n").into_response(),
            Err(Error::NoSuchStore) => (StatusCode::NOT_FOUND, "no-such-store\n").into_response(),
            Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
        },
        // `open("")`, as wasmtime's own key-value test program does: the `default` store.
        "/empty-identifier/:key" => {
            let key = req.param("key").unwrap_or_default();
            match Store::open("").and_then(|s| s.get(key)) {
                Ok(Some(value)) => value.into_response(),
                Ok(None) => StatusCode::NOT_FOUND.into_response(),
                Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
            }
        }
        "/claim/:store/:key" => {
            let key = req.param("key").unwrap_or_default().to_owned();
            let claim = req
                .into_body()
                .into_bytes()
                .map_err(|e| Error::Other(e.to_string()))
                .and_then(|body| Store::open(&store)?.compare_and_swap(&key, None, body));
            match claim {
                Ok(true) => "won\n".into_response(),
                Ok(false) => "lost\n".into_response(),
                Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
            }
        }
        "/set/:store/:key" => {
            let key = req.param("key").unwrap_or_default().to_owned();
            let set = req
                .into_body()
                .into_bytes()
                .map_err(|e| Error::Other(e.to_string()))
                .and_then(|body| Store::open(&store)?.set(&key, &body));
            match set {
                Ok(()) => StatusCode::NO_CONTENT.into_response(),
                Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
            }
        }
        "/get/:store/:key" => {
            let key = req.param("key").unwrap_or_default();
            match Store::open(&store).and_then(|s| s.get(key)) {
                Ok(Some(value)) => value.into_response(),
                Ok(None) => StatusCode::NOT_FOUND.into_response(),
                Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
            }
        }
        "/get-many/:store/:key/:count" => {
            let key = req.param("key").unwrap_or_default().to_owned();
            let count = req.param("count").and_then(|n| n.parse().ok()).unwrap_or(1);
            let keys = vec![key; count];
            match Store::open(&store).and_then(|s| s.get_many(&keys)) {
                Ok(values) => {
                    let total: usize = values.iter().flatten().map(Vec::len).sum();
                    format!("{total}\n").into_response()
                }
                Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Fails with `what` and both sides unless `got == want`.
fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn ok<T>(what: &str, result: Result<T, Error>) -> Result<T, String> {
    result.map_err(|err| format!("{what}: {err}"))
}

/// Keys the paging check writes.
const MANY: usize = 10_000;

fn suite(store: &Store) -> Result<(), String> {
    // Start empty.
    let old = ok("keys (cleanup)", store.keys())?;
    for chunk in old.chunks(1000) {
        ok("delete-many (cleanup)", store.delete_many(chunk))?;
    }
    expect(
        "keys after cleanup",
        ok("keys", store.keys())?,
        Vec::<String>::new(),
    )?;

    // get / set / exists / delete.
    expect("get of a missing key", ok("get", store.get("a"))?, None)?;
    expect(
        "exists of a missing key",
        ok("exists", store.exists("a"))?,
        false,
    )?;
    ok("set", store.set("a", b"one"))?;
    expect(
        "get after set",
        ok("get", store.get("a"))?,
        Some(b"one".to_vec()),
    )?;
    expect("exists after set", ok("exists", store.exists("a"))?, true)?;
    ok("set (overwrite)", store.set("a", b"two"))?;
    expect(
        "get after overwrite",
        ok("get", store.get("a"))?,
        Some(b"two".to_vec()),
    )?;
    ok("delete", store.delete("a"))?;
    expect("get after delete", ok("get", store.get("a"))?, None)?;
    ok("delete of a missing key", store.delete("a"))?;

    // Values of 0 bytes and 1 MiB, and keys with unusual characters.
    ok("set of 0 bytes", store.set("empty", b""))?;
    expect(
        "0-byte value",
        ok("get", store.get("empty"))?,
        Some(Vec::new()),
    )?;
    let big: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
    ok("set of 1 MiB", store.set("big", &big))?;
    expect(
        "1 MiB value",
        ok("get", store.get("big"))?.map(|v| v == big),
        Some(true),
    )?;
    for key in ["with space", "ünïcødé ✓", "a:b:c", "*?[]", ""] {
        ok("set of an unusual key", store.set(key, key))?;
        expect(
            key,
            ok("get", store.get(key))?,
            Some(key.as_bytes().to_vec()),
        )?;
    }
    ok(
        "delete-many",
        store.delete_many(&[
            "with space".into(),
            "ünïcødé ✓".into(),
            "a:b:c".into(),
            "*?[]".into(),
            "".into(),
            "empty".into(),
            "big".into(),
        ]),
    )?;

    // Atomic increment.
    expect(
        "increment of a missing key",
        ok("increment", store.increment("n", 1))?,
        1,
    )?;
    expect(
        "increment by 41",
        ok("increment", store.increment("n", 41))?,
        42,
    )?;
    expect(
        "a counter reads as decimal text",
        ok("get", store.get("n"))?,
        Some(b"42".to_vec()),
    )?;
    ok("set of text", store.set("text", b"not a number"))?;
    if store.increment("text", 1).is_ok() {
        return Err("increment of a non-number succeeded".into());
    }
    expect(
        "a failed increment leaves the value",
        ok("get", store.get("text"))?,
        Some(b"not a number".to_vec()),
    )?;

    // Compare-and-swap.
    expect(
        "cas from absent",
        ok("cas", store.compare_and_swap("c", None, b"v1"))?,
        true,
    )?;
    expect(
        "cas from absent, now present",
        ok("cas", store.compare_and_swap("c", None, b"x"))?,
        false,
    )?;
    expect(
        "cas with a stale value",
        ok("cas", store.compare_and_swap("c", Some(b"v0"), b"x"))?,
        false,
    )?;
    expect(
        "value after failed cas",
        ok("get", store.get("c"))?,
        Some(b"v1".to_vec()),
    )?;
    expect(
        "cas with the current value",
        ok("cas", store.compare_and_swap("c", Some(b"v1"), b"v2"))?,
        true,
    )?;
    expect(
        "value after cas",
        ok("get", store.get("c"))?,
        Some(b"v2".to_vec()),
    )?;

    // Batch.
    let entries: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| (format!("b{i}"), vec![i as u8; i]))
        .collect();
    ok("set-many", store.set_many(&entries))?;
    expect(
        "get-many",
        ok(
            "get-many",
            store.get_many(&["b0".into(), "missing".into(), "b2".into()]),
        )?,
        vec![Some(vec![]), None, Some(vec![2, 2])],
    )?;
    ok(
        "delete-many",
        store.delete_many(&["b0".into(), "b1".into(), "b2".into()]),
    )?;
    expect(
        "get-many after delete-many",
        ok("get-many", store.get_many(&["b0".into(), "b1".into()]))?,
        vec![None, None],
    )?;
    ok("set-many of nothing", store.set_many(&[]))?;
    expect(
        "get-many of nothing",
        ok("get-many", store.get_many(&[]))?,
        vec![],
    )?;

    // list-keys paging over 10 000 keys.
    for start in (0..MANY).step_by(1000) {
        let chunk: Vec<(String, Vec<u8>)> = (start..start + 1000)
            .map(|i| (format!("k{i:05}"), Vec::new()))
            .collect();
        ok("set-many of 1000", store.set_many(&chunk))?;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut pages = 0;
    let mut cursor = None;
    loop {
        let page = ok("list-keys", store.list_keys(cursor))?;
        pages += 1;
        seen.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        if pages > 100_000 {
            return Err("list-keys never ends".into());
        }
    }
    let listed: Vec<String> = seen.into_iter().filter(|k| k.starts_with('k')).collect();
    expect("distinct keys listed", listed.len(), MANY)?;
    if pages < 2 {
        return Err(format!("{MANY} keys came in {pages} page"));
    }
    Ok(())
}
