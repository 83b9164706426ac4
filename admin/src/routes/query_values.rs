//! JSON <-> MySQL values for the query endpoint, and the physical -> logical renaming of what
//! the backend sends back.
//!
//! Parameters: JSON `null`, booleans (1/0), numbers (integers exactly, others as DOUBLE) and
//! strings bind as MySQL values; arrays and objects have no MySQL value and are refused (send
//! JSON text as a string). Exact decimals should be sent as strings.
//!
//! Cells (binary protocol values, read with their column definition):
//! - NULL: `null`; integers, YEAR and BIT: JSON numbers (exact up to 64 bits; JavaScript
//!   readers lose precision above 2^53); FLOAT/DOUBLE: JSON numbers;
//! - DECIMAL: strings (exact);
//! - DATE: `YYYY-MM-DD`; DATETIME/TIMESTAMP: `YYYY-MM-DDTHH:MM:SS[.ffffff]` (ISO 8601 without
//!   an offset: TIMESTAMPs are in the backend session's time zone); TIME: `[-]HH:MM:SS[.ffffff]`
//!   (hours may exceed 24, as MySQL's TIME does). Zero dates come through as zeros
//!   (`0000-00-00`);
//! - text: strings; binary data (columns whose character set is `binary`: BINARY, VARBINARY,
//!   BLOB, GEOMETRY, binary expressions): standard base64 strings, the column's `type` says so.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::{Column, Value};
use serde_json::Value as Json;

/// The `binary` character set: the bytes are not text.
const BINARY_CHARSET: u16 = 63;

/// Physical -> logical database names of one tenant, longest physical name first (so a name
/// that extends another is replaced whole).
#[derive(Debug, Clone, Default)]
pub(crate) struct NameMap(Vec<(String, String)>);

impl NameMap {
    pub(crate) fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut v: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(p, l)| (p.to_string(), l.to_string()))
            .collect();
        v.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        NameMap(v)
    }

    /// `text` with every physical name replaced by its logical name.
    pub(crate) fn logical(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (physical, logical) in &self.0 {
            if out.contains(physical.as_str()) {
                out = out.replace(physical.as_str(), logical);
            }
        }
        out
    }
}

/// Parameter `i` as a MySQL value; the error says why it cannot be bound.
pub(crate) fn param(i: usize, v: &Json) -> Result<Value, String> {
    Ok(match v {
        Json::Null => Value::NULL,
        Json::Bool(b) => Value::Int(i64::from(*b)),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i),
            (None, Some(u), _) => Value::UInt(u),
            (None, None, Some(f)) => Value::Double(f),
            (None, None, None) => {
                return Err(format!("params[{i}]: {n} is not a number MySQL can take"))
            }
        },
        Json::String(s) => Value::Bytes(s.as_bytes().to_vec()),
        Json::Array(_) | Json::Object(_) => {
            return Err(format!(
                "params[{i}]: arrays and objects cannot be bound (send JSON text as a string)"
            ))
        }
    })
}

fn is_binary(col: &Column) -> bool {
    col.character_set() == BINARY_CHARSET
        && !matches!(
            col.column_type(),
            ColumnType::MYSQL_TYPE_JSON
                | ColumnType::MYSQL_TYPE_DECIMAL
                | ColumnType::MYSQL_TYPE_NEWDECIMAL
                | ColumnType::MYSQL_TYPE_BIT
        )
}

