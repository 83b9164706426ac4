//! Dependency order for tables linked by foreign keys: parents before children when creating,
//! children before parents when dropping. Deterministic (name order among equals) so that one
//! desired state always gives the same plan.

use std::collections::{BTreeMap, BTreeSet};

/// Orders the keys of `deps` (name -> names it depends on) so that every name comes after its
/// dependencies. Names caught in a cycle are appended in name order; the flag says whether that
/// happened. Dependencies on names that are not keys are ignored.
pub(crate) fn dependency_order(deps: &BTreeMap<String, Vec<String>>) -> (Vec<String>, bool) {
    let mut pending: BTreeMap<&str, BTreeSet<&str>> = deps
        .iter()
        .map(|(name, on)| {
            let on = on
                .iter()
                .map(String::as_str)
                .filter(|d| *d != name && deps.contains_key(*d))
                .collect();
            (name.as_str(), on)
        })
        .collect();
    let mut order = Vec::with_capacity(deps.len());
    loop {
        let ready: Vec<&str> = pending
            .iter()
            .filter(|(_, on)| on.is_empty())
            .map(|(name, _)| *name)
            .collect();
        if ready.is_empty() {
            break;
        }
        for name in ready {
            pending.remove(name);
            for on in pending.values_mut() {
                on.remove(name);
            }
            order.push(name.to_string());
        }
    }
    let cycle = !pending.is_empty();
    order.extend(pending.keys().map(|n| n.to_string()));
    (order, cycle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(n, on)| (n.to_string(), on.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn parents_come_first() {
        let d = deps(&[
            ("a_child", &["m_parent"]),
            ("m_parent", &["z_root"]),
            ("z_root", &[]),
        ]);
        assert_eq!(
            dependency_order(&d),
            (
                vec!["z_root".into(), "m_parent".into(), "a_child".into()],
                false
            )
        );
    }

    #[test]
    fn self_references_and_unknown_names_are_ignored() {
        let d = deps(&[("a", &["a", "elsewhere"]), ("b", &["a"])]);
        assert_eq!(dependency_order(&d), (vec!["a".into(), "b".into()], false));
    }

    #[test]
    fn cycles_are_flagged_and_kept_in_name_order() {
        let d = deps(&[("x", &["y"]), ("y", &["x"]), ("a", &[]), ("c", &["x"])]);
        let (order, cycle) = dependency_order(&d);
        assert!(cycle);
        assert_eq!(order, vec!["a", "c", "x", "y"]);
    }
}
