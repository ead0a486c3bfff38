//! Module definitions: one declaration per native module builds its Lua table, the
//! introspection returned by `essh_native.modules()`, and (through `tools/gen_types.lua`)
//! the LuaLS annotation files in `types/`.
//!
//! Type strings use LuaCATS syntax (`string`, `integer?`, `json.EncodeOptions?`, `any`).

use std::panic::{catch_unwind, AssertUnwindSafe};

use std::ffi::c_int;

use mlua::{ffi, FromLuaMulti, IntoLuaMulti, Lua, MaybeSend, Result, Table, Value};

/// Where a module may be used: the seed's module classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// One input always gives one output.
    Deterministic,
    /// Output varies (time, randomness).
    Nondeterministic,
    /// Touches files or processes.
    Io,
    /// Talks to the network.
    Network,
    /// Persists data.
    Storage,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Deterministic => "deterministic",
            Class::Nondeterministic => "nondeterministic",
            Class::Io => "io",
            Class::Network => "network",
            Class::Storage => "storage",
        }
    }
}

/// A named, typed slot: a parameter, a return value, a record field or a constant.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub name: &'static str,
    pub ty: &'static str,
    pub doc: &'static str,
}

/// The signature and one-line documentation of a function or method.
#[derive(Clone, Copy, Debug)]
pub struct FunctionDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub params: &'static [Slot],
    pub returns: &'static [Slot],
}

/// A record (an options table or a result table) or an object type with methods.
#[derive(Clone, Copy, Debug)]
pub struct TypeDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub fields: &'static [Slot],
    pub methods: &'static [FunctionDef],
}

/// The one declaration of a native module.
pub struct ModuleDef {
    pub name: &'static str,
    pub description: &'static str,
    pub classes: &'static [Class],
    pub functions: &'static [FunctionDef],
    pub constants: &'static [Slot],
    pub types: &'static [TypeDef],
    /// Fills the module table with the functions and constants declared above.
    pub build: fn(&Lua, &Table) -> Result<()>,
}

/// Shorthand for a [`Slot`]: `slot!(name: "type", "doc")`.
#[macro_export]
macro_rules! slot {
    ($name:ident : $ty:literal) => {
        $crate::module::Slot { name: stringify!($name), ty: $ty, doc: "" }
    };
    ($name:ident : $ty:literal, $doc:literal) => {
        $crate::module::Slot { name: stringify!($name), ty: $ty, doc: $doc }
    };
}

/// Shorthand for a [`FunctionDef`]:
/// `func!("name", "doc", [a: "string"], [r: "string?"])`.
#[macro_export]
macro_rules! func {
    ($name:literal, $doc:literal, [$($p:ident : $pt:literal),* $(,)?], [$($r:ident : $rt:literal),* $(,)?]) => {
        $crate::module::FunctionDef {
            name: $name,
            doc: $doc,
            params: &[$($crate::slot!($p : $pt)),*],
            returns: &[$($crate::slot!($r : $rt)),*],
        }
    };
}

impl ModuleDef {
    /// Builds the module's read-only table.
    pub fn open(&self, lua: &Lua) -> Result<Table> {
        let table = lua.create_table()?;
        (self.build)(lua, &table)?;
        self.check_exports(&table)?;
        readonly(lua, &format!("essh_native.{}", self.name), table)
    }

    /// Every declared name is exported and nothing undeclared is: the declaration cannot drift
    /// from the code.
    fn check_exports(&self, table: &Table) -> Result<()> {
        let declared = self.functions.iter().map(|f| f.name).chain(self.constants.iter().map(|c| c.name));
        for name in declared.clone() {
            if table.raw_get::<Value>(name)?.is_nil() {
                return Err(internal(format!("module {} declares {name} but does not build it", self.name)));
            }
        }
        for pair in table.pairs::<String, Value>() {
            let (key, _) = pair?;
            if !declared.clone().any(|name| name == key) {
                return Err(internal(format!("module {} builds {key} but does not declare it", self.name)));
            }
        }
        Ok(())
    }

