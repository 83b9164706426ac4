//! A tenant pool's connection slots: at most `max` backend connections lent out (or being
//! opened) at once, and the sessions waiting for one.
//!
//! Waiting sessions queue per worker (`crate::workers`). A slot given back goes to a session
//! of the same worker first: that session then finds the connection just returned in its own
//! worker's idle list, and neither a wake-up nor the connection crosses threads. But not at
//! any price: when another worker's first waiter has waited longer by more than
//! [`LOCAL_GRACE`], the slot goes to it. Without that bound a saturated pool could end with
//! every slot on one worker, whose own waiters would take each slot back as it came free,
//! while the other worker's sessions waited until their deadline. Within a worker, waiters
//! are served in order.
//!
//! The cap follows the tenant's limit at run time: it grows at once, and shrinks at once by
//! the free slots, the rest as lent slots come back (no borrower is cut short).
//!
//! A waiter carries its deadline. Workers have no timers (`crate::timers`), and arming one
//! on the main thread for every wait would cost two wake-ups across threads each time a busy
//! pool makes a session wait: instead the proxy's sweeper ([`Slots::expire`], run by
//! `crate::server` every [`SWEEP_EVERY`]) drops the waiters past their deadline, which then
//! give up. Off the workers (tests) a wait is timed by tokio as well. The sweeper walks the
//! pools only when someone may be waiting ([`WaitLog`]): a proxy of many tenants whose pools
//! are not busy costs it nothing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub struct Slots {
    state: Mutex<State>,
    log: Arc<WaitLog>,
}

/// Whether any pool of the proxy may have a waiter: the waiters queued so far, on every
/// pool, and what the sweeper saw when it last walked them.
#[derive(Default)]
pub struct WaitLog {
    queued: AtomicU64,
    /// `queued` when the sweeper last walked, and whether that walk left waiters behind.
    swept: Mutex<(u64, bool)>,
}

impl WaitLog {
    /// Counted after the waiter is in its queue, so that a walk that read the count after
    /// this finds it.
    fn queued(&self) {
        self.queued.fetch_add(1, Ordering::AcqRel);
    }

    /// The count to hand to [`WaitLog::swept`] when a walk may find a waiter: someone queued
    /// since the last walk, or that walk left some waiting. `None`: nobody can be waiting.
    pub fn due(&self) -> Option<u64> {
        let queued = self.queued.load(Ordering::Acquire);
        let (seen, left) = *super::lock(&self.swept);
        (queued != seen || left).then_some(queued)
    }

    /// A walk that began at count `at` (from [`WaitLog::due`]) left `waiting` waiters.
    pub fn swept(&self, at: u64, waiting: usize) {
        *super::lock(&self.swept) = (at, waiting > 0);
    }
}

struct State {
    max: usize,
    free: usize,
    /// Slots to drop as they come back, after the cap shrank while they were lent.
    debt: usize,
    /// Per worker, in arrival order. A waiter that gave up leaves its sender behind; sending
    /// to it fails and the slot goes to the next.
    waiting: Box<[VecDeque<Waiter>]>,
}

/// How often waiters past their deadline are let go: a wait ends at most this much late.
pub const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// How much less than another worker's first waiter a waiter of the slot's own worker may
/// have waited and still be served first.
pub const LOCAL_GRACE: Duration = Duration::from_millis(5);

struct Waiter {
    tx: oneshot::Sender<()>,
    until: Instant,
}

/// A lent slot; dropped, it goes to a waiter or back to the free ones.
pub struct Slot {
    slots: Arc<Slots>,
    worker: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.give_back(self.worker);
    }
}

/// A queued waiter's end. Dropped before it took its slot (timeout, or the session went
/// away), it closes the channel and gives back a slot that reached it meanwhile.
struct Waiting {
    rx: Option<oneshot::Receiver<()>>,
    slots: Arc<Slots>,
    worker: usize,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.slots.give_back(self.worker);
            }
        }
    }
}

