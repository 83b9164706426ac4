//! Configuration loading shared by the OctoDB binaries, and the catalog's own section.
//!
//! [`load_config`] reads an optional TOML file, applies `<PREFIX>_*` environment overrides, then
//! deserializes. Structs use `#[serde(deny_unknown_fields, default)]`, so a typo (in the file or
//! in a variable name) is an error, not a silently ignored setting.
//!
//! Environment overrides: `OCTODB_LISTEN=...` sets top-level `listen`;
//! `OCTODB_CATALOG__URL=...` sets `catalog.url` (`__` between levels, names upper-cased). A value
//! is taken as a TOML integer, boolean or array when it parses as one, as a string when it is
//! a quoted TOML string (`OCTODB_X='"12345"'` forces a string that looks like a number), and as
//! the raw string otherwise.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::{Table, Value};

use crate::{CatalogError, SecretKey};

/// Errors while loading or validating configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot parse config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid configuration `{field}` (environment variable {env_var}): {message}")]
    Invalid {
        field: String,
        env_var: String,
        message: String,
    },
    #[error("catalog key: {0}")]
    Key(String),
}

/// Reads configuration: TOML from `path` if given (no path: all defaults), then environment
/// overrides `<prefix>_<FIELD>` and `<prefix>_<SECTION>__<FIELD>`, then deserializes into `T`.
pub fn load_config<T: DeserializeOwned>(
    path: Option<&Path>,
    prefix: &str,
) -> Result<T, ConfigError> {
    load_config_from(path, prefix, std::env::vars())
}

/// [`load_config`] with an explicit environment (for tests).
pub fn load_config_from<T: DeserializeOwned>(
    path: Option<&Path>,
    prefix: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let mut table = match path {
        Some(path) => read_table(path)?,
        None => Table::new(),
    };
    let env_prefix = format!("{}_", prefix.to_ascii_uppercase());
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(&env_prefix))
        .collect();
    vars.sort();
    for (var, raw) in vars {
        let key = &var[env_prefix.len()..];
        apply_override(&mut table, &var, key, &raw)?;
    }
    let de = Value::Table(table);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let env_var = format!(
            "{env_prefix}{}",
            field
                .trim_matches('.')
                .to_ascii_uppercase()
                .replace('.', "__")
        );
        ConfigError::Invalid {
            field,
            env_var,
            message: e.inner().to_string().trim().to_string(),
        }
    })
}

fn read_table(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    text.parse::<Table>().map_err(|e| {
        // One line: "line L, column C: message" instead of toml's multi-line snippet.
        let at = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: ")
        });
        ConfigError::Parse {
            path: path.to_path_buf(),
            message: format!("{}{}", at.unwrap_or_default(), e.message()),
        }
    })
}

fn apply_override(table: &mut Table, var: &str, key: &str, raw: &str) -> Result<(), ConfigError> {
    let env_err = |message: &str| ConfigError::Env {
        var: var.to_string(),
        message: message.to_string(),
    };
    let parts: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
    if parts.iter().any(String::is_empty) {
        return Err(env_err("empty name segment (use one '__' between levels)"));
    }
    let (last, sections) = parts
        .split_last()
        .ok_or_else(|| env_err("no field name after the prefix"))?;
    let mut current = table;
    for section in sections {
        let entry = current
            .entry(section.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        current = match entry {
            Value::Table(t) => t,
            _ => return Err(env_err(&format!("`{section}` is not a section"))),
        };
    }
    current.insert(last.clone(), env_value(raw));
    Ok(())
}

/// An environment value as a TOML scalar when it parses as an integer, boolean, array or quoted
/// string; the raw text otherwise.
fn env_value(raw: &str) -> Value {
    if let Ok(mut t) = format!("v = {raw}").parse::<Table>() {
        if let Some(v) = t.remove("v") {
            if matches!(
                v,
                Value::Integer(_) | Value::Boolean(_) | Value::Array(_) | Value::String(_)
            ) {
                return v;
            }
        }
    }
    Value::String(raw.to_string())
}

/// `[catalog]`: where the MetaDB lives and the key for secrets stored in it.
/// Changes need a restart.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// MySQL URL of the MetaDB. The database part names the catalog schema (created if missing;
    /// default `octodb_meta`). Env: `OCTODB_CATALOG__URL`.
    pub url: String,
    /// The 32-byte key (64 hex digits) that encrypts tenants' backend passwords. Give it through
    /// the environment (`OCTODB_CATALOG__KEY`) rather than the file, or use `key_file`.
    pub key: Option<String>,
    /// A file holding the key as 64 hex digits. Env: `OCTODB_CATALOG__KEY_FILE`.
    pub key_file: Option<PathBuf>,
    /// Most connections this process opens to the MetaDB (a burst of logins or API calls waits
    /// for one rather than exhausting the server's max_connections). Env:
    /// `OCTODB_CATALOG__POOL_MAX`.
    pub pool_max: usize,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            url: "mysql://root@127.0.0.1:3306/octodb_meta".to_string(),
            key: None,
            key_file: None,
            pool_max: 16,
        }
    }
}

