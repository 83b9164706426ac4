//! COM_STMT_EXECUTE parameter decoding and the COM_STMT_PREPARE answer.
//!
//! Parameter types are sent by the client on the first execution (the "new params bound" flag)
//! and reused by later executions that omit them, so the session keeps them per statement.
//! Every length is checked: a malformed execute gets an error, never a panic.

use mysql_common::constants::ColumnType;
use mysql_common::value::Value;

use super::wire::{Cursor, Malformed};

/// A parameter's wire type: the column type and whether it is unsigned.
pub type ParamType = (ColumnType, bool);

/// A decoded COM_STMT_EXECUTE (after the command byte and statement id).
#[derive(Debug)]
pub struct Execute {
    pub flags: u8,
    pub params: Vec<Value>,
    /// Types sent with this execution, when the client sent them.
    pub new_types: Option<Vec<ParamType>>,
}

/// Reads the statement id that starts every COM_STMT_* payload.
pub fn statement_id(payload: &[u8]) -> Result<u32, Malformed> {
    Cursor::new(payload).u32("statement id")
}

/// Decodes the rest of a COM_STMT_EXECUTE for a statement with `num_params` parameters.
/// `known_types` are the types bound by an earlier execution; `long_data[i]` is the data sent
/// with COM_STMT_SEND_LONG_DATA for parameter i, which takes its place in the packet.
pub fn parse_execute(
    payload: &[u8],
    num_params: usize,
    known_types: Option<&[ParamType]>,
    long_data: &mut [Option<Vec<u8>>],
) -> Result<Execute, Malformed> {
    let mut c = Cursor::new(payload);
    c.u32("statement id")?;
    let flags = c.u8("flags")?;
    c.u32("iteration count")?;
    if num_params == 0 {
        return Ok(Execute {
            flags,
            params: Vec::new(),
            new_types: None,
        });
    }
    let bitmap = c.bytes(num_params.div_ceil(8), "null bitmap")?;
    let bound = c.u8("new params bound flag")?;
    let new_types = if bound == 1 {
        let mut types = Vec::with_capacity(num_params);
        for _ in 0..num_params {
            let ty = c.u8("parameter type")?;
            let fl = c.u8("parameter flags")?;
            let ty = ColumnType::try_from(ty).map_err(|_| Malformed("unknown parameter type"))?;
            types.push((ty, fl & 0x80 != 0));
        }
        Some(types)
    } else {
        None
    };
    let types: &[ParamType] = match (&new_types, known_types) {
        (Some(t), _) => t,
        (None, Some(t)) if t.len() == num_params => t,
        _ => return Err(Malformed("parameter types were never sent")),
    };
    let mut params = Vec::with_capacity(num_params);
    for (i, &(ty, unsigned)) in types.iter().enumerate() {
        if bitmap[i / 8] & (1 << (i % 8)) != 0 {
            params.push(Value::NULL);
        } else if let Some(data) = long_data.get_mut(i).and_then(Option::take) {
            params.push(Value::Bytes(data));
        } else {
            params.push(read_value(&mut c, ty, unsigned)?);
        }
    }
    Ok(Execute {
        flags,
        params,
        new_types,
    })
}

fn read_value(c: &mut Cursor<'_>, ty: ColumnType, unsigned: bool) -> Result<Value, Malformed> {
    use ColumnType::*;
    let int = |n: u64, bits: u32| -> Value {
        if unsigned {
            Value::UInt(n)
        } else {
            // Sign-extend from `bits`.
            let shift = 64 - bits;
            Value::Int(((n << shift) as i64) >> shift)
        }
    };
    Ok(match ty {
        MYSQL_TYPE_NULL => Value::NULL,
        MYSQL_TYPE_TINY => int(u64::from(c.u8("tiny")?), 8),
        MYSQL_TYPE_SHORT | MYSQL_TYPE_YEAR => int(u64::from(c.u16("short")?), 16),
        MYSQL_TYPE_LONG | MYSQL_TYPE_INT24 => int(u64::from(c.u32("long")?), 32),
        MYSQL_TYPE_LONGLONG => int(c.u64("longlong")?, 64),
        MYSQL_TYPE_FLOAT => Value::Float(f32::from_bits(c.u32("float")?)),
        MYSQL_TYPE_DOUBLE => Value::Double(f64::from_bits(c.u64("double")?)),
        MYSQL_TYPE_DATE
        | MYSQL_TYPE_DATETIME
        | MYSQL_TYPE_TIMESTAMP
        | MYSQL_TYPE_DATETIME2
        | MYSQL_TYPE_TIMESTAMP2
        | MYSQL_TYPE_NEWDATE => read_datetime(c)?,
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => read_time(c)?,
        _ => Value::Bytes(c.lenenc_bytes("string parameter")?.to_vec()),
    })
}

