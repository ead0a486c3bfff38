//! SQLite called in place (libsqlite3), as LuaSQL and lsqlite3 call it: a statement runs on the
//! thread that asks for it, with no hand-off to a worker, and hands its rows to a [`Sink`] as
//! SQLite steps them. A [`Lite`] keeps the idle handles of one database (files have as many
//! handles as a transaction, a stream and a statement need at once; `:memory:` has one, since
//! each handle of it is a database of its own), and each handle keeps its prepared statements.

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libsqlite3_sys as sys;

use super::target::Access;
use super::value::Param;
use crate::error::{Error, Kind};

/// One value of a row, borrowed from SQLite until the next step.
pub enum Cell<'a> {
    Null,
    Int(i64),
    Float(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

/// A row of a stepped statement.
pub struct Row {
    stmt: *mut sys::sqlite3_stmt,
    len: usize,
}

impl Row {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name of column `i` (its alias, when it has one).
    pub fn name(&self, i: usize) -> &[u8] {
        // SAFETY: i < len, and the statement outlives the row.
        unsafe { bytes(sys::sqlite3_column_name(self.stmt, i as c_int)) }
    }

    /// The value of column `i`, of its own storage class whatever the column's declared type.
    pub fn cell(&self, i: usize) -> Cell<'_> {
        let i = i as c_int;
        // SAFETY: the statement stands on a row, and i < len; text and blob pointers are read
        // with their lengths taken after them, as SQLite asks.
        unsafe {
            match sys::sqlite3_column_type(self.stmt, i) {
                sys::SQLITE_INTEGER => Cell::Int(sys::sqlite3_column_int64(self.stmt, i)),
                sys::SQLITE_FLOAT => Cell::Float(sys::sqlite3_column_double(self.stmt, i)),
                sys::SQLITE_TEXT => {
                    let p = sys::sqlite3_column_text(self.stmt, i);
                    Cell::Text(slice(p, sys::sqlite3_column_bytes(self.stmt, i)))
                }
                sys::SQLITE_BLOB => {
                    let p = sys::sqlite3_column_blob(self.stmt, i) as *const u8;
                    Cell::Blob(slice(p, sys::sqlite3_column_bytes(self.stmt, i)))
                }
                _ => Cell::Null,
            }
        }
    }
}

unsafe fn slice<'a>(p: *const u8, n: c_int) -> &'a [u8] {
    if p.is_null() || n <= 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p, n as usize)
    }
}

unsafe fn bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        b""
    } else {
        CStr::from_ptr(p).to_bytes()
    }
}

/// Where the rows of a statement go.
pub trait Sink {
    /// Takes one row; false stops the statement (a batch is full).
    fn row(&mut self, row: &Row) -> bool;
}

/// A sink that takes nothing: statements run for their effect.
pub struct Discard;

impl Sink for Discard {
    fn row(&mut self, _: &Row) -> bool {
        true
    }
}

/// How many statements a handle keeps prepared.
const CACHED: usize = 32;

/// An open SQLite connection and its prepared statements.
pub struct Handle {
    db: *mut sys::sqlite3,
    /// The statements last used, newest last.
    cache: Vec<(Box<str>, *mut sys::sqlite3_stmt)>,
    shown: Arc<str>,
}

// SAFETY: a handle is used by one thread at a time (it moves between them whole), and SQLite
// is built threadsafe, so a connection may change threads between calls.
unsafe impl Send for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the statements are this handle's, and a stream's own statement is finalized
        // before its handle is given back (see Stream).
        unsafe {
            for (_, stmt) in self.cache.drain(..) {
                sys::sqlite3_finalize(stmt);
            }
            sys::sqlite3_close(self.db);
        }
    }
}

/// What a statement did: rows changed, and the rowid of the last insert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Done {
    pub affected: u64,
    pub last_insert_id: i64,
}

