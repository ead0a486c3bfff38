//! The call convention of native functions.
//!
//! A native function's Rust half never raises: it returns its results, or `RAISE, message`,
//! or `WAIT, op` (a pending operation of the runtime). The trampoline of `src/lua/trampoline.lua`
//! wraps it, raises `RAISE` at the caller's level and waits for `WAIT`. Arguments are converted
//! by mlua straight from the Lua stack, and a conversion failure reads like Lua's own
//! (`bad argument #1 to 'json.decode' (string expected, got nil)`).

use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mlua::{FromLuaMulti, IntoLuaMulti, Lua, MaybeSend, Result, Table, Value};

/// Marks a result that the trampoline must raise as an error.
pub(super) static RAISE_MARK: u8 = 0;
/// Marks a pending operation that the trampoline must wait for.
static WAIT_MARK: u8 = 0;

fn mark(m: &'static u8) -> Value {
    Value::LightUserData(mlua::LightUserData(m as *const u8 as *mut std::ffi::c_void))
}

/// The first result of a native function that fails: `RAISE, message`.
pub fn raise_mark() -> Value {
    mark(&RAISE_MARK)
}

/// The first result of a native function that hands back work to wait for: `WAIT, op`.
pub fn wait_mark() -> Value {
    mark(&WAIT_MARK)
}

/// The trampoline of this Lua state (`src/lua/trampoline.lua`): `wrap(f)` and `set_settle(fn)`.
pub fn trampoline(lua: &Lua) -> Result<Table> {
    const KEY: &str = "essh_native.trampoline";
    if let Ok(Value::Table(t)) = lua.named_registry_value::<Value>(KEY) {
        return Ok(t);
    }
    let native = lua.create_table()?;
    native.raw_set("raise", raise_mark())?;
    native.raw_set("wait", wait_mark())?;
    native.raw_set("error", lua.globals().raw_get::<mlua::Function>("error")?)?;
    native.raw_set("level", if cfg!(feature = "lua51") { 3 } else { 2 })?;
    let t: Table = super::table::run_embedded(lua, "trampoline", include_str!("../lua/trampoline.lua"), native)?;
    lua.set_named_registry_value(KEY, &t)?;
    Ok(t)
}

