//! env: the process environment, `.env` files and `${VAR:-default}` expansion.

use std::collections::HashMap;
use std::sync::Mutex;

use mlua::{Lua, Result, Table, Value};

use crate::error::{self, Error};
use crate::func;
use crate::bridge::{Need, export, Class, ModuleDef, TypeDef};

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "env",
    description: "Environment variables, .env files and ${VAR:-default} expansion",
    classes: &[Class::Nondeterministic],
    functions: &[
        func!("get", "A variable's value, or default (nil when unset and no default).", [name: "string", default: "string?"], [value: "string?"]).needs(&[Need::arg("env", 0)]),
        func!("set", "Sets a variable for this process and the programs it starts.", [name: "string", value: "string"], []).needs(&[Need::arg("env", 0)]),
        func!("unset", "Removes a variable.", [name: "string"], []).needs(&[Need::arg("env", 0)]),
        func!("all", "Every variable, as a table.", [], [vars: "table<string, string>"]).needs(&[Need::any("env")]),
        func!("load", "Reads a .env file (KEY=value, export, quotes, escapes in double quotes, comments) into the environment; existing variables win unless override is set. Returns the pairs read.", [path: "string?", options: "env.LoadOptions?"], [vars: "table<string, string>?", err: "essh.Error?"]).needs(&[Need::arg("read", 0), Need::any("env")]),
        func!("loadfile", "essh v3's env.loadfile: reads a .env file into the environment, replacing variables already set; true, or nil and an error.", [path: "string"], [ok: "true?", err: "essh.Error?"]).needs(&[Need::arg("read", 0), Need::any("env")]),
        func!("parse", "Parses .env text without touching the environment.", [text: "string"], [vars: "table<string, string>?", err: "essh.Error?"]),
        func!("user", "The name of the user this process runs as (from the password database; USER when it has none).", [], [name: "string?"]),
        func!("is_terminal", "Whether stdout (default) or stderr is a terminal.", [stream: "(\"stdout\"|\"stderr\")?"], [terminal: "boolean"]),
        func!("expand", "Expands $VAR, ${VAR}, ${VAR:-default}, ${VAR-default} and ${VAR:?message}; vars (optional) are looked up first.", [text: "string", vars: "table<string, string>?"], [text: "string?", err: "essh.Error?"]).needs(&[Need::any("env")]),
    ],
    constants: &[],
    types: &[TypeDef::record("env.LoadOptions", "", &[crate::typed!(override: "boolean?", "Replace variables that are already set.")])],
    build,
};

/// setenv/unsetenv race with getenv on other threads; essh's own threads read the environment
/// only under this lock.
static ENV_LOCK: Mutex<()> = Mutex::new(());

pub fn get(name: &str) -> Option<String> {
    let _guard = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    std::env::var(name).ok()
}

/// Every variable, under the lock.
pub fn vars() -> Vec<(String, String)> {
    let _guard = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

fn set(name: &str, value: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
        return Err(format!("env.set: invalid variable name or value for '{name}'"));
    }
    let _guard = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: guarded by ENV_LOCK, which essh's own readers take too.
    unsafe { std::env::set_var(name, value) };
    Ok(())
}

fn unset(name: &str) {
    let _guard = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: as in set.
    unsafe { std::env::remove_var(name) };
}

/// Reads the .env file at `path` into the environment (replacing variables already set when
/// `force`); returns the pairs read.
fn load(path: &str, force: bool) -> error::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::from_io(&e, "read", path))?;
    let pairs = parse(&text).map_err(|e| Error::invalid(format!("{path}:{}", e.trim_start_matches("line "))))?;
    for (k, v) in &pairs {
        if force || get(k).is_none() {
            set(k, v).map_err(Error::invalid)?;
        }
    }
    Ok(pairs)
}

