//! The change broadcast behind `WatchChanges`.
//!
//! A new subscriber must first get the current version of every sheet and
//! then every later change, with no gap and no stale repeat. The hub keeps
//! the current version of each sheet next to the broadcast sender under one
//! lock: [`WatchHub::publish`] updates the map and sends while holding it,
//! and [`WatchHub::subscribe`] copies the map and subscribes while holding
//! it. So every change is either in the copy or in the receiver, never in
//! both and never in neither. A subscriber that lags behind the broadcast
//! buffer re-synchronises the same way and gets the differences as changes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use futures::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::model::{ChangeEvent, ChangeKind, SheetKey, SheetMeta};

/// Current sheet versions plus the broadcast of their changes.
#[derive(Debug, Clone)]
pub struct WatchHub {
    inner: Arc<Mutex<HubState>>,
}

#[derive(Debug)]
struct HubState {
    current: BTreeMap<SheetKey, ChangeEvent>,
    tx: broadcast::Sender<ChangeEvent>,
}

impl Default for WatchHub {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl WatchHub {
    /// A hub whose subscribers may fall `capacity` events behind before
    /// they re-synchronise.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { inner: Arc::new(Mutex::new(HubState { current: BTreeMap::new(), tx })) }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Loads the versions already stored (at start-up, before any sync).
    pub fn seed(&self, metas: &[SheetMeta]) {
        let mut state = self.lock();
        for meta in metas.iter().filter(|m| !m.version.is_empty()) {
            let current = ChangeEvent {
                kind: ChangeKind::Current,
                key: meta.key.clone(),
                version: meta.version.clone(),
                previous_version: String::new(),
                row_count: meta.row_count,
                changed_at: meta.synced_at.unwrap_or_else(SystemTime::now),
            };
            state.current.insert(meta.key.clone(), current);
        }
    }

    /// Announces a CHANGED or REMOVED event. Idempotent: an event whose
    /// version is already current is dropped, so the same change arriving
    /// twice (from this replica and from the shared event stream) is sent
    /// once.
    pub fn publish(&self, event: ChangeEvent) {
        let mut state = self.lock();
        match event.kind {
            ChangeKind::Removed => {
                if state.current.remove(&event.key).is_none() {
                    return;
                }
            }
            ChangeKind::Changed | ChangeKind::Current => {
                if state.current.get(&event.key).is_some_and(|c| c.version == event.version) {
                    return;
                }
                let current = ChangeEvent { kind: ChangeKind::Current, previous_version: String::new(), ..event.clone() };
                state.current.insert(event.key.clone(), current);
            }
        }
        // No receiver is fine: nobody is watching.
        let _ = state.tx.send(event);
    }

    /// The current version of every sheet, as CURRENT events.
    pub fn current(&self) -> Vec<ChangeEvent> {
        self.lock().current.values().cloned().collect()
    }

    /// Opens a subscription to every sheet, or to one spreadsheet's.
    pub fn subscribe(&self, spreadsheet: Option<String>) -> Subscription {
        let (initial, rx) = {
            let state = self.lock();
            (state.current.values().cloned().collect::<Vec<_>>(), state.tx.subscribe())
        };
        let mut subscription = Subscription { hub: self.clone(), rx, filter: spreadsheet, pending: VecDeque::new(), seen: HashMap::new() };
        for event in initial {
            subscription.deliver(event);
        }
        subscription
    }
}

/// One subscriber's view: CURRENT events first, then changes.
#[derive(Debug)]
pub struct Subscription {
    hub: WatchHub,
    rx: broadcast::Receiver<ChangeEvent>,
    filter: Option<String>,
    pending: VecDeque<ChangeEvent>,
    /// Version each sheet had in the last event this subscriber got.
    seen: HashMap<SheetKey, String>,
}

impl Subscription {
    /// The next event; `None` once the hub is gone.
    pub async fn next(&mut self) -> Option<ChangeEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            match self.rx.recv().await {
                Ok(event) => self.deliver(event),
                Err(RecvError::Lagged(_)) => self.resync(),
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// The subscription as a stream, for a gRPC server stream.
    pub fn into_stream(self) -> impl Stream<Item = ChangeEvent> + Send + 'static {
        futures::stream::unfold(self, |mut sub| async move { sub.next().await.map(|event| (event, sub)) })
    }

    fn deliver(&mut self, event: ChangeEvent) {
        if self.filter.as_ref().is_some_and(|s| *s != event.key.spreadsheet) {
            return;
        }
        if event.kind == ChangeKind::Removed {
            if self.seen.remove(&event.key).is_some() {
                self.pending.push_back(event);
            }
            return;
        }
        if self.seen.get(&event.key) == Some(&event.version) {
            return;
        }
        self.seen.insert(event.key.clone(), event.version.clone());
        self.pending.push_back(event);
    }

    /// After missing broadcast events: re-subscribe and send what differs
    /// between what this subscriber saw and what is current now.
    fn resync(&mut self) {
        let (current, rx) = {
            let state = self.hub.lock();
            (state.current.clone(), state.tx.subscribe())
        };
        self.rx = rx;
        let gone: Vec<SheetKey> = self.seen.keys().filter(|k| !current.contains_key(*k)).cloned().collect();
        for key in gone {
            let event = ChangeEvent {
                kind: ChangeKind::Removed,
                key,
                version: String::new(),
                previous_version: String::new(),
                row_count: 0,
                changed_at: SystemTime::now(),
            };
            self.deliver(event);
        }
        for (key, now) in current {
            let previous = self.seen.get(&key).cloned().unwrap_or_default();
            self.deliver(ChangeEvent { kind: ChangeKind::Changed, previous_version: previous, ..now });
        }
    }
}
