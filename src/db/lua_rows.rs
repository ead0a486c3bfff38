//! Rows as Lua tables, built through the C API in one protected call: a list of row tables
//! keyed by column name, with `columns`, the names in order. mlua's table calls protect each
//! set on its own, which costs more than the row itself; here a row costs its table and its
//! cells. Cells keep essh's types: integers stay integers (on 5.1 and LuaJIT, beyond 2^53 they
//! are strings), NULL is `db.null`.

use std::ffi::{c_char, c_int};

use mlua::{ffi, Lua, Result, Table};

#[cfg(feature = "db-sqlite")]
use super::sqlite::{self, Row, Sink};
use super::value::Cell;

/// Whether an integer of this size is kept as a string (beyond what a double holds exactly,
/// on interpreters without integers).
fn as_string(n: i64) -> bool {
    cfg!(not(any(feature = "lua53", feature = "lua54"))) && n.unsigned_abs() > (1u64 << 53)
}

unsafe fn push_bytes(state: *mut ffi::lua_State, b: &[u8]) {
    ffi::lua_pushlstring(state, b.as_ptr() as *const c_char, b.len());
}

unsafe fn push_integer(state: *mut ffi::lua_State, n: i64) {
    if as_string(n) {
        let mut buf = itoa::Buffer::new();
        push_bytes(state, buf.format(n).as_bytes());
    } else if cfg!(any(feature = "lua53", feature = "lua54")) {
        ffi::lua_pushinteger(state, n as ffi::lua_Integer);
    } else {
        ffi::lua_pushnumber(state, n as ffi::lua_Number);
    }
}

/// An exec's result, `{ affected = n, last_insert_id = id }` (an id of 0 is none), made in one
/// protected call (a table filled through mlua takes one per field).
pub fn exec_result(lua: &Lua, affected: u64, last_insert_id: Option<i64>) -> Result<Table> {
    // SAFETY: push_exec_result pushes one table, within exec_raw's protected call.
    unsafe { lua.exec_raw((), |state| push_exec_result(state, affected, last_insert_id)) }
}

/// Pushes an exec's result table (see [`exec_result`]); it raises only when memory runs out.
pub unsafe fn push_exec_result(state: *mut ffi::lua_State, affected: u64, last_insert_id: Option<i64>) {
    ffi::lua_createtable(state, 0, 2);
    push_integer(state, affected as i64);
    ffi::lua_setfield(state, -2, c"affected".as_ptr());
    if let Some(id) = last_insert_id.filter(|id| *id != 0) {
        push_integer(state, id);
        ffi::lua_setfield(state, -2, c"last_insert_id".as_ptr());
    }
}

unsafe fn push_null(state: *mut ffi::lua_State) {
    ffi::lua_pushlightuserdata(state, std::ptr::null_mut());
}

#[cfg(feature = "db-sqlite")]
unsafe fn push_sqlite_cell(state: *mut ffi::lua_State, cell: sqlite::Cell) {
    match cell {
        sqlite::Cell::Null => push_null(state),
        sqlite::Cell::Int(n) => push_integer(state, n),
        sqlite::Cell::Float(f) => ffi::lua_pushnumber(state, f),
        sqlite::Cell::Text(b) | sqlite::Cell::Blob(b) => push_bytes(state, b),
    }
}

unsafe fn push_cell(state: *mut ffi::lua_State, cell: &Cell) {
    match cell {
        Cell::Null => push_null(state),
        Cell::Bool(b) => ffi::lua_pushboolean(state, *b as c_int),
        Cell::Int(n) => push_integer(state, *n),
        Cell::BigUnsigned(n) => {
            let mut buf = itoa::Buffer::new();
            push_bytes(state, buf.format(*n).as_bytes());
        }
        Cell::Float(f) => ffi::lua_pushnumber(state, *f),
        Cell::Text(s) => push_bytes(state, s.as_bytes()),
        Cell::Bytes(b) => push_bytes(state, b),
        // Nested at most 32 deep (pg_binary::MOST_NESTED), two slots a level.
        Cell::List(items) if ffi::lua_checkstack(state, 2) != 0 => {
            ffi::lua_createtable(state, items.len().min(c_int::MAX as usize) as c_int, 0);
            for (i, item) in items.iter().enumerate() {
                push_cell(state, item);
                ffi::lua_rawseti(state, -2, (i + 1) as _);
            }
        }
        Cell::Record(fields) if ffi::lua_checkstack(state, 2) != 0 => {
            ffi::lua_createtable(state, 0, fields.len().min(c_int::MAX as usize) as c_int);
            for (name, value) in fields {
                push_bytes(state, name.as_bytes());
                push_cell(state, value);
                ffi::lua_rawset(state, -3);
            }
        }
        Cell::List(_) | Cell::Record(_) => push_null(state),
    }
}

