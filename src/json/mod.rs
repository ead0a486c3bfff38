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

use mlua::{ffi, Lua, Result, Table, Value};

use crate::bridge::direct::{self, export_direct, Direct, Entry};
use crate::bridge::{Class, ModuleDef, TypeDef};
use crate::error::{self, Error};
use crate::luavalue::*;
use crate::{func, typed};

mod decode;
mod encode;
mod entry;
mod number;
mod pow5;
mod scan;
mod write;

use decode::*;
use encode::*;
use entry::*;
pub use crate::luavalue::DecodeOptions;
pub use write::{write_string, NotUtf8, NumberText};
use write::*;

/// Why a document nested within `max_depth` still fails on Lua 5.1 and LuaJIT, whose C
/// functions get at most 8,000 stack slots: about 3,800 levels.
const STACK_EXHAUSTED: &str = "nesting too deep for the Lua stack";

/// Stack slots one nesting level may use, and how many levels to make room for at once
/// (PUC Lua keeps the room `lua_checkstack` made for the whole call; LuaJIT grows on push).
const STACK_PER_LEVEL: c_int = 6;
const STACK_LEVELS_AT_ONCE: c_int = 16;

/// Native stack a codec keeps free below its deepest level: the recursion ends with
/// STACK_EXHAUSTED before the thread's stack does (its frames' size depends on the build).
const NATIVE_STACK_SPARE: usize = 512 * 1024;

/// Whether this thread's native stack has more than [`NATIVE_STACK_SPARE`] bytes left below
/// the caller. Threads whose stack glibc cannot tell pass.
fn native_stack_has_room() -> bool {
    thread_local! {
        // The lowest address of this thread's stack, found once (0: unknown).
        static LOWEST: usize = lowest_stack_address();
    }
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    LOWEST.with(|&low| low == 0 || sp.saturating_sub(low) > NATIVE_STACK_SPARE)
}

fn lowest_stack_address() -> usize {
    // SAFETY: pthread_getattr_np fills attr for the calling thread, which is destroyed after
    // pthread_attr_getstack has read it.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return 0;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if ok { addr as usize } else { 0 }
    }
}

/// Makes room on the Lua stack for the levels from `depth` on, unless `ready` (the depth up to
/// which room was made earlier in this same protected call) already covers it. False when the
/// stack cannot grow that far (Lua 5.1 and LuaJIT allow a C function 8,000 slots).
#[must_use]
unsafe fn reserve_stack(state: *mut ffi::lua_State, depth: usize, ready: &mut usize) -> bool {
    if depth >= *ready {
        if ffi::lua_checkstack(state, STACK_PER_LEVEL * STACK_LEVELS_AT_ONCE) == 0 || !native_stack_has_room() {
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

fn build(lua: &Lua, m: &Table) -> Result<()> {
    m.raw_set("null", null())?;
    m.raw_set("empty_array", empty_array())?;
    m.raw_set("array_mt", array_mt(lua)?)?;
    let entry = Entry { entry: encode_entry, body: Some(encode_body), settle: None, waits: false };
    export_direct(lua, m, "json.encode", entry, |lua, (value, opts): (Value, Option<Table>)| {
        let opts = EncodeOptions::from_lua(opts.as_ref())?;
        let result = encode_with(lua, value, &opts, |text| lua.create_string(text))?;
        error::pair(lua, result)
    })?;
    export_direct(
        lua,
        m,
        "json.decode",
        Entry { entry: decode_entry, body: Some(decode_body), settle: None, waits: false },
        |lua, (text, opts): (mlua::LuaString, Option<Table>)| {
            let opts = DecodeOptions::from_lua(opts.as_ref())?;
            let result = decode(lua, &text.as_bytes(), &opts)?;
            error::pair(lua, result)
        },
    )?;
    Ok(())
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

pub fn encode(lua: &Lua, value: Value, opts: &EncodeOptions) -> Result<error::Result<String>> {
    // The encoder writes only valid UTF-8: checked strings, ASCII punctuation and numbers.
    encode_with(lua, value, opts, |text| Ok(unsafe { String::from_utf8_unchecked(text.to_vec()) }))
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
