//! yaml: YAML 1.2 (core schema) decoding with anchors, aliases and merge keys, and a block
//! style encoder.
//!
//! Decoding runs in two steps. `parse` turns the text into a flat tape of resolved scalars and
//! container marks (plain Rust, testable without Lua; alias expansion is counted here, so an
//! alias bomb is refused before anything is built). `build` then turns the tape into Lua
//! values inside one protected call, sharing one table per anchor as aliases do in YAML.

use std::borrow::Cow;
use std::collections::HashMap;
use std::os::raw::c_int;

use mlua::{ffi, Lua, Result, Table, Value};
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Tag};

use crate::error::{self, Error};
use crate::json;
use crate::luavalue::{self, DecodeOptions, ARRAY_MT_INDEX, NULL_INDEX};
use crate::bridge::{Need, export, Class, ModuleDef, TypeDef};
use crate::{func, typed};

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "yaml",
    description: "YAML 1.2 decoding (anchors, aliases, merge keys) and block-style encoding",
    classes: &[Class::Deterministic, Class::Io],
    functions: &[
        func!("decode", "Decodes YAML text; with {all = true}, every document into a list.", [text: "string", opts: "yaml.DecodeOptions?"], [value: "any", err: "essh.Error?"]),
        func!("encode", "Encodes a Lua value as a YAML document.", [value: "any", opts: "yaml.EncodeOptions?"], [text: "string?", err: "essh.Error?"]),
        func!("parse", "essh v3's yaml.parse: decodes one YAML document; nil and an error when it is not YAML.", [text: "string"], [value: "any", err: "essh.Error?"]),
        func!("read", "Reads and decodes a YAML file.", [path: "string", opts: "yaml.DecodeOptions?"], [value: "any", err: "essh.Error?"]).needs(&[Need::arg("read", 0)]),
        func!("write", "Encodes a value and writes it to a file atomically.", [path: "string", value: "any", opts: "yaml.EncodeOptions?"], [ok: "boolean?", err: "essh.Error?"]).needs(&[Need::arg("write", 0)]),
    ],
    constants: &[
        typed!(null: "lightuserdata", "The YAML null (the same value as json.null)."),
        typed!(array_mt: "table", "Metatable marking a table as a sequence (the same as json.array_mt)."),
    ],
    types: &[
        TypeDef::record("yaml.DecodeOptions", "Options of yaml.decode and yaml.read.", &[
                typed!(all: "boolean?", "Return every document of the stream in a list."),
                typed!(max_depth: "integer?", "Deepest nesting allowed (default 1000)."),
            ]),
        TypeDef::record("yaml.EncodeOptions", "Options of yaml.encode and yaml.write.", &[
                typed!(all: "boolean?", "The value is a list of documents."),
                typed!(sort_keys: "boolean?", "Sort mapping keys (default true)."),
                typed!(max_depth: "integer?", "Deepest nesting allowed (default 1000)."),
            ]),
    ],
    build,
};

/// Most nodes that aliases may add, counted with their whole subtrees.
pub const MAX_ALIAS_EXPANSION: u64 = 1_000_000;

fn build(lua: &Lua, m: &Table) -> Result<()> {
    m.raw_set("null", luavalue::null())?;
    m.raw_set("array_mt", luavalue::array_mt(lua)?)?;
    export(lua, m, "yaml.decode", |lua, (text, opts): (mlua::LuaString, Option<Table>)| {
        let opts = DecodeOptions::from_lua(opts.as_ref())?;
        let result = decode(lua, &text.as_bytes(), &opts)?;
        error::pair(lua, result)
    })?;
    export(lua, m, "yaml.parse", |lua, text: mlua::LuaString| {
        let result = decode(lua, &text.as_bytes(), &DecodeOptions::from_lua(None)?)?;
        error::pair(lua, result)
    })?;
    export(lua, m, "yaml.encode", |lua, (value, opts): (Value, Option<Table>)| {
        let opts = EncodeOptions::from_lua(opts.as_ref())?;
        error::pair(lua, encode(&value, &opts))
    })?;
    export(lua, m, "yaml.read", |lua, (path, opts): (String, Option<Table>)| {
        let opts = DecodeOptions::from_lua(opts.as_ref())?;
        let result = match std::fs::read(&path) {
            Ok(bytes) => decode(lua, &bytes, &opts)?.map_err(|e| located_in(e, &path)),
            Err(e) => Err(Error::from_io(&e, "read", &path)),
        };
        error::pair(lua, result)
    })?;
    export(lua, m, "yaml.write", |lua, (path, value, opts): (String, Value, Option<Table>)| {
        let opts = EncodeOptions::from_lua(opts.as_ref())?;
        let result = encode(&value, &opts)
            .and_then(|text| crate::fs::write_atomically(&path, text.as_bytes(), None))
            .map(|()| true);
        error::pair(lua, result)
    })?;
    Ok(())
}

