//! `cron-probe`: a cron component for the tests. At every tick it increments the counter named
//! by its `key` variable in the `default` store, then sleeps `sleep_ms` (a variable; 0 if
//! absent), then fails if its `fail` variable is `true`.

use std::time::Duration;

use wasmhost_sdk::cron::Tick;
use wasmhost_sdk::cron_component;
use wasmhost_sdk::key_value::Store;
use wasmhost_sdk::variables;

#[cron_component]
fn run(_tick: Tick) -> Result<(), String> {
    let key = variables::get("key").map_err(|e| e.to_string())?;
    Store::open_default()
        .and_then(|store| store.increment(&key, 1))
        .map_err(|e| e.to_string())?;
    let sleep_ms: u64 = variables::get("sleep_ms")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(sleep_ms));
    if variables::get("fail").is_ok_and(|fail| fail == "true") {
        return Err(format!("asked to fail ({key})"));
    }
    Ok(())
}
