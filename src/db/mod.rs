//! db: MySQL and MariaDB and PostgreSQL through sqlx, SQLite called in place (`sqlite.rs`,
//! `lite.rs`): queries with bound parameters, streamed rows, transactions, structured errors.
//! Connections wait like every other primitive: blocking in plain code, yielding in tasks.
// Built with SQLite alone (no server driver), the servers' paths have no variant to run.
#![cfg_attr(
    not(any(feature = "db-mysql", feature = "db-postgres")),
    allow(unused, unreachable_code, unreachable_patterns, irrefutable_let_patterns)
)]

mod batch;
mod json_columns;
#[cfg(feature = "db-sqlite")]
mod lite;
mod lua_rows;
pub mod multi_row;
#[cfg(feature = "db-postgres")]
mod pg_array;
#[cfg(feature = "db-postgres")]
mod pg_binary;
pub mod placeholders;
mod pool;
#[cfg(feature = "db-sqlite")]
pub mod sqlite;
pub mod target;
pub mod value;

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mlua::{Lua, MultiValue, Result, Table, UserData, UserDataRef, Value};

use crate::bridge::{self, Class, ModuleDef, Need, Resources, TypeDef};
use crate::error::{Error, Kind};
use crate::func;
use crate::luavalue::is_secret;
use crate::runtime::{deliver, duration};
use json_columns::JsonColumns;
use target::{Driver, Target};
use value::Param;

fn connect_resources(args: &MultiValue) -> Resources {
    let (Some(Value::String(driver)), Some(Value::String(url))) = (args.front(), args.get(1)) else {
        return vec![("db", None)];
    };
    let target = Driver::from_name(&driver.to_string_lossy()).and_then(|d| Target::parse(d, &url.to_string_lossy()));
    vec![("db", target.ok().map(|t| t.resource()))]
}

fn conn_resources(args: &MultiValue) -> Resources {
    match args.front() {
        Some(Value::UserData(ud)) => match ud.borrow::<Connection>() {
            Ok(c) => vec![("db", Some(c.resource.clone()))],
            Err(_) => match ud.borrow::<Transaction>() {
                Ok(t) => vec![("db", Some(t.resource.clone()))],
                Err(_) => vec![("db", None)],
            },
        },
        _ => vec![("db", None)],
    }
}

static CONN: &[Need] = &[Need::custom("db", "the database of the connection", conn_resources)];

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "db",
    description: "Databases: MySQL and MariaDB, PostgreSQL (sqlx), SQLite (in place): bound parameters, streamed rows, transactions",
    classes: &[Class::Network, Class::Storage],
    functions: &[
        func!("parse", "What a connection string names: {driver, host, port, user, password (an essh.secret), database, params} or, for SQLite, {driver, path}; nil and an invalid error (which never shows the password).", [driver: "string", url: "string"], [parts: "db.Parts?", err: "essh.Error?"]),
        func!("connect", "Connects (mysql://user:pass@host:3306/db, postgres://..., sqlite:path or sqlite::memory:); a connection, or nil and an error (auth, network, timeout, tls, invalid).", [driver: "string", url: "string", options: "db.ConnectOptions?"], [conn: "db.Connection?", err: "essh.Error?"])
            .needs(&[Need::custom("db", "the database: driver://host:port/name, or sqlite:path", connect_resources)]),
    ],
    constants: &[
        crate::typed!(null: "lightuserdata", "SQL NULL (the same value as json.null)."),
        crate::typed!(luasql: "{ mysql: fun(): table, postgres: fun(): table, sqlite3: fun(): table }", "LuaSQL's shape: env:connect(database, user, password, host, port), conn:execute(sql), escape, setautocommit, commit, rollback, close; cur:fetch(t, \"a\"), getcolnames, numrows, close."),
    ],
    types: &[
        TypeDef::record("db.ConnectOptions", "", &[
            crate::typed!(timeout: "number?", "Seconds to connect and for each statement (default 30); SQLite: how long a statement waits for a database another connection has locked."),
            crate::typed!(password: "(string|essh.Secret)?", "The password, when the URL does not hold it."),
            crate::typed!(pool: "integer?", "Connections kept (default 1); SQLite opens more as transactions and rows loops need them, and keeps this many idle."),
            crate::typed!(ca_file: "string?", "PEM file of the CA that signed the server's certificate (TLS verified)."),
            crate::typed!(insecure: "boolean?", "TLS without verifying the certificate (logs a warning)."),
            crate::typed!(via: "(ssh.Session|essh.Context|table)?", "Reach the server through this ssh session, or a task's connection or context (a tunnel)."),
            crate::typed!(port: "integer?", "Connect to this port of 127.0.0.1 instead (the end of a tunnel; what via uses)."),
            crate::typed!(json: "string[]?", "Columns whose JSON text comes back decoded (json.decode's values), in every query and rows loop of the connection."),
        ]),
        TypeDef::record("db.Parts", "", &[
            crate::typed!(driver: "string", "mysql, postgres or sqlite."),
            crate::typed!(host: "string?"),
            crate::typed!(port: "integer?", "The URL's, or the driver's default."),
            crate::typed!(user: "string?"),
            crate::typed!(password: "essh.Secret?"),
            crate::typed!(database: "string?"),
            crate::typed!(params: "table<string, string>?", "The query string's parameters."),
            crate::typed!(path: "string?", "SQLite: the file, or :memory:."),
        ]),
        TypeDef::record("db.Result", "", &[
            crate::typed!(affected: "integer", "Rows changed."),
            crate::typed!(last_insert_id: "integer?", "MySQL's and SQLite's id of the last inserted row."),
        ]),
        TypeDef::record("db.BatchResult", "", &[
            crate::typed!(affected: "integer", "Rows changed, over every row of the batch."),
            crate::typed!(statements: "integer", "Statements sent: fewer than rows when an INSERT carried many."),
        ]),
        TypeDef {
            name: "db.Connection",
            doc: "A connection (a pool of them).",
            fields: &[crate::typed!(driver: "string"), crate::typed!(url: "string", "Without its password.")],
            methods: &[
                func!("query", "The rows, each a table by column name; rows.columns holds the names in order.", [sql: "string", params: "any ..."], [rows: "table[]?", err: "essh.Error?"]).needs(CONN),
                func!("exec", "Runs a statement: { affected, last_insert_id }.", [sql: "string", params: "any ..."], [result: "db.Result?", err: "essh.Error?"]).needs(CONN),
                func!("exec_many", "Runs a statement once for each row of parameters, all in one transaction (all rows or none): { affected, statements }. A plain INSERT ... VALUES (...) on a server sends up to 1,000 rows in a statement.", [sql: "string", rows: "any[][]"], [result: "db.BatchResult?", err: "essh.Error?"]).needs(CONN),
                func!("rows", "An iterator over the rows, read from the server in batches as the loop goes (a million rows do not sit in memory); an error raises.", [sql: "string", params: "any ..."], [iterator: "fun(): table?"]).needs(CONN),
                func!("transaction", "Runs fn(tx) in a transaction: committed when fn returns (its results, or true), rolled back when it raises (nil and the error).", [fn_: "fun(tx: db.Transaction): any"], [results: "any ..."]).needs(CONN),
                func!("close", "Closes the connection.", [], []),
            ],
            method_index: Some(connection_index),
        },
        TypeDef {
            name: "db.Transaction",
            doc: "A transaction: query and exec run inside it.",
            fields: &[],
            methods: &[
                func!("query", "As conn:query, inside the transaction.", [sql: "string", params: "any ..."], [rows: "table[]?", err: "essh.Error?"]).needs(CONN),
                func!("exec", "As conn:exec, inside the transaction.", [sql: "string", params: "any ..."], [result: "db.Result?", err: "essh.Error?"]).needs(CONN),
                func!("exec_many", "As conn:exec_many, inside the transaction.", [sql: "string", rows: "any[][]"], [result: "db.BatchResult?", err: "essh.Error?"]).needs(CONN),
                func!("commit", "Commits.", [], [ok: "boolean?", err: "essh.Error?"]),
                func!("rollback", "Rolls back.", [], [ok: "boolean?", err: "essh.Error?"]),
            ],
            method_index: Some(transaction_index),
        },
    ],
    build,
};

