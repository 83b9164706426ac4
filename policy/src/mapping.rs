//! The tenant's name mapping: which logical databases it owns and their physical names.

use std::collections::HashMap;

/// A tenant's logical -> physical database names. Logical names are compared as MySQL compares
/// database names on a case-sensitive file system (exactly), and they are already validated
/// (`[a-z][a-z0-9_]*`) by the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// logical name -> physical name
    pub databases: HashMap<String, String>,
    /// Bumped by the catalog whenever the mapping changes; part of decision cache keys.
    pub version: u64,
}

impl Mapping {
    /// The physical name of one of the tenant's logical databases.
    pub fn physical(&self, logical: &str) -> Option<&str> {
        self.databases.get(logical).map(String::as_str)
    }
}

/// What the policy needs to know about the session a statement arrives on.
#[derive(Debug, Clone, Copy)]
pub struct SessionContext<'a> {
    /// The tenant's databases.
    pub mapping: &'a Mapping,
    /// The session's current logical database (`USE`, COM_INIT_DB, handshake), if any.
    pub current_db: Option<&'a str>,
    /// The proxy user name the session authenticated as (for USER(), CURRENT_USER()).
    pub user: &'a str,
}