fn located_in(mut err: Error, path: &str) -> Error {
    err.message = format!("{path}: {}", err.message);
    err.with("path", path)
}

// ---------------------------------------------------------------------------------------------
// Decoding: text to tape


/// One step of the tape. Anchors are numbered from 1; 0 means none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Null {
        anchor: u32,
    },
    Bool {
        value: bool,
        anchor: u32,
    },
    Int {
        value: i64,
        anchor: u32,
    },
    Float {
        value: f64,
        anchor: u32,
    },
    Str {
        start: u32,
        len: u32,
        anchor: u32,
    },
    SeqStart {
        anchor: u32,
    },
    MapStart {
        anchor: u32,
    },
    End,
    Alias {
        anchor: u32,
    },
    /// The `<<` key: the next value is merged into the enclosing mapping.
    MergeKey,
    Document,
}

/// The parsed stream: ops, the bytes of their strings, and where each op came from.
#[derive(Debug, Default)]
pub struct Tape {
    pub ops: Vec<Op>,
    pub text: Vec<u8>,
    /// (line, column), both 1-based, per op.
    pub marks: Vec<(u32, u32)>,
    pub documents: usize,
}

impl Tape {
    pub fn str(&self, start: u32, len: u32) -> &[u8] {
        &self.text[start as usize..(start + len) as usize]
    }
}

fn scan_error(e: &ScanError) -> Error {
    let line = e.marker().line();
    let column = e.marker().col() + 1;
    Error::invalid(format!("invalid YAML at line {line}, column {column}: {}", e.info()))
        .with("line", line)
        .with("column", column)
}

fn error_at(line: u32, column: u32, what: &str) -> Error {
    Error::invalid(format!("invalid YAML at line {line}, column {column}: {what}"))
        .with("line", line as usize)
        .with("column", column as usize)
}

/// Container bookkeeping while parsing: its alias-expanded size, and for a mapping whether
/// the next scalar is a key.
struct Open {
    size: u64,
    anchor: u32,
    mapping: bool,
    expect_key: bool,
}

pub fn parse(src: &str, max_depth: usize) -> error::Result<Tape> {
    let mut tape = Tape::default();
    let mut open: Vec<Open> = Vec::new();
    let mut sizes: HashMap<u32, u64> = HashMap::new();
    let mut expanded: u64 = 0;
    let mut parser = Parser::new_from_str(src);
    while let Some(item) = parser.next_event() {
        let (event, span) = item.map_err(|e| scan_error(&e))?;
        let mark = (span.start.line() as u32, span.start.col() as u32 + 1);
        // A scalar or alias completes one node of the enclosing container.
        let is_key = open.last().is_some_and(|o| o.mapping && o.expect_key);
        let op = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                tape.documents += 1;
                Op::Document
            }
            Event::Alias(id) => {
                let id = id as u32;
                let size = sizes.get(&id).copied().unwrap_or(1);
                expanded += size;
                if expanded > MAX_ALIAS_EXPANSION {
                    return Err(error_at(mark.0, mark.1, "aliases expand to too many nodes (an alias bomb?)"));
                }
                complete(&mut open, size);
                Op::Alias { anchor: id }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let anchor = anchor as u32;
                let op = if is_key && style == ScalarStyle::Plain && tag.is_none() && value == "<<" {
                    Op::MergeKey
                } else {
                    scalar(&mut tape, value, style, tag.as_deref(), anchor)
                        .map_err(|what| error_at(mark.0, mark.1, &what))?
                };
                if anchor != 0 {
                    sizes.insert(anchor, 1);
                }
                complete(&mut open, 1);
                op
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= max_depth {
                    return Err(error_at(mark.0, mark.1, &format!("nesting deeper than {max_depth} levels")));
                }
                let mapping = matches!(event, Event::MappingStart(..));
                let anchor = anchor as u32;
                open.push(Open { size: 1, anchor, mapping, expect_key: true });
                if mapping {
                    Op::MapStart { anchor }
                } else {
                    Op::SeqStart { anchor }
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(done) = open.pop() {
                    if done.anchor != 0 {
                        sizes.insert(done.anchor, done.size);
                    }
                    complete(&mut open, done.size);
                }
                Op::End
            }
        };
        tape.ops.push(op);
        tape.marks.push(mark);
    }
    Ok(tape)
}

