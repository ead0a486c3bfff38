//! The one structured error every native module returns as the second value of `nil, err`.

use std::fmt;

use mlua::{IntoLua, IntoLuaMulti, Lua, MetaMethod, MultiValue, UserData, UserDataFields, UserDataMethods, Value};

/// What went wrong, in words a caller can branch on (`err.kind == "timeout"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    Timeout,
    Network,
    Tls,
    Auth,
    HostKey,
    Remote,
    Io,
    Interrupted,
    Internal,
    Constraint,
    Syntax,
    Conflict,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 16] = [
        Kind::Invalid,
        Kind::NotFound,
        Kind::AlreadyExists,
        Kind::PermissionDenied,
        Kind::Timeout,
        Kind::Network,
        Kind::Tls,
        Kind::Auth,
        Kind::HostKey,
        Kind::Remote,
        Kind::Io,
        Kind::Interrupted,
        Kind::Internal,
        Kind::Constraint,
        Kind::Syntax,
        Kind::Conflict,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Invalid => "invalid",
            Kind::NotFound => "not_found",
            Kind::AlreadyExists => "already_exists",
            Kind::PermissionDenied => "permission_denied",
            Kind::Timeout => "timeout",
            Kind::Network => "network",
            Kind::Tls => "tls",
            Kind::Auth => "auth",
            Kind::HostKey => "host_key",
            Kind::Remote => "remote",
            Kind::Io => "io",
            Kind::Interrupted => "interrupted",
            Kind::Internal => "internal",
            Kind::Constraint => "constraint",
            Kind::Syntax => "syntax",
            Kind::Conflict => "conflict",
        }
    }

    /// The kind named `name` (as `name()` gives it).
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether trying again may succeed without changing anything.
    pub fn retryable_by_default(self) -> bool {
        matches!(self, Kind::Timeout | Kind::Network | Kind::Interrupted)
    }
}

/// A detail value: details are small facts (a path, a line number), never payloads.
#[derive(Clone, Debug, PartialEq)]
pub enum Detail {
    Text(String),
    Number(i64),
}

impl From<&str> for Detail {
    fn from(s: &str) -> Self {
        Detail::Text(s.to_owned())
    }
}
impl From<String> for Detail {
    fn from(s: String) -> Self {
        Detail::Text(s)
    }
}
impl From<usize> for Detail {
    fn from(n: usize) -> Self {
        Detail::Number(i64::try_from(n).unwrap_or(i64::MAX))
    }
}
impl From<i64> for Detail {
    fn from(n: i64) -> Self {
        Detail::Number(n)
    }
}

/// A structured error: `kind`, `message`, `retryable` and optional `details`.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub retryable: bool,
    pub details: Vec<(&'static str, Detail)>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), retryable: kind.retryable_by_default(), details: Vec::new() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(Kind::Invalid, message)
    }

    pub fn with(mut self, key: &'static str, value: impl Into<Detail>) -> Self {
        self.details.push((key, value.into()));
        self
    }

    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    pub fn detail(&self, key: &str) -> Option<&Detail> {
        self.details.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// An error from the operating system, about `path`, while doing `action`.
    pub fn from_io(err: &std::io::Error, action: &str, path: &str) -> Self {
        use std::io::ErrorKind as E;
        let kind = match err.kind() {
            E::NotFound => Kind::NotFound,
            E::PermissionDenied => Kind::PermissionDenied,
            E::AlreadyExists => Kind::AlreadyExists,
            E::TimedOut => Kind::Timeout,
            E::Interrupted => Kind::Interrupted,
            E::InvalidInput | E::InvalidData => Kind::Invalid,
            _ => Kind::Io,
        };
        Error::new(kind, format!("cannot {action} {path}: {}", strip_os_code(err))).with("path", path)
    }
}

/// The detail names a Lua-made error may carry (`essh_native.error`).
pub const DETAIL_NAMES: &[&str] =
    &["host", "user", "file", "line", "path", "command", "status", "permission", "action", "resource"];

