//! essh_native: the native half of essh, loaded by a stock Lua interpreter with
//! `require "essh_native"` (or one submodule: `require "essh_native.json"`).

pub mod bridge;
pub mod command;
pub mod error;
pub mod luavalue;
pub mod signals;

#[cfg(test)]
mod fuzz_tests;

use mlua::{Lua, Result, Table, Value};

use bridge::ModuleDef;

/// The one list of native modules: each line names a module file of `src/` (or folder) whose
/// `DEFINITION` declares it. From it come [`MODULES`], in the order `essh_native.modules()`
/// lists them, and a `luaopen_essh_native_<name>` entry point per module, so that
/// `require "essh_native.<name>"` loads one module from the same library.
macro_rules! native_modules {
    ($($name:ident),* $(,)?) => {
        $(pub mod $name;)*

        /// Every native module, in the order `essh_native.modules()` lists them.
        pub static MODULES: &[&ModuleDef] = &[$(&$name::DEFINITION),*];

        #[cfg(feature = "module")]
        mod entry {
            $(
                pub mod $name {
                    #[export_name = concat!("luaopen_essh_native_", stringify!($name))]
                    unsafe extern "C-unwind" fn open(state: *mut mlua::lua_State) -> std::os::raw::c_int {
                        mlua::Lua::entrypoint1(state, |lua| crate::submodule(lua, stringify!($name)))
                    }
                }
            )*
        }
    };
}

native_modules! {
    json,
    yaml,
    crypto,
    base64,
    runtime,
    ssh,
    fs,
    env,
    time,
    http,
    watch,
    process,
    question,
    gotemplate,
    re,
    permissions,
    aws,
    mdns,
    db,
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

const ROOT_KEY: &str = "essh_native.root";

/// The root table, built once per Lua state and shared by every entry point. A module's table
/// is built the first time it is asked for, so a program pays only for the modules it uses.
pub fn open(lua: &Lua) -> Result<Table> {
    if let Ok(Value::Table(root)) = lua.named_registry_value::<Value>(ROOT_KEY) {
        return Ok(root);
    }
    let root = lua.create_table()?;
    let lazy = lua.create_table()?;
    lazy.raw_set(
        "__index",
        lua.create_function(|lua, (inner, name): (Table, Value)| {
            let Value::String(name) = name else { return Ok(Value::Nil) };
            let Some(def) = MODULES.iter().find(|d| name.as_bytes() == d.name.as_bytes()) else {
                return Ok(Value::Nil);
            };
            let module = def.open(lua)?;
            inner.raw_set(def.name, &module)?;
            Ok(Value::Table(module))
        })?,
    )?;
    root.set_metatable(Some(lazy))?;
    root.raw_set("version", VERSION)?;
    root.raw_set("interpreter", interpreter())?;
    root.raw_set("on_warning", bridge::on_warning(lua)?)?;
    root.raw_set("error", error::constructor(lua)?)?;
    root.raw_set("error_kinds", lua.create_sequence_from(error::Kind::ALL.iter().map(|k| k.name()))?)?;
    root.raw_set(
        "modules",
        bridge::function(lua, "essh_native.modules", |lua, ()| {
            let list = lua.create_table()?;
            for def in MODULES {
                list.push(def.describe(lua)?)?;
            }
            Ok(list)
        })?,
    )?;
    root.raw_set(
        "module_names",
        bridge::function(lua, "essh_native.module_names", |lua, ()| {
            lua.create_sequence_from(MODULES.iter().map(|def| def.name))
        })?,
    )?;
    let root = bridge::readonly(lua, "essh_native", root)?;
    lua.set_named_registry_value(ROOT_KEY, &root)?;
    Ok(root)
}

/// The interpreter this build targets, as the rock names it.
pub fn interpreter() -> &'static str {
    if cfg!(feature = "luajit") {
        "luajit"
    } else if cfg!(feature = "lua54") {
        "lua54"
    } else if cfg!(feature = "lua53") {
        "lua53"
    } else if cfg!(feature = "lua52") {
        "lua52"
    } else {
        "lua51"
    }
}

#[cfg_attr(not(feature = "module"), allow(dead_code))]
fn submodule(lua: &Lua, name: &str) -> Result<Value> {
    open(lua)?.get(name)
}

#[cfg(feature = "module")]
#[mlua::lua_module]
fn essh_native(lua: &Lua) -> Result<Table> {
    open(lua)
}