    /// The definition as Lua data, for `essh_native.modules()`.
    pub fn describe(&self, lua: &Lua) -> Result<Table> {
        let def = lua.create_table()?;
        def.set("name", self.name)?;
        def.set("description", self.description)?;
        def.set("classes", lua.create_sequence_from(self.classes.iter().map(|c| c.name()))?)?;
        let functions = lua.create_table()?;
        for f in self.functions {
            functions.push(describe_function(lua, f)?)?;
        }
        def.set("functions", functions)?;
        def.set("constants", describe_slots(lua, self.constants)?)?;
        let types = lua.create_table()?;
        for t in self.types {
            let ty = lua.create_table()?;
            ty.set("name", t.name)?;
            ty.set("doc", t.doc)?;
            ty.set("fields", describe_slots(lua, t.fields)?)?;
            let methods = lua.create_table()?;
            for m in t.methods {
                methods.push(describe_function(lua, m)?)?;
            }
            ty.set("methods", methods)?;
            types.push(ty)?;
        }
        def.set("types", types)?;
        Ok(def)
    }
}

fn describe_function(lua: &Lua, f: &FunctionDef) -> Result<Table> {
    let t = lua.create_table()?;
    t.set("name", f.name)?;
    t.set("doc", f.doc)?;
    t.set("params", describe_slots(lua, f.params)?)?;
    t.set("returns", describe_slots(lua, f.returns)?)?;
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| match p.ty.strip_suffix(" ...") {
            Some(ty) => format!("...: {ty}"),
            None => format!("{}: {}", p.name.trim_end_matches('_'), p.ty),
        })
        .collect();
    let returns: Vec<&str> = f.returns.iter().map(|r| r.ty).collect();
    t.set("signature", format!("({}) -> ({})", params.join(", "), returns.join(", ")))?;
    Ok(t)
}

fn describe_slots(lua: &Lua, slots: &[Slot]) -> Result<Table> {
    let list = lua.create_table()?;
    for s in slots {
        let t = lua.create_table()?;
        // `fn_: "T"` names a parameter `fn`; `args: "T ..."` is a vararg `...: T`.
        match s.ty.strip_suffix(" ...") {
            Some(ty) => {
                t.set("name", "...")?;
                t.set("type", ty)?;
            }
            None => {
                t.set("name", s.name.trim_end_matches('_'))?;
                t.set("type", s.ty)?;
            }
        }
        t.set("doc", s.doc)?;
        list.push(t)?;
    }
    Ok(list)
}

/// Wraps `inner` in a proxy that reads through to it and refuses assignment.
pub fn readonly(lua: &Lua, name: &str, inner: Table) -> Result<Table> {
    let proxy = lua.create_table()?;
    let meta = lua.create_table()?;
    meta.raw_set("__index", inner.clone())?;
    let message = format!("{name} is read-only: cannot assign to field");
    meta.raw_set(
        "__newindex",
        function(lua, "essh_native", move |_, (_, key, _): (Value, Value, Value)| -> Result<()> {
            let key = key.to_string().unwrap_or_else(|_| "?".into());
            Err(mlua::Error::runtime(format!("{message} '{key}'")))
        })?,
    )?;
    let next: mlua::Function = lua.globals().raw_get("next")?;
    meta.raw_set("__pairs", lua.create_function(move |_, _: Value| Ok((next.clone(), inner.clone(), Value::Nil)))?)?;
    meta.raw_set("__metatable", format!("{name} (read-only)"))?;
    let label = name.to_owned();
    meta.raw_set("__tostring", lua.create_function(move |_, _: Value| Ok(format!("module {label}")))?)?;
    proxy.set_metatable(Some(meta))?;
    Ok(proxy)
}

/// Marks a result that the Lua trampoline must raise as an error (see [`function`]).
static RAISE_MARK: u8 = 0;
/// Marks a pending operation that the trampoline must wait for (see [`waiting`]).
static WAIT_MARK: u8 = 0;

fn mark(m: &'static u8) -> Value {
    Value::LightUserData(mlua::LightUserData(m as *const u8 as *mut std::ffi::c_void))
}

pub fn raise_mark() -> Value {
    mark(&RAISE_MARK)
}

pub fn wait_mark() -> Value {
    mark(&WAIT_MARK)
}

/// The trampoline factory of runtime.lua: `wrap(f)` returns a function that calls `f(...)` and
/// then raises `RAISE, err` at the caller's level (so positions read `script.lua:12: bad
/// argument #1 to ...`), waits for `WAIT, op` (blocking or yielding), or returns the results.
fn trampoline(lua: &Lua) -> Result<mlua::Function> {
    crate::runtime::scheduler(lua)?.raw_get("wrap")
}

