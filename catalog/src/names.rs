//! Identifier newtypes, validated once at the edge.
//!
//! Only these types reach SQL that OctoDB builds (physical database names, backend user names),
//! so their grammar is deliberately narrow: lower-case ASCII for tenants and logical databases,
//! which keeps physical names (`t_<tenant>__<db>`) unambiguous and within MySQL's 64-character
//! limit, and never needing quoting beyond backticks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::CatalogError;

/// Longest tenant or logical database name. Two of them plus `t_` and `__` make 64, MySQL's
/// limit for a database name.
pub const MAX_NAME_LEN: usize = 30;
/// Longest proxy user name (MySQL 5.7+ limit for user names).
pub const MAX_USER_LEN: usize = 32;

/// Checks `[a-z][a-z0-9_]{0,29}`, no `__` (the physical-name separator), no trailing `_`.
fn check_simple_name(kind: &'static str, name: &str) -> Result<(), CatalogError> {
    let invalid = |reason: &'static str| CatalogError::InvalidName {
        kind,
        name: name.to_string(),
        reason,
    };
    let first = name.bytes().next().ok_or_else(|| invalid("it is empty"))?;
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("it is longer than 30 characters"));
    }
    if !first.is_ascii_lowercase() {
        return Err(invalid("it must start with a lower-case letter a-z"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(invalid(
            "only lower-case letters a-z, digits 0-9 and '_' are allowed",
        ));
    }
    if name.contains("__") {
        return Err(invalid("'__' is reserved as the physical-name separator"));
    }
    if name.ends_with('_') {
        return Err(invalid("it must not end with '_'"));
    }
    Ok(())
}

/// Checks `[A-Za-z0-9_.-]{1,32}`.
fn check_user_name(name: &str) -> Result<(), CatalogError> {
    let invalid = |reason: &'static str| CatalogError::InvalidName {
        kind: "user",
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_USER_LEN {
        return Err(invalid("it is longer than 32 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(invalid(
            "only letters, digits, '_', '.' and '-' are allowed",
        ));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            /// Validates `name`.
            pub fn parse(name: &str) -> Result<Self, CatalogError> {
                let check: fn(&str) -> Result<(), CatalogError> = $check;
                check(name)?;
                Ok(Self(name.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = CatalogError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = CatalogError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = CatalogError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }
    };
}

name_type!(
    /// A tenant's name: `[a-z][a-z0-9_]{0,29}`, no `__`, not ending in `_`.
    TenantName,
    |s| check_simple_name("tenant", s)
);
name_type!(
    /// A tenant's logical database name: `[a-z][a-z0-9_]{0,29}`, no `__`, not ending in `_`.
    DatabaseName,
    |s| check_simple_name("database", s)
);
name_type!(
    /// A proxy user name: `[A-Za-z0-9_.-]{1,32}` (case-sensitive, as in MySQL).
    UserName,
    check_user_name
);
name_type!(
    /// A physical database name on a backend: `t_<tenant>__<db>`. Built with
    /// [`PhysicalName::new`]; `parse` accepts only names of that shape.
    PhysicalName,
    check_physical_name
);

fn check_physical_name(name: &str) -> Result<(), CatalogError> {
    let invalid = || CatalogError::InvalidName {
        kind: "physical database",
        name: name.to_string(),
        reason: "it must be t_<tenant>__<database>",
    };
    let rest = name.strip_prefix("t_").ok_or_else(invalid)?;
    let (tenant, db) = rest.split_once("__").ok_or_else(invalid)?;
    check_simple_name("tenant", tenant).map_err(|_| invalid())?;
    check_simple_name("database", db).map_err(|_| invalid())?;
    Ok(())
}

impl PhysicalName {
    /// `t_<tenant>__<db>`: unambiguous because neither part contains `__` or ends in `_`.
    pub fn new(tenant: &TenantName, db: &DatabaseName) -> Self {
        PhysicalName(format!("t_{tenant}__{db}"))
    }

    /// The tenant and logical database this name was built from.
    pub fn split(&self) -> (TenantName, DatabaseName) {
        // Validated at construction; both halves are valid names.
        let rest = self.0.strip_prefix("t_").unwrap_or(&self.0);
        let (t, d) = rest.split_once("__").unwrap_or((rest, ""));
        (TenantName(t.to_string()), DatabaseName(d.to_string()))
    }
}

/// The tenant's own backend MySQL user: `t_<tenant>` (at most 32 characters, MySQL's limit).
///
/// Derived from the (backend-wide unique) tenant name rather than the catalog id, so two catalogs
/// sharing a backend cannot hand the same user to two tenants, as the physical database names
/// cannot collide either.
pub(crate) fn backend_user_for(tenant: &TenantName) -> String {
    format!("t_{tenant}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names() {
        for ok in ["a", "demo", "acme_corp", "a1", "x2_y3", &"a".repeat(30)] {
            assert!(TenantName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "_abc",
            "Demo",
            "de-mo",
            "a__b",
            "abc_",
            "a b",
            "é",
            "a`b",
            &"a".repeat(31),
        ] {
            assert!(TenantName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn invalid_name_message_is_clear() {
        let err = DatabaseName::parse("a__b").unwrap_err();
        assert_eq!(err.kind(), "invalid_name");
        let msg = err.to_string();
        assert!(
            msg.contains("database") && msg.contains("a__b") && msg.contains("'__'"),
            "{msg}"
        );
    }

    #[test]
    fn user_names() {
        for ok in ["demo_user", "Demo.User-1", &"u".repeat(32)] {
            assert!(UserName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a'b", "a@b", "a`b", &"u".repeat(33)] {
            assert!(UserName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn physical_names() {
        let t = TenantName::parse(&"t".repeat(30)).unwrap();
        let d = DatabaseName::parse(&"d".repeat(30)).unwrap();
        let p = PhysicalName::new(&t, &d);
        assert_eq!(p.as_str().len(), 64);
        assert_eq!(p.split(), (t, d));

        let p = PhysicalName::new(&"demo".parse().unwrap(), &"app_1".parse().unwrap());
        assert_eq!(p.to_string(), "t_demo__app_1");
        assert_eq!(PhysicalName::parse("t_demo__app_1").unwrap(), p);
        for bad in [
            "demo__app",
            "t_demo_app",
            "t_demo___app",
            "t___app",
            "t_demo__",
        ] {
            assert!(PhysicalName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_validates() {
        let n: TenantName = serde_json_like("demo").unwrap();
        assert_eq!(n.as_str(), "demo");
        assert!(serde_json_like::<TenantName>("De mo").is_err());
    }

    fn serde_json_like<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
        use serde::de::IntoDeserializer;
        let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            s.into_deserializer();
        T::deserialize(de).map_err(|e| e.to_string())
    }

    #[test]
    fn backend_user_fits_mysql_limit() {
        let t = TenantName::parse(&"t".repeat(30)).unwrap();
        assert_eq!(backend_user_for(&t).len(), 32);
    }
}
