//! Whether changing a column's type can lose data: the "narrowing" lint. Column types are the
//! server's `COLUMN_TYPE` text (`int(10) unsigned`, `varchar(100)`, `decimal(10,2)`,
//! `enum('a','b')`). A change is safe only when every value of the old type fits the new one
//! unchanged; anything not known to be safe (including changes between families) counts as
//! narrowing, so lint errs on the side of asking.

/// A column type split into its base name, arguments and flags.
#[derive(Debug, PartialEq)]
struct ColumnType {
    base: String,
    args: Vec<String>,
    unsigned: bool,
}

fn parse(column_type: &str) -> ColumnType {
    let lower = column_type.trim().to_ascii_lowercase();
    let (head, args, tail) = match (lower.find('('), lower.rfind(')')) {
        (Some(open), Some(close)) if close > open => (
            lower[..open].trim().to_string(),
            split_args(&lower[open + 1..close]),
            lower[close + 1..].to_string(),
        ),
        _ => {
            let mut words = lower.splitn(2, ' ');
            let head = words.next().unwrap_or_default().to_string();
            (
                head,
                Vec::new(),
                words.next().unwrap_or_default().to_string(),
            )
        }
    };
    ColumnType {
        base: head,
        args,
        unsigned: tail.split_whitespace().any(|w| w == "unsigned"),
    }
}

/// `a,b` or `'x','y''z'` into items (quotes kept, commas inside quotes respected).
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut current).trim().to_string()),
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

fn number(args: &[String], i: usize) -> Option<u64> {
    args.get(i).and_then(|a| a.parse().ok())
}

fn int_rank(base: &str) -> Option<u32> {
    Some(match base {
        "tinyint" => 1,
        "smallint" => 2,
        "mediumint" => 3,
        "int" | "integer" => 4,
        "bigint" => 5,
        _ => return None,
    })
}

/// Decimal digits an integer type needs (for int -> decimal).
fn int_digits(rank: u32) -> u64 {
    match rank {
        1 => 3,
        2 => 5,
        3 => 8,
        4 => 10,
        _ => 20,
    }
}

fn text_rank(base: &str) -> Option<(u32, bool)> {
    Some(match base {
        "tinytext" => (1, false),
        "text" => (2, false),
        "mediumtext" => (3, false),
        "longtext" => (4, false),
        "tinyblob" => (1, true),
        "blob" => (2, true),
        "mediumblob" => (3, true),
        "longblob" => (4, true),
        _ => return None,
    })
}

