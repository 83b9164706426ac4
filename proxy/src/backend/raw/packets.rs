//! Pure parsers and writers for the packets a backend sends back: OK, ERR, EOF, rows and
//! column definitions (protocol 4.1, without CLIENT_DEPRECATE_EOF). Every byte is untrusted:
//! a short or impossible packet is a [`BackendError::Protocol`], never a panic.

use mysql_common::constants::{ColumnFlags, ColumnType};

use super::BackendError;
use crate::protocol::wire::{put_lenenc_bytes, put_lenenc_int, Cursor, Malformed};

impl From<Malformed> for BackendError {
    fn from(m: Malformed) -> Self {
        BackendError::Protocol(m.to_string())
    }
}

/// What an OK packet (or the EOF ending a result set) reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OkInfo {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    /// Server status flags (`SERVER_STATUS_IN_TRANS`, `SERVER_MORE_RESULTS_EXISTS`, ...).
    pub status: u16,
    pub warnings: u16,
    /// The human-readable info text ("Rows matched: 1 ..."), possibly empty.
    pub info: Vec<u8>,
}

/// What an EOF packet reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EofInfo {
    pub warnings: u16,
    pub status: u16,
}

/// Whether `payload` is an EOF packet: 0xFE and shorter than 9 bytes (a text row whose first
/// value is 2^24 bytes or longer also starts with 0xFE, but is longer).
pub fn is_eof(payload: &[u8]) -> bool {
    payload.first() == Some(&0xFE) && payload.len() < 9
}

/// Parses an OK packet (header 0x00).
pub fn parse_ok(payload: &[u8]) -> Result<OkInfo, BackendError> {
    let mut c = Cursor::new(payload);
    if c.u8("OK header")? != 0x00 {
        return Err(BackendError::Protocol("not an OK packet".into()));
    }
    let affected_rows = c.lenenc_int("OK affected rows")?;
    let last_insert_id = c.lenenc_int("OK last insert id")?;
    let status = c.u16("OK status")?;
    let warnings = c.u16("OK warnings")?;
    let rest = c.rest();
    // Without CLIENT_SESSION_TRACK the info is the rest of the packet, but MariaDB sends it
    // length-encoded: take the length-encoded form when it covers the rest exactly.
    let mut lenenc = Cursor::new(rest);
    let info = match lenenc.lenenc_bytes("OK info") {
        Ok(s) if lenenc.remaining() == 0 => s,
        _ => rest,
    };
    Ok(OkInfo {
        affected_rows,
        last_insert_id,
        status,
        warnings,
        info: info.to_vec(),
    })
}

/// Parses an ERR packet (header 0xFF) into [`BackendError::Server`]; a malformed one gives
/// [`BackendError::Protocol`].
pub fn parse_err(payload: &[u8]) -> BackendError {
    match err_fields(payload) {
        Ok((code, state, message)) => BackendError::Server {
            code,
            state,
            message,
        },
        Err(m) => m.into(),
    }
}

fn err_fields(payload: &[u8]) -> Result<(u16, String, String), Malformed> {
    let mut c = Cursor::new(payload);
    if c.u8("ERR header")? != 0xFF {
        return Err(Malformed("not an ERR packet"));
    }
    let code = c.u16("ERR code")?;
    let rest = c.rest();
    let (state, message) = match rest.split_first() {
        Some((b'#', tail)) if tail.len() >= 5 => {
            let (state, message) = tail.split_at(5);
            (String::from_utf8_lossy(state).into_owned(), message)
        }
        _ => (String::from("HY000"), rest),
    };
    Ok((code, state, String::from_utf8_lossy(message).into_owned()))
}

/// Parses an EOF packet (0xFE, warnings, status).
pub fn parse_eof(payload: &[u8]) -> Result<EofInfo, BackendError> {
    if !is_eof(payload) {
        return Err(BackendError::Protocol("not an EOF packet".into()));
    }
    let mut c = Cursor::new(payload);
    c.u8("EOF header")?;
    let warnings = c.u16("EOF warnings")?;
    let status = c.u16("EOF status")?;
    Ok(EofInfo { warnings, status })
}

/// One packet of a result set after its column definitions.
#[derive(Debug)]
pub enum RowOrEnd<'a> {
    /// A row, as sent (text: length-encoded values; binary: 0x00, NULL bitmap, values).
    Row(&'a [u8]),
    /// The EOF ending the rows.
    Eof { status: u16, warnings: u16 },
    /// An ERR (the statement failed while sending rows) or a malformed packet.
    Err(BackendError),
}

/// Tells a row from the packet ending the result set.
pub fn classify_row_or_end(payload: &[u8], binary: bool) -> RowOrEnd<'_> {
    match payload.first() {
        None => RowOrEnd::Err(BackendError::Protocol("empty row packet".into())),
        Some(0xFF) => RowOrEnd::Err(parse_err(payload)),
        Some(0xFE) if payload.len() < 9 => match parse_eof(payload) {
            Ok(e) => RowOrEnd::Eof {
                status: e.status,
                warnings: e.warnings,
            },
            Err(e) => RowOrEnd::Err(e),
        },
        Some(0x00) if binary => RowOrEnd::Row(payload),
        Some(_) if binary => RowOrEnd::Err(BackendError::Protocol(
            "binary row without its 0x00 header".into(),
        )),
        Some(_) => RowOrEnd::Row(payload),
    }
}

