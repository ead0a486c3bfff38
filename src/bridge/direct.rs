//! The direct-entry fast path: C functions that answer the calls worth answering fast by
//! themselves, through the C API, with none of the trampoline's and mlua's per-call work, and
//! hand every other call to the full function made as by [`function`]. Everything unsafe of the
//! bridge lives here.
//!
//! [`function`]: super::function

use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mlua::{ffi, FromLuaMulti, IntoLuaMulti, Lua, MaybeSend, Result, Table};

use super::call::{internal_error_message, native_function, short_name, RAISE_MARK};

/// What settles a call an entry point began but cannot finish by itself (an error to describe,
/// say): made as by [`function`](super::function) and called by [`call_settle`] with the job the
/// entry hands it.
pub type Settle = fn(&Lua, mlua::LightUserData) -> Result<mlua::MultiValue>;

/// A C function that answers the calls worth answering fast by itself (it reads its arguments
/// and pushes its results through the C API, with none of mlua's per-call work), and what it
/// hands the others to.
pub struct Entry {
    pub entry: ffi::lua_CFunction,
    /// Upvalue 1: the work the entry does under [`call_body`].
    pub body: Option<ffi::lua_CFunction>,
    /// Upvalue 3: see [`Settle`].
    pub settle: Option<Settle>,
    /// Whether the full function may wait (for work on the runtime): the entry is then called
    /// through the trampoline, which raises and waits for what [`call_full`] and [`call_settle`]
    /// return; otherwise they raise themselves and the entry skips the trampoline too.
    pub waits: bool,
}

