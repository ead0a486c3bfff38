//! PostgreSQL's arrays in their binary form (`array_send`): the dimensions, then each element
//! as a length (-1 for NULL) and its own binary form. Arrays of the scalar types essh reads
//! come back as Lua lists (nested for each dimension past the first), NULL elements as
//! `db.null`.

use super::pg_binary::{scalar, Reader};
use super::value::Cell;

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
