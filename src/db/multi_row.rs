//! An INSERT whose rows can go in one statement: `INSERT INTO t (a, b) VALUES (?, ?)` becomes
//! `... VALUES (?, ?), (?, ?), ...` for a batch (what MySQL Connector/J's
//! rewriteBatchedStatements and psycopg2's execute_values do). Only a statement that ends with
//! its one VALUES tuple and has every parameter inside it is rewritten; anything else (ON
//! CONFLICT, ON DUPLICATE KEY UPDATE, RETURNING, INSERT ... SELECT) runs once per row.

use super::placeholders::{code, is_word_byte, Code};
use super::target::Driver;

/// A piece of the VALUES tuple: SQL as written, or the parameter of this index in the row.
#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    Param(usize),
}

/// How the driver marks parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Marks {
    /// `?` (MySQL, SQLite).
    Question,
    /// `$1`, `$2`, ... across the whole statement (PostgreSQL).
    Numbered,
}

/// A statement of one row that repeats its VALUES tuple for many.
#[derive(Debug)]
pub struct MultiRow {
    /// Everything before the tuple, `INSERT INTO t (a, b) VALUES `.
    head: String,
    tuple: Vec<Piece>,
    per_row: usize,
}

impl MultiRow {
    /// The statement's shape, when it is a plain INSERT (or MySQL's REPLACE) of one tuple.
    pub fn parse(sql: &str, driver: Driver) -> Option<MultiRow> {
        let b = sql.as_bytes();
        let items: Vec<Code> = code(sql, driver).collect();
        let byte = |c: &Code| match *c {
            Code::Byte(i) => Some(b[i]),
            Code::Numbered { .. } => None,
        };
        let word_at = |k: usize, word: &str| -> bool {
            let w = word.as_bytes();
            let before = k.checked_sub(1).and_then(|p| items.get(p)).and_then(byte);
            if before.is_some_and(is_word_byte) {
                return false;
            }
            let matches = (0..w.len()).all(|j| items.get(k + j).and_then(byte).is_some_and(|c| c.eq_ignore_ascii_case(&w[j])));
            matches && !items.get(k + w.len()).and_then(byte).is_some_and(is_word_byte)
        };
        let first = items.iter().position(|c| !byte(c).is_some_and(|c| c.is_ascii_whitespace()))?;
        if !word_at(first, "insert") && !word_at(first, "replace") {
            return None;
        }
        // The one VALUES (or VALUE) at the top level.
        let mut depth = 0i32;
        let mut values = None;
        for (k, c) in items.iter().enumerate() {
            match byte(c) {
                Some(b'(') => depth += 1,
                Some(b')') => depth -= 1,
                Some(b'?') | None if values.is_none() => return None,
                Some(_) if depth == 0 && values.is_none() && (word_at(k, "values") || word_at(k, "value")) => {
                    values = Some(k + if word_at(k, "values") { 6 } else { 5 });
                }
                _ => {}
            }
        }
        let mut k = values?;
        while items.get(k).and_then(byte).is_some_and(|c| c.is_ascii_whitespace()) {
            k += 1;
        }
        if items.get(k).and_then(byte) != Some(b'(') {
            return None;
        }
        let Code::Byte(open) = items[k] else { return None };
        // The tuple, to its closing parenthesis.
        let mut tuple = Vec::new();
        let (mut depth, mut text_from, mut marks, mut numbered) = (0i32, open, 0usize, 0usize);
        let mut close = None;
        let mut after = items.len();
        for (j, c) in items.iter().enumerate().skip(k) {
            match *c {
                Code::Byte(i) if b[i] == b'(' => depth += 1,
                Code::Byte(i) if b[i] == b')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        after = j + 1;
                        break;
                    }
                }
                Code::Byte(i) if b[i] == b'?' => {
                    tuple.push(Piece::Text(sql[text_from..i].to_string()));
                    tuple.push(Piece::Param(marks));
                    marks += 1;
                    text_from = i + 1;
                }
                Code::Numbered { at, end, n } => {
                    if n == 0 {
                        return None;
                    }
                    tuple.push(Piece::Text(sql[text_from..at].to_string()));
                    tuple.push(Piece::Param(n - 1));
                    numbered = numbered.max(n);
                    text_from = end;
                }
                Code::Byte(_) => {}
            }
        }
        let close = close?;
        tuple.push(Piece::Text(sql[text_from..=close].to_string()));
        // Nothing but blanks and one semicolon after it.
        let mut semicolons = 0;
        for c in &items[after..] {
            match byte(c) {
                Some(c) if c.is_ascii_whitespace() => {}
                Some(b';') if semicolons == 0 => semicolons += 1,
                _ => return None,
            }
        }
        if marks > 0 && numbered > 0 {
            return None;
        }
        Some(MultiRow { head: sql[..open].to_string(), tuple, per_row: marks.max(numbered) })
    }

    /// Parameters each row gives.
    pub fn per_row(&self) -> usize {
        self.per_row
    }

    /// The statement for `rows` rows, parameters marked as the driver wants.
    pub fn statement(&self, rows: usize, marks: Marks) -> String {
        let mut out = String::with_capacity(self.head.len() + rows * (self.tuple.len() * 4 + 2));
        out.push_str(&self.head);
        for row in 0..rows {
            if row > 0 {
                out.push_str(", ");
            }
            for piece in &self.tuple {
                match (piece, marks) {
                    (Piece::Text(t), _) => out.push_str(t),
                    (Piece::Param(_), Marks::Question) => out.push('?'),
                    (Piece::Param(i), Marks::Numbered) => {
                        out.push('$');
                        out.push_str(&(row * self.per_row + i + 1).to_string());
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(sql: &str, rows: usize, marks: Marks) -> Option<String> {
        let driver = if marks == Marks::Numbered { Driver::Postgres } else { Driver::Mysql };
        MultiRow::parse(sql, driver).map(|m| m.statement(rows, marks))
    }

    #[test]
    fn repeats_the_tuple_of_a_plain_insert() {
        let sql = "INSERT INTO t (a, b) VALUES (?, ?)";
        assert_eq!(rewrite(sql, 3, Marks::Question).unwrap(), "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?)");
        assert_eq!(rewrite(sql, 2, Marks::Numbered).unwrap(), "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)");
        assert_eq!(MultiRow::parse(sql, Driver::Mysql).unwrap().per_row(), 2);
    }

    #[test]
    fn renumbers_numbered_parameters_row_by_row() {
        let sql = "insert into t values ($2, lower($1), DEFAULT);";
        assert_eq!(rewrite(sql, 2, Marks::Numbered).unwrap(), "insert into t values ($2, lower($1), DEFAULT), ($4, lower($3), DEFAULT)");
    }

    #[test]
    fn keeps_literals_comments_and_nested_parentheses() {
        let sql = "REPLACE /* (?) */ INTO `va?lues` VALUE (?, 'a?(b', (SELECT max(id) FROM u WHERE x = ?)) -- done";
        assert_eq!(
            rewrite(sql, 2, Marks::Question).unwrap(),
            "REPLACE /* (?) */ INTO `va?lues` VALUE (?, 'a?(b', (SELECT max(id) FROM u WHERE x = ?)), (?, 'a?(b', (SELECT max(id) FROM u WHERE x = ?))"
        );
    }

    #[test]
    fn reads_literals_by_the_driver_s_rules() {
        // MySQL: a backslash escapes the quote; PostgreSQL: it is a character of the literal.
        let mysql = r"INSERT INTO t VALUES (?, 'a\')', ?)";
        assert_eq!(rewrite(mysql, 2, Marks::Question).unwrap(), r"INSERT INTO t VALUES (?, 'a\')', ?), (?, 'a\')', ?)");
        let postgres = r"INSERT INTO t VALUES ('C:', ?)";
        assert_eq!(rewrite(postgres, 2, Marks::Numbered).unwrap(), r"INSERT INTO t VALUES ('C:', $1), ('C:', $2)");
    }

    #[test]
    fn leaves_statements_that_do_more_than_insert_one_tuple() {
        for sql in [
            "INSERT INTO t VALUES (?, ?) ON DUPLICATE KEY UPDATE b = VALUES(b)",
            "INSERT INTO t VALUES (?) ON CONFLICT DO NOTHING",
            "INSERT INTO t VALUES ($1) RETURNING id",
            "INSERT INTO t VALUES (?), (?)",
            "INSERT INTO t SELECT * FROM u WHERE id = ?",
            "INSERT INTO t (a) SELECT ? UNION VALUES (1)",
            "UPDATE t SET a = ? WHERE b = ?",
            "INSERT INTO t VALUES (?",
            "INSERT INTO t VALUES (?); DELETE FROM t",
            "WITH x AS (SELECT 1) INSERT INTO t VALUES (?)",
            "INSERTED INTO t VALUES (?)",
        ] {
            for driver in [Driver::Mysql, Driver::Postgres] {
                assert!(MultiRow::parse(sql, driver).is_none(), "{sql}");
            }
        }
        // Marks of both kinds: PostgreSQL's $1 (to MySQL, a name).
        assert!(MultiRow::parse("INSERT INTO t VALUES (?, $1)", Driver::Postgres).is_none());
    }
}