impl fmt::Debug for CatalogConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogConfig")
            .field("url", &redact_url(&self.url))
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("key_file", &self.key_file)
            .field("pool_max", &self.pool_max)
            .finish()
    }
}

impl CatalogConfig {
    /// The catalog key, from `key` or `key_file` (exactly one must be set).
    pub fn secret_key(&self) -> Result<SecretKey, ConfigError> {
        let hex_key =
            match (&self.key, &self.key_file) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError::Key(
                        "both catalog.key and catalog.key_file are set; set only one".to_string(),
                    ))
                }
                (None, None) => return Err(ConfigError::Key(
                    "no catalog key: set OCTODB_CATALOG__KEY (64 hex digits) or catalog.key_file"
                        .to_string(),
                )),
                (Some(k), None) => k.clone(),
                (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::Key(format!("cannot read key file {}: {e}", path.display()))
                })?,
            };
        SecretKey::from_hex(&hex_key).map_err(|e| match e {
            CatalogError::Crypto(message) => ConfigError::Key(message),
            other => ConfigError::Key(other.to_string()),
        })
    }

    /// The URL with any password replaced, for logs.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// `mysql://user:pass@host/db` -> `mysql://user:***@host/db`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Default, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Top {
        listen: String,
        workers: u32,
        verbose: bool,
        catalog: CatalogConfig,
        backend: Backend,
    }

    #[derive(Debug, Deserialize, Default, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Backend {
        port: u16,
        admin_password: String,
    }

    impl PartialEq for CatalogConfig {
        fn eq(&self, o: &Self) -> bool {
            self.url == o.url && self.key == o.key && self.key_file == o.key_file
        }
    }

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_file() {
        let top: Top = load_config_from(None, "OCTODB", env(&[("HOME", "/root")])).unwrap();
        assert_eq!(top, Top::default());
        assert_eq!(top.catalog.url, "mysql://root@127.0.0.1:3306/octodb_meta");
    }

    #[test]
    fn file_then_env() {
        let dir = std::env::temp_dir().join(format!("octodb-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:1\"\nworkers = 2\n[catalog]\nurl = \"mysql://a@b/c\"\n",
        )
        .unwrap();
        let top: Top = load_config_from(
            Some(&path),
            "OCTODB",
            env(&[
                ("OCTODB_WORKERS", "8"),
                ("OCTODB_VERBOSE", "true"),
                ("OCTODB_CATALOG__KEY", "00ff"),
                ("OCTODB_BACKEND__PORT", "3307"),
                ("OCTODB_BACKEND__ADMIN_PASSWORD", "not a number: 1"),
                ("OTHER_WORKERS", "9"),
            ]),
        )
        .unwrap();
        assert_eq!(top.listen, "0.0.0.0:1");
        assert_eq!(top.workers, 8);
        assert!(top.verbose);
        assert_eq!(top.catalog.url, "mysql://a@b/c");
        assert_eq!(top.catalog.key.as_deref(), Some("00ff"));
        assert_eq!(top.backend.port, 3307);
        assert_eq!(top.backend.admin_password, "not a number: 1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn quoted_env_value_forces_string() {
        let top: Top = load_config_from(
            None,
            "OCTODB",
            env(&[("OCTODB_BACKEND__ADMIN_PASSWORD", "\"12345\"")]),
        )
        .unwrap();
        assert_eq!(top.backend.admin_password, "12345");
    }

    #[test]
    fn unknown_fields_are_errors() {
        let err = load_config_from::<Top>(None, "OCTODB", env(&[("OCTODB_CATALOG__URLL", "x")]))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("urll") && msg.contains("catalog"), "{msg}");

        let err = load_config_from::<Top>(None, "OCTODB", env(&[("OCTODB_WORKERS", "many")]))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("workers") && msg.contains("OCTODB_WORKERS"),
            "{msg}"
        );

        assert!(load_config_from::<Top>(
            Some(Path::new("/nonexistent/octodb.toml")),
            "OCTODB",
            env(&[])
        )
        .is_err());
    }

    #[test]
    fn secret_key_sources() {
        let hex_key = "11".repeat(32);
        let mut c = CatalogConfig {
            key: Some(hex_key.clone()),
            ..Default::default()
        };
        assert!(c.secret_key().is_ok());
        c.key_file = Some(PathBuf::from("/x"));
        assert!(c.secret_key().is_err());
        c.key = None;
        assert!(c.secret_key().is_err()); // file missing
        c.key_file = None;
        assert!(c
            .secret_key()
            .unwrap_err()
            .to_string()
            .contains("OCTODB_CATALOG__KEY"));
    }

    #[test]
    fn debug_hides_secrets() {
        let c = CatalogConfig {
            url: "mysql://root:hunter2@db:3306/octodb_meta".to_string(),
            key: Some("ab".repeat(32)),
            ..Default::default()
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("abab"),
            "{shown}"
        );
        assert!(shown.contains("root:***@db:3306"), "{shown}");
    }
}
