//! Encoders for the server side of the protocol (OK, ERR, EOF, rows, handshake) and a
//! bounds-checked cursor for parsing what clients send. Nothing here can panic on input.

use mysql_common::constants::{ColumnFlags, ColumnType, StatusFlags};
use mysql_common::value::Value;

/// Appends a length-encoded integer.
pub fn put_lenenc_int(buf: &mut Vec<u8>, n: u64) {
    match n {
        0..=250 => buf.push(n as u8),
        251..=0xFFFF => {
            buf.push(0xFC);
            buf.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            buf.push(0xFD);
            buf.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            buf.push(0xFE);
            buf.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    put_lenenc_int(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

/// OK packet payload (CLIENT_PROTOCOL_41).
pub fn ok_packet(
    buf: &mut Vec<u8>,
    affected_rows: u64,
    last_insert_id: u64,
    status: StatusFlags,
    warnings: u16,
    info: &[u8],
) {
    buf.push(0x00);
    put_lenenc_int(buf, affected_rows);
    put_lenenc_int(buf, last_insert_id);
    buf.extend_from_slice(&status.bits().to_le_bytes());
    buf.extend_from_slice(&warnings.to_le_bytes());
    // Servers send the info text length-encoded (not as the rest of the packet), and clients
    // parse it that way.
    if !info.is_empty() {
        put_lenenc_bytes(buf, info);
    }
}

/// ERR packet payload (CLIENT_PROTOCOL_41).
pub fn err_packet(buf: &mut Vec<u8>, code: u16, sqlstate: &str, message: &str) {
    buf.push(0xFF);
    buf.extend_from_slice(&code.to_le_bytes());
    buf.push(b'#');
    let state = sqlstate.as_bytes();
    for i in 0..5 {
        buf.push(state.get(i).copied().unwrap_or(b'0'));
    }
    buf.extend_from_slice(message.as_bytes());
}

/// EOF packet payload (clients without CLIENT_DEPRECATE_EOF, which OctoDB does not offer).
pub fn eof_packet(buf: &mut Vec<u8>, status: StatusFlags, warnings: u16) {
    buf.push(0xFE);
    buf.extend_from_slice(&warnings.to_le_bytes());
    buf.extend_from_slice(&status.bits().to_le_bytes());
}

/// A text-protocol row: each value as a length-encoded string, NULL as 0xFB.
pub fn text_row(buf: &mut Vec<u8>, values: &[Value]) {
    for v in values {
        match v {
            Value::NULL => buf.push(0xFB),
            Value::Bytes(b) => put_lenenc_bytes(buf, b),
            other => put_lenenc_bytes(buf, text_of(other).as_bytes()),
        }
    }
}

/// The text form of a non-bytes value (mysql_async returns bytes for text results, so this
/// only serves values that came from elsewhere).
fn text_of(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        other => {
            let sql = other.as_sql(true);
            sql.trim_matches('\'').to_string()
        }
    }
}

/// A binary-protocol row: header, NULL bitmap (offset 2), then each non-NULL value encoded as
/// its column type says.
pub fn binary_row(buf: &mut Vec<u8>, values: &[Value], types: &[ColumnType]) {
    buf.push(0x00);
    let bitmap_at = buf.len();
    let bitmap_len = (values.len() + 7 + 2) / 8;
    buf.resize(bitmap_at + bitmap_len, 0);
    for (i, v) in values.iter().enumerate() {
        if matches!(v, Value::NULL) {
            let bit = i + 2;
            buf[bitmap_at + bit / 8] |= 1 << (bit % 8);
            continue;
        }
        let ty = types
            .get(i)
            .copied()
            .unwrap_or(ColumnType::MYSQL_TYPE_VAR_STRING);
        binary_value(buf, v, ty);
    }
}

fn binary_value(buf: &mut Vec<u8>, v: &Value, ty: ColumnType) {
    use ColumnType::*;
    match v {
        Value::NULL => {}
        Value::Bytes(b) => put_lenenc_bytes(buf, b),
        Value::Int(i) => put_int(buf, *i as u64, ty),
        Value::UInt(u) => put_int(buf, *u, ty),
        Value::Float(f) => match ty {
            MYSQL_TYPE_DOUBLE => buf.extend_from_slice(&f64::from(*f).to_le_bytes()),
            _ => buf.extend_from_slice(&f.to_le_bytes()),
        },
        Value::Double(d) => match ty {
            MYSQL_TYPE_FLOAT => buf.extend_from_slice(&(*d as f32).to_le_bytes()),
            _ => buf.extend_from_slice(&d.to_le_bytes()),
        },
        Value::Date(y, mo, d, h, mi, s, us) => {
            if *us != 0 {
                buf.push(11);
            } else if *h != 0 || *mi != 0 || *s != 0 {
                buf.push(7);
            } else if *y != 0 || *mo != 0 || *d != 0 {
                buf.push(4);
            } else {
                buf.push(0);
                return;
            }
            let len = buf.last().copied().unwrap_or(0);
            buf.extend_from_slice(&y.to_le_bytes());
            buf.extend_from_slice(&[*mo, *d]);
            if len >= 7 {
                buf.extend_from_slice(&[*h, *mi, *s]);
            }
            if len == 11 {
                buf.extend_from_slice(&us.to_le_bytes());
            }
        }
        Value::Time(neg, days, h, mi, s, us) => {
            if *us != 0 {
                buf.push(12);
            } else if *days != 0 || *h != 0 || *mi != 0 || *s != 0 {
                buf.push(8);
            } else {
                buf.push(0);
                return;
            }
            let len = buf.last().copied().unwrap_or(0);
            buf.push(u8::from(*neg));
            buf.extend_from_slice(&days.to_le_bytes());
            buf.extend_from_slice(&[*h, *mi, *s]);
            if len == 12 {
                buf.extend_from_slice(&us.to_le_bytes());
            }
        }
    }
}

fn put_int(buf: &mut Vec<u8>, n: u64, ty: ColumnType) {
    use ColumnType::*;
    match ty {
        MYSQL_TYPE_TINY => buf.push(n as u8),
        MYSQL_TYPE_SHORT | MYSQL_TYPE_YEAR => buf.extend_from_slice(&(n as u16).to_le_bytes()),
        MYSQL_TYPE_LONG | MYSQL_TYPE_INT24 => buf.extend_from_slice(&(n as u32).to_le_bytes()),
        MYSQL_TYPE_LONGLONG => buf.extend_from_slice(&n.to_le_bytes()),
        // An integer value for a column the server describes otherwise: send its text.
        _ => put_lenenc_bytes(buf, n.to_string().as_bytes()),
    }
}

/// Whether a column is unsigned (drives how binary parameters and values are read).
pub fn is_unsigned(flags: ColumnFlags) -> bool {
    flags.contains(ColumnFlags::UNSIGNED_FLAG)
}

/// A bounds-checked reader over a client payload.
pub struct Cursor<'a> {
    buf: &'a [u8],
}

/// A client payload ended early or held an impossible value.
#[derive(Debug, thiserror::Error)]
#[error("malformed packet: {0}")]
pub struct Malformed(pub &'static str);

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The next byte, not consumed.
    pub fn peek(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Malformed> {
        if self.buf.len() < n {
            return Err(Malformed(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, Malformed> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, Malformed> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, Malformed> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, Malformed> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub fn lenenc_int(&mut self, what: &'static str) -> Result<u64, Malformed> {
        match self.u8(what)? {
            n @ 0..=250 => Ok(u64::from(n)),
            0xFC => Ok(u64::from(self.u16(what)?)),
            0xFD => {
                let b = self.bytes(3, what)?;
                Ok(u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16)
            }
            0xFE => self.u64(what),
            _ => Err(Malformed(what)),
        }
    }

    pub fn lenenc_bytes(&mut self, what: &'static str) -> Result<&'a [u8], Malformed> {
        let n = self.lenenc_int(what)?;
        let n = usize::try_from(n).map_err(|_| Malformed(what))?;
        self.bytes(n, what)
    }

    /// A NUL-terminated string (the NUL is consumed); a missing NUL takes the rest.
    pub fn null_str(&mut self) -> &'a [u8] {
        match self.buf.iter().position(|&b| b == 0) {
            Some(i) => {
                let s = &self.buf[..i];
                self.buf = &self.buf[i + 1..];
                s
            }
            None => self.rest(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lenenc_roundtrip() {
        for n in [
            0u64,
            250,
            251,
            0xFFFF,
            0x1_0000,
            0xFF_FFFF,
            0x100_0000,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_lenenc_int(&mut b, n);
            assert_eq!(Cursor::new(&b).lenenc_int("n").unwrap(), n);
        }
    }

    #[test]
    fn cursor_reports_short_input() {
        let mut c = Cursor::new(&[0xFD, 1]);
        assert!(c.lenenc_int("x").is_err());
        let mut c = Cursor::new(&[0xFF]);
        assert!(c.lenenc_int("x").is_err());
        let mut c = Cursor::new(&[5, 1, 2]);
        assert!(c.lenenc_bytes("x").is_err());
    }

    #[test]
    fn binary_row_null_bitmap_starts_at_bit_two() {
        let mut b = Vec::new();
        binary_row(
            &mut b,
            &[Value::NULL, Value::Int(-1)],
            &[ColumnType::MYSQL_TYPE_LONG, ColumnType::MYSQL_TYPE_TINY],
        );
        assert_eq!(b, vec![0x00, 0b0000_0100, 0xFF]);
    }

    #[test]
    fn zero_date_and_negative_time_encode_compactly() {
        let mut b = Vec::new();
        binary_value(
            &mut b,
            &Value::Date(0, 0, 0, 0, 0, 0, 0),
            ColumnType::MYSQL_TYPE_DATE,
        );
        assert_eq!(b, vec![0]);
        let mut b = Vec::new();
        binary_value(
            &mut b,
            &Value::Time(true, 1, 2, 3, 4, 0),
            ColumnType::MYSQL_TYPE_TIME,
        );
        assert_eq!(b, vec![8, 1, 1, 0, 0, 0, 2, 3, 4]);
    }
}
