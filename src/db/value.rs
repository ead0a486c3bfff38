//! Values between Lua and the databases: parameters bound from Lua values, and cells read by
//! each column's type name (sqlx hands back DECIMAL, NUMERIC and dates undecoded otherwise):
//! integers stay integers, decimals become strings, dates and times ISO 8601 strings, binary
//! Lua strings, NULL `db.null`.

#[cfg(feature = "db-mysql")]
use sqlx::Decode;
#[cfg(any(feature = "db-mysql", feature = "db-postgres"))]
use sqlx::{Row, ValueRef};

/// A bound parameter.
#[derive(Clone, Debug)]
pub enum Param {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Param {
    /// About the bytes the parameter takes in a statement sent to a server.
    pub fn size(&self) -> usize {
        match self {
            Param::Text(s) => s.len(),
            Param::Bytes(b) => b.len(),
            _ => 8,
        }
    }
}

/// A cell of a result.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    /// An unsigned value beyond i64.
    BigUnsigned(u64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// An array's elements, or an anonymous record's fields (PostgreSQL's).
    List(Vec<Cell>),
    /// A composite value's fields, by name (PostgreSQL's).
    Record(Vec<(String, Cell)>),
}

#[cfg(feature = "db-mysql")]
fn decoded<'r, DB: sqlx::Database, T: Decode<'r, DB>>(v: <DB as sqlx::Database>::ValueRef<'r>) -> Result<T, String> {
    T::decode(v).map_err(|e| e.to_string())
}

pub(super) fn text_or_bytes(bytes: Vec<u8>) -> Cell {
    match String::from_utf8(bytes) {
        Ok(s) => Cell::Text(s),
        Err(e) => Cell::Bytes(e.into_bytes()),
    }
}

/// A single-precision float as the double of its shortest decimal, the number the server
/// writes for it (0.1, where widening the bits gives 0.10000000149012).
pub fn float4(x: f32) -> f64 {
    format!("{x}").parse().unwrap_or(x as f64)
}

#[cfg(feature = "db-mysql")]
pub fn mysql_cell(row: &sqlx::mysql::MySqlRow, i: usize) -> Result<Cell, String> {
    use sqlx::mysql::MySql;
    use sqlx::TypeInfo;
    let v = row.try_get_raw(i).map_err(|e| e.to_string())?;
    // A zero date is no NULL, though sqlx's is_null says so: only a NULL has no bytes.
    if v.is_null() && decoded::<MySql, &[u8]>(v.clone()).is_err() {
        return Ok(Cell::Null);
    }
    let info = v.type_info().into_owned();
    let ty = info.name();
    let unsigned = ty.ends_with("UNSIGNED");
    Ok(match ty.trim_end_matches(" UNSIGNED") {
        // TINYINT(1): a boolean while it holds 0 or 1, else the integer it holds.
        "BOOLEAN" => match decoded::<MySql, i64>(v)? {
            0 => Cell::Bool(false),
            1 => Cell::Bool(true),
            n => Cell::Int(n),
        },
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" if unsigned => {
            let n = decoded::<MySql, u64>(v)?;
            if n > i64::MAX as u64 {
                Cell::BigUnsigned(n)
            } else {
                Cell::Int(n as i64)
            }
        }
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => Cell::Int(decoded::<MySql, i64>(v)?),
        "YEAR" => Cell::Int(decoded::<MySql, u16>(v)? as i64),
        "FLOAT" => Cell::Float(float4(decoded::<MySql, f32>(v)?)),
        "DOUBLE" => Cell::Float(decoded::<MySql, f64>(v)?),
        // essh's statements are prepared: their rows come in the binary protocol.
        "DATE" | "TIME" | "DATETIME" | "TIMESTAMP" => Cell::Text(mysql_temporal(ty, decoded::<MySql, &[u8]>(v)?)?),
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BIT" | "GEOMETRY" => {
            Cell::Bytes(decoded::<MySql, Vec<u8>>(v)?)
        }
        // DECIMAL, JSON, ENUM, SET and the text types come as text.
        _ => text_or_bytes(decoded::<MySql, Vec<u8>>(v)?),
    })
}

