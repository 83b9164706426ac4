//! Prepared statements on a backend connection: the COM_STMT_PREPARE answer, the
//! COM_STMT_EXECUTE encoding, and a per-connection LRU cache of statements by SQL text.

use std::collections::HashMap;

use mysql_async::consts::ColumnType;
use mysql_async::Value;

use super::packets::ColumnDef;
use super::BackendError;
use crate::protocol::wire::{put_lenenc_bytes, Cursor};

/// A statement prepared on the backend, with its parameter and column definitions as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub id: u32,
    pub warnings: u16,
    /// Raw parameter definition payloads (protocol 4.1 column definitions).
    pub params: Vec<Box<[u8]>>,
    /// Raw result column definition payloads.
    pub columns: Vec<Box<[u8]>>,
}

impl Prepared {
    pub fn param_def(&self, i: usize) -> Option<Result<ColumnDef<'_>, BackendError>> {
        self.params.get(i).map(|p| ColumnDef::parse(p))
    }

    pub fn column_def(&self, i: usize) -> Option<Result<ColumnDef<'_>, BackendError>> {
        self.columns.get(i).map(|p| ColumnDef::parse(p))
    }
}

/// The fixed part of a COM_STMT_PREPARE OK: statement id, column and parameter counts,
/// warnings.
pub fn parse_prepare_ok(payload: &[u8]) -> Result<(u32, u16, u16, u16), BackendError> {
    let mut c = Cursor::new(payload);
    if c.u8("prepare OK header")? != 0x00 {
        return Err(BackendError::Protocol("not a prepare OK".into()));
    }
    let id = c.u32("statement id")?;
    let columns = c.u16("column count")?;
    let params = c.u16("parameter count")?;
    let warnings = if c.remaining() >= 3 {
        c.u8("filler")?;
        c.u16("warnings")?
    } else {
        0
    };
    Ok((id, columns, params, warnings))
}

const TYPE_DOUBLE: u8 = ColumnType::MYSQL_TYPE_DOUBLE as u8;
const TYPE_FLOAT: u8 = ColumnType::MYSQL_TYPE_FLOAT as u8;
const TYPE_NULL: u8 = ColumnType::MYSQL_TYPE_NULL as u8;
const TYPE_LONGLONG: u8 = ColumnType::MYSQL_TYPE_LONGLONG as u8;
const TYPE_TIME: u8 = ColumnType::MYSQL_TYPE_TIME as u8;
const TYPE_DATETIME: u8 = ColumnType::MYSQL_TYPE_DATETIME as u8;
const TYPE_VAR_STRING: u8 = ColumnType::MYSQL_TYPE_VAR_STRING as u8;
const UNSIGNED: u8 = 0x80;

/// Appends a COM_STMT_EXECUTE payload: no cursor, one iteration, parameters always (re)bound,
/// each typed by its value (integers as LONGLONG, signed or unsigned; bytes as VAR_STRING;
/// dates as DATETIME; times as TIME).
/// `declared`: the types the client bound the parameters with (empty: none known). A string
/// parameter goes out with the client's type (BLOB, DECIMAL, ENUM... the server treats them
/// differently from a character string: binary, exact arithmetic); every other value with the
/// type of its decoded form.
pub fn encode_execute(
    buf: &mut Vec<u8>,
    stmt_id: u32,
    params: &[Value],
    declared: &[crate::protocol::stmt::ParamType],
) {
    buf.push(0x17);
    buf.extend_from_slice(&stmt_id.to_le_bytes());
    buf.push(0x00); // CURSOR_TYPE_NO_CURSOR
    buf.extend_from_slice(&1u32.to_le_bytes());
    if params.is_empty() {
        return;
    }
    let bitmap_at = buf.len();
    buf.resize(bitmap_at + params.len().div_ceil(8), 0);
    for (i, v) in params.iter().enumerate() {
        if matches!(v, Value::NULL) {
            if let Some(byte) = buf.get_mut(bitmap_at + i / 8) {
                *byte |= 1 << (i % 8);
            }
        }
    }
    buf.push(1); // new-params-bound
    for (i, v) in params.iter().enumerate() {
        let (ty, flag) = match v {
            Value::NULL => (TYPE_NULL, 0),
            Value::Bytes(_) => match declared.get(i) {
                Some((t, _)) if sent_as_bytes(*t) => (*t as u8, 0),
                _ => (TYPE_VAR_STRING, 0),
            },
            Value::Int(_) => (TYPE_LONGLONG, 0),
            Value::UInt(_) => (TYPE_LONGLONG, UNSIGNED),
            Value::Float(_) => (TYPE_FLOAT, 0),
            Value::Double(_) => (TYPE_DOUBLE, 0),
            Value::Date(..) => (TYPE_DATETIME, 0),
            Value::Time(..) => (TYPE_TIME, 0),
        };
        buf.extend_from_slice(&[ty, flag]);
    }
    for v in params {
        put_value(buf, v);
    }
}

