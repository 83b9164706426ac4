//! The OctoDB proxy: a MySQL front end that authenticates tenants against the catalog, checks
//! every statement with the policy, and runs it on the tenant's own backend connections.

pub mod audit;
pub mod backend;
pub mod cache;
pub mod config;
pub mod digest;
pub mod error;
pub mod follow;
pub mod limits;
pub mod logins;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod peers;
pub mod protocol;
pub mod proxy_header;
pub mod result_cache;
pub mod server;
pub mod session;
mod sync;
pub mod tenant_labels;
#[cfg(test)]
mod test_support;
pub mod timers;
pub mod workers;

pub use config::ProxyConfig;
pub use server::{bind, prepare, run, serve, Shared, StartError};

/// The proxy's allocator. Statement checking allocates many small, short-lived objects (tokens,
/// AST nodes, rendered text); mimalloc serves them markedly cheaper than the system allocator
/// (malloc and free were about a fifth of the policy's instructions). Declared in the library
/// so that everything running proxy code, benchmarks included, measures what the proxy runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
