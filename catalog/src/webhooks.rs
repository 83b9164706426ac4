//! Tenant webhooks: one URL and signing secret per tenant (the secret encrypted at rest with the
//! catalog key, like backend passwords), and the deliveries to it.
//!
//! Deliveries are rows, so a restart loses none: `pending` -> (attempts) -> `delivered` or
//! `failed`. A worker claims a due delivery by pushing its `next_attempt_at` one lease ahead and
//! counting the attempt in the same `UPDATE`: two admin processes never send the same attempt,
//! and one that dies mid-attempt leaves the delivery due again once the lease runs out.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Row;

use crate::jobs::TS_FORMAT;
use crate::sql::take;
use crate::{Catalog, CatalogError};

/// Longest `last_error` kept (the column's size).
const MAX_ERROR_LEN: usize = 1024;

/// A tenant's webhook, secret decrypted. `Debug` never shows the secret.
#[derive(Clone)]
pub struct Webhook {
    pub tenant_id: u64,
    pub url: String,
    pub secret: String,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("tenant_id", &self.tenant_id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = CatalogError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            other => {
                return Err(CatalogError::Corrupt(format!(
                    "unknown webhook delivery status {other:?}"
                )))
            }
        })
    }
}

/// One delivery as recorded.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub id: u64,
    pub tenant_id: u64,
    pub event: String,
    /// The event's data, JSON text (opaque to the catalog).
    pub payload: String,
    pub status: DeliveryStatus,
    /// Attempts started so far (counted when claimed).
    pub attempts: u32,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    /// HTTP status of the last answer, if the receiver answered.
    pub response_status: Option<u16>,
    pub created_at: String,
    pub updated_at: String,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered { status: u16 },
    /// Try again after `after`.
    Retry {
        after: Duration,
        error: String,
        status: Option<u16>,
    },
    /// No more attempts.
    Failed { error: String, status: Option<u16> },
}

const DELIVERY_COLUMNS: &str = "id, tenant_id, event, payload, status, attempts, \
     DATE_FORMAT(next_attempt_at, {TS}), last_error, response_status, \
     DATE_FORMAT(created_at, {TS}), DATE_FORMAT(updated_at, {TS})";

fn delivery_select(rest: &str) -> String {
    format!(
        "SELECT {} FROM webhook_deliveries {rest}",
        DELIVERY_COLUMNS.replace("{TS}", TS_FORMAT)
    )
}

fn delivery_from_row(mut r: Row) -> Result<WebhookDelivery, CatalogError> {
    Ok(WebhookDelivery {
        id: take(&mut r, 0, "webhook_deliveries.id")?,
        tenant_id: take(&mut r, 1, "webhook_deliveries.tenant_id")?,
        event: take(&mut r, 2, "webhook_deliveries.event")?,
        payload: take(&mut r, 3, "webhook_deliveries.payload")?,
        status: take::<String>(&mut r, 4, "webhook_deliveries.status")?.parse()?,
        attempts: take(&mut r, 5, "webhook_deliveries.attempts")?,
        next_attempt_at: take(&mut r, 6, "webhook_deliveries.next_attempt_at")?,
        last_error: take(&mut r, 7, "webhook_deliveries.last_error")?,
        response_status: take(&mut r, 8, "webhook_deliveries.response_status")?,
        created_at: take(&mut r, 9, "webhook_deliveries.created_at")?,
        updated_at: take(&mut r, 10, "webhook_deliveries.updated_at")?,
    })
}

