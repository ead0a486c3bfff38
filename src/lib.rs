//! essh_native: the native half of essh, loaded by a stock Lua interpreter with
//! `require "essh_native"` (or one submodule: `require "essh_native.json"`).

pub mod base64;
pub mod command;
pub mod crypto;
pub mod env;
pub mod error;
pub mod fs;
pub mod http;
pub mod json;
pub mod module;
pub mod process;
pub mod runtime;
pub mod signals;
pub mod ssh;
pub mod time;
pub mod watch;
pub mod yaml;

use mlua::{Lua, Result, Table, Value};

use module::ModuleDef;

/// Every native module, in the order `essh_native.modules()` lists them.
pub static MODULES: &[&ModuleDef] = &[
    &json::DEFINITION,
    &yaml::DEFINITION,
    &crypto::DEFINITION,
    &base64::DEFINITION,
    &runtime::DEFINITION,
    &ssh::DEFINITION,
    &fs::DEFINITION,
    &env::DEFINITION,
    &time::DEFINITION,
    &http::DEFINITION,
    &watch::DEFINITION,
    &process::DEFINITION,
];

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

const ROOT_KEY: &str = "essh_native.root";

/// The root table, built once per Lua state and shared by every entry point.
pub fn open(lua: &Lua) -> Result<Table> {
    if let Ok(Value::Table(root)) = lua.named_registry_value::<Value>(ROOT_KEY) {
        return Ok(root);
    }
    let root = lua.create_table()?;
    for def in MODULES {
        root.raw_set(def.name, def.open(lua)?)?;
    }
    root.raw_set("version", VERSION)?;
    root.raw_set("interpreter", interpreter())?;
    root.raw_set("on_warning", module::on_warning(lua)?)?;
    root.raw_set(
        "modules",
        module::function(lua, "essh_native.modules", |lua, ()| {
            let list = lua.create_table()?;
            for def in MODULES {
                list.push(def.describe(lua)?)?;
            }
            Ok(list)
        })?,
    )?;
    let root = module::readonly(lua, "essh_native", root)?;
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

fn submodule(lua: &Lua, name: &str) -> Result<Value> {
    open(lua)?.get(name)
}

#[cfg(feature = "module")]
mod entry {
    use super::*;

    #[mlua::lua_module]
    fn essh_native(lua: &Lua) -> Result<Table> {
        open(lua)
    }

    #[mlua::lua_module(name = "essh_native_json")]
    fn open_json(lua: &Lua) -> Result<Value> {
        submodule(lua, "json")
    }

    #[mlua::lua_module(name = "essh_native_yaml")]
    fn open_yaml(lua: &Lua) -> Result<Value> {
        submodule(lua, "yaml")
    }

    #[mlua::lua_module(name = "essh_native_crypto")]
    fn open_crypto(lua: &Lua) -> Result<Value> {
        submodule(lua, "crypto")
    }

    #[mlua::lua_module(name = "essh_native_base64")]
    fn open_base64(lua: &Lua) -> Result<Value> {
        submodule(lua, "base64")
    }

    #[mlua::lua_module(name = "essh_native_ssh")]
    fn open_ssh(lua: &Lua) -> Result<Value> {
        submodule(lua, "ssh")
    }

    #[mlua::lua_module(name = "essh_native_fs")]
    fn open_fs(lua: &Lua) -> Result<Value> {
        submodule(lua, "fs")
    }

    #[mlua::lua_module(name = "essh_native_env")]
    fn open_env(lua: &Lua) -> Result<Value> {
        submodule(lua, "env")
    }

    #[mlua::lua_module(name = "essh_native_time")]
    fn open_time(lua: &Lua) -> Result<Value> {
        submodule(lua, "time")
    }

    #[mlua::lua_module(name = "essh_native_http")]
    fn open_http(lua: &Lua) -> Result<Value> {
        submodule(lua, "http")
    }

    #[mlua::lua_module(name = "essh_native_watch")]
    fn open_watch(lua: &Lua) -> Result<Value> {
        submodule(lua, "watch")
    }

    #[mlua::lua_module(name = "essh_native_process")]
    fn open_process(lua: &Lua) -> Result<Value> {
        submodule(lua, "process")
    }

    #[mlua::lua_module(name = "essh_native_runtime")]
    fn open_runtime(lua: &Lua) -> Result<Value> {
        submodule(lua, "runtime")
    }
}

#[cfg(not(feature = "module"))]
#[allow(dead_code)]
fn keep_submodule_used(lua: &Lua) -> Result<Value> {
    submodule(lua, "json")
}
