//! Decoding: JSON text to Lua values, on the C API inside one protected call.

use super::*;

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

pub(crate) fn decode_with(lua: &Lua, src: &[u8], opts: &DecodeOptions, caches: &mut DecodeCaches) -> Result<error::Result<Value>> {
    let mut scratch = Vec::new();
    let mut decoder = Decoder::new(src, opts.max_depth, &mut scratch, caches);
    let value: Value = unsafe { crate::luavalue::exec_raw_caught(lua, (), |state| decoder.run(state, opts.all))? };
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

/// Pushes a new array of room for `n` items.
pub(crate) unsafe fn new_array(state: *mut ffi::lua_State, n: c_int) {
    ffi::lua_createtable(state, n, 0);
    ffi::lua_pushvalue(state, ARRAY_MT_INDEX);
    ffi::lua_setmetatable(state, -2);
}

/// Moves the `waiting` items on top of the stack into the array at `table`, the last of them
/// being item `last`; the array is first made, with room for `size` items, while `table` still
/// holds its placeholder (`made` false).
pub(crate) unsafe fn set_items(
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
pub(crate) const ARRAY_BATCH: c_int = 64;

/// The first of the `key_slots` stack slots that hold the cached keys' strings.
pub(crate) const KEY_CACHE_BASE: c_int = 3;

pub(crate) struct Decoder<'a> {
    pub(crate) src: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) depth: usize,
    pub(crate) max_depth: usize,
    pub(crate) scratch: &'a mut Vec<u8>,
    pub(crate) error: Option<(Syntax, usize)>,
    pub(crate) caches: &'a mut DecodeCaches,
    /// Marks the entries of `caches` this decode made.
    pub(crate) generation: u16,
    /// The size of the last object seen at each depth, for places seen for the first time
    /// (see `DecodeCaches::place_hints`).
    pub(crate) depth_hints: [u16; HINT_DEPTHS],
    /// The place of the value about to be read, as a hash.
    pub(crate) place: u64,
    /// The depth up to which the Lua stack has room.
    pub(crate) stack_ready: usize,
    /// The stack index up to which the Lua stack has room for an array's waiting items.
    pub(crate) room_top: c_int,
    /// How many of `caches.keys` this document uses: a power of two, fewer for short documents.
    pub(crate) key_slots: usize,
}

/// What the decoder learns about a document as it goes, kept from one decode to the next on
/// each thread so that a decode does not start by clearing them: an entry counts only in the
/// decode whose `generation` it carries.
pub(crate) struct DecodeCaches {
    pub(crate) generation: u16,
    /// The size of the last object seen in each place (a depth and the key that holds it, or
    /// "an item" of an array): such objects tend to match, so they are made that size up
    /// front, instead of growing through rehashes or holding unused slots. (Arrays need no
    /// hint: their items wait on the stack until the size is known.)
    pub(crate) place_hints: [Hint; HINT_PLACES],
    /// The key last read at each (object place, member position), its string kept alive at the
    /// stack slot `KEY_CACHE_BASE` + its index: most objects repeat their siblings' keys,
    /// and a key that matches is pushed from there instead of being scanned and interned.
    pub(crate) keys: [KeyEntry; KEY_SLOTS],
}

impl DecodeCaches {
    pub(crate) fn new() -> Box<Self> {
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
    pub(crate) static DECODE_CACHES: std::cell::RefCell<Option<Box<DecodeCaches>>> = const { std::cell::RefCell::new(None) };
}

#[derive(Clone, Copy)]
pub(crate) struct KeyEntry {
    pub(crate) tag: u64,
    /// The interned string's bytes (no escapes in the source).
    pub(crate) bytes: *const u8,
    pub(crate) len: u32,
    pub(crate) generation: u16,
}

impl Default for KeyEntry {
    fn default() -> Self {
        KeyEntry { tag: 0, bytes: std::ptr::null(), len: 0, generation: 0 }
    }
}

/// At most this many keys are cached (a power of two).
pub(crate) const KEY_SLOTS: usize = 256;

#[derive(Clone, Copy, Default)]
pub(crate) struct Hint {
    pub(crate) place: u64,
    pub(crate) size: u16,
    pub(crate) generation: u16,
}

pub(crate) const HINT_PLACES: usize = 256;
pub(crate) const HINT_DEPTHS: usize = 32;

impl<'a> Decoder<'a> {
    pub(crate) fn new(src: &'a [u8], max_depth: usize, scratch: &'a mut Vec<u8>, caches: &'a mut DecodeCaches) -> Self {
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
    pub(crate) unsafe fn run(&mut self, state: *mut ffi::lua_State, all: bool) {
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

pub(crate) fn hex4(src: &[u8], at: usize) -> Option<u32> {
    let digits = src.get(at..at + 4)?;
    let mut n = 0u32;
    for &d in digits {
        n = n * 16 + (d as char).to_digit(16)?;
    }
    Some(n)
}
