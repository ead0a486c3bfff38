//! `exec_many`: one statement and many rows of parameters. On MySQL, MariaDB and PostgreSQL a
//! plain INSERT sends its rows many to a statement ([`MultiRow`]); any other statement runs
//! once per row. SQLite runs once per row in place (lite.rs), where a statement costs no
//! round trip.

use mlua::{Lua, Result, Table, Value};

use super::multi_row::{Marks, MultiRow};
use super::value::Param;
use super::{execute, within, Tx};
use crate::error::Error;

/// Parameters in one statement at most: MySQL and PostgreSQL count them in 16 bits.
const MAX_PARAMS: usize = 65_535;
/// Rows in one statement at most: beyond this the statement's text grows for no gain.
const MAX_ROWS: usize = 1_000;
/// Parameter bytes in one statement at most, well under MySQL's smallest max_allowed_packet.
const MAX_BYTES: usize = 1 << 20;

/// The rows of parameters from a Lua list of lists (a row holding nils gives its length as `n`,
/// as table.pack does). Raises when the list holds something else than rows.
pub fn rows_of(lua: &Lua, name: &str, list: &Table) -> Result<Vec<Vec<Param>>> {
    let mut rows = Vec::with_capacity(list.raw_len());
    let (null, n_key) = (crate::luavalue::null(), lua.create_string("n")?);
    for (i, row) in list.sequence_values::<Value>().enumerate() {
        let row = match row? {
            Value::Table(t) => t,
            other => {
                return Err(mlua::Error::runtime(format!(
                    "bad argument #2 to '{name}' (row {}: a list of parameters expected, got {})",
                    i + 1,
                    other.type_name()
                )))
            }
        };
        let n = match row.raw_get::<Value>(&n_key)? {
            Value::Nil => row.raw_len(),
            Value::Integer(n) if n >= 0 => n as usize,
            Value::Number(n) if n >= 0.0 && n.fract() == 0.0 && n < 1e15 => n as usize,
            other => {
                let shown = match other {
                    Value::Integer(n) => n.to_string(),
                    Value::Number(n) => n.to_string(),
                    other => other.type_name().to_string(),
                };
                return Err(mlua::Error::runtime(format!(
                    "bad argument #2 to '{name}' (row {}: n, the row's length, must be a non-negative integer, got {shown})",
                    i + 1
                )));
            }
        };
        let mut params = Vec::with_capacity(n);
        for k in 1..=n {
            params.push(super::param(lua, &null, k, row.raw_get::<Value>(k)?)?);
        }
        rows.push(params);
    }
    Ok(rows)
}

/// An invalid error when a row gives another number of parameters than the statement takes,
/// `wanted`: checked before any row runs.
pub fn check_counts(wanted: usize, rows: &[Vec<Param>], shown: &str) -> std::result::Result<(), Error> {
    match rows.iter().position(|r| r.len() != wanted) {
        Some(i) => Err(Error::invalid(format!(
            "db {shown}: the statement takes {wanted} parameters and row {} of the batch gives {}",
            i + 1,
            rows[i].len()
        ))
        .with("row", (i + 1) as i64)),
        None => Ok(()),
    }
}

/// The error of a statement of the batch, naming the rows it carried.
pub fn of_rows(mut err: Error, first: usize, last: usize) -> Error {
    if first == last {
        err.message.push_str(&format!(" (row {first} of the batch)"));
    } else {
        err.message.push_str(&format!(" (rows {first}-{last} of the batch)"));
    }
    err.with("row", first as i64)
}

/// How many rows each statement carries, in order, for rows of `per_row` parameters.
fn statement_sizes(rows: &[Vec<Param>], per_row: usize) -> Vec<usize> {
    let most = MAX_ROWS.min(MAX_PARAMS / per_row.max(1)).max(1);
    let mut sizes = Vec::new();
    let (mut n, mut bytes) = (0, 0);
    for row in rows {
        let size: usize = row.iter().map(Param::size).sum();
        if n == most || (n > 0 && bytes + size > MAX_BYTES) {
            sizes.push(n);
            (n, bytes) = (0, 0);
        }
        n += 1;
        bytes += size;
    }
    if n > 0 {
        sizes.push(n);
    }
    sizes
}

/// What a batch did: rows changed, and statements sent.
#[derive(Default)]
pub struct Done {
    pub affected: u64,
    pub statements: usize,
}

impl Done {
    pub fn to_lua(&self, lua: &Lua) -> Result<Table> {
        let t = lua.create_table()?;
        t.raw_set("affected", self.affected as i64)?;
        t.raw_set("statements", self.statements as i64)?;
        Ok(t)
    }
}

/// Runs `sql` for every row on a server's connection (inside its transaction).
pub async fn run(on: &mut Tx, sql: &str, rows: Vec<Vec<Param>>, timeout: std::time::Duration, shown: &str) -> std::result::Result<Done, Error> {
    let driver = super::driver_of(on);
    let marks = match driver {
        super::target::Driver::Postgres => Marks::Numbered,
        _ => Marks::Question,
    };
    let mut done = Done::default();
    let Some(shape) = MultiRow::parse(sql, driver) else {
        let sql = super::statement(driver, sql.to_string());
        for (i, row) in rows.iter().enumerate() {
            let (affected, _) = within(timeout, shown, execute(on, &sql, row)).await.map_err(|e| of_rows(e, i + 1, i + 1))?;
            done.affected += affected;
            done.statements += 1;
        }
        return Ok(done);
    };
    let sizes = statement_sizes(&rows, shape.per_row());
    let most = sizes.first().copied().unwrap_or(0);
    let full = shape.statement(most, marks);
    let mut rows = rows.into_iter();
    let mut first = 1;
    for size in sizes {
        let params: Vec<Param> = rows.by_ref().take(size).flatten().collect();
        let fewer;
        let sql = if size == most {
            &full
        } else {
            fewer = shape.statement(size, marks);
            &fewer
        };
        let (affected, _) = within(timeout, shown, execute(on, sql, &params)).await.map_err(|e| of_rows(e, first, first + size - 1))?;
        done.affected += affected;
        done.statements += 1;
        first += size;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_stay_under_the_row_parameter_and_byte_limits() {
        let small = |n: usize| vec![vec![Param::Int(1), Param::Text("a".into())]; n];
        assert_eq!(statement_sizes(&small(2500), 2), vec![1000, 1000, 500]);
        assert_eq!(statement_sizes(&small(0), 2), Vec::<usize>::new());
        let wide = vec![vec![Param::Null; 30_000]; 5];
        assert_eq!(statement_sizes(&wide, 30_000), vec![2, 2, 1]);
        let big = vec![vec![Param::Bytes(vec![0; 600 << 10])]; 3];
        assert_eq!(statement_sizes(&big, 1), vec![1, 1, 1]);
        let huge = vec![vec![Param::Text("z".repeat(3 << 20))], vec![Param::Int(1)]];
        assert_eq!(statement_sizes(&huge, 1), vec![1, 1]);
    }
}
