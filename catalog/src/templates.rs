//! Schema templates: named, versioned, in a tree; and which template each logical database
//! follows, on which channel, at which version, with its migration state and lock.
//!
//! # The chain rule
//! A template version records the parent version it extends (`parent_version`: the parent's
//! latest version when it was created). So a database at template `T` version `n` has a fully
//! determined chain: `T@n`, its parent at `T@n.parent_version`, and so on up to the root.
//!
//! A new version of a template cascades by *derivation*: every descendant template gets a new
//! version with its own latest body, extending the new parent version (`derived = true`). A
//! database on channel `auto` of any of those templates then follows the new version; a
//! `pinned` one stays until it opts in to a version. Bodies are opaque text here; the admin
//! validates them (the schema engine) before they are stored.

use mysql_async::prelude::Queryable;
use mysql_async::{Row, TxOpts};

use crate::jobs::TS_FORMAT;
use crate::sql::take;
use crate::{Catalog, CatalogError, DatabaseName, PhysicalName};

/// A template in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub id: u64,
    pub name: String,
    pub parent_id: Option<u64>,
    /// The latest version, `None` before the first.
    pub latest_version: Option<u32>,
    pub created_at: String,
}

/// One version of a template: the full CREATE TABLE set of this layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateVersion {
    pub template_id: u64,
    pub version: u32,
    pub body: String,
    /// The parent's version this one extends (`None` for a root template).
    pub parent_version: Option<u32>,
    /// Created by a parent's cascade, not by an author.
    pub derived: bool,
    /// The API key that created it.
    pub created_by: Option<u64>,
    pub created_at: String,
}

/// How a database takes new versions of its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// New versions cascade to it (rollouts).
    Auto,
    /// It moves only when its tenant opts in to a version.
    Pinned,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Auto => "auto",
            Channel::Pinned => "pinned",
        }
    }

    pub fn parse(s: &str) -> Result<Channel, CatalogError> {
        match s {
            "auto" => Ok(Channel::Auto),
            "pinned" => Ok(Channel::Pinned),
            other => Err(CatalogError::Invalid(format!(
                "unknown channel {other:?} (auto or pinned)"
            ))),
        }
    }
}

/// Migration states of a database (`ok`, `migrating`, `failed`, `restored`, `conflict`).
pub const MIGRATION_STATES: &[&str] = &["ok", "migrating", "failed", "restored", "conflict"];

/// A database's binding to a template, with where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseTemplate {
    pub database_id: u64,
    pub tenant_id: u64,
    pub tenant_name: String,
    pub database: DatabaseName,
    pub physical: PhysicalName,
    pub backend_host: String,
    pub backend_port: u16,
    pub template_id: u64,
    pub channel: Channel,
    /// The database's own layer (CREATE TABLE statements; may be empty).
    pub overlay: String,
    /// The version of `template_id` the database is at; `None` before its first migration.
    pub version: Option<u32>,
    /// The overlay as it was when `version` was applied.
    pub applied_overlay: Option<String>,
    /// One of [`MIGRATION_STATES`].
    pub status: String,
    pub error: Option<String>,
    pub updated_at: String,
}

/// Template names: 1-64 of `a-z`, `0-9`, `_`, `-`, starting with a letter.
pub fn validate_template_name(name: &str) -> Result<(), CatalogError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(CatalogError::InvalidName {
            kind: "template",
            name: name.to_string(),
            reason: "use 1-64 of a-z, 0-9, '_' and '-', starting with a letter",
        })
    }
}

const TEMPLATE_COLUMNS: &str = "t.id, t.name, t.parent_id, \
     (SELECT MAX(v.version) FROM template_versions v WHERE v.template_id = t.id), \
     DATE_FORMAT(t.created_at, '%Y-%m-%dT%H:%i:%s.%fZ')";

fn template_row(mut row: Row) -> Result<Template, CatalogError> {
    Ok(Template {
        id: take(&mut row, 0, "templates.id")?,
        name: take(&mut row, 1, "templates.name")?,
        parent_id: take(&mut row, 2, "templates.parent_id")?,
        latest_version: take(&mut row, 3, "template_versions.version")?,
        created_at: take(&mut row, 4, "templates.created_at")?,
    })
}