/// The list being filled: at stack index `list`, its column names at `names..names + n`.
struct List {
    state: *mut ffi::lua_State,
    list: c_int,
    names: c_int,
    columns: usize,
    count: ffi::lua_Integer,
    /// The length of a list filled again, whose rows past the new ones are cleared at the end.
    before: Option<ffi::lua_Integer>,
}

impl List {
    /// A new list on top of the stack.
    unsafe fn new(state: *mut ffi::lua_State, capacity: usize) -> List {
        ffi::lua_createtable(state, capacity.min(1 << 20) as c_int, 1);
        let list = ffi::lua_gettop(state);
        List { state, list, names: list + 1, columns: 0, count: 0, before: None }
    }

    /// The list at stack index `list` (one this module made, for the same statement), filled
    /// again from its first row: no new list, and its `columns` kept.
    unsafe fn refill(state: *mut ffi::lua_State, list: c_int) -> List {
        let before = ffi::lua_rawlen(state, list) as ffi::lua_Integer;
        List { state, list, names: ffi::lua_gettop(state) + 1, columns: 0, count: 0, before: Some(before) }
    }

    /// Pushes the column names once, from the first row.
    unsafe fn name_columns<'a>(&mut self, names: impl ExactSizeIterator<Item = &'a [u8]>) {
        if self.count > 0 || self.columns > 0 {
            return;
        }
        let n = names.len();
        ffi::luaL_checkstack(self.state, n as c_int + ffi::LUA_MINSTACK, c"db row columns".as_ptr());
        for name in names {
            push_bytes(self.state, name);
        }
        self.columns = n;
    }

    /// Appends a row whose cells `push` pushes, one per call with the column's index.
    unsafe fn row(&mut self, mut push: impl FnMut(usize)) {
        let state = self.state;
        ffi::lua_createtable(state, 0, self.columns as c_int);
        for i in 0..self.columns {
            ffi::lua_pushvalue(state, self.names + i as c_int);
            push(i);
            ffi::lua_rawset(state, -3);
        }
        self.count += 1;
        ffi::lua_rawseti(state, self.list, self.count);
    }

    /// Sets `columns` (clears the old rows past the new ones, for a list filled again) and
    /// leaves only the list on the stack.
    unsafe fn finish(self) {
        let state = self.state;
        if let Some(before) = self.before {
            for i in self.count + 1..=before {
                ffi::lua_pushnil(state);
                ffi::lua_rawseti(state, self.list, i);
            }
        } else {
            ffi::lua_createtable(state, self.columns as c_int, 0);
            for i in 0..self.columns {
                ffi::lua_pushvalue(state, self.names + i as c_int);
                ffi::lua_rawseti(state, -2, i as ffi::lua_Integer + 1);
            }
            ffi::lua_setfield(state, self.list, c"columns".as_ptr());
        }
        ffi::lua_settop(state, self.list);
    }
}

/// A rows loop's previous batch list, held for the closure that delivers the next batch from
/// the runtime (a Lua value cannot go there itself).
pub struct Previous(Option<mlua::RegistryKey>);

impl Previous {
    pub fn keep(lua: &Lua, list: Option<Table>) -> Result<Previous> {
        Ok(Previous(list.map(|t| lua.create_registry_value(t)).transpose()?))
    }

    /// The list again, to fill (see [`make`]).
    pub fn take(self, lua: &Lua) -> Result<Option<Table>> {
        self.0.map(|key| lua.registry_value::<Table>(&key)).transpose()
    }
}

