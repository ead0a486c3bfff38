//! A transaction's `exec` on MySQL, MariaDB and PostgreSQL in plain code, run where it is
//! called: the Lua thread sends the prepared statement and waits for the reply itself, with
//! poll(2) (Ctrl-C and the statement's timeout end the wait as they end one on the runtime),
//! so that a statement costs no future and no turn of the runtime. Everything else takes the
//! runtime: a task's statements (they yield), a statement the connection has not prepared yet
//! (its first run), TLS connections, PostgreSQL values of other types than the prepared
//! statement takes, and MySQL parameters near the smallest packet limit (their size is
//! checked).

use std::time::Duration;

use mlua::{IntoLuaMulti, Lua, MultiValue, Result};

use super::value::Param;
use super::{db_error, lua_rows, over, parameter_count_error, timed_out, Tx, MOST_PARAMETERS};
use crate::error::Error;
use crate::runtime::{Ended, InPlace};

/// What a statement run in place did: rows affected and the last insert id, or None when it is
/// to run on the runtime instead (nothing was sent); or the driver's error.
type Ran = std::result::Result<Option<(u64, Option<i64>)>, sqlx::Error>;

/// What a statement run in place came to.
pub enum Outcome {
    /// Rows affected and the last insert id.
    Done(u64, Option<i64>),
    /// The transaction had ended.
    Over,
    /// The driver's error, an interrupted or expired wait among them.
    Failed(sqlx::Error),
}

/// What Lua gets for the statement, or None when it is to run on the runtime.
pub fn exec(
    lua: &Lua,
    tx: &tokio::sync::Mutex<Option<Tx>>,
    sql: &str,
    params: &[Param],
    timeout: Duration,
    shown: &str,
) -> Result<Option<MultiValue>> {
    run(lua, tx, sql, params, timeout)?.map(|outcome| deliver(lua, outcome, shown)).transpose()
}

/// Runs the statement in place, or returns None when it is to run on the runtime (nothing was
/// sent).
pub fn run(
    lua: &Lua,
    tx: &tokio::sync::Mutex<Option<Tx>>,
    sql: &str,
    params: &[Param],
    timeout: Duration,
) -> Result<Option<Outcome>> {
    if params.len() > MOST_PARAMETERS {
        return Ok(None);
    }
    // Held elsewhere only by a wait of the runtime, which is not running now.
    let Ok(mut guard) = tx.try_lock() else { return Ok(None) };
    let Some(place) = crate::runtime::in_place(lua, timeout)? else { return Ok(None) };
    let ran = match guard.as_mut() {
        #[cfg(feature = "db-mysql")]
        Some(Tx::My(loan)) => my(loan.conn(), sql, params, &place),
        #[cfg(feature = "db-postgres")]
        Some(Tx::Pg(loan)) => pg(loan.conn(), sql, params, &place),
        #[allow(unreachable_patterns)]
        Some(_) => Ok(None),
        None => return Ok(Some(Outcome::Over)),
    };
    Ok(match ran {
        Ok(None) => None,
        Ok(Some((affected, last_insert_id))) => Some(Outcome::Done(affected, last_insert_id)),
        Err(e) => Some(Outcome::Failed(e)),
    })
}

/// What Lua gets for `outcome`: the result table, or nil and the error (an interrupt raises).
pub fn deliver(lua: &Lua, outcome: Outcome, shown: &str) -> Result<MultiValue> {
    let failed = |e: Error| crate::error::pair::<mlua::Value>(lua, Err(e));
    match outcome {
        Outcome::Done(affected, last_insert_id) => lua_rows::exec_result(lua, affected, last_insert_id)?.into_lua_multi(lua),
        Outcome::Over => failed(over(shown)),
        Outcome::Failed(sqlx::Error::Io(e)) if ended(&e) == Some(&Ended::Interrupted) => crate::runtime::interrupted_in_place(lua),
        Outcome::Failed(sqlx::Error::Io(e)) if ended(&e) == Some(&Ended::Deadline) => failed(timed_out(shown)),
        Outcome::Failed(e) => failed(db_error(shown, e)),
    }
}

/// A MySQL statement in place, once the connection has prepared `sql`.
#[cfg(feature = "db-mysql")]
fn my(conn: &mut sqlx::MySqlConnection, sql: &str, params: &[Param], place: &InPlace) -> Ran {
    if super::my_statement_size(sql, params) > super::SMALLEST_PACKET_LIMIT {
        return Ok(None);
    }
    let Some((statement, takes)) = conn.prepared(sql) else { return Ok(None) };
    if takes != params.len() {
        return Err(parameter_count_error(takes, params.len()));
    }
    let Some(arguments) = arguments(super::my_query(sql, params))? else { return Ok(None) };
    let done = conn.execute_waiting(statement, &arguments, &mut |fd, write| InPlace::wait(place, fd, write))?;
    Ok(done.map(|done| (done.rows_affected(), Some(done.last_insert_id() as i64))))
}

/// A PostgreSQL statement in place, once the connection has prepared `sql` (its `?` numbered)
/// for parameters of the types `params` have.
#[cfg(feature = "db-postgres")]
fn pg(conn: &mut sqlx::PgConnection, sql: &str, params: &[Param], place: &InPlace) -> Ran {
    let sql = super::placeholders::number(sql).0;
    let Some((statement, wanted)) = conn.prepared(&sql) else { return Ok(None) };
    if wanted.len() != params.len() {
        return Err(parameter_count_error(wanted.len(), params.len()));
    }
    if !super::pg_fits(wanted, params) {
        return Ok(None);
    }
    let Some(arguments) = arguments(super::pg_query(&sql, params))? else { return Ok(None) };
    let done = conn.execute_waiting(statement, &arguments, &mut |fd, write| InPlace::wait(place, fd, write))?;
    Ok(done.map(|done| (done.rows_affected(), None)))
}

/// The arguments bound into `query` (None when it holds none), or the error of a value that
/// could not be encoded.
fn arguments<'q, DB: sqlx::Database>(
    mut query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
) -> std::result::Result<Option<<DB as sqlx::Database>::Arguments<'q>>, sqlx::Error>
where
    <DB as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
{
    sqlx::Execute::take_arguments(&mut query).map_err(sqlx::Error::Encode)
}

/// Why an in-place wait ended, when it did.
fn ended(e: &std::io::Error) -> Option<&Ended> {
    e.get_ref()?.downcast_ref::<Ended>()
}
