//! time: wall-clock and monotonic time, scheduler-aware sleep, formatting and parsing
//! (strftime formats and ISO 8601), and durations such as "1m30s".

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use mlua::{Lua, Result, Table};

use crate::error;
use crate::func;
use crate::bridge::{export, Class, ModuleDef};
use crate::runtime::export_waiting;
use crate::runtime;

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "time",
    description: "Wall-clock and monotonic time, sleep, strftime/ISO 8601 formatting and parsing, durations",
    classes: &[Class::Nondeterministic],
    functions: &[
        func!("now", "Seconds since the Unix epoch, with a fraction.", [], [seconds: "number"]),
        func!("monotonic", "Seconds from a clock that never goes back (same as runtime.monotonic).", [], [seconds: "number"]),
        func!("sleep", "Waits (yields inside a task, blocks elsewhere).", [seconds: "number"], []),
        func!("format", "Formats a time (default now) with strftime codes; a leading ! means UTC, else local time. No format (or \"iso\") gives ISO 8601 with the offset.", [t: "number?", format: "string?"], [text: "string"]),
        func!("parse", "Reads a time: ISO 8601 / RFC 3339 without a format, else strftime codes (local time, or UTC after a leading !).", [text: "string", format: "string?"], [seconds: "number?", err: "essh.Error?"]),
        func!("duration", "Seconds in a duration such as \"1h30m\", \"90s\", \"1.5m\", \"250ms\", \"2d\" or \"10\".", [text: "string"], [seconds: "number?", err: "essh.Error?"]),
    ],
    constants: &[],
    types: &[],
    build,
};

fn now() -> f64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    d.as_secs_f64()
}

fn to_utc(t: f64) -> std::result::Result<DateTime<Utc>, String> {
    if !t.is_finite() {
        return Err(format!("not a time: {t}"));
    }
    let secs = t.floor();
    let nanos = ((t - secs) * 1e9).round().min(999_999_999.0) as u32;
    Utc.timestamp_opt(secs as i64, nanos).single().ok_or_else(|| format!("time out of range: {t}"))
}

/// Formats `t` (seconds since the epoch) with a strftime format; `!` first means UTC.
pub fn format(t: f64, fmt: Option<&str>) -> std::result::Result<String, String> {
    let utc = to_utc(t)?;
    let (fmt, in_utc) = match fmt {
        Some(f) => match f.strip_prefix('!') {
            Some(rest) => (rest, true),
            None => (f, false),
        },
        None => ("iso", false),
    };
    use std::fmt::Write;
    let mut out = String::new();
    let result = if fmt == "iso" {
        if in_utc {
            write!(out, "{}", utc.format("%Y-%m-%dT%H:%M:%SZ"))
        } else {
            write!(out, "{}", utc.with_timezone(&Local).format("%Y-%m-%dT%H:%M:%S%:z"))
        }
    } else if in_utc {
        write!(out, "{}", utc.format(fmt))
    } else {
        write!(out, "{}", utc.with_timezone(&Local).format(fmt))
    };
    result.map_err(|_| format!("invalid time format '{fmt}'"))?;
    Ok(out)
}

/// Parses a time; without a format, ISO 8601 (date, date-time with or without offset; a
/// date-time without an offset is UTC).
pub fn parse(text: &str, fmt: Option<&str>) -> std::result::Result<f64, String> {
    let seconds = |dt: DateTime<Utc>| dt.timestamp() as f64 + dt.timestamp_subsec_nanos() as f64 / 1e9;
    let text = text.trim();
    match fmt {
        None | Some("iso") => {
            if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
                return Ok(seconds(dt.with_timezone(&Utc)));
            }
            for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
                if let Ok(naive) = NaiveDateTime::parse_from_str(text, f) {
                    return Ok(seconds(naive.and_utc()));
                }
            }
            if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                return Ok(seconds(date.and_hms_opt(0, 0, 0).ok_or("bad date")?.and_utc()));
            }
            Err(format!("'{text}' is not an ISO 8601 time"))
        }
        Some(f) => {
            let (f, in_utc) = match f.strip_prefix('!') {
                Some(rest) => (rest, true),
                None => (f, false),
            };
            if let Ok(dt) = DateTime::parse_from_str(text, f) {
                return Ok(seconds(dt.with_timezone(&Utc)));
            }
            let naive = NaiveDateTime::parse_from_str(text, f)
                .or_else(|_| NaiveDate::parse_from_str(text, f).map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default()))
                .map_err(|e| format!("'{text}' does not match '{f}': {e}"))?;
            if in_utc {
                Ok(seconds(naive.and_utc()))
            } else {
                let local = Local
                    .from_local_datetime(&naive)
                    .earliest()
                    .ok_or_else(|| format!("'{text}' does not exist in local time"))?;
                Ok(seconds(local.with_timezone(&Utc)))
            }
        }
    }
}

/// Seconds in a duration: a sequence of number-unit pairs (w, d, h, m, s, ms, us), or a bare number.
pub fn duration(text: &str) -> std::result::Result<f64, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<f64>() {
        if n.is_finite() {
            return Ok(n);
        }
    }
    let bad = || format!("'{text}' is not a duration (like 1h30m, 90s, 250ms)");
    let mut total = 0.0;
    let mut rest = t;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_end == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "w" => 604_800.0,
            "d" => 86_400.0,
            "h" => 3_600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            _ => return Err(bad()),
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    Ok(total)
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    export(lua, m, "time.now", |_, ()| Ok(now()))?;
    export(lua, m, "time.monotonic", |_, ()| Ok(runtime::monotonic()))?;
    export_waiting(lua, m, "time.sleep", |_, seconds: f64| {
        Ok(runtime::sleep(runtime::duration(seconds, "time.sleep")?))
    })?;
    export(lua, m, "time.format", |_, (t, fmt): (Option<f64>, Option<String>)| {
        format(t.unwrap_or_else(now), fmt.as_deref()).map_err(mlua::Error::runtime)
    })?;
    export(lua, m, "time.parse", |lua, (text, fmt): (String, Option<String>)| {
        error::invalid_pair(lua, parse(&text, fmt.as_deref()))
    })?;
    export(lua, m, "time.duration", |lua, text: String| error::invalid_pair(lua, duration(&text)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("1m30s").unwrap(), 90.0);
        assert_eq!(duration("1.5h").unwrap(), 5400.0);
        assert_eq!(duration("250ms").unwrap(), 0.25);
        assert_eq!(duration("2d1s").unwrap(), 172_801.0);
        assert_eq!(duration("10").unwrap(), 10.0);
        assert!(duration("1x").is_err());
        assert!(duration("m").is_err());
        assert!(duration("").is_err());
    }

    #[test]
    fn iso_round_trip_in_utc() {
        let t = parse("2026-11-22T07:30:15Z", None).unwrap();
        assert_eq!(t, 1_795_332_615.0);
        assert_eq!(format(t, Some("!iso")).unwrap(), "2026-11-22T07:30:15Z");
        assert_eq!(parse("2026-11-22T09:30:15+02:00", None).unwrap(), t);
        assert_eq!(parse("2026-11-22", None).unwrap(), 1_795_305_600.0);
        assert_eq!(format(t, Some("!%d/%m/%Y %H:%M")).unwrap(), "22/11/2026 07:30");
        assert_eq!(parse("22/11/2026 07:30", Some("!%d/%m/%Y %H:%M")).unwrap(), t - 15.0);
        assert!(parse("yesterday", None).is_err());
    }
}
