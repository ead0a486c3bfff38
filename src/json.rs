//! json: RFC 8259 encoding and decoding straight between bytes and Lua values.
//!
//! Both directions work on the Lua C API inside one protected call, so a document costs no
//! intermediate tree. Code inside the protected call owns nothing with a destructor:
//! everything it allocates lives in the caller's frame (`Scratch`), so a Lua memory error
//! unwinding through it leaks nothing. A call with the text or value alone comes in through
//! a C entry point of its own (`decode_entry`, `encode_entry`: `lua_pcall` of a body kept as
//! an upvalue); any other call, and any failure, through the full function (`Lua::exec_raw`).
//!
//! Array rule for encoding (documented in README): a table with keys exactly 1..n is an
//! array; a table whose metatable is `json.array_mt` (or has `__jsontype = "array"`) is an
//! array of its `1..#t` items; `json.empty_array` is `[]`; a table with only positive integer
//! keys and holes becomes an array with `null` in the holes unless it is excessively sparse
//! (largest index above 10 and above twice the item count), which is an error; every other
//! table is an object whose number keys become strings. An empty plain table is `{}`.

use std::os::raw::{c_int, c_void};

use mlua::{ffi, LightUserData, Lua, Result, Table, Value};

use crate::error::{self, Error};
use crate::bridge::direct::{self, export_direct, Direct};
use crate::bridge::{Class, ModuleDef, TypeDef};
use crate::{func, typed};

mod number;
mod pow5;
mod scan;

/// Why a document nested within `max_depth` still fails on Lua 5.1 and LuaJIT, whose C
/// functions get at most 8,000 stack slots: about 3,800 levels.
const STACK_EXHAUSTED: &str = "nesting too deep for the Lua stack";

/// Deepest nesting either direction accepts unless told otherwise.
pub const DEFAULT_MAX_DEPTH: usize = 1000;
/// Lua C API and JSON nesting both stay far below this, whatever the caller asks.
const HARD_MAX_DEPTH: usize = 10_000;

/// Stack slots one nesting level may use, and how many levels to make room for at once
/// (PUC Lua keeps the room `lua_checkstack` made for the whole call; LuaJIT grows on push).
const STACK_PER_LEVEL: c_int = 6;
const STACK_LEVELS_AT_ONCE: c_int = 16;

/// Makes room on the Lua stack for the levels from `depth` on, unless `ready` (the depth up to
/// which room was made earlier in this same protected call) already covers it. False when the
/// stack cannot grow that far (Lua 5.1 and LuaJIT allow a C function 8,000 slots).
#[must_use]
unsafe fn reserve_stack(state: *mut ffi::lua_State, depth: usize, ready: &mut usize) -> bool {
    if depth >= *ready {
        if ffi::lua_checkstack(state, STACK_PER_LEVEL * STACK_LEVELS_AT_ONCE) == 0 {
            return false;
        }
        *ready = depth + STACK_LEVELS_AT_ONCE as usize;
    }
    true
}

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "json",
    description: "JSON encoding and decoding (RFC 8259) with a distinct null and array marker",
    classes: &[Class::Deterministic],
    functions: &[
        func!("encode", "Encodes a Lua value as JSON text.", [value: "any", opts: "json.EncodeOptions?"], [text: "string?", err: "essh.Error?"]),
        func!("decode", "Decodes JSON text into a Lua value.", [text: "string", opts: "json.DecodeOptions?"], [value: "any", err: "essh.Error?"]),
    ],
    constants: &[
        typed!(null: "lightuserdata", "The JSON null: distinct from nil, round-trips through decode and encode."),
        typed!(empty_array: "lightuserdata", "Encodes as []."),
        typed!(array_mt: "table", "Metatable marking a table as a JSON array; decoded arrays carry it."),
    ],
    types: &[
        TypeDef::record("json.EncodeOptions", "Options of json.encode.", &[
                typed!(indent: "boolean|integer?", "Pretty-print: true for two spaces, or a width."),
                typed!(sort_keys: "boolean?", "Sort object keys (numbers before strings)."),
                typed!(escape_slash: "boolean?", "Write / as \\/."),
                typed!(max_depth: "integer?", "Deepest nesting allowed (default 1000)."),
            ]),
        TypeDef::record("json.DecodeOptions", "Options of json.decode.", &[
                typed!(all: "boolean?", "Decode a stream of concatenated values into a list."),
                typed!(max_depth: "integer?", "Deepest nesting allowed (default 1000)."),
            ]),
    ],
    build,
};

static EMPTY_ARRAY_MARK: u8 = 0;

/// The null sentinel shared by json and yaml (the same value as lua-cjson's `cjson.null`).
pub fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

pub fn empty_array_mark() -> LightUserData {
    LightUserData(&EMPTY_ARRAY_MARK as *const u8 as *mut c_void)
}

fn empty_array() -> Value {
    Value::LightUserData(empty_array_mark())
}

/// The metatable marking arrays, one per Lua state, shared by json and yaml.
pub fn array_mt(lua: &Lua) -> Result<Table> {
    unsafe { lua.exec_raw((), |state| push_array_mt(state)) }
}

static ARRAY_MT_KEY: u8 = 0;

/// Pushes the array metatable, made on first use and kept in the registry under a
/// light userdata key (no string to intern per call).
///
/// # Safety
/// `state` must be a Lua state inside a protected call, with room for three more slots.
unsafe fn push_array_mt(state: *mut ffi::lua_State) {
    let key = &ARRAY_MT_KEY as *const u8 as *mut c_void;
    ffi::lua_pushlightuserdata(state, key);
    ffi::lua_rawget(state, ffi::LUA_REGISTRYINDEX);
    if ffi::lua_type(state, -1) == ffi::LUA_TTABLE {
        return;
    }
    ffi::lua_pop(state, 1);
    ffi::lua_createtable(state, 0, 1);
    ffi::lua_pushstring(state, c"array".as_ptr());
    ffi::lua_setfield(state, -2, c"__jsontype".as_ptr());
    ffi::lua_pushlightuserdata(state, key);
    ffi::lua_pushvalue(state, -2);
    ffi::lua_rawset(state, ffi::LUA_REGISTRYINDEX);
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    m.raw_set("null", null())?;
    m.raw_set("empty_array", empty_array())?;
    m.raw_set("array_mt", array_mt(lua)?)?;
    export_direct(lua, m, "json.encode", encode_entry, encode_body, |lua, (value, opts): (Value, Option<Table>)| {
        let opts = EncodeOptions::from_lua(opts.as_ref())?;
        let result = encode_with(lua, value, &opts, |text| lua.create_string(text))?;
        error::pair(lua, result)
    })?;
    export_direct(
        lua,
        m,
        "json.decode",
        decode_entry,
        decode_body,
        |lua, (text, opts): (mlua::LuaString, Option<Table>)| {
            let opts = DecodeOptions::from_lua(opts.as_ref())?;
            let result = decode(lua, &text.as_bytes(), &opts)?;
            error::pair(lua, result)
        },
    )?;
    Ok(())
}

/// `json.decode(text)` with a string and no options, answered without the trampoline: a message
/// decoded many times a second costs little more than its parse. Any other call (options, a
/// number to read as text, a syntax error to describe) goes to the full function.
unsafe extern "C-unwind" fn decode_entry(state: *mut ffi::lua_State) -> c_int {
    if ffi::lua_gettop(state) == 1 && ffi::lua_type(state, 1) == ffi::LUA_TSTRING {
        return direct::answer(state, "json.decode", || decode_directly(state));
    }
    direct::call_full(state)
}

unsafe fn decode_directly(state: *mut ffi::lua_State) -> Direct {
    let mut len = 0usize;
    let text = ffi::lua_tolstring(state, 1, &mut len) as *const u8;
    let src = std::slice::from_raw_parts(text, len);
    with_kept(&DECODE_CACHES, DecodeCaches::new, |caches| {
        let mut scratch = Vec::new();
        let mut decoder = Decoder::new(src, DEFAULT_MAX_DEPTH, &mut scratch, caches);
        let job = &mut decoder as *mut Decoder as *mut c_void;
        direct::call_body(state, job, 0, || decoder.error.is_some())
    })
}

unsafe extern "C-unwind" fn decode_body(state: *mut ffi::lua_State) -> c_int {
    let decoder = &mut *(ffi::lua_touserdata(state, 1) as *mut Decoder);
    ffi::lua_settop(state, 0);
    decoder.run(state, false);
    ffi::lua_gettop(state)
}

/// `json.encode(value)` without options, answered without the trampoline (see `decode_entry`).
unsafe extern "C-unwind" fn encode_entry(state: *mut ffi::lua_State) -> c_int {
    if ffi::lua_gettop(state) == 1 {
        return direct::answer(state, "json.encode", || encode_directly(state));
    }
    direct::call_full(state)
}

struct EncodeJob<'s, 'k> {
    encoder: Encoder,
    scratch: &'s mut Scratch<'k>,
}

unsafe fn encode_directly(state: *mut ffi::lua_State) -> Direct {
    with_scratch(|scratch| {
        let encoder = Encoder { opts: EncodeOptions::default(), track_from: TRACK_TABLES_FROM };
        let mut job = EncodeJob { encoder, scratch };
        let job_ptr = &mut job as *mut EncodeJob as *mut c_void;
        direct::call_body(state, job_ptr, 1, || job.scratch.error.is_some())
    })
}

unsafe extern "C-unwind" fn encode_body(state: *mut ffi::lua_State) -> c_int {
    let job = &mut *(ffi::lua_touserdata(state, 1) as *mut EncodeJob);
    ffi::lua_remove(state, 1);
    if !job.encoder.run(state, job.scratch) {
        return 0;
    }
    let out = &job.scratch.out;
    ffi::lua_pushlstring(state, out.as_ptr() as *const std::ffi::c_char, out.len());
    1
}

