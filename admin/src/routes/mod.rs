//! HTTP routes, one file each.

pub mod healthz;
pub mod readyz;
