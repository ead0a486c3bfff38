//! The permission guard of native functions: [`install`] puts a check in front of every
//! function and method whose declaration needs a permission, so the check cannot be left out
//! of a module. The guard is plain Lua around the function (`guard` of the trampoline), so a
//! function that waits still yields; its check is Rust that reads the declared resources from
//! the arguments only when some policy is in force.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use mlua::{Lua, MultiValue, Result, Table, Value};

use super::def::{Need, Resource, Resources};
use super::policy::State;
use crate::error::{Error, Kind};

/// Replaces `table[name]` (the last part of `action`) with the guarded function.
pub fn install(lua: &Lua, table: &Table, action: String, needs: &'static [Need], method: bool) -> Result<()> {
    let short = super::call::short_name(&action).to_owned();
    let inner: mlua::Function = table.raw_get(short.as_str())?;
    let action: Rc<str> = action.into();
    let check = lua.create_function(move |lua, args: MultiValue| {
        let outcome = catch_unwind(AssertUnwindSafe(|| check(lua, &action, needs, &args, method)));
        match outcome {
            Ok(Ok(())) => Ok(Value::Nil),
            Ok(Err(err)) => Ok(Value::UserData(lua.create_userdata(err)?)),
            Err(_) => Ok(Value::UserData(
                lua.create_userdata(Error::new(Kind::Internal, format!("{action}: the permission check failed")))?,
            )),
        }
    })?;
    let guard: mlua::Function = super::call::trampoline(lua)?.raw_get("guard")?;
    let check = super::direct::unless_open(lua, check)?;
    table.raw_set(short.as_str(), guard.call::<mlua::Function>((inner, check))?)
}

/// Whether no policy is in force and nothing is audited: every check passes unasked.
pub fn is_open(lua: &Lua) -> bool {
    lua.app_data_ref::<State>().is_none_or(|s| s.is_open())
}

/// The permission state of `lua`, made on first use.
pub fn with_state<R>(lua: &Lua, f: impl FnOnce(&mut State) -> R) -> R {
    if lua.app_data_ref::<State>().is_none() {
        lua.set_app_data(State::default());
    }
    match lua.app_data_mut::<State>() {
        Some(mut state) => f(&mut state),
        None => f(&mut State::default()),
    }
}

fn check(lua: &Lua, action: &str, needs: &[Need], args: &MultiValue, method: bool) -> std::result::Result<(), Error> {
    if is_open(lua) {
        return Ok(());
    }
    let mut asked: Resources = Vec::new();
    for need in needs {
        asked.extend(resources(need, args, method));
    }
    with_state(lua, |state| {
        for (permission, resource) in &asked {
            state.check(permission, action, resource.as_deref())?;
        }
        Ok(())
    })
}

fn argument(args: &MultiValue, i: usize, method: bool) -> Option<&Value> {
    args.get(if method { i + 1 } else { i })
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.to_string_lossy()),
        Value::Integer(n) => Some(n.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn resources(need: &Need, args: &MultiValue, method: bool) -> Resources {
    let p = need.permission;
    match need.resource {
        Resource::Arg(i) => vec![(p, text(argument(args, i, method)))],
        Resource::Command(i) => vec![(p, program(argument(args, i, method)))],
        Resource::UrlHost(i) => vec![(p, text(argument(args, i, method)).and_then(|u| url_host(&u)))],
        Resource::UrlField(i, field) => {
            let url = match argument(args, i, method) {
                Some(Value::Table(t)) => text(t.raw_get::<Value>(field).ok().as_ref()),
                _ => None,
            };
            vec![(p, url.and_then(|u| url_host(&u)))]
        }
        Resource::Any => vec![(p, None)],
        Resource::Custom(_, find) => find(args),
    }
}

/// The program a command runs: argv's first item, the shell for a command line.
fn program(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Table(t) => text(t.raw_get::<Value>(1).ok().as_ref()),
        Value::String(_) => Some("sh".into()),
        _ => None,
    }
}

/// `host:port` of a URL (the scheme's port when none is written); None when it is not one.
pub fn url_host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = match parsed.host()? {
        url::Host::Ipv6(a) => format!("[{a}]"),
        other => other.to_string(),
    };
    Some(match parsed.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_their_host_and_port() {
        assert_eq!(url_host("https://api.example.com/v1").as_deref(), Some("api.example.com:443"));
        assert_eq!(url_host("http://127.0.0.1:8080/x").as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(url_host("http://[::1]/").as_deref(), Some("[::1]:80"));
        assert_eq!(url_host("not a url"), None);
    }
}