fn max_depth_option(opts: Option<&Table>) -> Result<usize> {
    let depth: Option<i64> = match opts {
        Some(t) => t.get("max_depth")?,
        None => None,
    };
    match depth {
        None => Ok(DEFAULT_MAX_DEPTH),
        Some(d) if d >= 1 && (d as usize) <= HARD_MAX_DEPTH => Ok(d as usize),
        Some(d) => Err(mlua::Error::runtime(format!("max_depth must be between 1 and {HARD_MAX_DEPTH}, got {d}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeOptions {
    pub all: bool,
    pub max_depth: usize,
}

impl DecodeOptions {
    fn from_lua(opts: Option<&Table>) -> Result<Self> {
        let all = match opts {
            Some(t) => t.get::<Option<bool>>("all")?.unwrap_or(false),
            None => false,
        };
        Ok(DecodeOptions { all, max_depth: max_depth_option(opts)? })
    }
}

/// Why decoding stopped, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    ExpectedValue,
    ExpectedArrayEnd,
    ExpectedObjectEnd,
    ExpectedKey,
    ExpectedColon,
    UnterminatedString,
    ControlCharacter,
    InvalidEscape,
    InvalidUnicodeEscape,
    LoneSurrogate,
    InvalidNumber,
    NumberOutOfRange,
    InvalidLiteral,
    TrailingCharacters,
    TooDeep,
    StackExhausted,
    InvalidUtf8,
    Empty,
}

impl Syntax {
    fn message(self) -> &'static str {
        match self {
            Syntax::ExpectedValue => "expected a value",
            Syntax::ExpectedArrayEnd => "expected ',' or ']' after an array item",
            Syntax::ExpectedObjectEnd => "expected ',' or '}' after an object member",
            Syntax::ExpectedKey => "expected a string key",
            Syntax::ExpectedColon => "expected ':' after an object key",
            Syntax::UnterminatedString => "unterminated string",
            Syntax::ControlCharacter => "unescaped control character in string",
            Syntax::InvalidEscape => "invalid escape sequence",
            Syntax::InvalidUnicodeEscape => "invalid \\u escape",
            Syntax::LoneSurrogate => "unpaired UTF-16 surrogate in \\u escape",
            Syntax::InvalidNumber => "invalid number",
            Syntax::NumberOutOfRange => "number out of range",
            Syntax::InvalidLiteral => "invalid literal",
            Syntax::TrailingCharacters => "unexpected text after the JSON value",
            Syntax::TooDeep => "nesting too deep",
            Syntax::StackExhausted => STACK_EXHAUSTED,
            Syntax::InvalidUtf8 => "invalid UTF-8",
            Syntax::Empty => "empty input",
        }
    }
}

/// A decode error as a structured error: byte offset, line and column (1-based, in characters).
pub fn syntax_error(src: &[u8], code: Syntax, offset: usize, max_depth: usize) -> Error {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let column = before[line_start..].iter().filter(|&&b| (b & 0xC0) != 0x80).count() + 1;
    let what = if code == Syntax::TooDeep {
        format!("nesting deeper than {max_depth} levels")
    } else {
        code.message().to_owned()
    };
    Error::invalid(format!("invalid JSON at line {line}, column {column} (byte {offset}): {what}"))
        .with("offset", offset)
        .with("line", line)
        .with("column", column)
}

pub fn decode(lua: &Lua, src: &[u8], opts: &DecodeOptions) -> Result<error::Result<Value>> {
    with_kept(&DECODE_CACHES, DecodeCaches::new, |caches| decode_with(lua, src, opts, caches))
}

/// Runs `f` with what the last call on this thread kept in `kept` (made by `fresh` the first
/// time), or with a fresh one while that is in use: a finalizer run by the collector in the
/// middle of a decode or encode may decode or encode too.
fn with_kept<T, R>(
    kept: &'static std::thread::LocalKey<std::cell::RefCell<Option<T>>>,
    fresh: fn() -> T,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    kept.with(|cell| match cell.try_borrow_mut() {
        Ok(mut kept) => f(kept.get_or_insert_with(fresh)),
        Err(_) => f(&mut fresh()),
    })
}

/// Moves `generation` on, so that entries marked with an earlier one stop counting; true when
/// the counter wrapped around, and the caller must clear its entries.
fn advance(generation: &mut u16) -> bool {
    *generation = generation.wrapping_add(1);
    if *generation == 0 {
        *generation = 1;
        return true;
    }
    false
}

fn decode_with(lua: &Lua, src: &[u8], opts: &DecodeOptions, caches: &mut DecodeCaches) -> Result<error::Result<Value>> {
    let mut scratch = Vec::new();
    let mut decoder = Decoder::new(src, opts.max_depth, &mut scratch, caches);
    let value: Value = unsafe { lua.exec_raw((), |state| decoder.run(state, opts.all))? };
    Ok(match decoder.error {
        Some((code, at)) => {
            // Strings are checked as they are read; a stray byte elsewhere stops the parse, and
            // is reported as what it is when it is not UTF-8.
            let (code, at) = match std::str::from_utf8(&src[..(at + 4).min(src.len())]) {
                Err(e) if e.valid_up_to() <= at => (Syntax::InvalidUtf8, e.valid_up_to()),
                _ => (code, at),
            };
            Err(syntax_error(src, code, at, opts.max_depth))
        }
        None => Ok(value),
    })
}

/// Where a decoder's protected call keeps what decoded values refer to (`push_decode_base`).
pub const NULL_INDEX: c_int = 1;
pub const ARRAY_MT_INDEX: c_int = 2;

/// Pushes json.null and the array metatable at `NULL_INDEX` and `ARRAY_MT_INDEX` of an empty
/// protected call's stack (json's and yaml's decoders).
///
/// # Safety
/// `state` must be a Lua state inside a protected call, with an empty stack.
pub unsafe fn push_decode_base(state: *mut ffi::lua_State) {
    ffi::lua_pushlightuserdata(state, std::ptr::null_mut());
    push_array_mt(state);
}

/// Pushes a new array of room for `n` items.
unsafe fn new_array(state: *mut ffi::lua_State, n: c_int) {
    ffi::lua_createtable(state, n, 0);
    ffi::lua_pushvalue(state, ARRAY_MT_INDEX);
    ffi::lua_setmetatable(state, -2);
}

/// Moves the `waiting` items on top of the stack into the array at `table`, the last of them
/// being item `last`; the array is first made, with room for `size` items, while `table` still
/// holds its placeholder (`made` false).
unsafe fn set_items(
    state: *mut ffi::lua_State,
    table: c_int,
    made: &mut bool,
    size: c_int,
    last: ffi::lua_Integer,
    waiting: c_int,
) {
    if !*made {
        new_array(state, size);
        ffi::lua_replace(state, table);
        *made = true;
    }
    for i in 0..waiting as ffi::lua_Integer {
        ffi::lua_rawseti(state, table, last - i);
    }
}

/// Items an array keeps on the stack before it makes its table.
const ARRAY_BATCH: c_int = 64;

/// The first of the `key_slots` stack slots that hold the cached keys' strings.
const KEY_CACHE_BASE: c_int = 3;

struct Decoder<'a> {
    src: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
    scratch: &'a mut Vec<u8>,
    error: Option<(Syntax, usize)>,
    caches: &'a mut DecodeCaches,
    /// Marks the entries of `caches` this decode made.
    generation: u16,
    /// The size of the last object seen at each depth, for places seen for the first time
    /// (see `DecodeCaches::place_hints`).
    depth_hints: [u16; HINT_DEPTHS],
    /// The place of the value about to be read, as a hash.
    place: u64,
    /// The depth up to which the Lua stack has room.
    stack_ready: usize,
    /// The stack index up to which the Lua stack has room for an array's waiting items.
    room_top: c_int,
    /// How many of `caches.keys` this document uses: a power of two, fewer for short documents.
    key_slots: usize,
}

/// What the decoder learns about a document as it goes, kept from one decode to the next on
/// each thread so that a decode does not start by clearing them: an entry counts only in the
/// decode whose `generation` it carries.
struct DecodeCaches {
    generation: u16,
    /// The size of the last object seen in each place (a depth and the key that holds it, or
    /// "an item" of an array): such objects tend to match, so they are made that size up
    /// front, instead of growing through rehashes or holding unused slots. (Arrays need no
    /// hint: their items wait on the stack until the size is known.)
    place_hints: [Hint; HINT_PLACES],
    /// The key last read at each (object place, member position), its string kept alive at the
    /// stack slot `KEY_CACHE_BASE` + its index: most objects repeat their siblings' keys,
    /// and a key that matches is pushed from there instead of being scanned and interned.
    keys: [KeyEntry; KEY_SLOTS],
}

impl DecodeCaches {
    fn new() -> Box<Self> {
        Box::new(DecodeCaches {
            generation: 0,
            place_hints: [Hint::default(); HINT_PLACES],
            keys: [KeyEntry::default(); KEY_SLOTS],
        })
    }

    /// Starts a decode: every entry made before becomes stale.
    fn next_generation(&mut self) -> u16 {
        if advance(&mut self.generation) {
            self.place_hints = [Hint::default(); HINT_PLACES];
            self.keys = [KeyEntry::default(); KEY_SLOTS];
        }
        self.generation
    }
}

thread_local! {
    static DECODE_CACHES: std::cell::RefCell<Option<Box<DecodeCaches>>> = const { std::cell::RefCell::new(None) };
}

#[derive(Clone, Copy)]
struct KeyEntry {
    tag: u64,
    /// The interned string's bytes (no escapes in the source).
    bytes: *const u8,
    len: u32,
    generation: u16,
}

impl Default for KeyEntry {
    fn default() -> Self {
        KeyEntry { tag: 0, bytes: std::ptr::null(), len: 0, generation: 0 }
    }
}

/// At most this many keys are cached (a power of two).
const KEY_SLOTS: usize = 256;

#[derive(Clone, Copy, Default)]
struct Hint {
    place: u64,
    size: u16,
    generation: u16,
}

const HINT_PLACES: usize = 256;
const HINT_DEPTHS: usize = 32;

impl<'a> Decoder<'a> {
    fn new(src: &'a [u8], max_depth: usize, scratch: &'a mut Vec<u8>, caches: &'a mut DecodeCaches) -> Self {
        let generation = caches.next_generation();
        let key_slots = (src.len() / 64).next_power_of_two().clamp(4, KEY_SLOTS);
        Decoder {
            src,
            pos: 0,
            depth: 0,
            max_depth,
            scratch,
            error: None,
            caches,
            generation,
            depth_hints: [0; HINT_DEPTHS],
            place: 0,
            stack_ready: 0,
            room_top: 0,
            key_slots,
        }
    }

    /// Decodes the document (a stream of them when `all`) onto the empty stack of a protected
    /// call, leaving the value alone on it, or nothing on failure.
    unsafe fn run(&mut self, state: *mut ffi::lua_State, all: bool) {
        // 1 = null, 2 = array metatable, 3.. = the key cache's strings.
        push_decode_base(state);
        // The key slots, and the usual room above them for the top-level value.
        ffi::luaL_checkstack(state, self.key_slots as c_int + ffi::LUA_MINSTACK, c"JSON key cache".as_ptr());
        ffi::lua_settop(state, KEY_CACHE_BASE - 1 + self.key_slots as c_int);
        let ok = if all { self.stream(state) } else { self.document(state) };
        if ok {
            ffi::lua_replace(state, 1);
            ffi::lua_settop(state, 1);
        } else {
            ffi::lua_settop(state, 0);
        }
    }

    /// The size an object at `place` is made with.
    fn hint(&self, place: u64) -> std::ffi::c_int {
        let hint = self.caches.place_hints[place as usize % HINT_PLACES];
        let size = if hint.place == place && hint.generation == self.generation {
            hint.size
        } else {
            self.depth_hints.get(self.depth).copied().unwrap_or(0)
        };
        size as std::ffi::c_int
    }

    fn set_hint(&mut self, place: u64, n: usize) {
        let size = n.min(u16::MAX as usize) as u16;
        let generation = self.generation;
        self.caches.place_hints[place as usize % HINT_PLACES] = Hint { place, size, generation };
        if let Some(h) = self.depth_hints.get_mut(self.depth) {
            *h = size;
        }
    }

    /// The hint place of a value at this depth under `key`, the address of an interned Lua
    /// string (or null for an array item).
    fn place(&self, key: *const u8) -> u64 {
        ((key as u64) ^ self.depth as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(8)
    }

    fn fail(&mut self, code: Syntax, at: usize) -> bool {
        if self.error.is_none() {
            self.error = Some((code, at));
        }
        false
    }

    #[inline(always)]
    fn skip_whitespace(&mut self) {
        self.pos += scan::whitespace(&self.src[self.pos..]);
    }

    unsafe fn document(&mut self, state: *mut ffi::lua_State) -> bool {
        self.skip_whitespace();
        if self.pos == self.src.len() {
            return self.fail(Syntax::Empty, self.pos);
        }
        if !self.value(state) {
            return false;
        }
        self.skip_whitespace();
        if self.pos != self.src.len() {
            return self.fail(Syntax::TrailingCharacters, self.pos);
        }
        true
    }

    /// Concatenated or newline-separated values, decoded into a list.
    unsafe fn stream(&mut self, state: *mut ffi::lua_State) -> bool {
        ffi::lua_createtable(state, 0, 0);
        let mut n = 0;
        loop {
            self.skip_whitespace();
            if self.pos == self.src.len() {
                return true;
            }
            if !self.value(state) {
                return false;
            }
            n += 1;
            ffi::lua_rawseti(state, -2, n);
        }
    }

    /// Pushes the value at `pos`, or records an error and pushes nothing.
    unsafe fn value(&mut self, state: *mut ffi::lua_State) -> bool {
        self.skip_whitespace();
        let Some(&b) = self.src.get(self.pos) else {
            return self.fail(Syntax::ExpectedValue, self.pos);
        };
        match b {
            b'{' => self.object(state),
            b'[' => self.array(state),
            b'"' => self.string(state),
            b't' => self.literal(state, b"true", |s| ffi::lua_pushboolean(s, 1)),
            b'f' => self.literal(state, b"false", |s| ffi::lua_pushboolean(s, 0)),
            b'n' => self.literal(state, b"null", |s| ffi::lua_pushvalue(s, NULL_INDEX)),
            b'-' | b'0'..=b'9' => self.number(state),
            _ => self.fail(Syntax::ExpectedValue, self.pos),
        }
    }

    unsafe fn literal(
        &mut self,
        state: *mut ffi::lua_State,
        word: &[u8],
        push: unsafe fn(*mut ffi::lua_State),
    ) -> bool {
        if self.src[self.pos..].starts_with(word) {
            self.pos += word.len();
            push(state);
            true
        } else {
            self.fail(Syntax::InvalidLiteral, self.pos)
        }
    }

    unsafe fn enter(&mut self, state: *mut ffi::lua_State) -> bool {
        self.depth += 1;
        if self.depth > self.max_depth {
            return self.fail(Syntax::TooDeep, self.pos);
        }
        if !reserve_stack(state, self.depth, &mut self.stack_ready) {
            return self.fail(Syntax::StackExhausted, self.pos);
        }
        true
    }

    unsafe fn array(&mut self, state: *mut ffi::lua_State) -> bool {
        if !self.enter(state) {
            return false;
        }
        self.pos += 1;
        self.skip_whitespace();
        if self.src.get(self.pos) == Some(&b']') {
            self.pos += 1;
            new_array(state, 0);
            self.depth -= 1;
            return true;
        }
        // The items wait on the stack above a placeholder for the table, which is made when
        // the array ends, its size known, or when `ARRAY_BATCH` items are waiting.
        ffi::lua_pushnil(state);
        let table = ffi::lua_gettop(state);
        let mut made = false;
        let mut waiting: c_int = 0;
        let mut room: c_int = 0;
        let mut n: ffi::lua_Integer = 0;
        let item_place = self.place(std::ptr::null());
        loop {
            if waiting == room {
                if waiting > 0 {
                    set_items(state, table, &mut made, 2 * ARRAY_BATCH, n, waiting);
                    waiting = 0;
                }
                if !self.reserve_batch(state) {
                    return false;
                }
                room = ARRAY_BATCH;
            }
            self.place = item_place;
            if !self.value(state) {
                return false;
            }
            n += 1;
            waiting += 1;
            self.skip_whitespace();
            match self.src.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    set_items(state, table, &mut made, n as c_int, n, waiting);
                    self.depth -= 1;
                    return true;
                }
                _ => return self.fail(Syntax::ExpectedArrayEnd, self.pos),
            }
        }
    }

    /// Makes room for `ARRAY_BATCH` items on top of the stack, and nested levels above them.
    #[inline(always)]
    unsafe fn reserve_batch(&mut self, state: *mut ffi::lua_State) -> bool {
        const ROOM: c_int = ARRAY_BATCH + STACK_PER_LEVEL * STACK_LEVELS_AT_ONCE;
        let top = ffi::lua_gettop(state);
        if top + ROOM > self.room_top {
            if ffi::lua_checkstack(state, ROOM) == 0 {
                return self.fail(Syntax::StackExhausted, self.pos);
            }
            self.room_top = top + ROOM;
        }
        self.stack_ready = self.depth + STACK_LEVELS_AT_ONCE as usize;
        true
    }

    unsafe fn object(&mut self, state: *mut ffi::lua_State) -> bool {
        if !self.enter(state) {
            return false;
        }
        self.pos += 1;
        self.skip_whitespace();
        let empty = self.src.get(self.pos) == Some(&b'}');
        let place = self.place;
        ffi::lua_createtable(state, 0, if empty { 0 } else { self.hint(place) });
        let mut keys = 0usize;
        if empty {
            self.pos += 1;
            self.depth -= 1;
            return true;
        }
        loop {
            self.skip_whitespace();
            if self.src.get(self.pos) != Some(&b'"') {
                ffi::lua_pop(state, 1);
                return self.fail(Syntax::ExpectedKey, self.pos);
            }
            let key = match self.key(state, place, keys) {
                Some(key) => key,
                None => {
                    ffi::lua_pop(state, 1);
                    return false;
                }
            };
            self.place = self.place(key);
            self.skip_whitespace();
            if self.src.get(self.pos) != Some(&b':') {
                ffi::lua_pop(state, 2);
                return self.fail(Syntax::ExpectedColon, self.pos);
            }
            self.pos += 1;
            if !self.value(state) {
                ffi::lua_pop(state, 2);
                return false;
            }
            ffi::lua_rawset(state, -3);
            keys += 1;
            self.skip_whitespace();
            match self.src.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.set_hint(place, keys);
                    self.depth -= 1;
                    return true;
                }
                _ => {
                    ffi::lua_pop(state, 1);
                    return self.fail(Syntax::ExpectedObjectEnd, self.pos);
                }
            }
        }
    }

    /// Pushes the key at `pos`, member `index` of an object at `place`; returns the address
    /// of its interned bytes.
    unsafe fn key(&mut self, state: *mut ffi::lua_State, place: u64, index: usize) -> Option<*const u8> {
        let tag = (place ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)).rotate_left(29);
        let slot = tag as usize & (self.key_slots - 1);
        let entry = self.caches.keys[slot];
        let start = self.pos + 1;
        if entry.tag == tag && entry.generation == self.generation {
            let len = entry.len as usize;
            if let Some(raw) = self.src.get(start..=start + len) {
                let cached = std::slice::from_raw_parts(entry.bytes, len);
                if raw[len] == b'"' && equal_short(&raw[..len], cached) {
                    ffi::lua_pushvalue(state, KEY_CACHE_BASE + slot as c_int);
                    self.pos = start + len + 1;
                    return Some(entry.bytes);
                }
            }
        }
        if !self.string(state) {
            return None;
        }
        let mut len = 0usize;
        let bytes = ffi::lua_tolstring(state, -1, &mut len) as *const u8;
        // Escapes always shorten a string: the same length means the source held these bytes.
        if len == self.pos - start - 1 && len <= u32::MAX as usize {
            ffi::lua_pushvalue(state, -1);
            ffi::lua_replace(state, KEY_CACHE_BASE + slot as c_int);
            self.caches.keys[slot] = KeyEntry { tag, bytes, len: len as u32, generation: self.generation };
        }
        Some(bytes)
    }

    unsafe fn string(&mut self, state: *mut ffi::lua_State) -> bool {
        let start = self.pos + 1;
        let src = self.src;
        let (run, mut high) = scan::string_body(&src[start..]);
        let mut i = start + run;
        // Fast path: no escapes, pushed straight from the input.
        if src.get(i) == Some(&b'"') {
            if high && !self.utf8(start, i) {
                return false;
            }
            ffi::lua_pushlstring(state, src.as_ptr().add(start) as *const _, i - start);
            self.pos = i + 1;
            return true;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&src[start..i]);
        loop {
            match src.get(i) {
                None => return self.fail(Syntax::UnterminatedString, self.pos),
                Some(b'"') => {
                    if high && !self.utf8(start, i) {
                        return false;
                    }
                    ffi::lua_pushlstring(state, self.scratch.as_ptr() as *const _, self.scratch.len());
                    self.pos = i + 1;
                    return true;
                }
                Some(b'\\') => {
                    let escape_at = i;
                    let byte = match src.get(i + 1) {
                        Some(b'"') => Some(b'"'),
                        Some(b'\\') => Some(b'\\'),
                        Some(b'/') => Some(b'/'),
                        Some(b'b') => Some(0x08),
                        Some(b'f') => Some(0x0c),
                        Some(b'n') => Some(b'\n'),
                        Some(b'r') => Some(b'\r'),
                        Some(b't') => Some(b'\t'),
                        Some(b'u') => match self.unicode_escape(i) {
                            Ok(next) => {
                                i = next;
                                None
                            }
                            Err(code) => return self.fail(code, escape_at),
                        },
                        _ => return self.fail(Syntax::InvalidEscape, escape_at),
                    };
                    if let Some(byte) = byte {
                        self.scratch.push(byte);
                        i += 2;
                    }
                }
                Some(_) => return self.fail(Syntax::ControlCharacter, i),
            }
            let (run, more_high) = scan::string_body(&src[i..]);
            self.scratch.extend_from_slice(&src[i..i + run]);
            high |= more_high;
            i += run;
        }
    }

    /// Checks that the raw string body `start..end` is UTF-8 (escapes are ASCII, so the raw
    /// text is UTF-8 exactly when the decoded one is).
    fn utf8(&mut self, start: usize, end: usize) -> bool {
        let text = &self.src[start..end];
        if simdutf8::basic::from_utf8(text).is_ok() {
            return true;
        }
        let valid = std::str::from_utf8(text).map_or_else(|e| e.valid_up_to(), |_| text.len());
        self.fail(Syntax::InvalidUtf8, start + valid)
    }

    /// Decodes `\uXXXX` (and a following low surrogate) at `at` into scratch; returns the
    /// position after it.
    fn unicode_escape(&mut self, at: usize) -> std::result::Result<usize, Syntax> {
        let first = hex4(self.src, at + 2).ok_or(Syntax::InvalidUnicodeEscape)?;
        let mut next = at + 6;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.src.get(next) != Some(&b'\\') || self.src.get(next + 1) != Some(&b'u') {
                    return Err(Syntax::LoneSurrogate);
                }
                let second = hex4(self.src, next + 2).ok_or(Syntax::InvalidUnicodeEscape)?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(Syntax::LoneSurrogate);
                }
                next += 6;
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(Syntax::LoneSurrogate),
            c => c,
        };
        let ch = char::from_u32(code).ok_or(Syntax::InvalidUnicodeEscape)?;
        let mut buf = [0u8; 4];
        self.scratch.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Ok(next)
    }

    unsafe fn number(&mut self, state: *mut ffi::lua_State) -> bool {
        let src = self.src;
        let start = self.pos;
        let negative = src[start] == b'-';
        let int_start = start + negative as usize;
        // The digits are valued as they are scanned; the value is used when they fit a u64.
        let mut mantissa: u64 = 0;
        let mut i = number::digits(src, int_start, &mut mantissa);
        let int_digits = i - int_start;
        if int_digits == 0 || (int_digits > 1 && src[int_start] == b'0') {
            return self.fail(Syntax::InvalidNumber, start);
        }
        if !matches!(src.get(i), Some(b'.' | b'e' | b'E')) {
            self.pos = i;
            if int_digits <= 18 {
                push_integer(state, if negative { -(mantissa as i64) } else { mantissa as i64 });
                return true;
            }
            return self.parsed_number(state, start, false);
        }
        let mut digits = int_digits;
        let mut exponent: i64 = 0;
        if src[i] == b'.' {
            let frac_start = i + 1;
            i = number::digits(src, frac_start, &mut mantissa);
            if i == frac_start {
                return self.fail(Syntax::InvalidNumber, start);
            }
            digits += i - frac_start;
            exponent = -((i - frac_start) as i64);
        }
        if matches!(src.get(i), Some(b'e' | b'E')) {
            i += 1;
            let exponent_negative = src.get(i) == Some(&b'-');
            if matches!(src.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !matches!(src.get(i), Some(b'0'..=b'9')) {
                return self.fail(Syntax::InvalidNumber, start);
            }
            let mut written: i64 = 0;
            while let Some(&b @ b'0'..=b'9') = src.get(i) {
                // Past any binary64's range already; the digits still have to be consumed.
                if written < 1 << 20 {
                    written = written * 10 + (b - b'0') as i64;
                }
                i += 1;
            }
            exponent += if exponent_negative { -written } else { written };
        }
        self.pos = i;
        if digits > number::MAX_DIGITS {
            // Leading zeros ("0.000…") add nothing to the mantissa.
            let zeros = src[int_start..i].iter().take_while(|&&b| b == b'0' || b == b'.').filter(|&&b| b == b'0');
            if digits - zeros.count() > number::MAX_DIGITS {
                return self.parsed_number(state, start, true);
            }
        }
        match number::decimal_to_f64(mantissa, exponent, negative) {
            Some(f) if f.is_finite() => {
                ffi::lua_pushnumber(state, f);
                true
            }
            Some(_) => self.fail(Syntax::NumberOutOfRange, start),
            None => self.parsed_number(state, start, true),
        }
    }

    /// Pushes the number `start..pos`, already checked against the grammar, through the
    /// standard library's exact parsers.
    unsafe fn parsed_number(&mut self, state: *mut ffi::lua_State, start: usize, is_float: bool) -> bool {
        // Only ASCII digits, signs, '.', 'e' reach here.
        let text = std::str::from_utf8_unchecked(&self.src[start..self.pos]);
        if !is_float {
            if let Ok(n) = text.parse::<i64>() {
                push_integer(state, n);
                return true;
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => {
                ffi::lua_pushnumber(state, f);
                true
            }
            _ => self.fail(Syntax::NumberOutOfRange, start),
        }
    }
}

fn hex4(src: &[u8], at: usize) -> Option<u32> {
    let digits = src.get(at..at + 4)?;
    let mut n = 0u32;
    for &d in digits {
        n = n * 16 + (d as char).to_digit(16)?;
    }
    Some(n)
}

/// Pushes an integer: the integer subtype on Lua 5.3+, a float elsewhere.
///
/// # Safety
/// `state` must be a valid Lua state with room for one more stack slot.
#[cfg(any(feature = "lua53", feature = "lua54"))]
pub unsafe fn push_integer(state: *mut ffi::lua_State, n: i64) {
    ffi::lua_pushinteger(state, n);
}

/// # Safety
/// As above.
#[cfg(not(any(feature = "lua53", feature = "lua54")))]
pub unsafe fn push_integer(state: *mut ffi::lua_State, n: i64) {
    ffi::lua_pushnumber(state, n as f64);
}

// ---------------------------------------------------------------------------------------------
// Encoding

#[derive(Clone, Copy, Debug)]
pub struct EncodeOptions {
    pub indent: usize,
    pub sort_keys: bool,
    pub escape_slash: bool,
    pub max_depth: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { indent: 0, sort_keys: false, escape_slash: false, max_depth: DEFAULT_MAX_DEPTH }
    }
}