#[derive(Clone)]
enum Pool {
    #[cfg(feature = "db-mysql")]
    My(Arc<pool::Conns<sqlx::MySqlConnection>>),
    #[cfg(feature = "db-postgres")]
    Pg(Arc<pool::Conns<sqlx::PgConnection>>),
    #[cfg(feature = "db-sqlite")]
    Lite(Arc<sqlite::Lite>),
}

pub struct Connection {
    pool: std::sync::Mutex<Option<Pool>>,
    driver: Driver,
    shown: String,
    resource: String,
    timeout: Duration,
    json: JsonColumns,
}

impl Connection {
    fn pool(&self) -> std::result::Result<Pool, Error> {
        self.pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Error::new(Kind::Invalid, format!("db: the connection to {} is closed", self.shown)))
    }

    fn close(&self) {
        // Connections lent to a stream or a transaction close as they come back.
        match self.pool.lock().unwrap_or_else(|p| p.into_inner()).take() {
            #[cfg(feature = "db-mysql")]
            Some(Pool::My(p)) => p.close(),
            #[cfg(feature = "db-postgres")]
            Some(Pool::Pg(p)) => p.close(),
            _ => {}
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
    }
}

impl UserData for Connection {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("driver", |_, c| Ok(c.driver.name()));
        fields.add_field_method_get("url", |_, c| Ok(c.shown.clone()));
        fields.add_meta_field_with("__index", connection_index);
    }

    fn add_methods<M: mlua::UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(mlua::MetaMethod::ToString, |_, c, ()| Ok(format!("db.Connection ({})", c.shown)));
        #[cfg(feature = "lua54")]
        methods.add_meta_method(mlua::MetaMethod::Close, |_, c, _: Value| {
            c.close();
            Ok(())
        });
    }
}

/// A connection lent by the pool: to a transaction (BEGIN sent), or to one statement; SQLite's
/// handle of a transaction.
pub(crate) enum Tx {
    #[cfg(feature = "db-mysql")]
    My(pool::Loan<sqlx::MySqlConnection>),
    #[cfg(feature = "db-postgres")]
    Pg(pool::Loan<sqlx::PgConnection>),
    #[cfg(feature = "db-sqlite")]
    Lite(sqlite::Checkout),
}

pub struct Transaction {
    tx: Arc<tokio::sync::Mutex<Option<Tx>>>,
    driver: Driver,
    shown: String,
    resource: String,
    timeout: Duration,
    json: JsonColumns,
    /// The address of its userdata while the direct entry of exec knows it (0: unknown).
    key: std::cell::Cell<usize>,
}

/// `t` as Lua userdata, known to the direct entry of exec where there is one.
fn transaction_userdata(lua: &Lua, t: Transaction) -> Result<mlua::AnyUserData> {
    #[cfg(all(any(feature = "db-mysql", feature = "db-postgres"), unix))]
    return entry::userdata(lua, t);
    #[cfg(not(all(any(feature = "db-mysql", feature = "db-postgres"), unix)))]
    lua.create_userdata(t)
}

impl Drop for Transaction {
    fn drop(&mut self) {
        #[cfg(all(any(feature = "db-mysql", feature = "db-postgres"), unix))]
        entry::forget(self.key.get());
    }
}

impl UserData for Transaction {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field_with("__index", transaction_index);
    }
}

/// An SQL error as essh's structured error, naming the server but never the password.
fn db_error(shown: &str, e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.to_string()).unwrap_or_default();
            let message = d.message().to_string();
            let number = mysql_number(d.as_ref());
            let kind = match d.kind() {
                sqlx::error::ErrorKind::UniqueViolation
                | sqlx::error::ErrorKind::ForeignKeyViolation
                | sqlx::error::ErrorKind::NotNullViolation
                | sqlx::error::ErrorKind::CheckViolation => Kind::Constraint,
                _ if code == "42601" || code.starts_with("42") && number.is_none() && code != "42501" => Kind::Syntax,
                _ if number == Some(1064) || number == Some(1146) || number == Some(1054) => Kind::Syntax,
                _ if message.contains("syntax error") || message.starts_with("no such table") || message.starts_with("no such column") => Kind::Syntax,
                _ if code == "28P01" || code == "28000" || number == Some(1045) || number == Some(1044) => Kind::Auth,
                _ if code == "42501" || number == Some(1142) => Kind::PermissionDenied,
                _ => Kind::Remote,
            };
            let constraint = d.constraint().map(String::from).or_else(|| mysql_key(&message));
            let mut err = Error::new(kind, format!("db {shown}: {message}")).with("code", code);
            if let Some(n) = number {
                err = err.with("number", n as i64);
            }
            if let Some(c) = constraint {
                err = err.with("constraint", c);
            }
            err
        }
        sqlx::Error::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            Error::new(Kind::Tls, format!("db {shown}: {io}"))
        }
        sqlx::Error::Io(io) => Error::new(Kind::Network, format!("db {shown}: {io}")).retryable(true),
        sqlx::Error::Tls(t) => Error::new(Kind::Tls, format!("db {shown}: {t}")),
        sqlx::Error::PoolTimedOut => Error::new(
            Kind::Timeout,
            format!("db {shown}: no connection came free within the timeout (the pool's are held by transactions or rows loops; see the pool option)"),
        )
        .retryable(true),
        sqlx::Error::PoolClosed => Error::new(Kind::Invalid, format!("db {shown}: the connection is closed")),
        sqlx::Error::Configuration(c) => Error::new(Kind::Invalid, format!("db {shown}: {c}")),
        sqlx::Error::InvalidArgument(m) => Error::new(Kind::Invalid, format!("db {shown}: {m}")),
        sqlx::Error::Protocol(p) => Error::new(Kind::Network, format!("db {shown}: {p}")).retryable(true),
        other => Error::new(Kind::Remote, format!("db {shown}: {other}")),
    }
}

