//! ssh: the Lua face of the SSH client (russh): connect, exec, transfers over SFTP, tunnels.

pub mod config;
pub mod forwarding;
pub mod forward;
pub mod goodbye;
pub mod interactive;
pub mod keyfix;
pub mod known_hosts;
pub mod proxy;
pub mod session;
pub mod sftp;
pub mod target;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlua::{Lua, Result, Table, UserData, UserDataRef, Value};

use crate::func;
use crate::bridge::{Need, self, Class, ModuleDef, TypeDef};
use crate::runtime::{deliver, duration};
use session::{ConfigSource, ConnectOptions, Connection, ExecOptions, HostKeyPolicy, Pty, Secrets};

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "ssh",
    description:
        "SSH connections (russh): commands, SFTP transfers and tunnels, with ssh_config, ProxyJump and known_hosts",
    classes: &[Class::Network, Class::Io],
    functions: &[func!(
        "connect",
        "Connects and authenticates (agent, key files, password, keyboard-interactive); ssh_config fills in what options leave out.",
        [options: "ssh.ConnectOptions"],
        [session: "ssh.Session?", err: "essh.Error?"]
    ).needs(&[Need::custom("ssh", "each hop's name and address, jump hosts too; and run of sh for a ProxyCommand", connect_resources)]),
    func!(
        "resolve",
        "The configuration a connection with these options would use, in the format of ssh -G (one lower-case keyword and its value a line).",
        [options: "ssh.ConnectOptions"],
        [text: "string"]
    ),
    func!(
        "keywords",
        "Every ssh_config(5) keyword: its name, whether the native client applies it, whether it is obsolete, takes a list of arguments (list), adds on every line (adds), or takes the rest of the line (whole_line).",
        [],
        [keywords: "{name: string, applied: boolean, obsolete: boolean, list: boolean, adds: boolean, whole_line: boolean}[]"]
    ),
    func!(
        "quote",
        "An argument as ssh_config reads it back whole: as it is, or in double quotes with \\ and \" escaped.",
        [arg: "string"],
        [text: "string"]
    ),
    func!(
        "check_option",
        "What is wrong with an ssh option's value, as ssh_config would say it; nil when nothing is.",
        [keyword: "string", value: "string|number|boolean|(string|number|boolean)[]"],
        [problem: "string?"]
    )],
    constants: &[],
    types: &[
        TypeDef::record("ssh.ConnectOptions", "", &[
                crate::typed!(host: "string", "Host alias or address: ssh_config's Host patterns match it, and errors name it."),
                crate::typed!(hostname: "string?", "The address to connect to, when it is not host (wins over ssh_config's HostName)."),
                crate::typed!(port: "integer?", "Port (default: ssh_config, then 22)."),
                crate::typed!(user: "string?", "User (default: ssh_config, then $USER)."),
                crate::typed!(identity_file: "(string|string[])?", "Private key file(s)."),
                crate::typed!(passphrase: "string?", "Passphrase of encrypted key files."),
                crate::typed!(password: "string?", "Password, also used for keyboard-interactive prompts."),
                crate::typed!(agent: "boolean?", "Use ssh-agent identities (default: true when SSH_AUTH_SOCK is set)."),
                crate::typed!(known_hosts: "\"strict\"|\"accept-new\"|\"off\"|nil", "Host key policy (default: strict)."),
                crate::typed!(known_hosts_file: "string?", "known_hosts file (default: ~/.ssh/known_hosts)."),
                crate::typed!(hash_known_hosts: "boolean?", "Write accepted new host keys hashed, as HashKnownHosts yes does (default: ssh_config, then false)."),
                crate::typed!(connect_timeout: "number?", "Seconds to connect and exchange keys, and as many again to authenticate (default 30)."),
                crate::typed!(keepalive_interval: "number?", "Seconds between keepalives (default 15; 0 turns them off)."),
                crate::typed!(proxy_jump: "string?", "Jump hosts: [user@]host[:port],... or \"none\"."),
                crate::typed!(ssh_config: "(boolean|string)?", "Read ~/.ssh/config then /etc/ssh/ssh_config (true, default), nothing (false), or this file."),
                crate::typed!(pipelining: "(boolean|{auth: boolean?, signature: boolean?})?", "Round trips authentication saves: the first request sent with the service request (auth), keys signed at once instead of asked about first (signature); both on by default, false turns both off for a server that minds."),
                crate::typed!(options: "table<string, string|number|boolean|(string|number|boolean)[]>?", "ssh_config keywords and their values, read before the config files (as a Host block for this host)."),
            ]),
        TypeDef::record("ssh.ExecOptions", "", &[
                crate::typed!(stdin: "(string|fun(): string?)?", "Input for the command: a string, or a function returning chunks until nil."),
                crate::typed!(env: "table<string, string>?", "Environment variables (the server must accept them)."),
                crate::typed!(pty: "(boolean|{term: string?, cols: integer?, rows: integer?})?", "Allocate a pseudo-terminal."),
                crate::typed!(timeout: "number?", "Seconds before the command is abandoned with a timeout error."),
                crate::typed!(on_stdout: "fun(chunk: string)?", "Receives output live instead of collecting it."),
                crate::typed!(on_stderr: "fun(chunk: string)?", "Receives error output live instead of collecting it."),
                crate::typed!(lines: "boolean?", "Callbacks receive whole lines, without the newline; a line over 64 KiB comes in pieces, each but the last with true as a second argument."),
            ]),
        TypeDef::record("ssh.ExecResult", "How a command ended: a non-zero exit is a result, not an error.", &[
                crate::typed!(exitStatus: "integer?", "Exit status (nil when killed by a signal)."),
                crate::typed!(exit_status: "integer?", "Same as exitStatus."),
                crate::typed!(signal: "string?", "The signal that killed the command (\"KILL\", \"TERM\", ...)."),
                crate::typed!(stdout: "string", "Collected output (empty when streamed to on_stdout)."),
                crate::typed!(stderr: "string", "Collected error output (empty when streamed to on_stderr)."),
                crate::typed!(ok: "boolean", "exitStatus == 0."),
                crate::typed!(duration: "number", "Seconds the command took."),
            ]),
        TypeDef::record("ssh.InteractiveOptions", "", &[
                crate::typed!(env: "table<string, string>?", "Environment variables (the server must accept them)."),
                crate::typed!(tty: "boolean?", "Ask for a PTY when stdin is a terminal (default true)."),
                crate::typed!(term: "string?", "Terminal type of the PTY (default: $TERM)."),
            ]),
        TypeDef::record("ssh.InteractiveResult", "How an interactive session ended.", &[
                crate::typed!(exitStatus: "integer", "The remote exit status (255 when killed by a signal)."),
                crate::typed!(exit_status: "integer", "Same as exitStatus."),
                crate::typed!(signal: "string?", "The signal that killed the remote side."),
                crate::typed!(ok: "boolean", "exitStatus == 0."),
            ]),
        TypeDef::record("ssh.TransferOptions", "", &[
                crate::typed!(mode: "integer?", "Permissions of the file written (default: those of the source file, kept from its creation on)."),
                crate::typed!(atomic: "boolean?", "Write a temporary name, then rename (default true)."),
            ]),
        TypeDef { method_index: Some(session_index),
            name: "ssh.Session",
            doc: "An authenticated connection; many commands may run on it at once.",
            fields: &[],
            methods: &[
                func!("exec", "Runs a command.", [command: "string", options: "ssh.ExecOptions?"], [result: "ssh.ExecResult?", err: "essh.Error?"]).needs(SESSION),
                func!("upload", "Copies a local file to the server over SFTP.", [local_path: "string", remote_path: "string", options: "ssh.TransferOptions?"], [bytes: "integer?", err: "essh.Error?"]).needs(UPLOAD),
                func!("download", "Copies a remote file to this machine over SFTP.", [remote_path: "string", local_path: "string", options: "ssh.TransferOptions?"], [bytes: "integer?", err: "essh.Error?"]).needs(DOWNLOAD),
                func!("sftp", "Opens an SFTP client on this session.", [], [sftp: "ssh.Sftp?", err: "essh.Error?"]).needs(SESSION),
                func!("interactive", "Runs a shell, or a command, joined to the local terminal: a PTY of the local TERM and size when stdin is a terminal (tty = false: never), raw mode restored on every way out, window-size changes forwarded.", [command: "string?", options: "ssh.InteractiveOptions?"], [result: "ssh.InteractiveResult?", err: "essh.Error?"]).needs(SESSION),
                func!("forward_local", "Listens on 127.0.0.1:local_port (0 picks one) and tunnels each connection to remote_host:remote_port.", [local_port: "integer", remote_host: "string", remote_port: "integer"], [forward: "ssh.Forward?", err: "essh.Error?"]).needs(SESSION),
                func!("close", "Disconnects.", [], []),
            ],
        },
        TypeDef { method_index: Some(sftp::method_index),
            name: "ssh.Sftp",
            doc: "File operations on the server.",
            fields: &[],
            methods: &[
                func!("stat", "Attributes of a path: size, mode, uid, gid, mtime, type.", [path: "string"], [stat: "table?", err: "essh.Error?"]).needs(SFTP),
                func!("list", "Entries of a directory (without . and ..), sorted by name.", [path: "string"], [entries: "table[]?", err: "essh.Error?"]).needs(SFTP),
                func!("mkdir", "Creates a directory.", [path: "string", mode: "integer?"], [ok: "boolean?", err: "essh.Error?"]).needs(SFTP),
                func!("remove", "Removes a file, or an empty directory.", [path: "string"], [ok: "boolean?", err: "essh.Error?"]).needs(SFTP),
                func!("rename", "Renames a path.", [from: "string", to: "string"], [ok: "boolean?", err: "essh.Error?"]).needs(SFTP),
                func!("read", "Reads a small file whole.", [path: "string"], [data: "string?", err: "essh.Error?"]).needs(SFTP),
                func!("write", "Writes a small file whole (atomically).", [path: "string", data: "string", mode: "integer?"], [ok: "boolean?", err: "essh.Error?"]).needs(SFTP),
            ],
        },
        TypeDef { method_index: Some(forward::method_index),
            name: "ssh.Forward",
            doc: "A local TCP tunnel.",
            fields: &[crate::typed!(port: "integer", "The local port it listens on.")],
            methods: &[func!("close", "Stops listening.", [], [])],
        },
    ],
    build,
};