impl EncodeOptions {
    pub fn from_lua(opts: Option<&Table>) -> Result<Self> {
        let Some(t) = opts else { return Ok(EncodeOptions::default()) };
        let indent = match t.get::<Value>("indent")? {
            Value::Nil | Value::Boolean(false) => 0,
            Value::Boolean(true) => 2,
            Value::Integer(n) if (0..=16).contains(&n) => n as usize,
            Value::Number(n) if n.fract() == 0.0 && (0.0..=16.0).contains(&n) => n as usize,
            other => {
                return Err(mlua::Error::runtime(format!(
                    "indent must be a boolean or a width from 0 to 16, got {}",
                    other.to_string().unwrap_or_else(|_| other.type_name().into())
                )))
            }
        };
        Ok(EncodeOptions {
            indent,
            sort_keys: t.get::<Option<bool>>("sort_keys")?.unwrap_or(false),
            escape_slash: t.get::<Option<bool>>("escape_slash")?.unwrap_or(false),
            max_depth: max_depth_option(opts)?,
        })
    }
}

/// Why a value cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unencodable {
    Type(c_int),
    NonFinite,
    Cycle,
    TooDeep,
    StackExhausted,
    KeyType(c_int),
    Sparse,
    InvalidUtf8,
    UserData,
}