fn mysql_number(d: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    #[cfg(feature = "db-mysql")]
    if let Some(m) = d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return Some(m.number());
    }
    let _ = d;
    None
}

/// The key a MySQL duplicate names: "Duplicate entry 'x' for key 'users.email'".
fn mysql_key(message: &str) -> Option<String> {
    let rest = message.split(" for key '").nth(1)?;
    let key = rest.split('\'').next()?;
    Some(key.rsplit('.').next().unwrap_or(key).to_string())
}

/// `work` within `timeout`, its error as essh's.
async fn within<T>(
    timeout: Duration,
    shown: &str,
    work: impl std::future::Future<Output = std::result::Result<T, sqlx::Error>>,
) -> std::result::Result<T, Error> {
    tokio::time::timeout(timeout, work).await.map_err(|_| timed_out(shown))?.map_err(|e| db_error(shown, e))
}

/// A transaction's statement after its commit or rollback.
fn over(shown: &str) -> Error {
    Error::new(Kind::Invalid, format!("db {shown}: the transaction is over"))
}

fn timed_out(shown: &str) -> Error {
    Error::new(Kind::Timeout, format!("db {shown}: the statement did not finish within the timeout")).retryable(true)
}

/// Parameters from Lua values (essh.secret values revealed).
fn params(lua: &Lua, args: MultiValue) -> Result<Vec<Param>> {
    let null = crate::luavalue::null();
    let mut out = Vec::with_capacity(args.len());
    for (i, v) in args.into_iter().enumerate() {
        out.push(param(lua, &null, i + 1, v)?);
    }
    Ok(out)
}

/// Parameter number `k`, the Lua value `v` (`null` is db.null).
fn param(lua: &Lua, null: &Value, k: usize, v: Value) -> Result<Param> {
    Ok(match v {
        Value::Nil => Param::Null,
        v if v == *null => Param::Null,
        Value::Boolean(b) => Param::Bool(b),
        Value::Integer(n) => Param::Int(n),
        Value::Number(f) if f.fract() == 0.0 && f.abs() < EXACT_IN_A_DOUBLE && cfg!(not(any(feature = "lua53", feature = "lua54"))) => Param::Int(f as i64),
        Value::Number(f) => Param::Float(f),
        Value::String(s) => string_param(&s.as_bytes()),
        Value::Table(t) if is_secret(&t) => match crate::luavalue::reveal(lua, t)? {
            Value::String(s) => Param::Text(s.to_str()?.to_string()),
            other => return Err(mlua::Error::runtime(format!("db: secret parameter {k} holds a {}", other.type_name()))),
        },
        other => {
            return Err(mlua::Error::runtime(format!(
                "db: parameter {k} is a {}: bind strings, numbers, booleans, nil or db.null",
                other.type_name()
            )))
        }
    })
}

/// 2^53: whole numbers below it are exact in a double, so a Lua number on 5.1 and LuaJIT binds
/// as an integer.
const EXACT_IN_A_DOUBLE: f64 = 9_007_199_254_740_992.0;

/// A Lua string as a parameter: text when it is UTF-8, bytes otherwise.
fn string_param(s: &[u8]) -> Param {
    match std::str::from_utf8(s) {
        Ok(text) => Param::Text(text.to_string()),
        Err(_) => Param::Bytes(s.to_vec()),
    }
}

/// Rows read from a server as sqlx read them, decoded as they become Lua tables.
pub enum Rows {
    #[cfg(feature = "db-mysql")]
    My(Vec<sqlx::mysql::MySqlRow>),
    #[cfg(feature = "db-postgres")]
    Pg(Vec<sqlx::postgres::PgRow>),
}

impl Rows {
    /// The rows as a list of tables (`into` filled again when given, see lua_rows::make), or
    /// nil and the error of a cell that cannot be read.
    fn to_lua(&self, lua: &Lua, into: Option<Table>) -> Result<MultiValue> {
        match *self {
            #[cfg(feature = "db-mysql")]
            Rows::My(ref rows) => crate::error::pair(lua, lua_rows::from_rows(lua, into, rows, lua_rows::push_mysql, value::mysql_cell)?),
            #[cfg(feature = "db-postgres")]
            Rows::Pg(ref rows) => crate::error::pair(lua, lua_rows::from_rows(lua, into, rows, lua_rows::push_pg, value::postgres_cell)?),
        }
    }
}

macro_rules! bind_all {
    ($query:expr, $params:expr, $null:expr) => {{
        let mut q = $query;
        for p in $params {
            q = match p {
                Param::Null => q.bind($null),
                Param::Bool(b) => q.bind(*b),
                Param::Int(n) => q.bind(*n),
                Param::Float(f) => q.bind(*f),
                Param::Text(s) => q.bind(s.as_str()),
                Param::Bytes(b) => q.bind(b.as_slice()),
            };
        }
        q
    }};
}

#[cfg(all(any(feature = "db-mysql", feature = "db-postgres"), unix))]
mod direct;
#[cfg(all(any(feature = "db-mysql", feature = "db-postgres"), unix))]
mod entry;

/// `sql` with `params` bound for MySQL, their room reserved up front.
#[cfg(feature = "db-mysql")]
fn my_query<'q>(sql: &'q str, params: &'q [Param]) -> sqlx::query::Query<'q, sqlx::MySql, sqlx::mysql::MySqlArguments> {
    let mut arguments = sqlx::mysql::MySqlArguments::default();
    sqlx::Arguments::reserve(&mut arguments, params.len(), params.iter().map(Param::size).sum());
    bind_all!(sqlx::query_with(sql, arguments), params, None::<&str>)
}

/// `sql` with `params` bound for PostgreSQL, their room reserved up front.
#[cfg(feature = "db-postgres")]
fn pg_query<'q>(sql: &'q str, params: &'q [Param]) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut arguments = sqlx::postgres::PgArguments::default();
    sqlx::Arguments::reserve(&mut arguments, params.len(), params.iter().map(|p| p.size() + 4).sum());
    bind_all!(sqlx::query_with(sql, arguments), params, UntypedNull)
}

/// A NULL of no declared type, so that PostgreSQL infers the column's.
#[cfg(feature = "db-postgres")]
struct UntypedNull;

