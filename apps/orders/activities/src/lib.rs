//! `orders-activities`: every activity of the order pipeline, in one component file that the
//! manifest uses as three components, each granted only what its activities need:
//! - `stock` (key-value store `default`): `reserve` and `release`;
//! - `payment` (outbound HTTP to `payment-gateway.internal` only): `charge` and `refund`;
//! - `fulfilment` (no grant): `notify` and `ship`.
//!
//! One `#[activity]` function dispatches on the activity's name. Activities run at least
//! once, so each side effect is idempotent by the call's idempotency key: `reserve` records
//! its holds under it, `charge` sends it to the gateway as `idempotency-key`.

mod payment;
mod stock;

use serde::Serialize;
use serde_json::Value;
use wasmhost_sdk::activity;
use wasmhost_sdk::workflow::ActivityContext;

use orders_model::{Notification, Notified, ShipRequest, Shipment};

#[activity]
fn orders(ctx: ActivityContext) -> Result<Value, String> {
    match ctx.name() {
        "reserve" => json(stock::reserve(&ctx, ctx.input()?)),
        "release" => json(stock::release(&ctx.input()?)),
        "charge" => json(payment::charge(&ctx, &ctx.input()?)),
        "refund" => json(payment::refund(&ctx, &ctx.input()?)),
        "notify" => json(notify(&ctx, ctx.input()?)),
        "ship" => json(ship(&ctx, &ctx.input()?)),
        other => Err(format!("orders-activities serves no activity `{other}`")),
    }
}

/// An activity's output as JSON.
fn json<O: Serialize>(output: Result<O, String>) -> Result<Value, String> {
    serde_json::to_value(output?).map_err(|err| err.to_string())
}

/// Sends a notification. The demo prints it (the host logs it with the component and the
/// request id); a real one would call an email, SMS or push provider with the idempotency
/// key.
fn notify(ctx: &ActivityContext, notification: Notification) -> Result<Notified, String> {
    println!(
        "[{:?}] to {}: {}",
        notification.channel, notification.to, notification.text
    );
    Ok(Notified {
        channel: notification.channel,
        message_id: format!("msg_{}", ctx.idempotency_key()),
    })
}

/// Books the shipment. The demo makes the tracking number from the idempotency key, so
/// that a retry books nothing twice.
fn ship(ctx: &ActivityContext, request: &ShipRequest) -> Result<Shipment, String> {
    let parcels: u32 = request.items.iter().map(|item| item.qty).sum();
    println!("shipping {parcels} item(s) of order {}", request.order_id);
    Ok(Shipment {
        tracking: format!("trk_{}", ctx.idempotency_key().replace(':', "_")),
    })
}
