//! Decimal to binary64 conversion for the decoder, from the digits its own scan has valued:
//! Clinger's exact fast path, then the Eisel-Lemire algorithm (as in fast_float and Rust's
//! `core::num::dec2flt`). Both give the correctly rounded result or none at all; the rare
//! number neither can decide goes to the standard library's parser.

use super::pow5::{LARGEST_POWER_OF_FIVE, POWER_OF_FIVE_128, SMALLEST_POWER_OF_FIVE};

/// Decimal digits a `u64` always holds.
pub const MAX_DIGITS: usize = 19;

/// The float nearest to `mantissa` × 10^`exponent`, negated when `negative`: infinite when it
/// overflows, None when it cannot be decided here.
#[inline]
pub fn decimal_to_f64(mantissa: u64, exponent: i64, negative: bool) -> Option<f64> {
    let magnitude = match exact(mantissa, exponent) {
        Some(f) => f,
        None => eisel_lemire(mantissa, exponent)?,
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// The powers of ten a binary64 holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Clinger's fast path: when the mantissa and the power of ten are both exact binary64 values,
/// one correctly rounded multiplication or division is the answer.
#[inline]
fn exact(mantissa: u64, exponent: i64) -> Option<f64> {
    if mantissa > 1 << 53 || !(-22..=22).contains(&exponent) {
        return None;
    }
    let m = mantissa as f64;
    let power = EXACT_POWERS_OF_TEN[exponent.unsigned_abs() as usize];
    Some(if exponent < 0 { m / power } else { m * power })
}

const MANTISSA_BITS: i32 = 52;
const MINIMUM_EXPONENT: i32 = -1023;
const INFINITE_POWER: i32 = 0x7FF;
const MIN_EXPONENT_ROUND_TO_EVEN: i64 = -4;
const MAX_EXPONENT_ROUND_TO_EVEN: i64 = 23;

fn eisel_lemire(mantissa: u64, exponent: i64) -> Option<f64> {
    if mantissa == 0 || exponent < SMALLEST_POWER_OF_FIVE {
        return Some(0.0);
    }
    if exponent > LARGEST_POWER_OF_FIVE {
        return Some(f64::INFINITY);
    }
    let leading_zeros = mantissa.leading_zeros();
    let w = mantissa << leading_zeros;
    let (lo, hi) = product_approximation(exponent, w);
    // A product that may be off by one in its low word only decides the rounding when 5^q is
    // exactly representable in the 128 bits (q in [-27, 55]).
    if lo == u64::MAX && !(-27..=55).contains(&exponent) {
        return None;
    }
    let upper_bit = (hi >> 63) as i32;
    let shift = upper_bit + 64 - MANTISSA_BITS - 3;
    let mut m = hi >> shift;
    let mut power2 = power_of_two(exponent as i32) + upper_bit - leading_zeros as i32 - MINIMUM_EXPONENT;
    if power2 <= 0 {
        // Subnormal, or below the smallest subnormal.
        if -power2 + 1 >= 64 {
            return Some(0.0);
        }
        m >>= -power2 + 1;
        m += m & 1;
        m >>= 1;
        let biased = (m >= 1 << MANTISSA_BITS) as u64;
        return Some(f64::from_bits((biased << MANTISSA_BITS) | (m & ((1 << MANTISSA_BITS) - 1))));
    }
    // Exactly halfway between two floats: round to even, not up.
    if lo <= 1
        && (MIN_EXPONENT_ROUND_TO_EVEN..=MAX_EXPONENT_ROUND_TO_EVEN).contains(&exponent)
        && m & 3 == 1
        && (m << shift) == hi
    {
        m &= !1;
    }
    m += m & 1;
    m >>= 1;
    if m >= 2 << MANTISSA_BITS {
        m = 1 << MANTISSA_BITS;
        power2 += 1;
    }
    m &= !(1 << MANTISSA_BITS);
    if power2 >= INFINITE_POWER {
        return Some(f64::INFINITY);
    }
    Some(f64::from_bits(((power2 as u64) << MANTISSA_BITS) | m))
}

/// floor(log2(10^q)) + 63, for q in the table's range.
#[inline]
fn power_of_two(q: i32) -> i32 {
    (q.wrapping_mul(152_170 + 65536) >> 16) + 63
}

/// The high 128 bits of `w` × 5^`q`, as (low, high) words, exact in the bits that decide a
/// binary64's mantissa and rounding.
#[inline]
fn product_approximation(q: i64, w: u64) -> (u64, u64) {
    const MASK: u64 = u64::MAX >> (MANTISSA_BITS + 3);
    let (high5, low5) = POWER_OF_FIVE_128[(q - SMALLEST_POWER_OF_FIVE) as usize];
    let first = w as u128 * high5 as u128;
    let (mut lo, mut hi) = (first as u64, (first >> 64) as u64);
    if hi & MASK == MASK {
        let second_hi = ((w as u128 * low5 as u128) >> 64) as u64;
        lo = lo.wrapping_add(second_hi);
        if second_hi > lo {
            hi += 1;
        }
    }
    (lo, hi)
}

/// How many of the 8 bytes of `chunk` (little-endian), from the first, are ASCII digits.
#[inline(always)]
pub fn leading_digits(chunk: u64) -> usize {
    // A byte's top bit is set here when it is not a digit; carries and borrows only reach the
    // bytes after the first non-digit.
    let above = chunk.wrapping_add(0x4646_4646_4646_4646);
    let below = chunk.wrapping_sub(0x3030_3030_3030_3030);
    ((above | below) & 0x8080_8080_8080_8080).trailing_zeros() as usize / 8
}

/// The value of 8 ASCII digits read little-endian (first digit in the low byte).
#[inline(always)]
pub fn eight_digits(chunk: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 0x000F_4240_0000_0064;
    const MUL2: u64 = 0x0000_2710_0000_0001;
    let mut v = chunk - 0x3030_3030_3030_3030;
    v = (v * 10) + (v >> 8);
    let v1 = (v & MASK).wrapping_mul(MUL1);
    let v2 = ((v >> 16) & MASK).wrapping_mul(MUL2);
    ((v1.wrapping_add(v2) >> 32) as u32) as u64
}

/// Eight ASCII '0's, one per byte.
pub const ASCII_ZEROS: u64 = 0x3030_3030_3030_3030;
const POWERS_OF_TEN: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// Reads the ASCII digits from `i` on into `value` (wrapping past 19 digits), eight bytes at a
/// time; returns where they end.
#[inline(always)]
pub fn digits(src: &[u8], mut i: usize, value: &mut u64) -> usize {
    while let Some(chunk) = src.get(i..i + 8) {
        let chunk = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let n = leading_digits(chunk);
        if n == 0 {
            return i;
        }
        // The digits, moved to the end of the chunk behind leading '0's.
        let shift = 8 * (8 - n) as u32;
        let padded = chunk.checked_shl(shift).unwrap_or(0) | ASCII_ZEROS.checked_shr(64 - shift).unwrap_or(0);
        *value = value.wrapping_mul(POWERS_OF_TEN[n]).wrapping_add(eight_digits(padded));
        i += n;
        if n < 8 {
            return i;
        }
    }
    while let Some(&b) = src.get(i) {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        *value = value.wrapping_mul(10).wrapping_add(digit as u64);
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` the way the decoder does, through `digits` and `decimal_to_f64`.
    fn parse(text: &str) -> Option<f64> {
        let src = text.as_bytes();
        let negative = src[0] == b'-';
        let mut mantissa = 0;
        let int_start = negative as usize;
        let mut i = digits(src, int_start, &mut mantissa);
        let mut count = i - int_start;
        let mut exponent = 0i64;
        if src.get(i) == Some(&b'.') {
            let frac_start = i + 1;
            i = digits(src, frac_start, &mut mantissa);
            exponent = -((i - frac_start) as i64);
            count += i - frac_start;
        }
        if matches!(src.get(i), Some(b'e' | b'E')) {
            exponent += text[i + 1..].parse::<i64>().unwrap();
        }
        let leading_zeros = src[int_start..].iter().take_while(|&&b| b == b'0' || b == b'.').filter(|&&b| b == b'0');
        if count - leading_zeros.count() > MAX_DIGITS {
            return None;
        }
        decimal_to_f64(mantissa, exponent, negative)
    }

    fn check(text: &str) {
        let expected: f64 = text.parse().unwrap();
        if let Some(got) = parse(text) {
            assert_eq!(got.to_bits(), expected.to_bits(), "{text}: {got:e} instead of {expected:e}");
        }
    }

    #[test]
    fn digits_are_read_eight_at_a_time() {
        assert_eq!(leading_digits(u64::from_le_bytes(*b"01234567")), 8);
        assert_eq!(leading_digits(u64::from_le_bytes(*b"0123456.")), 7);
        assert_eq!(leading_digits(u64::from_le_bytes(*b"/0123456")), 0);
        assert_eq!(leading_digits(u64::from_le_bytes(*b"12:45678")), 2);
        assert_eq!(leading_digits(u64::from_le_bytes(*b"9\xb0\xb134567")), 1);
        assert_eq!(eight_digits(u64::from_le_bytes(*b"12345678")), 12_345_678);
        assert_eq!(eight_digits(u64::from_le_bytes(*b"00000009")), 9);
        let text = b"12345678901234567,8901234.5e";
        for start in 0..text.len() {
            for end in start..text.len() {
                let mut value = 0;
                let stop = digits(&text[..end], start, &mut value);
                let run = text[start..end].iter().take_while(|b| b.is_ascii_digit()).count();
                assert_eq!(stop, start + run, "{start}..{end}");
                let expected = text[start..start + run]
                    .iter()
                    .fold(0u64, |v, b| v.wrapping_mul(10).wrapping_add((b - b'0') as u64));
                assert_eq!(value, expected, "{start}..{end}");
            }
        }
    }

    #[test]
    fn hard_cases_match_the_standard_library() {
        for text in [
            "0.0",
            "-0.0",
            "1.0",
            "0.1",
            "0.3",
            "1e23",
            "8.98846567431158e307",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.8e308",
            "2.2250738585072014e-308",
            "2.2250738585072011e-308",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "5e-324",
            "1e-400",
            "9007199254740993",
            "9007199254740993.0",
            "9007199254740992.9999999",
            "2.0000000000000004",
            "1.00000000000000011102230246251565404236316680908203125",
            "7.2057594037927933e16",
            "-65.61361699999998",
            "3.0540412e5",
            "0.000001",
            "123456789012345678e-5",
            "1.5e-7",
            "1e22",
            "1e-22",
            "9.5e22",
            "4.35e-20",
            "3.4028236692093846346e38",
        ] {
            check(text);
        }
    }

    #[test]
    fn every_power_of_ten_matches_the_standard_library() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for q in -360..=320i64 {
            for _ in 0..40 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let digits = 1 + (seed >> 59) as u32 % 19;
                let mantissa = seed % 10u64.pow(digits);
                check(&format!("{mantissa}e{q}"));
                check(&format!("{mantissa}.5e{q}"));
            }
        }
    }

    #[test]
    fn shortest_round_trips_read_back_exactly() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let f = f64::from_bits(seed);
            if f.is_finite() {
                let text = format!("{f:e}");
                let got = parse(&text).unwrap_or(f);
                assert_eq!(got.to_bits(), f.to_bits(), "{text}");
                check(&format!("{f}"));
            }
        }
    }
}
