//! The conventions of Lua values that json and yaml share: the `null` sentinel, the array
//! marker and metatable, how a table is shaped (array or object), paths to a value for error
//! messages, nesting limits, and the stack base their decoders build values on.

use std::os::raw::{c_int, c_void};

use mlua::{ffi, LightUserData, Lua, Result, Table, Value};

/// Deepest nesting either direction accepts unless told otherwise.
pub const DEFAULT_MAX_DEPTH: usize = 1000;
/// Lua C API and JSON nesting both stay far below this, whatever the caller asks.
pub const HARD_MAX_DEPTH: usize = 10_000;

pub static EMPTY_ARRAY_MARK: u8 = 0;

/// The null sentinel shared by json and yaml (the same value as lua-cjson's `cjson.null`).
pub fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// Whether `t` is an essh.secret.
pub fn is_secret(t: &Table) -> bool {
    t.metatable().and_then(|m| m.raw_get::<String>("__name").ok()).as_deref() == Some("essh.Secret")
}

/// What an essh.secret holds (essh.secret's reveal).
pub fn reveal(lua: &Lua, secret: Table) -> Result<Value> {
    let module: Table = lua.globals().get::<mlua::Function>("require")?.call("essh.secret")?;
    module.get::<mlua::Function>("reveal")?.call::<Value>(secret)
}

pub fn empty_array_mark() -> LightUserData {
    LightUserData(&EMPTY_ARRAY_MARK as *const u8 as *mut c_void)
}

pub fn empty_array() -> Value {
    Value::LightUserData(empty_array_mark())
}

/// `lua.exec_raw` for work that could panic (parsers of any input, other crates' decoders): a
/// panic cannot unwind through the Lua call it runs in, so it is caught there, the call's stack
/// emptied, and the answer is an internal error instead of an aborted interpreter.
///
/// # Safety
/// As `Lua::exec_raw`: `work` keeps the Lua stack balanced as `R` wants it.
pub unsafe fn exec_raw_caught<R: mlua::FromLuaMulti>(
    lua: &Lua,
    args: impl mlua::IntoLuaMulti,
    work: impl FnOnce(*mut ffi::lua_State),
) -> Result<R> {
    let mut panicked = false;
    let answer = lua.exec_raw(args, |state| {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(state))).is_err() {
            panicked = true;
            ffi::lua_settop(state, 0);
        }
    });
    if panicked {
        return Err(mlua::Error::runtime("internal error (a bug in essh): a native decoder panicked"));
    }
    answer
}

/// The metatable marking arrays, one per Lua state, shared by json and yaml.
pub fn array_mt(lua: &Lua) -> Result<Table> {
    unsafe { lua.exec_raw((), |state| push_array_mt(state)) }
}

pub static ARRAY_MT_KEY: u8 = 0;

/// Pushes the array metatable, made on first use and kept in the registry under a
/// light userdata key (no string to intern per call).
///
/// # Safety
/// `state` must be a Lua state inside a protected call, with room for three more slots.
pub unsafe fn push_array_mt(state: *mut ffi::lua_State) {
    let key = &ARRAY_MT_KEY as *const u8 as *mut c_void;
    ffi::lua_pushlightuserdata(state, key);
    ffi::lua_rawget(state, ffi::LUA_REGISTRYINDEX);
    if ffi::lua_type(state, -1) == ffi::LUA_TTABLE {
        return;
    }
    ffi::lua_pop(state, 1);
    ffi::lua_createtable(state, 0, 1);
    ffi::lua_pushstring(state, c"array".as_ptr());
    ffi::lua_setfield(state, -2, c"__jsontype".as_ptr());
    ffi::lua_pushlightuserdata(state, key);
    ffi::lua_pushvalue(state, -2);
    ffi::lua_rawset(state, ffi::LUA_REGISTRYINDEX);
}

/// Where a decoder's protected call keeps what decoded values refer to (`push_decode_base`).
pub const NULL_INDEX: c_int = 1;
pub const ARRAY_MT_INDEX: c_int = 2;

/// Pushes json.null and the array metatable at `NULL_INDEX` and `ARRAY_MT_INDEX` of an empty
/// protected call's stack (json's and yaml's decoders).
///
/// # Safety
/// `state` must be a Lua state inside a protected call, with an empty stack.
pub unsafe fn push_decode_base(state: *mut ffi::lua_State) {
    ffi::lua_pushlightuserdata(state, std::ptr::null_mut());
    push_array_mt(state);
}

