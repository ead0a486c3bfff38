//! The SQLite half of the db bindings: outside a task a statement runs in place, on the Lua
//! thread, and its rows go straight into Lua tables; inside a task it runs on the runtime's
//! blocking pool, so that a database locked by another process holds up no other task.

use std::sync::Arc;

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table, Value};

use super::batch;
use super::lua_rows::{self, in_task};
use super::sqlite::{self, Discard, Handle, Lite};
use super::json_columns::JsonColumns;
use super::value::{Collected, Param};
use super::{over, Tx, What};
use crate::error::{Error, Kind};
use crate::runtime::{deliver, Outcome};

/// Where a statement runs: a handle of the connection's, or its transaction's.
pub enum Place {
    Pool(Arc<Lite>),
    Tx(Arc<tokio::sync::Mutex<Option<Tx>>>),
}

/// The transaction's handle, when the transaction is open.
fn tx_handle<'a>(tx: &'a mut Option<Tx>, shown: &str) -> std::result::Result<&'a mut Handle, Error> {
    match tx {
        Some(Tx::Lite(c)) => Ok(c.handle()),
        _ => Err(over(shown)),
    }
}

/// Runs `sql` at `place`: in place outside a task, on the blocking pool inside one.
pub fn run(lua: &Lua, place: Place, what: What, sql: String, params: Vec<Param>, shown: String, json: JsonColumns) -> Result<MultiValue> {
    if in_task(lua)? {
        return super::wait(lua, async move { json.deliver(in_pool(place, what, sql, params, shown).await) });
    }
    let answered = match place {
        Place::Pool(lite) => match lite.checkout() {
            Ok(mut c) => answer(lua, c.handle(), what, &sql, &params),
            Err(e) => crate::error::pair::<Value>(lua, Err(e)),
        },
        Place::Tx(tx) => match in_place(&tx, &shown, |h| Ok(answer(lua, h, what, &sql, &params))) {
            Ok(answered) => answered,
            Err(e) => crate::error::pair::<Value>(lua, Err(e)),
        },
    }?;
    json.apply(lua, answered)
}

/// `work` on the transaction's handle, on this thread.
fn in_place<T>(tx: &tokio::sync::Mutex<Option<Tx>>, shown: &str, work: impl FnOnce(&mut Handle) -> std::result::Result<T, Error>) -> std::result::Result<T, Error> {
    let Ok(mut guard) = tx.try_lock() else {
        return Err(Error::new(Kind::Invalid, format!("db {shown}: the transaction is running another statement")));
    };
    work(tx_handle(&mut guard, shown)?)
}

/// exec_many in a transaction: the rows' lengths checked against the parameters SQLite counts,
/// then every row through the statement prepared once, in place outside a task, on the
/// blocking pool inside one. A transaction begun for the batch (`own`) is committed after the
/// last row, or rolled back at the first error.
pub fn run_many(lua: &Lua, tx: Arc<tokio::sync::Mutex<Option<Tx>>>, sql: String, rows: Vec<Vec<Param>>, shown: String, own: bool) -> Result<MultiValue> {
    let checked = shown.clone();
    let work = move |handle: &mut Handle| {
        let mut done = batch::Done::default();
        let mut outcome = match handle.parameters(&sql) {
            Ok(Some(takes)) => batch::check_counts(takes, &rows, &checked),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        for (i, row) in rows.iter().enumerate().take_while(|_| outcome.is_ok()) {
            match handle.run(&sql, row, &mut Discard) {
                Ok(d) => done.affected += d.affected,
                Err(e) => {
                    outcome = Err(batch::of_rows(e, i + 1, i + 1));
                    break;
                }
            }
            done.statements += 1;
        }
        if own {
            let ended = handle.run(super::ending(outcome.is_ok()), &[], &mut Discard);
            outcome = outcome.and(ended.map(|_| ()));
        }
        outcome.map(|_| done)
    };
    if in_task(lua)? {
        return super::wait(lua, async move {
            let mut guard = tx.lock_owned().await;
            let done = blocking(move || work(tx_handle(&mut guard, &shown)?)).await?;
            deliver(move |lua| done.to_lua(lua))
        });
    }
    match in_place(&tx, &shown, work) {
        Ok(done) => done.to_lua(lua)?.into_lua_multi(lua),
        Err(e) => crate::error::pair::<Value>(lua, Err(e)),
    }
}

/// Runs the statement on the Lua thread, its rows built as Lua tables while SQLite steps them.
fn answer(lua: &Lua, handle: &mut Handle, what: What, sql: &str, params: &[Param]) -> Result<MultiValue> {
    match what {
        What::Query => {
            let (list, outcome) = lua_rows::build(lua, None, 0, usize::MAX, |sink| handle.run(sql, params, sink))?;
            match outcome {
                Ok(_) => list.into_lua_multi(lua),
                Err(e) => crate::error::pair::<Value>(lua, Err(e)),
            }
        }
        What::Exec => match handle.run(sql, params, &mut Discard) {
            Ok(done) => lua_rows::exec_result(lua, done.affected, Some(done.last_insert_id))?.into_lua_multi(lua),
            Err(e) => crate::error::pair::<Value>(lua, Err(e)),
        },
    }
}

/// What a statement run off the Lua thread hands back.
enum Answer {
    Rows(Collected),
    Done(sqlite::Done),
}

fn answer_off_thread(handle: &mut Handle, what: What, sql: &str, params: &[Param]) -> std::result::Result<Answer, Error> {
    match what {
        What::Query => {
            let mut rows = Collected::new(usize::MAX);
            handle.run(sql, params, &mut rows)?;
            Ok(Answer::Rows(rows))
        }
        What::Exec => Ok(Answer::Done(handle.run(sql, params, &mut Discard)?)),
    }
}

async fn in_pool(place: Place, what: What, sql: String, params: Vec<Param>, shown: String) -> Outcome {
    let answered = match place {
        Place::Pool(lite) => {
            blocking(move || {
                let mut c = lite.checkout()?;
                answer_off_thread(c.handle(), what, &sql, &params)
            })
            .await
        }
        Place::Tx(tx) => {
            let mut guard = tx.lock_owned().await;
            blocking(move || answer_off_thread(tx_handle(&mut guard, &shown)?, what, &sql, &params)).await
        }
    }?;
    match answered {
        Answer::Rows(rows) => deliver(move |lua| lua_rows::from_cells(lua, None, &rows.columns, &rows.rows)),
        Answer::Done(done) => deliver(move |lua| lua_rows::exec_result(lua, done.affected, Some(done.last_insert_id))),
    }
}

/// `work` on the runtime's blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> std::result::Result<T, Error> + Send + 'static) -> std::result::Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::new(Kind::Internal, format!("internal error (a bug in essh): a SQLite statement failed to finish: {e}")))?
}