/// A column definition (protocol 4.1), borrowing its strings from the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef<'a> {
    pub catalog: &'a [u8],
    pub schema: &'a [u8],
    pub table: &'a [u8],
    pub org_table: &'a [u8],
    pub name: &'a [u8],
    pub org_name: &'a [u8],
    pub charset: u16,
    pub length: u32,
    pub column_type: ColumnType,
    pub flags: ColumnFlags,
    pub decimals: u8,
}

impl<'a> ColumnDef<'a> {
    /// Parses a column definition payload.
    pub fn parse(payload: &'a [u8]) -> Result<Self, BackendError> {
        let mut c = Cursor::new(payload);
        let catalog = c.lenenc_bytes("column catalog")?;
        let schema = c.lenenc_bytes("column schema")?;
        let table = c.lenenc_bytes("column table")?;
        let org_table = c.lenenc_bytes("column org_table")?;
        let name = c.lenenc_bytes("column name")?;
        let org_name = c.lenenc_bytes("column org_name")?;
        let fixed = c.lenenc_int("column fixed length")?;
        if fixed < 10 {
            return Err(BackendError::Protocol(format!(
                "column definition with {fixed} fixed bytes"
            )));
        }
        let charset = c.u16("column charset")?;
        let length = c.u32("column length")?;
        let ty = c.u8("column type")?;
        let column_type = ColumnType::try_from(ty)
            .map_err(|_| BackendError::Protocol(format!("unknown column type {ty}")))?;
        let flags = ColumnFlags::from_bits_truncate(c.u16("column flags")?);
        let decimals = c.u8("column decimals")?;
        Ok(ColumnDef {
            catalog,
            schema,
            table,
            org_table,
            name,
            org_name,
            charset,
            length,
            column_type,
            flags,
            decimals,
        })
    }
}