/// Counts a finished child of the innermost container and flips a mapping between key and
/// value.
fn complete(open: &mut [Open], size: u64) {
    if let Some(parent) = open.last_mut() {
        parent.size = parent.size.saturating_add(size);
        if parent.mapping {
            parent.expect_key = !parent.expect_key;
        }
    }
}

fn push_text(tape: &mut Tape, s: &str, anchor: u32) -> error::Result<Op> {
    let start = u32::try_from(tape.text.len()).map_err(|_| Error::invalid("YAML text larger than 4 GiB"))?;
    tape.text.extend_from_slice(s.as_bytes());
    Ok(Op::Str { start, len: s.len() as u32, anchor })
}

/// Resolves a scalar by the YAML 1.2 core schema, or by its explicit tag.
fn scalar(
    tape: &mut Tape,
    value: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
    anchor: u32,
) -> std::result::Result<Op, String> {
    let core = tag.filter(|t| t.is_yaml_core_schema()).map(|t| t.suffix.as_str());
    // The parser reports the non-specific tag `!` as an empty handle with suffix "!".
    let non_specific =
        tag.is_some_and(|t| (t.handle.is_empty() && t.suffix == "!") || (t.handle == "!" && t.suffix.is_empty()));
    let text = |tape: &mut Tape| push_text(tape, &value, anchor).map_err(|e| e.message);
    match core {
        Some("str") => return text(tape),
        Some("null") => return Ok(Op::Null { anchor }),
        Some("bool") => {
            return match resolve(&value) {
                Resolved::Bool(b) => Ok(Op::Bool { value: b, anchor }),
                _ => Err(format!("{value:?} is not a !!bool")),
            }
        }
        Some("int") => {
            return match resolve(&value) {
                Resolved::Int(n) => Ok(Op::Int { value: n, anchor }),
                _ => Err(format!("{value:?} is not a !!int")),
            }
        }
        Some("float") => {
            return match resolve(&value) {
                Resolved::Int(n) => Ok(Op::Float { value: n as f64, anchor }),
                Resolved::Float(f) => Ok(Op::Float { value: f, anchor }),
                _ => Err(format!("{value:?} is not a !!float")),
            }
        }
        _ => {}
    }
    if style != ScalarStyle::Plain || non_specific {
        return text(tape);
    }
    Ok(match resolve(&value) {
        Resolved::Null => Op::Null { anchor },
        Resolved::Bool(value) => Op::Bool { value, anchor },
        Resolved::Int(value) => Op::Int { value, anchor },
        Resolved::Float(value) => Op::Float { value, anchor },
        Resolved::Str => return text(tape),
    })
}

/// What a plain scalar means under the core schema.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
}

pub fn resolve(s: &str) -> Resolved {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Resolved::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let bytes = s.as_bytes();
    let first = bytes[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Resolved::Str;
    }
    if let Some(octal) = s.strip_prefix("0o") {
        return radix(octal, 8);
    }
    if let Some(hex) = s.strip_prefix("0x") {
        return radix(hex, 16);
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<i64>() {
            Ok(n) => Resolved::Int(n),
            Err(_) => s.parse::<f64>().map_or(Resolved::Str, Resolved::Float),
        };
    }
    if is_core_float(digits) {
        if let Ok(f) = s.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    Resolved::Str
}

fn radix(digits: &str, radix: u32) -> Resolved {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Resolved::Str;
    }
    i64::from_str_radix(digits, radix).map_or(Resolved::Str, Resolved::Int)
}

/// `(\.[0-9]+ | [0-9]+ (\.[0-9]*)?) ([eE][-+]?[0-9]+)?`, the sign already removed.
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let whole = digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let fraction = digits(&mut i);
        if whole == 0 && fraction == 0 {
            return false;
        }
    } else if whole == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

// ---------------------------------------------------------------------------------------------
// Decoding: tape to Lua

