//! SQL as the drivers see it outside string literals, quoted identifiers, dollar-quoted strings
//! and comments: `?` placeholders numbered for PostgreSQL (`$1`), placeholders counted, and
//! [`code`], the scanner both stand on. A statement that already uses `$n` keeps its numbers.

/// What the scanner meets outside literals and comments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Code {
    /// A byte of SQL at this index.
    Byte(usize),
    /// `$n` (PostgreSQL's numbered parameter) over `at..end`.
    Numbered { at: usize, end: usize, n: usize },
}

/// The bytes of `sql` that are code, in order, with `$n` parameters as one item each.
pub fn code(sql: &str) -> impl Iterator<Item = Code> + '_ {
    let b = sql.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || loop {
        if i >= b.len() {
            return None;
        }
        match b[i] {
            b'\'' | b'"' | b'`' => i = skip_quoted(b, i, b[i]),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i = (i + 2).min(b.len());
            }
            b'$' if b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                let at = i;
                i += 1;
                let mut n = 0usize;
                while i < b.len() && b[i].is_ascii_digit() {
                    n = n.saturating_mul(10).saturating_add((b[i] - b'0') as usize);
                    i += 1;
                }
                return Some(Code::Numbered { at, end: i, n });
            }
            b'$' if skip_dollar_quoted(b, i) > i + 1 => i = skip_dollar_quoted(b, i),
            _ => {
                i += 1;
                return Some(Code::Byte(i - 1));
            }
        }
    })
}

/// The statement with `?` numbered for PostgreSQL, and how many there were.
pub fn number(sql: &str) -> (String, usize) {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut start = 0;
    for c in code(sql) {
        match c {
            Code::Numbered { .. } => return (sql.to_string(), 0),
            Code::Byte(i) if sql.as_bytes()[i] == b'?' => {
                out.push_str(&sql[start..i]);
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
                start = i + 1;
            }
            Code::Byte(_) => {}
        }
    }
    out.push_str(&sql[start..]);
    (out, n)
}

/// How many parameters the statement takes: its `?`, or its highest `$n` when it numbers them.
pub fn count(sql: &str) -> usize {
    let (mut marks, mut highest) = (0, 0);
    for c in code(sql) {
        match c {
            Code::Numbered { n, .. } => highest = highest.max(n),
            Code::Byte(i) if sql.as_bytes()[i] == b'?' => marks += 1,
            Code::Byte(_) => {}
        }
    }
    if highest > 0 {
        highest
    } else {
        marks
    }
}

/// The index after a quoted run that starts at `i` (a doubled quote stays inside).
fn skip_quoted(b: &[u8], mut i: usize, quote: u8) -> usize {
    i += 1;
    while i < b.len() {
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        // E'...' strings escape with backslashes; a backslash never ends a literal.
        if b[i] == b'\\' && quote == b'\'' {
            i += 2;
            continue;
        }
        i += 1;
    }
    b.len()
}

/// After `$tag$ ... $tag$` when one starts at `i`; else just past the `$`.
fn skip_dollar_quoted(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    if j >= b.len() || b[j] != b'$' || b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        return i + 1;
    }
    let tag = &b[i..=j];
    let mut k = j + 1;
    while k + tag.len() <= b.len() {
        if &b[k..k + tag.len()] == tag {
            return k + tag.len();
        }
        k += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders_outside_literals_and_comments() {
        let (sql, n) = number("SELECT '?', \"a?\", $$ ? $$, $t$ ? $t$ FROM t WHERE a = ? AND b = ? -- ?\n/* ? */ OR c = ?");
        assert_eq!(n, 3);
        assert_eq!(sql, "SELECT '?', \"a?\", $$ ? $$, $t$ ? $t$ FROM t WHERE a = $1 AND b = $2 -- ?\n/* ? */ OR c = $3");
    }

    #[test]
    fn doubled_quotes_and_backslashes_stay_inside_literals() {
        assert_eq!(number("SELECT 'it''s ?', E'a\\' ?' , ?").0, "SELECT 'it''s ?', E'a\\' ?' , $1");
    }

    #[test]
    fn numbered_parameters_are_left_alone() {
        assert_eq!(number("SELECT $1, $2::int"), ("SELECT $1, $2::int".to_string(), 0));
        // jsonb's ? operator, with numbered parameters.
        assert_eq!(number("SELECT doc ? 'a' FROM t WHERE id = $1").0, "SELECT doc ? 'a' FROM t WHERE id = $1");
    }

    #[test]
    fn counts_marks_or_the_highest_number() {
        assert_eq!(count("INSERT INTO `a?` VALUES (?, '?', ?) -- ?"), 2);
        assert_eq!(count("SELECT doc ? 'a' FROM t WHERE id = $2 OR id = $1"), 2);
        assert_eq!(count("SELECT $$?$$"), 0);
    }
}
