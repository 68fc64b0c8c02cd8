//! Cron components: the [`crate::cron_component`] attribute turns a function into the
//! `wasmhost:host/cron-handler` export that a `[[trigger.cron]]` calls at every tick.
//!
//! ```no_run
//! use wasmhost_sdk::cron::Tick;
//! use wasmhost_sdk::cron_component;
//!
//! #[cron_component]
//! fn refresh(tick: Tick) -> Result<(), String> {
//!     println!("tick scheduled at {:?}", tick.scheduled_time);
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! `Err` (any `Display` error) is a failed run: the host logs the message and counts it; the
//! next tick runs as usual. Returning `()` is always a success. The function may be async.

use std::fmt::Display;
use std::time::SystemTime;

use crate::time::system_time;
use crate::wit::wasi::clocks::wall_clock::Datetime;

/// One tick of a cron schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// When the tick was scheduled (its nominal time, UTC), not when the run started.
    pub scheduled_time: SystemTime,
}

/// What a cron function may return: `()` or `Result<(), E: Display>`.
pub trait IntoRunResult {
    /// `Ok` for a successful run, `Err(message)` for a failed one.
    fn into_run_result(self) -> Result<(), String>;
}

impl IntoRunResult for () {
    fn into_run_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display> IntoRunResult for Result<(), E> {
    fn into_run_result(self) -> Result<(), String> {
        self.map_err(|err| err.to_string())
    }
}

/// Calls `job` for the tick at `scheduled_time`. Called by the code `#[cron_component]`
/// generates.
pub fn run<R: IntoRunResult>(
    scheduled_time: Datetime,
    job: impl FnOnce(Tick) -> R,
) -> Result<(), String> {
    job(Tick {
        scheduled_time: system_time(scheduled_time),
    })
    .into_run_result()
}
