//! PostgreSQL's binary forms (each type's `*_send`), read by type OID: every built-in type
//! essh reads, as a column's value, an array's element or a record's field. Numbers stay
//! numbers, NUMERIC and JSON come back as the server's text, dates and times as ISO 8601 for
//! any year PostgreSQL holds; network addresses, bit strings, geometric values, ranges and
//! multiranges as the text PostgreSQL writes for them (range bounds as essh reads their
//! element type), `timetz` as an ISO 8601 time with its offset, an anonymous record as a list.

use super::value::{float4, text_or_bytes, Cell};

/// How deep arrays and records nest within one value, at most.
const MOST_NESTED: usize = 32;

/// Refuses a value `depth` arrays or records deep, beyond [`MOST_NESTED`].
pub(super) fn within_nesting(depth: usize) -> Result<(), String> {
    if depth > MOST_NESTED {
        return Err(format!("arrays or records nested deeper than {MOST_NESTED}"));
    }
    Ok(())
}

/// A value of the type `oid` (its binary form, None for NULL), or why essh cannot read it.
pub fn scalar(oid: u32, b: Option<&[u8]>) -> Result<Cell, String> {
    nested(oid, b, 0)
}

/// A value `depth` arrays or records deep within another.
pub(super) fn nested(oid: u32, b: Option<&[u8]>, depth: usize) -> Result<Cell, String> {
    let Some(b) = b else { return Ok(Cell::Null) };
    within_nesting(depth)?;
    let mut r = Reader(b);
    let cell = match oid {
        16 => Cell::Bool(r.take(1)?[0] != 0),
        21 => Cell::Int(r.i16()? as i64),
        23 => Cell::Int(r.i32()? as i64),
        20 => Cell::Int(r.i64()?),
        700 => Cell::Float(float4(f32::from_bits(r.u32()?))),
        701 => Cell::Float(r.f64()?),
        // text, varchar, bpchar, name, json, xml, unknown, "char": their text.
        25 | 1043 | 1042 | 19 | 114 | 142 | 705 | 18 => text_or_bytes(r.rest().to_vec()),
        // jsonb: a version byte, then its text.
        3802 => {
            r.take(1)?;
            text_or_bytes(r.rest().to_vec())
        }
        17 => Cell::Bytes(r.rest().to_vec()),
        1700 => Cell::Text(numeric(r.rest())?),
        2950 => Cell::Text(uuid_text(r.take(16)?)),
        1186 => Cell::Text(pg_interval(r.rest())?),
        1083 => Cell::Text(pg_time(r.i64()?)),
        1266 => Cell::Text(time_with_zone(r.i64()?, r.i32()?)),
        1082 => Cell::Text(date(r.i32()? as i64)),
        1114 => Cell::Text(timestamp(r.i64()?, "")),
        1184 => Cell::Text(timestamp(r.i64()?, "Z")),
        869 | 650 => Cell::Text(inet(&mut r)?),
        829 => Cell::Text(mac(r.take(6)?)),
        774 => Cell::Text(mac(r.take(8)?)),
        1560 | 1562 => Cell::Text(bits(&mut r)?),
        600 => Cell::Text(point(&mut r)?),
        601 => Cell::Text(format!("[{},{}]", point(&mut r)?, point(&mut r)?)),
        603 => Cell::Text(format!("{},{}", point(&mut r)?, point(&mut r)?)),
        602 => {
            let closed = r.take(1)?[0] != 0;
            let points = points(&mut r)?;
            Cell::Text(if closed { format!("({points})") } else { format!("[{points}]") })
        }
        604 => Cell::Text(format!("({})", points(&mut r)?)),
        628 => Cell::Text(format!("{{{},{},{}}}", float(r.f64()?), float(r.f64()?), float(r.f64()?))),
        718 => Cell::Text(format!("<{},{}>", point(&mut r)?, float(r.f64()?))),
        3220 => {
            let lsn = r.u64()?;
            Cell::Text(format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff))
        }
        27 => Cell::Text(format!("({},{})", r.u32()?, r.u16()?)),
        // oid, xid, cid
        26 | 28 | 29 => Cell::Int(r.u32()? as i64),
        5069 => match r.u64()? {
            n if n > i64::MAX as u64 => Cell::BigUnsigned(n),
            n => Cell::Int(n as i64),
        },
        2249 => Cell::List(record(r.rest())?.into_iter().map(|(oid, b)| nested(oid, b, depth + 1)).collect::<Result<_, _>>()?),
        oid if ARRAYS.contains(&oid) => super::pg_array::cells(r.rest(), depth + 1, &nested)?,
        790 => return Err("its text follows the server's locale: cast it in the query (::numeric)".into()),
        _ => {
            if let Some(element) = range_element(oid) {
                Cell::Text(range(element, r.rest())?)
            } else if let Some(element) = multirange_element(oid) {
                let count = r.i32()?;
                let mut ranges = Vec::with_capacity((count.max(0) as usize).min(r.0.len() / 5));
                for _ in 0..count {
                    let bytes = r.element()?.ok_or("a NULL range inside a multirange")?;
                    ranges.push(range(element, bytes)?);
                }
                Cell::Text(format!("{{{}}}", ranges.join(",")))
            } else {
                return Err(format!("a type essh does not read yet (OID {oid}): cast it in the query (::text)"));
            }
        }
    };
    if !r.0.is_empty() {
        return Err(format!("{} bytes after a value of the type of OID {oid}", r.0.len()));
    }
    Ok(cell)
}

