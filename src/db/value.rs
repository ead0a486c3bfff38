//! Values between Lua and the databases: parameters bound from Lua values, and cells read by
//! each column's type name (sqlx hands back DECIMAL, NUMERIC and dates undecoded otherwise):
//! integers stay integers, decimals become strings, dates and times ISO 8601 strings, binary
//! Lua strings, NULL `db.null`.

use sqlx::{Decode, Row, ValueRef};

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
}

fn decoded<'r, DB: sqlx::Database, T: Decode<'r, DB>>(v: <DB as sqlx::Database>::ValueRef<'r>) -> Result<T, String> {
    T::decode(v).map_err(|e| e.to_string())
}

fn text_or_bytes(bytes: Vec<u8>) -> Cell {
    match String::from_utf8(bytes) {
        Ok(s) => Cell::Text(s),
        Err(e) => Cell::Bytes(e.into_bytes()),
    }
}

#[cfg(feature = "db-mysql")]
pub fn mysql_cell(row: &sqlx::mysql::MySqlRow, i: usize) -> Result<Cell, String> {
    use sqlx::mysql::MySql;
    use sqlx::TypeInfo;
    let v = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if v.is_null() {
        return Ok(Cell::Null);
    }
    let info = v.type_info().into_owned();
    let ty = info.name();
    let unsigned = ty.ends_with("UNSIGNED");
    Ok(match ty.trim_end_matches(" UNSIGNED") {
        "BOOLEAN" => Cell::Bool(decoded::<MySql, bool>(v)?),
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
        "FLOAT" => Cell::Float(decoded::<MySql, f32>(v)? as f64),
        "DOUBLE" => Cell::Float(decoded::<MySql, f64>(v)?),
        "DATE" => Cell::Text(decoded::<MySql, chrono::NaiveDate>(v)?.to_string()),
        "TIME" => Cell::Text(match decoded::<MySql, chrono::NaiveTime>(v.clone()) {
            Ok(t) => t.to_string(),
            Err(_) => decoded::<MySql, String>(v)?,
        }),
        "DATETIME" => Cell::Text(iso(decoded::<MySql, chrono::NaiveDateTime>(v)?)),
        "TIMESTAMP" => Cell::Text(decoded::<MySql, chrono::DateTime<chrono::Utc>>(v)?.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BIT" | "GEOMETRY" => {
            Cell::Bytes(decoded::<MySql, Vec<u8>>(v)?)
        }
        // DECIMAL, JSON, ENUM, SET and the text types come as text.
        _ => text_or_bytes(decoded::<MySql, Vec<u8>>(v)?),
    })
}

fn iso(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

#[cfg(feature = "db-postgres")]
pub fn postgres_cell(row: &sqlx::postgres::PgRow, i: usize) -> Result<Cell, String> {
    use sqlx::postgres::Postgres;
    use sqlx::TypeInfo;
    let v = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if v.is_null() {
        return Ok(Cell::Null);
    }
    let info = v.type_info().into_owned();
    let ty = info.name();
    Ok(match ty {
        "VOID" => Cell::Null,
        "BOOL" => Cell::Bool(decoded::<Postgres, bool>(v)?),
        "INT2" => Cell::Int(decoded::<Postgres, i16>(v)? as i64),
        "INT4" => Cell::Int(decoded::<Postgres, i32>(v)? as i64),
        "INT8" => Cell::Int(decoded::<Postgres, i64>(v)?),
        "OID" => Cell::Int(decoded::<Postgres, sqlx::postgres::types::Oid>(v)?.0 as i64),
        "FLOAT4" => Cell::Float(decoded::<Postgres, f32>(v)? as f64),
        "FLOAT8" => Cell::Float(decoded::<Postgres, f64>(v)?),
        "NUMERIC" => Cell::Text(numeric(v.as_bytes().map_err(|e| e.to_string())?)?),
        "BYTEA" => Cell::Bytes(decoded::<Postgres, Vec<u8>>(v)?),
        "DATE" => Cell::Text(decoded::<Postgres, chrono::NaiveDate>(v)?.to_string()),
        "TIME" => Cell::Text(decoded::<Postgres, chrono::NaiveTime>(v)?.to_string()),
        "TIMESTAMP" => Cell::Text(iso(decoded::<Postgres, chrono::NaiveDateTime>(v)?)),
        "TIMESTAMPTZ" => Cell::Text(
            decoded::<Postgres, chrono::DateTime<chrono::Utc>>(v)?.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        "JSON" | "JSONB" => Cell::Text(decoded::<Postgres, serde_json::Value>(v)?.to_string()),
        "UUID" => {
            let b = v.as_bytes().map_err(|e| e.to_string())?;
            Cell::Text(uuid_text(b))
        }
        _ => match v.format() {
            sqlx::postgres::PgValueFormat::Text => Cell::Text(v.as_str().map_err(|e| e.to_string())?.to_string()),
            // TEXT, VARCHAR, BPCHAR, NAME, and types essh does not know: the binary of a text
            // type is its text.
            sqlx::postgres::PgValueFormat::Binary => match ty {
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT" | "XML" | "UNKNOWN" => {
                    Cell::Text(decoded::<Postgres, String>(v)?)
                }
                other => return Err(format!("essh cannot read PostgreSQL's {other} yet: cast it in the query (::text)")),
            },
        },
    })
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
pub fn numeric(b: &[u8]) -> Result<String, String> {
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
