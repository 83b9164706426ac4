//! Streaming a backend result to the client, row by row: column definitions pass through with
//! physical schema names replaced by logical ones; rows are relayed as the backend sent them
//! (the backend speaks the protocol the client asked for: text for COM_QUERY, binary for
//! COM_STMT_EXECUTE), and rewritten only when their values may name a physical database.
//! Nothing is buffered beyond the packet writer's buffer.

use std::collections::HashMap;

use mysql_async::consts::{ColumnFlags, ColumnType, StatusFlags};
use mysql_async::{Column, Value};

use crate::backend::raw::{
    classify_row_or_end, write_column_def, BackendError, ColumnDef, Phase, RawConn, Response,
    RowOrEnd,
};

use crate::protocol::packet::{PacketError, PacketWriter};
use crate::protocol::wire;

/// Physical -> logical database names of the session's tenant.
pub type NameMap = HashMap<Vec<u8>, Vec<u8>, ahash::RandomState>;

/// How a streamed result ended.
#[derive(Debug, Default)]
pub struct Done {
    /// The result had columns (a result set), so it ends with EOF rather than OK.
    pub result_set: bool,
    pub affected_rows: u64,
    pub last_insert_id: u64,
    /// Rows of a result set (what FOUND_ROWS() reports next).
    pub rows: u64,
    pub warnings: u16,
    pub info: Vec<u8>,
}

/// A failure while streaming.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Writing to the client failed: the session ends.
    #[error(transparent)]
    Client(#[from] PacketError),
    /// The backend failed; its error goes to the client in place of the rest.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Writes a backend column definition for the client: its schema renamed to the logical
/// database, and a `Tables_in_<physical>` header (SHOW TABLES) renamed too.
pub fn write_def(buf: &mut Vec<u8>, def: &ColumnDef<'_>, names: &NameMap) {
    let schema = names.get(def.schema).map(Vec::as_slice);
    if def.name.windows(2).any(|w| w == b"__") {
        let mut renamed = Value::Bytes(def.name.to_vec());
        remap_in_text(&mut renamed, names);
        if let Value::Bytes(b) = &renamed {
            write_column_def(buf, def, schema, Some(b));
            return;
        }
    }
    write_column_def(buf, def, schema, None);
}

/// Column definitions as the client was sent them, by their bytes from the backend: a
/// statement run again gets the same definitions, and rewriting them is a good part of
/// relaying a short result. The rewrites depend on the tenant's name map, so the memo holds
/// the identity they were made for (kept alive, so it cannot be mistaken for a later one) and
/// starts over for another. It keeps at most [`DefMemo::CAPACITY`] definitions.
#[derive(Default)]
pub struct DefMemo {
    owner: Option<std::sync::Arc<super::Identity>>,
    defs: HashMap<Box<[u8]>, Box<[u8]>, ahash::RandomState>,
}

impl DefMemo {
    /// Definitions a session keeps at most.
    pub const CAPACITY: usize = 64;

    /// Starts over unless the rewrites were made for `id`.
    fn follow(&mut self, id: &std::sync::Arc<super::Identity>) {
        if !self
            .owner
            .as_ref()
            .is_some_and(|o| std::sync::Arc::ptr_eq(o, id))
        {
            self.defs.clear();
            self.owner = Some(id.clone());
        }
    }

    fn insert(&mut self, raw: &[u8], out: &[u8]) {
        if self.defs.len() >= Self::CAPACITY {
            self.defs.clear();
        }
        self.defs.insert(raw.into(), out.into());
    }
}

/// The names a result is rewritten with: the session's identity, and its memo of rewritten
/// column definitions.
pub struct Names<'a> {
    pub id: &'a std::sync::Arc<super::Identity>,
    pub memo: &'a mut DefMemo,
}

