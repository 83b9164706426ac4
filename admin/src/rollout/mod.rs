//! Rollouts of a template version down the tree, in waves: [`create`] works out the databases
//! (channel `auto` on the template or a descendant, not yet at the target) and their waves (a
//! canary of N, then batches of M); [`driver`] moves every active rollout on from the catalog's
//! state, so a restarted admin picks up where the last one stopped; [`cache`] shares workspace
//! models and plans between the databases of a rollout.

pub(crate) mod cache;
pub(crate) mod create;
mod driver;

pub use cache::SharedPlans;
pub use driver::start;

/// Default bound on migrations running at once per backend server.
pub const DEFAULT_PER_BACKEND: u32 = 2;
