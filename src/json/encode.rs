//! Encoding: Lua values to JSON text, on the C API inside one protected call.

use super::*;

/// Why a value cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unencodable {
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

/// Allocations the protected encoder uses, owned outside it.
pub(crate) struct Scratch<'k> {
    pub(crate) out: Vec<u8>,
    /// Tables being encoded, to detect cycles.
    pub(crate) open: Vec<*const c_void>,
    /// Keys of the objects being encoded with `sort_keys`, as (pointer, length) into Lua strings
    /// that the tables keep alive; each level sorts its own slice.
    pub(crate) keys: Vec<SortKey>,
    pub(crate) path: Vec<PathStep>,
    pub(crate) error: Option<Unencodable>,
    /// The depth up to which the Lua stack has room.
    pub(crate) stack_ready: usize,
    pub(crate) key_texts: &'k mut KeyTexts,
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
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
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
pub(crate) struct KeyTexts {
    pub(crate) generation: u16,
    pub(crate) slots: [KeyText; KEY_TEXT_SLOTS],
    pub(crate) text: Vec<u8>,
}

#[derive(Clone, Copy)]
pub(crate) struct KeyText {
    pub(crate) address: usize,
    pub(crate) start: u32,
    pub(crate) len: u16,
    pub(crate) generation: u16,
}

pub(crate) const KEY_TEXT_SLOTS: usize = 128;
pub(crate) const KEY_TEXT_MAX: usize = 64 << 10;

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
pub(crate) struct EncodeBuffers {
    /// The output buffer, so that the next encode does not grow its own from nothing.
    pub(crate) out: Vec<u8>,
    pub(crate) key_texts: KeyTexts,
}

impl EncodeBuffers {
    fn new() -> Self {
        EncodeBuffers { out: Vec::new(), key_texts: KeyTexts::new() }
    }
}

/// Keeps `out` in `kept` for the next encode, unless it grew too large to keep.
pub(crate) fn keep_output(kept: &mut Vec<u8>, out: Vec<u8>) {
    if out.capacity() <= KEPT_OUTPUT {
        *kept = out;
    }
}

thread_local! {
    pub(crate) static ENCODE_BUFFERS: std::cell::RefCell<Option<EncodeBuffers>> = const { std::cell::RefCell::new(None) };
}

#[derive(Clone, Copy)]
pub(crate) struct SortKey {
    pub(crate) number: Option<f64>,
    pub(crate) text: *const u8,
    pub(crate) len: usize,
}

impl SortKey {
    fn bytes(&self) -> &[u8] {
        unsafe { std::slice::from_raw_parts(self.text, self.len) }
    }
}

/// The largest output buffer kept between calls.
pub(crate) const KEPT_OUTPUT: usize = 8 << 20;

/// One encode of `value` into `scratch` (reset first), in a protected call of its own.
pub(crate) fn encode_pass(lua: &Lua, value: &Value, opts: &EncodeOptions, track_from: usize, scratch: &mut Scratch) -> Result<()> {
    scratch.reset();
    let encoder = Encoder { opts: *opts, track_from };
    unsafe {
        crate::luavalue::exec_raw_caught::<()>(lua, value, |state| {
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

pub(crate) fn type_name(t: c_int) -> &'static str {
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

pub(crate) fn describe_unencodable(problem: Unencodable, path: &[PathStep], opts: &EncodeOptions) -> Error {
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

pub(crate) struct Encoder {
    pub(crate) opts: EncodeOptions,
    /// Tables are remembered, to detect cycles, from this depth on. A cycle nests without end,
    /// so it is caught this many levels late; the failed encode is then redone from 0 to name
    /// the path where the cycle closes.
    pub(crate) track_from: usize,
}

/// The depth from which a first encode remembers tables.
pub(crate) const TRACK_TABLES_FROM: usize = 16;

impl Encoder {
    /// Encodes the value at index 1 of a protected call's stack, which holds nothing else.
    pub(crate) unsafe fn run(&self, state: *mut ffi::lua_State, s: &mut Scratch) -> bool {
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

/// Pushes a number key so that it finds the same table slot it was read from.
pub(crate) unsafe fn push_number_key(state: *mut ffi::lua_State, n: f64) {
    #[cfg(any(feature = "lua53", feature = "lua54"))]
    if n.fract() == 0.0 && n >= -(2f64.powi(63)) && n < 2f64.powi(63) {
        ffi::lua_pushinteger(state, n as i64);
        return;
    }
    ffi::lua_pushnumber(state, n);
}

/// The positive integer a key denotes, if it is one.
pub(crate) unsafe fn array_index(state: *mut ffi::lua_State, idx: c_int) -> Option<i64> {
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