/// A session as Lua holds it.
pub struct Session {
    conn: Mutex<Option<Arc<Connection>>>,
    label: String,
    /// The names and addresses of the host, for the ssh permission of its methods.
    names: Arc<[String]>,
}

static SESSION: &[Need] = &[SESSION_HOST];
const SESSION_HOST: Need = Need::custom("ssh", "the host of the session", session_resources);
static UPLOAD: &[Need] = &[SESSION_HOST, Need::arg("read", 0)];
static DOWNLOAD: &[Need] = &[SESSION_HOST, Need::arg("write", 1)];
static SFTP: &[Need] = &[Need::custom("ssh", "the host of the session", sftp::resources)];

/// What connecting with the options of `args[0]` reaches: each hop's name and address (ssh),
/// and the shell of a ProxyCommand (run).
fn connect_resources(args: &mlua::MultiValue) -> bridge::Resources {
    let everything = || vec![("ssh", None)];
    let Some(Value::Table(t)) = args.front() else { return everything() };
    let Ok((options, _)) = connect_options(t) else { return everything() };
    let Ok(target) = session::resolve(&options) else { return everything() };
    let mut out = Vec::new();
    for hop in target.jumps.iter().chain(std::iter::once(&target)) {
        for name in target_names(hop).iter() {
            out.push(("ssh", Some(name.clone())));
        }
        if hop.proxy_command.is_some() {
            out.push(("run", Some("sh".into())));
        }
    }
    out
}

