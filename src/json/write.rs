//! Writing JSON text: numbers, strings and short copies, into buffers the encoder owns.

use super::*;

/// A number's JSON text, formatted on the stack (the encoder may not allocate).
pub struct NumberText {
    pub(crate) buf: [u8; NUMBER_MAX],
    pub(crate) len: usize,
}

impl NumberText {
    pub fn new() -> Self {
        NumberText { buf: [0; NUMBER_MAX], len: 0 }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Formats the Lua number at `idx`; false when it is NaN or infinite.
    pub(crate) unsafe fn format(&mut self, state: *mut ffi::lua_State, idx: c_int) -> bool {
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
pub(crate) const NUMBER_MAX: usize = 40;

/// Writes the Lua number at `idx` at `dst` (room for `NUMBER_MAX` bytes); returns the length,
/// or None for NaN and infinities.
pub(crate) unsafe fn write_lua_number(state: *mut ffi::lua_State, idx: c_int, dst: *mut u8) -> Option<usize> {
    #[cfg(any(feature = "lua53", feature = "lua54"))]
    if ffi::lua_isinteger(state, idx) != 0 {
        return Some(write_integer(ffi::lua_tointeger(state, idx), dst));
    }
    write_float(ffi::lua_tonumber(state, idx), dst)
}

/// Writes the shortest text that reads back as exactly `f` at `dst` (room for `NUMBER_MAX`
/// bytes). Integral values below 2^53 are written without a fraction on interpreters without
/// an integer subtype; on Lua 5.3+ a float keeps its `.0` so that it decodes back as a float.
pub(crate) unsafe fn write_float(f: f64, dst: *mut u8) -> Option<usize> {
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

pub(crate) static DIGIT_PAIRS: [u8; 200] = {
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
pub(crate) unsafe fn write_integer(n: i64, dst: *mut u8) -> usize {
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
pub(crate) fn eight_digits_unpacked(n: u32) -> u64 {
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
pub(crate) unsafe fn write_up_to_eight_digits(n: u32, dst: *mut u8) -> usize {
    let digits = eight_digits_unpacked(n);
    let leading_zeros = (digits.trailing_zeros() / 8).min(7) as usize;
    std::ptr::write_unaligned(dst as *mut u64, ((digits + number::ASCII_ZEROS) >> (8 * leading_zeros)).to_le());
    8 - leading_zeros
}

/// Writes `u` in decimal at `dst`, two digits at a time from the end; returns the length.
pub(crate) unsafe fn write_digits_by_pairs(mut u: u64, dst: *mut u8) -> usize {
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
pub(crate) fn append(out: &mut Vec<u8>, bytes: &[u8]) {
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

pub(crate) const SHORT_COPY_MAX: usize = 32;

/// Copies `n` (at most `SHORT_COPY_MAX`) bytes as two overlapping loads and stores, which a
/// variable-length `copy_nonoverlapping` would turn into a call to `memcpy`.
///
/// # Safety
/// `src` must be readable and `dst` writable for `n` bytes, and the two must not overlap.
#[inline(always)]
pub(crate) unsafe fn copy_short(src: *const u8, dst: *mut u8, n: usize) {
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
pub(crate) fn equal_short(a: &[u8], b: &[u8]) -> bool {
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