/// Parses dotenv text into ordered pairs. Errors name the line.
pub fn parse(text: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, raw)) = lines.next() {
        let line_no = index + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
        let Some((key, rest)) = line.split_once('=') else {
            return Err(format!("line {line_no}: expected KEY=value"));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return Err(format!("line {line_no}: invalid variable name '{key}'"));
        }
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => {
                // A quoted value may span lines.
                let mut body = rest[1..].to_owned();
                loop {
                    if let Some(end) = closing_quote(&body, q) {
                        let after = body[end + 1..].trim();
                        if !after.is_empty() && !after.starts_with('#') {
                            return Err(format!("line {line_no}: unexpected text after the closing quote"));
                        }
                        body.truncate(end);
                        break;
                    }
                    match lines.next() {
                        Some((_, next)) => {
                            body.push('\n');
                            body.push_str(next);
                        }
                        None => return Err(format!("line {line_no}: unterminated {q} quote")),
                    }
                }
                if q == '"' {
                    unescape(&body)
                } else {
                    body
                }
            }
            _ => {
                // Unquoted: a # after whitespace starts a comment.
                let mut value = rest;
                if let Some(pos) = rest.find(" #").or_else(|| rest.find("\t#")) {
                    value = &rest[..pos];
                }
                value.trim_end().to_owned()
            }
        };
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

fn closing_quote(body: &str, q: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        if q == '"' && c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        if c == q && !escaped {
            return Some(i);
        }
        escaped = false;
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Expands variables in `text`, looking in `vars` first, then `lookup`.
pub fn expand(
    text: &str,
    vars: &HashMap<String, String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<String, String> {
    let find = |name: &str| vars.get(name).cloned().or_else(|| lookup(name));
    let mut out = String::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' && i + 1 < bytes.len() && bytes[i + 1] == b'$' {
            out.push('$');
            i += 2;
            continue;
        }
        if c != b'$' {
            let ch = text[i..].chars().next().unwrap_or('\0');
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        if i + 1 < bytes.len() && bytes[i + 1] == b'{' {
            let close = text[i + 2..].find('}').ok_or_else(|| format!("unclosed ${{ at offset {i}"))? + i + 2;
            let inner = &text[i + 2..close];
            let name_end = inner.find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).unwrap_or(inner.len());
            let (name, op) = inner.split_at(name_end);
            if name.is_empty() {
                return Err(format!("bad substitution ${{{inner}}}"));
            }
            let value = find(name);
            let replaced = if let Some(default) = op.strip_prefix(":-") {
                value.filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
            } else if let Some(default) = op.strip_prefix('-') {
                value.unwrap_or_else(|| default.to_owned())
            } else if let Some(message) = op.strip_prefix(":?") {
                match value.filter(|v| !v.is_empty()) {
                    Some(v) => v,
                    None => {
                        let message = if message.is_empty() { "is not set" } else { message };
                        return Err(format!("{name}: {message}"));
                    }
                }
            } else if op.is_empty() {
                value.unwrap_or_default()
            } else {
                return Err(format!("bad substitution ${{{inner}}}"));
            };
            out.push_str(&replaced);
            i = close + 1;
            continue;
        }
        let starts_name = bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_');
        let name_len =
            text[i + 1..].find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).unwrap_or(text.len() - i - 1);
        if !starts_name || name_len == 0 {
            out.push('$');
            i += 1;
            continue;
        }
        out.push_str(&find(&text[i + 1..i + 1 + name_len]).unwrap_or_default());
        i += 1 + name_len;
    }
    Ok(out)
}

