//! Native warnings: where they go (`essh_native.on_warning`, which essh.log sets).

use mlua::{Lua, Result, Value};

use super::call::function;

const KEY: &str = "essh_native.on_warning";

/// Reports a warning through the handler set with `essh_native.on_warning`, or on stderr when
/// there is none or it fails.
pub fn warn(lua: &Lua, text: &str) {
    if let Ok(Value::Function(handler)) = lua.named_registry_value::<Value>(KEY) {
        if handler.call::<()>(text).is_ok() {
            return;
        }
    }
    eprintln!("essh: warning: {text}");
}

/// `essh_native.on_warning(fn)`: where native warnings go (nil: stderr); returns the handler
/// it replaces, so that a caller can put it back.
pub fn on_warning(lua: &Lua) -> Result<mlua::Function> {
    function(lua, "essh_native.on_warning", |lua, handler: Option<mlua::Function>| {
        let previous: Value = lua.named_registry_value(KEY)?;
        lua.set_named_registry_value(KEY, handler)?;
        Ok(previous)
    })
}