/// `essh_native.error(kind, message, details)`: an error of the same kind native functions
/// return, for Lua code that reports failures the same way.
pub fn constructor(lua: &mlua::Lua) -> mlua::Result<mlua::Function> {
    crate::bridge::function(
        lua,
        "essh_native.error",
        |lua, (kind, message, details): (String, String, Option<mlua::Table>)| {
            let kind = Kind::from_name(&kind)
                .ok_or_else(|| mlua::Error::runtime(format!("essh_native.error: unknown kind '{kind}'")))?;
            let mut err = Error::new(kind, message);
            if let Some(details) = details {
                for pair in details.pairs::<String, mlua::Value>() {
                    let (key, value) = pair?;
                    let name = DETAIL_NAMES.iter().find(|n| **n == key).ok_or_else(|| {
                        mlua::Error::runtime(format!(
                            "essh_native.error: unknown detail '{key}' (known: {})",
                            DETAIL_NAMES.join(", ")
                        ))
                    })?;
                    err = match value {
                        mlua::Value::Integer(n) => err.with(name, n),
                        other => {
                            err.with(name, lua.coerce_string(other)?.map(|s| s.to_string_lossy()).unwrap_or_default())
                        }
                    };
                }
            }
            lua.create_userdata(err)
        },
    )
}

/// "No such file or directory (os error 2)" reads better without the code.
fn strip_os_code(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl UserData for Error {
    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("kind", |_, e| Ok(e.kind.name()));
        fields.add_field_method_get("message", |_, e| Ok(e.message.clone()));
        fields.add_field_method_get("retryable", |_, e| Ok(e.retryable));
        fields.add_field_method_get("details", |lua, e| {
            if e.details.is_empty() {
                return Ok(Value::Nil);
            }
            let table = lua.create_table()?;
            for (key, value) in &e.details {
                match value {
                    Detail::Text(s) => table.set(*key, s.as_str())?,
                    Detail::Number(n) => table.set(*key, *n)?,
                }
            }
            Ok(Value::Table(table))
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, e, ()| Ok(e.message.clone()));
        methods.add_meta_method(MetaMethod::Eq, |_, a, b: mlua::UserDataRef<Error>| Ok(*a == *b));
        methods.add_method("is", |_, e, kind: String| Ok(e.kind.name() == kind));
    }
}

/// Turns a result into Lua's convention: `value` on success, `nil, err` on failure.
pub fn pair<T: IntoLua>(lua: &Lua, result: Result<T>) -> mlua::Result<MultiValue> {
    match result {
        Ok(value) => value.into_lua_multi(lua),
        Err(err) => (Value::Nil, lua.create_userdata(err)?).into_lua_multi(lua),
    }
}

/// `pair` for a result whose failure is a message about bad input (kind `invalid`).
pub fn invalid_pair<T: IntoLua>(lua: &Lua, result: std::result::Result<T, String>) -> mlua::Result<MultiValue> {
    pair(lua, result.map_err(Error::invalid))
}

/// `pair` for byte results, which become Lua strings.
pub fn bytes_pair(lua: &Lua, result: Result<Vec<u8>>) -> mlua::Result<MultiValue> {
    match result {
        Ok(bytes) => lua.create_string(bytes)?.into_lua_multi(lua),
        Err(err) => pair::<Value>(lua, Err(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_kinds_and_name_the_path() {
        let err = std::fs::read("/definitely/not/here").unwrap_err();
        let e = Error::from_io(&err, "read", "/definitely/not/here");
        assert_eq!(e.kind, Kind::NotFound);
        assert!(!e.retryable);
        assert_eq!(e.message, "cannot read /definitely/not/here: No such file or directory");
        assert_eq!(e.detail("path"), Some(&Detail::Text("/definitely/not/here".into())));
    }

    #[test]
    fn network_and_timeout_errors_are_retryable() {
        assert!(Error::new(Kind::Network, "reset").retryable);
        assert!(Error::new(Kind::Timeout, "slow").retryable);
        assert!(!Error::invalid("bad").retryable);
    }
}