fn pairs_table(lua: &Lua, pairs: &[(String, String)]) -> Result<Table> {
    let t = lua.create_table()?;
    for (k, v) in pairs {
        t.raw_set(k.as_str(), v.as_str())?;
    }
    Ok(t)
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    export(lua, m, "env.get", |_, (name, default): (String, Option<String>)| Ok(get(&name).or(default)))?;
    export(lua, m, "env.set", |_, (name, value): (String, String)| set(&name, &value).map_err(mlua::Error::runtime))?;
    export(lua, m, "env.unset", |_, name: String| {
        unset(&name);
        Ok(())
    })?;
    export(lua, m, "env.all", |lua, ()| {
        let _guard = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        let vars: Vec<(String, String)> = std::env::vars().collect();
        pairs_table(lua, &vars)
    })?;
    export(lua, m, "env.parse", |lua, text: String| match parse(&text) {
        Ok(pairs) => error::pair(lua, Ok(pairs_table(lua, &pairs)?)),
        Err(e) => error::pair::<Value>(lua, Err(Error::invalid(format!(".env: {e}")))),
    })?;
    export(lua, m, "env.load", |lua, (path, options): (Option<String>, Option<Table>)| {
        let path = path.unwrap_or_else(|| ".env".into());
        let force = match &options {
            Some(t) => t.raw_get::<Option<bool>>("override")?.unwrap_or(false),
            None => false,
        };
        match load(&path, force) {
            Ok(pairs) => error::pair(lua, Ok(pairs_table(lua, &pairs)?)),
            Err(e) => error::pair::<Value>(lua, Err(e)),
        }
    })?;
    export(lua, m, "env.loadfile", |lua, path: String| error::pair(lua, load(&path, true).map(|_| true)))?;
    export(lua, m, "env.user", |_, ()| Ok(user()))?;
    export(lua, m, "env.is_terminal", |_, stream: Option<String>| {
        let fd = match stream.as_deref() {
            None | Some("stdout") => 1,
            Some("stderr") => 2,
            Some(other) => return Err(mlua::Error::runtime(format!("env.is_terminal: unknown stream '{other}'"))),
        };
        // SAFETY: isatty only inspects the descriptor.
        Ok(unsafe { libc::isatty(fd) } == 1)
    })?;
    export(lua, m, "env.expand", |lua, (text, vars): (String, Option<Table>)| {
        let mut map = HashMap::new();
        if let Some(vars) = vars {
            for pair in vars.pairs::<String, String>() {
                let (k, v) = pair?;
                map.insert(k, v);
            }
        }
        error::invalid_pair(lua, expand(&text, &map, &get))
    })?;
    Ok(())
}

/// The name of the effective user, from the password database, else USER or LOGNAME.
pub fn user() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: buf outlives the call, and pw's strings point into buf.
    let rc = unsafe { libc::getpwuid_r(libc::geteuid(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc == 0 && !found.is_null() && !pw.pw_name.is_null() {
        // SAFETY: getpwuid_r wrote a NUL-terminated name into buf.
        let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
        return Some(name.to_string_lossy().into_owned());
    }
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_is_the_password_databases_name_of_the_effective_user() {
        let out = std::process::Command::new("id").arg("-un").output().unwrap();
        assert_eq!(super::user().as_deref(), Some(String::from_utf8_lossy(&out.stdout).trim()));
    }

    #[test]
    fn dotenv_edge_cases() {
        let text = "# comment\nA=1\nexport B = two words # trailing\nC=\"line\\nnext\" # c\nD='single $raw'\nE=\nF=\"multi\nline\"\nG=a#b\n";
        let pairs = parse(text).unwrap();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("line\nnext"));
        assert_eq!(get("D"), Some("single $raw"));
        assert_eq!(get("E"), Some(""));
        assert_eq!(get("F"), Some("multi\nline"));
        assert_eq!(get("G"), Some("a#b"));
        assert_eq!(parse("X\n").unwrap_err(), "line 1: expected KEY=value");
        assert_eq!(parse("A=1\nB=\"open\n").unwrap_err(), "line 2: unterminated \" quote");
    }

    #[test]
    fn expansion() {
        let vars: HashMap<String, String> = [("A".to_owned(), "x".to_owned()), ("E".to_owned(), String::new())].into();
        let none = |_: &str| None;
        assert_eq!(expand("$A-${A}-${B:-def}-${E:-d2}-${E-d3}-\\$A", &vars, &none).unwrap(), "x-x-def-d2--$A");
        assert_eq!(expand("${B:?is required}", &vars, &none).unwrap_err(), "B: is required");
        assert!(expand("${A", &vars, &none).is_err());
        assert_eq!(expand("cost $5", &vars, &none).unwrap(), "cost $5");
    }
}