/// Pushes an integer: the integer subtype on Lua 5.3+, a float elsewhere.
///
/// # Safety
/// `state` must be a valid Lua state with room for one more stack slot.
#[cfg(any(feature = "lua53", feature = "lua54"))]
pub unsafe fn push_integer(state: *mut ffi::lua_State, n: i64) {
    ffi::lua_pushinteger(state, n);
}

/// # Safety
/// As above.
#[cfg(not(any(feature = "lua53", feature = "lua54")))]
pub unsafe fn push_integer(state: *mut ffi::lua_State, n: i64) {
    ffi::lua_pushnumber(state, n as f64);
}

/// A step of the path to the value that could not be encoded, for the error message.
pub enum PathStep {
    Index(i64),
    Key(String),
}

/// `$.users[3].name` for the steps recorded innermost first.
pub fn format_path(path: &[PathStep]) -> String {
    let mut at = String::from("$");
    for step in path.iter().rev() {
        match step {
            PathStep::Index(i) => at.push_str(&format!("[{i}]")),
            PathStep::Key(k) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                at.push('.');
                at.push_str(k);
            }
            PathStep::Key(k) => at.push_str(&format!("[{k:?}]")),
        }
    }
    at
}

pub const SPARSE_MESSAGE: &str =
    "excessively sparse array (largest index above 10 and above twice the item count); use string keys";

/// What kind of container a table becomes.
pub enum Shape {
    Object,
    /// An array of `1..=n`, with `null` where items are missing.
    Array(i64),
}

/// A table with integer keys too far apart to be an array.
#[derive(Debug)]
pub struct TooSparse;

/// The array rule of the module documentation, from a table's key count, its largest
/// positive integer key, and whether every key is one.
pub fn classify(count: i64, max: i64, all_indices: bool) -> std::result::Result<Shape, TooSparse> {
    if count == 0 || !all_indices {
        Ok(Shape::Object)
    } else if max > count && max > 10 && max > 2 * count {
        Err(TooSparse)
    } else {
        Ok(Shape::Array(max))
    }
}

/// The `max_depth` of an options table: DEFAULT_MAX_DEPTH when absent, an error outside
/// 1..=HARD_MAX_DEPTH.
pub fn max_depth_option(opts: Option<&Table>) -> Result<usize> {
    let depth: Option<i64> = match opts {
        Some(t) => t.get("max_depth")?,
        None => None,
    };
    match depth {
        None => Ok(DEFAULT_MAX_DEPTH),
        Some(d) if d >= 1 && (d as usize) <= HARD_MAX_DEPTH => Ok(d as usize),
        Some(d) => Err(mlua::Error::runtime(format!("max_depth must be between 1 and {HARD_MAX_DEPTH}, got {d}"))),
    }
}

/// The options of json.decode and yaml.decode: a stream of values (`all`) and the deepest
/// nesting allowed.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeOptions {
    pub all: bool,
    pub max_depth: usize,
}

impl DecodeOptions {
    pub fn from_lua(opts: Option<&Table>) -> Result<Self> {
        let all = match opts {
            Some(t) => t.get::<Option<bool>>("all")?.unwrap_or(false),
            None => false,
        };
        Ok(DecodeOptions { all, max_depth: max_depth_option(opts)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_a_lua_call_is_an_error_and_the_state_goes_on() {
        let lua = Lua::new();
        // SAFETY: the work pushes one value, or panics after pushing one.
        let fine: i64 = unsafe { exec_raw_caught(&lua, (), |state| ffi::lua_pushinteger(state, 7)) }.unwrap();
        assert_eq!(fine, 7);
        let err = unsafe {
            exec_raw_caught::<Value>(&lua, (), |state| {
                ffi::lua_pushinteger(state, 1);
                panic!("a decoder's bug");
            })
        }
        .unwrap_err();
        assert!(err.to_string().contains("internal error (a bug in essh): a native decoder panicked"), "{err}");
        assert_eq!(lua.load("return 1 + 1").eval::<i64>().unwrap(), 2);
    }
}
