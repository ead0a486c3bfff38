//! re: regular expressions (RE2 syntax, over the regex crate) with the calling conventions of
//! Lua's string.find, match, gmatch and gsub, as essh v3's `re` module (gluare) had them.

use std::collections::HashMap;
use std::sync::Mutex;

use mlua::{Lua, LuaString, MultiValue, Result, Table, Value};
use regex::bytes::{Captures, Regex};

use crate::bridge::{export, Class, ModuleDef};
use crate::func;

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "re",
    description: "Regular expressions (RE2 syntax) with the conventions of string.find, match, gmatch and gsub",
    classes: &[Class::Deterministic],
    functions: &[
        func!("find", "Where pattern first matches s from init (default 1): start, end and the captures; nil when it does not. With plain, pattern is plain text.", [s: "string", pattern: "string", init: "integer?", plain: "boolean?"], [start: "integer?", finish: "integer?", captures: "string ..."]),
        func!("match", "The captures of the first match from init (the whole match when there are none); nil when it does not match.", [s: "string", pattern: "string", init: "integer?"], [captures: "string? ..."]),
        func!("gmatch", "An iterator over the matches: each gives the captures, or the whole match.", [s: "string", pattern: "string"], [iterator: "fun(): string?, string ..."]),
        func!("gsub", "s with the first n (default all) matches replaced by repl: a string ($1, ${name} are captures), a table (indexed by the first capture or the match) or a function (of the captures); false or nil keeps the match. Returns the text and the number of matches.", [s: "string", pattern: "string", repl: "string|table|function", n: "integer?"], [text: "string", count: "integer"]),
        func!("quote", "pattern with every metacharacter escaped, to match it literally.", [s: "string"], [pattern: "string"]),
    ],
    constants: &[],
    types: &[],
    build,
};

/// Compiled patterns, so a pattern in a loop compiles once.
static CACHE: Mutex<Option<HashMap<String, Regex>>> = Mutex::new(None);
const CACHE_SIZE: usize = 128;

/// The compiled `pattern`; a bad pattern raises, as a bad Lua pattern does.
fn compile(pattern: &[u8]) -> Result<Regex> {
    let text = std::str::from_utf8(pattern).map_err(|_| mlua::Error::runtime("re: the pattern is not valid UTF-8"))?;
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(re) = cache.get(text) {
        return Ok(re.clone());
    }
    let re = Regex::new(text).map_err(|e| mlua::Error::runtime(format!("re: bad pattern: {e}")))?;
    if cache.len() >= CACHE_SIZE {
        cache.clear();
    }
    cache.insert(text.to_string(), re.clone());
    Ok(re)
}

/// A Lua string index (1-based, negative from the end) as a byte offset into a string of `len`.
pub fn start_offset(init: Option<i64>, len: usize) -> usize {
    let len = len as i64;
    let i = match init.unwrap_or(1) {
        0 => 1,
        i if i < 0 => (len + i + 1).max(1),
        i => i,
    };
    (i - 1).min(len) as usize
}

/// The captures of a match (the whole match when the pattern has none), as Lua values.
fn captures<'a>(lua: &Lua, caps: &Captures<'a>, out: &mut Vec<Value>) -> Result<()> {
    if caps.len() == 1 {
        out.push(Value::String(lua.create_string(caps.get(0).map_or(&b""[..], |m| m.as_bytes()))?));
        return Ok(());
    }
    for group in caps.iter().skip(1) {
        out.push(match group {
            Some(m) => Value::String(lua.create_string(m.as_bytes())?),
            None => Value::Nil,
        });
    }
    Ok(())
}

fn find(lua: &Lua, (s, pattern, init, plain): (LuaString, LuaString, Option<i64>, Option<bool>)) -> Result<MultiValue> {
    let (s, pattern) = (s.as_bytes(), pattern.as_bytes());
    let from = start_offset(init, s.len());
    if plain.unwrap_or(false) {
        let found = s[from..].windows(pattern.len().max(1)).position(|w| pattern.is_empty() || w == &pattern[..]);
        return match found {
            Some(at) => Ok(MultiValue::from_iter([
                Value::Integer((from + at + 1) as i64),
                Value::Integer((from + at + pattern.len()) as i64),
            ])),
            None if pattern.is_empty() && from <= s.len() => {
                Ok(MultiValue::from_iter([Value::Integer(from as i64 + 1), Value::Integer(from as i64)]))
            }
            None => Ok(MultiValue::from_iter([Value::Nil])),
        };
    }
    let re = compile(&pattern)?;
    let Some(caps) = re.captures_at(&s, from) else { return Ok(MultiValue::from_iter([Value::Nil])) };
    let whole = caps.get(0).expect("group 0 is the match");
    let mut out = vec![Value::Integer(whole.start() as i64 + 1), Value::Integer(whole.end() as i64)];
    if caps.len() > 1 {
        captures(lua, &caps, &mut out)?;
    }
    Ok(MultiValue::from_iter(out))
}

