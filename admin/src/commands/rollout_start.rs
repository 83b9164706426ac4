//! `octodb-admin rollout start --template <name|id> --version <v> [--canary N] [--batch M]
//! [--max-failures F] [--per-backend P] [--allow kind ...] [--detach]`: starts a rollout of a
//! template version through the admin API (`POST /v1/templates/{id}/versions/{v}/rollout`),
//! then watches it ([`super::rollout_watch`]) unless `--detach`. Options left out take the
//! server's defaults.

use serde_json::{json, Value};

use super::api_client::{template_id, ApiClient, ClientError};

/// What to roll out, and how.
#[derive(Debug, Clone, Default)]
pub struct StartRollout {
    /// A template name, or its id.
    pub template: String,
    pub version: u32,
    pub canary: Option<u32>,
    pub batch: Option<u32>,
    pub max_failures: Option<u32>,
    pub per_backend: Option<u32>,
    /// Risky changes accepted: kinds (`drop_column`) or keys (`drop_column:items.note`).
    pub allow: Vec<String>,
}

impl StartRollout {
    fn body(&self) -> Value {
        let mut body = json!({ "allow": self.allow });
        for (name, v) in [
            ("canary", self.canary),
            ("batch", self.batch),
            ("max_failures", self.max_failures),
            ("per_backend", self.per_backend),
        ] {
            if let Some(v) = v {
                body[name] = v.into();
            }
        }
        body
    }
}

/// Starts the rollout; returns its id (and prints what it reaches).
pub async fn run(client: &ApiClient, req: &StartRollout) -> Result<u64, ClientError> {
    let id = template_id(client, &req.template).await?;
    let path = format!("/v1/templates/{id}/versions/{}/rollout", req.version);
    let created = client.post(&path, &req.body()).await?;
    let rollout = created["id"]
        .as_u64()
        .ok_or_else(|| ClientError::Unexpected {
            url: path.clone(),
            message: format!("no rollout id in {created}"),
        })?;
    println!(
        "rollout {rollout} started: template {} version {}, {} databases to migrate, {} already there",
        req.template, req.version, created["databases"], created["skipped"]
    );
    Ok(rollout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_given_options_are_sent() {
        let req = StartRollout {
            template: "base".into(),
            version: 2,
            canary: Some(1),
            allow: vec!["drop_column".into()],
            ..StartRollout::default()
        };
        assert_eq!(req.body(), json!({ "allow": ["drop_column"], "canary": 1 }));
    }
}
