//! `__NAME__`: a cron job counts its runs in the `default` store; `GET /ticks` answers the
//! count.

use wasmhost_sdk::cron::Tick;
use wasmhost_sdk::key_value::{Error, Store};
use wasmhost_sdk::{Request, cron_component, http_component};

#[cron_component]
fn tick(_tick: Tick) -> Result<(), Error> {
    Store::open_default()?.increment("ticks", 1)?;
    Ok(())
}

#[http_component]
fn handle(_req: Request) -> Result<String, Error> {
    let ticks = Store::open_default()?
        .get("ticks")?
        .unwrap_or_else(|| b"0".to_vec());
    Ok(format!("{}\n", String::from_utf8_lossy(&ticks)))
}