impl Handle {
    /// Opens the database at `path` (created when `access` allows), or an in-memory one for `:memory:`; a locked
    /// database is waited for up to `busy`.
    pub fn open(path: &str, access: Access, busy: Duration, shown: Arc<str>) -> Result<Handle, Error> {
        let c_path = CString::new(path).map_err(|_| Error::invalid(format!("db {shown}: the path holds a NUL byte")))?;
        let mut db = std::ptr::null_mut();
        let flags = sys::SQLITE_OPEN_NOMUTEX
            | match access {
                Access::ReadOnly => sys::SQLITE_OPEN_READONLY,
                Access::ReadWrite => sys::SQLITE_OPEN_READWRITE,
                Access::Create => sys::SQLITE_OPEN_READWRITE | sys::SQLITE_OPEN_CREATE,
            };
        // SAFETY: a valid C string and out-pointer; a handle is returned even on failure, and
        // closed here then.
        let rc = unsafe { sys::sqlite3_open_v2(c_path.as_ptr(), &mut db, flags, std::ptr::null()) };
        let handle = Handle { db, cache: Vec::new(), shown };
        if rc != sys::SQLITE_OK {
            return Err(handle.error(rc));
        }
        // SAFETY: an open handle.
        unsafe {
            sys::sqlite3_extended_result_codes(db, 1);
            sys::sqlite3_busy_timeout(db, busy.as_millis().min(i32::MAX as u128) as c_int);
        }
        Ok(handle)
    }

    /// The handle's last error as essh's, naming the database.
    fn error(&self, rc: c_int) -> Error {
        // SAFETY: errmsg of a handle (or of a failed open's) is a valid C string.
        let message = unsafe { String::from_utf8_lossy(bytes(sys::sqlite3_errmsg(self.db))).into_owned() };
        error_of(&self.shown, rc, &message)
    }

    /// Whether a transaction is open on this handle.
    pub fn in_transaction(&self) -> bool {
        // SAFETY: an open handle.
        unsafe { sys::sqlite3_get_autocommit(self.db) == 0 }
    }

    /// A statement of `sql` from the cache, or prepared; its tail (text after the first
    /// statement) when there is one.
    fn prepare(&mut self, sql: &str) -> Result<(*mut sys::sqlite3_stmt, Option<usize>), Error> {
        if let Some(at) = self.cache.iter().rposition(|(text, _)| &**text == sql) {
            let entry = self.cache.remove(at);
            let stmt = entry.1;
            self.cache.push(entry);
            return Ok((stmt, None));
        }
        let (stmt, used) = self.prepare_one(sql)?;
        let rest = &sql[used..];
        if rest.trim().is_empty() {
            if !stmt.is_null() {
                if self.cache.len() == CACHED {
                    let (_, old) = self.cache.remove(0);
                    // SAFETY: a statement of this handle, out of the cache.
                    unsafe { sys::sqlite3_finalize(old) };
                }
                self.cache.push((sql.into(), stmt));
            }
            return Ok((stmt, None));
        }
        Ok((stmt, Some(used)))
    }

    /// Prepares the first statement of `sql`: the statement (null for only whitespace or
    /// comments) and the bytes it used.
    fn prepare_one(&self, sql: &str) -> Result<(*mut sys::sqlite3_stmt, usize), Error> {
        let mut stmt = std::ptr::null_mut();
        let mut tail: *const c_char = std::ptr::null();
        let len = c_int::try_from(sql.len()).map_err(|_| Error::invalid(format!("db {}: the statement is too long", self.shown)))?;
        // SAFETY: text and length of a live str; out-pointers to locals.
        let rc = unsafe {
            sys::sqlite3_prepare_v3(self.db, sql.as_ptr() as *const c_char, len, sys::SQLITE_PREPARE_PERSISTENT, &mut stmt, &mut tail)
        };
        if rc != sys::SQLITE_OK {
            return Err(self.error(rc));
        }
        let used = if tail.is_null() { sql.len() } else { tail as usize - sql.as_ptr() as usize };
        Ok((stmt, used))
    }

    /// How many parameters `sql` takes when it is one statement; None for a script, whose later
    /// statements may need what its earlier ones make, and are prepared as they run.
    pub fn parameters(&mut self, sql: &str) -> Result<Option<usize>, Error> {
        let (stmt, tail) = self.prepare(sql)?;
        if tail.is_some() {
            // SAFETY: a script's first statement, which the cache does not hold.
            unsafe { sys::sqlite3_finalize(stmt) };
            return Ok(None);
        }
        // SAFETY: a statement of this handle, when not null.
        Ok(Some(if stmt.is_null() { 0 } else { unsafe { sys::sqlite3_bind_parameter_count(stmt) as usize } }))
    }