pub fn decode(lua: &Lua, src: &[u8], opts: &DecodeOptions) -> Result<error::Result<Value>> {
    let text = match std::str::from_utf8(src) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.valid_up_to();
            let line = src[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
            return Ok(Err(Error::invalid(format!("invalid YAML at line {line}: invalid UTF-8 (byte {offset})"))
                .with("line", line)));
        }
    };
    let tape = match parse(text, opts.max_depth) {
        Ok(tape) => tape,
        Err(e) => return Ok(Err(e)),
    };
    if !opts.all && tape.documents > 1 {
        let (line, column) = tape
            .ops
            .iter()
            .enumerate()
            .filter(|(_, op)| **op == Op::Document)
            .nth(1)
            .map_or((1, 1), |(i, _)| tape.marks[i]);
        return Ok(Err(error_at(
            line,
            column,
            &format!("the stream has {} documents; decode it with {{all = true}}", tape.documents),
        )));
    }
    let mut failure: Option<(BuildError, usize)> = None;
    // Stack inside the protected call: 1 = null, 2 = array metatable, 3 = anchors.
    let value: Value = unsafe {
        luavalue::exec_raw_caught(lua, (), |state| {
            luavalue::push_decode_base(state);
            ffi::lua_createtable(state, 0, 0);
            let mut builder = Builder { tape: &tape, at: 0, failure: &mut failure };
            if builder.stream(state, opts.all) {
                ffi::lua_replace(state, 1);
                ffi::lua_settop(state, 1);
            } else {
                ffi::lua_settop(state, 0);
            }
        })?
    };
    Ok(match failure {
        Some((problem, at)) => {
            let (line, column) = tape.marks.get(at).copied().unwrap_or((1, 1));
            Err(error_at(line, column, problem.message()))
        }
        None => Ok(value),
    })
}

const ANCHORS_INDEX: c_int = 3;

#[derive(Clone, Copy, Debug)]
enum BuildError {
    DuplicateKey,
    NanKey,
    BadMerge,
}

impl BuildError {
    fn message(self) -> &'static str {
        match self {
            BuildError::DuplicateKey => "duplicate mapping key",
            BuildError::NanKey => "a mapping key cannot be NaN",
            BuildError::BadMerge => "the value of a merge key (<<) must be a mapping or a list of mappings",
        }
    }
}

struct Builder<'a> {
    tape: &'a Tape,
    at: usize,
    failure: &'a mut Option<(BuildError, usize)>,
}