fn version_row(mut row: Row) -> Result<TemplateVersion, CatalogError> {
    Ok(TemplateVersion {
        template_id: take(&mut row, 0, "template_versions.template_id")?,
        version: take(&mut row, 1, "template_versions.version")?,
        body: take(&mut row, 2, "template_versions.body")?,
        parent_version: take(&mut row, 3, "template_versions.parent_version")?,
        derived: take(&mut row, 4, "template_versions.derived")?,
        created_by: take(&mut row, 5, "template_versions.created_by")?,
        created_at: take(&mut row, 6, "template_versions.created_at")?,
    })
}

fn version_select() -> String {
    format!(
        "SELECT template_id, version, body, parent_version, derived, created_by, \
         DATE_FORMAT(created_at, {TS_FORMAT}) FROM template_versions"
    )
}

impl Catalog {
    /// Creates a template (no versions yet). `Conflict` if the name is taken, `NotFound` if the
    /// parent does not exist.
    pub async fn create_template(
        &self,
        name: &str,
        parent_id: Option<u64>,
    ) -> Result<Template, CatalogError> {
        validate_template_name(name)?;
        let mut conn = self.pool.get_conn().await?;
        if let Some(p) = parent_id {
            let exists: Option<u64> = conn
                .exec_first("SELECT id FROM templates WHERE id = ?", (p,))
                .await?;
            if exists.is_none() {
                return Err(CatalogError::NotFound(format!("template id {p}")));
            }
        }
        let inserted = conn
            .exec_drop(
                "INSERT INTO templates (name, parent_id) VALUES (?, ?)",
                (name, parent_id),
            )
            .await;
        match inserted {
            Err(mysql_async::Error::Server(e)) if e.code == crate::provision::DUPLICATE_KEY => {
                return Err(CatalogError::Conflict(format!(
                    "a template named {name} exists"
                )))
            }
            other => other?,
        }
        let id = conn
            .last_insert_id()
            .ok_or_else(|| CatalogError::Corrupt("no id for the templates row".to_string()))?;
        drop(conn);
        self.template(id)
            .await?
            .ok_or_else(|| CatalogError::Corrupt(format!("template {id} vanished")))
    }