    /// Runs every statement of `sql`, binding `params` in order across them, and hands each
    /// row to `sink`.
    pub fn run(&mut self, sql: &str, params: &[Param], sink: &mut dyn Sink) -> Result<Done, Error> {
        let (stmt, tail) = self.prepare(sql)?;
        let Some(mut at) = tail else {
            if stmt.is_null() {
                return Ok(self.done());
            }
            let bound = self.bind(stmt, params, 0)?;
            if bound != params.len() {
                return Err(self.count_error(bound, params.len()));
            }
            return self.step_all(stmt, sink);
        };
        // A script: each statement prepared once, not kept.
        let mut first = Some(stmt);
        let mut given = 0;
        let mut done = self.done();
        loop {
            let stmt = match first.take() {
                Some(s) => s,
                None => {
                    if at >= sql.len() {
                        break;
                    }
                    let (s, used) = self.prepare_one(&sql[at..])?;
                    if used == 0 {
                        // SQLite reads no further (a NUL byte ends its text).
                        return Err(Error::invalid(format!("db {}: SQLite stops reading the statement at byte {}", self.shown, at + 1)));
                    }
                    at += used;
                    s
                }
            };
            if stmt.is_null() {
                continue;
            }
            let outcome = self.bind(stmt, &params[given..], given).and_then(|n| {
                given += n;
                self.step_all(stmt, sink)
            });
            // SAFETY: this statement is no one else's.
            unsafe { sys::sqlite3_finalize(stmt) };
            done = outcome?;
        }
        if given != params.len() {
            return Err(self.count_error(given, params.len()));
        }
        Ok(done)
    }

    fn count_error(&self, takes: usize, given: usize) -> Error {
        Error::invalid(format!("db {}: {}", self.shown, super::takes_given(takes, given)))
    }

    /// Binds the first parameters of `params` that `stmt` takes; how many it took. Fewer
    /// than it takes is an error (a cached statement would keep its last call's values), in
    /// which `before` counts the parameters a script's earlier statements took.
    fn bind(&self, stmt: *mut sys::sqlite3_stmt, params: &[Param], before: usize) -> Result<usize, Error> {
        // SAFETY: a statement of this handle; text and blobs are copied by SQLite (TRANSIENT).
        unsafe {
            sys::sqlite3_reset(stmt);
            let takes = sys::sqlite3_bind_parameter_count(stmt) as usize;
            if takes > params.len() {
                return Err(self.count_error(before + takes, before + params.len()));
            }
            for (i, p) in params.iter().take(takes).enumerate() {
                let at = i as c_int + 1;
                let rc = match p {
                    Param::Null => sys::sqlite3_bind_null(stmt, at),
                    Param::Bool(b) => sys::sqlite3_bind_int64(stmt, at, *b as i64),
                    Param::Int(n) => sys::sqlite3_bind_int64(stmt, at, *n),
                    Param::Float(f) => sys::sqlite3_bind_double(stmt, at, *f),
                    Param::Text(s) => {
                        sys::sqlite3_bind_text64(stmt, at, s.as_ptr() as *const c_char, s.len() as u64, sys::SQLITE_TRANSIENT(), sys::SQLITE_UTF8 as u8)
                    }
                    Param::Bytes(b) => sys::sqlite3_bind_blob64(stmt, at, b.as_ptr().cast(), b.len() as u64, sys::SQLITE_TRANSIENT()),
                };
                if rc != sys::SQLITE_OK {
                    return Err(self.error(rc));
                }
            }
            Ok(takes.min(params.len()))
        }
    }

    fn step_all(&mut self, stmt: *mut sys::sqlite3_stmt, sink: &mut dyn Sink) -> Result<Done, Error> {
        let stepped = step(stmt, sink).map_err(|rc| self.error(rc));
        // SAFETY: a statement of this handle, ready for its next use.
        unsafe { sys::sqlite3_reset(stmt) };
        stepped.map(|_| self.done())
    }

    fn done(&self) -> Done {
        // SAFETY: an open handle.
        unsafe { Done { affected: sys::sqlite3_changes64(self.db) as u64, last_insert_id: sys::sqlite3_last_insert_rowid(self.db) } }
    }

    /// A statement of its own for a stream: prepared, bound, not yet stepped.
    fn cursor(&self, sql: &str, params: &[Param]) -> Result<Statement, Error> {
        let (stmt, used) = self.prepare_one(sql)?;
        let statement = Statement(stmt);
        if stmt.is_null() {
            return Err(Error::invalid(format!("db {}: rows takes a statement, and there is none", self.shown)));
        }
        if !sql[used..].trim().is_empty() {
            return Err(Error::invalid(format!("db {}: rows takes one statement", self.shown)));
        }
        let bound = self.bind(stmt, params, 0)?;
        if bound != params.len() {
            return Err(self.count_error(bound, params.len()));
        }
        Ok(statement)
    }
}

