//! Per guest call, in a queue handler: `wasmhost:host/queue-batch`, the handler's decision per
//! message (Workers' `message.ack()` and `message.retry()`). The queue trigger gives the
//! instance a [`BatchMarks`] for the batch it hands to `queue-handler.handle`; the guest marks
//! deliveries by id while it runs; when the call ends, the trigger reads the marks
//! ([`BatchMarks::marks`]) and settles each message by its mark, or by the call's result if it
//! has none. The rules are in `wit/wasmhost.wit` (`queue-batch`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Result;
use wasmtime::component::{HasData, Linker};

use crate::bindings::queue_component::wasmhost::host::queue_batch;

/// The longest delay a `retry` may ask for: 12 hours (43 200 000 ms), as Workers' limit on
/// `retry({ delaySeconds })`. Longer is cut to it.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(12 * 60 * 60);

/// What the handler decided for one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// `ack`: acknowledged whatever the call's result.
    Ack,
    /// `retry`: delivered again whatever the call's result, after `delay` (`None`: the
    /// trigger's backoff), at most [`MAX_RETRY_DELAY`].
    Retry {
        /// The delay the guest asked for.
        delay: Option<Duration>,
    },
}

/// The marks of one batch: one slot per delivery, in the batch's order, shared between the
/// trigger (which reads them when the call ends, even after a trap or a timeout) and the
/// instance (which writes them).
#[derive(Debug)]
pub struct BatchMarks {
    /// The messages' ids, in order (a delivery's `id` is its message's id in decimal).
    ids: Vec<u64>,
    marks: Mutex<Vec<Option<Mark>>>,
}

impl BatchMarks {
    /// Marks for a batch whose messages have `ids`, in order; none marked yet.
    pub fn new(ids: Vec<u64>) -> Arc<Self> {
        let marks = Mutex::new(vec![None; ids.len()]);
        Arc::new(Self { ids, marks })
    }

    /// Sets the mark of delivery `id`; the last mark wins.
    ///
    /// # Errors
    /// No delivery of the batch has that id (the text names it).
    fn mark(&self, id: &str, mark: Mark) -> Result<(), String> {
        let index = id
            .parse::<u64>()
            .ok()
            .and_then(|number| self.ids.iter().position(|candidate| *candidate == number))
            .ok_or_else(|| format!("no delivery `{id}` in the batch being handled"))?;
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)[index] = Some(mark);
        Ok(())
    }

    /// The marks, in the batch's order (`None`: the delivery follows the call's result).
    pub fn marks(&self) -> Vec<Option<Mark>> {
        self.marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The per-instance view the generated trait is implemented on: the marks of the batch the
/// instance handles, `None` outside a queue handler's call.
pub struct BatchView<'a> {
    /// The batch's marks.
    pub marks: Option<&'a BatchMarks>,
}

impl BatchView<'_> {
    fn mark(&self, id: &str, mark: Mark) -> Result<(), String> {
        match self.marks {
            Some(marks) => marks.mark(id, mark),
            None => Err("this instance is not handling a queue batch".to_owned()),
        }
    }
}

impl queue_batch::Host for BatchView<'_> {
    async fn ack(&mut self, id: String) -> wasmtime::Result<Result<(), String>> {
        Ok(self.mark(&id, Mark::Ack))
    }

    async fn retry(
        &mut self,
        id: String,
        delay_ms: Option<u64>,
    ) -> wasmtime::Result<Result<(), String>> {
        let delay = delay_ms.map(|ms| Duration::from_millis(ms).min(MAX_RETRY_DELAY));
        Ok(self.mark(&id, Mark::Retry { delay }))
    }
}

/// [`HasData`] marker for the `queue-batch` import.
struct HasBatch;

impl HasData for HasBatch {
    type Data<'a> = BatchView<'a>;
}

/// Adds the `queue-batch` import to `linker`; `view` borrows the instance's [`BatchView`].
///
/// # Errors
/// An import already defined in `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> BatchView<'_>,
) -> Result<()> {
    queue_batch::add_to_linker::<_, HasBatch>(linker, view)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_mark_wins_and_unknown_ids_are_refused() {
        let marks = BatchMarks::new(vec![1, 2, 3]);
        marks.mark("2", Mark::Ack).unwrap();
        marks.mark("3", Mark::Ack).unwrap();
        marks
            .mark("3", Mark::Retry { delay: None })
            .expect("a second mark replaces the first");
        assert_eq!(
            marks.mark("7", Mark::Ack).unwrap_err(),
            "no delivery `7` in the batch being handled"
        );
        assert_eq!(
            marks.marks(),
            [None, Some(Mark::Ack), Some(Mark::Retry { delay: None })]
        );
    }

    #[tokio::test]
    async fn outside_a_batch_marks_are_refused_and_delays_are_capped() {
        use queue_batch::Host;
        let mut outside = BatchView { marks: None };
        assert_eq!(
            outside.ack("1".into()).await.unwrap().unwrap_err(),
            "this instance is not handling a queue batch"
        );
        let marks = BatchMarks::new(vec![1]);
        let mut view = BatchView {
            marks: Some(&marks),
        };
        view.retry("1".into(), Some(u64::MAX))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            marks.marks(),
            [Some(Mark::Retry {
                delay: Some(MAX_RETRY_DELAY)
            })]
        );
    }
}
