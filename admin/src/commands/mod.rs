//! One-shot CLI commands (one file each); `main.rs` prints what they return. The `rollout`
//! commands talk to a running admin over its HTTP API ([`api_client`]).

pub mod api_client;
pub mod key_create;
pub mod rollout_plan;
pub mod rollout_progress;
pub mod rollout_start;
pub mod rollout_watch;
pub mod schema_apply;
pub mod tenant_create;