/// Steps `stmt`, handing its rows to `sink` until the sink is full (true: rows may follow) or
/// the rows are over (false); the failing step's result code otherwise.
fn step(stmt: *mut sys::sqlite3_stmt, sink: &mut dyn Sink) -> Result<bool, c_int> {
    // SAFETY: a prepared, bound statement, used by one thread at a time.
    let row = Row { stmt, len: unsafe { sys::sqlite3_column_count(stmt) } as usize };
    loop {
        match unsafe { sys::sqlite3_step(stmt) } {
            sys::SQLITE_ROW => {
                if !sink.row(&row) {
                    return Ok(true);
                }
            }
            sys::SQLITE_DONE => return Ok(false),
            rc => return Err(rc),
        }
    }
}

/// A statement finalized when dropped.
struct Statement(*mut sys::sqlite3_stmt);

// SAFETY: it moves between threads with its handle, used by one at a time (see Handle).
unsafe impl Send for Statement {}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: the statement is owned here (finalizing null is a no-op).
        unsafe { sys::sqlite3_finalize(self.0) };
    }
}

/// SQLite's error as essh's: constraints with the constraint they name, syntax apart from
/// other failures, a locked database retryable.
pub fn error_of(shown: &str, rc: c_int, message: &str) -> Error {
    let kind = match rc & 0xff {
        sys::SQLITE_CONSTRAINT => Kind::Constraint,
        sys::SQLITE_BUSY | sys::SQLITE_LOCKED => Kind::Timeout,
        sys::SQLITE_PERM | sys::SQLITE_READONLY | sys::SQLITE_AUTH => Kind::PermissionDenied,
        sys::SQLITE_CANTOPEN => Kind::NotFound,
        sys::SQLITE_IOERR | sys::SQLITE_FULL | sys::SQLITE_CORRUPT | sys::SQLITE_NOTADB => Kind::Io,
        sys::SQLITE_INTERRUPT => Kind::Interrupted,
        sys::SQLITE_ERROR
            if message.contains("syntax error")
                || message.starts_with("no such table")
                || message.starts_with("no such column")
                || message.starts_with("incomplete input") =>
        {
            Kind::Syntax
        }
        _ => Kind::Remote,
    };
    let mut err = Error::new(kind, format!("db {shown}: {message}")).with("code", rc.to_string());
    if kind == Kind::Timeout {
        err = err.retryable(true);
    }
    if kind == Kind::Constraint {
        // "UNIQUE constraint failed: users.email", "CHECK constraint failed: positive"
        if let Some(named) = message.split(" constraint failed: ").nth(1) {
            err = err.with("constraint", named.to_string());
        }
    }
    err
}

/// The handles of one database, and what opens more.
pub struct Lite {
    path: String,
    access: Access,
    busy: Duration,
    shown: Arc<str>,
    idle: Mutex<Vec<Handle>>,
    /// How many idle handles stay open.
    keep: usize,
    /// `:memory:` has one handle; whether it is out.
    memory: bool,
}

impl Lite {
    /// A database at `path` (`:memory:` too), its first handle opened to check it.
    pub fn open(path: &str, access: Access, busy: Duration, keep: usize, shown: &str) -> Result<Arc<Lite>, Error> {
        let shown: Arc<str> = shown.into();
        let first = Handle::open(path, access, busy, shown.clone())?;
        Ok(Arc::new(Lite {
            path: path.to_string(),
            access,
            busy,
            shown,
            idle: Mutex::new(vec![first]),
            keep: keep.max(1),
            memory: path == ":memory:",
        }))
    }

    /// An idle handle, or a new one.
    pub fn checkout(self: &Arc<Lite>) -> Result<Checkout, Error> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let handle = match idle {
            Some(h) => h,
            None if self.memory => {
                return Err(Error::new(
                    Kind::Timeout,
                    format!("db {}: the in-memory database's one connection is in use (by a transaction or an open rows loop)", self.shown),
                ))
            }
            None => Handle::open(&self.path, self.access, self.busy, self.shown.clone())?,
        };
        Ok(Checkout { handle: Some(handle), home: self.clone() })
    }

    fn give_back(&self, mut handle: Handle) {
        if handle.in_transaction() {
            // A transaction left open (its owner dropped it) ends here.
            let _ = handle.run("ROLLBACK", &[], &mut Discard);
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.keep || self.memory {
            idle.push(handle);
        }
    }
}