impl Builder<'_> {
    fn fail(&mut self, problem: BuildError, at: usize) -> bool {
        *self.failure = Some((problem, at));
        false
    }

    /// Pushes the documents: the first (or nil when there is none), or a list of all.
    unsafe fn stream(&mut self, state: *mut ffi::lua_State, all: bool) -> bool {
        if all {
            ffi::lua_createtable(state, self.tape.documents as c_int, 0);
        }
        let mut n = 0;
        while self.at < self.tape.ops.len() {
            // Each document starts with a Document op, then one node (or none: null).
            self.at += 1;
            if self.at >= self.tape.ops.len() || self.tape.ops[self.at] == Op::Document {
                ffi::lua_pushvalue(state, NULL_INDEX);
            } else if !self.node(state) {
                return false;
            }
            if !all {
                return true;
            }
            n += 1;
            ffi::lua_rawseti(state, -2, n);
        }
        if !all {
            ffi::lua_pushnil(state);
        }
        true
    }

    unsafe fn anchor(&self, state: *mut ffi::lua_State, anchor: u32) {
        if anchor != 0 {
            ffi::lua_pushvalue(state, -1);
            ffi::lua_rawseti(state, ANCHORS_INDEX, anchor as ffi::lua_Integer);
        }
    }

    /// Pushes the node at `at` and moves past it.
    unsafe fn node(&mut self, state: *mut ffi::lua_State) -> bool {
        let op = self.tape.ops[self.at];
        self.at += 1;
        match op {
            Op::Null { anchor } => {
                ffi::lua_pushvalue(state, NULL_INDEX);
                self.anchor(state, anchor);
            }
            Op::Bool { value, anchor } => {
                ffi::lua_pushboolean(state, value as c_int);
                self.anchor(state, anchor);
            }
            Op::Int { value, anchor } => {
                luavalue::push_integer(state, value);
                self.anchor(state, anchor);
            }
            Op::Float { value, anchor } => {
                ffi::lua_pushnumber(state, value);
                self.anchor(state, anchor);
            }
            Op::Str { start, len, anchor } => {
                let s = self.tape.str(start, len);
                ffi::lua_pushlstring(state, s.as_ptr() as *const _, s.len());
                self.anchor(state, anchor);
            }
            Op::Alias { anchor } => {
                ffi::lua_rawgeti(state, ANCHORS_INDEX, anchor as ffi::lua_Integer);
            }
            Op::SeqStart { anchor } => return self.sequence(state, anchor),
            Op::MapStart { anchor } => return self.mapping(state, anchor),
            // A merge key outside a mapping's key position is a plain "<<" string.
            Op::MergeKey => {
                ffi::lua_pushstring(state, c"<<".as_ptr());
            }
            Op::End | Op::Document => ffi::lua_pushvalue(state, NULL_INDEX),
        }
        true
    }

    unsafe fn sequence(&mut self, state: *mut ffi::lua_State, anchor: u32) -> bool {
        ffi::luaL_checkstack(state, 8, c"YAML nesting".as_ptr());
        ffi::lua_createtable(state, 0, 0);
        ffi::lua_pushvalue(state, ARRAY_MT_INDEX);
        ffi::lua_setmetatable(state, -2);
        self.anchor(state, anchor);
        let mut n: ffi::lua_Integer = 0;
        while self.tape.ops[self.at] != Op::End {
            if !self.node(state) {
                return false;
            }
            n += 1;
            ffi::lua_rawseti(state, -2, n);
        }
        self.at += 1;
        true
    }

    unsafe fn mapping(&mut self, state: *mut ffi::lua_State, anchor: u32) -> bool {
        ffi::luaL_checkstack(state, 8, c"YAML nesting".as_ptr());
        ffi::lua_createtable(state, 0, 0);
        self.anchor(state, anchor);
        let map = ffi::lua_gettop(state);
        // The merge sources of this mapping, applied at its end so explicit keys win.
        ffi::lua_pushnil(state);
        let merges = map + 1;
        let mut merge_count: ffi::lua_Integer = 0;
        while self.tape.ops[self.at] != Op::End {
            let key_at = self.at;
            if self.tape.ops[key_at] == Op::MergeKey {
                self.at += 1;
                let value_at = self.at;
                if !self.node(state) {
                    return false;
                }
                if ffi::lua_type(state, -1) != ffi::LUA_TTABLE {
                    return self.fail(BuildError::BadMerge, value_at);
                }
                if merge_count == 0 {
                    ffi::lua_createtable(state, 0, 0);
                    ffi::lua_replace(state, merges);
                }
                merge_count += 1;
                ffi::lua_rawseti(state, merges, merge_count);
                continue;
            }
            if !self.node(state) {
                return false;
            }
            if ffi::lua_type(state, -1) == ffi::LUA_TNUMBER && ffi::lua_tonumber(state, -1).is_nan() {
                return self.fail(BuildError::NanKey, key_at);
            }
            ffi::lua_pushvalue(state, -1);
            ffi::lua_rawget(state, map);
            let duplicate = ffi::lua_type(state, -1) != ffi::LUA_TNIL;
            ffi::lua_pop(state, 1);
            if duplicate {
                return self.fail(BuildError::DuplicateKey, key_at);
            }
            if !self.node(state) {
                return false;
            }
            ffi::lua_rawset(state, map);
        }
        self.at += 1;
        for i in 1..=merge_count {
            ffi::lua_rawgeti(state, merges, i);
            let source = ffi::lua_gettop(state);
            if is_sequence(state, source) {
                let len = ffi::lua_rawlen(state, source) as ffi::lua_Integer;
                for j in 1..=len {
                    ffi::lua_rawgeti(state, source, j);
                    if ffi::lua_type(state, -1) != ffi::LUA_TTABLE {
                        return self.fail(BuildError::BadMerge, self.at - 1);
                    }
                    merge_absent(state, map, ffi::lua_gettop(state));
                    ffi::lua_pop(state, 1);
                }
            } else {
                merge_absent(state, map, source);
            }
            ffi::lua_pop(state, 1);
        }
        ffi::lua_settop(state, map);
        true
    }
}

unsafe fn is_sequence(state: *mut ffi::lua_State, idx: c_int) -> bool {
    if ffi::lua_getmetatable(state, idx) == 0 {
        return false;
    }
    let marked = ffi::lua_rawequal(state, -1, ARRAY_MT_INDEX) != 0;
    ffi::lua_pop(state, 1);
    marked
}