/// Why changing `from` to `to` may lose data, or `None` when it cannot.
pub(crate) fn narrowing(from: &str, to: &str) -> Option<String> {
    if from.eq_ignore_ascii_case(to) {
        return None;
    }
    let (f, t) = (parse(from), parse(to));
    let lossy = || Some(format!("{from} -> {to} may lose data"));
    let narrower = || Some(format!("{to} is narrower than {from}"));
    match (f.base.as_str(), t.base.as_str()) {
        (a, b) if int_rank(a).is_some() && int_rank(b).is_some() => {
            let (ra, rb) = (int_rank(a).unwrap_or(0), int_rank(b).unwrap_or(0));
            let fits = if f.unsigned == t.unsigned {
                rb >= ra
            } else if f.unsigned {
                rb > ra // unsigned -> signed needs the next size up
            } else {
                false // negative values do not fit an unsigned type
            };
            if fits {
                None
            } else {
                narrower()
            }
        }
        (a, "decimal") if int_rank(a).is_some() => {
            let digits = number(&t.args, 0).unwrap_or(10) - number(&t.args, 1).unwrap_or(0);
            let fits =
                digits >= int_digits(int_rank(a).unwrap_or(5)) && (!t.unsigned || f.unsigned);
            if fits {
                None
            } else {
                narrower()
            }
        }
        ("decimal", "decimal") => {
            let (pf, sf) = (
                number(&f.args, 0).unwrap_or(10),
                number(&f.args, 1).unwrap_or(0),
            );
            let (pt, st) = (
                number(&t.args, 0).unwrap_or(10),
                number(&t.args, 1).unwrap_or(0),
            );
            if st >= sf
                && pt.saturating_sub(st) >= pf.saturating_sub(sf)
                && (!t.unsigned || f.unsigned)
            {
                None
            } else {
                narrower()
            }
        }
        ("float", "double") | ("float", "float") | ("double", "double") => {
            if f.args == t.args || t.args.is_empty() {
                None
            } else {
                lossy()
            }
        }
        ("tinyint" | "smallint" | "mediumint" | "int", "double") => None,
        ("char" | "varchar", "char" | "varchar")
        | ("binary" | "varbinary", "binary" | "varbinary") => {
            let (lf, lt) = (
                number(&f.args, 0).unwrap_or(1),
                number(&t.args, 0).unwrap_or(1),
            );
            // CHAR strips trailing spaces and BINARY pads with zeros: moving a value into the
            // fixed-length kind changes it.
            let into_fixed = (t.base == "char" || t.base == "binary") && f.base != t.base;
            if lt < lf {
                narrower()
            } else if into_fixed {
                lossy()
            } else {
                None
            }
        }
        ("char" | "varchar", b) | ("binary" | "varbinary", b) if text_rank(b).is_some() => {
            let (rank, blob) = text_rank(b).unwrap_or((1, false));
            let binary = f.base.contains("binary");
            // TINYTEXT/TINYBLOB hold 255 bytes: a 4-byte character set fits 63 characters.
            let fits = blob == binary && (rank > 1 || number(&f.args, 0).unwrap_or(0) <= 63);
            if fits {
                None
            } else {
                lossy()
            }
        }
        (a, b) if text_rank(a).is_some() && text_rank(b).is_some() => {
            let ((ra, ba), (rb, bb)) = (
                text_rank(a).unwrap_or((0, false)),
                text_rank(b).unwrap_or((0, false)),
            );
            if ba == bb && rb >= ra {
                None
            } else {
                narrower()
            }
        }
        ("enum", "enum") | ("set", "set") => {
            // Stored as positions: existing values must keep theirs.
            if t.args.len() >= f.args.len() && t.args[..f.args.len()] == f.args[..] {
                None
            } else {
                narrower()
            }
        }
        ("datetime" | "timestamp" | "time", _) if f.base == t.base => {
            if number(&t.args, 0).unwrap_or(0) >= number(&f.args, 0).unwrap_or(0) {
                None
            } else {
                narrower()
            }
        }
        ("timestamp", "datetime") | ("date", "datetime") => {
            if number(&t.args, 0).unwrap_or(0) >= number(&f.args, 0).unwrap_or(0) {
                None
            } else {
                narrower()
            }
        }
        ("bit", "bit") => {
            if number(&t.args, 0).unwrap_or(1) >= number(&f.args, 0).unwrap_or(1) {
                None
            } else {
                narrower()
            }
        }
        // Display width alone (int(10) -> int(11)) is handled by the integer arm.
        _ => lossy(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("varchar(100)", "varchar(50)", true)]
    #[case("varchar(50)", "varchar(100)", false)]
    #[case("int(11)", "smallint(6)", true)]
    #[case("bigint(20)", "int(11)", true)]
    #[case("int(11)", "bigint(20)", false)]
    #[case("int(11)", "int(10) unsigned", true)]
    #[case("int(10) unsigned", "int(11)", true)]
    #[case("int(10) unsigned", "bigint(20)", false)]
    #[case("int(10) unsigned", "bigint(20) unsigned", false)]
    #[case("int(11)", "int(10)", false)]
    #[case("tinyint(4)", "decimal(5,0)", false)]
    #[case("int(11)", "decimal(5,0)", true)]
    #[case("decimal(10,2)", "decimal(12,2)", false)]
    #[case("decimal(10,2)", "decimal(10,1)", true)]
    #[case("decimal(10,2)", "decimal(10,4)", true)]
    #[case("decimal(10,2)", "decimal(12,4)", false)]
    #[case("float", "double", false)]
    #[case("double", "float", true)]
    #[case("char(10)", "varchar(10)", false)]
    #[case("varchar(10)", "char(10)", true)]
    #[case("varchar(100)", "text", false)]
    #[case("varchar(100)", "tinytext", true)]
    #[case("text", "mediumtext", false)]
    #[case("mediumtext", "text", true)]
    #[case("text", "blob", true)]
    #[case("text", "varchar(255)", true)]
    #[case("enum('a','b')", "enum('a','b','c')", false)]
    #[case("enum('a','b')", "enum('b','a')", true)]
    #[case("enum('a','b','c')", "enum('a','b')", true)]
    #[case("set('x','y')", "set('x','y','z')", false)]
    #[case("datetime(6)", "datetime(3)", true)]
    #[case("datetime", "datetime(3)", false)]
    #[case("timestamp", "datetime", false)]
    #[case("datetime", "timestamp", true)]
    #[case("date", "datetime", false)]
    #[case("datetime", "date", true)]
    #[case("bit(8)", "bit(4)", true)]
    #[case("varchar(10)", "int(11)", true)]
    #[case("int(11)", "varchar(20)", true)]
    #[case("int(11)", "double", false)]
    #[case("bigint(20)", "double", true)]
    fn classifies_type_changes(#[case] from: &str, #[case] to: &str, #[case] narrowing_: bool) {
        assert_eq!(narrowing(from, to).is_some(), narrowing_, "{from} -> {to}");
    }

    #[test]
    fn splits_enum_values_with_commas_and_quotes() {
        assert_eq!(
            parse("enum('a,b','it''s')").args,
            vec!["'a,b'".to_string(), "'it''s'".to_string()]
        );
        assert!(parse("int(10) unsigned zerofill").unsigned);
    }
}