fn target_names(t: &target::Target) -> Arc<[String]> {
    if t.alias == t.host {
        Arc::from(vec![t.alias.clone()])
    } else {
        Arc::from(vec![t.alias.clone(), t.host.clone()])
    }
}

/// The names of the session that is `args[0]`.
pub(crate) fn names_of<T: 'static>(args: &mlua::MultiValue, names: fn(&T) -> Arc<[String]>) -> bridge::Resources {
    match args.front() {
        Some(Value::UserData(ud)) => match ud.borrow::<T>() {
            Ok(s) => names(&s).iter().map(|n| ("ssh", Some(n.clone()))).collect(),
            Err(_) => vec![("ssh", None)],
        },
        _ => vec![("ssh", None)],
    }
}

fn session_resources(args: &mlua::MultiValue) -> bridge::Resources {
    names_of::<Session>(args, |s| s.names.clone())
}

impl Session {
    fn connection(&self) -> Result<Arc<Connection>> {
        self.conn
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| mlua::Error::runtime(format!("the session to {} is closed", self.label)))
    }
}

impl UserData for Session {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field_with("__index", |lua| {
            session_index(lua)
        });
        fields.add_meta_field("__name", "ssh.Session");
    }

    fn add_methods<M: mlua::UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(mlua::MetaMethod::ToString, |_, s, ()| {
            let open = s.conn.lock().unwrap_or_else(|p| p.into_inner()).is_some();
            Ok(format!("ssh.Session ({}, {})", s.label, if open { "open" } else { "closed" }))
        });
        #[cfg(feature = "lua54")]
        methods.add_meta_method(mlua::MetaMethod::Close, |_, s, _: Value| {
            s.conn.lock().unwrap_or_else(|p| p.into_inner()).take();
            Ok(())
        });
    }
}

