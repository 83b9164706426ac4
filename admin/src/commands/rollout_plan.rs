//! `octodb-admin rollout plan --template <name|id> --version <v> [--allow kind ...]`: the dry
//! run of a template version (`POST /v1/templates/{id}/versions/{v}/plan`): for every database
//! that would follow it, its status, the statements it would run, lint refusals and warnings,
//! and conflicts with its overlay. Nothing is applied.
//!
//! The plan is clean when no database would be refused, conflict or fail: the caller's exit
//! code says so, for scripts that gate a rollout on it.

use serde_json::{json, Value};

use super::api_client::{template_id, ApiClient, ClientError};

/// Prints the dry run; returns whether it is clean.
pub async fn run(
    client: &ApiClient,
    template: &str,
    version: u32,
    allow: &[String],
) -> Result<bool, ClientError> {
    let id = template_id(client, template).await?;
    let path = format!("/v1/templates/{id}/versions/{version}/plan");
    let dry = client.post(&path, &json!({ "allow": allow })).await?;
    let databases: &[Value] = dry["databases"].as_array().map_or(&[], Vec::as_slice);
    let mut clean = true;
    for d in databases {
        let status = d["status"].as_str().unwrap_or("unknown");
        clean &= !matches!(status, "refused" | "conflict" | "error");
        println!(
            "{}/{}: {status} (version {} -> {})",
            d["tenant"].as_str().unwrap_or("?"),
            d["database"].as_str().unwrap_or("?"),
            d["from_version"],
            d["to_version"]
        );
        for s in d["statements"].as_array().into_iter().flatten() {
            println!("    {}", s.as_str().unwrap_or_default());
        }
        for (label, key) in [
            ("refused", "refused"),
            ("warning", "warnings"),
            ("conflict", "conflicts"),
        ] {
            for f in d[key].as_array().into_iter().flatten() {
                println!("    {label}: {f}");
            }
        }
        if let Some(e) = d["error"].as_str() {
            println!("    error: {e}");
        }
    }
    println!(
        "{} databases, {} workspaces, {} plans: {}",
        databases.len(),
        dry["workspaces"],
        dry["plans"],
        if clean { "clean" } else { "NOT clean" }
    );
    Ok(clean)
}
