//! One-shot CLI commands (one file each); `main.rs` prints what they return.

pub mod key_create;
pub mod schema_apply;
pub mod tenant_create;
