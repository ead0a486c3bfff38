//! PostgreSQL's arrays in their binary form (`array_send`): the dimensions, then each element
//! as a length (-1 for NULL) and its own binary form. Arrays of the scalar types essh reads
//! come back as Lua lists (nested for each dimension past the first), NULL elements as
//! `db.null`.

use super::value::{numeric, pg_infinity_of, pg_interval, pg_time, uuid_text, Cell};

/// The array `b` as a list of cells, or why essh cannot read it.
pub fn cells(b: &[u8]) -> Result<Cell, String> {
    let mut r = Reader(b);
    let dimensions = r.i32()?;
    let _has_nulls = r.i32()?;
    let element = r.u32()?;
    if dimensions == 0 {
        return Ok(Cell::List(Vec::new()));
    }
    if !(1..=6).contains(&dimensions) {
        return Err(format!("an array of {dimensions} dimensions"));
    }
    let mut sizes = Vec::with_capacity(dimensions as usize);
    for _ in 0..dimensions {
        let size = r.i32()?;
        let _lower_bound = r.i32()?;
        sizes.push(usize::try_from(size).map_err(|_| format!("an array dimension of {size}"))?);
    }
    let list = nest(&mut r, element, &sizes)?;
    if !r.0.is_empty() {
        return Err(format!("{} bytes after the array's elements", r.0.len()));
    }
    Ok(list)
}

/// The elements of one dimension (and those below it) as a list.
fn nest(r: &mut Reader, element: u32, sizes: &[usize]) -> Result<Cell, String> {
    let (&size, below) = sizes.split_first().ok_or("an array without dimensions")?;
    let mut items = Vec::with_capacity(size.min(r.0.len() / 4));
    for _ in 0..size {
        items.push(if below.is_empty() { scalar(element, r.element()?)? } else { nest(r, element, below)? });
    }
    Ok(Cell::List(items))
}

/// One element of a type essh reads (its binary form, None for NULL).
fn scalar(oid: u32, b: Option<&[u8]>) -> Result<Cell, String> {
    let Some(b) = b else { return Ok(Cell::Null) };
    let fixed = |n: usize| -> Result<&[u8], String> {
        if b.len() == n {
            Ok(b)
        } else {
            Err(format!("an element of {} bytes where {n} were expected", b.len()))
        }
    };
    Ok(match oid {
        16 => Cell::Bool(fixed(1)?[0] != 0),
        21 => Cell::Int(i16::from_be_bytes(fixed(2)?.try_into().map_err(|_| "int2")?) as i64),
        23 => Cell::Int(i32::from_be_bytes(fixed(4)?.try_into().map_err(|_| "int4")?) as i64),
        20 => Cell::Int(i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| "int8")?)),
        700 => Cell::Float(f32::from_be_bytes(fixed(4)?.try_into().map_err(|_| "float4")?) as f64),
        701 => Cell::Float(f64::from_be_bytes(fixed(8)?.try_into().map_err(|_| "float8")?)),
        // text, varchar, bpchar, name, json, xml: their text.
        25 | 1043 | 1042 | 19 | 114 | 142 => Cell::Text(String::from_utf8_lossy(b).into_owned()),
        // jsonb: a version byte, then its text.
        3802 => Cell::Text(String::from_utf8_lossy(b.get(1..).unwrap_or_default()).into_owned()),
        17 => Cell::Bytes(b.to_vec()),
        1700 => Cell::Text(numeric(b)?),
        2950 => Cell::Text(uuid_text(fixed(16)?)),
        1186 => Cell::Text(pg_interval(b)?),
        1083 => Cell::Text(pg_time(i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| "time")?))),
        1082 => {
            let days = i32::from_be_bytes(fixed(4)?.try_into().map_err(|_| "date")?);
            Cell::Text(match pg_infinity_of(days as i64, i32::MAX as i64, i32::MIN as i64) {
                Some(word) => word.to_string(),
                None => (epoch().date() + chrono::Duration::days(days as i64)).to_string(),
            })
        }
        1114 | 1184 => {
            let us = i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| "timestamp")?);
            if let Some(word) = pg_infinity_of(us, i64::MAX, i64::MIN) {
                return Ok(Cell::Text(word.to_string()));
            }
            let t = epoch().checked_add_signed(chrono::Duration::microseconds(us)).ok_or("a timestamp out of range")?;
            let text = t.format("%Y-%m-%dT%H:%M:%S%.f").to_string();
            Cell::Text(if oid == 1184 { text + "Z" } else { text })
        }
        other => return Err(format!("an array of elements of type {other}")),
    })
}

/// PostgreSQL's epoch: 2000-01-01 00:00:00.
fn epoch() -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default().and_hms_opt(0, 0, 0).unwrap_or_default()
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("an array cut short".to_string());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().map_err(|_| "i32")?))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().map_err(|_| "u32")?))
    }

    /// An element: its bytes, or None for NULL (a length of -1).
    fn element(&mut self) -> Result<Option<&'a [u8]>, String> {
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

    fn array(element: u32, sizes: &[i32], items: &[Option<&[u8]>]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((sizes.len() as i32).to_be_bytes());
        b.extend(0i32.to_be_bytes());
        b.extend(element.to_be_bytes());
        for s in sizes {
            b.extend(s.to_be_bytes());
            b.extend(1i32.to_be_bytes());
        }
        for item in items {
            match item {
                Some(x) => {
                    b.extend((x.len() as i32).to_be_bytes());
                    b.extend(*x);
                }
                None => b.extend((-1i32).to_be_bytes()),
            }
        }
        b
    }

    #[test]
    fn reads_lists_nested_lists_and_null_elements() {
        let one = 1i32.to_be_bytes();
        let two = 2i32.to_be_bytes();
        assert_eq!(cells(&array(23, &[3], &[Some(&one), None, Some(&two)])).unwrap(), Cell::List(vec![Cell::Int(1), Cell::Null, Cell::Int(2)]));
        let grid = cells(&array(25, &[2, 1], &[Some(b"a"), Some(b"b")])).unwrap();
        assert_eq!(grid, Cell::List(vec![Cell::List(vec![Cell::Text("a".into())]), Cell::List(vec![Cell::Text("b".into())])]));
        assert_eq!(cells(&array(23, &[], &[])).unwrap(), Cell::List(vec![]));
        let day = 9_471i32.to_be_bytes();
        assert_eq!(cells(&array(1082, &[2], &[Some(&day), Some(&i32::MAX.to_be_bytes())])).unwrap(), Cell::List(vec![Cell::Text("2025-12-06".into()), Cell::Text("infinity".into())]));
    }

    #[test]
    fn refuses_what_it_cannot_read_without_reading_past_the_end() {
        assert!(cells(&array(23, &[2], &[Some(&1i32.to_be_bytes())])).is_err());
        assert!(cells(&array(600, &[1], &[Some(b"xy")])).is_err());
        assert!(cells(&[0, 0, 0, 1]).is_err());
        let mut huge = array(23, &[1], &[]);
        huge[12..16].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(cells(&huge).is_err());
    }
}
