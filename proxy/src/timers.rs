//! Timers, and calls to the catalog, for code that may run on a worker.
//!
//! A worker's runtime has no timer driver (`crate::workers`): a runtime with one reads the
//! clock and walks its timer wheel every time it waits for events, twice per statement, about
//! 800 instructions per statement even with no timer set. Sessions need timers only off
//! their fast path (a backend connect, a throttled statement, a failed accept), so a worker
//! arms them on the background runtime, which wakes the worker when one fires. Waits for a
//! pool connection, frequent under load, carry a deadline instead (`crate::backend::slots`).
//! The catalog's MySQL client sets timers of its own inside: a worker runs catalog calls on
//! the background runtime altogether (their connections then also stay on one event loop).
//!
//! Off the workers (the background runtime, tests) these are tokio's own timers.

use std::future::Future;
use std::time::Duration;

use octodb_catalog::CatalogError;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A [`timeout`] that fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Waits for `d`.
pub async fn sleep(d: Duration) {
    match crate::workers::background() {
        None => tokio::time::sleep(d).await,
        Some(background) => alarm(&background, d).await,
    }
}

/// `f`'s output if it comes within `d`; `f` is dropped otherwise.
pub async fn timeout<F: Future>(d: Duration, f: F) -> Result<F::Output, Elapsed> {
    match crate::workers::background() {
        None => tokio::time::timeout(d, f).await.map_err(|_| Elapsed),
        Some(background) => {
            let alarm = alarm(&background, d);
            tokio::select! {
                biased;
                out = f => Ok(out),
                () = alarm => Err(Elapsed),
            }
        }
    }
}

/// A catalog call, run on the background runtime when called from a worker. Should the
/// background runtime be gone (the proxy is stopping), the catalog is unavailable.
pub async fn catalog<T, F>(call: F) -> Result<T, CatalogError>
where
    F: Future<Output = Result<T, CatalogError>> + Send + 'static,
    T: Send + 'static,
{
    let Some(background) = crate::workers::background() else {
        return call.await;
    };
    match background.spawn(call).await {
        Ok(result) => result,
        Err(_) => Err(CatalogError::Mysql(
            std::io::Error::new(std::io::ErrorKind::Interrupted, "the proxy is stopping").into(),
        )),
    }
}

/// Completes after `d`, timed by `background`'s timer; at once if `background` has stopped.
/// Dropped early, it ends its timer too.
fn alarm(background: &Handle, d: Duration) -> impl Future<Output = ()> {
    let (mut tx, rx) = oneshot::channel::<()>();
    drop(background.spawn(async move {
        let fired = tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = tx.closed() => false,
        };
        if fired {
            let _ = tx.send(());
        }
    }));
    async move {
        let _ = rx.await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::workers::Workers;

    /// Runs `f` on worker 0 of fresh workers and returns its output.
    async fn on_worker<T: Send + 'static>(
        f: impl Future<Output = T> + Send + 'static,
    ) -> (T, Arc<Workers>) {
        let workers = Workers::start(1).unwrap();
        let (tx, rx) = oneshot::channel();
        workers.spawn(0, async move {
            let _ = tx.send(f.await);
        });
        (rx.await.unwrap(), workers)
    }

    #[tokio::test]
    async fn workers_sleep_and_time_out_on_the_background_timer() {
        let (out, workers) = on_worker(async {
            assert!(crate::workers::background().is_some(), "a worker thread");
            let start = Instant::now();
            sleep(Duration::from_millis(30)).await;
            let slept = start.elapsed();
            let late = timeout(Duration::from_millis(20), std::future::pending::<()>()).await;
            let early = timeout(Duration::from_secs(30), async { 7 }).await;
            (slept, late, early)
        })
        .await;
        let (slept, late, early) = out;
        assert!(slept >= Duration::from_millis(30), "slept {slept:?}");
        assert_eq!(late, Err(Elapsed));
        assert_eq!(early, Ok(7));
        workers.stop();
    }

    #[tokio::test]
    async fn catalog_calls_from_a_worker_run_on_the_background_runtime() {
        let here = std::thread::current().id();
        let (ran_on, workers) = on_worker(catalog(async move {
            Ok::<_, CatalogError>(std::thread::current().id())
        }))
        .await;
        assert_eq!(
            ran_on.unwrap(),
            here,
            "the test's runtime is the background"
        );
        workers.stop();
    }

    #[tokio::test]
    async fn off_the_workers_tokio_times_directly() {
        assert!(crate::workers::background().is_none());
        let late = timeout(Duration::from_millis(10), std::future::pending::<()>()).await;
        assert_eq!(late, Err(Elapsed));
    }
}
