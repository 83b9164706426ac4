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
/// collations compare database names that way here). Dynamic programming over (pattern,
/// text) positions, so a pattern full of `%` cannot make the proxy spin.
pub fn like(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum P {
        Any,
        One,
        Char(char),
    }
    let mut parts = Vec::new();
    let mut chars = pattern.chars().flat_map(char::to_lowercase);
    while let Some(c) = chars.next() {
        parts.push(match c {
            '%' => P::Any,
            '_' => P::One,
            '\\' => P::Char(chars.next().unwrap_or('\\')),
            c => P::Char(c),
        });
    }
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    // row[j]: the pattern so far matches the first j characters of the text.
    let mut row = vec![false; t.len() + 1];
    row[0] = true;
    for p in parts {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            next[j] = match p {
                P::Any => row[j] || (j > 0 && next[j - 1]),
                P::One => j > 0 && row[j - 1],
                P::Char(c) => j > 0 && row[j - 1] && t[j - 1] == c,
            };
        }
        row = next;
    }
    row[t.len()]
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
        assert!(like("", ""));
        assert!(!like("", "a"));
        // Many wildcards stay cheap.
        let many = "%".repeat(5000) + "b";
        assert!(!like(&many, &"a".repeat(64)));
        assert!(like(&("%a".repeat(40) + "%"), &"a".repeat(64)));
    }
}