/// Appends a column definition payload (protocol 4.1), with the schema and the column name
/// optionally replaced (physical names mapped back to logical ones).
pub fn write_column_def(
    buf: &mut Vec<u8>,
    def: &ColumnDef<'_>,
    schema_override: Option<&[u8]>,
    name_override: Option<&[u8]>,
) {
    put_lenenc_bytes(buf, def.catalog);
    put_lenenc_bytes(buf, schema_override.unwrap_or(def.schema));
    put_lenenc_bytes(buf, def.table);
    put_lenenc_bytes(buf, def.org_table);
    put_lenenc_bytes(buf, name_override.unwrap_or(def.name));
    put_lenenc_bytes(buf, def.org_name);
    put_lenenc_int(buf, 0x0C);
    buf.extend_from_slice(&def.charset.to_le_bytes());
    buf.extend_from_slice(&def.length.to_le_bytes());
    buf.push(def.column_type as u8);
    buf.extend_from_slice(&def.flags.bits().to_le_bytes());
    buf.push(def.decimals);
    buf.extend_from_slice(&[0, 0]);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::protocol::wire::{eof_packet, err_packet, ok_packet};
    use mysql_common::constants::StatusFlags;

    #[test]
    fn ok_packet_fields_and_info() {
        let mut b = Vec::new();
        ok_packet(
            &mut b,
            300,
            70_000,
            StatusFlags::SERVER_STATUS_IN_TRANS | StatusFlags::SERVER_STATUS_AUTOCOMMIT,
            2,
            b"Rows matched: 1",
        );
        let ok = parse_ok(&b).unwrap();
        assert_eq!(ok.affected_rows, 300);
        assert_eq!(ok.last_insert_id, 70_000);
        assert_eq!(ok.status, 0x0003);
        assert_eq!(ok.warnings, 2);
        assert_eq!(ok.info, b"Rows matched: 1");
        // Info as the rest of the packet (MySQL without session tracking).
        let mut b = vec![0x00, 1, 0, 2, 0, 0, 0];
        b.extend_from_slice(b"Records: 1");
        assert_eq!(parse_ok(&b).unwrap().info, b"Records: 1");
        assert_eq!(parse_ok(&[0, 0, 0, 2, 0, 0, 0]).unwrap().info, b"");
    }

    #[test]
    fn malformed_ok_eof_err_are_errors() {
        for bad in [
            &[][..],
            &[0x00],
            &[0x00, 0xFC, 1],
            &[0x00, 0, 0, 2, 0],
            &[0xFF],
        ] {
            assert!(matches!(parse_ok(bad), Err(BackendError::Protocol(_))));
        }
        assert!(parse_eof(&[0xFE, 0]).is_err());
        assert!(parse_eof(&[0x00, 0, 0, 0, 0]).is_err());
        assert!(matches!(parse_err(&[0xFF, 1]), BackendError::Protocol(_)));
        assert!(matches!(
            parse_err(&[0x00, 1, 2]),
            BackendError::Protocol(_)
        ));
    }

    #[test]
    fn err_packet_with_and_without_sqlstate() {
        let mut b = Vec::new();
        err_packet(&mut b, 1146, "42S02", "Table 'x.t' doesn't exist");
        match parse_err(&b) {
            BackendError::Server {
                code,
                state,
                message,
            } => {
                assert_eq!(code, 1146);
                assert_eq!(state, "42S02");
                assert_eq!(message, "Table 'x.t' doesn't exist");
            }
            other => panic!("{other:?}"),
        }
        let e = parse_err(&[0xFF, 0x10, 0x04, b'B', b'y', b'e']);
        assert!(
            matches!(e, BackendError::Server { code: 1040, ref state, ref message } if state == "HY000" && message == "Bye")
        );
    }

    #[test]
    fn eof_packet_fields() {
        let mut b = Vec::new();
        eof_packet(&mut b, StatusFlags::SERVER_MORE_RESULTS_EXISTS, 3);
        assert_eq!(
            parse_eof(&b).unwrap(),
            EofInfo {
                warnings: 3,
                status: 0x0008
            }
        );
    }

    #[test]
    fn row_or_end_classification() {
        // A text row whose first value is 2^24 bytes or more starts with 0xFE (8-byte length).
        let mut long_row = vec![0xFE];
        long_row.extend_from_slice(&(1u64 << 24).to_le_bytes());
        long_row.extend_from_slice(b"abc");
        assert!(matches!(classify_row_or_end(&long_row, false), RowOrEnd::Row(r) if r.len() == 12));
        // Exactly 9 bytes starting with 0xFE is a row too.
        assert!(matches!(
            classify_row_or_end(&[0xFE, 0, 0, 0, 0, 0, 0, 0, 0], false),
            RowOrEnd::Row(_)
        ));
        assert!(matches!(
            classify_row_or_end(&[0xFE, 1, 0, 0x22, 0], false),
            RowOrEnd::Eof {
                warnings: 1,
                status: 0x22
            }
        ));
        assert!(matches!(
            classify_row_or_end(&[0xFE, 1, 0, 0x22, 0], true),
            RowOrEnd::Eof { .. }
        ));
        assert!(matches!(
            classify_row_or_end(&[0xFE, 1], false),
            RowOrEnd::Err(BackendError::Protocol(_))
        ));
        assert!(matches!(
            classify_row_or_end(&[0x01, b'a', 0xFB], false),
            RowOrEnd::Row(_)
        ));
        assert!(matches!(
            classify_row_or_end(&[0x00, 0x00, 1], true),
            RowOrEnd::Row(_)
        ));
        assert!(matches!(
            classify_row_or_end(&[0x01, b'a'], true),
            RowOrEnd::Err(BackendError::Protocol(_))
        ));
        let mut err = Vec::new();
        err_packet(&mut err, 1317, "70100", "Query execution was interrupted");
        assert!(matches!(
            classify_row_or_end(&err, false),
            RowOrEnd::Err(BackendError::Server { code: 1317, .. })
        ));
        assert!(matches!(
            classify_row_or_end(&[], false),
            RowOrEnd::Err(BackendError::Protocol(_))
        ));
    }

    #[test]
    fn column_def_round_trip_and_overrides() {
        let def = ColumnDef {
            catalog: b"def",
            schema: b"t_0001_app",
            table: b"u",
            org_table: b"users",
            name: b"n",
            org_name: b"name",
            charset: 45,
            length: 400,
            column_type: ColumnType::MYSQL_TYPE_VAR_STRING,
            flags: ColumnFlags::NOT_NULL_FLAG | ColumnFlags::UNSIGNED_FLAG,
            decimals: 0,
        };
        let mut b = Vec::new();
        write_column_def(&mut b, &def, None, None);
        assert_eq!(ColumnDef::parse(&b).unwrap(), def);
        assert_eq!(&b[b.len() - 13..b.len() - 12], &[0x0C]);
        assert_eq!(&b[b.len() - 2..], &[0, 0]);
        let mut o = Vec::new();
        write_column_def(&mut o, &def, Some(b"app"), Some(b"label"));
        let back = ColumnDef::parse(&o).unwrap();
        assert_eq!(back.schema, b"app");
        assert_eq!(back.name, b"label");
        assert_eq!(back.org_name, b"name");
        assert_eq!(back.length, 400);
        // Every truncation of a valid definition is an error, never a panic.
        for n in 0..b.len() - 2 {
            assert!(ColumnDef::parse(&b[..n]).is_err(), "prefix of {n} bytes");
        }
        let mut bad_type = b.clone();
        let at = bad_type.len() - 6;
        bad_type[at] = 0x50;
        assert!(ColumnDef::parse(&bad_type).is_err());
    }
}
