//! Tables the bridge hands to Lua: read-only module tables and per-state method tables.

use mlua::{Lua, Result, Table, Value};

use super::call::function;

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

/// The `__index` table of a userdata type whose methods go through [`function`], built by
/// `build` once per Lua state and kept under `key`.
pub fn method_table(lua: &Lua, key: &'static str, build: fn(&Lua, &Table) -> Result<()>) -> Result<Table> {
    if let Ok(Value::Table(t)) = lua.named_registry_value::<Value>(key) {
        return Ok(t);
    }
    let t = lua.create_table()?;
    build(lua, &t)?;
    lua.set_named_registry_value(key, &t)?;
    Ok(t)
}

/// Runs the embedded Lua chunk `source` (a file of `src/lua/`, named `=essh_native.<name>` in
/// tracebacks) with `helpers`, the native values it needs, as its one argument, and returns
/// what the chunk returns.
pub fn run_embedded<R: mlua::FromLuaMulti>(lua: &Lua, name: &str, source: &str, helpers: Table) -> Result<R> {
    lua.load(source).set_name(format!("=essh_native.{name}")).call(helpers)
}

#[cfg(all(test, feature = "vendored"))]
mod tests {
    use super::*;

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