/// Relays the answer whose first packet was `first` to the client, up to (not including) its
/// terminator: column definitions with logical names, then the rows as the backend sent them
/// (text or binary, which is what the client asked for), or re-encoded with physical names
/// replaced when `remap` is set. A copy of what is sent goes to `capture` if given.
pub async fn relay<W>(
    w: &mut PacketWriter<W>,
    conn: &mut RawConn,
    first: Response,
    names: Names<'_>,
    remap: Option<&NameMap>,
    status: StatusFlags,
    mut capture: Option<&mut Capture>,
) -> Result<Done, StreamError>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let Names { id, memo: defs } = names;
    let names = &id.names;
    let n = match first {
        Response::Columns(n) => n,
        first => {
            // No result set: an OK (or a refused LOCAL INFILE, ended by an OK).
            conn.drain().await?;
            let ok = match first {
                Response::Ok(ok) => ok,
                _ => conn.last_ok().cloned().unwrap_or_default(),
            };
            return Ok(Done {
                result_set: false,
                affected_rows: ok.affected_rows,
                last_insert_id: ok.last_insert_id,
                warnings: ok.warnings,
                info: ok.info,
                rows: 0,
            });
        }
    };
    let binary = matches!(conn.phase(), Phase::Columns { binary: true, .. });
    let at = w.begin_packet();
    wire::put_lenenc_int(w.payload(), n);
    w.end_packet(at).await?;
    // Column types, for re-encoding binary rows only.
    let mut types: Vec<(ColumnType, ColumnFlags)> = Vec::new();
    let typed = binary && remap.is_some();
    defs.follow(id);
    for _ in 0..n {
        let raw = conn.next_packet().await?;
        let at = w.begin_packet();
        match defs.defs.get(raw) {
            Some(out) if !typed => w.payload().extend_from_slice(out),
            _ => {
                let def = ColumnDef::parse(raw)?;
                if typed {
                    types.push((def.column_type, def.flags));
                }
                write_def(w.payload(), &def, names);
                defs.insert(raw, &w.payload()[at + 4..]);
            }
        }
        if let Some(c) = capture.as_deref_mut() {
            c.take(&w.payload()[at + 4..], false);
        }
        w.end_packet(at).await?;
    }
    // The EOF after the definitions.
    conn.next_packet().await?;
    let at = w.begin_packet();
    wire::eof_packet(w.payload(), status, 0);
    w.end_packet(at).await?;
    let mut rows = 0u64;
    // Rows relayed as they are, without a copy kept: runs of whole rows already received go
    // to the client at once.
    let verbatim = remap.is_none() && capture.is_none();
    loop {
        if verbatim {
            let (packets, n) = conn.buffered_rows()?;
            if n > 0 {
                w.write_framed(packets).await?;
                rows += n as u64;
            }
        }
        let packet = conn.next_packet().await?;
        match classify_row_or_end(packet, binary) {
            RowOrEnd::Row(row) => {
                rows += 1;
                let at = w.begin_packet();
                match remap {
                    None => w.payload().extend_from_slice(row),
                    Some(map) if binary => remap_binary_row(w.payload(), row, &types, map)?,
                    Some(map) => remap_text_row(w.payload(), row, map)?,
                }
                if let Some(c) = capture.as_deref_mut() {
                    c.take(&w.payload()[at + 4..], true);
                }
                w.end_packet(at).await?;
            }
            RowOrEnd::Eof { warnings, .. } => {
                conn.drain().await?;
                return Ok(Done {
                    result_set: true,
                    warnings,
                    rows,
                    ..Done::default()
                });
            }
            RowOrEnd::Err(e) => return Err(e.into()),
        }
    }
}

fn malformed(what: &str) -> BackendError {
    BackendError::Protocol(format!("malformed {what} from the backend"))
}

/// Writes one value with physical names replaced.
fn put_remapped(out: &mut Vec<u8>, value: &[u8], map: &NameMap) {
    let mut v = Value::Bytes(value.to_vec());
    remap_value(&mut v, map);
    match &v {
        Value::Bytes(b) => wire::put_lenenc_bytes(out, b),
        _ => wire::put_lenenc_bytes(out, value),
    }
}

/// A text row (length-encoded values, 0xFB for NULL) with physical names replaced.
fn remap_text_row(out: &mut Vec<u8>, row: &[u8], map: &NameMap) -> Result<(), BackendError> {
    let mut c = wire::Cursor::new(row);
    while c.remaining() > 0 {
        if c.peek() == Some(0xFB) {
            c.u8("NULL").map_err(|_| malformed("text row"))?;
            out.push(0xFB);
            continue;
        }
        let value = c.lenenc_bytes("value").map_err(|_| malformed("text row"))?;
        put_remapped(out, value, map);
    }
    Ok(())
}

