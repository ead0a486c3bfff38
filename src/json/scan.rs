//! Word-at-a-time byte scans for the JSON hot loops: eight bytes per step, portable (SWAR).
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
#[inline]
pub fn whitespace(bytes: &[u8]) -> usize {
    // Most calls find no whitespace at all, or one space after a colon.
    match bytes.first() {
        Some(b' ' | b'\n' | b'\r' | b'\t') => {}
        _ => return 0,
    }
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

/// The leading run of a JSON string's body that decodes to itself: no `"`, `\` or control
/// character. Returns its length and whether it holds any non-ASCII byte.
#[inline]
pub fn string_body(bytes: &[u8]) -> (usize, bool) {
    let mut i = 0;
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

/// The leading run of bytes that a JSON string literal holds as they are, stopping also at the
/// first non-ASCII byte unless `ascii_checked` (the caller validates UTF-8 from there).
#[inline]
pub fn literal_run(bytes: &[u8], escape_slash: bool, ascii_checked: bool) -> usize {
    let high_mask = if ascii_checked { 0 } else { HIGHS };
    let mut i = 0;
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
                for pos in 0..18 {
                    let mut v = vec![b' '; pos];
                    v.push(a);
                    v.push(b);
                    v.extend_from_slice(b"  xyz\"tail0123456789");
                    inputs.push(v.clone());
                    let mut w = vec![b'a'; pos];
                    w.push(a);
                    w.push(b);
                    w.extend_from_slice(b"q\\r");
                    inputs.push(w);
                }
            }
        }
        for input in &inputs {
            for start in 0..input.len() {
                let s = &input[start..];
                let ws = s.iter().take_while(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t')).count();
                assert_eq!(whitespace(s), ws, "whitespace of {s:?}");
                let body = s.iter().take_while(|&&b| b != b'"' && b != b'\\' && b >= 0x20).count();
                assert_eq!(string_body(s), (body, s[..body].iter().any(|&b| b >= 0x80)), "string_body of {s:?}");
                for slash in [false, true] {
                    for checked in [false, true] {
                        let run = s
                            .iter()
                            .take_while(|&&b| {
                                !(b == b'"' || b == b'\\' || b < 0x20 || (slash && b == b'/') || (!checked && b >= 0x80))
                            })
                            .count();
                        assert_eq!(literal_run(s, slash, checked), run, "literal_run of {s:?}");
                    }
                }
            }
        }
    }
}