/// A readable name of the column's type (`INT UNSIGNED`, `VARCHAR`, `VARBINARY`, `DATETIME`...).
pub(crate) fn type_name(col: &Column) -> String {
    use ColumnType::*;
    let flags = col.flags();
    let binary = is_binary(col);
    let name = match col.column_type() {
        MYSQL_TYPE_TINY => "TINYINT",
        MYSQL_TYPE_SHORT => "SMALLINT",
        MYSQL_TYPE_INT24 => "MEDIUMINT",
        MYSQL_TYPE_LONG => "INT",
        MYSQL_TYPE_LONGLONG => "BIGINT",
        MYSQL_TYPE_FLOAT => "FLOAT",
        MYSQL_TYPE_DOUBLE => "DOUBLE",
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => "DECIMAL",
        MYSQL_TYPE_NULL => "NULL",
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => "TIMESTAMP",
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => "DATE",
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => "TIME",
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => "DATETIME",
        MYSQL_TYPE_YEAR => "YEAR",
        MYSQL_TYPE_BIT => "BIT",
        MYSQL_TYPE_JSON => "JSON",
        MYSQL_TYPE_GEOMETRY => "GEOMETRY",
        MYSQL_TYPE_ENUM => "ENUM",
        MYSQL_TYPE_SET => "SET",
        _ if flags.contains(ColumnFlags::ENUM_FLAG) => "ENUM",
        _ if flags.contains(ColumnFlags::SET_FLAG) => "SET",
        MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB => {
            if binary {
                "BLOB"
            } else {
                "TEXT"
            }
        }
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING => {
            if binary {
                "VARBINARY"
            } else {
                "VARCHAR"
            }
        }
        MYSQL_TYPE_STRING => {
            if binary {
                "BINARY"
            } else {
                "CHAR"
            }
        }
        _ => "UNKNOWN",
    };
    if flags.contains(ColumnFlags::UNSIGNED_FLAG) && col.column_type().is_numeric_type() {
        format!("{name} UNSIGNED")
    } else {
        name.to_string()
    }
}

/// Fractional second digits to show: the column's (DATETIME(3): 3), or 6 when the column does
/// not fix them and the value has some.
fn fraction(col: &Column, micros: u32) -> String {
    let digits = match col.decimals() {
        d @ 1..=6 => usize::from(d),
        0 => 0,
        _ if micros != 0 => 6,
        _ => 0,
    };
    if digits == 0 {
        return String::new();
    }
    let all = format!("{micros:06}");
    format!(".{}", &all[..digits])
}

