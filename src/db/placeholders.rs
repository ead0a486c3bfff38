//! SQL as a server reads it outside string literals, quoted identifiers, dollar-quoted strings
//! and comments, each driver by its own lexical rules: `?` placeholders numbered for PostgreSQL
//! (`$1`), placeholders counted, and [`code`], the scanner both stand on. A statement that
//! already uses `$n` keeps its numbers.

use super::target::Driver;

/// What the scanner meets outside literals and comments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Code {
    /// A byte of SQL at this index.
    Byte(usize),
    /// `$n` (PostgreSQL's numbered parameter) over `at..end`.
    Numbered { at: usize, end: usize, n: usize },
}

/// The bytes of `sql` that are code to `driver`, in order, with PostgreSQL's `$n` parameters
/// as one item each. MySQL's rules are its default SQL mode's (backslashes escape in both
/// quotes, `"` quotes strings); PostgreSQL's are those of `standard_conforming_strings` (the
/// default since 9.1: a backslash escapes only in `E'...'`).
pub fn code(sql: &str, driver: Driver) -> impl Iterator<Item = Code> + '_ {
    let b = sql.as_bytes();
    let mut i = 0;
    // Inside MySQL's `/*! ... */`, whose text the server runs: its `*/` is not code.
    let mut executable = false;
    std::iter::from_fn(move || loop {
        if i >= b.len() {
            return None;
        }
        if !special(b[i]) {
            i += 1;
            return Some(Code::Byte(i - 1));
        }
        let next = b.get(i + 1).copied();
        let after_word = i > 0 && is_word_byte(b[i - 1]);
        let opens_executable = if driver == Driver::Mysql { executable_opener(b, i) } else { None };
        match (b[i], driver) {
            (b'\'', Driver::Mysql) | (b'"', Driver::Mysql) => i = skip_quoted(b, i, true),
            (b'\'', Driver::Postgres) => i = skip_quoted(b, i, escape_string_at(b, i)),
            (b'\'' | b'"', _) | (b'`', Driver::Mysql | Driver::Sqlite) => i = skip_quoted(b, i, false),
            (b'[', Driver::Sqlite) => i = b[i..].iter().position(|&c| c == b']').map_or(b.len(), |k| i + k + 1),
            (b'#', Driver::Mysql) => i = line_end(b, i),
            (b'-', Driver::Mysql) if next == Some(b'-') && b.get(i + 2).is_none_or(|&c| c <= b' ') => i = line_end(b, i),
            (b'-', _) if driver != Driver::Mysql && next == Some(b'-') => i = line_end(b, i),
            (b'/', _) if opens_executable.is_some() => {
                i = opens_executable.unwrap_or(i + 2);
                executable = true;
            }
            (b'*', Driver::Mysql) if executable && next == Some(b'/') => {
                i += 2;
                executable = false;
            }
            (b'/', _) if next == Some(b'*') => i = comment_end(b, i, driver == Driver::Postgres),
            (b'$', Driver::Postgres) if !after_word && next.is_some_and(|c| c.is_ascii_digit()) => {
                let at = i;
                i += 1;
                let mut n = 0usize;
                while i < b.len() && b[i].is_ascii_digit() {
                    n = n.saturating_mul(10).saturating_add((b[i] - b'0') as usize);
                    i += 1;
                }
                return Some(Code::Numbered { at, end: i, n });
            }
            (b'$', Driver::Postgres) if !after_word && skip_dollar_quoted(b, i) > i + 1 => i = skip_dollar_quoted(b, i),
            _ => {
                i += 1;
                return Some(Code::Byte(i - 1));
            }
        }
    })
}

/// Whether `c` may open a quoted run, a comment or a `$` item for some driver (or close
/// MySQL's executable comment): the only bytes the scanner looks at twice.
fn special(c: u8) -> bool {
    matches!(c, b'\'' | b'"' | b'`' | b'[' | b'#' | b'-' | b'/' | b'*' | b'$')
}

/// The statement with `?` numbered for PostgreSQL, and how many there were.
pub fn number(sql: &str) -> (String, usize) {
    let mut out = String::with_capacity(sql.len() + 8);
    let (mut n, mut start) = (0, 0);
    let mut mark = |i: usize, out: &mut String| {
        out.push_str(&sql[start..i]);
        n += 1;
        out.push('$');
        push_decimal(out, n);
        start = i + 1;
    };
    // Without quotes, comments or `$`, every `?` is a placeholder.
    if !sql.bytes().any(special) {
        for (i, _) in sql.match_indices('?') {
            mark(i, &mut out);
        }
    } else {
        for c in code(sql, Driver::Postgres) {
            match c {
                Code::Numbered { .. } => return (sql.to_string(), 0),
                Code::Byte(i) if sql.as_bytes()[i] == b'?' => mark(i, &mut out),
                Code::Byte(_) => {}
            }
        }
    }
    out.push_str(&sql[start..]);
    (out, n)
}