/// A step of the path to the value that could not be encoded, for the error message.
pub enum PathStep {
    Index(i64),
    Key(String),
}

/// Allocations the protected encoder uses, owned outside it.
struct Scratch<'k> {
    out: Vec<u8>,
    /// Tables being encoded, to detect cycles.
    open: Vec<*const c_void>,
    /// Keys of the objects being encoded with `sort_keys`, as (pointer, length) into Lua strings
    /// that the tables keep alive; each level sorts its own slice.
    keys: Vec<SortKey>,
    path: Vec<PathStep>,
    error: Option<Unencodable>,
    /// The depth up to which the Lua stack has room.
    stack_ready: usize,
    key_texts: &'k mut KeyTexts,
}

impl<'k> Scratch<'k> {
    fn new(out: Vec<u8>, key_texts: &'k mut KeyTexts) -> Self {
        Scratch { out, open: Vec::new(), keys: Vec::new(), path: Vec::new(), error: None, stack_ready: 0, key_texts }
    }

    /// Readies the scratch for a pass: empty output, nothing open, no error.
    fn reset(&mut self) {
        self.out.clear();
        self.open.clear();
        self.keys.clear();
        self.path.clear();
        self.error = None;
        self.stack_ready = 0;
    }
}

/// Runs `f` with a scratch made of this thread's kept output buffer and key texts (the key
/// texts of earlier encodes forgotten), and keeps the output buffer for the next encode.
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    with_kept(&ENCODE_BUFFERS, EncodeBuffers::new, |buffers| {
        buffers.key_texts.forget();
        let mut scratch = Scratch::new(std::mem::take(&mut buffers.out), &mut buffers.key_texts);
        scratch.reset();
        let result = f(&mut scratch);
        keep_output(&mut buffers.out, std::mem::take(&mut scratch.out));
        result
    })
}

