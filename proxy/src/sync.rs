//! Locking shared by the proxy's modules.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, also after a panic elsewhere left it poisoned: no critical section of the
/// proxy's leaves its data half changed, so one session's panic must not take the shared
/// state, and every later session, down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