/// Appends `n` in decimal digits.
fn push_decimal(out: &mut String, n: usize) {
    if n >= 10 {
        push_decimal(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// How many parameters a server's statement takes: its `?`, or its highest `$n` when it
/// numbers them.
pub fn count(sql: &str, driver: Driver) -> usize {
    let (mut marks, mut highest) = (0, 0);
    for c in code(sql, driver) {
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

/// Whether `c` continues a word (an unquoted name, a keyword): `$` does, in both servers' names.
pub fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// The index after a quoted run that starts at `i` (a doubled quote stays inside; with
/// `backslashes`, a backslash escapes the byte after it).
fn skip_quoted(b: &[u8], mut i: usize, backslashes: bool) -> usize {
    let quote = b[i];
    i += 1;
    while i < b.len() {
        if b[i] == quote {
            if b.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += if backslashes && b[i] == b'\\' { 2 } else { 1 };
    }
    b.len()
}

/// Whether the quote at `i` opens PostgreSQL's escape string, `E'...'`.
fn escape_string_at(b: &[u8], i: usize) -> bool {
    i > 0 && matches!(b[i - 1], b'E' | b'e') && (i < 2 || !is_word_byte(b[i - 2]))
}

/// The index of the newline that ends the comment starting at `i` (or the end).
fn line_end(b: &[u8], i: usize) -> usize {
    b[i..].iter().position(|&c| c == b'\n').map_or(b.len(), |k| i + k)
}

/// The index after the block comment starting at `i`; PostgreSQL's nest.
fn comment_end(b: &[u8], mut i: usize, nested: bool) -> usize {
    let mut depth = 0;
    while i + 1 < b.len() {
        if b[i] == b'/' && b[i + 1] == b'*' && (depth == 0 || nested) {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// After the opener of MySQL's `/*!50100` (or MariaDB's `/*M!100100`) when one starts at `i`.
fn executable_opener(b: &[u8], i: usize) -> Option<usize> {
    let rest = &b[i..];
    let mut j = if rest.starts_with(b"/*!") {
        i + 3
    } else if rest.starts_with(b"/*M!") {
        i + 4
    } else {
        return None;
    };
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    Some(j)
}

/// After `$tag$ ... $tag$` when one starts at `i`; else just past the `$`.
fn skip_dollar_quoted(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < b.len() && is_word_byte(b[j]) && b[j] != b'$' {
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
    use Driver::{Mysql, Postgres, Sqlite};

    #[test]
    fn numbers_placeholders_outside_literals_and_comments() {
        let (sql, n) = number("SELECT '?', \"a?\", $$ ? $$, $t$ ? $t$ FROM t WHERE a = ? AND b = ? -- ?\n/* ? */ OR c = ?");
        assert_eq!(n, 3);
        assert_eq!(sql, "SELECT '?', \"a?\", $$ ? $$, $t$ ? $t$ FROM t WHERE a = $1 AND b = $2 -- ?\n/* ? */ OR c = $3");
    }

    #[test]
    fn numbers_every_mark_of_plain_sql_as_the_scanner_does() {
        let sql = format!("INSERT INTO t VALUES ({})", vec!["?"; 12].join(", "));
        let (numbered, n) = number(&sql);
        assert_eq!(n, 12);
        assert_eq!(numbered, format!("INSERT INTO t VALUES ({})", (1..=12).map(|k| format!("${k}")).collect::<Vec<_>>().join(", ")));
        // The same text through the scanner (a comment sends it there) numbers alike.
        assert_eq!(number(&format!("{sql} /* */")).0, format!("{numbered} /* */"));
        assert_eq!(number("SELECT 1"), ("SELECT 1".to_string(), 0));
        assert_eq!(number("?"), ("$1".to_string(), 1));
    }

    #[test]
    fn postgres_backslashes_escape_only_in_escape_strings() {
        assert_eq!(number(r"SELECT 'C:\', ?").0, r"SELECT 'C:\', $1");
        assert_eq!(number(r"SELECT 'it''s ?', E'a\' ?', e'\\', ?").0, r"SELECT 'it''s ?', E'a\' ?', e'\\', $1");
        // A name ending in e is no escape string's prefix.
        assert_eq!(number(r"SELECT name'\', ?").0, r"SELECT name'\', $1");
    }

    #[test]
    fn postgres_comments_nest_and_names_hold_dollars() {
        assert_eq!(number("SELECT /* a /* ? */ ? */ ?").0, "SELECT /* a /* ? */ ? */ $1");
        assert_eq!(number("SELECT a$b$c, ?, x$1 FROM t").0, "SELECT a$b$c, $1, x$1 FROM t");
        assert_eq!(number("SELECT $é$ ? $é$, ?").0, "SELECT $é$ ? $é$, $1");
    }

    #[test]
    fn numbered_parameters_are_left_alone() {
        assert_eq!(number("SELECT $1, $2::int"), ("SELECT $1, $2::int".to_string(), 0));
        // jsonb's ? operator, with numbered parameters.
        assert_eq!(number("SELECT doc ? 'a' FROM t WHERE id = $1").0, "SELECT doc ? 'a' FROM t WHERE id = $1");
    }

    #[test]
    fn mysql_rules() {
        assert_eq!(count(r#"INSERT INTO `a?` VALUES (?, '?', "\"?", 'it\'s ?', ?) -- ?"#, Mysql), 2);
        assert_eq!(count("SELECT ? # ?\n, ?", Mysql), 2);
        // `--` opens a comment only before a blank: 5--? is 5 - (-?).
        assert_eq!(count("SELECT 5--?, ?--\t?", Mysql), 2);
        assert_eq!(count("SELECT a$b$c, $1, ? FROM t", Mysql), 1);
        // The server runs what /*! ... */ holds; other comments are comments.
        assert_eq!(count("SELECT ? /*!50100 + ? */ /*M!100100 + ? */ /* ? */ /*+ ? */", Mysql), 3);
        assert_eq!(count("SELECT /* /* */ ?", Mysql), 1);
    }

    #[test]
    fn sqlite_rules() {
        assert_eq!(count(r"SELECT '\', [a?], `b?`, ?, ? -- ?", Sqlite), 2);
        assert_eq!(count("SELECT $1, # ?", Sqlite), 1);
    }

    #[test]
    fn counts_marks_or_the_highest_number() {
        assert_eq!(count("SELECT doc ? 'a' FROM t WHERE id = $2 OR id = $1", Postgres), 2);
        assert_eq!(count("SELECT $$?$$", Postgres), 0);
        assert_eq!(count("SELECT `a?`, ?", Postgres), 2);
    }
}