/// Copies the pairs of `source` whose keys `target` lacks.
unsafe fn merge_absent(state: *mut ffi::lua_State, target: c_int, source: c_int) {
    ffi::lua_pushnil(state);
    while ffi::lua_next(state, source) != 0 {
        ffi::lua_pushvalue(state, -2);
        ffi::lua_rawget(state, target);
        let present = ffi::lua_type(state, -1) != ffi::LUA_TNIL;
        ffi::lua_pop(state, 1);
        if present {
            ffi::lua_pop(state, 1);
        } else {
            ffi::lua_pushvalue(state, -2);
            ffi::lua_insert(state, -2);
            ffi::lua_rawset(state, target);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

#[derive(Clone, Copy, Debug)]
pub struct EncodeOptions {
    pub all: bool,
    pub sort_keys: bool,
    pub max_depth: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { all: false, sort_keys: true, max_depth: luavalue::DEFAULT_MAX_DEPTH }
    }
}

impl EncodeOptions {
    fn from_lua(opts: Option<&Table>) -> Result<Self> {
        let mut o = EncodeOptions::default();
        if let Some(t) = opts {
            o.all = t.get::<Option<bool>>("all")?.unwrap_or(false);
            o.sort_keys = t.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
            o.max_depth = luavalue::max_depth_option(Some(t))?;
        }
        Ok(o)
    }
}

/// A Lua value as YAML sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

pub fn encode(value: &Value, opts: &EncodeOptions) -> error::Result<String> {
    let mut walk = Walk { opts, open: Vec::new(), path: Vec::new() };
    let node = walk.node(value, 0).map_err(|what| {
        let at = luavalue::format_path(&walk.path);
        Error::invalid(format!("yaml.encode: {what} at {at}")).with("path", at)
    })?;
    let mut out = String::new();
    match (opts.all, node) {
        (true, Node::Seq(docs)) => {
            for doc in &docs {
                out.push_str("---\n");
                emit_document(doc, &mut out);
            }
        }
        (true, Node::Map(ref m)) if m.is_empty() => {}
        (true, _) => {
            return Err(Error::invalid("yaml.encode: with {all = true} the value must be a list of documents"))
        }
        (false, node) => emit_document(&node, &mut out),
    }
    Ok(out)
}

struct Walk<'a> {
    opts: &'a EncodeOptions,
    open: Vec<*const std::ffi::c_void>,
    path: Vec<luavalue::PathStep>,
}

impl Walk<'_> {
    fn node(&mut self, value: &Value, depth: usize) -> std::result::Result<Node, String> {
        Ok(match value {
            Value::Nil => Node::Null,
            Value::Boolean(b) => Node::Bool(*b),
            Value::Integer(n) => Node::Int(*n),
            Value::Number(f) => number_node(*f),
            Value::String(s) => match s.to_str() {
                Ok(s) => Node::Str(s.to_owned()),
                Err(_) => return Err("string is not valid UTF-8".into()),
            },
            Value::LightUserData(p) if p.0.is_null() => Node::Null,
            Value::LightUserData(p) if *p == luavalue::empty_array_mark() => Node::Seq(Vec::new()),
            Value::Table(t) => return self.table(t, depth),
            other => return Err(format!("cannot encode a {} value", other.type_name())),
        })
    }

    fn table(&mut self, t: &Table, depth: usize) -> std::result::Result<Node, String> {
        if depth >= self.opts.max_depth {
            return Err(format!("nesting deeper than {} levels", self.opts.max_depth));
        }
        let ptr = t.to_pointer();
        if self.open.contains(&ptr) {
            return Err("cannot encode a table that contains itself".into());
        }
        let err = |e: mlua::Error| e.to_string();
        let marked = match t.metatable() {
            Some(mt) => match mt.raw_get::<Value>("__jsontype").map_err(err)? {
                Value::String(s) if s == "array" => Some(true),
                Value::String(s) if s == "object" => Some(false),
                _ => None,
            },
            None => None,
        };
        // Keys only: holding every value at once would exhaust LuaJIT's reference stack.
        let shape = match marked {
            Some(true) => luavalue::Shape::Array(t.raw_len() as i64),
            Some(false) => luavalue::Shape::Object,
            None => {
                let (mut count, mut max, mut all_indices) = (0i64, 0i64, true);
                for pair in t.pairs::<Value, Value>() {
                    let (k, _) = pair.map_err(err)?;
                    count += 1;
                    match array_index(&k) {
                        Some(i) => max = max.max(i),
                        None => all_indices = false,
                    }
                }
                luavalue::classify(count, max, all_indices).map_err(|_| luavalue::SPARSE_MESSAGE.to_owned())?
            }
        };
        self.open.push(ptr);
        let result = self.children(t, shape, depth);
        self.open.pop();
        result
    }

    fn children(&mut self, t: &Table, shape: luavalue::Shape, depth: usize) -> std::result::Result<Node, String> {
        match shape {
            luavalue::Shape::Array(n) => {
                let mut items = Vec::with_capacity(n as usize);
                for i in 1..=n {
                    let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                    match self.node(&v, depth + 1) {
                        Ok(node) => items.push(node),
                        Err(e) => {
                            self.path.push(luavalue::PathStep::Index(i));
                            return Err(e);
                        }
                    }
                }
                Ok(Node::Seq(items))
            }
            luavalue::Shape::Object => {
                let mut entries = Vec::new();
                for pair in t.pairs::<Value, Value>() {
                    let (k, v) = pair.map_err(|e| e.to_string())?;
                    let key = match &k {
                        Value::String(_) | Value::Integer(_) | Value::Number(_) | Value::Boolean(_) => {
                            self.node(&k, depth + 1)?
                        }
                        Value::LightUserData(p) if p.0.is_null() => Node::Null,
                        other => {
                            return Err(format!(
                                "mapping keys must be strings, numbers or booleans, found a {} key",
                                other.type_name()
                            ))
                        }
                    };
                    match self.node(&v, depth + 1) {
                        Ok(node) => entries.push((key, node)),
                        Err(e) => {
                            self.path.push(luavalue::PathStep::Key(scalar_text(&key)));
                            return Err(e);
                        }
                    }
                }
                if self.opts.sort_keys {
                    entries.sort_by(|(a, _), (b, _)| key_order(a, b));
                }
                Ok(Node::Map(entries))
            }
        }
    }
}