#[cfg(feature = "db-postgres")]
impl sqlx::Type<sqlx::Postgres> for UntypedNull {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

#[cfg(feature = "db-postgres")]
impl sqlx::Encode<'_, sqlx::Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

/// A statement's text from Lua: a string without NUL bytes, where SQLite's text ends and which
/// the servers refuse in a statement (a parameter holds them).
struct Sql(String);

impl mlua::FromLua for Sql {
    fn from_lua(value: Value, lua: &Lua) -> Result<Sql> {
        let text = <String as mlua::FromLua>::from_lua(value, lua)?;
        match nul_at(&text) {
            Some(at) => Err(mlua::Error::runtime(format!(
                "SQL without NUL bytes expected, got one at byte {} (bind such text as a parameter)",
                at + 1
            ))),
            None => Ok(Sql(text)),
        }
    }
}

/// Where a statement holds a NUL byte, if it does.
fn nul_at(sql: &str) -> Option<usize> {
    sql.bytes().position(|b| b == 0)
}

/// A statement's text for the driver: `?` numbered for PostgreSQL.
fn statement(driver: Driver, sql: String) -> String {
    match driver {
        Driver::Postgres => placeholders::number(&sql).0,
        _ => sql,
    }
}


/// A transaction begun on a connection the pool lends.
async fn begin(pool: &Pool) -> std::result::Result<Tx, sqlx::Error> {
    let mut tx = lend(pool).await?;
    match &mut tx {
        #[cfg(feature = "db-mysql")]
        Tx::My(loan) => {
            sqlx::Executor::execute(loan.conn(), "BEGIN").await?;
        }
        #[cfg(feature = "db-postgres")]
        Tx::Pg(loan) => {
            sqlx::Executor::execute(loan.conn(), "BEGIN").await?;
        }
        #[allow(unreachable_patterns)]
        _ => return Err(sqlx::Error::Configuration("SQLite begins in place".into())),
    }
    Ok(tx)
}

/// The statement that ends a transaction.
fn ending(commit: bool) -> &'static str {
    if commit {
        "COMMIT"
    } else {
        "ROLLBACK"
    }
}

/// Commits or rolls back a transaction; its connection goes back, kept when that worked.
async fn end(tx: Tx, commit: bool) -> std::result::Result<(), sqlx::Error> {
    let sql = ending(commit);
    macro_rules! ended {
        ($loan:expr) => {{
            let mut loan = $loan;
            let outcome = sqlx::Executor::execute(loan.conn(), sql).await.map(|_| ());
            loan.ended(&outcome);
            outcome
        }};
    }
    match tx {
        #[cfg(feature = "db-mysql")]
        Tx::My(loan) => ended!(loan),
        #[cfg(feature = "db-postgres")]
        Tx::Pg(loan) => ended!(loan),
        #[allow(unreachable_patterns)]
        _ => Err(sqlx::Error::Configuration("SQLite ends in place".into())),
    }
}

/// A server takes at most this many parameters in a statement (both count them in 16 bits).
const MOST_PARAMETERS: usize = 65_535;

/// Refuses more parameters than any server takes, before anything is sent.
fn within_most_parameters(params: &[Param]) -> std::result::Result<(), sqlx::Error> {
    match params.len() {
        n if n > MOST_PARAMETERS => Err(parameter_count_error(MOST_PARAMETERS, n)),
        _ => Ok(()),
    }
}

fn parameter_count_error(takes: usize, given: usize) -> sqlx::Error {
    sqlx::Error::InvalidArgument(takes_given(takes, given))
}

/// What an error says when a statement is given another number of parameters than it takes.
fn takes_given(takes: usize, given: usize) -> String {
    format!("the statement takes {takes} parameters, {given} given")
}

/// The text MySQL runs for `sql`: refused when the server counts another number of
/// parameters than `params` (sqlx would send them, and the server read them misaligned).
#[cfg(feature = "db-mysql")]
async fn my_text<'a>(c: &mut sqlx::MySqlConnection, sql: &'a str, params: &[Param]) -> std::result::Result<Cow<'a, str>, sqlx::Error> {
    within_most_parameters(params)?;
    let prepared = sqlx::Executor::prepare(&mut *c, sql).await?;
    if let Some(sqlx::Either::Right(takes)) = sqlx::Statement::parameters(&prepared) {
        if takes != params.len() {
            return Err(parameter_count_error(takes, params.len()));
        }
    }
    // A statement beyond the server's max_allowed_packet is not read: the server closes the
    // connection. Its limit is asked only for a statement that could reach the smallest default.
    let size = my_statement_size(sql, params);
    if size > SMALLEST_PACKET_LIMIT {
        let most: i64 = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS SIGNED)").fetch_one(&mut *c).await?;
        if size as i64 > most {
            return Err(sqlx::Error::InvalidArgument(format!(
                "the statement and its parameters take {} bytes, more than the server's max_allowed_packet ({most})",
                size
            )));
        }
    }
    Ok(Cow::Borrowed(sql))
}

/// The smallest max_allowed_packet a server has by default (MySQL 5.7's 4 MiB).
#[cfg(feature = "db-mysql")]
const SMALLEST_PACKET_LIMIT: usize = 4 << 20;

/// About the bytes a MySQL statement and its parameters take on the wire.
#[cfg(feature = "db-mysql")]
fn my_statement_size(sql: &str, params: &[Param]) -> usize {
    sql.len() + params.iter().map(|p| p.size() + 9).sum::<usize>()
}

/// The text PostgreSQL runs for `sql` with `params`: `sql` itself when the connection's
/// prepared statement of it takes the values' types (sqlx keeps one statement a text, typed by
/// the values of its first call, and another type's bytes would be read as that type: an
/// integer as a float, NaN); else `sql` with a comment that names the types, a statement of
/// its own.
#[cfg(feature = "db-postgres")]
async fn pg_text<'a>(c: &mut sqlx::PgConnection, sql: &'a str, params: &[Param]) -> std::result::Result<Cow<'a, str>, sqlx::Error> {
    within_most_parameters(params)?;
    let types: Vec<sqlx::postgres::PgTypeInfo> = params.iter().map(pg_type).collect();
    // Types declared beyond the statement's parameters would be parameters too, unused.
    let declared = &types[..types.len().min(placeholders::count(sql, Driver::Postgres))];
    let prepared = sqlx::Executor::prepare_with(&mut *c, sql, declared).await?;
    let fits = match sqlx::Statement::parameters(&prepared) {
        Some(sqlx::Either::Left(wanted)) => {
            if wanted.len() != params.len() {
                return Err(parameter_count_error(wanted.len(), params.len()));
            }
            pg_fits(wanted, params)
        }
        _ => true,
    };
    if fits {
        return Ok(Cow::Borrowed(sql));
    }
    let names: Vec<&str> = params.iter().zip(&types).map(|(p, t)| if matches!(p, Param::Null) { "unknown" } else { sqlx::TypeInfo::name(t) }).collect();
    Ok(Cow::Owned(format!("{sql}\n-- essh: parameters {}", names.join(", "))))
}

/// Whether a prepared statement that takes parameters of the types `wanted` reads `params` as
/// they are (a NULL fits any type).
#[cfg(feature = "db-postgres")]
fn pg_fits(wanted: &[sqlx::postgres::PgTypeInfo], params: &[Param]) -> bool {
    wanted.iter().zip(params).all(|(w, p)| matches!(p, Param::Null) || *w == pg_type(p))
}