/// The array types of the types essh reads, and int2vector and oidvector (arrays in their
/// binary form): values in a record say only their type.
const ARRAYS: &[u32] = &[
    22, 30, 1000, 1001, 1002, 1003, 1005, 1007, 1009, 1010, 1011, 1012, 1014, 1015, 1016, 1017, 1018, 1019, 1020, 1021, 1022,
    1027, 1028, 1040, 1041, 651, 775, 1115, 1182, 1183, 1185, 1187, 1231, 1270, 1561, 1563, 2951, 199, 3807, 143, 629, 719,
    3905, 3907, 3909, 3911, 3913, 3927, 3221, 2287,
];

/// A field of a record: its type's OID and its binary form (None for NULL).
pub type Field<'a> = (u32, Option<&'a [u8]>);

/// A record's fields in their binary form (`record_send`): a count of fields, then each
/// field's type and value.
pub fn record(b: &[u8]) -> Result<Vec<Field<'_>>, String> {
    let mut r = Reader(b);
    let count = r.i32()?;
    let mut fields = Vec::with_capacity((count.max(0) as usize).min(r.0.len() / 8));
    for _ in 0..count {
        let oid = r.u32()?;
        fields.push((oid, r.element()?));
    }
    if !r.0.is_empty() {
        return Err(format!("{} bytes after a record's fields", r.0.len()));
    }
    Ok(fields)
}

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const EPOCH_DAYS: i64 = 10_957;

/// The proleptic Gregorian year, month and day `days` after 1970-01-01, for any count of days
/// (PostgreSQL's dates reach years chrono does not).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A date `days` after PostgreSQL's epoch, ISO 8601 (years before 1 AD counted from 0, as
/// ISO 8601 does, with their sign; years past 9999 with a `+`).
fn date(days: i64) -> String {
    if let Some(word) = pg_infinity_of(days, i32::MAX as i64, i32::MIN as i64) {
        return word.to_string();
    }
    let (year, month, day) = civil(days + EPOCH_DAYS);
    let year = match year {
        0..=9999 => format!("{year:04}"),
        y if y < 0 => format!("-{:04}", -y),
        y => format!("+{y}"),
    };
    format!("{year}-{month:02}-{day:02}")
}

