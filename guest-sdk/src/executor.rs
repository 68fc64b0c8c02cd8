//! A minimal single-threaded executor for async guest handlers.
//!
//! WASI 0.2 has no async ABI: a guest waits by calling `wasi:io/poll.poll` on a list of
//! pollables. Futures in this crate that would block register the pollable they wait on with
//! `wait_for` and return `Pending`; [`block_on`] then blocks in `poll` until one is ready and
//! polls the future again.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::wit::wasi::io::poll::{Pollable, poll};

thread_local! {
    static WAITING: RefCell<Vec<Pollable>> = const { RefCell::new(Vec::new()) };
}

/// Registers `pollable` as something the current task waits on. The next [`block_on`] round
/// blocks until it (or another registered pollable) is ready.
pub(crate) fn wait_for(pollable: Pollable) {
    WAITING.with(|w| w.borrow_mut().push(pollable));
}

/// Runs `future` to completion on the current (only) thread and returns its output.
///
/// # Panics
/// Panics if the future returns `Pending` without registering anything to wait on: such a
/// future (for example one from a tokio-only crate) could never be woken in a WASI 0.2 guest.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        let waiting = WAITING.with(|w| std::mem::take(&mut *w.borrow_mut()));
        assert!(
            !waiting.is_empty(),
            "wasmhost_sdk::executor::block_on: the future is pending but waits on no WASI pollable"
        );
        let refs: Vec<&Pollable> = waiting.iter().collect();
        poll(&refs);
    }
}