fn number_node(f: f64) -> Node {
    let integral_style = !cfg!(any(feature = "lua53", feature = "lua54"));
    if integral_style && f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        Node::Int(f as i64)
    } else {
        Node::Float(f)
    }
}

fn array_index(k: &Value) -> Option<i64> {
    match k {
        Value::Integer(n) if *n >= 1 => Some(*n),
        Value::Number(f) if *f >= 1.0 && f.fract() == 0.0 && *f < 9.007_199_254_740_992e15 => Some(*f as i64),
        _ => None,
    }
}

/// Numbers first (by value), then booleans, then strings (by bytes).
fn key_order(a: &Node, b: &Node) -> std::cmp::Ordering {
    fn rank(n: &Node) -> u8 {
        match n {
            Node::Null => 0,
            Node::Int(_) | Node::Float(_) => 1,
            Node::Bool(_) => 2,
            _ => 3,
        }
    }
    let number = |n: &Node| match n {
        Node::Int(i) => *i as f64,
        Node::Float(f) => *f,
        _ => 0.0,
    };
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Node::Str(x), Node::Str(y)) => x.cmp(y),
        (Node::Bool(x), Node::Bool(y)) => x.cmp(y),
        _ => number(a).total_cmp(&number(b)),
    })
}

fn scalar_text(node: &Node) -> String {
    let mut out = String::new();
    write_scalar(node, 0, &mut out);
    out
}

pub fn emit_document(node: &Node, out: &mut String) {
    match node {
        Node::Map(entries) if !entries.is_empty() => block_map(entries, 0, true, out),
        Node::Seq(items) if !items.is_empty() => block_seq(items, 0, true, out),
        scalar => write_scalar(scalar, 0, out),
    }
    out.push('\n');
}

fn newline(indent: usize, out: &mut String) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', indent));
}

fn block_map(entries: &[(Node, Node)], indent: usize, inline_first: bool, out: &mut String) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 || !inline_first {
            newline(indent, out);
        }
        write_scalar(key, indent, out);
        out.push(':');
        match value {
            Node::Map(m) if !m.is_empty() => block_map(m, indent + 2, false, out),
            Node::Seq(s) if !s.is_empty() => block_seq(s, indent + 2, false, out),
            scalar => {
                out.push(' ');
                write_scalar(scalar, indent + 2, out);
            }
        }
    }
}

fn block_seq(items: &[Node], indent: usize, inline_first: bool, out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline_first {
            newline(indent, out);
        }
        out.push_str("- ");
        match item {
            Node::Map(m) if !m.is_empty() => block_map(m, indent + 2, true, out),
            Node::Seq(s) if !s.is_empty() => block_seq(s, indent + 2, true, out),
            scalar => write_scalar(scalar, indent + 2, out),
        }
    }
}

/// Writes a scalar (or an empty collection) so that it reads back as the same value.
/// `indent` is where the lines of a literal block go.
fn write_scalar(node: &Node, indent: usize, out: &mut String) {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(n) => out.push_str(itoa::Buffer::new().format(*n)),
        Node::Float(f) if f.is_nan() => out.push_str(".nan"),
        Node::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { ".inf" } else { "-.inf" }),
        Node::Float(f) => {
            let mut text = json::NumberText::new();
            text.float(*f);
            // Only ASCII digits and signs: valid UTF-8.
            out.push_str(std::str::from_utf8(text.bytes()).unwrap_or("0"));
        }
        Node::Str(s) => write_string(s, indent, out),
        Node::Seq(_) => out.push_str("[]"),
        Node::Map(_) => out.push_str("{}"),
    }
}