/// Makes a list of rows with `fill` in one protected call: `into` emptied and filled again when
/// given (a list made here for the same statement: a rows loop's next batch, with no new table
/// to allocate and collect), else a new list for `capacity` rows.
fn make<T>(lua: &Lua, into: Option<Table>, capacity: usize, fill: impl FnOnce(*mut ffi::lua_State, &mut List) -> T) -> Result<(Table, T)> {
    let mut out = None;
    // SAFETY: `fill` only touches the stack of this protected call. A Lua error (out of
    // memory) leaves through it, abandoning what `fill` holds.
    let list: Table = unsafe {
        lua.exec_raw(into, |state| {
            let mut list = if ffi::lua_type(state, 1) == ffi::LUA_TTABLE {
                List::refill(state, 1)
            } else {
                ffi::lua_settop(state, 0);
                List::new(state, capacity)
            };
            out = Some(fill(state, &mut list));
            list.finish();
        })?
    };
    let out = out.ok_or_else(|| mlua::Error::runtime("db: the rows were not built"))?;
    Ok((list, out))
}

/// A [`Sink`] that appends SQLite's rows to a Lua list, at most `limit` of them.
#[cfg(feature = "db-sqlite")]
pub struct LuaSink<'a> {
    list: &'a mut List,
    limit: usize,
}

#[cfg(feature = "db-sqlite")]
impl Sink for LuaSink<'_> {
    fn row(&mut self, row: &Row) -> bool {
        // SAFETY: a sink lives inside `make`'s protected call, on its Lua stack.
        unsafe {
            self.list.name_columns((0..row.len()).map(|i| row.name(i)));
            let state = self.list.state;
            self.list.row(|i| push_sqlite_cell(state, row.cell(i)));
        }
        (self.list.count as usize) < self.limit
    }
}

/// Builds a list of rows (in `into`, see [`make`]) with `fill`, which hands SQLite's rows to
/// the sink (at most `limit`), and returns whatever else `fill` returns.
#[cfg(feature = "db-sqlite")]
pub fn build<T>(lua: &Lua, into: Option<Table>, capacity: usize, limit: usize, fill: impl FnOnce(&mut LuaSink) -> T) -> Result<(Table, T)> {
    make(lua, into, capacity, |_, list| fill(&mut LuaSink { list, limit }))
}

/// `rows` of owned cells (SQLite's, read off the Lua thread), as a list of row tables.
#[cfg(feature = "db-sqlite")]
pub fn from_cells(lua: &Lua, into: Option<Table>, columns: &[String], rows: &[Vec<Cell>]) -> Result<Table> {
    // SAFETY: `make` runs this on its protected call's stack.
    let (list, ()) = make(lua, into, rows.len(), |state, list| unsafe {
        list.name_columns(columns.iter().map(|c| c.as_bytes()));
        for row in rows {
            list.row(|i| match row.get(i) {
                Some(cell) => push_cell(state, cell),
                None => push_null(state),
            });
        }
    })?;
    Ok(list)
}

/// A server's rows as sqlx read them (into `into`, see [`make`]), each cell decoded as it is
/// pushed: by `direct` when it can (the common types, straight from their wire form), else
/// through `cell`. A cell that cannot be read makes the whole answer an error.
pub fn from_rows<R: sqlx::Row>(
    lua: &Lua,
    into: Option<Table>,
    rows: &[R],
    direct: unsafe fn(*mut ffi::lua_State, &R, usize) -> bool,
    cell: fn(&R, usize) -> std::result::Result<Cell, String>,
) -> Result<std::result::Result<Table, crate::error::Error>> {
    use sqlx::Column;
    // SAFETY: `make` runs this on its protected call's stack.
    let (list, failed) = make(lua, into, rows.len(), |state, list| unsafe {
        let mut failed: Option<String> = None;
        if let Some(first) = rows.first() {
            list.name_columns(first.columns().iter().map(|c| c.name().as_bytes()));
        }
        for row in rows {
            list.row(|i| {
                if direct(state, row, i) {
                    return;
                }
                // A decoder's panic must not unwind through the Lua call this runs in.
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cell(row, i))) {
                    Ok(Ok(c)) => push_cell(state, &c),
                    Ok(Err(e)) => {
                        failed.get_or_insert_with(|| format!("db: column {}: {e}", i + 1));
                        push_null(state)
                    }
                    Err(_) => {
                        failed.get_or_insert_with(|| format!("db: column {}: essh could not read its value (a bug in essh)", i + 1));
                        push_null(state)
                    }
                }
            });
        }
        failed
    })?;
    Ok(match failed {
        Some(message) => Err(crate::error::Error::new(crate::error::Kind::Remote, message)),
        None => Ok(list),
    })
}

