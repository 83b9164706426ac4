//! Pruning of the statement digests the proxies publish (`query_digests`): a digest not seen
//! for [`RETENTION`] is dropped, so the table holds what tenants run now rather than everything
//! they ever ran (and a proxy that went away leaves no rows behind for long). Several admins
//! pruning at once only delete the same old rows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use octodb_catalog::{Catalog, UtcTimestamp};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a digest row is kept after it was last seen.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often old rows are looked for; the first time one interval after start.
const EVERY: Duration = Duration::from_secs(3600);

/// The instant before which rows go: `RETENTION` before `now`.
pub fn cutoff(now: SystemTime) -> Option<UtcTimestamp> {
    let since_epoch = now
        .checked_sub(RETENTION)?
        .duration_since(UNIX_EPOCH)
        .ok()?;
    UtcTimestamp::from_unix_micros(i64::try_from(since_epoch.as_micros()).ok()?)
}

/// Starts the pruning on `tracker`, stopped by `shutdown`.
pub fn start(catalog: Catalog, shutdown: CancellationToken, tracker: &TaskTracker) {
    tracker.spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(EVERY) => {}
            }
            let Some(before) = cutoff(SystemTime::now()) else {
                continue;
            };
            match catalog.prune_digests(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "pruned old statement digests"),
                Err(e) => tracing::warn!(error = %e, "cannot prune statement digests"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_a_week_back() {
        let now = UNIX_EPOCH + Duration::from_secs(30 * 24 * 3600);
        let cut = cutoff(now).map(UtcTimestamp::unix_micros);
        assert_eq!(cut, Some(23 * 24 * 3600 * 1_000_000));
        assert_eq!(cutoff(UNIX_EPOCH), None);
    }
}