/// A binary row (0x00, NULL bitmap, values by column type) with physical names replaced in
/// its length-encoded values.
fn remap_binary_row(
    out: &mut Vec<u8>,
    row: &[u8],
    types: &[(ColumnType, ColumnFlags)],
    map: &NameMap,
) -> Result<(), BackendError> {
    use ColumnType::*;
    let bitmap_len = (types.len() + 7 + 2) / 8;
    let head = row
        .get(..1 + bitmap_len)
        .ok_or_else(|| malformed("binary row"))?;
    out.extend_from_slice(head);
    let bitmap = &head[1..];
    let mut c = wire::Cursor::new(&row[head.len()..]);
    for (i, (ty, _)) in types.iter().enumerate() {
        let bit = i + 2;
        if bitmap[bit / 8] & (1 << (bit % 8)) != 0 {
            continue;
        }
        let fixed = match ty {
            MYSQL_TYPE_TINY => Some(1),
            MYSQL_TYPE_SHORT | MYSQL_TYPE_YEAR => Some(2),
            MYSQL_TYPE_LONG | MYSQL_TYPE_INT24 | MYSQL_TYPE_FLOAT => Some(4),
            MYSQL_TYPE_LONGLONG | MYSQL_TYPE_DOUBLE => Some(8),
            MYSQL_TYPE_DATE
            | MYSQL_TYPE_DATETIME
            | MYSQL_TYPE_TIMESTAMP
            | MYSQL_TYPE_TIME
            | MYSQL_TYPE_DATETIME2
            | MYSQL_TYPE_TIMESTAMP2
            | MYSQL_TYPE_TIME2
            | MYSQL_TYPE_NEWDATE => {
                let len = c
                    .u8("temporal length")
                    .map_err(|_| malformed("binary row"))?;
                out.push(len);
                Some(usize::from(len))
            }
            _ => None,
        };
        match fixed {
            Some(n) => out.extend_from_slice(
                c.bytes(n, "binary value")
                    .map_err(|_| malformed("binary row"))?,
            ),
            None => {
                let value = c
                    .lenenc_bytes("value")
                    .map_err(|_| malformed("binary row"))?;
                put_remapped(out, value, map);
            }
        }
    }
    if c.remaining() != 0 {
        return Err(malformed("binary row"));
    }
    Ok(())
}

/// Writes one column definition (Protocol::ColumnDefinition41), with the schema renamed to
/// the logical database. Written field by field: `mysql_common`'s own serializer puts the
/// column length before the character set, which clients then misread.
pub fn write_column(buf: &mut Vec<u8>, col: &Column, names: &NameMap) {
    let schema = names
        .get(col.schema_ref())
        .map(Vec::as_slice)
        .unwrap_or(col.schema_ref());
    wire::put_lenenc_bytes(buf, b"def");
    wire::put_lenenc_bytes(buf, schema);
    wire::put_lenenc_bytes(buf, col.table_ref());
    wire::put_lenenc_bytes(buf, col.org_table_ref());
    // SHOW TABLES names its column `Tables_in_<database>`.
    let name = col.name_ref();
    if name.windows(2).any(|w| w == b"__") {
        let mut renamed = Value::Bytes(name.to_vec());
        remap_in_text(&mut renamed, names);
        match &renamed {
            Value::Bytes(b) => wire::put_lenenc_bytes(buf, b),
            _ => wire::put_lenenc_bytes(buf, name),
        }
    } else {
        wire::put_lenenc_bytes(buf, name);
    }
    wire::put_lenenc_bytes(buf, col.org_name_ref());
    buf.push(0x0C);
    buf.extend_from_slice(&col.character_set().to_le_bytes());
    buf.extend_from_slice(&col.column_length().to_le_bytes());
    buf.push(col.column_type() as u8);
    buf.extend_from_slice(&col.flags().bits().to_le_bytes());
    buf.push(col.decimals());
    buf.extend_from_slice(&[0, 0]);
}

/// Writes a list of column definitions followed by EOF.
pub async fn write_columns<W>(
    w: &mut PacketWriter<W>,
    cols: &[Column],
    names: &NameMap,
    status: StatusFlags,
) -> Result<(), PacketError>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    for col in cols {
        let at = w.begin_packet();
        write_column(w.payload(), col, names);
        w.end_packet(at).await?;
    }
    let at = w.begin_packet();
    wire::eof_packet(w.payload(), status, 0);
    w.end_packet(at).await
}

