//! `__NAME__`: `GET /count/:name` increments the counter `count:<name>` in the `default`
//! key-value store, atomically, and answers its new value.

use wasmhost_sdk::key_value::{Error, Store};
use wasmhost_sdk::{Request, RequestExt, http_component};

#[http_component]
fn handle(req: Request) -> Result<String, Error> {
    let name = req.param("name").unwrap_or("default");
    let count = Store::open_default()?.increment(&format!("count:{name}"), 1)?;
    Ok(format!("{count}\n"))
}
