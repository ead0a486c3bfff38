//! PostgreSQL's arrays in their binary form (`array_send`): the dimensions, then each element
//! as a length (-1 for NULL) and its own binary form. Arrays of the types essh reads come
//! back as Lua lists (nested for each dimension past the first), NULL elements as `db.null`.

use super::pg_binary::Reader;
use super::value::Cell;

/// Reads an element: its type's OID, its binary form (None for NULL), its depth.
pub type Element<'a> = &'a dyn Fn(u32, Option<&[u8]>, usize) -> Result<Cell, String>;

/// The array `b`, `depth` arrays or records deep within another value (0: none), as a list
/// of cells, each read by `element`, or why essh cannot read it.
pub fn cells(b: &[u8], depth: usize, element: Element) -> Result<Cell, String> {
    let mut r = Reader(b);
    let dimensions = r.i32()?;
    let _has_nulls = r.i32()?;
    let oid = r.u32()?;
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
    let list = nest(&mut r, oid, &sizes, depth, element)?;
    if !r.0.is_empty() {
        return Err(format!("{} bytes after the array's elements", r.0.len()));
    }
    Ok(list)
}

/// The elements of one dimension (and those below it) as a list.
fn nest(r: &mut Reader, oid: u32, sizes: &[usize], depth: usize, element: Element) -> Result<Cell, String> {
    let (&size, below) = sizes.split_first().ok_or("an array without dimensions")?;
    let mut items = Vec::with_capacity(size.min(r.0.len() / 4));
    for _ in 0..size {
        items.push(if below.is_empty() { element(oid, r.element()?, depth)? } else { nest(r, oid, below, depth, element)? });
    }
    Ok(Cell::List(items))
}

#[cfg(test)]
mod tests {
    use super::super::pg_binary::nested;
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
        assert_eq!(cells(&array(23, &[3], &[Some(&one), None, Some(&two)]), 0, &nested).unwrap(), Cell::List(vec![Cell::Int(1), Cell::Null, Cell::Int(2)]));
        let grid = cells(&array(25, &[2, 1], &[Some(b"a"), Some(b"b")]), 0, &nested).unwrap();
        assert_eq!(grid, Cell::List(vec![Cell::List(vec![Cell::Text("a".into())]), Cell::List(vec![Cell::Text("b".into())])]));
        assert_eq!(cells(&array(23, &[], &[]), 0, &nested).unwrap(), Cell::List(vec![]));
        let day = 9_471i32.to_be_bytes();
        assert_eq!(cells(&array(1082, &[2], &[Some(&day), Some(&i32::MAX.to_be_bytes())]), 0, &nested).unwrap(), Cell::List(vec![Cell::Text("2025-12-06".into()), Cell::Text("infinity".into())]));
    }

    #[test]
    fn refuses_what_it_cannot_read_without_reading_past_the_end() {
        assert!(cells(&array(23, &[2], &[Some(&1i32.to_be_bytes())]), 0, &nested).is_err());
        assert!(cells(&array(600, &[1], &[Some(b"xy")]), 0, &nested).is_err());
        assert!(cells(&[0, 0, 0, 1], 0, &nested).is_err());
        let mut huge = array(23, &[1], &[]);
        huge[12..16].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(cells(&huge, 0, &nested).is_err());
    }
}