/// Registers `entry` under `name`, with upvalue 2 `full`, made as by
/// [`function`](super::function), which [`call_full`] hands every call the entry declines.
pub fn export_direct<A, R, F>(lua: &Lua, table: &Table, name: &'static str, entry: Entry, full: F) -> Result<()>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> Result<R> + MaybeSend + 'static,
{
    let full = native_function(lua, name, full)?;
    let settle = entry.settle.map(|settle| native_function(lua, name, settle)).transpose()?;
    let direct: mlua::Function = unsafe {
        lua.exec_raw((full, settle, entry.waits), |state| {
            match entry.body {
                Some(body) => ffi::lua_pushcfunction(state, body),
                None => ffi::lua_pushnil(state),
            }
            ffi::lua_insert(state, 1);
            ffi::lua_pushcclosure(state, entry.entry, 4);
        })?
    };
    let direct = match entry.waits {
        true => super::call::trampoline(lua)?.raw_get::<mlua::Function>("wrap")?.call(direct)?,
        false => direct,
    };
    table.raw_set(short_name(name), direct)
}

/// `check`, a permission check (see [`guard`](super::guard)), behind a C function that passes
/// by itself (returns nothing) while no policy is in force, without converting the arguments.
pub fn unless_open(lua: &Lua, check: mlua::Function) -> Result<mlua::Function> {
    unsafe { lua.exec_raw(check, |state| ffi::lua_pushcclosure(state, unless_open_entry, 1)) }
}

unsafe extern "C-unwind" fn unless_open_entry(state: *mut ffi::lua_State) -> c_int {
    let lua = Lua::get_or_init_from_ptr(state);
    if catch_unwind(AssertUnwindSafe(|| super::guard::is_open(lua))).unwrap_or(false) {
        return 0;
    }
    call_upvalue(state, 1)
}

/// How an entry point's own attempt at a call ended.
pub enum Direct {
    /// The result is on top of the stack.
    Done,
    /// A Lua error (out of memory) is on top of the stack, to be raised again.
    Raised,
    /// The call needs the full function (to describe an error, say).
    Declined,
    /// The call needs `settle` (upvalue 3) with this job: see [`call_settle`].
    Settle(*mut std::ffi::c_void),
}

/// Answers an entry point's call with `attempt` (the result it leaves on top of the stack), or
/// hands it to the full function when the attempt declines. A panic becomes a Lua error.
///
/// # Safety
/// To be called by an entry point registered with [`export_direct`], as its last step.
pub unsafe fn answer(state: *mut ffi::lua_State, name: &str, attempt: impl FnOnce() -> Direct) -> c_int {
    let nargs = ffi::lua_gettop(state);
    match catch_unwind(AssertUnwindSafe(attempt)) {
        Ok(Direct::Done) => 1,
        Ok(Direct::Raised) => ffi::lua_error(state),
        Ok(Direct::Declined) => {
            ffi::lua_settop(state, nargs);
            call_full(state)
        }
        Ok(Direct::Settle(job)) => call_settle(state, job),
        Err(panic) => raise_panic(state, name, panic),
    }
}

/// Runs the entry's `body` (upvalue 1) in a protected call with `job` and the entry's first
/// `nargs` arguments, leaving one result on top of the stack; then asks `declined` whether the
/// job needs the full function after all. A Lua error in the body (out of memory) stops here,
/// before it could cross the entry's Rust frames, and comes back as [`Direct::Raised`].
///
/// # Safety
/// To be called by an entry point registered with [`export_direct`], with `job` what its body
/// expects.
pub unsafe fn call_body(
    state: *mut ffi::lua_State,
    job: *mut std::ffi::c_void,
    nargs: c_int,
    declined: impl FnOnce() -> bool,
) -> Direct {
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_pushlightuserdata(state, job);
    for i in 1..=nargs {
        ffi::lua_pushvalue(state, i);
    }
    if ffi::lua_pcall(state, 1 + nargs, 1, 0) != 0 {
        Direct::Raised
    } else if declined() {
        Direct::Declined
    } else {
        Direct::Done
    }
}

/// Hands the entry's call to the full function (upvalue 2) and returns its results, raising
/// its `RAISE, err` at the caller's level as the trampoline does (or leaving that to the
/// trampoline, for an entry that [waits](Entry::waits)).
///
/// # Safety
/// To be called by an entry point registered with [`export_direct`], with no Rust value that
/// needs dropping alive (a raise does not return).
pub unsafe fn call_full(state: *mut ffi::lua_State) -> c_int {
    call_upvalue(state, 2)
}

/// Replaces the entry's arguments with `job` and returns what `settle` (upvalue 3) makes of it,
/// raising as [`call_full`] does. `settle` owns the job from here on.
///
/// # Safety
/// As [`call_full`]; `job` is what the entry's `settle` expects.
pub unsafe fn call_settle(state: *mut ffi::lua_State, job: *mut std::ffi::c_void) -> c_int {
    ffi::lua_settop(state, 0);
    ffi::lua_pushlightuserdata(state, job);
    call_upvalue(state, 3)
}

/// Calls upvalue `n` with everything on the stack and returns its results (see [`call_full`]);
/// a closure without upvalue 4 is not called through the trampoline.
unsafe fn call_upvalue(state: *mut ffi::lua_State, n: c_int) -> c_int {
    let nargs = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(n));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
    let raised = !through_trampoline(state)
        && ffi::lua_type(state, 1) == ffi::LUA_TLIGHTUSERDATA
        && std::ptr::eq(ffi::lua_touserdata(state, 1) as *const u8, &RAISE_MARK);
    if raised {
        raise_at_caller(state, 2);
    }
    ffi::lua_gettop(state)
}

/// Raises the value at `idx`, a message prefixed with the caller's position (`script.lua:12:`).
unsafe fn raise_at_caller(state: *mut ffi::lua_State, idx: c_int) -> ! {
    let message = ffi::lua_type(state, idx) == ffi::LUA_TSTRING;
    if message {
        ffi::luaL_where(state, 1);
    }
    ffi::lua_pushvalue(state, idx);
    if message {
        ffi::lua_concat(state, 2);
    }
    ffi::lua_error(state)
}

/// Raises a panic caught in an entry point as the error [`function`] would return for it.
/// Through the trampoline, returns `RAISE, message` for it to raise instead.
unsafe fn raise_panic(state: *mut ffi::lua_State, name: &str, panic: Box<dyn std::any::Any + Send>) -> c_int {
    ffi::lua_settop(state, 0);
    ffi::lua_pushlightuserdata(state, &RAISE_MARK as *const u8 as *mut std::ffi::c_void);
    {
        let message = internal_error_message(name, &panic);
        drop(panic);
        ffi::lua_pushlstring(state, message.as_ptr() as *const std::ffi::c_char, message.len());
    }
    if through_trampoline(state) {
        return 2;
    }
    raise_at_caller(state, 2)
}

/// Whether the entry is called through the trampoline (see [`Entry::waits`]).
unsafe fn through_trampoline(state: *mut ffi::lua_State) -> bool {
    ffi::lua_toboolean(state, ffi::lua_upvalueindex(4)) != 0
}

#[cfg(all(test, feature = "vendored"))]
mod tests {
    use super::*;
    use mlua::Value;