/// A MySQL date or time in its binary form (a length, then the fields that are not zero) as
/// text, whatever the server holds: zero dates (`0000-00-00`), zero months and days, and times
/// from -838:59:59 to 838:59:59, which no calendar type takes. DATETIME and TIMESTAMP read
/// as ISO 8601 (`T` between date and time), a TIMESTAMP in UTC (sqlx sets the session's zone).
#[cfg(feature = "db-mysql")]
fn mysql_temporal(ty: &str, b: &[u8]) -> Result<String, String> {
    let (&len, rest) = b.split_first().ok_or("an empty date or time")?;
    let field = |i: usize| rest.get(i).copied().unwrap_or(0);
    let micros = |at: usize| rest.get(at..at + 4).map_or(0, |m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    let fraction = |us: u32| if us == 0 { String::new() } else { format!(".{us:06}").trim_end_matches('0').to_string() };
    if rest.len() < len as usize {
        return Err(format!("a {ty} of {len} bytes, {} given", rest.len()));
    }
    if ty == "TIME" {
        let days = rest.get(1..5).map_or(0, |d| u32::from_le_bytes([d[0], d[1], d[2], d[3]]));
        let sign = if field(0) == 1 { "-" } else { "" };
        let us = if len > 8 { micros(8) } else { 0 };
        return Ok(format!("{sign}{:02}:{:02}:{:02}{}", days * 24 + field(5) as u32, field(6), field(7), fraction(us)));
    }
    let year = rest.get(0..2).map_or(0, |y| u16::from_le_bytes([y[0], y[1]]));
    let date = format!("{year:04}-{:02}-{:02}", field(2), field(3));
    if ty == "DATE" {
        return Ok(date);
    }
    let us = if len > 7 { micros(7) } else { 0 };
    let zone = if ty == "TIMESTAMP" { "Z" } else { "" };
    Ok(format!("{date}T{:02}:{:02}:{:02}{}{zone}", field(4), field(5), field(6), fraction(us)))
}

#[cfg(feature = "db-postgres")]
pub fn postgres_cell(row: &sqlx::postgres::PgRow, i: usize) -> Result<Cell, String> {
    let v = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if v.is_null() {
        return Ok(Cell::Null);
    }
    if v.format() == sqlx::postgres::PgValueFormat::Text {
        return Ok(Cell::Text(v.as_str().map_err(|e| e.to_string())?.to_string()));
    }
    let info = v.type_info().into_owned();
    pg_cell(&info, v.as_bytes().map_err(|e| e.to_string())?, 0)
        .map_err(|why| format!("essh cannot read PostgreSQL's {}: {why}", sqlx::TypeInfo::name(&info)))
}

/// A value of the type `info` in its binary form, `depth` records deep, or why essh cannot
/// read it: a domain reads as its base type, an enum as its label, a composite as a table of
/// its fields by name, an array as a list; the others by their type (see
/// [`super::pg_binary`]).
#[cfg(feature = "db-postgres")]
fn pg_cell(info: &sqlx::postgres::PgTypeInfo, b: &[u8], depth: usize) -> Result<Cell, String> {
    use sqlx::postgres::PgTypeKind;
    use sqlx::TypeInfo;
    super::pg_binary::within_nesting(depth)?;
    let mut info = info;
    while let PgTypeKind::Domain(base) = info.kind() {
        info = base;
    }
    match info.kind() {
        PgTypeKind::Enum(_) => Ok(text_or_bytes(b.to_vec())),
        PgTypeKind::Array(element) => {
            let read = |_: u32, b: Option<&[u8]>, depth: usize| b.map_or(Ok(Cell::Null), |b| pg_cell(element, b, depth));
            super::pg_array::cells(b, depth, &read)
        }
        PgTypeKind::Composite(names) => {
            let values = super::pg_binary::record(b)?;
            if values.len() != names.len() {
                return Err(format!("{} fields where its type has {}", values.len(), names.len()));
            }
            let mut fields = Vec::with_capacity(values.len());
            for ((name, field), (_, value)) in names.iter().zip(values) {
                fields.push((name.clone(), value.map_or(Ok(Cell::Null), |value| pg_cell(field, value, depth + 1))?));
            }
            Ok(Cell::Record(fields))
        }
        _ => match info.name() {
            "VOID" => Ok(Cell::Null),
            // Text types of extensions, whose type OIDs differ from one database to the next.
            "CITEXT" | "citext" => Ok(text_or_bytes(b.to_vec())),
            _ => super::pg_binary::nested(info.oid().map_or(0, |oid| oid.0), Some(b), depth),
        },
    }
}

/// Rows kept as owned cells (a statement run off the Lua thread), at most `limit` of them.
#[cfg(feature = "db-sqlite")]
pub struct Collected {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    limit: usize,
}

#[cfg(feature = "db-sqlite")]
impl Collected {
    pub fn new(limit: usize) -> Collected {
        Collected { columns: Vec::new(), rows: Vec::new(), limit }
    }
}

#[cfg(feature = "db-sqlite")]
impl super::sqlite::Sink for Collected {
    fn row(&mut self, row: &super::sqlite::Row) -> bool {
        use super::sqlite::Cell as Lite;
        if self.columns.is_empty() {
            self.columns = (0..row.len()).map(|i| String::from_utf8_lossy(row.name(i)).into_owned()).collect();
        }
        self.rows.push(
            (0..row.len())
                .map(|i| match row.cell(i) {
                    Lite::Null => Cell::Null,
                    Lite::Int(n) => Cell::Int(n),
                    Lite::Float(f) => Cell::Float(f),
                    Lite::Text(t) => text_or_bytes(t.to_vec()),
                    Lite::Blob(b) => Cell::Bytes(b.to_vec()),
                })
                .collect(),
        );
        self.rows.len() < self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "db-mysql")]
    #[test]
    fn reads_mysql_dates_and_times_no_calendar_holds() {
        assert_eq!(mysql_temporal("DATE", &[0]).unwrap(), "0000-00-00");
        assert_eq!(mysql_temporal("DATETIME", &[0]).unwrap(), "0000-00-00T00:00:00");
        assert_eq!(mysql_temporal("TIMESTAMP", &[0]).unwrap(), "0000-00-00T00:00:00Z");
        assert_eq!(mysql_temporal("DATE", &[4, 0xea, 0x07, 0, 15]).unwrap(), "2026-00-15");
        let dt = [11, 0xea, 0x07, 12, 6, 10, 0, 5, 0x90, 0xd0, 0x03, 0];
        assert_eq!(mysql_temporal("DATETIME", &dt).unwrap(), "2026-12-06T10:00:05.25");
        // -838:59:59 is 34 days and 22 hours, negative.
        assert_eq!(mysql_temporal("TIME", &[8, 1, 34, 0, 0, 0, 22, 59, 59]).unwrap(), "-838:59:59");
        assert_eq!(mysql_temporal("TIME", &[12, 0, 4, 0, 0, 0, 4, 0, 0, 0x20, 0xa1, 0x07, 0]).unwrap(), "100:00:00.5");
        assert_eq!(mysql_temporal("TIME", &[0]).unwrap(), "00:00:00");
        assert!(mysql_temporal("DATE", &[4, 1]).is_err());
        assert!(mysql_temporal("DATE", &[]).is_err());
    }

    #[test]
    fn reads_single_precision_floats_as_the_decimals_servers_write() {
        assert_eq!(float4(0.1), 0.1);
        assert_eq!(float4(3.4e38), 3.4e38);
        assert_eq!(float4(-1.5), -1.5);
        assert_eq!(float4(16_777_217.0), 16_777_216.0);
        assert!(float4(f32::NAN).is_nan());
        assert_eq!(float4(f32::NEG_INFINITY), f64::NEG_INFINITY);
    }


}
