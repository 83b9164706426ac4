//! Statement digests (table `query_digests`, migration 10): per tenant and normalised statement,
//! how often it ran, how long it took, the rows it returned or changed and its errors.
//!
//! Each proxy aggregates in memory and publishes deltas every few seconds; a delta is added to
//! the proxy's own row (`INSERT ... ON DUPLICATE KEY UPDATE` with sums, minima and maxima), so
//! a lost or repeated flush never corrupts another proxy's numbers, and readers sum over
//! proxies. Rows not seen for a while are pruned by the admin.

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};
use serde::Serialize;

use crate::jobs::TS_FORMAT;
use crate::sql::take;
use crate::{Catalog, CatalogError, UtcTimestamp};

/// Longest digest text stored, in characters (the proxy cuts longer ones before this).
pub const MAX_DIGEST_TEXT_CHARS: usize = 4096;

/// Rows per upsert statement: 12 placeholders each, far under the protocol's 65,535.
const BATCH: usize = 500;

/// What one proxy saw of one digest of one tenant since its last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestDelta {
    pub tenant_id: u64,
    /// The digest's 64-bit hash.
    pub digest: u64,
    pub text: String,
    pub count: u64,
    /// Total, smallest and largest latency, in microseconds.
    pub sum_us: u64,
    pub min_us: u64,
    pub max_us: u64,
    /// Rows sent (result sets) or affected (writes).
    pub rows: u64,
    pub errors: u64,
    pub first_seen: UtcTimestamp,
    pub last_seen: UtcTimestamp,
}

/// One digest of a tenant, summed over every proxy that published it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestSummary {
    /// The digest's hash, as 16 hex digits (JSON numbers cannot carry 64 bits exactly).
    pub digest: String,
    pub text: String,
    pub count: u64,
    pub total_us: u64,
    pub min_us: u64,
    pub max_us: u64,
    /// `total_us / count`, rounded down.
    pub avg_us: u64,
    pub rows: u64,
    pub errors: u64,
    /// RFC 3339 UTC.
    pub first_seen: String,
    pub last_seen: String,
}

impl Catalog {
    /// Adds `deltas`, seen by proxy `proxy_id`, to that proxy's rows.
    pub async fn add_digest_deltas(
        &self,
        proxy_id: &str,
        deltas: &[DigestDelta],
    ) -> Result<(), CatalogError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.get_conn().await?;
        for chunk in deltas.chunks(BATCH) {
            // Only placeholders are generated; every value is bound.
            let row =
                format!("(?, ?, ?, LEFT(?, {MAX_DIGEST_TEXT_CHARS}), ?, ?, ?, ?, ?, ?, ?, ?)");
            let rows = vec![row.as_str(); chunk.len()];
            let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 12);
            for d in chunk {
                params.extend([
                    d.tenant_id.into(),
                    d.digest.into(),
                    proxy_id.into(),
                    d.text.as_str().into(),
                    d.count.into(),
                    d.sum_us.into(),
                    d.min_us.into(),
                    d.max_us.into(),
                    d.rows.into(),
                    d.errors.into(),
                    d.first_seen.to_value(),
                    d.last_seen.to_value(),
                ]);
            }
            conn.exec_drop(
                format!(
                    "INSERT INTO query_digests (tenant_id, digest, proxy_id, digest_text, \
                     exec_count, sum_us, min_us, max_us, rows_total, errors, first_seen, \
                     last_seen) VALUES {} \
                     ON DUPLICATE KEY UPDATE \
                     exec_count = exec_count + VALUES(exec_count), \
                     sum_us = sum_us + VALUES(sum_us), \
                     min_us = LEAST(min_us, VALUES(min_us)), \
                     max_us = GREATEST(max_us, VALUES(max_us)), \
                     rows_total = rows_total + VALUES(rows_total), \
                     errors = errors + VALUES(errors), \
                     first_seen = LEAST(first_seen, VALUES(first_seen)), \
                     last_seen = GREATEST(last_seen, VALUES(last_seen))",
                    rows.join(", ")
                ),
                params,
            )
            .await?;
        }
        Ok(())
    }

    /// Tenant `tenant_id`'s digests summed over proxies, most total time first (then by
    /// hash, so the order is stable), at most `limit`.
    pub async fn tenant_digests(
        &self,
        tenant_id: u64,
        limit: u32,
    ) -> Result<Vec<DigestSummary>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                format!(
                    "SELECT digest, MIN(digest_text), CAST(SUM(exec_count) AS UNSIGNED), \
                     CAST(SUM(sum_us) AS UNSIGNED), MIN(min_us), MAX(max_us), \
                     CAST(SUM(rows_total) AS UNSIGNED), CAST(SUM(errors) AS UNSIGNED), \
                     DATE_FORMAT(MIN(first_seen), {TS_FORMAT}), \
                     DATE_FORMAT(MAX(last_seen), {TS_FORMAT}) \
                     FROM query_digests WHERE tenant_id = ? GROUP BY digest \
                     ORDER BY SUM(sum_us) DESC, digest LIMIT ?"
                ),
                (tenant_id, limit),
            )
            .await?;
        rows.into_iter().map(summary).collect()
    }

    /// Forgets tenant `tenant_id`'s digests (every proxy's); returns the rows removed.
    pub async fn reset_tenant_digests(&self, tenant_id: u64) -> Result<u64, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "DELETE FROM query_digests WHERE tenant_id = ?",
            (tenant_id,),
        )
        .await?;
        Ok(conn.affected_rows())
    }

    /// Removes digest rows last seen before `before` (in batches, so no long lock); returns
    /// how many went.
    pub async fn prune_digests(&self, before: UtcTimestamp) -> Result<u64, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let mut removed = 0;
        loop {
            conn.exec_drop(
                "DELETE FROM query_digests WHERE last_seen < ? LIMIT 1000",
                (before.to_value(),),
            )
            .await?;
            let n = conn.affected_rows();
            removed += n;
            if n < 1000 {
                return Ok(removed);
            }
        }
    }
}

fn summary(mut r: Row) -> Result<DigestSummary, CatalogError> {
    let digest: u64 = take(&mut r, 0, "query_digests.digest")?;
    let count: u64 = take(&mut r, 2, "query_digests.exec_count")?;
    let total_us: u64 = take(&mut r, 3, "query_digests.sum_us")?;
    Ok(DigestSummary {
        digest: format!("{digest:016x}"),
        text: take(&mut r, 1, "query_digests.digest_text")?,
        count,
        total_us,
        min_us: take(&mut r, 4, "query_digests.min_us")?,
        max_us: take(&mut r, 5, "query_digests.max_us")?,
        avg_us: total_us.checked_div(count).unwrap_or(0),
        rows: take(&mut r, 6, "query_digests.rows_total")?,
        errors: take(&mut r, 7, "query_digests.errors")?,
        first_seen: take(&mut r, 8, "query_digests.first_seen")?,
        last_seen: take(&mut r, 9, "query_digests.last_seen")?,
    })
}