fn opt<T: mlua::FromLua>(t: &Table, key: &str, what: &str, ty: &str) -> Result<Option<T>> {
    let v: Value = t.raw_get(key)?;
    if v.is_nil() {
        return Ok(None);
    }
    let type_name = v.type_name();
    t.raw_get::<Option<T>>(key)
        .map_err(|_| mlua::Error::runtime(format!("{what}: option '{key}' must be {ty}, got {type_name}")))
}

fn check_keys(t: &Table, allowed: &[&str], what: &str) -> Result<()> {
    match bridge::unknown_option(t, allowed)? {
        Some(name) => {
            Err(mlua::Error::runtime(format!("{what}: unknown option '{name}' (known: {})", allowed.join(", "))))
        }
        None => Ok(()),
    }
}

fn connect_options(t: &Table) -> Result<(ConnectOptions, Secrets)> {
    const W: &str = "ssh.connect";
    check_keys(
        t,
        &[
            "host",
            "hostname",
            "port",
            "user",
            "identity_file",
            "passphrase",
            "password",
            "agent",
            "known_hosts",
            "known_hosts_file",
            "hash_known_hosts",
            "connect_timeout",
            "keepalive_interval",
            "proxy_jump",
            "ssh_config",
            "options",
            "pipelining",
        ],
        W,
    )?;
    let host: String =
        opt(t, "host", W, "a string")?.ok_or_else(|| mlua::Error::runtime("ssh.connect: option 'host' is required"))?;
    let port = match opt::<i64>(t, "port", W, "an integer")? {
        Some(p) => Some(u16::try_from(p).map_err(|_| mlua::Error::runtime(format!("{W}: port {p} is out of range")))?),
        None => None,
    };
    let identity_files = match t.raw_get::<Value>("identity_file")? {
        Value::Nil => Vec::new(),
        Value::String(s) => vec![s.to_str()?.to_string()],
        Value::Table(list) => list.sequence_values::<String>().collect::<Result<Vec<_>>>()?,
        other => {
            return Err(mlua::Error::runtime(format!(
                "{W}: option 'identity_file' must be a string or a list of strings, got {}",
                other.type_name()
            )))
        }
    };
    let known_hosts = match opt::<String>(t, "known_hosts", W, "a string")? {
        Some(text) => Some(HostKeyPolicy::parse(&text).map_err(|e| mlua::Error::runtime(format!("{W}: {e}")))?),
        None => None,
    };
    let seconds = |key: &str| -> Result<Option<Duration>> {
        opt::<f64>(t, key, W, "a number")?.map(|s| duration(s, &format!("{W}: {key}"))).transpose()
    };
    let ssh_config = match t.raw_get::<Value>("ssh_config")? {
        Value::Nil | Value::Boolean(true) => None,
        Value::Boolean(false) => Some(ConfigSource::None),
        Value::String(s) => Some(ConfigSource::File(s.to_str()?.to_string().into())),
        other => {
            return Err(mlua::Error::runtime(format!(
                "{W}: option 'ssh_config' must be a boolean or a path, got {}",
                other.type_name()
            )))
        }
    };
    let ssh_options = match opt::<Table>(t, "options", W, "a table")? {
        Some(table) => ssh_options(&table).map_err(|e| mlua::Error::runtime(format!("{W}: {e}")))?,
        None => Vec::new(),
    };
    let pipelining = match t.raw_get::<Value>("pipelining")? {
        Value::Nil => None,
        Value::Boolean(on) => Some(target::Pipelining { auth: on, signature: on }),
        Value::Table(p) => {
            check_keys(&p, &["auth", "signature"], W)?;
            Some(target::Pipelining {
                auth: opt(&p, "auth", W, "a boolean")?.unwrap_or(true),
                signature: opt(&p, "signature", W, "a boolean")?.unwrap_or(true),
            })
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "{W}: option 'pipelining' must be a boolean or a table, got {}",
                other.type_name()
            )))
        }
    };
    let options = ConnectOptions {
        host,
        pipelining,
        hostname: opt(t, "hostname", W, "a string")?,
        port,
        user: opt(t, "user", W, "a string")?,
        identity_files,
        options: ssh_options,
        known_hosts,
        known_hosts_file: opt(t, "known_hosts_file", W, "a string")?,
        hash_known_hosts: opt(t, "hash_known_hosts", W, "a boolean")?,
        connect_timeout: seconds("connect_timeout")?,
        keepalive_interval: seconds("keepalive_interval")?,
        proxy_jump: opt(t, "proxy_jump", W, "a string")?,
        ssh_config,
    };
    let secrets = Secrets {
        passphrase: opt(t, "passphrase", W, "a string")?,
        password: opt(t, "password", W, "a string")?,
        agent: opt(t, "agent", W, "a boolean")?,
    };
    Ok((options, secrets))
}