/// A copy of the packets of a text result as they are streamed, for the result cache: the
/// column definitions and rows, up to `limit` bytes; beyond, the copy is abandoned
/// (`overflow`) and the result streams on as usual.
#[derive(Debug, Default)]
pub struct Capture {
    limit: usize,
    bytes: usize,
    pub overflow: bool,
    pub columns: Vec<Box<[u8]>>,
    pub rows: Vec<Box<[u8]>>,
}

impl Capture {
    pub fn new(limit: usize) -> Self {
        Capture {
            limit,
            ..Capture::default()
        }
    }

    fn take(&mut self, payload: &[u8], row: bool) {
        if self.overflow {
            return;
        }
        self.bytes += payload.len();
        if self.bytes > self.limit {
            self.overflow = true;
            self.columns = Vec::new();
            self.rows = Vec::new();
            return;
        }
        let copy = payload.to_vec().into_boxed_slice();
        if row {
            self.rows.push(copy);
        } else {
            self.columns.push(copy);
        }
    }
}

/// Writes a result captured earlier (column definitions, then rows, as they were sent), up to
/// (not including) its terminator, as [`stream`] would have.
pub async fn write_captured<W>(
    w: &mut PacketWriter<W>,
    columns: &[Box<[u8]>],
    rows: &[Box<[u8]>],
    status: StatusFlags,
) -> Result<Done, PacketError>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let at = w.begin_packet();
    wire::put_lenenc_int(w.payload(), columns.len() as u64);
    w.end_packet(at).await?;
    for c in columns {
        w.write_packet(c).await?;
    }
    let at = w.begin_packet();
    wire::eof_packet(w.payload(), status, 0);
    w.end_packet(at).await?;
    for r in rows {
        w.write_packet(r).await?;
    }
    Ok(Done {
        result_set: true,
        rows: rows.len() as u64,
        ..Done::default()
    })
}