fn read_datetime(c: &mut Cursor<'_>) -> Result<Value, Malformed> {
    let len = c.u8("datetime length")?;
    let b = c.bytes(usize::from(len), "datetime")?;
    let mut d = Cursor::new(b);
    match len {
        0 => Ok(Value::Date(0, 0, 0, 0, 0, 0, 0)),
        4 | 7 | 11 => {
            let y = d.u16("year")?;
            let mo = d.u8("month")?;
            let da = d.u8("day")?;
            let (h, mi, s) = if len >= 7 {
                (d.u8("hour")?, d.u8("minute")?, d.u8("second")?)
            } else {
                (0, 0, 0)
            };
            let us = if len == 11 { d.u32("microsecond")? } else { 0 };
            Ok(Value::Date(y, mo, da, h, mi, s, us))
        }
        _ => Err(Malformed("datetime length")),
    }
}

fn read_time(c: &mut Cursor<'_>) -> Result<Value, Malformed> {
    let len = c.u8("time length")?;
    let b = c.bytes(usize::from(len), "time")?;
    let mut d = Cursor::new(b);
    match len {
        0 => Ok(Value::Time(false, 0, 0, 0, 0, 0)),
        8 | 12 => {
            let neg = d.u8("sign")? != 0;
            let days = d.u32("days")?;
            let (h, mi, s) = (d.u8("hour")?, d.u8("minute")?, d.u8("second")?);
            let us = if len == 12 { d.u32("microsecond")? } else { 0 };
            Ok(Value::Time(neg, days, h, mi, s, us))
        }
        _ => Err(Malformed("time length")),
    }
}

/// The first packet of the COM_STMT_PREPARE answer.
pub fn prepare_ok(buf: &mut Vec<u8>, stmt_id: u32, columns: u16, params: u16, warnings: u16) {
    buf.push(0x00);
    buf.extend_from_slice(&stmt_id.to_le_bytes());
    buf.extend_from_slice(&columns.to_le_bytes());
    buf.extend_from_slice(&params.to_le_bytes());
    buf.push(0);
    buf.extend_from_slice(&warnings.to_le_bytes());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn packet(types: &[(u8, u8)], values: &[u8], nulls: u8) -> Vec<u8> {
        let mut p = vec![1, 0, 0, 0, 0, 1, 0, 0, 0, nulls, 1];
        for (t, f) in types {
            p.extend_from_slice(&[*t, *f]);
        }
        p.extend_from_slice(values);
        p
    }

    #[test]
    fn decodes_signed_unsigned_and_strings() {
        let p = packet(
            &[(1, 0), (1, 0x80), (8, 0), (253, 0)],
            &[0xFF, 0xFF, 1, 0, 0, 0, 0, 0, 0, 0x80, 2, b'h', b'i'],
            0,
        );
        let e = parse_execute(&p, 4, None, &mut [None, None, None, None]).unwrap();
        assert_eq!(
            e.params,
            vec![
                Value::Int(-1),
                Value::UInt(255),
                Value::Int(i64::MIN + 1),
                Value::Bytes(b"hi".to_vec())
            ]
        );
    }

    #[test]
    fn nulls_and_long_data_take_their_place() {
        let p = packet(&[(8, 0), (252, 0)], &[], 0b01);
        let mut long = [None, Some(b"blob".to_vec())];
        let e = parse_execute(&p, 2, None, &mut long).unwrap();
        assert_eq!(e.params, vec![Value::NULL, Value::Bytes(b"blob".to_vec())]);
    }

    #[test]
    fn malformed_executes_are_errors() {
        let p = packet(&[(8, 0)], &[1, 2, 3], 0);
        assert!(parse_execute(&p, 1, None, &mut [None]).is_err());
        // Types never sent.
        let mut p = vec![1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0];
        p.extend_from_slice(&[1]);
        assert!(parse_execute(&p, 1, None, &mut [None]).is_err());
        // Every truncation of a valid packet is an error, never a panic.
        let good = packet(&[(12, 0), (11, 0)], &[4, 0xE8, 7, 1, 2, 0], 0);
        assert!(parse_execute(&good, 2, None, &mut [None, None]).is_ok());
        for cut in 0..good.len() {
            assert!(parse_execute(&good[..cut], 2, None, &mut [None, None]).is_err());
        }
        // An unknown type byte.
        let p = packet(&[(200, 0)], &[0], 0);
        assert!(parse_execute(&p, 1, None, &mut [None]).is_err());
    }
}
