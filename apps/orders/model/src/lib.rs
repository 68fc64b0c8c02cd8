//! `orders-model`: the types the parts of the order pipeline exchange as JSON: the order the
//! HTTP API takes and starts workflow `order` with, each activity's input and output, the
//! approval event, and the workflow's outcome. A library of the `orders` app, not a
//! component.

use serde::{Deserialize, Serialize};

/// The card number the demo payment gateway declines (as Stripe's test card does).
pub const DECLINED_CARD: &str = "4000000000000002";

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The product.
    pub sku: String,
    /// How many (at least 1).
    pub qty: u32,
}

/// An order as a customer places it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// What is ordered (at least one item).
    pub items: Vec<Item>,
    /// The total, in cents.
    pub amount: u64,
    /// The card to charge. (A real shop passes a payment provider's token here, never a card
    /// number: the input is kept in the workflow's history.)
    pub card: String,
    /// Where to send the notifications.
    pub email: String,
}

/// When an order needs a person's approval, and how long to wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    /// Orders of this amount (cents) or more wait for an `approval` event.
    pub threshold_cents: u64,
    /// How long they wait, in seconds, before the order is cancelled.
    pub timeout_secs: u64,
}

/// The input of workflow `order`: the order, and the approval policy the HTTP API read from
/// its variables (the customer cannot set it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderInput {
    /// The order.
    pub order: Order,
    /// When it needs approval.
    pub approval: ApprovalPolicy,
}

/// The payload of event `approval` (`POST /orders/:id/approval`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Whether the order may go on.
    pub approved: bool,
    /// Who decided.
    pub by: String,
}

/// The input of activity `reserve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRequest {
    /// What to take from the stock.
    pub items: Vec<Item>,
}

/// What activity `reserve` held: the input of activity `release`, which gives it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The key the holds are recorded under: the `reserve` call's idempotency key.
    pub key: String,
    /// What was held.
    pub items: Vec<Item>,
}

/// The output of activity `reserve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReserveOutcome {
    /// Every item is held.
    Reserved(Reservation),
    /// An item is short; nothing is held.
    OutOfStock {
        /// The item that is short.
        sku: String,
        /// How many of it are left.
        available: u32,
    },
}

/// The input of activity `charge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeRequest {
    /// The card.
    pub card: String,
    /// How much, in cents.
    pub amount: u64,
}

/// The output of activity `charge`, as the payment gateway answered. A gateway that cannot be
/// reached, or answers anything else, fails the activity (and it is retried).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChargeOutcome {
    /// Charged.
    Approved {
        /// The gateway's id of the payment.
        payment_id: String,
    },
    /// The card was declined: an answer, not a failure, so it is not retried.
    Declined {
        /// Why, as the gateway said.
        reason: String,
    },
}

/// A payment to give back: the input of activity `refund`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The gateway's id of the payment.
    pub payment_id: String,
    /// How much, in cents.
    pub amount: u64,
}

/// A way of telling the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An email.
    Email,
    /// A text message.
    Sms,
    /// A push notification.
    Push,
}

impl Channel {
    /// Every channel, in the order the workflow notifies them.
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];
}

/// The input of activity `notify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// How.
    pub channel: Channel,
    /// To whom (the order's email address: the demo has no phone numbers or devices).
    pub to: String,
    /// What.
    pub text: String,
}

/// The output of activity `notify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notified {
    /// How.
    pub channel: Channel,
    /// The message's id.
    pub message_id: String,
}

/// The input of activity `ship`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipRequest {
    /// The order (its workflow instance id).
    pub order_id: String,
    /// What to send.
    pub items: Vec<Item>,
}

/// The output of activity `ship`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// The carrier's tracking number.
    pub tracking: String,
}

/// How an order ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Charged, notified and shipped.
    Shipped,
    /// An item was short; nothing was charged.
    OutOfStock,
    /// The card was declined, or the gateway could not be reached; the stock was released.
    PaymentFailed,
    /// A person rejected it; the payment was refunded and the stock released.
    Rejected,
    /// Nobody approved it in time; refunded and released as for a rejection.
    ApprovalTimedOut,
    /// The shipment failed for good; refunded and released.
    ShippingFailed,
}

/// The output of workflow `order`. Every business outcome completes the workflow with one
/// (a declined card is an answer, not a fault); the workflow fails only when a compensation
/// itself fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderOutcome {
    /// How it ended.
    pub status: OrderStatus,
    /// Why, when it did not ship.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The payment, if one was made (and kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// The tracking number, once shipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<String>,
    /// The channels the customer was told through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notified: Vec<Channel>,
}

impl OrderOutcome {
    /// An order that ended without shipping, for `reason`.
    pub fn stopped(status: OrderStatus, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: Some(reason.into()),
            payment_id: None,
            tracking: None,
            notified: Vec::new(),
        }
    }
}
