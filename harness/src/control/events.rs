//! The live event stream: what the cards see and do, for whoever watches (`mynasim ctl
//! watch`, the web inspector).
//!
//! Free when nobody watches: [`Events::is_watched`] is one relaxed atomic load, and the
//! card path builds an event only when it is true. Each event is serialised once, to one
//! JSON line shared by every watcher. A watcher that falls behind loses events rather than
//! slowing the card: its queue is bounded, and it is told how many it missed
//! ([`Event::Dropped`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::protocol::Event;

/// How many events a watcher may have queued before it loses some.
const QUEUE: usize = 4096;

/// The stream's hub, shared by the cards' slots and the control server (cheap to clone).
#[derive(Clone, Default)]
pub struct Events {
    hub: Arc<Hub>,
}

#[derive(Default)]
struct Hub {
    /// How many watchers are subscribed (read on the card path).
    watchers: AtomicUsize,
    queues: Mutex<Vec<Queue>>,
}

struct Queue {
    tx: SyncSender<Arc<str>>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("watchers", &self.hub.watchers.load(Ordering::Relaxed)).finish()
    }
}

impl Events {
    /// A hub nobody watches yet.
    pub fn new() -> Events {
        Events::default()
    }

    /// Whether anyone watches: build an event only then.
    pub fn is_watched(&self) -> bool {
        self.hub.watchers.load(Ordering::Relaxed) > 0
    }

    /// Sends `event` to every watcher (serialised once). Never blocks on a slow watcher.
    pub fn publish(&self, event: &Event) {
        if !self.is_watched() {
            return;
        }
        let line: Arc<str> = match serde_json::to_string(event) {
            Ok(line) => line.into(),
            Err(e) => {
                tracing::error!("cannot serialise a control event: {e}");
                return;
            }
        };
        let mut queues = self.hub.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.retain(|q| match q.tx.try_send(Arc::clone(&line)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                q.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
        self.hub.watchers.store(queues.len(), Ordering::Relaxed);
    }

    /// Subscribes: the events from now on, as JSON lines.
    pub fn watch(&self) -> Watch {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let mut queues = self.hub.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        queues.push(Queue { tx, dropped: Arc::clone(&dropped) });
        self.hub.watchers.store(queues.len(), Ordering::Relaxed);
        Watch { rx, dropped }
    }
}

/// One watcher's subscription; dropping it unsubscribes (at the next event).
pub struct Watch {
    rx: Receiver<Arc<str>>,
    dropped: Arc<AtomicU64>,
}

/// What [`Watch::next`] gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// An event's JSON line (an [`Event::Dropped`] line first if some were lost).
    Line(Arc<str>),
    /// Nothing within the wait (a chance to check the watcher's connection).
    Idle,
    /// The hub is gone (the server is stopping).
    Closed,
}

impl Watch {
    /// The next event line, waiting at most `wait` (zero: only what is queued).
    pub fn next(&self, wait: Duration) -> Next {
        let missed = self.dropped.swap(0, Ordering::Relaxed);
        if missed > 0 {
            return match serde_json::to_string(&Event::Dropped { count: missed }) {
                Ok(line) => Next::Line(line.into()),
                Err(_) => Next::Idle,
            };
        }
        if wait.is_zero() {
            return match self.rx.try_recv() {
                Ok(line) => Next::Line(line),
                Err(mpsc::TryRecvError::Empty) => Next::Idle,
                Err(mpsc::TryRecvError::Disconnected) => Next::Closed,
            };
        }
        match self.rx.recv_timeout(wait) {
            Ok(line) => Next::Line(line),
            Err(mpsc::RecvTimeoutError::Timeout) => Next::Idle,
            Err(mpsc::RecvTimeoutError::Disconnected) => Next::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_watching_costs_no_event_and_watchers_get_each_line() {
        let events = Events::new();
        assert!(!events.is_watched());
        events.publish(&Event::Inserted { card: "a".into() });
        let watch = events.watch();
        assert!(events.is_watched());
        events.publish(&Event::Removed { card: "a".into() });
        assert_eq!(watch.next(Duration::ZERO), Next::Line(r#"{"event":"removed","card":"a"}"#.into()));
        assert_eq!(watch.next(Duration::ZERO), Next::Idle);
        drop(watch);
        events.publish(&Event::Inserted { card: "a".into() });
        assert!(!events.is_watched(), "a gone watcher is forgotten at the next event");
    }

    #[test]
    fn a_slow_watcher_loses_events_and_is_told_how_many() {
        let events = Events::new();
        let watch = events.watch();
        for _ in 0..QUEUE + 3 {
            events.publish(&Event::Inserted { card: "a".into() });
        }
        assert_eq!(watch.next(Duration::ZERO), Next::Line(r#"{"event":"dropped","count":3}"#.into()));
        assert!(matches!(watch.next(Duration::ZERO), Next::Line(l) if l.contains("inserted")));
    }
}