/// Begins a transaction on a handle of its own (BEGIN takes no lock: it never waits).
pub fn begin(lite: &Arc<Lite>) -> std::result::Result<Tx, Error> {
    let mut c = lite.checkout()?;
    c.handle().run("BEGIN", &[], &mut Discard)?;
    Ok(Tx::Lite(c))
}

/// Commits or rolls back the transaction in `slot`, which is over either way: its handle goes
/// back to the connection.
pub fn finish(lua: &Lua, slot: Arc<tokio::sync::Mutex<Option<Tx>>>, commit: bool, shown: String) -> Result<MultiValue> {
    let sql = super::ending(commit);
    let end = move |tx: Option<Tx>| -> std::result::Result<(), Error> {
        let mut tx = tx;
        tx_handle(&mut tx, &shown)?.run(sql, &[], &mut Discard).map(|_| ())
    };
    if in_task(lua)? {
        return super::wait(lua, async move {
            let tx = slot.lock().await.take();
            blocking(move || end(tx)).await?;
            deliver(|_| Ok(true))
        });
    }
    let taken = match slot.try_lock() {
        Ok(mut guard) => guard.take(),
        Err(_) => None,
    };
    crate::error::pair(lua, end(taken).map(|_| true))
}

/// The next batch of a stream's rows (nil once they are over), built in place outside a task;
/// `previous`, the batch before, is filled again.
pub fn next_batch(lua: &Lua, stream: Arc<std::sync::Mutex<sqlite::Stream>>, size: usize, json: JsonColumns, previous: Option<Table>) -> Result<MultiValue> {
    if in_task(lua)? {
        let previous = lua_rows::Previous::keep(lua, previous)?;
        return super::wait(lua, async move {
            let (rows, more) = blocking(move || {
                let mut rows = Collected::new(size);
                let more = stream.lock().unwrap_or_else(|p| p.into_inner()).next(&mut rows)?;
                Ok((rows, more))
            })
            .await?;
            if rows.rows.is_empty() && !more {
                return deliver(|_| Ok(Value::Nil));
            }
            json.deliver(deliver(move |lua| Ok(Value::Table(lua_rows::from_cells(lua, previous.take(lua)?, &rows.columns, &rows.rows)?))))
        });
    }
    let mut s = stream.lock().unwrap_or_else(|p| p.into_inner());
    let (list, outcome) = lua_rows::build(lua, previous, size, size, |sink| s.next(sink))?;
    match outcome {
        Ok(more) if !more && list.raw_len() == 0 => Value::Nil.into_lua_multi(lua),
        Ok(_) => json.apply(lua, list.into_lua_multi(lua)?),
        Err(e) => crate::error::pair::<Value>(lua, Err(e)),
    }
}
