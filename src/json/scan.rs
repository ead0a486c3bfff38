//! Byte scans for the JSON hot loops: sixteen bytes per step with SSE2 on x86_64, else eight
//! per step in plain integer arithmetic (SWAR).
//!
//! A mask has bit 7 of a byte set where that byte matches. The borrow-based masks (`equal`,
//! `below`) may also flag bytes *above* a real match, never below one, so they only answer
//! "where is the first match"; `exactly_equal` is exact in every byte.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const LOWS: u64 = 0x7f7f_7f7f_7f7f_7f7f;

#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline(always)]
fn equal(x: u64, b: u8) -> u64 {
    let y = x ^ (ONES * b as u64);
    y.wrapping_sub(ONES) & !y & HIGHS
}

#[inline(always)]
fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * n as u64) & !x & HIGHS
}

#[inline(always)]
fn exactly_equal(x: u64, b: u8) -> u64 {
    let y = x ^ (ONES * b as u64);
    !(((y & LOWS).wrapping_add(LOWS)) | y) & HIGHS
}

/// The bytes below the first `n` of a word (little-endian: the first bytes in memory).
#[inline(always)]
fn first_bytes(x: u64, n: usize) -> u64 {
    if n == 0 {
        0
    } else {
        x & (u64::MAX >> (64 - 8 * n))
    }
}

