//! Where sessions run: on several single-thread runtimes ("workers"), one per core by default,
//! rather than on one work-stealing runtime.
//!
//! Each worker accepts on a listener of its own (all bound to the proxy's address with
//! SO_REUSEPORT, so the kernel spreads new connections over them). A session stays on the
//! worker that accepted it, unless that worker runs clearly more sessions than another, and so
//! do the backend connections it opens: every wake-up of a statement's round trip happens
//! on one thread, with no stealing and no cross-thread wake. A work-stealing runtime spends
//! about 2,000 instructions per statement on its scheduler bookkeeping and on waking threads;
//! this keeps what a single-thread proxy costs while using every core.
//!
//! Every worker runs on a thread of its own until [`Workers::stop`]. The runtime that starts
//! the workers runs the background tasks (catalog follower, pool reaper, metrics endpoint,
//! digest and audit writers) and keeps the timers: a worker's runtime has no timer driver,
//! which would read the clock and walk its timer wheel each time the worker waits for events,
//! twice per statement. Workers arm the few timers they need there (`crate::timers`). Pools keep
//! their idle connections per worker (see `crate::backend`): a connection is registered with
//! its worker's event loop, and a session of another worker that must take it moves it over
//! first.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

thread_local! {
    static CURRENT: Cell<usize> = const { Cell::new(0) };
    /// On a worker's thread, the runtime that started the workers.
    static BACKGROUND: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// Whether this thread is a worker's (which has no timers).
pub fn on_worker() -> bool {
    BACKGROUND.with(|b| b.borrow().is_some())
}

/// On a worker's thread, the runtime that started the workers: it keeps the timers and runs
/// the catalog calls (`crate::timers`). `None` elsewhere.
pub fn background() -> Option<Handle> {
    BACKGROUND.with(|b| b.borrow().clone())
}

/// The worker this thread belongs to (0 outside the workers' own threads: what such a thread
/// opens is counted as worker 0's).
pub fn current() -> usize {
    CURRENT.with(Cell::get)
}

struct Worker {
    handle: Handle,
    /// Sessions running on it, for balancing.
    sessions: AtomicUsize,
    gauge: metrics::Gauge,
}

impl Worker {
    fn new(index: usize, handle: Handle) -> Worker {
        Worker {
            handle,
            sessions: AtomicUsize::new(0),
            gauge: crate::metrics::worker_sessions(index),
        }
    }
}

/// How many more sessions than the least busy worker a worker may keep of those it accepts.
pub const SLACK: usize = 4;

/// The proxy's workers.
pub struct Workers {
    workers: Vec<Worker>,
    stop: CancellationToken,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Counts a session on its worker while it lives.
pub struct Assigned {
    workers: Arc<Workers>,
    index: usize,
}

impl Drop for Assigned {
    fn drop(&mut self) {
        if let Some(w) = self.workers.workers.get(self.index) {
            w.sessions.fetch_sub(1, Ordering::Relaxed);
            w.gauge.decrement(1.0);
        }
    }
}

impl Assigned {
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Workers {
    /// `count` workers (at least one), each a thread with a single-thread runtime of its own,
    /// without timers. Call from within the runtime that is to keep their timers.
    pub fn start(count: usize) -> std::io::Result<Arc<Workers>> {
        let background = Handle::try_current().map_err(std::io::Error::other)?;
        let stop = CancellationToken::new();
        let mut workers = Vec::new();
        let mut threads = Vec::new();
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()?;
            workers.push(Worker::new(index, runtime.handle().clone()));
            let stopped = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("octodb-worker-{index}"))
                .spawn({
                    let background = background.clone();
                    move || {
                        CURRENT.with(|c| c.set(index));
                        BACKGROUND.with(|b| *b.borrow_mut() = Some(background));
                        runtime.block_on(stopped.cancelled());
                        // Whatever is still running (sessions past the shutdown grace) ends here.
                        drop(runtime);
                    }
                });
            match thread {
                Ok(t) => threads.push(t),
                Err(e) => {
                    stop.cancel();
                    return Err(e);
                }
            }
        }
        Ok(Arc::new(Workers {
            workers,
            stop,
            threads: Mutex::new(threads),
        }))
    }

    pub fn len(&self) -> usize {
        self.workers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// The worker with the fewest sessions, counted as one more session until the returned
    /// guard is dropped; the first among equals. Sessions are placed with
    /// [`Workers::assign_from`]; this is its rule without a worker of origin.
    #[cfg(test)]
    pub fn assign(self: &Arc<Self>) -> Assigned {
        let index = self.least_busy().0;
        self.count(index)
    }

    /// The session a worker accepted stays on it, unless that worker has clearly more
    /// sessions than the least busy one (an eighth more, and at least [`SLACK`] more): the
    /// kernel spreads connections over the workers' listeners by address, not by load, and
    /// a session kept where it was accepted needs no move between event loops.
    pub fn assign_from(self: &Arc<Self>, here: usize) -> Assigned {
        let (least, fewest) = self.least_busy();
        let index = match self.workers.get(here) {
            Some(w) if w.sessions.load(Ordering::Relaxed) <= fewest + SLACK.max(fewest / 8) => here,
            _ => least,
        };
        self.count(index)
    }

    /// The least busy worker (the first among equals) and its session count.
    fn least_busy(&self) -> (usize, usize) {
        self.workers
            .iter()
            .enumerate()
            .map(|(i, w)| (i, w.sessions.load(Ordering::Relaxed)))
            .min_by_key(|&(_, n)| n)
            .unwrap_or((0, 0))
    }

    fn count(self: &Arc<Self>, index: usize) -> Assigned {
        if let Some(w) = self.workers.get(index) {
            w.sessions.fetch_add(1, Ordering::Relaxed);
            w.gauge.increment(1.0);
        }
        Assigned {
            workers: self.clone(),
            index,
        }
    }

    /// Sessions running on worker `index`.
    pub fn sessions(&self, index: usize) -> usize {
        self.workers
            .get(index)
            .map_or(0, |w| w.sessions.load(Ordering::Relaxed))
    }

    /// Runs `task` on worker `index`.
    pub fn spawn<F>(&self, index: usize, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self.workers.get(index) {
            Some(w) => drop(w.handle.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }

    /// Ends the worker threads. Tasks still running on them are dropped.
    pub fn stop(&self) {
        self.stop.cancel();
        let threads = std::mem::take(&mut *crate::backend::lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn sessions_go_to_the_least_busy_worker_and_tasks_run_there() {
        let workers = Workers::start(3).unwrap();
        assert_eq!(workers.len(), 3);
        let a = workers.assign();
        let b = workers.assign();
        let c = workers.assign();
        assert_eq!((a.index(), b.index(), c.index()), (0, 1, 2));
        drop(b);
        let d = workers.assign();
        assert_eq!(d.index(), 1, "the freed worker is the least busy");
        let (tx, rx) = tokio::sync::oneshot::channel();
        workers.spawn(2, async move {
            let _ = tx.send((current(), std::thread::current().name().map(String::from)));
        });
        let (index, name) = rx.await.unwrap();
        assert_eq!(index, 2);
        assert_eq!(name.as_deref(), Some("octodb-worker-2"));
        assert_eq!(current(), 0);
        drop((a, c, d));
        workers.stop();
        // Stopped workers drop what they are given.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        workers.spawn(1, async move {
            let _ = tx.send(());
        });
        assert!(rx.await.is_err());
    }

    #[tokio::test]
    async fn accepted_sessions_stay_on_their_worker_unless_it_is_clearly_busier() {
        let workers = Workers::start(2).unwrap();
        let mut held: Vec<Assigned> = (0..=SLACK).map(|_| workers.assign_from(0)).collect();
        assert!(held.iter().all(|a| a.index() == 0), "within the slack");
        held.push(workers.assign_from(0));
        assert_eq!(held.last().unwrap().index(), 1, "past the slack");
        held.push(workers.assign_from(1));
        assert_eq!(
            held.last().unwrap().index(),
            1,
            "the least busy keeps its own"
        );
        // With many sessions, the slack is an eighth of the fewest.
        held.clear();
        held.extend((0..160).map(|_| workers.assign()));
        assert_eq!((workers.sessions(0), workers.sessions(1)), (80, 80));
        held.extend((0..11).map(|_| workers.assign_from(0)));
        assert_eq!(workers.sessions(0), 91);
        held.push(workers.assign_from(0));
        assert_eq!((workers.sessions(0), workers.sessions(1)), (91, 81));
        drop(held);
        assert_eq!((workers.sessions(0), workers.sessions(1)), (0, 0));
        workers.stop();
    }
}