/// The type PostgreSQL is told a parameter has (NULL: none, the server infers it).
#[cfg(feature = "db-postgres")]
fn pg_type(p: &Param) -> sqlx::postgres::PgTypeInfo {
    match p {
        Param::Null => <UntypedNull as sqlx::Type<sqlx::Postgres>>::type_info(),
        Param::Bool(_) => <bool as sqlx::Type<sqlx::Postgres>>::type_info(),
        Param::Int(_) => <i64 as sqlx::Type<sqlx::Postgres>>::type_info(),
        Param::Float(_) => <f64 as sqlx::Type<sqlx::Postgres>>::type_info(),
        Param::Text(_) => <String as sqlx::Type<sqlx::Postgres>>::type_info(),
        Param::Bytes(_) => <Vec<u8> as sqlx::Type<sqlx::Postgres>>::type_info(),
    }
}

async fn fetch_all(on: &mut Tx, sql: &str, params: &[Param]) -> std::result::Result<Rows, sqlx::Error> {
    match on {
        #[cfg(feature = "db-mysql")]
        Tx::My(t) => {
            let text = my_text(t.conn(), sql, params).await?;
            Ok(Rows::My(my_query(&text, params).fetch_all(t.conn()).await?))
        }
        #[cfg(feature = "db-postgres")]
        Tx::Pg(t) => {
            let text = pg_text(t.conn(), sql, params).await?;
            Ok(Rows::Pg(pg_query(&text, params).fetch_all(t.conn()).await?))
        }
        #[allow(unreachable_patterns)]
        _ => Err(sqlx::Error::Configuration("SQLite runs in place".into())),
    }
}

async fn execute(on: &mut Tx, sql: &str, params: &[Param]) -> std::result::Result<(u64, Option<i64>), sqlx::Error> {
    #[cfg(feature = "db-mysql")]
    async fn my(c: &mut sqlx::MySqlConnection, sql: &str, params: &[Param]) -> std::result::Result<(u64, Option<i64>), sqlx::Error> {
        let text = my_text(c, sql, params).await?;
        let r = my_query(&text, params).execute(c).await?;
        Ok((r.rows_affected(), Some(r.last_insert_id() as i64)))
    }
    #[cfg(feature = "db-postgres")]
    async fn pg(c: &mut sqlx::PgConnection, sql: &str, params: &[Param]) -> std::result::Result<(u64, Option<i64>), sqlx::Error> {
        let text = pg_text(c, sql, params).await?;
        Ok((pg_query(&text, params).execute(c).await?.rows_affected(), None))
    }
    match on {
        #[cfg(feature = "db-mysql")]
        Tx::My(t) => my(t.conn(), sql, params).await,
        #[cfg(feature = "db-postgres")]
        Tx::Pg(t) => pg(t.conn(), sql, params).await,
        #[allow(unreachable_patterns)]
        _ => Err(sqlx::Error::Configuration("SQLite runs in place".into())),
    }
}

/// Rows a streamed query has not handed out yet, a batch at a time.
type Batch = std::result::Result<Rows, Error>;

pub enum Stream {
    /// A server's rows, read by a task of the runtime into a channel.
    Channel { rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Batch>>>, task: tokio::task::JoinHandle<()>, json: JsonColumns },
    /// SQLite's rows, stepped as they are asked for.
    #[cfg(feature = "db-sqlite")]
    Lite(Arc<std::sync::Mutex<sqlite::Stream>>, JsonColumns),
}

impl Drop for Stream {
    fn drop(&mut self) {
        #[allow(irrefutable_let_patterns)]
        if let Stream::Channel { task, .. } = self {
            task.abort();
        }
    }
}

impl UserData for Stream {}

const BATCH: usize = 512;

