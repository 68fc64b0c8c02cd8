//! Activities `reserve` and `release`: the stock, in key-value store `default`.
//!
//! Each product is one key, `stock:<sku>`, holding `{"available": n, "holds": {<key>: qty}}`
//! (a product never seen starts with [`INITIAL_STOCK`]). A reservation takes the quantity from
//! `available` and records it in `holds` under the `reserve` call's idempotency key, in one
//! compare-and-swap: a retried or redelivered `reserve` finds its hold and takes nothing
//! twice, and `release` gives back exactly what that key holds, once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmhost_sdk::key_value::Store;
use wasmhost_sdk::workflow::ActivityContext;

use orders_model::{Item, Reservation, ReserveOutcome, StockRequest};

/// The stock of a product the store has never seen.
pub const INITIAL_STOCK: u32 = 100;

/// One product's stock.
#[derive(Serialize, Deserialize)]
struct Level {
    available: u32,
    /// What each reservation (by its key) holds.
    holds: BTreeMap<String, u32>,
}

/// What a hold came to.
enum Held {
    Yes,
    /// Not enough: this many are left.
    Short(u32),
}

/// Holds every item of `request` under the call's idempotency key, or none of them.
///
/// # Errors
/// The store failed.
pub fn reserve(ctx: &ActivityContext, request: StockRequest) -> Result<ReserveOutcome, String> {
    let store = Store::open_default().map_err(|err| err.to_string())?;
    let key = ctx.idempotency_key();
    for (i, item) in request.items.iter().enumerate() {
        if let Held::Short(available) = hold(&store, item, key)? {
            for taken in &request.items[..i] {
                unhold(&store, &taken.sku, key)?;
            }
            return Ok(ReserveOutcome::OutOfStock {
                sku: item.sku.clone(),
                available,
            });
        }
    }
    Ok(ReserveOutcome::Reserved(Reservation {
        key: key.to_owned(),
        items: request.items,
    }))
}

/// Gives back what `reservation` holds (nothing if it was given back already).
///
/// # Errors
/// The store failed.
pub fn release(reservation: &Reservation) -> Result<(), String> {
    let store = Store::open_default().map_err(|err| err.to_string())?;
    for item in &reservation.items {
        unhold(&store, &item.sku, &reservation.key)?;
    }
    Ok(())
}

fn hold(store: &Store, item: &Item, key: &str) -> Result<Held, String> {
    update(store, &item.sku, |level| {
        if level.holds.contains_key(key) {
            (false, Held::Yes)
        } else if level.available >= item.qty {
            level.available -= item.qty;
            level.holds.insert(key.to_owned(), item.qty);
            (true, Held::Yes)
        } else {
            (false, Held::Short(level.available))
        }
    })
}

fn unhold(store: &Store, sku: &str, key: &str) -> Result<(), String> {
    update(store, sku, |level| match level.holds.remove(key) {
        Some(qty) => {
            level.available += qty;
            (true, ())
        }
        None => (false, ()),
    })
}

/// Applies `change` to the stock of `sku` (it says whether it changed anything, and what to
/// return), writing it back with compare-and-swap, again on a concurrent change.
fn update<T>(
    store: &Store,
    sku: &str,
    change: impl Fn(&mut Level) -> (bool, T),
) -> Result<T, String> {
    let key = format!("stock:{sku}");
    loop {
        let current = store.get(&key).map_err(|err| err.to_string())?;
        let mut level = match &current {
            Some(bytes) => serde_json::from_slice(bytes)
                .map_err(|err| format!("`{key}` is not a stock level: {err}"))?,
            None => Level {
                available: INITIAL_STOCK,
                holds: BTreeMap::new(),
            },
        };
        let (changed, result) = change(&mut level);
        if !changed {
            return Ok(result);
        }
        let new = serde_json::to_vec(&level).map_err(|err| err.to_string())?;
        if store
            .compare_and_swap(&key, current.as_deref(), new)
            .map_err(|err| err.to_string())?
        {
            return Ok(result);
        }
    }
}