/// Pushes cell `i` of a MySQL row when it is NULL or of a type read without a copy (signed
/// integers, doubles, text and binary strings); false leaves it to the general path.
#[cfg(feature = "db-mysql")]
pub unsafe fn push_mysql(state: *mut ffi::lua_State, row: &sqlx::mysql::MySqlRow, i: usize) -> bool {
    use sqlx::{Decode, Row, TypeInfo, ValueRef};
    type My = sqlx::mysql::MySql;
    let Ok(v) = row.try_get_raw(i) else { return false };
    // sqlx calls a zero date NULL; it has bytes, and value::mysql_cell reads it.
    if v.is_null() && <&[u8] as Decode<My>>::decode(v.clone()).is_err() {
        push_null(state);
        return true;
    }
    let info = v.type_info().into_owned();
    match info.name() {
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => match <i64 as Decode<My>>::decode(v) {
            Ok(n) => push_integer(state, n),
            Err(_) => return false,
        },
        "DOUBLE" => match <f64 as Decode<My>>::decode(v) {
            Ok(f) => ffi::lua_pushnumber(state, f),
            Err(_) => return false,
        },
        "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB"
        | "MEDIUMBLOB" | "LONGBLOB" => match <&[u8] as Decode<My>>::decode(v) {
            Ok(b) => push_bytes(state, b),
            Err(_) => return false,
        },
        _ => return false,
    }
    true
}

/// Pushes cell `i` of a PostgreSQL row when it is NULL or of a type read straight from its
/// binary form (booleans, integers, floats, text, bytea); false leaves it to the general path.
#[cfg(feature = "db-postgres")]
pub unsafe fn push_pg(state: *mut ffi::lua_State, row: &sqlx::postgres::PgRow, i: usize) -> bool {
    use sqlx::{Row, ValueRef};
    let Ok(v) = row.try_get_raw(i) else { return false };
    if v.is_null() {
        push_null(state);
        return true;
    }
    if v.format() != sqlx::postgres::PgValueFormat::Binary {
        return false;
    }
    let (Some(oid), Ok(b)) = (v.type_info().oid(), v.as_bytes()) else { return false };
    match (oid.0, b) {
        (16, [flag]) => ffi::lua_pushboolean(state, (*flag != 0) as c_int),
        (21, &[a, b]) => push_integer(state, i16::from_be_bytes([a, b]) as i64),
        (23, &[a, b, c, d]) => push_integer(state, i32::from_be_bytes([a, b, c, d]) as i64),
        (20, b) if b.len() == 8 => push_integer(state, i64::from_be_bytes(b.try_into().unwrap_or_default())),
        (700, &[a, b, c, d]) => ffi::lua_pushnumber(state, super::value::float4(f32::from_be_bytes([a, b, c, d]))),
        (701, b) if b.len() == 8 => ffi::lua_pushnumber(state, f64::from_be_bytes(b.try_into().unwrap_or_default())),
        // text, varchar, bpchar, name, bytea: the bytes themselves.
        (25 | 1043 | 1042 | 19 | 17, b) => push_bytes(state, b),
        _ => return false,
    }
    true
}

/// Whether the running code is a task of essh's scheduler that can yield (so a statement's
/// waits go to the runtime instead of holding the Lua thread).
#[cfg(feature = "db-sqlite")]
pub fn in_task(lua: &Lua) -> Result<bool> {
    // SAFETY: pushes and pops one value.
    let main: bool = unsafe {
        lua.exec_raw((), |state| {
            let main = ffi::lua_pushthread(state) == 1;
            ffi::lua_pop(state, 1);
            ffi::lua_pushboolean(state, main as c_int);
        })?
    };
    if main {
        return Ok(false);
    }
    let current: mlua::Function = crate::runtime::scheduler(lua)?.raw_get("current")?;
    Ok(!matches!(current.call::<mlua::Value>(())?, mlua::Value::Nil))
}