async fn stream_into(pool: Pool, sql: String, params: Vec<Param>, shown: String, tx: tokio::sync::mpsc::Sender<Batch>) {
    // $batch makes a batch of the rows read.
    macro_rules! pump {
        ($p:expr, $text:ident, $null:expr, $batch:expr) => {{
            let mut loan = match $p.lend().await {
                Ok(loan) => loan,
                Err(e) => {
                    let _ = tx.send(Err(db_error(&shown, e))).await;
                    return;
                }
            };
            let text = match $text(loan.conn(), &sql, &params).await {
                Ok(text) => text,
                Err(e) => {
                    loan.ended(&Err::<(), _>(&e));
                    let _ = tx.send(Err(db_error(&shown, e))).await;
                    return;
                }
            };
            let mut batch = Vec::with_capacity(BATCH);
            let mut rows = bind_all!(sqlx::query(&text), &params, $null).fetch(loan.conn());
            while let Some(next) = rows.next().await {
                match next {
                    Ok(row) => {
                        batch.push(row);
                        if batch.len() == BATCH {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            if tx.send(Ok($batch(full))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(db_error(&shown, e))).await;
                        return;
                    }
                }
            }
            drop(rows);
            // Read to the end: the connection is fit to lend again.
            loan.keep();
            if !batch.is_empty() {
                let _ = tx.send(Ok($batch(batch))).await;
            }
        }};
    }
    match pool {
        #[cfg(feature = "db-mysql")]
        Pool::My(ref p) => pump!(p, my_text, None::<&str>, Rows::My),
        #[cfg(feature = "db-postgres")]
        Pool::Pg(ref p) => pump!(p, pg_text, UntypedNull, Rows::Pg),
        // SQLite streams in place (lite::next_batch).
        #[cfg(feature = "db-sqlite")]
        Pool::Lite(_) => {}
    }
}

/// What a statement answers: its rows, or what it changed.
#[derive(Clone, Copy)]
pub(crate) enum What {
    Query,
    Exec,
}

/// A statement on a server, as an outcome to deliver.
/// What a statement answered.
enum Answer {
    Rows(Rows),
    Done(u64, Option<i64>),
}

/// A statement on a connection (a transaction's, or one lent for it), its error as sqlx's.
async fn run_on(on: &mut Tx, what: What, sql: &str, params: &[Param]) -> std::result::Result<Answer, sqlx::Error> {
    Ok(match what {
        What::Query => Answer::Rows(fetch_all(on, sql, params).await?),
        What::Exec => {
            let (affected, last) = execute(on, sql, params).await?;
            Answer::Done(affected, last)
        }
    })
}

/// What a db function returns to have `work` waited for: on the local runtime, where the
/// connections live (see [`crate::runtime::Runtime`]).
fn wait<Fut>(lua: &Lua, work: Fut) -> Result<MultiValue>
where
    Fut: std::future::Future<Output = crate::runtime::Outcome> + Send + 'static,
{
    crate::runtime::wait_in(lua, crate::runtime::Place::Local, work)
}

fn delivered(answer: Answer) -> crate::runtime::Outcome {
    match answer {
        Answer::Rows(rows) => deliver(move |lua| rows.to_lua(lua, None)),
        Answer::Done(affected, last) => deliver(move |lua| lua_rows::exec_result(lua, affected, last)),
    }
}

/// A statement on a connection lent for it (waiting for one as long as the pool says), within
/// the timeout; the connection goes back, kept when the statement ended cleanly.
async fn answer(pool: &Pool, what: What, sql: &str, params: &[Param], timeout: Duration, shown: &str) -> crate::runtime::Outcome {
    let mut lent = lend(pool).await.map_err(|e| db_error(shown, e))?;
    let outcome = tokio::time::timeout(timeout, run_on(&mut lent, what, sql, params)).await.map_err(|_| timed_out(shown))?;
    lent.ended(&outcome);
    delivered(outcome.map_err(|e| db_error(shown, e))?)
}

/// A connection of the pool's, lent.
async fn lend(pool: &Pool) -> std::result::Result<Tx, sqlx::Error> {
    Ok(match pool {
        #[cfg(feature = "db-mysql")]
        Pool::My(p) => Tx::My(p.lend().await?),
        #[cfg(feature = "db-postgres")]
        Pool::Pg(p) => Tx::Pg(p.lend().await?),
        #[allow(unreachable_patterns)]
        _ => return Err(sqlx::Error::Configuration("SQLite runs in place".into())),
    })
}

impl Tx {
    /// See [`pool::Loan::ended`].
    fn ended<T>(&mut self, outcome: &std::result::Result<T, sqlx::Error>) {
        match self {
            #[cfg(feature = "db-mysql")]
            Tx::My(t) => t.ended(outcome),
            #[cfg(feature = "db-postgres")]
            Tx::Pg(t) => t.ended(outcome),
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
}

/// `then` with the connection's pool and the parameters bound from `rest`; a closed connection
/// answers nil and its error.
fn with_pool(
    lua: &Lua,
    c: &Connection,
    rest: MultiValue,
    then: impl FnOnce(Pool, Vec<Param>) -> Result<MultiValue>,
) -> Result<MultiValue> {
    let params = params(lua, rest)?;
    match c.pool() {
        Ok(pool) => then(pool, params),
        Err(e) => crate::error::pair::<Value>(lua, Err(e)),
    }
}

/// conn:query and conn:exec.
fn on_connection(lua: &Lua, c: &Connection, what: What, sql: String, rest: MultiValue) -> Result<MultiValue> {
    with_pool(lua, c, rest, |pool, params| statement_on(lua, c, pool, what, sql, params))
}

fn statement_on(lua: &Lua, c: &Connection, pool: Pool, what: What, sql: String, params: Vec<Param>) -> Result<MultiValue> {
    #[cfg(feature = "db-sqlite")]
    if let Pool::Lite(lite) = &pool {
        return lite::run(lua, lite::Place::Pool(lite.clone()), what, sql, params, c.shown.clone(), c.json.clone());
    }
    let (shown, timeout, sql, json) = (c.shown.clone(), c.timeout, statement(c.driver, sql), c.json.clone());
    wait(lua, async move { json.deliver(answer(&pool, what, &sql, &params, timeout, &shown).await) })
}

/// tx:query and tx:exec.
fn on_transaction(lua: &Lua, t: &Transaction, what: What, sql: String, rest: MultiValue) -> Result<MultiValue> {
    let params = params(lua, rest)?;
    let (tx, shown, timeout, json) = (t.tx.clone(), t.shown.clone(), t.timeout, t.json.clone());
    #[cfg(feature = "db-sqlite")]
    if t.driver == Driver::Sqlite {
        return lite::run(lua, lite::Place::Tx(tx), what, sql, params, shown, json);
    }
    #[cfg(all(any(feature = "db-mysql", feature = "db-postgres"), unix))]
    if matches!(what, What::Exec) {
        if let Some(done) = direct::exec(lua, &tx, &sql, &params, timeout, &shown)? {
            return Ok(done);
        }
    }
    wait(lua, async move {
        let mut guard = tx.lock().await;
        let inner = guard.as_mut().ok_or_else(|| over(&shown))?;
        let sql = statement(driver_of(inner), sql);
        json.deliver(delivered(within(timeout, &shown, run_on(inner, what, &sql, &params)).await?))
    })
}

/// A server's batch checked against the parameters its statement takes, as the server reads
/// it; SQLite counts its own ([`lite::run_many`]).
fn server_counts(driver: Driver, sql: &str, rows: &[Vec<Param>], shown: &str) -> std::result::Result<(), Error> {
    match driver {
        Driver::Sqlite => Ok(()),
        _ => batch::check_counts(placeholders::count(sql, driver), rows, shown),
    }
}

fn connection_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.db.Connection", |lua, m| {
        for (name, what) in [("connection:query", What::Query), ("connection:exec", What::Exec)] {
            bridge::export(lua, m, name, move |lua, (c, sql, rest): (UserDataRef<Connection>, Sql, MultiValue)| {
                on_connection(lua, &c, what, sql.0, rest)
            })?;
        }
        bridge::export(lua, m, "connection:exec_many", |lua, (c, Sql(sql), list): (UserDataRef<Connection>, Sql, Table)| {
            let rows = batch::rows_of(lua, "connection:exec_many", &list)?;
            let checked = server_counts(c.driver, &sql, &rows, &c.shown).and_then(|_| c.pool());
            let pool = match checked {
                Ok(pool) => pool,
                Err(e) => return crate::error::pair::<Value>(lua, Err(e)),
            };
            let (shown, timeout) = (c.shown.clone(), c.timeout);
            #[cfg(feature = "db-sqlite")]
            if let Pool::Lite(lite) = &pool {
                return match lite::begin(lite) {
                    Ok(tx) => lite::run_many(lua, Arc::new(tokio::sync::Mutex::new(Some(tx))), sql, rows, shown, true),
                    Err(e) => crate::error::pair::<Value>(lua, Err(e)),
                };
            }
            wait(lua, async move {
                let mut tx = within(timeout, &shown, begin(&pool)).await?;
                let outcome = batch::run(&mut tx, &sql, rows, timeout, &shown).await;
                let ended = within(timeout, &shown, end(tx, outcome.is_ok())).await;
                let done = outcome?;
                ended?;
                deliver(move |lua| done.to_lua(lua))
            })
        })?;
        bridge::export(lua, m, "connection:close", |_, c: UserDataRef<Connection>| {
            c.close();
            Ok(())
        })
    })
}