/// A handle taken from its [`Lite`], given back when dropped.
pub struct Checkout {
    handle: Option<Handle>,
    home: Arc<Lite>,
}

impl Checkout {
    pub fn handle(&mut self) -> &mut Handle {
        self.handle.as_mut().expect("a checkout holds its handle until dropped")
    }

    /// A stream of `sql`'s rows on this handle.
    pub fn stream(mut self, sql: &str, params: &[Param]) -> Result<Stream, Error> {
        let statement = self.handle().cursor(sql, params)?;
        Ok(Stream { statement: Some(statement), checkout: Some(self) })
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.home.give_back(h);
        }
    }
}

/// The rows of one statement, stepped a batch at a time; its handle is given back at the end.
pub struct Stream {
    // Dropped before the checkout: the statement is finalized before its handle goes back.
    statement: Option<Statement>,
    checkout: Option<Checkout>,
}

impl Stream {
    /// Hands the next rows to `sink` until it is full; false once the rows are over.
    pub fn next(&mut self, sink: &mut dyn Sink) -> Result<bool, Error> {
        let (Some(statement), Some(checkout)) = (&self.statement, &mut self.checkout) else { return Ok(false) };
        let stepped = step(statement.0, sink).map_err(|rc| checkout.handle().error(rc));
        if stepped != Ok(true) {
            self.finish();
        }
        stepped
    }

