//! A transaction's `exec` on MySQL and MariaDB in plain code, run where it is called: the Lua
//! thread sends the prepared statement and waits for the reply itself, with poll(2) (Ctrl-C and
//! the statement's timeout end the wait as they end one on the runtime), so that a statement
//! costs no future and no turn of the runtime. Everything else takes the runtime: a task's
//! statements (they yield), a statement the connection has not prepared yet (its first run),
//! TLS connections, and parameters near the smallest packet limit (their size is checked).

use std::time::Duration;

use mlua::{IntoLuaMulti, Lua, MultiValue, Result};

use super::value::Param;
use super::{db_error, lua_rows, my_statement_size, over, parameter_count_error, timed_out, Tx, MOST_PARAMETERS, SMALLEST_PACKET_LIMIT};
use crate::error::Error;
use crate::runtime::{Ended, InPlace};

/// What Lua gets for the statement, or None when it is to run on the runtime.
pub fn exec(
    lua: &Lua,
    tx: &tokio::sync::Mutex<Option<Tx>>,
    sql: &str,
    params: &[Param],
    timeout: Duration,
    shown: &str,
) -> Result<Option<MultiValue>> {
    if params.len() > MOST_PARAMETERS || my_statement_size(sql, params) > SMALLEST_PACKET_LIMIT {
        return Ok(None);
    }
    let failed = |e: Error| crate::error::pair::<mlua::Value>(lua, Err(e)).map(Some);
    // Held elsewhere only by a wait of the runtime, which is not running now.
    let Ok(mut guard) = tx.try_lock() else { return Ok(None) };
    let conn = match guard.as_mut() {
        Some(Tx::My(loan)) => loan.conn(),
        #[allow(unreachable_patterns)]
        Some(_) => return Ok(None),
        None => return failed(over(shown)),
    };
    let Some((statement, takes)) = conn.prepared(sql) else { return Ok(None) };
    if takes != params.len() {
        return failed(db_error(shown, parameter_count_error(takes, params.len())));
    }
    let Some(place) = crate::runtime::in_place(lua, timeout)? else { return Ok(None) };
    let mut query = super::my_query(sql, params);
    let arguments = match sqlx::Execute::take_arguments(&mut query) {
        Ok(Some(arguments)) => arguments,
        Ok(None) => return Ok(None),
        Err(e) => return failed(db_error(shown, sqlx::Error::Encode(e))),
    };
    let ran = conn.execute_waiting(statement, &arguments, &mut |fd, write| InPlace::wait(&place, fd, write));
    drop(place);
    match ran {
        Ok(Some(done)) => {
            let result = lua_rows::exec_result(lua, done.rows_affected(), Some(done.last_insert_id() as i64))?;
            Ok(Some(result.into_lua_multi(lua)?))
        }
        Ok(None) => Ok(None),
        Err(sqlx::Error::Io(e)) if ended(&e) == Some(&Ended::Interrupted) => crate::runtime::interrupted_in_place(lua).map(Some),
        Err(sqlx::Error::Io(e)) if ended(&e) == Some(&Ended::Deadline) => failed(timed_out(shown)),
        Err(e) => failed(db_error(shown, e)),
    }
}

/// Why an in-place wait ended, when it did.
fn ended(e: &std::io::Error) -> Option<&Ended> {
    e.get_ref()?.downcast_ref::<Ended>()
}