#[inline(always)]
fn first_match(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// How many leading bytes are JSON whitespace (space, tab, newline, carriage return).
#[inline(always)]
pub fn whitespace(bytes: &[u8]) -> usize {
    // Most calls find no whitespace at all, or one space after a colon.
    match bytes.first() {
        Some(b' ' | b'\n' | b'\r' | b'\t') => {}
        _ => return 0,
    }
    if bytes.get(1).is_some_and(|&b| b > b' ') {
        return 1;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of x86_64.
        unsafe { sse2::whitespace(bytes) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    whitespace_by_words(bytes)
}

/// The leading run of a JSON string's body that decodes to itself: no `"`, `\` or control
/// character. Returns its length and whether it holds any non-ASCII byte.
#[inline]
pub fn string_body(bytes: &[u8]) -> (usize, bool) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of x86_64.
        unsafe { sse2::string_body(bytes) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    string_body_by_words(bytes)
}

/// The leading run of bytes that a JSON string literal holds as they are, stopping also at the
/// first non-ASCII byte unless `ascii_checked` (the caller validates UTF-8 from there).
#[inline]
pub fn literal_run(bytes: &[u8], escape_slash: bool, ascii_checked: bool) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of x86_64.
        unsafe { sse2::literal_run(bytes, escape_slash, ascii_checked) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    literal_run_by_words(bytes, escape_slash, ascii_checked)
}

/// `whitespace` eight bytes at a time; the first byte is known to be whitespace.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn whitespace_by_words(bytes: &[u8]) -> usize {
    let mut i = 1;
    while i + 8 <= bytes.len() {
        let x = word(bytes, i);
        let blank =
            exactly_equal(x, b' ') | exactly_equal(x, b'\n') | exactly_equal(x, b'\r') | exactly_equal(x, b'\t');
        let other = !blank & HIGHS;
        if other != 0 {
            return i + first_match(other);
        }
        i += 8;
    }
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(i) {
        i += 1;
    }
    i
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn string_body_by_words(bytes: &[u8]) -> (usize, bool) {
    string_body_from(bytes, 0)
}

/// `string_body` from `i` on, eight bytes at a time (the bytes before `i` are not looked at).
fn string_body_from(bytes: &[u8], mut i: usize) -> (usize, bool) {
    let mut seen = 0u64;
    while i + 8 <= bytes.len() {
        let x = word(bytes, i);
        let stop = equal(x, b'"') | equal(x, b'\\') | below(x, 0x20);
        if stop != 0 {
            let n = first_match(stop);
            seen |= first_bytes(x, n);
            return (i + n, seen & HIGHS != 0);
        }
        seen |= x;
        i += 8;
    }
    let mut high = seen & HIGHS != 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        high |= b >= 0x80;
        i += 1;
    }
    (i, high)
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn literal_run_by_words(bytes: &[u8], escape_slash: bool, ascii_checked: bool) -> usize {
    literal_run_from(bytes, 0, escape_slash, ascii_checked)
}

/// `literal_run` from `i` on, eight bytes at a time.
fn literal_run_from(bytes: &[u8], mut i: usize, escape_slash: bool, ascii_checked: bool) -> usize {
    let high_mask = if ascii_checked { 0 } else { HIGHS };
    while i + 8 <= bytes.len() {
        let x = word(bytes, i);
        let mut stop = equal(x, b'"') | equal(x, b'\\') | below(x, 0x20) | (x & high_mask);
        if escape_slash {
            stop |= equal(x, b'/');
        }
        if stop != 0 {
            return i + first_match(stop);
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 || (escape_slash && b == b'/') || (!ascii_checked && b >= 0x80) {
            break;
        }
        i += 1;
    }
    i
}

/// The same scans sixteen (or thirty-two) bytes at a time with SSE2, which every x86_64 processor has; the last
/// bytes go through the word-at-a-time versions.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn load(bytes: &[u8], at: usize) -> __m128i {
        _mm_loadu_si128(bytes.as_ptr().add(at) as *const __m128i)
    }

    #[inline(always)]
    unsafe fn splat(b: u8) -> __m128i {
        _mm_set1_epi8(b as i8)
    }

    /// Bytes that stop every string scan: `"`, `\` and control characters.
    #[inline(always)]
    unsafe fn string_stops(x: __m128i) -> __m128i {
        let control = _mm_cmpeq_epi8(_mm_min_epu8(x, splat(0x1f)), x);
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, splat(b'"')), _mm_cmpeq_epi8(x, splat(b'\\'))), control)
    }

    #[inline(never)]
    pub unsafe fn whitespace(bytes: &[u8]) -> usize {
        // Runs are mostly indentation, a newline and then spaces: look for the first byte that
        // is not a space, then ask whether it is other whitespace.
        // Thirty-two bytes per step hold most indentation in one.
        let mut i = 1;
        while i + 32 <= bytes.len() {
            let low = _mm_movemask_epi8(_mm_cmpeq_epi8(load(bytes, i), splat(b' '))) as u32;
            let high = _mm_movemask_epi8(_mm_cmpeq_epi8(load(bytes, i + 16), splat(b' '))) as u32;
            let spaces = low | high << 16;
            if spaces == u32::MAX {
                i += 32;
                continue;
            }
            i += (!spaces).trailing_zeros() as usize;
            match bytes[i] {
                b'\n' | b'\r' | b'\t' => i += 1,
                _ => return i,
            }
        }
        i - 1 + super::whitespace_by_words(&bytes[i - 1..])
    }

    #[inline]
    pub unsafe fn string_body(bytes: &[u8]) -> (usize, bool) {
        let mut i = 0;
        let mut high = 0;
        while i + 16 <= bytes.len() {
            let x = load(bytes, i);
            let stop = _mm_movemask_epi8(string_stops(x));
            let x_high = _mm_movemask_epi8(x);
            if stop != 0 {
                let n = stop.trailing_zeros();
                high |= x_high & ((1 << n) - 1);
                return (i + n as usize, high != 0);
            }
            high |= x_high;
            i += 16;
        }
        let (n, tail_high) = super::string_body_from(bytes, i);
        (n, high != 0 || tail_high)
    }

    #[inline]
    pub unsafe fn literal_run(bytes: &[u8], escape_slash: bool, ascii_checked: bool) -> usize {
        let slash = if escape_slash { splat(b'/') } else { splat(b'"') };
        let high_mask = if ascii_checked { 0 } else { 0xffff };
        let mut i = 0;
        while i + 16 <= bytes.len() {
            let x = load(bytes, i);
            let stops = _mm_or_si128(string_stops(x), _mm_cmpeq_epi8(x, slash));
            let stop = _mm_movemask_epi8(stops) | (_mm_movemask_epi8(x) & high_mask);
            if stop != 0 {
                return i + stop.trailing_zeros() as usize;
            }
            i += 16;
        }
        super::literal_run_from(bytes, i, escape_slash, ascii_checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every function against its byte-by-byte definition, at every offset of inputs that
    /// put each interesting byte at each position of a word, with borrow-provoking neighbours.
    #[test]
    fn scans_match_their_byte_by_byte_definitions() {
        let specials: &[u8] = b" \n\r\t\"\\/\x00\x1f\x20\x21\x01!#[]\x7f\x80\xc3\xa9\xff a";
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for &a in specials {
            for &b in specials {
                for pos in 0..34 {
                    let mut v = vec![b' '; pos];
                    v.push(a);
                    v.push(b);
                    v.extend_from_slice(b"  xyz\"tail0123456789abcdefghijklmnopqrstuvwxyz");
                    inputs.push(v.clone());
                    let mut w = vec![b'a'; pos];
                    w.push(a);
                    w.push(b);
                    w.extend_from_slice(b"q\\r");
                    inputs.push(w);
                }
            }
        }
        // Indentation longer than one 32-byte step, ended or broken by each special byte.
        for &a in specials {
            for len in 0..80 {
                let mut v = b"\n".to_vec();
                v.resize(len + 1, b' ');
                v.push(a);
                v.extend_from_slice(b" \t\r\n   xyz");
                let ws = v.iter().take_while(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t')).count();
                assert_eq!(whitespace(&v), ws, "whitespace of {v:?}");
                assert_eq!(whitespace_by_words(&v), ws, "whitespace_by_words of {v:?}");
            }
        }
        for input in &inputs {
            for start in 0..input.len() {
                let s = &input[start..];
                let ws = s.iter().take_while(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t')).count();
                assert_eq!(whitespace(s), ws, "whitespace of {s:?}");
                if ws > 0 {
                    assert_eq!(whitespace_by_words(s), ws, "whitespace_by_words of {s:?}");
                }
                let body = s.iter().take_while(|&&b| b != b'"' && b != b'\\' && b >= 0x20).count();
                let expected = (body, s[..body].iter().any(|&b| b >= 0x80));
                assert_eq!(string_body(s), expected, "string_body of {s:?}");
                assert_eq!(string_body_by_words(s), expected, "string_body_by_words of {s:?}");
                for slash in [false, true] {
                    for checked in [false, true] {
                        let run = s
                            .iter()
                            .take_while(|&&b| {
                                !(b == b'"'
                                    || b == b'\\'
                                    || b < 0x20
                                    || (slash && b == b'/')
                                    || (!checked && b >= 0x80))
                            })
                            .count();
                        assert_eq!(literal_run(s, slash, checked), run, "literal_run of {s:?}");
                        assert_eq!(literal_run_by_words(s, slash, checked), run, "literal_run_by_words of {s:?}");
                    }
                }
            }
        }
    }
}
