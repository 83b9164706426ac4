//! Statements the session answers itself, with the tenant's own view: `SHOW DATABASES`
//! lists the tenant's logical databases only.

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::{Column, Value};
use tokio::io::{AsyncRead, AsyncWrite};

use super::results;
use super::Session;
use crate::error::SessionError;
use crate::protocol::wire;

/// MySQL LIKE: `%` any run, `_` one character, `\` escapes; case-insensitive (the default
/// collations compare database names that way here).
pub fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    like_at(&p, &t)
}

fn like_at(p: &[char], t: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some(('%', rest)) => (0..=t.len()).any(|i| like_at(rest, &t[i..])),
        Some(('_', rest)) => !t.is_empty() && like_at(rest, &t[1..]),
        Some(('\\', rest)) if !rest.is_empty() => {
            t.first() == Some(&rest[0]) && like_at(&rest[1..], &t[1..])
        }
        Some((c, rest)) => t.first() == Some(c) && like_at(rest, &t[1..]),
    }
}

impl<R, W> Session<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    /// `SHOW DATABASES [LIKE 'pattern']`.
    pub(super) async fn show_databases(
        &mut self,
        pattern: Option<&str>,
    ) -> Result<(), SessionError> {
        let mut names: Vec<&String> = self
            .id
            .mapping
            .databases
            .keys()
            .filter(|n| pattern.is_none_or(|p| like(p, n)))
            .collect();
        names.sort();
        let header = match pattern {
            Some(p) => format!("Database ({p})"),
            None => "Database".to_string(),
        };
        let col = Column::new(ColumnType::MYSQL_TYPE_VAR_STRING)
            .with_schema(b"information_schema")
            .with_table(b"SCHEMATA")
            .with_org_table(b"SCHEMATA")
            .with_name(header.as_bytes())
            .with_org_name(b"SCHEMA_NAME")
            .with_character_set(33)
            .with_column_length(192)
            .with_flags(ColumnFlags::NOT_NULL_FLAG);
        let status = self.tx.flags();
        let at = self.writer.begin_packet();
        wire::put_lenenc_int(self.writer.payload(), 1);
        self.writer.end_packet(at).await?;
        results::write_columns(&mut self.writer, &[col], &self.id.names, status).await?;
        for name in names {
            let at = self.writer.begin_packet();
            wire::text_row(
                self.writer.payload(),
                &[Value::Bytes(name.as_bytes().to_vec())],
            );
            self.writer.end_packet(at).await?;
        }
        let at = self.writer.begin_packet();
        wire::eof_packet(self.writer.payload(), status, 0);
        self.writer.end_packet(at).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("%", "app"));
        assert!(like("a%", "app"));
        assert!(like("A_P", "app"));
        assert!(!like("a_", "app"));
        assert!(like("app\\_x", "app_x"));
        assert!(!like("app\\_x", "appyx"));
        assert!(like("%p%", "app"));
        assert!(!like("b%", "app"));
    }
}
