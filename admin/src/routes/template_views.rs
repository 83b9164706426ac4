//! JSON views of templates, versions and database bindings, shared by the template routes; and
//! the allow list of a plan or rollout request.

use octodb_catalog::{
    DatabaseTemplate, NewAudit, Template, TemplateVersion, OUTCOME_FAILURE, OUTCOME_SUCCESS,
};
use octodb_schema::{Allow, RiskKind};
use serde_json::{json, Value};

use crate::extract::Caller;
use crate::problem::ApiError;

/// An audit row for an operator action on something that belongs to no tenant (templates,
/// rollouts).
pub fn operator_audit<'a>(
    caller: &'a Caller,
    action: &'a str,
    target: &'a str,
    ok: bool,
) -> NewAudit<'a> {
    NewAudit {
        actor: caller.actor(),
        action,
        tenant_id: None,
        target: Some(target),
        outcome: if ok { OUTCOME_SUCCESS } else { OUTCOME_FAILURE },
        request_id: Some(&caller.request_id),
        detail: None,
    }
}

pub fn template(t: &Template) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "parent_id": t.parent_id,
        "latest_version": t.latest_version,
        "created_at": t.created_at,
    })
}

pub fn version(v: &TemplateVersion) -> Value {
    json!({
        "template_id": v.template_id,
        "version": v.version,
        "schema": v.body,
        "parent_version": v.parent_version,
        "derived": v.derived,
        "created_by": v.created_by,
        "created_at": v.created_at,
    })
}

pub fn binding(b: &DatabaseTemplate) -> Value {
    json!({
        "tenant_id": b.tenant_id,
        "database": b.database,
        "template_id": b.template_id,
        "channel": b.channel.as_str(),
        "overlay": b.overlay,
        "version": b.version,
        "status": b.status,
        "error": b.error,
        "updated_at": b.updated_at,
    })
}

/// An allow list: whole kinds (`drop_column`) or single changes by key
/// (`drop_column:orders.note`). Unknown kinds are refused (422) rather than ignored.
pub fn allow(items: &[String]) -> Result<Allow, ApiError> {
    let mut allow = Allow::none();
    for item in items {
        let kind_text = item.split(':').next().unwrap_or_default();
        let kind: RiskKind =
            serde_json::from_value(Value::String(kind_text.to_string())).map_err(|_| {
                ApiError::unprocessable(format!(
                    "allow: unknown change kind {kind_text:?} (drop_table, drop_column, \
                     narrow_type, charset_change, not_null_without_default, drop_unique_index)"
                ))
            })?;
        allow = if item.contains(':') {
            allow.with_item(item.clone())
        } else {
            allow.with_kind(kind)
        };
    }
    Ok(allow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_take_kinds_and_keys() {
        let a = allow(&["drop_table".into(), "drop_column:items.note".into()]).unwrap();
        assert!(a.kinds.contains(&RiskKind::DropTable));
        assert!(!a.kinds.contains(&RiskKind::DropColumn));
        assert!(a.items.contains("drop_column:items.note"));
        assert_eq!(allow(&["drop_everything".into()]).unwrap_err().status, 422);
        assert_eq!(allow(&[":x".into()]).unwrap_err().status, 422);
    }
}