/// Maps physical database names in a result value back to logical names: a value equal to a
/// physical name (TABLE_SCHEMA), or text naming one (SHOW CREATE TABLE, warning messages).
pub fn remap_value(v: &mut Value, names: &NameMap) {
    if let Value::Bytes(b) = v {
        if let Some(logical) = names.get(b.as_slice()) {
            *b = logical.clone();
            return;
        }
    }
    remap_in_text(v, names);
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Replaces every occurrence of a physical name in a text value (column headers, messages).
fn remap_in_text(v: &mut Value, names: &NameMap) {
    let Value::Bytes(b) = v else { return };
    for (phys, logical) in names {
        if b.windows(phys.len()).any(|w| w == phys.as_slice()) {
            *b = replace_all(b, phys, logical);
        }
    }
}

/// Replaces physical database names in a backend message with logical ones.
pub fn logical_message(message: &str, names: &NameMap) -> String {
    let mut out = message.to_string();
    for (phys, logical) in names {
        if let (Ok(p), Ok(l)) = (std::str::from_utf8(phys), std::str::from_utf8(logical)) {
            if out.contains(p) {
                out = out.replace(p, l);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names() -> NameMap {
        let mut names = NameMap::default();
        names.insert(b"t_a__app".to_vec(), b"app".to_vec());
        names
    }

    fn identity() -> std::sync::Arc<super::super::Identity> {
        std::sync::Arc::new(super::super::Identity::new(crate::test_support::login(
            1, "u",
        )))
    }

    /// The memo keeps rewrites for one identity only, and within its capacity.
    #[test]
    fn definition_memo_follows_the_identity() {
        let (a, b) = (identity(), identity());
        let mut memo = DefMemo::default();
        memo.follow(&a);
        memo.insert(b"raw", b"out");
        memo.follow(&a);
        assert_eq!(
            memo.defs.get(&b"raw"[..]).map(|o| &o[..]),
            Some(&b"out"[..])
        );
        // Another identity, even one with the same content: its rewrites are made afresh.
        memo.follow(&b);
        assert!(memo.defs.is_empty());
        for i in 0..DefMemo::CAPACITY * 2 {
            memo.insert(i.to_string().as_bytes(), b"x");
            assert!(memo.defs.len() <= DefMemo::CAPACITY);
        }
    }

    #[test]
    fn text_rows_are_rewritten_value_by_value() {
        let mut row = Vec::new();
        wire::put_lenenc_bytes(&mut row, b"t_a__app");
        row.push(0xFB);
        wire::put_lenenc_bytes(&mut row, b"");
        wire::put_lenenc_bytes(&mut row, &[b'x'; 300]);
        let mut out = Vec::new();
        remap_text_row(&mut out, &row, &names()).unwrap();
        let mut want = Vec::new();
        wire::put_lenenc_bytes(&mut want, b"app");
        want.push(0xFB);
        wire::put_lenenc_bytes(&mut want, b"");
        wire::put_lenenc_bytes(&mut want, &[b'x'; 300]);
        assert_eq!(out, want);
        // A value claiming more bytes than the row holds.
        assert!(remap_text_row(&mut Vec::new(), &[0x05, b'a'], &names()).is_err());
    }

    #[test]
    fn binary_rows_are_rewritten_in_their_string_values_only() {
        use ColumnType::*;
        let types = [
            (MYSQL_TYPE_LONGLONG, ColumnFlags::empty()),
            (MYSQL_TYPE_VAR_STRING, ColumnFlags::empty()),
            (MYSQL_TYPE_DATETIME, ColumnFlags::empty()),
            (MYSQL_TYPE_VAR_STRING, ColumnFlags::empty()),
            (MYSQL_TYPE_TINY, ColumnFlags::empty()),
        ];
        // Header, then the NULL bitmap (5 columns + 2 bits: one byte): column 3 is NULL (bit 5).
        let mut row = vec![0x00, 0b0010_0000];
        row.extend_from_slice(&42u64.to_le_bytes());
        wire::put_lenenc_bytes(&mut row, b"t_a__app");
        row.extend_from_slice(&[4, 0xE8, 0x07, 1, 2]);
        row.push(7);
        let mut out = Vec::new();
        remap_binary_row(&mut out, &row, &types, &names()).unwrap();
        let mut want = vec![0x00, 0b0010_0000];
        want.extend_from_slice(&42u64.to_le_bytes());
        wire::put_lenenc_bytes(&mut want, b"app");
        want.extend_from_slice(&[4, 0xE8, 0x07, 1, 2]);
        want.push(7);
        assert_eq!(out, want);
        // Cut short, or with bytes left over: refused, never misread.
        assert!(
            remap_binary_row(&mut Vec::new(), &row[..row.len() - 1], &types, &names()).is_err()
        );
        let mut longer = row.clone();
        longer.push(0);
        assert!(remap_binary_row(&mut Vec::new(), &longer, &types, &names()).is_err());
        assert!(remap_binary_row(&mut Vec::new(), &[0x00], &types, &names()).is_err());
    }

    #[test]
    fn physical_names_in_values_become_logical() {
        let mut names = NameMap::default();
        names.insert(b"t_a__app".to_vec(), b"app".to_vec());
        let mut v = Value::Bytes(b"t_a__app".to_vec());
        remap_value(&mut v, &names);
        assert_eq!(v, Value::Bytes(b"app".to_vec()));
        let mut v = Value::Bytes(b"REFERENCES `t_a__app`.`c` (`id`)".to_vec());
        remap_value(&mut v, &names);
        assert_eq!(v, Value::Bytes(b"REFERENCES `app`.`c` (`id`)".to_vec()));
        let mut v = Value::Bytes(b"Table 't_a__app.nope' doesn't exist".to_vec());
        remap_value(&mut v, &names);
        assert_eq!(v, Value::Bytes(b"Table 'app.nope' doesn't exist".to_vec()));
        let col = Column::new(ColumnType::MYSQL_TYPE_VAR_STRING).with_name(b"Tables_in_t_a__app");
        let mut buf = Vec::new();
        write_column(&mut buf, &col, &names);
        assert!(buf.windows(13).any(|w| w == b"Tables_in_app"));
        assert_eq!(
            logical_message("Table 't_a__app.x' doesn't exist", &names),
            "Table 'app.x' doesn't exist"
        );
    }

    #[test]
    fn a_capture_stops_at_its_limit() {
        let mut c = Capture::new(10);
        c.take(b"col", false);
        c.take(b"row1", true);
        assert!(!c.overflow);
        assert_eq!((c.columns.len(), c.rows.len()), (1, 1));
        c.take(b"row2", true);
        assert!(c.overflow && c.rows.is_empty() && c.columns.is_empty());
        c.take(b"r", true);
        assert!(c.rows.is_empty());
    }
}