    /// By its first argument: 1 panics, 2 runs a body that raises, 3 runs a body that doubles
    /// the argument, 4 declines after pushing a stray value, anything else goes to the full
    /// function.
    unsafe extern "C-unwind" fn test_entry(state: *mut ffi::lua_State) -> c_int {
        match ffi::lua_tointeger(state, 1) {
            1 => answer(state, "test.direct", || panic!("kaboom")),
            4 => answer(state, "test.direct", || {
                ffi::lua_pushinteger(state, -1);
                Direct::Declined
            }),
            2 | 3 => match call_body(state, std::ptr::null_mut(), 1, || false) {
                Direct::Raised => ffi::lua_error(state),
                _ => 1,
            },
            _ => call_full(state),
        }
    }

    unsafe extern "C-unwind" fn test_body(state: *mut ffi::lua_State) -> c_int {
        let n = ffi::lua_tointeger(state, 2);
        if n == 2 {
            ffi::lua_pushstring(state, c"body failed".as_ptr());
            ffi::lua_error(state);
        }
        ffi::lua_pushinteger(state, n * 2);
        1
    }

    #[test]
    fn direct_entries_answer_fall_back_and_raise_like_the_trampoline() {
        let lua = Lua::new();
        let m = lua.create_table().unwrap();
        let entry = Entry { entry: test_entry, body: Some(test_body), settle: None, waits: false };
        export_direct(&lua, &m, "test.direct", entry, |_, n: i64| {
            if n == 0 {
                Err(mlua::Error::runtime("zero"))
            } else {
                Ok(n * 10)
            }
        })
        .unwrap();
        lua.globals().set("f", m.get::<mlua::Function>("direct").unwrap()).unwrap();
        let eval = |code: &str| lua.load(code).eval::<(bool, Value)>().unwrap();
        let text = |v: Value| v.to_string().unwrap();
        let (ok, panicked) = eval("return pcall(f, 1)");
        assert!(!ok);
        assert!(text(panicked).contains("test.direct: internal error (a bug in essh): kaboom"));
        let (ok, raised) = eval("return pcall(f, 2)");
        assert_eq!((ok, text(raised)), (false, "body failed".into()));
        assert_eq!(eval("return true, f(3)").1.as_integer(), Some(6));
        assert_eq!(eval("return true, f(5)").1.as_integer(), Some(50));
        assert_eq!(eval("return true, f(4)").1.as_integer(), Some(40), "declined: the full function answers");
        let (ok, zero) = eval("return pcall(function()\n local x = f(0)\n return x end)");
        assert!(!ok);
        let zero = text(zero);
        assert!(
            zero.starts_with("src/bridge/direct.rs:") && zero.ends_with(":2: zero"),
            "the caller's position: {zero}"
        );
        let (ok, bad) = eval("return pcall(f, 'x')");
        assert!(!ok);
        assert_eq!(text(bad), "bad argument #1 to 'test.direct' (integer expected, got string)");
        assert_eq!(lua.load("return 1 + 1").eval::<i64>().unwrap(), 2);
    }

    #[test]
    fn entries_that_wait_leave_raising_to_the_trampoline() {
        let lua = Lua::new();
        let m = lua.create_table().unwrap();
        let entry = Entry { entry: test_entry, body: Some(test_body), settle: None, waits: true };
        export_direct(&lua, &m, "test.waits", entry, |_, n: i64| match n {
            0 => Err(mlua::Error::runtime("zero")),
            n => Ok(n * 10),
        })
        .unwrap();
        lua.globals().set("f", m.get::<mlua::Function>("waits").unwrap()).unwrap();
        let eval = |code: &str| lua.load(code).eval::<(bool, Value)>().unwrap();
        let text = |v: Value| v.to_string().unwrap();
        assert_eq!(eval("return true, f(3)").1.as_integer(), Some(6));
        assert_eq!(eval("return true, f(5)").1.as_integer(), Some(50));
        for (code, expected) in
            [("f(0)", ":2: zero"), ("f(1)", ":2: test.direct: internal error (a bug in essh): kaboom")]
        {
            let (ok, err) = eval(&format!("return pcall(function()\n local x = {code}\n return x end)"));
            assert!(!ok);
            let err = text(err);
            assert!(err.starts_with("src/bridge/direct.rs:") && err.contains(expected), "the caller's position: {err}");
        }
    }
}