/// String keys already written in this encode, by the address of their bytes (the tables being
/// encoded keep them alive and unchanged): objects repeat their keys, so each key is escaped
/// and checked once, then copied. Kept from one encode to the next on each thread; a slot
/// counts only in the encode whose `generation` it carries.
struct KeyTexts {
    generation: u16,
    slots: [KeyText; KEY_TEXT_SLOTS],
    text: Vec<u8>,
}

#[derive(Clone, Copy)]
struct KeyText {
    address: usize,
    start: u32,
    len: u16,
    generation: u16,
}

const KEY_TEXT_SLOTS: usize = 128;
const KEY_TEXT_MAX: usize = 64 << 10;

impl KeyTexts {
    const fn new() -> Self {
        KeyTexts {
            generation: 0,
            slots: [KeyText { address: 0, start: 0, len: 0, generation: 0 }; KEY_TEXT_SLOTS],
            text: Vec::new(),
        }
    }

    /// Forgets every key written before.
    fn forget(&mut self) {
        self.text.clear();
        if advance(&mut self.generation) {
            self.slots = Self::new().slots;
        }
    }

    fn slot(key: *const u8) -> usize {
        ((key as usize >> 3).wrapping_mul(0x9E37_79B9) >> 7) & (KEY_TEXT_SLOTS - 1)
    }

    fn get(&self, key: *const u8) -> Option<&[u8]> {
        let slot = self.slots[Self::slot(key)];
        (slot.address == key as usize && slot.generation == self.generation)
            .then(|| &self.text[slot.start as usize..slot.start as usize + slot.len as usize])
    }

    fn put(&mut self, key: *const u8, written: &[u8]) {
        let Ok(len) = u16::try_from(written.len()) else {
            return;
        };
        if self.text.len() + written.len() > KEY_TEXT_MAX {
            self.forget();
        }
        let start = self.text.len() as u32;
        self.text.extend_from_slice(written);
        let generation = self.generation;
        self.slots[Self::slot(key)] = KeyText { address: key as usize, start, len, generation };
    }
}

/// What an encode keeps for the next one on the same thread.
struct EncodeBuffers {
    /// The output buffer, so that the next encode does not grow its own from nothing.
    out: Vec<u8>,
    key_texts: KeyTexts,
}

impl EncodeBuffers {
    fn new() -> Self {
        EncodeBuffers { out: Vec::new(), key_texts: KeyTexts::new() }
    }
}

/// Keeps `out` in `kept` for the next encode, unless it grew too large to keep.
fn keep_output(kept: &mut Vec<u8>, out: Vec<u8>) {
    if out.capacity() <= KEPT_OUTPUT {
        *kept = out;
    }
}

thread_local! {
    static ENCODE_BUFFERS: std::cell::RefCell<Option<EncodeBuffers>> = const { std::cell::RefCell::new(None) };
}

#[derive(Clone, Copy)]
struct SortKey {
    number: Option<f64>,
    text: *const u8,
    len: usize,
}

impl SortKey {
    fn bytes(&self) -> &[u8] {
        unsafe { std::slice::from_raw_parts(self.text, self.len) }
    }
}

pub fn encode(lua: &Lua, value: Value, opts: &EncodeOptions) -> Result<error::Result<String>> {
    // The encoder writes only valid UTF-8: checked strings, ASCII punctuation and numbers.
    encode_with(lua, value, opts, |text| Ok(unsafe { String::from_utf8_unchecked(text.to_vec()) }))
}

/// The largest output buffer kept between calls.
const KEPT_OUTPUT: usize = 8 << 20;

/// One encode of `value` into `scratch` (reset first), in a protected call of its own.
fn encode_pass(lua: &Lua, value: &Value, opts: &EncodeOptions, track_from: usize, scratch: &mut Scratch) -> Result<()> {
    scratch.reset();
    let encoder = Encoder { opts: *opts, track_from };
    unsafe {
        lua.exec_raw::<()>(value, |state| {
            encoder.run(state, scratch);
            ffi::lua_settop(state, 0);
        })
    }
}

/// Encodes `value` and hands its text to `finish`.
pub fn encode_with<R>(
    lua: &Lua,
    value: Value,
    opts: &EncodeOptions,
    finish: impl FnOnce(&[u8]) -> Result<R>,
) -> Result<error::Result<R>> {
    with_scratch(|scratch| {
        let track_from = TRACK_TABLES_FROM.min(opts.max_depth / 2);
        encode_pass(lua, &value, opts, track_from, scratch)?;
        if track_from > 0
            && matches!(scratch.error, Some(Unencodable::Cycle | Unencodable::TooDeep | Unencodable::StackExhausted))
        {
            encode_pass(lua, &value, opts, 0, scratch)?;
        }
        match scratch.error {
            Some(problem) => Ok(Err(describe_unencodable(problem, &scratch.path, opts))),
            None => finish(&scratch.out).map(Ok),
        }
    })
}

fn type_name(t: c_int) -> &'static str {
    match t {
        ffi::LUA_TFUNCTION => "function",
        ffi::LUA_TTHREAD => "thread",
        ffi::LUA_TUSERDATA => "userdata",
        ffi::LUA_TLIGHTUSERDATA => "light userdata",
        ffi::LUA_TBOOLEAN => "boolean",
        ffi::LUA_TTABLE => "table",
        _ => "value",
    }
}

/// `$.users[3].name` for the steps recorded innermost first.
pub fn format_path(path: &[PathStep]) -> String {
    let mut at = String::from("$");
    for step in path.iter().rev() {
        match step {
            PathStep::Index(i) => at.push_str(&format!("[{i}]")),
            PathStep::Key(k) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                at.push('.');
                at.push_str(k);
            }
            PathStep::Key(k) => at.push_str(&format!("[{k:?}]")),
        }
    }
    at
}

pub const SPARSE_MESSAGE: &str =
    "excessively sparse array (largest index above 10 and above twice the item count); use string keys";

fn describe_unencodable(problem: Unencodable, path: &[PathStep], opts: &EncodeOptions) -> Error {
    let at = format_path(path);
    let what = match problem {
        Unencodable::Type(t) => format!("cannot encode a {} value", type_name(t)),
        Unencodable::UserData => "cannot encode a userdata value".to_owned(),
        Unencodable::NonFinite => "cannot encode NaN or infinity".to_owned(),
        Unencodable::Cycle => "cannot encode a table that contains itself".to_owned(),
        Unencodable::TooDeep => format!("nesting deeper than {} levels", opts.max_depth),
        Unencodable::StackExhausted => STACK_EXHAUSTED.to_owned(),
        Unencodable::KeyType(t) => format!("object keys must be strings or numbers, found a {} key", type_name(t)),
        Unencodable::Sparse => SPARSE_MESSAGE.to_owned(),
        Unencodable::InvalidUtf8 => "string is not valid UTF-8".to_owned(),
    };
    Error::invalid(format!("json.encode: {what} at {at}")).with("path", at)
}

