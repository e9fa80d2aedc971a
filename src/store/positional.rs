//! SQLite's bound parameters, spelled the cheap way: the store writes its
//! SQL once with PostgreSQL's numbered `$N`, and on SQLite each `$N` is
//! rewritten to an anonymous `?` with its value repeated in order.
//!
//! Why: SQLite treats `$1` as a *named* parameter, and sqlx binds each
//! named parameter by asking SQLite its name, which SQLite finds by a
//! linear walk of the statement's names. A multi-row statement of the hot
//! path (256 fires of 10 values) has 2,560 names, so binding it cost about
//! 3 million steps: `perf` on a `serve` process during a burst on SQLite
//! showed 41 % of its CPU in `sqlite3_bind_parameter_name`. Anonymous
//! parameters have no name to look up.

use sea_orm::Value;

/// `sql` with every `$N` outside string literals, quoted identifiers and
/// comments replaced by `?`, and the values in the order of those `?`
/// (`values[N - 1]` for each, repeated where `$N` is). None when the
/// statement cannot be rewritten faithfully (a `?` already in it, or a
/// `$N` with no value): it is then run as written.
pub(super) fn positional(sql: &str, values: &[Value]) -> Option<(String, Vec<Value>)> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut ordered = Vec::with_capacity(values.len());
    // Start of the text not yet copied to `out`.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                // A literal or identifier runs to its closing quote (a
                // doubled quote inside stays inside).
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == quote {
                        if bytes.get(i + 1) == Some(&quote) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'?' => return None,
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let n: usize = sql[i + 1..i + 1 + digits].parse().ok()?;
                let value = values.get(n.checked_sub(1)?)?;
                out.push_str(&sql[copied..i]);
                out.push('?');
                ordered.push(value.clone());
                i += 1 + digits;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    Some((out, ordered))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: &[i64]) -> Vec<Value> {
        values.iter().map(|&v| Value::from(v)).collect()
    }

    #[test]
    fn numbered_parameters_become_positional_in_order_of_appearance() {
        let (sql, values) = positional(
            "SELECT $2, $1, $2 FROM t WHERE a = $10",
            &ints(&(1..=10).collect::<Vec<_>>()),
        )
        .unwrap();
        assert_eq!(sql, "SELECT ?, ?, ? FROM t WHERE a = ?");
        assert_eq!(values, ints(&[2, 1, 2, 10]));
    }

    #[test]
    fn literals_identifiers_and_comments_are_left_alone() {
        let sql = "SELECT '$1', 'it''s $2', \"$3\" -- $4\n, $1 /* $5 */ FROM t";
        let (out, values) = positional(sql, &ints(&[7, 8, 9, 10, 11])).unwrap();
        assert_eq!(
            out,
            "SELECT '$1', 'it''s $2', \"$3\" -- $4\n, ? /* $5 */ FROM t"
        );
        assert_eq!(values, ints(&[7]));
    }

    #[test]
    fn a_statement_it_cannot_rewrite_faithfully_is_left_as_written() {
        assert_eq!(positional("SELECT ?, $1", &ints(&[1])), None);
        assert_eq!(positional("SELECT $2", &ints(&[1])), None);
        assert_eq!(positional("SELECT $0", &ints(&[1])), None);
        let (sql, values) = positional("SELECT 1 -- no parameters", &[]).unwrap();
        assert_eq!(
            (sql.as_str(), values.len()),
            ("SELECT 1 -- no parameters", 0)
        );
    }
}