/// Types whose values travel as length-encoded bytes (what a string parameter is).
fn sent_as_bytes(t: ColumnType) -> bool {
    use ColumnType::*;
    !matches!(
        t,
        MYSQL_TYPE_NULL
            | MYSQL_TYPE_TINY
            | MYSQL_TYPE_SHORT
            | MYSQL_TYPE_YEAR
            | MYSQL_TYPE_LONG
            | MYSQL_TYPE_INT24
            | MYSQL_TYPE_LONGLONG
            | MYSQL_TYPE_FLOAT
            | MYSQL_TYPE_DOUBLE
            | MYSQL_TYPE_DATE
            | MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_DATETIME2
            | MYSQL_TYPE_TIMESTAMP2
            | MYSQL_TYPE_NEWDATE
            | MYSQL_TYPE_TIME
            | MYSQL_TYPE_TIME2
    )
}

fn put_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::NULL => {}
        Value::Bytes(b) => put_lenenc_bytes(buf, b),
        Value::Int(i) => buf.extend_from_slice(&i.to_le_bytes()),
        Value::UInt(u) => buf.extend_from_slice(&u.to_le_bytes()),
        Value::Float(f) => buf.extend_from_slice(&f.to_le_bytes()),
        Value::Double(d) => buf.extend_from_slice(&d.to_le_bytes()),
        Value::Date(y, mo, d, h, mi, s, us) => {
            buf.push(11);
            buf.extend_from_slice(&y.to_le_bytes());
            buf.extend_from_slice(&[*mo, *d, *h, *mi, *s]);
            buf.extend_from_slice(&us.to_le_bytes());
        }
        Value::Time(neg, days, h, mi, s, us) => {
            buf.push(12);
            buf.push(u8::from(*neg));
            buf.extend_from_slice(&days.to_le_bytes());
            buf.extend_from_slice(&[*h, *mi, *s]);
            buf.extend_from_slice(&us.to_le_bytes());
        }
    }
}

/// Prepared statements of one connection by SQL text, at most `capacity`, least recently used
/// evicted first. The caller closes what [`StmtCache::insert`] evicts (COM_STMT_CLOSE), and
/// clears the cache when the connection is reset (COM_RESET_CONNECTION drops them all).
#[derive(Debug)]
pub struct StmtCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (Prepared, u64), ahash::RandomState>,
}