fn matches(lua: &Lua, (s, pattern, init): (LuaString, LuaString, Option<i64>)) -> Result<MultiValue> {
    let s = s.as_bytes();
    let re = compile(&pattern.as_bytes())?;
    let from = start_offset(init, s.len());
    let Some(caps) = re.captures_at(&s, from) else { return Ok(MultiValue::from_iter([Value::Nil])) };
    let mut out = Vec::new();
    captures(lua, &caps, &mut out)?;
    Ok(MultiValue::from_iter(out))
}

fn gmatch(lua: &Lua, (s, pattern): (LuaString, LuaString)) -> Result<mlua::Function> {
    let re = compile(&pattern.as_bytes())?;
    let bytes = s.as_bytes().to_vec();
    let mut found = Vec::new();
    for caps in re.captures_iter(&bytes) {
        let mut values = Vec::new();
        captures(lua, &caps, &mut values)?;
        found.push(values);
    }
    let mut next = found.into_iter();
    lua.create_function_mut(move |_, ()| Ok(next.next().map(MultiValue::from_iter).unwrap_or_default()))
}

fn gsub(lua: &Lua, (s, pattern, repl, n): (LuaString, LuaString, Value, Option<i64>)) -> Result<(LuaString, i64)> {
    let bytes = s.as_bytes();
    let re = compile(&pattern.as_bytes())?;
    let limit = n.map(|n| n.max(0) as usize).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(bytes.len());
    let mut last = 0;
    let mut count = 0i64;
    for caps in re.captures_iter(&bytes).take(limit) {
        let whole = caps.get(0).expect("group 0 is the match");
        out.extend_from_slice(&bytes[last..whole.start()]);
        last = whole.end();
        count += 1;
        let replacement: Option<Vec<u8>> = match &repl {
            Value::String(template) => {
                let mut expanded = Vec::new();
                caps.expand(&template.as_bytes(), &mut expanded);
                Some(expanded)
            }
            Value::Table(t) => {
                let key = caps.get(1).or(caps.get(0)).map_or(&b""[..], |m| m.as_bytes());
                replacement_of(t.get::<Value>(lua.create_string(key)?)?)?
            }
            Value::Function(f) => {
                let mut args = Vec::new();
                captures(lua, &caps, &mut args)?;
                replacement_of(f.call::<Value>(MultiValue::from_iter(args))?)?
            }
            other => {
                return Err(mlua::Error::runtime(format!(
                    "bad argument #3 to 're.gsub' (string, table or function expected, got {})",
                    other.type_name()
                )))
            }
        };
        out.extend_from_slice(replacement.as_deref().unwrap_or(whole.as_bytes()));
    }
    out.extend_from_slice(&bytes[last..]);
    Ok((lua.create_string(&out)?, count))
}

/// What a table or function replacement gives: false or nil keeps the match.
fn replacement_of(value: Value) -> Result<Option<Vec<u8>>> {
    match value {
        Value::Nil | Value::Boolean(false) => Ok(None),
        Value::String(s) => Ok(Some(s.as_bytes().to_vec())),
        Value::Integer(i) => Ok(Some(i.to_string().into_bytes())),
        Value::Number(n) => Ok(Some(n.to_string().into_bytes())),
        other => Err(mlua::Error::runtime(format!("re.gsub: invalid replacement value (a {})", other.type_name()))),
    }
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    export(lua, m, "re.find", find)?;
    export(lua, m, "re.match", matches)?;
    export(lua, m, "re.gmatch", gmatch)?;
    export(lua, m, "re.gsub", gsub)?;
    export(lua, m, "re.quote", |_, s: String| Ok(regex::escape(&s)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_indexes_become_byte_offsets() {
        assert_eq!(start_offset(None, 5), 0);
        assert_eq!(start_offset(Some(2), 5), 1);
        assert_eq!(start_offset(Some(-2), 5), 3);
        assert_eq!(start_offset(Some(-9), 5), 0);
        assert_eq!(start_offset(Some(9), 5), 5);
    }

    #[test]
    fn bad_patterns_are_errors_that_say_so() {
        let err = compile(b"a(").unwrap_err().to_string();
        assert!(err.contains("bad pattern"), "{err}");
    }
}