/// Creates a Lua function named `name` (e.g. `json.decode`) from `f`. Argument conversion
/// errors read like Lua's (`bad argument #1 to 'json.decode' (string expected, got nil)`), any
/// error is raised as a plain string, and a panic becomes an error instead of unwinding into
/// the interpreter.
pub fn function<A, R, F>(lua: &Lua, name: &'static str, f: F) -> Result<mlua::Function>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> Result<R> + MaybeSend + 'static,
{
    trampoline(lua)?.call(native_function(lua, name, f)?)
}

/// The native half of [`function`]: returns `RAISE, err` for the trampoline to raise.
fn native_function<A, R, F>(lua: &Lua, name: &'static str, f: F) -> Result<mlua::Function>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> Result<R> + MaybeSend + 'static,
{
    lua.create_function(move |lua, args: Converted<A>| {
        let outcome = catch_unwind(AssertUnwindSafe(|| f(lua, args.0.map_err(|e| argument_error(name, e))?)));
        Ok(match outcome {
            Ok(Ok(values)) => Outcome::Values(values),
            Ok(Err(err)) => Outcome::Raise(message_of(&err)),
            Err(panic) => Outcome::Raise(internal_error_message(name, &panic)),
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
enum Outcome<R> {
    Values(R),
    Raise(String),
}

impl<R: IntoLuaMulti> IntoLuaMulti for Outcome<R> {
    fn into_lua_multi(self, lua: &Lua) -> Result<mlua::MultiValue> {
        match self {
            Outcome::Values(values) => values.into_lua_multi(lua),
            Outcome::Raise(message) => (raise_mark(), message).into_lua_multi(lua),
        }
    }

    unsafe fn push_into_stack_multi(self, lua: &mlua::state::RawLua) -> Result<c_int> {
        match self {
            Outcome::Values(values) => values.push_into_stack_multi(lua),
            Outcome::Raise(message) => (raise_mark(), message).push_into_stack_multi(lua),
        }
    }
}

fn internal_error_message(name: &str, panic: &Box<dyn std::any::Any + Send>) -> String {
    format!("{name}: internal error (a bug in essh): {}", panic_message(panic))
}

/// Registers under `name` a C function, `entry`, that answers the calls worth answering fast
/// by itself (it reads its arguments and pushes its results through the C API, with none of the
/// trampoline's and mlua's per-call work) and hands every other call to `full` with
/// [`call_full`]. Upvalue 1 of `entry` is `body`, which does the work under [`call_body`]; upvalue
/// 2 is `full`, made as by [`function`]. `full` must never wait.
pub fn export_direct<A, R, F>(
    lua: &Lua,
    table: &Table,
    name: &'static str,
    entry: ffi::lua_CFunction,
    body: ffi::lua_CFunction,
    full: F,
) -> Result<()>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> Result<R> + MaybeSend + 'static,
{
    let full = native_function(lua, name, full)?;
    let key = name.rsplit('.').next().unwrap_or(name);
    let direct: mlua::Function = unsafe {
        lua.exec_raw(full, |state| {
            ffi::lua_pushcfunction(state, body);
            ffi::lua_insert(state, 1);
            ffi::lua_pushcclosure(state, entry, 2);
        })?
    };
    table.raw_set(key, direct)
}

/// How an entry point's own attempt at a call ended.
pub enum Direct {
    /// The result is on top of the stack.
    Done,
    /// A Lua error (out of memory) is on top of the stack, to be raised again.
    Raised,
    /// The call needs the full function (to describe an error, say).
    Declined,
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
/// its `RAISE, err` at the caller's level as the trampoline does.
///
/// # Safety
/// To be called by an entry point registered with [`export_direct`], with no Rust value that
/// needs dropping alive (a raise does not return).
pub unsafe fn call_full(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(2));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
    let raised = ffi::lua_type(state, 1) == ffi::LUA_TLIGHTUSERDATA
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
unsafe fn raise_panic(state: *mut ffi::lua_State, name: &str, panic: Box<dyn std::any::Any + Send>) -> ! {
    {
        let message = internal_error_message(name, &panic);
        drop(panic);
        ffi::lua_pushlstring(state, message.as_ptr() as *const std::ffi::c_char, message.len());
    }
    raise_at_caller(state, ffi::lua_gettop(state))
}

/// Like [`function`] for a primitive that waits: `f` checks its arguments and returns the work
/// as a future, which runs on the runtime while the caller blocks (plain code) or yields (a task).
pub fn waiting<A, Fut, F>(lua: &Lua, name: &'static str, f: F) -> Result<mlua::Function>
where
    A: FromLuaMulti,
    Fut: std::future::Future<Output = crate::runtime::Outcome> + Send + 'static,
    F: Fn(&Lua, A) -> Result<Fut> + MaybeSend + 'static,
{
    function(lua, name, move |lua, args: A| {
        let op = crate::runtime::Op::spawn(lua, f(lua, args)?)?;
        (wait_mark(), op).into_lua_multi(lua)
    })
}

/// Registers a [`waiting`] function in `table` under the last part of its qualified `name`.
pub fn export_waiting<A, Fut, F>(lua: &Lua, table: &Table, name: &'static str, f: F) -> Result<()>
where
    A: FromLuaMulti,
    Fut: std::future::Future<Output = crate::runtime::Outcome> + Send + 'static,
    F: Fn(&Lua, A) -> Result<Fut> + MaybeSend + 'static,
{
    let key = name.rsplit('.').next().unwrap_or(name);
    table.raw_set(key, waiting(lua, name, f)?)
}

/// Registers `f` in `table` under the last part of its qualified `name` (`json.decode`).
pub fn export<A, R, F>(lua: &Lua, table: &Table, name: &'static str, f: F) -> Result<()>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
    F: Fn(&Lua, A) -> Result<R> + MaybeSend + 'static,
{
    let key = name.rsplit('.').next().unwrap_or(name);
    table.raw_set(key, function(lua, name, f)?)
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

const WARN_KEY: &str = "essh_native.on_warning";

/// Reports a warning through the handler set with `essh_native.on_warning` (essh.log sets
/// one), or on stderr when there is none or it fails.
pub fn warn(lua: &Lua, text: &str) {
    if let Ok(Value::Function(handler)) = lua.named_registry_value::<Value>(WARN_KEY) {
        if handler.call::<()>(text).is_ok() {
            return;
        }
    }
    eprintln!("essh: warning: {text}");
}

/// `essh_native.on_warning(fn)`: where native warnings go (nil: stderr).
pub fn on_warning(lua: &Lua) -> Result<mlua::Function> {
    function(lua, "essh_native.on_warning", |lua, handler: Option<mlua::Function>| {
        lua.set_named_registry_value(WARN_KEY, handler)
    })
}

/// The `__index` table of a userdata type whose methods go through [`function`], built by
/// `build` once per Lua state.
pub fn method_table(lua: &Lua, key: &'static str, build: fn(&Lua, &Table) -> Result<()>) -> Result<Table> {
    if let Ok(Value::Table(t)) = lua.named_registry_value::<Value>(key) {
        return Ok(t);
    }
    let t = lua.create_table()?;
    build(lua, &t)?;
    lua.set_named_registry_value(key, &t)?;
    Ok(t)
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

fn internal(message: String) -> mlua::Error {
    mlua::Error::runtime(message)
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
        export_direct(&lua, &m, "test.direct", test_entry, test_body, |_, n: i64| {
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
        assert!(zero.starts_with("src/module.rs:") && zero.ends_with(":2: zero"), "the caller's position: {zero}");
        let (ok, bad) = eval("return pcall(f, 'x')");
        assert!(!ok);
        assert_eq!(text(bad), "bad argument #1 to 'test.direct' (integer expected, got string)");
        assert_eq!(lua.load("return 1 + 1").eval::<i64>().unwrap(), 2);
    }

    #[test]
    fn readonly_tables_refuse_assignment_and_read_through() {
        let lua = Lua::new();
        let inner = lua.create_table().unwrap();
        inner.set("x", 1).unwrap();
        lua.globals().set("t", readonly(&lua, "mod", inner).unwrap()).unwrap();
        let (x, ok, message): (i64, bool, String) =
            lua.load("local ok, e = pcall(function() t.y = 2 end) return t.x, ok, e").eval().unwrap();
        assert_eq!((x, ok), (1, false));
        assert!(message.ends_with("mod is read-only: cannot assign to field 'y'"), "{message}");
    }
}
