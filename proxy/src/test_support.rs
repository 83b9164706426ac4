//! Fixtures shared by the unit tests.

use octodb_catalog::{Login, TenantStatus};

/// A ready tenant's login with no databases and an empty backend account.
pub fn login(tenant_id: u64, user: &str) -> Login {
    Login {
        tenant_id,
        tenant_name: "t".into(),
        tenant_status: TenantStatus::Ready,
        username: user.into(),
        verifier: [0; 20],
        databases: Vec::new(),
        mapping_version: 1,
        backend_host: String::new(),
        backend_port: 0,
        backend_user: String::new(),
        backend_password: String::new(),
    }
}