/// A timestamp of `us` microseconds after PostgreSQL's epoch, ISO 8601 (its fraction in
/// milliseconds or microseconds) with `zone` after it.
fn timestamp(us: i64, zone: &str) -> String {
    if let Some(word) = pg_infinity_of(us, i64::MAX, i64::MIN) {
        return word.to_string();
    }
    const DAY: i64 = 86_400_000_000;
    let (days, of_day) = (us.div_euclid(DAY), us.rem_euclid(DAY));
    let (seconds, fraction) = (of_day / 1_000_000, of_day % 1_000_000);
    let fraction = match fraction {
        0 => String::new(),
        f if f % 1000 == 0 => format!(".{:03}", f / 1000),
        f => format!(".{f:06}"),
    };
    format!("{}T{:02}:{:02}:{:02}{fraction}{zone}", date(days), seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// A `timetz`: its time, and its zone as seconds west of UTC, written as an ISO 8601 offset.
fn time_with_zone(us: i64, west: i32) -> String {
    let east = -(west as i64);
    let (sign, east) = if east < 0 { ('-', -east) } else { ('+', east) };
    let (h, m, s) = (east / 3600, east / 60 % 60, east % 60);
    let seconds = if s == 0 { String::new() } else { format!(":{s:02}") };
    format!("{}{sign}{h:02}:{m:02}{seconds}", pg_time(us))
}

/// An `inet` or `cidr`: family, prefix length, whether it is a cidr, the address; written as
/// PostgreSQL writes it (a cidr, or an inet short of a host address, with its prefix length).
fn inet(r: &mut Reader) -> Result<String, String> {
    let head = r.take(4)?;
    let (family, bits, is_cidr, size) = (head[0], head[1], head[2] != 0, head[3] as usize);
    let address = r.take(size)?;
    let (text, whole) = match (family, size) {
        (2, 4) => (format!("{}.{}.{}.{}", address[0], address[1], address[2], address[3]), 32),
        (3, 16) => (ipv6(address), 128),
        _ => return Err(format!("an address of family {family} and {size} bytes")),
    };
    Ok(if is_cidr || bits != whole { format!("{text}/{bits}") } else { text })
}

/// An IPv6 address as PostgreSQL writes it: the longest run of two or more zero groups as
/// `::`, and the last 32 bits dotted where the address embeds an IPv4 one.
fn ipv6(b: &[u8]) -> String {
    let words: Vec<u16> = b.chunks(2).map(|w| u16::from_be_bytes([w[0], w[1]])).collect();
    let (mut best, mut run) = ((0usize, 0usize), (0usize, 0usize));
    for (i, &w) in words.iter().enumerate() {
        if w == 0 {
            run = if run.1 == 0 { (i, 1) } else { (run.0, run.1 + 1) };
            if run.1 > best.1 {
                best = run;
            }
        } else {
            run = (0, 0);
        }
    }
    if best.1 < 2 {
        best = (0, 0);
    }
    let embeds_ipv4 = best.0 == 0 && (best.1 == 6 || (best.1 == 7 && words[7] != 1) || (best.1 == 5 && words[5] == 0xffff));
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if best.1 > 0 && i == best.0 {
            out.push(':');
            i += best.1;
            if i == 8 {
                out.push(':');
            }
            continue;
        }
        if i > 0 {
            out.push(':');
        }
        if i == 6 && embeds_ipv4 {
            out.push_str(&format!("{}.{}.{}.{}", b[12], b[13], b[14], b[15]));
            break;
        }
        out.push_str(&format!("{:x}", words[i]));
        i += 1;
    }
    out
}

fn mac(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

/// A `bit` or `varbit`: its length in bits, then the bits, the first one highest.
fn bits(r: &mut Reader) -> Result<String, String> {
    let n = usize::try_from(r.i32()?).map_err(|_| "a negative bit length")?;
    let bytes = r.take(n.div_ceil(8))?;
    Ok((0..n).map(|i| if bytes[i / 8] & (0x80 >> (i % 8)) != 0 { '1' } else { '0' }).collect())
}

fn point(r: &mut Reader) -> Result<String, String> {
    Ok(format!("({},{})", float(r.f64()?), float(r.f64()?)))
}

/// A count of points, then the points, comma separated.
fn points(r: &mut Reader) -> Result<String, String> {
    let n = r.i32()?;
    let mut out = Vec::with_capacity((n.max(0) as usize).min(r.0.len() / 16));
    for _ in 0..n {
        out.push(point(r)?);
    }
    Ok(out.join(","))
}

/// A float as PostgreSQL writes it: the shortest digits that read back as the same value,
/// in exponent form below 1e-4 and from 1e15 on.
fn float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let scientific = format!("{x:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..15).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    format!("{x}")
}

/// The element type of a built-in range type.
fn range_element(oid: u32) -> Option<u32> {
    Some(match oid {
        3904 => 23,
        3926 => 20,
        3906 => 1700,
        3908 => 1114,
        3910 => 1184,
        3912 => 1082,
        _ => return None,
    })
}

/// The element type of a built-in multirange type.
fn multirange_element(oid: u32) -> Option<u32> {
    Some(match oid {
        4451 => 23,
        4536 => 20,
        4532 => 1700,
        4533 => 1114,
        4534 => 1184,
        4535 => 1082,
        _ => return None,
    })
}

/// A range: its flags, then the bounds it has, each as a length and its element's binary form.
fn range(element: u32, b: &[u8]) -> Result<String, String> {
    const EMPTY: u8 = 0x01;
    const LOWER_INCLUSIVE: u8 = 0x02;
    const UPPER_INCLUSIVE: u8 = 0x04;
    const LOWER_INFINITE: u8 = 0x08;
    const UPPER_INFINITE: u8 = 0x10;
    let mut r = Reader(b);
    let flags = r.take(1)?[0];
    if flags & EMPTY != 0 {
        return Ok("empty".into());
    }
    let mut bound = |infinite: u8| -> Result<String, String> {
        if flags & infinite != 0 {
            return Ok(String::new());
        }
        match scalar(element, Some(r.element()?.ok_or("a NULL range bound")?))? {
            Cell::Int(n) => Ok(n.to_string()),
            Cell::Text(t) => Ok(t),
            _ => Err("a range bound essh cannot write".into()),
        }
    };
    let (lower, upper) = (bound(LOWER_INFINITE)?, bound(UPPER_INFINITE)?);
    let open = if flags & LOWER_INCLUSIVE != 0 { '[' } else { '(' };
    let close = if flags & UPPER_INCLUSIVE != 0 { ']' } else { ')' };
    if !r.0.is_empty() {
        return Err(format!("{} bytes after a range", r.0.len()));
    }
    Ok(format!("{open}{lower},{upper}{close}"))
}

/// `infinity` for a date or timestamp at `max`, `-infinity` at `min`.
fn pg_infinity_of(value: i64, max: i64, min: i64) -> Option<&'static str> {
    match value {
        v if v == max => Some("infinity"),
        v if v == min => Some("-infinity"),
        _ => None,
    }
}

/// PostgreSQL's INTERVAL in its binary form (microseconds, days, months) as ISO 8601, as the
/// server writes it with `intervalstyle = iso_8601` (each part keeps its own sign).
fn pg_interval(b: &[u8]) -> Result<String, String> {
    let b: &[u8; 16] = b.try_into().map_err(|_| format!("an interval of {} bytes", b.len()))?;
    let us = i64::from_be_bytes(b[0..8].try_into().unwrap_or_default());
    let days = i32::from_be_bytes(b[8..12].try_into().unwrap_or_default());
    let months = i32::from_be_bytes(b[12..16].try_into().unwrap_or_default());
    let (hours, minutes) = (us / 3_600_000_000, us / 60_000_000 % 60);
    let (seconds, fraction) = (us / 1_000_000 % 60, us % 1_000_000);
    if months == 0 && days == 0 && us == 0 {
        return Ok("PT0S".to_string());
    }
    let mut out = String::from("P");
    for (n, unit) in [(months as i64 / 12, 'Y'), (months as i64 % 12, 'M'), (days as i64, 'D')] {
        if n != 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if us != 0 {
        out.push('T');
        for (n, unit) in [(hours, 'H'), (minutes, 'M')] {
            if n != 0 {
                out.push_str(&format!("{n}{unit}"));
            }
        }
        if seconds != 0 || fraction != 0 {
            let sign = if seconds < 0 || fraction < 0 { "-" } else { "" };
            let whole = format!("{sign}{}", seconds.abs());
            let text = if fraction == 0 { whole } else { format!("{whole}.{:06}", fraction.abs()).trim_end_matches('0').to_string() };
            out.push_str(&text);
            out.push('S');
        }
    }
    Ok(out)
}

/// PostgreSQL's TIME (microseconds since midnight, up to 24:00:00, which no time-of-day type
/// holds) as text.
fn pg_time(us: i64) -> String {
    let (seconds, fraction) = (us / 1_000_000, us % 1_000_000);
    let text = format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    if fraction == 0 {
        return text;
    }
    format!("{text}.{fraction:06}").trim_end_matches('0').to_string()
}

fn uuid_text(b: &[u8]) -> String {
    let h = crate::crypto::to_hex(b);
    if h.len() != 32 {
        return h;
    }
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// PostgreSQL's binary NUMERIC as decimal text: ndigits, weight, sign, dscale, then base-10000
/// digits.
fn numeric(b: &[u8]) -> Result<String, String> {
    if b.len() < 8 {
        return Err("a NUMERIC shorter than its header".into());
    }
    let word = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let (ndigits, weight, sign, dscale) = (word(0) as usize, word(2) as i16 as i32, word(4), word(6) as usize);
    if sign == 0xC000 {
        return Ok("NaN".into());
    }
    if sign == 0xD000 {
        return Ok("Infinity".into());
    }
    if sign == 0xF000 {
        return Ok("-Infinity".into());
    }
    if b.len() < 8 + 2 * ndigits {
        return Err("a NUMERIC shorter than its digits".into());
    }
    let digits: Vec<u16> = (0..ndigits).map(|k| word(8 + 2 * k)).collect();
    let mut int = String::new();
    for k in 0..=weight.max(-1) {
        let d = digits.get(k as usize).copied().unwrap_or(0);
        if int.is_empty() {
            if d != 0 || k == weight {
                int.push_str(&d.to_string());
            }
        } else {
            int.push_str(&format!("{d:04}"));
        }
    }
    if int.is_empty() {
        int.push('0');
    }
    let mut frac = String::new();
    let mut k = weight + 1;
    while frac.len() < dscale {
        let d = if k < 0 { 0 } else { digits.get(k as usize).copied().unwrap_or(0) };
        frac.push_str(&format!("{d:04}"));
        k += 1;
    }
    frac.truncate(dscale);
    let mut out = if sign == 0x4000 { format!("-{int}") } else { int };
    if dscale > 0 {
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

/// Reads a binary form from its start.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("a value cut short".to_string());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// What is left.
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        self.take(N)?.try_into().map_err(|_| "a value cut short".to_string())
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_bits(u64::from_be_bytes(self.array()?)))
    }

    /// An element: its bytes, or None for NULL (a length of -1).
    pub fn element(&mut self) -> Result<Option<&'a [u8]>, String> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(oid: u32, b: &[u8]) -> String {
        match scalar(oid, Some(b)).unwrap() {
            Cell::Text(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn writes_dates_of_any_year_as_iso_8601_does() {
        for days in (-3_000_000..3_000_000).step_by(997) {
            let expected = (chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Duration::days(days)).format("%Y-%m-%d").to_string();
            assert_eq!(date(days), expected, "{days}");
        }
        assert_eq!(date(-EPOCH_DAYS), "1970-01-01");
        assert_eq!(date(-2_451_507), "-4712-01-01");
        assert_eq!(date(2_145_031_948), "+5874897-12-31");
        assert_eq!(date(i32::MAX as i64), "infinity");
        assert_eq!(timestamp(-1, "Z"), "1999-12-31T23:59:59.999999Z");
        assert_eq!(timestamp(1_500, ""), "2000-01-01T00:00:00.001500");
        assert_eq!(timestamp(86_400_000_000 + 500_000, ""), "2000-01-02T00:00:00.500");
        assert_eq!(timestamp(9_223_371_331_199_999_000, ""), "+294276-12-31T23:59:59.999");
    }

    #[test]
    fn reads_records_field_by_field() {
        let fields = [&2i32.to_be_bytes()[..], &23u32.to_be_bytes(), &4i32.to_be_bytes(), &7i32.to_be_bytes(), &25u32.to_be_bytes(), &(-1i32).to_be_bytes()].concat();
        assert_eq!(scalar(2249, Some(&fields)).unwrap(), Cell::List(vec![Cell::Int(7), Cell::Null]));
        assert!(record(&fields[..fields.len() - 1]).is_err());
        let mut deep = fields.clone();
        for _ in 0..40 {
            deep = [&1i32.to_be_bytes()[..], &2249u32.to_be_bytes(), &(deep.len() as i32).to_be_bytes(), &deep].concat();
        }
        assert!(scalar(2249, Some(&deep)).unwrap_err().contains("deeper than 32"));
    }

    #[test]
    fn writes_floats_as_postgresql_does() {
        for (x, want) in [(1.5, "1.5"), (0.0, "0"), (-0.0, "-0"), (1e15, "1e+15"), (1e14, "100000000000000"), (1e-5, "1e-05"), (0.0001, "0.0001"), (0.1 + 0.2, "0.30000000000000004"), (-2.5e-300, "-2.5e-300"), (f64::NAN, "NaN"), (f64::NEG_INFINITY, "-Infinity")] {
            assert_eq!(float(x), want);
        }
    }

    #[test]
    fn writes_addresses_as_postgresql_does() {
        let v6 = |words: [u16; 8]| words.iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>();
        assert_eq!(ipv6(&v6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1])), "2001:db8::1:0:0:1");
        assert_eq!(ipv6(&v6([0, 0, 0, 0, 0, 0, 0, 0])), "::");
        assert_eq!(ipv6(&v6([0, 0, 0, 0, 0, 0, 0, 1])), "::1");
        assert_eq!(ipv6(&v6([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304])), "::ffff:1.2.3.4");
        assert_eq!(ipv6(&v6([1, 0, 0, 0, 0, 0, 0, 0])), "1::");
        assert_eq!(ipv6(&v6([1, 0, 2, 0, 0, 3, 0, 4])), "1:0:2::3:0:4");
        assert_eq!(text(869, &[2, 24, 0, 4, 10, 0, 0, 1]), "10.0.0.1/24");
        assert_eq!(text(869, &[2, 32, 0, 4, 10, 0, 0, 1]), "10.0.0.1");
        assert_eq!(text(650, &[2, 32, 1, 4, 10, 0, 0, 1]), "10.0.0.1/32");
        assert!(scalar(869, Some(&[2, 32, 0, 16, 10, 0, 0, 1])).is_err());
    }

    #[test]
    fn reads_bits_ranges_and_zones() {
        assert_eq!(text(1562, &[0, 0, 0, 10, 0b1010_0000, 0b0100_0000]), "1010000001");
        assert_eq!(text(1266, &[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xe3, 0xe0]), "00:00:00+02:00");
        let int4 = |n: i32| [&4i32.to_be_bytes()[..], &n.to_be_bytes()].concat();
        assert_eq!(text(3904, &[&[0x02][..], &int4(1), &int4(10)].concat()), "[1,10)");
        assert_eq!(text(3904, &[0x01]), "empty");
        assert_eq!(text(3904, &[&[0x12][..], &int4(3)].concat()), "[3,)");
        let range = [&[0x02][..], &int4(1), &int4(2)].concat();
        let multi = [&2i32.to_be_bytes()[..], &(range.len() as i32).to_be_bytes(), &range, &(range.len() as i32).to_be_bytes(), &range].concat();
        assert_eq!(text(4451, &multi), "{[1,2),[1,2)}");
        assert!(scalar(3904, Some(&[0x02, 0, 0, 0, 4, 0, 0])).is_err());
        assert!(scalar(790, Some(&[0; 8])).is_err());
    }

    #[test]
    fn writes_postgres_intervals_as_its_iso_8601_style_does() {
        let interval = |us: i64, days: i32, months: i32| {
            let mut b = us.to_be_bytes().to_vec();
            b.extend(days.to_be_bytes());
            b.extend(months.to_be_bytes());
            pg_interval(&b).unwrap()
        };
        assert_eq!(interval(0, 0, 0), "PT0S");
        assert_eq!(interval(14_706_789_000, 3, 14), "P1Y2M3DT4H5M6.789S");
        assert_eq!(interval(-500_000, 0, 0), "PT-0.5S");
        assert_eq!(interval(-1_000_000, 0, 1), "P1MT-1S");
        assert_eq!(interval(0, -1, -13), "P-1Y-1M-1D");
        assert!(pg_interval(&[0; 15]).is_err());
    }

    #[test]
    fn reads_postgres_times_up_to_24_hours() {
        assert_eq!(pg_time(86_400_000_000), "24:00:00");
        assert_eq!(pg_time(86_399_500_000), "23:59:59.5");
        assert_eq!(pg_time(0), "00:00:00");
        assert_eq!(pg_time(1), "00:00:00.000001");
    }

    fn numeric_of(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> String {
        let mut b = Vec::new();
        for w in [ndigits, weight as u16, sign, dscale] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            b.extend_from_slice(&d.to_be_bytes());
        }
        numeric(&b).unwrap()
    }

    #[test]
    fn reads_postgres_numerics() {
        assert_eq!(numeric_of(2, 0, 0, 2, &[12, 3400]), "12.34");
        assert_eq!(numeric_of(3, 2, 0x4000, 0, &[1, 2345, 6789]), "-123456789");
        assert_eq!(numeric_of(1, -1, 0, 4, &[5]), "0.0005");
        assert_eq!(numeric_of(0, 0, 0, 2, &[]), "0.00");
        assert_eq!(numeric_of(1, 1, 0, 0, &[7]), "70000");
        assert_eq!(numeric_of(0, 0, 0xC000, 0, &[]), "NaN");
    }
}