struct Encoder {
    opts: EncodeOptions,
    /// Tables are remembered, to detect cycles, from this depth on. A cycle nests without end,
    /// so it is caught this many levels late; the failed encode is then redone from 0 to name
    /// the path where the cycle closes.
    track_from: usize,
}

/// The depth from which a first encode remembers tables.
const TRACK_TABLES_FROM: usize = 16;

/// What kind of container a table becomes.
pub enum Shape {
    Object,
    /// An array of `1..=n`, with `null` where items are missing.
    Array(i64),
}

impl Encoder {
    /// Encodes the value at index 1 of a protected call's stack, which holds nothing else.
    unsafe fn run(&self, state: *mut ffi::lua_State, s: &mut Scratch) -> bool {
        // 2 = the array metatable.
        push_array_mt(state);
        self.value(state, 1, 0, s)
    }

    unsafe fn value(&self, state: *mut ffi::lua_State, idx: c_int, depth: usize, s: &mut Scratch) -> bool {
        match ffi::lua_type(state, idx) {
            ffi::LUA_TNIL => s.out.extend_from_slice(b"null"),
            ffi::LUA_TBOOLEAN => {
                s.out.extend_from_slice(if ffi::lua_toboolean(state, idx) != 0 { b"true" } else { b"false" })
            }
            ffi::LUA_TNUMBER => return self.number(state, idx, s),
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let ptr = ffi::lua_tolstring(state, idx, &mut len);
                let bytes = std::slice::from_raw_parts(ptr as *const u8, len);
                return self.string(bytes, s);
            }
            ffi::LUA_TLIGHTUSERDATA => {
                let p = ffi::lua_touserdata(state, idx);
                if p.is_null() {
                    s.out.extend_from_slice(b"null");
                } else if std::ptr::eq(p as *const u8, &EMPTY_ARRAY_MARK) {
                    s.out.extend_from_slice(b"[]");
                } else {
                    s.error = Some(Unencodable::UserData);
                    return false;
                }
            }
            ffi::LUA_TTABLE => return self.table(state, idx, depth, s),
            other => {
                s.error = Some(Unencodable::Type(other));
                return false;
            }
        }
        true
    }

    unsafe fn number(&self, state: *mut ffi::lua_State, idx: c_int, s: &mut Scratch) -> bool {
        s.out.reserve(NUMBER_MAX);
        let len = s.out.len();
        match write_lua_number(state, idx, s.out.as_mut_ptr().add(len)) {
            Some(n) => {
                s.out.set_len(len + n);
                true
            }
            None => {
                s.error = Some(Unencodable::NonFinite);
                false
            }
        }
    }

    fn string(&self, bytes: &[u8], s: &mut Scratch) -> bool {
        if write_string(bytes, self.opts.escape_slash, &mut s.out).is_err() {
            s.error = Some(Unencodable::InvalidUtf8);
            return false;
        }
        true
    }

    unsafe fn newline(&self, depth: usize, s: &mut Scratch) {
        if self.opts.indent > 0 {
            s.out.push(b'\n');
            s.out.resize(s.out.len() + depth * self.opts.indent, b' ');
        }
    }

    unsafe fn table(&self, state: *mut ffi::lua_State, idx: c_int, depth: usize, s: &mut Scratch) -> bool {
        if depth >= self.opts.max_depth {
            s.error = Some(Unencodable::TooDeep);
            return false;
        }
        if !reserve_stack(state, depth, &mut s.stack_ready) {
            s.error = Some(Unencodable::StackExhausted);
            return false;
        }
        if depth < self.track_from {
            return self.shaped_table(state, idx, depth, s);
        }
        let ptr = ffi::lua_topointer(state, idx);
        if s.open.contains(&ptr) {
            s.error = Some(Unencodable::Cycle);
            return false;
        }
        s.open.push(ptr);
        let ok = self.shaped_table(state, idx, depth, s);
        s.open.pop();
        ok
    }

    /// Encodes the table at `idx` as the array or object it is (see the module documentation
    /// for the rule).
    unsafe fn shaped_table(&self, state: *mut ffi::lua_State, idx: c_int, depth: usize, s: &mut Scratch) -> bool {
        let shape = if ffi::lua_getmetatable(state, idx) != 0 {
            self.marked_shape(state, idx)
        } else {
            // A plain table whose first key is a string is an object: encode it from there.
            ffi::lua_pushnil(state);
            if ffi::lua_next(state, idx) == 0 {
                s.out.extend_from_slice(b"{}");
                return true;
            }
            if !self.opts.sort_keys && ffi::lua_type(state, -2) == ffi::LUA_TSTRING {
                return self.object(state, idx, depth, s, true);
            }
            ffi::lua_pop(state, 2);
            None
        };
        let shape = match shape.map_or_else(|| self.counted_shape(state, idx), Ok) {
            Ok(shape) => shape,
            Err(problem) => {
                s.error = Some(problem);
                return false;
            }
        };
        match shape {
            Shape::Array(n) => self.array(state, idx, n, depth, s),
            Shape::Object if self.opts.sort_keys => self.sorted_object(state, idx, depth, s),
            Shape::Object => self.object(state, idx, depth, s, false),
        }
    }

    /// The shape a metatable (just pushed, popped here) gives: `array_mt` or `__jsontype`.
    unsafe fn marked_shape(&self, state: *mut ffi::lua_State, idx: c_int) -> Option<Shape> {
        let marked = ffi::lua_rawequal(state, -1, ARRAY_MT_INDEX) != 0 || {
            ffi::lua_pushstring(state, c"__jsontype".as_ptr());
            ffi::lua_rawget(state, -2);
            let mut len = 0usize;
            let p = ffi::lua_tolstring(state, -1, &mut len);
            let kind = if p.is_null() { &[][..] } else { std::slice::from_raw_parts(p as *const u8, len) };
            let array = kind == b"array";
            let object = kind == b"object";
            ffi::lua_pop(state, 1);
            if object {
                ffi::lua_pop(state, 1);
                return Some(Shape::Object);
            }
            array
        };
        ffi::lua_pop(state, 1);
        marked.then(|| Shape::Array(ffi::lua_rawlen(state, idx) as i64))
    }

    /// The shape of an unmarked table, from its keys.
    unsafe fn counted_shape(&self, state: *mut ffi::lua_State, idx: c_int) -> std::result::Result<Shape, Unencodable> {
        let mut count: i64 = 0;
        let mut max: i64 = 0;
        let mut all_indices = true;
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, idx) != 0 {
            ffi::lua_pop(state, 1);
            count += 1;
            match array_index(state, -1) {
                Some(i) => max = max.max(i),
                None => {
                    ffi::lua_pop(state, 1);
                    all_indices = false;
                    break;
                }
            }
        }
        classify(count, max, all_indices).map_err(|TooSparse| Unencodable::Sparse)
    }

    unsafe fn array(&self, state: *mut ffi::lua_State, idx: c_int, n: i64, depth: usize, s: &mut Scratch) -> bool {
        s.out.push(b'[');
        let item = ffi::lua_gettop(state) + 1;
        for i in 1..=n {
            if i > 1 {
                s.out.push(b',');
            }
            self.newline(depth + 1, s);
            ffi::lua_rawgeti(state, idx, i as ffi::lua_Integer);
            if !self.value(state, item, depth + 1, s) {
                s.path.push(PathStep::Index(i));
                return false;
            }
            ffi::lua_pop(state, 1);
        }
        if n > 0 {
            self.newline(depth, s);
        }
        s.out.push(b']');
        true
    }

    unsafe fn member(
        &self,
        state: *mut ffi::lua_State,
        key: SortKey,
        value_idx: c_int,
        first: bool,
        depth: usize,
        s: &mut Scratch,
    ) -> bool {
        if !first {
            s.out.push(b',');
        }
        self.newline(depth + 1, s);
        if !self.key_text(&key, s) {
            s.path.push(PathStep::Key(String::from_utf8_lossy(key.bytes()).into_owned()));
            return false;
        }
        s.out.push(b':');
        if self.opts.indent > 0 {
            s.out.push(b' ');
        }
        if !self.value(state, value_idx, depth + 1, s) {
            s.path.push(PathStep::Key(String::from_utf8_lossy(key.bytes()).into_owned()));
            return false;
        }
        true
    }

    /// Writes a key as a JSON string, from `s.key_texts` when it was written before.
    fn key_text(&self, key: &SortKey, s: &mut Scratch) -> bool {
        if key.number.is_some() {
            return self.string(key.bytes(), s);
        }
        if let Some(text) = s.key_texts.get(key.text) {
            append(&mut s.out, text);
            return true;
        }
        let start = s.out.len();
        if !self.string(key.bytes(), s) {
            return false;
        }
        s.key_texts.put(key.text, &s.out[start..]);
        true
    }

    /// The key at stack index `key_idx` as text; a number key is formatted into `number_text`.
    unsafe fn key(
        &self,
        state: *mut ffi::lua_State,
        key_idx: c_int,
        number_text: &mut NumberText,
    ) -> std::result::Result<SortKey, Unencodable> {
        match ffi::lua_type(state, key_idx) {
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(state, key_idx, &mut len);
                Ok(SortKey { number: None, text: p as *const u8, len })
            }
            ffi::LUA_TNUMBER => {
                let value = ffi::lua_tonumber(state, key_idx);
                if !number_text.format(state, key_idx) {
                    return Err(Unencodable::NonFinite);
                }
                Ok(SortKey { number: Some(value), text: number_text.buf.as_ptr(), len: number_text.len })
            }
            other => Err(Unencodable::KeyType(other)),
        }
    }

    /// Writes the table at `idx` as an object; `started` when `lua_next` has already pushed
    /// its first key and value.
    unsafe fn object(
        &self,
        state: *mut ffi::lua_State,
        idx: c_int,
        depth: usize,
        s: &mut Scratch,
        started: bool,
    ) -> bool {
        s.out.push(b'{');
        let mut first = true;
        let mut number_text = NumberText::new();
        let mut more = started || {
            ffi::lua_pushnil(state);
            ffi::lua_next(state, idx) != 0
        };
        let value_idx = ffi::lua_gettop(state);
        while more {
            let key = match self.key(state, -2, &mut number_text) {
                Ok(k) => k,
                Err(problem) => {
                    s.error = Some(problem);
                    return false;
                }
            };
            if !self.member(state, key, value_idx, first, depth, s) {
                return false;
            }
            first = false;
            ffi::lua_pop(state, 1);
            more = ffi::lua_next(state, idx) != 0;
        }
        if !first {
            self.newline(depth, s);
        }
        s.out.push(b'}');
        true
    }

    unsafe fn sorted_object(&self, state: *mut ffi::lua_State, idx: c_int, depth: usize, s: &mut Scratch) -> bool {
        let base = s.keys.len();
        let mut number_text = NumberText::new();
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, idx) != 0 {
            ffi::lua_pop(state, 1);
            match ffi::lua_type(state, -1) {
                ffi::LUA_TSTRING => {
                    let mut len = 0usize;
                    let p = ffi::lua_tolstring(state, -1, &mut len);
                    s.keys.push(SortKey { number: None, text: p as *const u8, len });
                }
                ffi::LUA_TNUMBER => {
                    // Number keys are sorted by value and looked up again by value below.
                    if let Err(problem) = self.key(state, -1, &mut number_text) {
                        s.error = Some(problem);
                        return false;
                    }
                    s.keys.push(SortKey { number: Some(ffi::lua_tonumber(state, -1)), text: std::ptr::null(), len: 0 });
                }
                other => {
                    s.error = Some(Unencodable::KeyType(other));
                    return false;
                }
            }
        }
        s.keys[base..].sort_by(|a, b| match (a.number, b.number) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.bytes().cmp(b.bytes()),
        });
        s.out.push(b'{');
        let count = s.keys.len() - base;
        let value_idx = ffi::lua_gettop(state) + 1;
        for i in 0..count {
            let key = s.keys[base + i];
            let key = match key.number {
                None => {
                    ffi::lua_pushlstring(state, key.text as *const _, key.len);
                    ffi::lua_pushvalue(state, -1);
                    ffi::lua_rawget(state, idx);
                    ffi::lua_remove(state, -2);
                    key
                }
                Some(n) => {
                    push_number_key(state, n);
                    let k = match self.key(state, -1, &mut number_text) {
                        Ok(k) => k,
                        Err(problem) => {
                            s.error = Some(problem);
                            return false;
                        }
                    };
                    ffi::lua_rawget(state, idx);
                    k
                }
            };
            if !self.member(state, key, value_idx, i == 0, depth, s) {
                s.keys.truncate(base);
                return false;
            }
            ffi::lua_pop(state, 1);
        }
        s.keys.truncate(base);
        if count > 0 {
            self.newline(depth, s);
        }
        s.out.push(b'}');
        true
    }
}