    /// All templates, by id.
    pub async fn templates(&self) -> Result<Vec<Template>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .query(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM templates t ORDER BY t.id"
            ))
            .await?;
        rows.into_iter().map(template_row).collect()
    }

    /// One template.
    pub async fn template(&self, id: u64) -> Result<Option<Template>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!("SELECT {TEMPLATE_COLUMNS} FROM templates t WHERE t.id = ?"),
                (id,),
            )
            .await?;
        row.map(template_row).transpose()
    }

    /// A template's versions, oldest first.
    pub async fn template_versions(
        &self,
        template_id: u64,
    ) -> Result<Vec<TemplateVersion>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                format!(
                    "{} WHERE template_id = ? ORDER BY version",
                    version_select()
                ),
                (template_id,),
            )
            .await?;
        rows.into_iter().map(version_row).collect()
    }

    /// One version of a template.
    pub async fn template_version(
        &self,
        template_id: u64,
        version: u32,
    ) -> Result<Option<TemplateVersion>, CatalogError> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!("{} WHERE template_id = ? AND version = ?", version_select()),
                (template_id, version),
            )
            .await?;
        row.map(version_row).transpose()
    }

    /// The chain of `template_id` at `version`, root first (see the module's chain rule).
    pub async fn template_chain(
        &self,
        template_id: u64,
        version: u32,
    ) -> Result<Vec<TemplateVersion>, CatalogError> {
        let mut chain = Vec::new();
        let mut at = Some((template_id, version));
        while let Some((t, v)) = at {
            let tv = self
                .template_version(t, v)
                .await?
                .ok_or_else(|| CatalogError::NotFound(format!("template {t} version {v}")))?;
            let template = self
                .template(t)
                .await?
                .ok_or_else(|| CatalogError::NotFound(format!("template id {t}")))?;
            at = match (template.parent_id, tv.parent_version) {
                (Some(p), Some(pv)) => Some((p, pv)),
                (None, _) => None,
                (Some(_), None) => {
                    return Err(CatalogError::Corrupt(format!(
                        "template {t} version {v} names no parent version"
                    )))
                }
            };
            chain.push(tv);
            if chain.len() > 64 {
                return Err(CatalogError::Corrupt("template chain too long".into()));
            }
        }
        chain.reverse();
        Ok(chain)
    }

    /// Descendants of `template_id` (itself first, then breadth first).
    pub async fn template_descendants(&self, template_id: u64) -> Result<Vec<u64>, CatalogError> {
        let all = self.templates().await?;
        let mut out = vec![template_id];
        let mut i = 0;
        while i < out.len() {
            let parent = out[i];
            out.extend(
                all.iter()
                    .filter(|t| t.parent_id == Some(parent))
                    .map(|t| t.id),
            );
            i += 1;
        }
        Ok(out)
    }

    /// Records a new version of `template_id` with `body` (already validated), extending the
    /// parent's latest version, and derives a new version of every descendant template on top of
    /// it (their latest bodies). Returns every (template, version) created, this one first.
    /// `Invalid` when the parent has no version yet.
    pub async fn add_template_version(
        &self,
        template_id: u64,
        body: &str,
        created_by: Option<u64>,
    ) -> Result<Vec<(u64, u32)>, CatalogError> {
        let descendants = self.template_descendants(template_id).await?;
        let all = self.templates().await?;
        let parent_of = |t: u64| all.iter().find(|x| x.id == t).and_then(|x| x.parent_id);
        let mut tx = self.pool.start_transaction(TxOpts::default()).await?;
        // Lock the whole subtree (in id order) so that concurrent pushes serialise.
        let mut locked = descendants.clone();
        locked.extend(parent_of(template_id));
        locked.sort_unstable();
        for t in &locked {
            let _: Option<u64> = tx
                .exec_first("SELECT id FROM templates WHERE id = ? FOR UPDATE", (t,))
                .await?;
        }
        let mut created: Vec<(u64, u32)> = Vec::new();
        for t in descendants {
            let latest: Option<(u32, String)> = tx
                .exec_first(
                    "SELECT version, body FROM template_versions WHERE template_id = ? \
                     ORDER BY version DESC LIMIT 1",
                    (t,),
                )
                .await?;
            let (body, derived) = if t == template_id {
                (body.to_string(), false)
            } else {
                match latest.as_ref() {
                    Some((_, b)) => (b.clone(), true),
                    None => continue, // a descendant without versions has nothing to derive
                }
            };
            let parent_version = match parent_of(t) {
                None => None,
                Some(p) => match created.iter().find(|(c, _)| *c == p) {
                    Some((_, v)) => Some(*v),
                    // A descendant whose parent got no new version (it had none to derive).
                    None if derived => continue,
                    None => {
                        let v: Option<u32> = tx
                            .exec_first(
                                "SELECT MAX(version) FROM template_versions WHERE template_id = ?",
                                (p,),
                            )
                            .await?;
                        Some(v.ok_or_else(|| {
                            CatalogError::Invalid(format!(
                                "the parent template {p} has no version yet"
                            ))
                        })?)
                    }
                },
            };
            let version = latest.map(|(v, _)| v + 1).unwrap_or(1);
            tx.exec_drop(
                "INSERT INTO template_versions \
                 (template_id, version, body, parent_version, derived, created_by) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                (t, version, &body, parent_version, derived, created_by),
            )
            .await?;
            created.push((t, version));
        }
        tx.commit().await?;
        Ok(created)
    }

    /// The latest version of `template_id` whose chain contains `ancestor` at
    /// `ancestor_version` (`None` if none does).
    pub async fn version_following(
        &self,
        template_id: u64,
        ancestor: u64,
        ancestor_version: u32,
    ) -> Result<Option<u32>, CatalogError> {
        let mut versions = self.template_versions(template_id).await?;
        versions.reverse();
        for v in versions {
            let chain = self.template_chain(template_id, v.version).await?;
            if chain
                .iter()
                .any(|c| c.template_id == ancestor && c.version == ancestor_version)
            {
                return Ok(Some(v.version));
            }
        }
        Ok(None)
    }
}