/// Creates a Lua function named `name` (e.g. `json.decode`) from `f`. Argument conversion
/// errors read like Lua's, any error is raised as a plain string at the caller's position, and
/// a panic becomes an error instead of unwinding into the interpreter.
pub fn function<A, R, F>(lua: &Lua, name: &'static str, f: F) -> Result<mlua::Function>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> Result<R> + MaybeSend + 'static,
{
    trampoline(lua)?.raw_get::<mlua::Function>("wrap")?.call(native_function(lua, name, f)?)
}

/// Registers `f` in `table` under the last part of its qualified `name` (`json.decode`).
pub fn export<A, R, F>(lua: &Lua, table: &Table, name: &'static str, f: F) -> Result<()>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> Result<R> + MaybeSend + 'static,
{
    table.raw_set(short_name(name), function(lua, name, f)?)
}

/// `decode` of `json.decode`, `exec` of `session:exec`.
pub fn short_name(name: &str) -> &str {
    name.rsplit(['.', ':']).next().unwrap_or(name)
}

/// The Rust half of [`function`]: returns `RAISE, message` for the trampoline to raise.
pub(super) fn native_function<A, R, F>(lua: &Lua, name: &'static str, f: F) -> Result<mlua::Function>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> Result<R> + MaybeSend + 'static,
{
    lua.create_function(move |lua, args: Converted<A>| {
        let reply = catch_unwind(AssertUnwindSafe(|| f(lua, args.0.map_err(|e| argument_error(name, e))?)));
        Ok(match reply {
            Ok(Ok(values)) => Reply::Values(values),
            Ok(Err(err)) => Reply::Raise(message_of(&err)),
            Err(panic) => Reply::Raise(internal_error_message(name, &panic)),
        })
    })
}

/// A function's arguments, or why they could not be converted: the conversion happens in
/// mlua, straight from the Lua stack, and its failure becomes a Lua-style message here.
struct Converted<A>(Result<A>);

impl<A: FromLuaMulti> FromLuaMulti for Converted<A> {
    fn from_lua_multi(values: mlua::MultiValue, lua: &Lua) -> Result<Self> {
        Ok(Converted(A::from_lua_multi(values, lua)))
    }

    fn from_lua_args(args: mlua::MultiValue, i: usize, to: Option<&str>, lua: &Lua) -> Result<Self> {
        Ok(Converted(A::from_lua_args(args, i, to, lua)))
    }

    unsafe fn from_stack_multi(nvals: c_int, lua: &mlua::state::RawLua) -> Result<Self> {
        Ok(Converted(A::from_stack_multi(nvals, lua)))
    }

    unsafe fn from_stack_args(nargs: c_int, i: usize, to: Option<&str>, lua: &mlua::state::RawLua) -> Result<Self> {
        Ok(Converted(A::from_stack_args(nargs, i, to, lua)))
    }
}

/// What a native function gives the trampoline: its results, pushed straight onto the Lua
/// stack, or `RAISE, message`.
enum Reply<R> {
    Values(R),
    Raise(String),
}

impl<R: IntoLuaMulti> IntoLuaMulti for Reply<R> {
    fn into_lua_multi(self, lua: &Lua) -> Result<mlua::MultiValue> {
        match self {
            Reply::Values(values) => values.into_lua_multi(lua),
            Reply::Raise(message) => (raise_mark(), message).into_lua_multi(lua),
        }
    }

    unsafe fn push_into_stack_multi(self, lua: &mlua::state::RawLua) -> Result<c_int> {
        match self {
            Reply::Values(values) => values.push_into_stack_multi(lua),
            Reply::Raise(message) => (raise_mark(), message).push_into_stack_multi(lua),
        }
    }
}

pub(super) fn internal_error_message(name: &str, panic: &Box<dyn std::any::Any + Send>) -> String {
    format!("{name}: internal error (a bug in essh): {}", panic_message(panic))
}

/// `bad argument #2 to 'json.encode' (table expected, got string)`.
fn argument_error(name: &str, err: mlua::Error) -> mlua::Error {
    match err {
        mlua::Error::BadArgument { pos, cause, .. } => {
            let detail = match cause.as_ref() {
                mlua::Error::FromLuaConversionError { from, to, .. } => {
                    format!("{} expected, got {from}", lua_type_name(to))
                }
                other => message_of(other),
            };
            // Methods (`session:exec`) count from the first argument after self, as Lua's do.
            let pos = if name.contains(':') { pos.saturating_sub(1) } else { pos };
            if pos == 0 {
                return mlua::Error::runtime(format!("calling '{name}' on bad self ({detail})"));
            }
            mlua::Error::runtime(format!("bad argument #{pos} to '{name}' ({detail})"))
        }
        other => other,
    }
}

/// The first key of an options table that is not in `allowed`, for an "unknown option" error.
pub fn unknown_option(options: &Table, allowed: &[&str]) -> Result<Option<String>> {
    for pair in options.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let name = key.to_string().unwrap_or_default();
        if !allowed.contains(&name.as_str()) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// The Lua name of the type a Rust conversion wanted (`f64` is a number to Lua users).
fn lua_type_name(rust: &str) -> String {
    match rust {
        "f32" | "f64" => "number".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" | "u8" | "u16" | "u32" | "u64" | "usize" => "integer".into(),
        other => other.to_lowercase(),
    }
}

/// The text of an error without mlua's decorations ("runtime error: ", tracebacks).
pub fn message_of(err: &mlua::Error) -> String {
    match err {
        mlua::Error::RuntimeError(msg) => msg.clone(),
        mlua::Error::CallbackError { cause, .. } => message_of(cause),
        mlua::Error::WithContext { context, cause } => format!("{context}: {}", message_of(cause)),
        other => other.to_string(),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}

#[cfg(all(test, feature = "vendored"))]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_lua_error_and_the_interpreter_goes_on() {
        let lua = Lua::new();
        let boom = function(&lua, "test.boom", |_, ()| -> Result<()> { panic!("kaboom") }).unwrap();
        lua.globals().set("boom", boom).unwrap();
        let (ok, message): (bool, String) = lua.load("return pcall(boom)").eval().unwrap();
        assert!(!ok);
        assert!(message.contains("test.boom: internal error (a bug in essh): kaboom"), "{message}");
        assert_eq!(lua.load("return 1 + 1").eval::<i64>().unwrap(), 2);
    }

    #[test]
    fn short_names_drop_the_module_and_the_receiver() {
        assert_eq!(short_name("json.decode"), "decode");
        assert_eq!(short_name("session:exec"), "exec");
        assert_eq!(short_name("plain"), "plain");
    }
}