/// A table with integer keys too far apart to be an array.
#[derive(Debug)]
pub struct TooSparse;

/// The array rule of the module documentation, from a table's key count, its largest
/// positive integer key, and whether every key is one.
pub fn classify(count: i64, max: i64, all_indices: bool) -> std::result::Result<Shape, TooSparse> {
    if count == 0 || !all_indices {
        Ok(Shape::Object)
    } else if max > count && max > 10 && max > 2 * count {
        Err(TooSparse)
    } else {
        Ok(Shape::Array(max))
    }
}

/// Pushes a number key so that it finds the same table slot it was read from.
unsafe fn push_number_key(state: *mut ffi::lua_State, n: f64) {
    #[cfg(any(feature = "lua53", feature = "lua54"))]
    if n.fract() == 0.0 && n >= -(2f64.powi(63)) && n < 2f64.powi(63) {
        ffi::lua_pushinteger(state, n as i64);
        return;
    }
    ffi::lua_pushnumber(state, n);
}

/// The positive integer a key denotes, if it is one.
unsafe fn array_index(state: *mut ffi::lua_State, idx: c_int) -> Option<i64> {
    if ffi::lua_type(state, idx) != ffi::LUA_TNUMBER {
        return None;
    }
    #[cfg(any(feature = "lua53", feature = "lua54"))]
    if ffi::lua_isinteger(state, idx) != 0 {
        let n = ffi::lua_tointeger(state, idx);
        return if n >= 1 { Some(n) } else { None };
    }
    let f = ffi::lua_tonumber(state, idx);
    if (1.0..9.007_199_254_740_992e15).contains(&f) && (f as i64) as f64 == f {
        Some(f as i64)
    } else {
        None
    }
}

/// A number's JSON text, formatted on the stack (the encoder may not allocate).
pub struct NumberText {
    buf: [u8; NUMBER_MAX],
    len: usize,
}