impl StmtCache {
    pub fn new(capacity: usize) -> Self {
        StmtCache {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The statement prepared for `sql`, marked as just used.
    pub fn get(&mut self, sql: &str) -> Option<&Prepared> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(sql).map(|(p, used)| {
            *used = tick;
            &*p
        })
    }

    /// Adds a statement; returns the id of the one evicted to make room (or of the statement
    /// it replaces for the same SQL), which the caller must close.
    pub fn insert(&mut self, sql: String, stmt: Prepared) -> Option<u32> {
        self.tick += 1;
        if let Some((old, used)) = self.entries.get_mut(&sql) {
            let old_id = old.id;
            *old = stmt;
            *used = self.tick;
            return (old_id != old.id).then_some(old_id);
        }
        let mut evicted = None;
        if self.entries.len() >= self.capacity {
            let lru = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = lru {
                evicted = self.entries.remove(&k).map(|(p, _)| p.id);
            }
        }
        self.entries.insert(sql, (stmt, self.tick));
        evicted
    }

    /// Forgets the statement for `sql` (after the server lost it); returns its id.
    pub fn remove(&mut self, sql: &str) -> Option<u32> {
        self.entries.remove(sql).map(|(p, _)| p.id)
    }

    /// Forgets every statement; returns their ids.
    pub fn clear(&mut self) -> Vec<u32> {
        self.entries.drain().map(|(_, (p, _))| p.id).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn stmt(id: u32) -> Prepared {
        Prepared {
            id,
            warnings: 0,
            params: Vec::new(),
            columns: Vec::new(),
        }
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut c = StmtCache::new(2);
        assert_eq!(c.insert("a".into(), stmt(1)), None);
        assert_eq!(c.insert("b".into(), stmt(2)), None);
        assert_eq!(c.get("a").map(|p| p.id), Some(1)); // b is now the oldest
        assert_eq!(c.insert("c".into(), stmt(3)), Some(2));
        assert!(c.get("b").is_none());
        assert_eq!(c.get("a").map(|p| p.id), Some(1));
        assert_eq!(c.get("c").map(|p| p.id), Some(3));
        assert_eq!(c.insert("d".into(), stmt(4)), Some(1));
        assert_eq!(c.len(), 2);
        // Replacing the statement of the same SQL hands back the old id.
        assert_eq!(c.insert("d".into(), stmt(5)), Some(4));
        assert_eq!(c.insert("d".into(), stmt(5)), None);
        assert_eq!(c.remove("c"), Some(3));
        let mut ids = c.clear();
        ids.sort();
        assert_eq!(ids, vec![5]);
        assert!(c.is_empty());
    }

    #[test]
    fn execute_layout() {
        let mut b = Vec::new();
        encode_execute(
            &mut b,
            7,
            &[
                Value::Int(-2),
                Value::NULL,
                Value::Bytes(b"hi".to_vec()),
                Value::UInt(u64::MAX),
                Value::Double(1.5),
                Value::Date(2024, 2, 29, 13, 14, 15, 16),
                Value::Time(true, 1, 2, 3, 4, 0),
                Value::NULL,
                Value::NULL,
            ],
            &[],
        );
        assert_eq!(&b[..10], &[0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&b[10..12], &[0b1000_0010, 0b0000_0001]);
        assert_eq!(b[12], 1);
        assert_eq!(
            &b[13..31],
            &[8, 0, 6, 0, 0xFD, 0, 8, 0x80, 5, 0, 12, 0, 11, 0, 6, 0, 6, 0]
        );
        let mut c = Cursor::new(&b[31..]);
        assert_eq!(c.u64("i").unwrap() as i64, -2);
        assert_eq!(c.lenenc_bytes("s").unwrap(), b"hi");
        assert_eq!(c.u64("u").unwrap(), u64::MAX);
        assert_eq!(f64::from_bits(c.u64("d").unwrap()), 1.5);
        assert_eq!(
            c.bytes(12, "dt").unwrap(),
            &[11, 0xE8, 7, 2, 29, 13, 14, 15, 16, 0, 0, 0]
        );
        assert_eq!(
            c.bytes(13, "t").unwrap(),
            &[12, 1, 1, 0, 0, 0, 2, 3, 4, 0, 0, 0, 0]
        );
        assert_eq!(c.remaining(), 0);
        let mut b = Vec::new();
        encode_execute(&mut b, 1, &[], &[]);
        assert_eq!(b.len(), 10);
        // The client's string types go out as they came; a string in place of a number
        // (long data) as VAR_STRING.
        use ColumnType::*;
        let mut b = Vec::new();
        let bytes = |s: &[u8]| Value::Bytes(s.to_vec());
        encode_execute(
            &mut b,
            1,
            &[bytes(b"\xff"), bytes(b"10"), bytes(b"x"), Value::Int(1)],
            &[
                (MYSQL_TYPE_BLOB, false),
                (MYSQL_TYPE_NEWDECIMAL, false),
                (MYSQL_TYPE_LONGLONG, false),
                (MYSQL_TYPE_TINY, false),
            ],
        );
        assert_eq!(&b[12..20], &[252, 0, 246, 0, 0xFD, 0, 8, 0]);
    }

    #[test]
    fn prepare_ok_parsing() {
        let p = [0, 9, 0, 0, 0, 2, 0, 3, 0, 0, 1, 0];
        assert_eq!(parse_prepare_ok(&p).unwrap(), (9, 2, 3, 1));
        assert!(parse_prepare_ok(&p[..8]).is_err());
        assert!(parse_prepare_ok(&[0xFF, 0, 0]).is_err());
    }
}