    fn finish(&mut self) {
        self.statement = None;
        self.checkout = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects rows as (column, value) text.
    struct Collect(Vec<Vec<(String, String)>>, usize);

    impl Sink for Collect {
        fn row(&mut self, row: &Row) -> bool {
            let cells = (0..row.len())
                .map(|i| {
                    let v = match row.cell(i) {
                        Cell::Null => "NULL".to_string(),
                        Cell::Int(n) => format!("i{n}"),
                        Cell::Float(f) => format!("f{f}"),
                        Cell::Text(t) => format!("t{}", String::from_utf8_lossy(t)),
                        Cell::Blob(b) => format!("b{b:?}"),
                    };
                    (String::from_utf8_lossy(row.name(i)).into_owned(), v)
                })
                .collect();
            self.0.push(cells);
            self.0.len() < self.1
        }
    }

    fn memory() -> Arc<Lite> {
        Lite::open(":memory:", Access::Create, Duration::from_secs(1), 1, "sqlite::memory:").unwrap()
    }

    #[test]
    fn runs_scripts_binds_and_reads_each_storage_class() {
        let lite = memory();
        let mut c = lite.checkout().unwrap();
        let h = c.handle();
        h.run("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, f REAL, b BLOB); CREATE TABLE u (x);", &[], &mut Discard).unwrap();
        let done = h
            .run("INSERT INTO t (s, f, b) VALUES (?, ?, ?)", &[Param::Text("it's ?".into()), Param::Float(2.5), Param::Bytes(vec![0, 255])], &mut Discard)
            .unwrap();
        assert_eq!(done, Done { affected: 1, last_insert_id: 1 });
        let mut rows = Collect(Vec::new(), usize::MAX);
        h.run("SELECT id, s, f, b, NULL AS n FROM t WHERE s = ?", &[Param::Text("it's ?".into())], &mut rows).unwrap();
        assert_eq!(
            rows.0,
            vec![vec![
                ("id".into(), "i1".into()),
                ("s".into(), "tit's ?".into()),
                ("f".into(), "f2.5".into()),
                ("b".into(), "b[0, 255]".into()),
                ("n".into(), "NULL".into())
            ]]
        );
    }

    #[test]
    fn a_script_sqlite_stops_reading_is_an_error() {
        let lite = memory();
        let mut c = lite.checkout().unwrap();
        for sql in ["SELECT 1\0; SELECT 2", "SELECT 1\0"] {
            let err = c.handle().run(sql, &[], &mut Discard).unwrap_err();
            assert!(err.message.contains("SQLite stops reading the statement at byte 9"), "{}", err.message);
        }
    }

    #[test]
    fn names_constraints_and_syntax_errors_and_counts_parameters() {
        let lite = memory();
        let mut c = lite.checkout().unwrap();
        let h = c.handle();
        h.run("CREATE TABLE users (email TEXT UNIQUE)", &[], &mut Discard).unwrap();
        h.run("INSERT INTO users VALUES ('a')", &[], &mut Discard).unwrap();
        let err = h.run("INSERT INTO users VALUES (?)", &[Param::Text("a".into())], &mut Discard).unwrap_err();
        assert_eq!(err.kind, Kind::Constraint);
        assert!(matches!(err.detail("constraint"), Some(crate::error::Detail::Text(t)) if t == "users.email"));
        assert_eq!(h.run("SELEC 1", &[], &mut Discard).unwrap_err().kind, Kind::Syntax);
        let err = h.run("SELECT ?", &[Param::Int(1), Param::Int(2)], &mut Discard).unwrap_err();
        assert!(err.message.contains("takes 1 parameters, 2 given"), "{}", err.message);
        // The cached statement still works after a failed bind.
        let mut rows = Collect(Vec::new(), usize::MAX);
        h.run("SELECT ?", &[Param::Int(7)], &mut rows).unwrap();
        assert_eq!(rows.0[0][0].1, "i7");
        // Fewer parameters than the statement takes: refused, not its last call's values.
        let err = h.run("SELECT ?", &[], &mut Discard).unwrap_err();
        assert!(err.message.contains("takes 1 parameters, 0 given"), "{}", err.message);
        let err = h.run("SELECT ?; SELECT ?, ?", &[Param::Int(1), Param::Int(2)], &mut Discard).unwrap_err();
        assert!(err.message.contains("takes 3 parameters, 2 given"), "{}", err.message);
    }

    #[test]
    fn streams_in_batches_and_gives_its_handle_back() {
        let lite = memory();
        let c = lite.checkout().unwrap();
        assert!(lite.checkout().is_err(), "memory has one handle");
        let mut stream = c.stream("WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 10) SELECT n FROM s", &[]).unwrap();
        let mut batch = Collect(Vec::new(), 4);
        assert!(stream.next(&mut batch).unwrap());
        assert_eq!(batch.0.len(), 4);
        let mut rest = Collect(Vec::new(), usize::MAX);
        assert!(!stream.next(&mut rest).unwrap());
        assert_eq!(rest.0.len(), 6);
        assert!(lite.checkout().is_ok(), "the stream gave its handle back");
    }

    #[test]
    fn rolls_back_a_transaction_left_open() {
        let lite = memory();
        {
            let mut c = lite.checkout().unwrap();
            c.handle().run("CREATE TABLE t (x); BEGIN; INSERT INTO t VALUES (1);", &[], &mut Discard).unwrap();
            assert!(c.handle().in_transaction());
        }
        let mut c = lite.checkout().unwrap();
        assert!(!c.handle().in_transaction());
        let mut rows = Collect(Vec::new(), usize::MAX);
        c.handle().run("SELECT count(*) AS n FROM t", &[], &mut rows).unwrap();
        assert_eq!(rows.0[0][0].1, "i0");
    }

    #[test]
    fn opens_files_as_the_mode_allows() {
        let dir = std::env::temp_dir().join(format!("essh-sqlite-modes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("modes.db");
        let path = file.to_str().unwrap();
        let second = Duration::from_secs(1);
        for access in [Access::ReadOnly, Access::ReadWrite] {
            let missing = Lite::open(path, access, second, 1, "sqlite:modes.db").err().expect("a missing file is not created");
            assert_eq!(missing.kind, Kind::NotFound);
        }
        assert!(!file.exists());
        let lite = Lite::open(path, Access::Create, second, 1, "sqlite:modes.db").unwrap();
        lite.checkout().unwrap().handle().run("CREATE TABLE t (x); INSERT INTO t VALUES (1)", &[], &mut Discard).unwrap();
        let read_only = Lite::open(path, Access::ReadOnly, second, 1, "sqlite:modes.db").unwrap();
        let mut rows = Collect(Vec::new(), usize::MAX);
        read_only.checkout().unwrap().handle().run("SELECT x FROM t", &[], &mut rows).unwrap();
        assert_eq!(rows.0[0][0].1, "i1");
        let refused = read_only.checkout().unwrap().handle().run("INSERT INTO t VALUES (2)", &[], &mut Discard).unwrap_err();
        assert_eq!(refused.kind, Kind::PermissionDenied);
        let writable = Lite::open(path, Access::ReadWrite, second, 1, "sqlite:modes.db").unwrap();
        writable.checkout().unwrap().handle().run("INSERT INTO t VALUES (2)", &[], &mut Discard).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
