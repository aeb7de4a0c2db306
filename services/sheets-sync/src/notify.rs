//! Debounce and coalesce change notifications per spreadsheet.
//!
//! The first notification for a spreadsheet schedules one sync after the
//! debounce delay; every further notification before that sync starts is
//! folded into it (an edit burst of 100 webhooks costs one sync, one
//! quota unit). A notification that arrives while the sync runs schedules
//! exactly one more, because the running sync may have read before that
//! edit. The delay counts from the first notification, not the last, so a
//! steady stream of edits cannot postpone syncing forever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;

/// Runs one sync of a spreadsheet. Resolves to `true` when the sync could
/// not run (another replica held the lease) and should be tried again after
/// another delay.
pub type SyncFn = Arc<dyn Fn(String) -> BoxFuture<'static, bool> + Send + Sync>;

/// The per-spreadsheet debouncer.
#[derive(Clone)]
pub struct Debouncer {
    delay: Duration,
    run: SyncFn,
    state: Arc<Mutex<HashMap<String, Pending>>>,
}

impl std::fmt::Debug for Debouncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Debouncer").field("delay", &self.delay).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// A sync is scheduled and has not started.
    Scheduled,
    /// A sync runs; `again` when a notification came in meanwhile.
    Running { again: bool },
}

impl Debouncer {
    /// A debouncer that calls `run` at most once per `delay` per spreadsheet
    /// (default delay in the service: 1 s).
    pub fn new(delay: Duration, run: SyncFn) -> Self {
        Self { delay, run, state: Arc::default() }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Pending>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that `spreadsheet` changed. Returns at once; the sync follows
    /// after the delay on a spawned task (needs a Tokio runtime).
    pub fn notify(&self, spreadsheet: &str) {
        let mut state = self.lock();
        match state.get_mut(spreadsheet) {
            Some(Pending::Scheduled) => {}
            Some(Pending::Running { again }) => *again = true,
            None => {
                state.insert(spreadsheet.to_owned(), Pending::Scheduled);
                tokio::spawn(self.clone().drive(spreadsheet.to_owned()));
            }
        }
    }

    /// True while a sync of `spreadsheet` is scheduled or running.
    pub fn is_pending(&self, spreadsheet: &str) -> bool {
        self.lock().contains_key(spreadsheet)
    }

    async fn drive(self, spreadsheet: String) {
        loop {
            tokio::time::sleep(self.delay).await;
            self.lock().insert(spreadsheet.clone(), Pending::Running { again: false });
            let retry = (self.run)(spreadsheet.clone()).await;
            let mut state = self.lock();
            let again = matches!(state.get(&spreadsheet), Some(Pending::Running { again: true }));
            if again || retry {
                state.insert(spreadsheet.clone(), Pending::Scheduled);
            } else {
                state.remove(&spreadsheet);
                return;
            }
        }
    }
}
