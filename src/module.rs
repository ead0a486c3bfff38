//! Module definitions: one declaration per native module builds its Lua table, the
//! introspection returned by `essh_native.modules()`, and (through `tools/gen_types.lua`)
//! the LuaLS annotation files in `types/`.
//!
//! Type strings use LuaCATS syntax (`string`, `integer?`, `json.EncodeOptions?`, `any`).

use std::panic::{catch_unwind, AssertUnwindSafe};

use mlua::{FromLuaMulti, IntoLuaMulti, Lua, MaybeSend, Result, Table, Value};

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
    let inner = lua.create_function(move |lua, args: mlua::MultiValue| {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let args = A::from_lua_args(args, 1, Some(name), lua).map_err(|e| argument_error(name, e))?;
            f(lua, args)?.into_lua_multi(lua)
        }));
        match outcome {
            Ok(Ok(values)) => Ok(values),
            Ok(Err(err)) => (raise_mark(), message_of(&err)).into_lua_multi(lua),
            Err(panic) => {
                let message = format!("{name}: internal error (a bug in essh): {}", panic_message(&panic));
                (raise_mark(), message).into_lua_multi(lua)
            }
        }
    })?;
    trampoline(lua)?.call(inner)
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