impl Slots {
    /// `log`: the proxy's, shared by all its pools.
    pub fn new(max: usize, workers: usize, log: Arc<WaitLog>) -> Arc<Slots> {
        Arc::new(Slots {
            state: Mutex::new(State {
                max,
                free: max,
                debt: 0,
                waiting: (0..workers.max(1)).map(|_| VecDeque::new()).collect(),
            }),
            log,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        super::lock(&self.state)
    }

    /// The cap now.
    pub fn max(&self) -> usize {
        self.lock().max
    }

    /// A free slot for a session of `worker`, if there is one.
    pub fn try_take(self: &Arc<Self>, worker: usize) -> Option<Slot> {
        let mut state = self.lock();
        if state.free == 0 {
            return None;
        }
        state.free -= 1;
        Some(Slot {
            slots: self.clone(),
            worker,
        })
    }

    /// A slot for a session of `worker`, waiting at most `wait`; `None` when none came.
    pub async fn take(self: &Arc<Self>, worker: usize, wait: Duration) -> Option<Slot> {
        let rx = {
            let mut state = self.lock();
            if state.free > 0 {
                state.free -= 1;
                return Some(Slot {
                    slots: self.clone(),
                    worker,
                });
            }
            let (tx, rx) = oneshot::channel();
            let at = worker.min(state.waiting.len() - 1);
            let until = Instant::now() + wait;
            state.waiting[at].push_back(Waiter { tx, until });
            rx
        };
        self.log.queued();
        let mut waiting = Waiting {
            rx: Some(rx),
            slots: self.clone(),
            worker,
        };
        let rx = waiting.rx.as_mut()?;
        let handed = if crate::workers::on_worker() {
            rx.await.is_ok()
        } else {
            matches!(tokio::time::timeout(wait, rx).await, Ok(Ok(())))
        };
        if !handed {
            // Timed out: the guard gives back a slot that arrived at the last moment.
            return None;
        }
        // Taken: nothing for the guard to give back.
        waiting.rx = None;
        Some(Slot {
            slots: self.clone(),
            worker,
        })
    }

    /// Lets go of the waiters whose deadline is past `now` (they give up: see the module
    /// documentation) and forgets those that went away. Returns how many gave up, and how
    /// many still wait.
    pub fn expire(&self, now: Instant) -> (usize, usize) {
        let mut state = self.lock();
        let (mut expired, mut waiting) = (0, 0);
        for queue in state.waiting.iter_mut() {
            queue.retain(|w| {
                let gone = w.tx.is_closed();
                let late = !gone && w.until <= now;
                expired += usize::from(late);
                !gone && !late
            });
            waiting += queue.len();
        }
        (expired, waiting)
    }

    /// Follows a new cap.
    pub fn resize(&self, max: usize) {
        let mut state = self.lock();
        if state.max == max {
            return;
        }
        if max > state.max {
            let mut more = max - state.max;
            let paid = more.min(state.debt);
            state.debt -= paid;
            more -= paid;
            for _ in 0..more {
                hand_over(&mut state, 0);
            }
        } else {
            let fewer = state.max - max;
            let now = fewer.min(state.free);
            state.free -= now;
            state.debt += fewer - now;
        }
        state.max = max;
    }

    fn give_back(&self, worker: usize) {
        let mut state = self.lock();
        if state.debt > 0 {
            state.debt -= 1;
            return;
        }
        hand_over(&mut state, worker);
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        let state = self.lock();
        (state.free, state.debt)
    }
}

/// One slot to the first live waiter of `worker`, unless another worker's first waiter has
/// waited longer by more than [`LOCAL_GRACE`] (then to the one that has waited longest); to
/// the free ones when nobody waits. Waiters share the pool's wait, so the earliest deadline
/// is the longest wait.
fn hand_over(state: &mut State, worker: usize) {
    let own = worker.min(state.waiting.len().saturating_sub(1));
    loop {
        for queue in state.waiting.iter_mut() {
            while queue.front().is_some_and(|w| w.tx.is_closed()) {
                queue.pop_front();
            }
        }
        let oldest = state
            .waiting
            .iter()
            .enumerate()
            .filter_map(|(at, q)| q.front().map(|w| (w.until, at)))
            .min();
        let Some((oldest, oldest_at)) = oldest else {
            state.free += 1;
            return;
        };
        let at = match state.waiting.get(own).and_then(VecDeque::front) {
            Some(w) if w.until <= oldest + LOCAL_GRACE => own,
            _ => oldest_at,
        };
        let Some(waiter) = state.waiting.get_mut(at).and_then(VecDeque::pop_front) else {
            state.free += 1;
            return;
        };
        if waiter.tx.send(()).is_ok() {
            return;
        }
        // Went away since the look above: the next one.
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SHORT: Duration = Duration::from_millis(30);
    const LONG: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn the_cap_holds_and_a_waiter_times_out() {
        let slots = Slots::new(1, 1, Default::default());
        let held = slots.try_take(0).unwrap();
        assert!(slots.try_take(0).is_none());
        assert!(slots.take(0, SHORT).await.is_none());
        drop(held);
        assert_eq!(slots.counts(), (1, 0), "the timed-out waiter took nothing");
        assert!(slots.take(0, SHORT).await.is_some());
    }

    /// One slot of two workers, held by worker 1; `waiters` (worker, patience) queue in that
    /// order, then the slot is given back. Returns the workers in the order they were served.
    async fn served_in_order(waiters: [(usize, Duration); 2]) -> Vec<usize> {
        let slots = Slots::new(1, 2, Default::default());
        let held = slots.try_take(1).unwrap();
        let (order_tx, mut order) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for (worker, wait) in waiters {
            let (mine, order_tx) = (slots.clone(), order_tx.clone());
            tasks.push(tokio::spawn(async move {
                let slot = mine.take(worker, wait).await.unwrap();
                order_tx.send(worker).unwrap();
                tokio::time::sleep(SHORT).await;
                drop(slot);
            }));
            while slots.lock().waiting[worker].is_empty() {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        let mut served = Vec::new();
        for _ in 0..waiters.len() {
            served.extend(order.recv().await);
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(slots.counts(), (1, 0));
        served
    }

    #[tokio::test]
    async fn a_slot_goes_to_its_own_workers_waiters_first() {
        // Worker 0's session queues first, worker 1's second.
        let served = served_in_order([(0, LONG), (1, LONG)]).await;
        assert_eq!(
            served.first(),
            Some(&1),
            "worker 1 gave it back to worker 1"
        );
        assert_eq!(served.get(1), Some(&0), "then to the other worker's waiter");
    }

    #[tokio::test]
    async fn a_waiter_of_another_worker_that_waited_longer_comes_first() {
        // Worker 0's waiter queued long enough before worker 1's (here: its deadline is a
        // minute earlier, as if it had queued a minute before).
        let served = served_in_order([(0, LONG), (1, LONG + Duration::from_secs(60))]).await;
        assert_eq!(served.first(), Some(&0), "the longer wait first");
        assert_eq!(served.get(1), Some(&1));
    }

    #[tokio::test]
    async fn a_waiter_that_goes_away_gives_back_what_reached_it() {
        let slots = Slots::new(1, 1, Default::default());
        let held = slots.try_take(0).unwrap();
        let mut waiter = Box::pin(slots.take(0, LONG));
        // Polled once: queued.
        assert!(tokio::time::timeout(SHORT, &mut waiter).await.is_err());
        // The slot is handed to it, but it is dropped before it looks.
        drop(held);
        drop(waiter);
        assert_eq!(slots.counts(), (1, 0));
        // A waiter gone before a slot came is skipped.
        let held = slots.try_take(0).unwrap();
        let mut gone = Box::pin(slots.take(0, LONG));
        assert!(tokio::time::timeout(SHORT, &mut gone).await.is_err());
        drop(gone);
        drop(held);
        assert_eq!(slots.counts(), (1, 0));
    }

    #[tokio::test]
    async fn the_cap_follows_changes_without_cutting_borrowers_short() {
        let slots = Slots::new(4, 1, Default::default());
        slots.resize(6);
        assert_eq!(slots.counts(), (6, 0));
        // Three out, shrink to one: the three free slots go now, two more as they return.
        let (a, b, c) = (
            slots.try_take(0).unwrap(),
            slots.try_take(0).unwrap(),
            slots.try_take(0).unwrap(),
        );
        slots.resize(1);
        assert_eq!(slots.counts(), (0, 2));
        drop((a, b));
        assert_eq!(slots.counts(), (0, 0));
        drop(c);
        assert_eq!(slots.counts(), (1, 0));
        assert_eq!(slots.max(), 1);
        // Growing while slots are out and owed: the debt is cancelled first.
        let a = slots.try_take(0).unwrap();
        assert!(slots.try_take(0).is_none(), "the pool holds one");
        slots.resize(3);
        slots.resize(2);
        assert_eq!(slots.counts(), (1, 0));
        drop(a);
        assert_eq!(slots.counts(), (2, 0));
        // Growing hands the new slots to waiters.
        let (a, b) = (slots.try_take(0).unwrap(), slots.try_take(0).unwrap());
        let waiter = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take(0, LONG).await.is_some() }
        });
        while slots.lock().waiting[0].is_empty() {
            tokio::task::yield_now().await;
        }
        slots.resize(3);
        assert!(waiter.await.unwrap());
        drop((a, b));
        assert_eq!(slots.counts(), (3, 0));
    }

    #[tokio::test]
    async fn the_sweeper_lets_go_of_waiters_past_their_deadline() {
        let log = Arc::new(WaitLog::default());
        assert_eq!(log.due(), None, "nobody ever waited");
        let slots = Slots::new(1, 2, log.clone());
        let held = slots.try_take(0).unwrap();
        assert_eq!(log.due(), None, "a free slot is no wait");
        let early = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take(0, Duration::from_secs(5)).await.is_some() }
        });
        let late = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take(1, Duration::from_secs(60)).await.is_some() }
        });
        while slots
            .lock()
            .waiting
            .iter()
            .map(VecDeque::len)
            .sum::<usize>()
            < 2
        {
            tokio::task::yield_now().await;
        }
        let at = log.due().expect("two waiters queued");
        assert_eq!(slots.expire(Instant::now()), (0, 2), "nobody is late yet");
        log.swept(at, 2);
        let at = log.due().expect("the last walk left waiters");
        let later = Instant::now() + Duration::from_secs(30);
        assert_eq!(slots.expire(later), (1, 1));
        log.swept(at, 1);
        assert!(!early.await.unwrap(), "the first waiter gave up");
        drop(held);
        assert!(late.await.unwrap(), "the second one got the slot");
        assert_eq!(slots.counts(), (1, 0));
        let at = log.due().expect("the last walk left a waiter");
        assert_eq!(slots.expire(later), (0, 0));
        log.swept(at, 0);
        assert_eq!(log.due(), None, "nobody left, nobody queued since");
        // A new waiter makes the next walk due.
        let held = slots.try_take(0).unwrap();
        let third = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take(0, Duration::from_secs(60)).await.is_some() }
        });
        while log.due().is_none() {
            tokio::task::yield_now().await;
        }
        drop(held);
        assert!(third.await.unwrap());
    }
}
