//! What a connection string names: the driver, where the server is (or the SQLite file), and the
//! resource the `db` permission is asked for. Passwords stay out of everything shown.

use crate::error::{Error, Kind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    Mysql,
    Postgres,
    Sqlite,
}

impl Driver {
    pub fn from_name(name: &str) -> Result<Driver, Error> {
        match name.to_ascii_lowercase().as_str() {
            "mysql" | "mariadb" => Ok(Driver::Mysql),
            "postgres" | "postgresql" | "pg" => Ok(Driver::Postgres),
            "sqlite" | "sqlite3" => Ok(Driver::Sqlite),
            other => Err(Error::invalid(format!("db.connect: unknown driver '{other}' (mysql, postgres or sqlite)"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Driver::Mysql => "mysql",
            Driver::Postgres => "postgres",
            Driver::Sqlite => "sqlite",
        }
    }
}

/// A parsed connection string.
#[derive(Clone, Debug)]
pub struct Target {
    pub driver: Driver,
    /// The URL sqlx connects to (with the password).
    pub url: url::Url,
    /// SQLite: the file, or `:memory:`.
    pub path: Option<String>,
    /// SQLite: what the connection may do to the file (the URL's `mode`).
    pub access: Access,
}

/// SQLite's open modes, as its URIs name them: `mode=ro`, `mode=rw`, `mode=rwc` (the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Access {
    ReadOnly,
    ReadWrite,
    #[default]
    Create,
}

impl Access {
    /// The access a SQLite connection string's query asks for; any other parameter is refused.
    fn of_query(query: Option<&str>, shown: &str) -> Result<Access, Error> {
        let mut access = Access::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            access = match pair.split_once('=') {
                Some(("mode", "ro")) => Access::ReadOnly,
                Some(("mode", "rw")) => Access::ReadWrite,
                Some(("mode", "rwc")) => Access::Create,
                _ => {
                    return Err(Error::invalid(format!(
                        "db.connect: {shown}: '{pair}' is not a SQLite parameter essh applies (mode=ro, mode=rw or mode=rwc)"
                    )))
                }
            };
        }
        Ok(access)
    }
}

/// The URL parameters sqlx applies for each server, as it spells them.
const MYSQL_PARAMETERS: &[&str] = &[
    "ssl-mode", "sslmode", "ssl-ca", "sslca", "ssl-cert", "sslcert", "ssl-key", "sslkey",
    "charset", "collation", "timezone", "time-zone", "statement-cache-capacity",
];
const POSTGRES_PARAMETERS: &[&str] = &[
    "sslmode", "ssl-mode", "sslrootcert", "ssl-root-cert", "ssl-ca", "sslcert", "ssl-cert", "sslkey", "ssl-key",
    "application_name", "options", "statement-cache-capacity",
];
/// Parameters that would connect elsewhere than the URL's host, port, database or user, which
/// the `db` permission is asked for.
const RELOCATING_PARAMETERS: &[&str] = &["host", "hostaddr", "port", "dbname", "user", "password", "socket"];

/// Refuses a server URL's parameter that sqlx would ignore, or that would take the connection
/// elsewhere than the URL says.
fn check_parameters(driver: Driver, url: &url::Url) -> Result<(), Error> {
    let known = if driver == Driver::Mysql { MYSQL_PARAMETERS } else { POSTGRES_PARAMETERS };
    for (key, _) in url.query_pairs() {
        let postgres_option = driver == Driver::Postgres && key.starts_with("options[") && key.ends_with(']');
        if known.contains(&&*key) || postgres_option {
            continue;
        }
        let shown = redact(url);
        return Err(Error::invalid(if RELOCATING_PARAMETERS.contains(&&*key) {
            format!("db.connect: {shown}: '{key}' would connect elsewhere than the URL names: write it in the URL itself")
        } else {
            format!("db.connect: {shown}: '{key}' is not a {} parameter essh applies ({})", driver.name(), known.join(", "))
        }));
    }
    Ok(())
}

fn scheme_matches(driver: Driver, scheme: &str) -> bool {
    match driver {
        Driver::Mysql => scheme == "mysql" || scheme == "mariadb",
        Driver::Postgres => scheme == "postgres" || scheme == "postgresql",
        Driver::Sqlite => scheme == "sqlite",
    }
}

impl Target {
    pub fn parse(driver: Driver, text: &str) -> Result<Target, Error> {
        if driver == Driver::Sqlite {
            let rest = text.strip_prefix("sqlite://").or_else(|| text.strip_prefix("sqlite:")).unwrap_or(text);
            let (path, query) = match rest.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(Error::invalid("db.connect: sqlite needs a file (sqlite:path) or sqlite::memory:"));
            }
            let shown = match query {
                Some(q) => format!("sqlite:{path}?{q}"),
                None => format!("sqlite:{path}"),
            };
            let url = url::Url::parse(&format!("sqlite://{}", shown.trim_start_matches("sqlite:")))
                .or_else(|_| url::Url::parse("sqlite://memory"))
                .map_err(|e| Error::invalid(format!("db.connect: {e}")))?;
            let access = Access::of_query(query, &shown)?;
            return Ok(Target { driver, url, path: Some(path.to_string()), access });
        }
        let url = url::Url::parse(text).map_err(|e| {
            Error::invalid(format!("db.connect: '{}' is not a {} URL: {e}", redact_text(text), driver.name()))
        })?;
        if !scheme_matches(driver, url.scheme()) {
            return Err(Error::invalid(format!(
                "db.connect: a {} connection string starts with {}://, got {}://",
                driver.name(),
                driver.name(),
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(|h| h.is_empty()) {
            return Err(Error::invalid(format!("db.connect: '{}' names no host", redact_text(text))));
        }
        check_parameters(driver, &url)?;
        Ok(Target { driver, url, path: None, access: Access::default() })
    }

    pub fn port(&self) -> u16 {
        self.url.port().unwrap_or(match self.driver {
            Driver::Mysql => 3306,
            Driver::Postgres => 5432,
            Driver::Sqlite => 0,
        })
    }

    pub fn database(&self) -> String {
        self.url.path().trim_start_matches('/').to_string()
    }

    /// What the `db` permission is asked for: `mysql://host:port/database`, `sqlite:path`.
    pub fn resource(&self) -> String {
        match &self.path {
            Some(p) if p == ":memory:" => "sqlite::memory:".to_string(),
            Some(p) => format!("sqlite:{}", crate::fs::abspath(p)),
            None => format!(
                "{}://{}:{}/{}",
                self.driver.name(),
                self.url.host_str().unwrap_or_default(),
                self.port(),
                self.database()
            ),
        }
    }

    /// The target for errors and logs: the URL without its password.
    pub fn shown(&self) -> String {
        match &self.path {
            Some(p) => format!("sqlite:{p}"),
            None => redact(&self.url),
        }
    }

    /// The same target through a local port (an ssh tunnel's end).
    pub fn through(&self, port: u16) -> Target {
        let mut t = self.clone();
        let _ = t.url.set_host(Some("127.0.0.1"));
        let _ = t.url.set_port(Some(port));
        t
    }

    pub fn set_password(&mut self, password: &str) -> Result<(), Error> {
        self.url
            .set_password(Some(password))
            .map_err(|_| Error::new(Kind::Invalid, "db.connect: this connection string cannot hold a password"))
    }
}

pub fn redact(url: &url::Url) -> String {
    let mut u = url.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("******"));
    }
    u.to_string()
}

/// A connection string as text, without its password, even when it does not parse.
pub fn redact_text(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(u) => redact(&u),
        Err(_) => match (text.find("://"), text.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                let creds = &text[s + 3..at];
                let user = creds.split(':').next().unwrap_or("");
                format!("{}://{user}:******@{}", &text[..s], &text[at + 1..])
            }
            _ => text.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_drivers_usual_form() {
        let t = Target::parse(Driver::Mysql, "mysql://app:s3cret@db.internal/shop?ssl-mode=required").unwrap();
        assert_eq!(t.resource(), "mysql://db.internal:3306/shop");
        assert_eq!(t.shown(), "mysql://app:******@db.internal/shop?ssl-mode=required");
        let p = Target::parse(Driver::Postgres, "postgresql://u@10.0.0.5:6432/app").unwrap();
        assert_eq!(p.resource(), "postgres://10.0.0.5:6432/app");
        assert_eq!(Target::parse(Driver::Sqlite, "sqlite::memory:").unwrap().resource(), "sqlite::memory:");
        assert!(Target::parse(Driver::Sqlite, "sqlite:/var/lib/app.db").unwrap().resource().ends_with("/var/lib/app.db"));
    }

    #[test]
    fn bad_strings_are_named_without_their_password() {
        let e = Target::parse(Driver::Postgres, "mysql://u:pw@h/db").unwrap_err();
        assert!(e.message.contains("starts with postgres://"), "{}", e.message);
        let e = Target::parse(Driver::Mysql, "mysql://u:pw@:99999/db").unwrap_err();
        assert!(!e.message.contains("pw"), "{}", e.message);
        assert!(Driver::from_name("oracle").is_err());
    }

    #[test]
    fn refuses_parameters_it_would_ignore_or_that_connect_elsewhere() {
        assert!(Target::parse(Driver::Postgres, "postgres://u@h/db?sslmode=require&application_name=deploy&options[search_path]=app").is_ok());
        assert!(Target::parse(Driver::Mysql, "mysql://u@h/db?ssl-mode=required&charset=utf8mb4").is_ok());
        let e = Target::parse(Driver::Mysql, "mysql://u:pw@h/db?foo=bar").unwrap_err();
        assert!(e.message.contains("'foo' is not a mysql parameter essh applies (ssl-mode,"), "{}", e.message);
        assert!(!e.message.contains("pw"), "{}", e.message);
        for url in ["postgres://u@h/db?host=other", "postgres://u@h/db?port=1", "mysql://u@h/db?socket=/tmp/s"] {
            let driver = if url.starts_with("mysql") { Driver::Mysql } else { Driver::Postgres };
            let e = Target::parse(driver, url).unwrap_err();
            assert!(e.message.contains("would connect elsewhere than the URL names"), "{}", e.message);
        }
    }

    #[test]
    fn a_tunnel_changes_only_the_address() {
        let t = Target::parse(Driver::Mysql, "mysql://u:pw@db.internal:3307/shop").unwrap().through(40000);
        assert_eq!(t.url.as_str(), "mysql://u:pw@127.0.0.1:40000/shop");
    }
}