impl NumberText {
    pub fn new() -> Self {
        NumberText { buf: [0; NUMBER_MAX], len: 0 }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Formats the Lua number at `idx`; false when it is NaN or infinite.
    unsafe fn format(&mut self, state: *mut ffi::lua_State, idx: c_int) -> bool {
        let written = write_lua_number(state, idx, self.buf.as_mut_ptr());
        self.written(written)
    }

    /// The shortest text that reads back as exactly `f` (see `write_float`).
    pub fn float(&mut self, f: f64) -> bool {
        let written = unsafe { write_float(f, self.buf.as_mut_ptr()) };
        self.written(written)
    }

    fn written(&mut self, len: Option<usize>) -> bool {
        self.len = len.unwrap_or(0);
        len.is_some()
    }
}

/// Room any number's text fits in.
const NUMBER_MAX: usize = 40;

/// Writes the Lua number at `idx` at `dst` (room for `NUMBER_MAX` bytes); returns the length,
/// or None for NaN and infinities.
unsafe fn write_lua_number(state: *mut ffi::lua_State, idx: c_int, dst: *mut u8) -> Option<usize> {
    #[cfg(any(feature = "lua53", feature = "lua54"))]
    if ffi::lua_isinteger(state, idx) != 0 {
        return Some(write_integer(ffi::lua_tointeger(state, idx), dst));
    }
    write_float(ffi::lua_tonumber(state, idx), dst)
}

/// Writes the shortest text that reads back as exactly `f` at `dst` (room for `NUMBER_MAX`
/// bytes). Integral values below 2^53 are written without a fraction on interpreters without
/// an integer subtype; on Lua 5.3+ a float keeps its `.0` so that it decodes back as a float.
unsafe fn write_float(f: f64, dst: *mut u8) -> Option<usize> {
    if !f.is_finite() {
        return None;
    }
    let integral_style = !cfg!(any(feature = "lua53", feature = "lua54"));
    if integral_style && f.abs() < 9.007_199_254_740_992e15 && (f as i64) as f64 == f {
        if f == 0.0 && f.is_sign_negative() {
            std::ptr::copy_nonoverlapping(b"-0".as_ptr(), dst, 2);
            return Some(2);
        }
        return Some(write_integer(f as i64, dst));
    }
    let mut buffer = zmij::Buffer::new();
    let text = buffer.format_finite(f).as_bytes();
    copy_short(text.as_ptr(), dst, text.len());
    Some(text.len())
}

static DIGIT_PAIRS: [u8; 200] = {
    let mut table = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        table[2 * i] = b'0' + (i / 10) as u8;
        table[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    table
};

/// Writes `n` in decimal at `dst` (room for 24 bytes); returns the length.
unsafe fn write_integer(n: i64, dst: *mut u8) -> usize {
    const E8: u64 = 100_000_000;
    let negative = n < 0;
    *dst = b'-';
    let at = dst.add(negative as usize);
    let u = n.unsigned_abs();
    let len = if u < E8 {
        write_up_to_eight_digits(u as u32, at)
    } else if u < E8 * E8 {
        let high = write_up_to_eight_digits((u / E8) as u32, at);
        let low = eight_digits_unpacked((u % E8) as u32) + number::ASCII_ZEROS;
        std::ptr::write_unaligned(at.add(high) as *mut u64, low.to_le());
        high + 8
    } else {
        write_digits_by_pairs(u, at)
    };
    negative as usize + len
}

/// The 8 decimal digits of `n` (below 10^8) as bytes 0-9 of a word, the first digit in the
/// low byte: a division of the two 4-digit halves, then of the 2-digit quarters, in parallel.
#[inline(always)]
fn eight_digits_unpacked(n: u32) -> u64 {
    let n = n as u64;
    let halves = (n / 10_000) | ((n % 10_000) << 32);
    let hundreds = ((halves * 5243) >> 19) & 0x0000_007F_0000_007F;
    let quarters = hundreds | ((halves - hundreds * 100) << 16);
    let tens = ((quarters * 103) >> 10) & 0x000F_000F_000F_000F;
    tens | ((quarters - tens * 10) << 8)
}

/// Writes `n` (below 10^8) without leading zeros as one 8-byte store at `dst`; returns the
/// length.
#[inline(always)]
unsafe fn write_up_to_eight_digits(n: u32, dst: *mut u8) -> usize {
    let digits = eight_digits_unpacked(n);
    let leading_zeros = (digits.trailing_zeros() / 8).min(7) as usize;
    std::ptr::write_unaligned(dst as *mut u64, ((digits + number::ASCII_ZEROS) >> (8 * leading_zeros)).to_le());
    8 - leading_zeros
}

/// Writes `u` in decimal at `dst`, two digits at a time from the end; returns the length.
unsafe fn write_digits_by_pairs(mut u: u64, dst: *mut u8) -> usize {
    let len = u.checked_ilog10().map_or(1, |l| l as usize + 1);
    let mut end = dst.add(len);
    while u >= 100 {
        let pair = (u % 100) as usize * 2;
        u /= 100;
        end = end.sub(2);
        std::ptr::copy_nonoverlapping(DIGIT_PAIRS.as_ptr().add(pair), end, 2);
    }
    if u >= 10 {
        std::ptr::copy_nonoverlapping(DIGIT_PAIRS.as_ptr().add(u as usize * 2), end.sub(2), 2);
    } else {
        *end.sub(1) = b'0' + u as u8;
    }
    len
}

impl Default for NumberText {
    fn default() -> Self {
        Self::new()
    }
}

/// `out.extend_from_slice(bytes)`, without a call to `memcpy` for the short pieces (keys,
/// numbers, words) that make up most of a document.
#[inline(always)]
fn append(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    if n > SHORT_COPY_MAX {
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(n);
    let len = out.len();
    // SAFETY: `n` bytes are reserved past `len`.
    unsafe {
        copy_short(bytes.as_ptr(), out.as_mut_ptr().add(len), n);
        out.set_len(len + n);
    }
}

const SHORT_COPY_MAX: usize = 32;

/// Copies `n` (at most `SHORT_COPY_MAX`) bytes as two overlapping loads and stores, which a
/// variable-length `copy_nonoverlapping` would turn into a call to `memcpy`.
///
/// # Safety
/// `src` must be readable and `dst` writable for `n` bytes, and the two must not overlap.
#[inline(always)]
unsafe fn copy_short(src: *const u8, dst: *mut u8, n: usize) {
    debug_assert!(n <= SHORT_COPY_MAX);
    unsafe fn two<T: Copy>(src: *const u8, dst: *mut u8, n: usize) {
        let width = std::mem::size_of::<T>();
        let head = std::ptr::read_unaligned(src as *const T);
        let tail = std::ptr::read_unaligned(src.add(n - width) as *const T);
        std::ptr::write_unaligned(dst as *mut T, head);
        std::ptr::write_unaligned(dst.add(n - width) as *mut T, tail);
    }
    if n >= 16 {
        two::<u128>(src, dst, n);
    } else if n >= 8 {
        two::<u64>(src, dst, n);
    } else if n >= 4 {
        two::<u32>(src, dst, n);
    } else {
        for i in 0..n {
            *dst.add(i) = *src.add(i);
        }
    }
}

/// `a == b` for short slices, as two overlapping loads and compares where it can.
#[inline(always)]
fn equal_short(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // SAFETY: each read stays inside its slice.
    unsafe fn two<T: Copy + PartialEq>(a: *const u8, b: *const u8, n: usize) -> bool {
        let width = std::mem::size_of::<T>();
        let read = |p: *const u8, at: usize| std::ptr::read_unaligned(p.add(at) as *const T);
        read(a, 0) == read(b, 0) && read(a, n - width) == read(b, n - width)
    }
    unsafe {
        match n {
            16..=32 => two::<u128>(a.as_ptr(), b.as_ptr(), n),
            8..=15 => two::<u64>(a.as_ptr(), b.as_ptr(), n),
            4..=7 => two::<u32>(a.as_ptr(), b.as_ptr(), n),
            _ => a == b,
        }
    }
}

/// Text that is not UTF-8, which no JSON string can hold.
#[derive(Debug)]
pub struct NotUtf8;

/// Writes `bytes` as a JSON string literal, or nothing if they are not UTF-8.
pub fn write_string(bytes: &[u8], escape_slash: bool, out: &mut Vec<u8>) -> std::result::Result<(), NotUtf8> {
    let start = out.len();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut checked = false;
    let mut i = 0;
    loop {
        let run = scan::literal_run(&bytes[i..], escape_slash, checked);
        append(out, &bytes[i..i + run]);
        i += run;
        let Some(&b) = bytes.get(i) else { break };
        if b >= 0x80 && !checked {
            // Everything before is ASCII: what follows is checked once, then copied as is.
            if simdutf8::basic::from_utf8(&bytes[i..]).is_err() {
                out.truncate(start);
                return Err(NotUtf8);
            }
            checked = true;
            continue;
        }
        i += 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
        }
    }
    out.push(b'"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str, slash: bool) -> String {
        let mut out = Vec::new();
        write_string(s.as_bytes(), slash, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters() {
        assert_eq!(escaped("a\"b\\c\n\u{1}é/", false), r#""a\"b\\c\n\u0001é/""#);
        assert_eq!(escaped("a/b", true), r#""a\/b""#);
    }

    #[test]
    fn floats_are_shortest_round_trip() {
        let mut text = NumberText::new();
        assert!(text.float(0.1));
        assert_eq!(text.bytes(), b"0.1");
        assert!(text.float(1e300));
        assert_eq!(text.bytes(), b"1e+300");
        assert!(!text.float(f64::NAN));
        assert!(!text.float(f64::INFINITY));
    }

    #[test]
    fn integers_are_written_in_decimal() {
        let mut samples = vec![0, 1, -1, 9, 10, -10, 99, 100, 101, 12345, -987654321, i64::MAX, i64::MIN, 1 << 53];
        let mut power = 1i64;
        for _ in 0..18 {
            power *= 10;
            samples.extend([power - 1, power, power + 1, -(power - 1), -power, 7 * power + 3]);
        }
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            samples.push((seed >> (seed % 64)) as i64);
        }
        for n in samples {
            let mut buf = [0u8; NUMBER_MAX];
            let len = unsafe { write_integer(n, buf.as_mut_ptr()) };
            assert_eq!(std::str::from_utf8(&buf[..len]).unwrap(), n.to_string());
        }
    }

    /// Long documents get the most key cache slots; whatever their top-level value, the decoder
    /// must leave itself stack room above them (the vendored Lua checks every push).
    #[test]
    fn long_documents_of_any_top_level_value_decode() {
        let lua = Lua::new();
        let pad = " ".repeat(1 << 15);
        let docs =
            [format!("\"{}\"", "x".repeat(1 << 15)), format!("{pad}12.5"), format!("{pad}null"), format!("[{pad}]")];
        for doc in &docs {
            let value = decode(&lua, doc.as_bytes(), &DecodeOptions { all: false, max_depth: DEFAULT_MAX_DEPTH });
            assert!(value.unwrap().is_ok(), "{}", &doc[doc.len() - 10..]);
        }
        let stream = format!("{pad}1 \"a\" {{\"k\": [true]}}");
        let value = decode(&lua, stream.as_bytes(), &DecodeOptions { all: true, max_depth: DEFAULT_MAX_DEPTH });
        assert!(value.unwrap().is_ok());
    }

    /// Running out of memory in the middle of a direct decode or encode raises the Lua error
    /// (as lua-cjson does), drops what the entry held, and leaves the state and the per-thread
    /// caches usable.
    #[cfg(feature = "vendored")]
    #[test]
    fn out_of_memory_in_a_direct_call_raises_and_leaves_everything_usable() {
        let lua = Lua::new();
        let json: Table = crate::open(&lua).unwrap().get("json").unwrap();
        let decode: mlua::Function = json.get("decode").unwrap();
        let encode: mlua::Function = json.get("encode").unwrap();
        let doc = format!("[{}1]", r#"{"a":[1,2,3],"b":"x"},"#.repeat(50_000));
        let value: Value = decode.call(doc.as_str()).unwrap();
        lua.gc_collect().unwrap();
        lua.set_memory_limit(lua.used_memory() + (256 << 10)).unwrap();
        let failed = decode.call::<Value>(doc.as_str()).map(|_| ()).unwrap_err();
        assert!(failed.to_string().contains("not enough memory"), "{failed}");
        lua.set_memory_limit(0).unwrap();
        drop(value);
        lua.gc_collect().unwrap();
        let big: Value = decode.call(doc.as_str()).unwrap();
        lua.gc_collect().unwrap();
        lua.set_memory_limit(lua.used_memory() + (64 << 10)).unwrap();
        let failed = encode.call::<mlua::LuaString>(big.clone()).map(|_| ()).unwrap_err();
        assert!(failed.to_string().contains("not enough memory"), "{failed}");
        lua.set_memory_limit(0).unwrap();
        assert!(DECODE_CACHES.with(|c| c.try_borrow_mut().is_ok()), "decode caches released");
        assert!(ENCODE_BUFFERS.with(|c| c.try_borrow_mut().is_ok()), "encode buffers released");
        let text: String = encode.call(big).unwrap();
        assert_eq!(text.len(), doc.len());
        assert_eq!(decode.call::<Value>("[1]").unwrap().as_table().map(|t| t.raw_len()), Some(1));
    }

    #[test]
    fn generations_skip_zero_and_say_when_they_wrap() {
        let mut generation = 0u16;
        let wraps = (0..2 * 65535).filter(|_| advance(&mut generation)).count();
        assert_eq!((wraps, generation), (1, 65535));
    }

    #[test]
    fn syntax_errors_give_line_column_and_offset() {
        let src = "{\n  \"é\": tru\n}".as_bytes();
        let e = syntax_error(src, Syntax::InvalidLiteral, 10, 1000);
        assert_eq!(e.message, "invalid JSON at line 2, column 8 (byte 10): invalid literal");
    }
}