/// `d` in whole microseconds, for `INTERVAL ? MICROSECOND` (saturating).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// At most [`MAX_ERROR_LEN`] bytes, cut on a character boundary.
fn clip(error: &str) -> &str {
    if error.len() <= MAX_ERROR_LEN {
        return error;
    }
    let mut end = MAX_ERROR_LEN;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

impl Catalog {
    /// Sets (or replaces) tenant `tenant_id`'s webhook. The tenant must exist (`NotFound`).
    pub async fn set_webhook(
        &self,
        tenant_id: u64,
        url: &str,
        secret: &str,
    ) -> Result<(), CatalogError> {
        let enc = self.key.encrypt(secret)?;
        let mut conn = self.pool.get_conn().await?;
        let result = conn
            .exec_drop(
                "INSERT INTO tenant_webhooks (tenant_id, url, secret_enc) VALUES (?, ?, ?) \
                 ON DUPLICATE KEY UPDATE url = VALUES(url), secret_enc = VALUES(secret_enc)",
                (tenant_id, url, enc),
            )
            .await;
        match result {
            // ER_NO_REFERENCED_ROW_2: the tenant is gone.
            Err(mysql_async::Error::Server(e)) if e.code == 1452 => Err(CatalogError::NotFound(
                format!("no tenant with id {tenant_id}"),
            )),
            other => Ok(other?),
        }
    }

    /// Tenant `tenant_id`'s webhook, if it has one.
    pub async fn webhook(&self, tenant_id: u64) -> Result<Option<Webhook>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<(String, String)> = conn
            .exec_first(
                "SELECT url, secret_enc FROM tenant_webhooks WHERE tenant_id = ?",
                (tenant_id,),
            )
            .await?;
        row.map(|(url, enc)| {
            Ok(Webhook {
                tenant_id,
                url,
                secret: self.key.decrypt(&enc)?,
            })
        })
        .transpose()
    }

    /// Replaces the secret of an existing webhook; false if the tenant has none.
    pub async fn rotate_webhook_secret(
        &self,
        tenant_id: u64,
        secret: &str,
    ) -> Result<bool, CatalogError> {
        let enc = self.key.encrypt(secret)?;
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE tenant_webhooks SET secret_enc = ? WHERE tenant_id = ?",
            (enc, tenant_id),
        )
        .await?;
        Ok(conn.affected_rows() > 0)
    }

    /// Removes the tenant's webhook; false if it had none. Pending deliveries then fail at
    /// their next attempt (nowhere to send them).
    pub async fn delete_webhook(&self, tenant_id: u64) -> Result<bool, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "DELETE FROM tenant_webhooks WHERE tenant_id = ?",
            (tenant_id,),
        )
        .await?;
        Ok(conn.affected_rows() > 0)
    }

    /// Records a pending delivery of `event` with `payload` (JSON text), due now, if the tenant
    /// has a webhook. Returns its id, or `None` when there is no webhook to deliver to.
    pub async fn enqueue_webhook_delivery(
        &self,
        tenant_id: u64,
        event: &str,
        payload: &str,
    ) -> Result<Option<u64>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "INSERT INTO webhook_deliveries (tenant_id, event, payload) \
             SELECT tenant_id, ?, ? FROM tenant_webhooks WHERE tenant_id = ?",
            (event, payload, tenant_id),
        )
        .await?;
        if conn.affected_rows() == 0 {
            return Ok(None);
        }
        Ok(conn.last_insert_id().filter(|id| *id > 0))
    }

    /// Ids of pending deliveries due now, oldest due first, at most `limit`.
    pub async fn due_webhook_deliveries(&self, limit: u32) -> Result<Vec<u64>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        Ok(conn
            .exec(
                "SELECT id FROM webhook_deliveries \
                 WHERE status = 'pending' AND next_attempt_at <= NOW(6) \
                 ORDER BY next_attempt_at, id LIMIT ?",
                (limit,),
            )
            .await?)
    }

    /// How long until the next pending delivery is due (zero if one is due now); `None` if
    /// nothing is pending.
    pub async fn next_webhook_due(&self) -> Result<Option<Duration>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let wait: Option<Option<i64>> = conn
            .query_first(
                "SELECT TIMESTAMPDIFF(MICROSECOND, NOW(6), MIN(next_attempt_at)) \
                 FROM webhook_deliveries WHERE status = 'pending'",
            )
            .await?;
        Ok(wait
            .flatten()
            .map(|us| Duration::from_micros(u64::try_from(us).unwrap_or(0))))
    }

    /// Claims delivery `id` for one attempt if it is pending and due: counts the attempt and
    /// moves `next_attempt_at` a `lease` ahead (so that nobody else takes it meanwhile, and it
    /// comes back if this process dies). `None` if it is not claimable.
    pub async fn claim_webhook_delivery(
        &self,
        id: u64,
        lease: Duration,
    ) -> Result<Option<WebhookDelivery>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE webhook_deliveries \
             SET attempts = attempts + 1, next_attempt_at = NOW(6) + INTERVAL ? MICROSECOND \
             WHERE id = ? AND status = 'pending' AND next_attempt_at <= NOW(6)",
            (micros(lease), id),
        )
        .await?;
        if conn.affected_rows() == 0 {
            return Ok(None);
        }
        let row: Option<Row> = conn
            .exec_first(delivery_select("WHERE id = ?"), (id,))
            .await?;
        row.map(delivery_from_row).transpose()
    }

    /// Records how an attempt at delivery `id` ended.
    pub async fn finish_webhook_delivery(
        &self,
        id: u64,
        outcome: &DeliveryOutcome,
    ) -> Result<(), CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        match outcome {
            DeliveryOutcome::Delivered { status } => {
                conn.exec_drop(
                    "UPDATE webhook_deliveries SET status = 'delivered', response_status = ?, \
                     last_error = NULL WHERE id = ?",
                    (status, id),
                )
                .await?
            }
            DeliveryOutcome::Retry {
                after,
                error,
                status,
            } => {
                conn.exec_drop(
                    "UPDATE webhook_deliveries SET response_status = ?, last_error = ?, \
                     next_attempt_at = NOW(6) + INTERVAL ? MICROSECOND WHERE id = ?",
                    (status, clip(error), micros(*after), id),
                )
                .await?
            }
            DeliveryOutcome::Failed { error, status } => {
                conn.exec_drop(
                    "UPDATE webhook_deliveries SET status = 'failed', response_status = ?, \
                     last_error = ? WHERE id = ?",
                    (status, clip(error), id),
                )
                .await?
            }
        }
        Ok(())
    }

    /// One delivery by id.
    pub async fn webhook_delivery(&self, id: u64) -> Result<Option<WebhookDelivery>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<Row> = conn
            .exec_first(delivery_select("WHERE id = ?"), (id,))
            .await?;
        row.map(delivery_from_row).transpose()
    }

    /// The tenant's deliveries with ids above `after`, oldest first, at most `limit`.
    pub async fn list_webhook_deliveries(
        &self,
        tenant_id: u64,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                delivery_select("WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?"),
                (tenant_id, after.unwrap_or(0), limit),
            )
            .await?;
        rows.into_iter().map(delivery_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for s in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ] {
            assert_eq!(s.as_str().parse::<DeliveryStatus>().unwrap(), s);
        }
        assert_eq!(
            "sent".parse::<DeliveryStatus>().unwrap_err().kind(),
            "corrupt"
        );
    }

    #[test]
    fn errors_are_clipped_on_char_boundaries() {
        let long = "é".repeat(MAX_ERROR_LEN);
        let c = clip(&long);
        assert!(c.len() <= MAX_ERROR_LEN);
        assert!(c.chars().all(|ch| ch == 'é'));
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn debug_hides_the_secret() {
        let w = Webhook {
            tenant_id: 1,
            url: "https://example.com/hook".to_string(),
            secret: "whsec_topsecret".to_string(),
        };
        assert!(!format!("{w:?}").contains("topsecret"));
    }
}