fn transaction_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.db.Transaction", |lua, m| {
        bridge::export(lua, m, "transaction:query", |lua, (t, sql, rest): (UserDataRef<Transaction>, Sql, MultiValue)| {
            on_transaction(lua, &t, What::Query, sql.0, rest)
        })?;
        let exec = |lua: &Lua, (t, sql, rest): (UserDataRef<Transaction>, Sql, MultiValue)| on_transaction(lua, &t, What::Exec, sql.0, rest);
        #[cfg(all(any(feature = "db-mysql", feature = "db-postgres"), unix))]
        {
            let direct = bridge::direct::Entry { entry: entry::exec_entry, body: None, settle: Some(entry::settle), waits: true };
            bridge::direct::export_direct(lua, m, "transaction:exec", direct, exec)?;
        }
        #[cfg(not(all(any(feature = "db-mysql", feature = "db-postgres"), unix)))]
        bridge::export(lua, m, "transaction:exec", exec)?;
        bridge::export(lua, m, "transaction:exec_many", |lua, (t, Sql(sql), list): (UserDataRef<Transaction>, Sql, Table)| {
            let rows = batch::rows_of(lua, "transaction:exec_many", &list)?;
            if let Err(e) = server_counts(t.driver, &sql, &rows, &t.shown) {
                return crate::error::pair::<Value>(lua, Err(e));
            }
            let (tx, shown, timeout) = (t.tx.clone(), t.shown.clone(), t.timeout);
            #[cfg(feature = "db-sqlite")]
            if t.driver == Driver::Sqlite {
                return lite::run_many(lua, tx, sql, rows, shown, false);
            }
            wait(lua, async move {
                let mut guard = tx.lock().await;
                let inner = guard.as_mut().ok_or_else(|| over(&shown))?;
                let done = batch::run(inner, &sql, rows, timeout, &shown).await?;
                deliver(move |lua| done.to_lua(lua))
            })
        })?;
        for (name, commit) in [("transaction:commit", true), ("transaction:rollback", false)] {
            bridge::export(lua, m, name, move |lua, t: UserDataRef<Transaction>| {
                let (tx, shown) = (t.tx.clone(), t.shown.clone());
                #[cfg(feature = "db-sqlite")]
                if t.driver == Driver::Sqlite {
                    return lite::finish(lua, tx, commit, shown);
                }
                wait(lua, async move {
                    let Some(inner) = tx.lock().await.take() else {
                        return Err(over(&shown));
                    };
                    end(inner, commit).await.map_err(|e| db_error(&shown, e))?;
                    deliver(|_| Ok(true))
                })
            })?;
        }
        Ok(())
    })
}

fn driver_of(tx: &Tx) -> Driver {
    match *tx {
        #[cfg(feature = "db-mysql")]
        Tx::My(_) => Driver::Mysql,
        #[cfg(feature = "db-postgres")]
        Tx::Pg(_) => Driver::Postgres,
        #[cfg(feature = "db-sqlite")]
        Tx::Lite(_) => Driver::Sqlite,
    }
}

const OPTIONS: &[&str] = &["timeout", "password", "pool", "ca_file", "insecure", "via", "port", "json"];

async fn open_pool(target: &Target, size: u32, timeout: Duration, ca_file: Option<String>, insecure: bool) -> std::result::Result<Pool, sqlx::Error> {
    let url = target.url.as_str();
    match target.driver {
        #[cfg(feature = "db-mysql")]
        Driver::Mysql => {
            let mut o = sqlx::mysql::MySqlConnectOptions::from_str(url)?;
            if let Some(ca) = &ca_file {
                o = o.ssl_ca(ca).ssl_mode(sqlx::mysql::MySqlSslMode::VerifyIdentity);
            }
            if insecure {
                o = o.ssl_mode(sqlx::mysql::MySqlSslMode::Required);
            }
            Ok(Pool::My(pool::Conns::open(o, size as usize, timeout).await?))
        }
        #[cfg(feature = "db-postgres")]
        Driver::Postgres => {
            let mut o = sqlx::postgres::PgConnectOptions::from_str(url)?;
            if let Some(ca) = &ca_file {
                o = o.ssl_root_cert(ca).ssl_mode(sqlx::postgres::PgSslMode::VerifyFull);
            }
            if insecure {
                o = o.ssl_mode(sqlx::postgres::PgSslMode::Require);
            }
            Ok(Pool::Pg(pool::Conns::open(o, size as usize, timeout).await?))
        }
        #[allow(unreachable_patterns)]
        other => Err(sqlx::Error::Configuration(format!("essh was built without the {} driver", other.name()).into())),
    }
}

/// The options a SQLite database has no use for are refused, not ignored.
fn sqlite_fits(t: &Target, tls_options: bool, tunnel: bool, size: u32) -> std::result::Result<(), Error> {
    if tls_options {
        return Err(Error::invalid("db.connect: ca_file and insecure are TLS options, and a SQLite database is a file"));
    }
    if tunnel {
        return Err(Error::invalid("db.connect: port and via reach a database server, and a SQLite database is a local file"));
    }
    if size > 1 && t.path.as_deref() == Some(":memory:") {
        return Err(Error::invalid("db.connect: an in-memory SQLite database is a single connection (pool must be 1)"));
    }
    Ok(())
}

fn connect(lua: &Lua, (driver, url, opts): (String, String, Option<Table>)) -> Result<impl std::future::Future<Output = crate::runtime::Outcome> + Send + 'static> {
    let parsed = Driver::from_name(&driver).and_then(|d| Target::parse(d, &url));
    let mut timeout = Duration::from_secs(30);
    let mut size = 1u32;
    let (mut ca_file, mut insecure, mut password, mut port, mut via) = (None, false, None, None, false);
    let mut json = JsonColumns::default();
    if let Some(t) = &opts {
        if let Some(name) = bridge::unknown_option(t, OPTIONS)? {
            return Err(mlua::Error::runtime(format!("db.connect: unknown option '{name}'")));
        }
        if let Some(s) = t.raw_get::<Option<f64>>("timeout")? {
            timeout = duration(s, "db.connect")?;
        }
        if let Some(n) = t.raw_get::<Option<u32>>("pool")? {
            size = n.max(1);
        }
        ca_file = t.raw_get("ca_file")?;
        insecure = t.raw_get::<Option<bool>>("insecure")?.unwrap_or(false);
        password = match t.raw_get::<Value>("password")? {
            Value::Nil => None,
            Value::String(s) => Some(s.to_str()?.to_string()),
            Value::Table(s) if is_secret(&s) => match crate::luavalue::reveal(lua, s)? {
                Value::String(text) => Some(text.to_str()?.to_string()),
                other => return Err(mlua::Error::runtime(format!("db.connect: the password secret holds a {}", other.type_name()))),
            },
            other => return Err(mlua::Error::runtime(format!("db.connect: password must be a string or a secret, got {}", other.type_name()))),
        };
        port = t.raw_get::<Option<u16>>("port")?;
        via = !t.raw_get::<Value>("via")?.is_nil();
        json = JsonColumns::from_option(t.raw_get("json")?)?;
    }
    let tls_options = ca_file.is_some() || insecure;
    let target = parsed.and_then(|mut t| {
        if t.driver == Driver::Sqlite {
            sqlite_fits(&t, tls_options, port.is_some() || via, size)?;
        }
        if let Some(p) = &password {
            t.set_password(p)?;
        }
        Ok(match port {
            Some(p) => (t.through(p), t),
            None => (t.clone(), t),
        })
    });
    if insecure {
        if let Ok((_, shown)) = &target {
            bridge::warn(lua, &format!("TLS certificate verification is off for {} (insecure = true)", shown.shown()));
        }
    }
    Ok(async move {
        let (dial, named) = target?;
        let shown = named.shown();
        #[cfg(feature = "db-sqlite")]
        if dial.driver == Driver::Sqlite {
            let path = dial.path.clone().unwrap_or_default();
            let lite = sqlite::Lite::open(&path, dial.access, timeout, size as usize, &shown)?;
            let conn = Connection { pool: std::sync::Mutex::new(Some(Pool::Lite(lite))), driver: named.driver, shown, resource: named.resource(), timeout, json };
            return deliver(move |lua| lua.create_userdata(conn));
        }
        let pool = tokio::time::timeout(timeout + Duration::from_secs(1), open_pool(&dial, size, timeout, ca_file, insecure))
            .await
            .map_err(|_| Error::new(Kind::Timeout, format!("db {shown}: no connection within the timeout")).retryable(true))?
            .map_err(|e| db_error(&shown, e))?;
        let conn = Connection {
            pool: std::sync::Mutex::new(Some(pool)),
            driver: named.driver,
            shown,
            resource: named.resource(),
            timeout,
            json,
        };
        deliver(move |lua| lua.create_userdata(conn))
    })
}