fn write_string(s: &str, indent: usize, out: &mut String) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if is_literal_block_safe(s) {
        let trailing = s.len() - s.trim_end_matches('\n').len();
        out.push_str(match trailing {
            0 => "|-",
            1 => "|",
            _ => "|+",
        });
        let body = if trailing == 1 { &s[..s.len() - 1] } else { s };
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.extend(std::iter::repeat_n(' ', indent.max(2)));
                out.push_str(line);
            }
        }
    } else {
        let mut bytes = Vec::with_capacity(s.len() + 2);
        json::write_string(s.as_bytes(), false, &mut bytes).expect("a str is UTF-8");
        // JSON escapes are YAML double-quoted escapes, and write_string keeps UTF-8 intact.
        out.push_str(&String::from_utf8_lossy(&bytes));
    }
}

/// A string that reads back as itself without quotes.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if resolve(s) != Resolved::Str || is_yaml11_special(s) {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_whitespace() || s.ends_with(char::is_whitespace) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.contains(['\t', '\n', '\r']) {
        return false;
    }
    s.chars().all(|c| !c.is_control() && c != '\u{feff}')
}

/// Words that YAML 1.1 parsers (still common) read as booleans or null.
fn is_yaml11_special(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "y" | "n" | "yes" | "no" | "on" | "off")
}

fn is_literal_block_safe(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && s.chars().all(|c| c == '\n' || !c.is_control())
        && s.split('\n').all(|line| !line.ends_with(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(src: &str) -> Vec<Op> {
        parse(src, 100).unwrap().ops
    }

    #[test]
    fn plain_scalars_resolve_by_the_core_schema() {
        assert_eq!(resolve("~"), Resolved::Null);
        assert_eq!(resolve("True"), Resolved::Bool(true));
        assert_eq!(resolve("-12"), Resolved::Int(-12));
        assert_eq!(resolve("0x1F"), Resolved::Int(31));
        assert_eq!(resolve("0o17"), Resolved::Int(15));
        assert_eq!(resolve("1.5e3"), Resolved::Float(1500.0));
        assert_eq!(resolve(".5"), Resolved::Float(0.5));
        assert_eq!(resolve("-.inf"), Resolved::Float(f64::NEG_INFINITY));
        assert_eq!(resolve("1.2.3"), Resolved::Str);
        assert_eq!(resolve("yes"), Resolved::Str);
        assert_eq!(resolve("."), Resolved::Str);
    }

    #[test]
    fn non_specific_tags_make_strings() {
        let tape = parse("- ! 12\n- 12\n", 100).unwrap();
        assert!(matches!(tape.ops[2], Op::Str { .. }));
        assert!(matches!(tape.ops[3], Op::Int { value: 12, .. }));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let tape = parse("'1'", 100).unwrap();
        assert!(matches!(tape.ops[1], Op::Str { .. }));
    }

    #[test]
    fn merge_keys_are_marked_only_in_key_position() {
        let o = ops("a: {<<: {b: 1}}\nc: <<\n");
        assert!(o.contains(&Op::MergeKey));
        assert_eq!(o.iter().filter(|op| **op == Op::MergeKey).count(), 1);
    }

    #[test]
    fn alias_bombs_are_refused_before_building() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&doc, 100).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{}", err.message);
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let err = parse("a: [1, 2\nb: 3", 100).unwrap_err();
        assert!(err.message.starts_with("invalid YAML at line "), "{}", err.message);
    }

    #[test]
    fn emitter_writes_block_style_that_quotes_what_must_be_quoted() {
        let node = Node::Map(vec![
            (Node::Str("name".into()), Node::Str("web".into())),
            (Node::Str("port".into()), Node::Str("22".into())),
            (Node::Str("flag".into()), Node::Str("yes".into())),
            (
                Node::Str("hosts".into()),
                Node::Seq(vec![Node::Map(vec![
                    (Node::Str("a".into()), Node::Int(1)),
                    (Node::Str("b".into()), Node::Null),
                ])]),
            ),
            (Node::Str("empty".into()), Node::Seq(vec![])),
            (Node::Str("text".into()), Node::Str("line 1\nline 2\n".into())),
        ]);
        let mut out = String::new();
        emit_document(&node, &mut out);
        assert_eq!(out, "name: web\nport: \"22\"\nflag: \"yes\"\nhosts:\n  - a: 1\n    b: null\nempty: []\ntext: |\n  line 1\n  line 2\n");
    }
}