/// One cell as JSON; `names` renames physical database names in text (results that name
/// databases: SHOW, information_schema).
pub(crate) fn cell(col: &Column, v: Value, names: Option<&NameMap>) -> Json {
    use ColumnType::*;
    match v {
        Value::NULL => Json::Null,
        Value::Int(i) => Json::from(i),
        Value::UInt(u) => Json::from(u),
        // Through its shortest decimal form, so FLOAT 0.1 reads 0.1 and not 0.10000000149.
        Value::Float(f) => f
            .to_string()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Json::Null, Json::Number),
        Value::Double(d) => serde_json::Number::from_f64(d).map_or(Json::Null, Json::Number),
        Value::Date(y, mo, d, h, mi, s, us) => match col.column_type() {
            MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => Json::from(format!("{y:04}-{mo:02}-{d:02}")),
            _ => Json::from(format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{}",
                fraction(col, us)
            )),
        },
        Value::Time(neg, d, h, mi, s, us) => {
            let hours = u64::from(d) * 24 + u64::from(h);
            let sign = if neg { "-" } else { "" };
            Json::from(format!(
                "{sign}{hours:02}:{mi:02}:{s:02}{}",
                fraction(col, us)
            ))
        }
        Value::Bytes(b) if col.column_type() == MYSQL_TYPE_BIT => {
            // BIT(n) is at most 64 bits, big-endian.
            Json::from(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
        }
        Value::Bytes(b) if is_binary(col) => Json::from(BASE64.encode(b)),
        Value::Bytes(b) => {
            let text = String::from_utf8_lossy(&b);
            match names {
                Some(names) => Json::from(names.logical(&text)),
                None => Json::from(text.into_owned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn col(t: ColumnType) -> Column {
        Column::new(t).with_character_set(45)
    }

    #[test]
    fn params_bind_scalars_and_refuse_containers() {
        assert_eq!(param(0, &json!(null)).unwrap(), Value::NULL);
        assert_eq!(param(0, &json!(true)).unwrap(), Value::Int(1));
        assert_eq!(param(0, &json!(-5)).unwrap(), Value::Int(-5));
        assert_eq!(param(0, &json!(u64::MAX)).unwrap(), Value::UInt(u64::MAX));
        assert_eq!(param(0, &json!(1.5)).unwrap(), Value::Double(1.5));
        assert_eq!(
            param(0, &json!("' OR 1=1 --")).unwrap(),
            Value::Bytes(b"' OR 1=1 --".to_vec())
        );
        let e = param(3, &json!([1])).unwrap_err();
        assert!(e.starts_with("params[3]"), "{e}");
        assert!(param(0, &json!({"a": 1})).is_err());
    }

    #[test]
    fn cells_by_column_type() {
        use ColumnType::*;
        assert_eq!(cell(&col(MYSQL_TYPE_LONG), Value::Int(7), None), json!(7));
        assert_eq!(
            cell(
                &col(MYSQL_TYPE_NEWDECIMAL),
                Value::Bytes(b"12.50".to_vec()),
                None
            ),
            json!("12.50")
        );
        assert_eq!(
            cell(&col(MYSQL_TYPE_FLOAT), Value::Float(0.1), None),
            json!(0.1)
        );
        assert_eq!(
            cell(
                &col(MYSQL_TYPE_DATE),
                Value::Date(2024, 2, 29, 0, 0, 0, 0),
                None
            ),
            json!("2024-02-29")
        );
        assert_eq!(
            cell(
                &col(MYSQL_TYPE_DATETIME).with_decimals(3),
                Value::Date(2024, 2, 29, 13, 5, 9, 120_000),
                None
            ),
            json!("2024-02-29T13:05:09.120")
        );
        assert_eq!(
            cell(
                &col(MYSQL_TYPE_TIMESTAMP),
                Value::Date(2024, 1, 2, 3, 4, 5, 0),
                None
            ),
            json!("2024-01-02T03:04:05")
        );
        assert_eq!(
            cell(
                &col(MYSQL_TYPE_TIME),
                Value::Time(true, 1, 2, 3, 4, 0),
                None
            ),
            json!("-26:03:04")
        );
        assert_eq!(
            cell(&col(MYSQL_TYPE_BIT), Value::Bytes(vec![1, 2]), None),
            json!(258)
        );
        let blob = Column::new(MYSQL_TYPE_BLOB).with_character_set(BINARY_CHARSET);
        assert_eq!(
            cell(&blob, Value::Bytes(vec![0xff, 0x00, 0x61]), None),
            json!("/wBh")
        );
        assert_eq!(type_name(&blob), "BLOB");
        assert_eq!(type_name(&col(MYSQL_TYPE_BLOB)), "TEXT");
        let unsigned = col(MYSQL_TYPE_LONGLONG).with_flags(ColumnFlags::UNSIGNED_FLAG);
        assert_eq!(type_name(&unsigned), "BIGINT UNSIGNED");
        assert_eq!(
            cell(&col(MYSQL_TYPE_VAR_STRING), Value::NULL, None),
            json!(null)
        );
    }

    #[test]
    fn physical_names_become_logical() {
        let names = NameMap::new([("t_acme__app", "app"), ("t_acme__app2", "app2")]);
        let text = col(ColumnType::MYSQL_TYPE_VAR_STRING);
        assert_eq!(
            cell(
                &text,
                Value::Bytes(b"t_acme__app2.x, t_acme__app.y".to_vec()),
                Some(&names)
            ),
            json!("app2.x, app.y")
        );
        assert_eq!(
            cell(&text, Value::Bytes(b"t_acme__app".to_vec()), None),
            json!("t_acme__app")
        );
        assert_eq!(
            names.logical("Table 't_acme__app.nope' doesn't exist"),
            "Table 'app.nope' doesn't exist"
        );
    }
}
