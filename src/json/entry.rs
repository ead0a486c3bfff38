//! The direct entry points of `json.decode(text)` and `json.encode(value)`: calls without
//! options answered without the trampoline (see `crate::bridge::direct`).

use super::*;

/// `json.decode(text)` with a string and no options, answered without the trampoline: a message
/// decoded many times a second costs little more than its parse. Any other call (options, a
/// number to read as text, a syntax error to describe) goes to the full function.
pub(crate) unsafe extern "C-unwind" fn decode_entry(state: *mut ffi::lua_State) -> c_int {
    if ffi::lua_gettop(state) == 1 && ffi::lua_type(state, 1) == ffi::LUA_TSTRING {
        return direct::answer(state, "json.decode", || decode_directly(state));
    }
    direct::call_full(state)
}

pub(crate) unsafe fn decode_directly(state: *mut ffi::lua_State) -> Direct {
    let mut len = 0usize;
    let text = ffi::lua_tolstring(state, 1, &mut len) as *const u8;
    let src = std::slice::from_raw_parts(text, len);
    with_kept(&DECODE_CACHES, DecodeCaches::new, |caches| {
        let mut scratch = Vec::new();
        let mut decoder = Decoder::new(src, DEFAULT_MAX_DEPTH, &mut scratch, caches);
        let decoder: *mut Decoder = &mut decoder;
        // The body writes through this pointer, so the outcome is read through it too: a
        // reference held across the call would let the compiler assume no error was set.
        direct::call_body(state, decoder as *mut c_void, 0, || unsafe { (*decoder).error.is_some() })
    })
}

pub(crate) unsafe extern "C-unwind" fn decode_body(state: *mut ffi::lua_State) -> c_int {
    let decoder = &mut *(ffi::lua_touserdata(state, 1) as *mut Decoder);
    ffi::lua_settop(state, 0);
    decoder.run(state, false);
    ffi::lua_gettop(state)
}

/// `json.encode(value)` without options, answered without the trampoline (see `decode_entry`).
pub(crate) unsafe extern "C-unwind" fn encode_entry(state: *mut ffi::lua_State) -> c_int {
    if ffi::lua_gettop(state) == 1 {
        return direct::answer(state, "json.encode", || encode_directly(state));
    }
    direct::call_full(state)
}

pub(crate) struct EncodeJob<'s, 'k> {
    pub(crate) encoder: Encoder,
    pub(crate) scratch: &'s mut Scratch<'k>,
}

pub(crate) unsafe fn encode_directly(state: *mut ffi::lua_State) -> Direct {
    with_scratch(|scratch| {
        let encoder = Encoder { opts: EncodeOptions::default(), track_from: TRACK_TABLES_FROM };
        let mut job = EncodeJob { encoder, scratch };
        let job: *mut EncodeJob = &mut job;
        // Read through the pointer the body writes through (see decode_directly).
        direct::call_body(state, job as *mut c_void, 1, || unsafe { (*job).scratch.error.is_some() })
    })
}

pub(crate) unsafe extern "C-unwind" fn encode_body(state: *mut ffi::lua_State) -> c_int {
    let job = &mut *(ffi::lua_touserdata(state, 1) as *mut EncodeJob);
    ffi::lua_remove(state, 1);
    if !job.encoder.run(state, job.scratch) {
        return 0;
    }
    let out = &job.scratch.out;
    ffi::lua_pushlstring(state, out.as_ptr() as *const std::ffi::c_char, out.len());
    1
}