use mlua::IntoLuaMulti;

/// conn:rows' stream: SQLite's stepped in place, a server's read by a task into a channel.
fn stream(lua: &Lua, c: &Connection, pool: Pool, sql: String, params: Vec<Param>) -> Result<MultiValue> {
    #[cfg(feature = "db-sqlite")]
    if let Pool::Lite(lite) = &pool {
        let stream = lite.checkout().and_then(|checkout| checkout.stream(&sql, &params));
        return match stream {
            Ok(s) => lua.create_userdata(Stream::Lite(Arc::new(std::sync::Mutex::new(s)), c.json.clone()))?.into_lua_multi(lua),
            Err(e) => crate::error::pair::<Value>(lua, Err(e)),
        };
    }
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let task = crate::runtime::spawn_in(lua, crate::runtime::Place::Local, stream_into(pool, statement(c.driver, sql), params, c.shown.clone(), tx))?;
    lua.create_userdata(Stream::Channel { rx: Arc::new(tokio::sync::Mutex::new(rx)), task, json: c.json.clone() })?.into_lua_multi(lua)
}

/// The natives of src/lua/db.lua: what conn:rows and conn:transaction are made of.
fn internals(lua: &Lua, native: &Table) -> Result<()> {
    native.raw_set(
        "parts",
        // tunnel: for `via`, which a SQLite file does not take.
        bridge::function(lua, "db.parse", |lua, (driver, url, tunnel): (String, String, Option<bool>)| {
            let target = Driver::from_name(&driver).and_then(|d| Target::parse(d, &url)).and_then(|t| {
                if tunnel == Some(true) && t.driver == Driver::Sqlite {
                    return Err(Error::invalid("db.connect: a SQLite database is a file: via does not apply"));
                }
                Ok(t)
            });
            let t = match target {
                Ok(t) => t,
                Err(e) => return crate::error::pair::<Value>(lua, Err(e)),
            };
            let parts = lua.create_table()?;
            parts.raw_set("driver", t.driver.name())?;
            if let Some(path) = &t.path {
                parts.raw_set("path", path.as_str())?;
                return parts.into_lua_multi(lua);
            }
            let decoded = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
            parts.raw_set("host", t.url.host_str().unwrap_or_default())?;
            parts.raw_set("port", t.port())?;
            if !t.url.username().is_empty() {
                parts.raw_set("user", decoded(t.url.username()))?;
            }
            if let Some(pw) = t.url.password() {
                parts.raw_set("password", decoded(pw))?;
            }
            parts.raw_set("database", decoded(&t.database()))?;
            let params = lua.create_table()?;
            for (k, v) in t.url.query_pairs() {
                params.raw_set(k.as_ref(), v.as_ref())?;
            }
            parts.raw_set("params", params)?;
            parts.into_lua_multi(lua)
        })?,
    )?;
    native.raw_set(
        "stream",
        bridge::function(lua, "connection:rows", |lua, (c, sql, rest): (UserDataRef<Connection>, Sql, MultiValue)| {
            with_pool(lua, &c, rest, |pool, params| stream(lua, &c, pool, sql.0, params))
        })?,
    )?;
    native.raw_set(
        "next_batch",
        bridge::function(lua, "connection:rows", |lua, (s, previous): (UserDataRef<Stream>, Option<Table>)| {
            let (rx, json) = match &*s {
                Stream::Channel { rx, json, .. } => (rx.clone(), json.clone()),
                #[cfg(feature = "db-sqlite")]
                Stream::Lite(stream, json) => return lite::next_batch(lua, stream.clone(), BATCH, json.clone(), previous),
            };
            let previous = lua_rows::Previous::keep(lua, previous)?;
            wait(lua, async move {
                let next = rx.lock().await.recv().await;
                match next {
                    None => deliver(|_| Ok(Value::Nil)),
                    Some(Err(e)) => Err(e),
                    Some(Ok(rows)) => json.deliver(deliver(move |lua| rows.to_lua(lua, previous.take(lua)?))),
                }
            })
        })?,
    )?;
    native.raw_set(
        "begin",
        bridge::function(lua, "connection:transaction", |lua, c: UserDataRef<Connection>| {
            let (pool, shown, resource, timeout, driver, json) = (c.pool(), c.shown.clone(), c.resource.clone(), c.timeout, c.driver, c.json.clone());
            let named = shown.clone();
            let made = move |begun: Tx| Transaction {
                tx: Arc::new(tokio::sync::Mutex::new(Some(begun))),
                driver,
                shown: named,
                resource,
                timeout,
                json,
                key: Default::default(),
            };
            #[cfg(feature = "db-sqlite")]
            if let Ok(Pool::Lite(lite)) = &pool {
                return crate::error::pair(lua, lite::begin(lite).map(made));
            }
            wait(lua, async move {
                let pool = pool?;
                let tx = made(within(timeout, &shown, begin(&pool)).await?);
                deliver(move |lua| transaction_userdata(lua, tx))
            })
        })?,
    )?;
    Ok(())
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    let native = lua.create_table()?;
    internals(lua, &native)?;
    native.raw_set("pcall", crate::runtime::scheduler(lua)?.raw_get::<mlua::Function>("pcall")?)?;
    native.raw_set(
        "connect",
        bridge::function(lua, "db.connect", |lua, args: (String, String, Option<Table>)| wait(lua, connect(lua, args)?))?,
    )?;
    native.raw_set("null", crate::luavalue::null())?;
    native.raw_set("index", connection_index(lua)?)?;
    let api: Table = bridge::run_embedded(lua, "db", include_str!("../lua/db.lua"), native)?;
    for pair in api.pairs::<String, Value>() {
        let (k, v) = pair?;
        m.raw_set(k, v)?;
    }
    Ok(())
}