/// One ssh option's value as ssh_config text: a boolean is yes or no, a list gives one line per
/// item (or, for keywords that list on one line, one line of quoted items).
fn option_text(keyword: &config::keywords::Keyword, value: &Value) -> std::result::Result<Vec<String>, String> {
    let scalar = |v: &Value| -> std::result::Result<String, String> {
        match v {
            Value::String(s) => Ok(s.to_str().map_err(|_| format!("{} must be UTF-8", keyword.name))?.to_string()),
            Value::Integer(i) => Ok(i.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Boolean(b) => Ok(if *b { "yes".into() } else { "no".into() }),
            other => Err(format!("{} must be a string, number or boolean, got {}", keyword.name, other.type_name())),
        }
    };
    match value {
        Value::Table(list) => {
            let items = list.sequence_values::<Value>().map(|v| v.map_err(|e| e.to_string()).and_then(|v| scalar(&v))).collect::<std::result::Result<Vec<_>, _>>()?;
            if keyword.kind == config::keywords::Kind::List {
                Ok(vec![items.iter().map(|i| config::split::quote(i)).collect::<Vec<_>>().join(" ")])
            } else {
                Ok(items)
            }
        }
        v => Ok(vec![scalar(v)?]),
    }
}

/// A table of ssh options (keyword = value) as (keyword, value) pairs, sorted by keyword.
fn ssh_options(table: &Table) -> std::result::Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair.map_err(|e| e.to_string())?;
        let Value::String(key) = key else { return Err("ssh option names must be strings".into()) };
        let key = key.to_str().map_err(|e| e.to_string())?.to_string();
        let keyword = config::keywords::lookup(&key).ok_or_else(|| format!("unknown ssh option '{key}'"))?;
        for text in option_text(keyword, &value)? {
            out.push((keyword.name.to_owned(), text));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Warns once per run for each unsupported keyword (and missing algorithm list).
fn warn_unsupported(lua: &Lua, target: &session::Target) {
    static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    if target.quiet {
        return;
    }
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    let keys = target.unsupported.iter().map(|(k, _)| (*k).to_owned()).chain(
        (!target.missing_algorithms.is_empty()).then(|| format!("algorithms {}", target.missing_algorithms.join(","))),
    );
    for (key, message) in keys.zip(target::warnings(target)) {
        if !warned.contains(&key) {
            warned.push(key);
            bridge::warn(lua, &message);
        }
    }
}

fn exec_options(t: Option<&Table>) -> Result<(ExecOptions, bool)> {
    const W: &str = "session:exec";
    let Some(t) = t else { return Ok((ExecOptions::default(), false)) };
    check_keys(t, &["stdin", "env", "pty", "timeout", "on_stdout", "on_stderr", "lines"], W)?;
    let stdin = match t.raw_get::<Value>("stdin")? {
        Value::Nil => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        other => {
            return Err(mlua::Error::runtime(format!(
                "{W}: option 'stdin' must be a string or a function, got {}",
                other.type_name()
            )))
        }
    };
    let mut env = Vec::new();
    if let Some(vars) = opt::<Table>(t, "env", W, "a table")? {
        for pair in vars.pairs::<String, String>() {
            env.push(pair?);
        }
        env.sort();
    }
    let pty = match t.raw_get::<Value>("pty")? {
        Value::Nil | Value::Boolean(false) => None,
        Value::Boolean(true) => Some(Pty { term: "xterm".into(), cols: 80, rows: 24 }),
        Value::Table(p) => Some(Pty {
            term: opt(&p, "term", W, "a string")?.unwrap_or_else(|| "xterm".into()),
            cols: opt(&p, "cols", W, "an integer")?.unwrap_or(80),
            rows: opt(&p, "rows", W, "an integer")?.unwrap_or(24),
        }),
        other => {
            return Err(mlua::Error::runtime(format!(
                "{W}: option 'pty' must be a boolean or a table, got {}",
                other.type_name()
            )))
        }
    };
    let timeout = opt::<f64>(t, "timeout", W, "a number")?.map(|s| duration(s, W)).transpose()?;
    let lines = opt::<bool>(t, "lines", W, "a boolean")?.unwrap_or(false);
    Ok((ExecOptions { stdin, env, pty, timeout }, lines))
}

fn session_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.ssh.Session", session_methods)
}

fn session_methods(lua: &Lua, m: &Table) -> Result<()> {
    let exec = crate::command::runner(
        lua,
        "session:exec",
        3,
        |_, (s, command, options): (UserDataRef<Session>, String, Option<Table>)| {
            let conn = s.connection()?;
            let (options, lines) = exec_options(options.as_ref())?;
            Ok(crate::command::Prepared {
                lines,
                run: Box::new(move |sink| Box::pin(session::exec(conn, command, options, sink))),
            })
        },
    )?;
    m.raw_set("exec", exec)?;
    m.raw_set(
        "close",
        crate::runtime::waiting(lua, "session:close", |_, s: UserDataRef<Session>| {
            let conn = s.conn.lock().unwrap_or_else(|p| p.into_inner()).take();
            Ok(async move {
                if let Some(conn) = conn {
                    conn.close().await;
                }
                deliver(|_| Ok(()))
            })
        })?,
    )?;
    m.raw_set(
        "interactive",
        crate::runtime::waiting(
            lua,
            "session:interactive",
            |_, (s, command, options): (UserDataRef<Session>, Option<String>, Option<Table>)| {
                let conn = s.connection()?;
                let options = interactive_options(command, options.as_ref())?;
                Ok(async move {
                    let ended = interactive::run(conn, options).await?;
                    deliver(move |lua| {
                        let t = lua.create_table()?;
                        let status =
                            ended.exit_status.map(|s| s as i64).unwrap_or(if ended.signal.is_some() { 255 } else { 0 });
                        t.raw_set("exitStatus", status)?;
                        t.raw_set("exit_status", status)?;
                        t.raw_set("signal", ended.signal)?;
                        t.raw_set("ok", status == 0)?;
                        Ok(t)
                    })
                })
            },
        )?,
    )?;
    sftp::add_methods(lua, m)?;
    forward::add_methods(lua, m)
}

fn interactive_options(command: Option<String>, t: Option<&Table>) -> Result<interactive::Options> {
    const W: &str = "session:interactive";
    let mut options = interactive::Options {
        command,
        env: Vec::new(),
        tty: true,
        term: crate::env::get("TERM").unwrap_or_else(|| "xterm".into()),
    };
    let Some(t) = t else { return Ok(options) };
    check_keys(t, &["env", "tty", "term"], W)?;
    if let Some(vars) = opt::<Table>(t, "env", W, "a table")? {
        for pair in vars.pairs::<String, String>() {
            options.env.push(pair?);
        }
        options.env.sort();
    }
    options.tty = opt::<bool>(t, "tty", W, "a boolean")?.unwrap_or(true);
    if let Some(term) = opt::<String>(t, "term", W, "a string")? {
        options.term = term;
    }
    Ok(options)
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    crate::runtime::export_waiting(lua, m, "ssh.connect", |lua, options: Table| {
        let (options, secrets) = connect_options(&options)?;
        let target = session::resolve(&options);
        if let Ok(t) = &target {
            for hop in t.jumps.iter().chain(std::iter::once(t)) {
                warn_unsupported(lua, hop);
                if hop.policy == HostKeyPolicy::Off {
                    let label = known_hosts::host_label(&hop.alias, hop.port);
                    bridge::warn(lua, &format!("host key checking is off for {label} (known_hosts = \"off\")"));
                }
            }
        }
        Ok(async move {
            let target = target?;
            let names = target_names(&target);
            let conn = session::connect(target, Arc::new(secrets)).await?;
            let label = conn.label.clone();
            deliver(move |lua| {
                for failure in conn.notices.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
                    bridge::warn(lua, &failure);
                }
                lua.create_userdata(Session { conn: Mutex::new(Some(conn)), label, names })
            })
        })
    })?;
    bridge::export(lua, m, "ssh.resolve", |_, options: Table| {
        let (options, _) = connect_options(&options)?;
        let resolved = target::resolve_config(&options).map_err(|e| mlua::Error::runtime(e.message))?;
        Ok(config::dump::dump(&resolved, &target::native_defaults()))
    })?;
    bridge::export(lua, m, "ssh.quote", |_, arg: String| Ok(config::split::quote(&arg)))?;
    bridge::export(lua, m, "ssh.keywords", |lua, ()| {
        let list = lua.create_table()?;
        for k in config::keywords::KEYWORDS {
            let entry = lua.create_table()?;
            entry.raw_set("name", k.name)?;
            entry.raw_set("applied", k.support == config::keywords::Support::Applied)?;
            entry.raw_set("obsolete", k.kind == config::keywords::Kind::Obsolete)?;
            entry.raw_set("list", !k.single_argument() && !k.whole_line())?;
            entry.raw_set("whole_line", k.whole_line())?;
            entry.raw_set("adds", matches!(k.kind, config::keywords::Kind::Each | config::keywords::Kind::Forward(_) | config::keywords::Kind::SendEnv))?;
            list.raw_push(entry)?;
        }
        Ok(list)
    })?;
    bridge::export(lua, m, "ssh.check_option", |_, (key, value): (String, Value)| {
        let Some(keyword) = config::keywords::lookup(&key) else { return Ok(Some(format!("unknown ssh option '{key}'"))) };
        if matches!(keyword.name, "Host" | "Match" | "Include") {
            return Ok(Some(format!("{} cannot be set on a host", keyword.name)));
        }
        let texts = match option_text(keyword, &value) {
            Ok(t) => t,
            Err(e) => return Ok(Some(e)),
        };
        let options: Vec<(String, String)> = texts.into_iter().map(|t| (keyword.name.to_owned(), t)).collect();
        let ctx = config::Context::for_checks();
        Ok(config::resolve(&[config::Source::Options { label: "check".into(), options }], &ctx).err().map(|e| e.message))
    })?;
    Ok(())
}
