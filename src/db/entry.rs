//! The direct entry of `transaction:exec` on MySQL, MariaDB and PostgreSQL (see
//! `crate::bridge::direct`): a call with a statement and plain parameters (nil, db.null,
//! booleans, numbers, strings) goes from the Lua stack to the in-place path and its result
//! table back onto the stack, without mlua's and the trampoline's per-call work. Every other
//! call, and every statement the in-place path declines, goes to the full function; an error
//! the server returns is described by `settle`, through mlua. A transaction is known by the
//! address of its userdata, registered while the userdata lives.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use mlua::{ffi, AnyUserData, LightUserData, Lua, MultiValue, Result, Value};

use super::direct::{self as in_place, Outcome};
use super::value::Param;
use super::{lua_rows, nul_at, param, string_param, Driver, Transaction, Tx, EXACT_IN_A_DOUBLE};
use crate::bridge::direct::{self, Direct};

/// What the entry needs of a transaction.
struct Live {
    tx: Arc<tokio::sync::Mutex<Option<Tx>>>,
    shown: String,
    timeout: Duration,
}

/// A server's error, or the end of the transaction, for `settle` to describe.
struct Settling {
    outcome: Outcome,
    shown: String,
}

thread_local! {
    /// The transactions of servers, by the address of their userdata.
    static LIVE: RefCell<HashMap<usize, Rc<Live>>> = RefCell::new(HashMap::new());
    /// The jobs handed to `settle` and not taken yet.
    static SETTLING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// `t` as Lua userdata, known to the entry while it lives when it is a server's.
pub fn userdata(lua: &Lua, t: Transaction) -> Result<AnyUserData> {
    let live = (t.driver != Driver::Sqlite).then(|| Rc::new(Live { tx: t.tx.clone(), shown: t.shown.clone(), timeout: t.timeout }));
    let ud = lua.create_userdata(t)?;
    if let Some(live) = live {
        let key = ud.to_pointer() as usize;
        ud.borrow::<Transaction>()?.key.set(key);
        LIVE.with(|l| l.borrow_mut().insert(key, live));
    }
    Ok(ud)
}

/// Forgets the transaction whose userdata had the address `key` (0: none).
pub fn forget(key: usize) {
    if key != 0 {
        let _ = LIVE.try_with(|l| l.borrow_mut().remove(&key));
    }
}

/// `transaction:exec(sql, ...)`: see the module's description.
pub unsafe extern "C-unwind" fn exec_entry(state: *mut ffi::lua_State) -> c_int {
    let live = if ffi::lua_gettop(state) >= 2 && ffi::lua_type(state, 2) == ffi::LUA_TSTRING {
        let key = ffi::lua_touserdata(state, 1) as usize;
        LIVE.with(|l| l.borrow().get(&key).cloned())
    } else {
        None
    };
    match live {
        Some(live) => direct::answer(state, "transaction:exec", || attempt(state, live)),
        None => direct::call_full(state),
    }
}

unsafe fn attempt(state: *mut ffi::lua_State, live: Rc<Live>) -> Direct {
    let lua = Lua::get_or_init_from_ptr(state);
    let Some(sql) = sql_at(state, 2) else { return Direct::Declined };
    let Some(params) = params_from(lua, state, 3) else { return Direct::Declined };
    let Ok(Some(outcome)) = in_place::run(lua, &live.tx, sql, &params, live.timeout) else { return Direct::Declined };
    drop(params);
    match outcome {
        Outcome::Done(affected, last_insert_id) => {
            drop(live);
            lua_rows::push_exec_result(state, affected, last_insert_id);
            Direct::Done
        }
        outcome => {
            let job = Box::into_raw(Box::new(Settling { outcome, shown: live.shown.clone() })) as usize;
            SETTLING.with(|s| s.borrow_mut().push(job));
            Direct::Settle(job as *mut c_void)
        }
    }
}

/// What Lua gets for a job of [`attempt`]'s.
pub fn settle(lua: &Lua, job: LightUserData) -> Result<MultiValue> {
    let key = job.0 as usize;
    let taken = SETTLING.with(|s| {
        let mut s = s.borrow_mut();
        s.iter().position(|k| *k == key).map(|at| s.swap_remove(at))
    });
    if taken.is_none() {
        return Err(mlua::Error::runtime("not a job of transaction:exec's"));
    }
    // SAFETY: the key is a Box that attempt leaked, taken out of SETTLING once.
    let job = unsafe { Box::from_raw(key as *mut Settling) };
    in_place::deliver(lua, job.outcome, &job.shown)
}

/// The string at `i`, when it is a statement: UTF-8 without NUL bytes.
unsafe fn sql_at<'a>(state: *mut ffi::lua_State, i: c_int) -> Option<&'a str> {
    let text = std::str::from_utf8(bytes_at(state, i)).ok()?;
    nul_at(text).is_none().then_some(text)
}

unsafe fn bytes_at<'a>(state: *mut ffi::lua_State, i: c_int) -> &'a [u8] {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(state, i, &mut len) as *const u8;
    std::slice::from_raw_parts(p, len)
}

/// The parameters from stack index `first` on, as the full function reads them; None when one
/// is of another type (the full function binds or refuses it).
unsafe fn params_from(lua: &Lua, state: *mut ffi::lua_State, first: c_int) -> Option<Vec<Param>> {
    let top = ffi::lua_gettop(state);
    let mut params = Vec::with_capacity((top + 1 - first).max(0) as usize);
    let null = crate::luavalue::null();
    for i in first..=top {
        let value = match ffi::lua_type(state, i) {
            ffi::LUA_TSTRING => {
                params.push(string_param(bytes_at(state, i)));
                continue;
            }
            ffi::LUA_TNIL => Value::Nil,
            ffi::LUA_TBOOLEAN => Value::Boolean(ffi::lua_toboolean(state, i) != 0),
            ffi::LUA_TLIGHTUSERDATA => Value::LightUserData(LightUserData(ffi::lua_touserdata(state, i))),
            ffi::LUA_TNUMBER => number_at(state, i)?,
            _ => return None,
        };
        params.push(param(lua, &null, (i + 1 - first) as usize, value).ok()?);
    }
    Some(params)
}

/// The number at `i` as mlua reads it; None for a whole number of 2^53 or more on interpreters
/// without integers, which mlua reads as an integer when it fits one.
unsafe fn number_at(state: *mut ffi::lua_State, i: c_int) -> Option<Value> {
    if cfg!(any(feature = "lua53", feature = "lua54")) {
        return Some(match ffi::lua_isinteger(state, i) {
            0 => Value::Number(ffi::lua_tonumber(state, i)),
            _ => Value::Integer(ffi::lua_tointeger(state, i) as i64),
        });
    }
    let n = ffi::lua_tonumber(state, i);
    (n.fract() != 0.0 || n.abs() < EXACT_IN_A_DOUBLE).then_some(Value::Number(n))
}
