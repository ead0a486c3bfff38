//! ssh: the Lua face of the SSH client (russh): connect, exec, transfers over SFTP, tunnels.

pub mod config;
pub mod forward;
pub mod keyfix;
pub mod known_hosts;
pub mod session;
pub mod sftp;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlua::{Lua, Result, Table, UserData, UserDataRef, Value};

use crate::error::{Error, Kind};
use crate::func;
use crate::module::{self, Class, ModuleDef, TypeDef};
use crate::runtime::{deliver, duration};
use session::{ConfigSource, ConnectOptions, Connection, Event, ExecOptions, ExecResult, HostKeyPolicy, Pty, Secrets};

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
    )],
    constants: &[],
    types: &[
        TypeDef {
            name: "ssh.ConnectOptions",
            doc: "",
            fields: &[
                crate::slot!(host: "string", "Host alias or address."),
                crate::slot!(port: "integer?", "Port (default: ssh_config, then 22)."),
                crate::slot!(user: "string?", "User (default: ssh_config, then $USER)."),
                crate::slot!(identity_file: "(string|string[])?", "Private key file(s)."),
                crate::slot!(passphrase: "string?", "Passphrase of encrypted key files."),
                crate::slot!(password: "string?", "Password, also used for keyboard-interactive prompts."),
                crate::slot!(agent: "boolean?", "Use ssh-agent identities (default: true when SSH_AUTH_SOCK is set)."),
                crate::slot!(known_hosts: "\"strict\"|\"accept-new\"|\"off\"|nil", "Host key policy (default: strict)."),
                crate::slot!(known_hosts_file: "string?", "known_hosts file (default: ~/.ssh/known_hosts)."),
                crate::slot!(connect_timeout: "number?", "Seconds to connect and authenticate (default 30)."),
                crate::slot!(keepalive_interval: "number?", "Seconds between keepalives (default 15; 0 turns them off)."),
                crate::slot!(proxy_jump: "string?", "Jump hosts: [user@]host[:port],... or \"none\"."),
                crate::slot!(ssh_config: "(boolean|string)?", "Read ~/.ssh/config (true, default), nothing (false), or this file."),
            ],
            methods: &[],
        },
        TypeDef {
            name: "ssh.ExecOptions",
            doc: "",
            fields: &[
                crate::slot!(stdin: "(string|fun(): string?)?", "Input for the command: a string, or a function returning chunks until nil."),
                crate::slot!(env: "table<string, string>?", "Environment variables (the server must accept them)."),
                crate::slot!(pty: "(boolean|{term: string?, cols: integer?, rows: integer?})?", "Allocate a pseudo-terminal."),
                crate::slot!(timeout: "number?", "Seconds before the command is abandoned with a timeout error."),
                crate::slot!(on_stdout: "fun(chunk: string)?", "Receives output live instead of collecting it."),
                crate::slot!(on_stderr: "fun(chunk: string)?", "Receives error output live instead of collecting it."),
                crate::slot!(lines: "boolean?", "Callbacks receive whole lines (without the newline)."),
            ],
            methods: &[],
        },
        TypeDef {
            name: "ssh.ExecResult",
            doc: "How a command ended: a non-zero exit is a result, not an error.",
            fields: &[
                crate::slot!(exitStatus: "integer?", "Exit status (nil when killed by a signal)."),
                crate::slot!(exit_status: "integer?", "Same as exitStatus."),
                crate::slot!(signal: "string?", "The signal that killed the command (\"KILL\", \"TERM\", ...)."),
                crate::slot!(stdout: "string", "Collected output (empty when streamed to on_stdout)."),
                crate::slot!(stderr: "string", "Collected error output (empty when streamed to on_stderr)."),
                crate::slot!(ok: "boolean", "exitStatus == 0."),
                crate::slot!(duration: "number", "Seconds the command took."),
            ],
            methods: &[],
        },
        TypeDef {
            name: "ssh.TransferOptions",
            doc: "",
            fields: &[
                crate::slot!(mode: "integer?", "Permissions of the uploaded file (default 0644)."),
                crate::slot!(atomic: "boolean?", "Write a temporary name, then rename (default true)."),
            ],
            methods: &[],
        },
        TypeDef {
            name: "ssh.Session",
            doc: "An authenticated connection; many commands may run on it at once.",
            fields: &[],
            methods: &[
                func!("exec", "Runs a command.", [command: "string", options: "ssh.ExecOptions?"], [result: "ssh.ExecResult?", err: "essh.Error?"]),
                func!("upload", "Copies a local file to the server over SFTP.", [local_path: "string", remote_path: "string", options: "ssh.TransferOptions?"], [bytes: "integer?", err: "essh.Error?"]),
                func!("download", "Copies a remote file to this machine over SFTP.", [remote_path: "string", local_path: "string", options: "ssh.TransferOptions?"], [bytes: "integer?", err: "essh.Error?"]),
                func!("sftp", "Opens an SFTP client on this session.", [], [sftp: "ssh.Sftp?", err: "essh.Error?"]),
                func!("forward_local", "Listens on 127.0.0.1:local_port (0 picks one) and tunnels each connection to remote_host:remote_port.", [local_port: "integer", remote_host: "string", remote_port: "integer"], [forward: "ssh.Forward?", err: "essh.Error?"]),
                func!("close", "Disconnects.", [], []),
            ],
        },
        TypeDef {
            name: "ssh.Sftp",
            doc: "File operations on the server.",
            fields: &[],
            methods: &[
                func!("stat", "Attributes of a path: size, mode, uid, gid, mtime, type.", [path: "string"], [stat: "table?", err: "essh.Error?"]),
                func!("list", "Entries of a directory (without . and ..), sorted by name.", [path: "string"], [entries: "table[]?", err: "essh.Error?"]),
                func!("mkdir", "Creates a directory.", [path: "string", mode: "integer?"], [ok: "boolean?", err: "essh.Error?"]),
                func!("remove", "Removes a file, or an empty directory.", [path: "string"], [ok: "boolean?", err: "essh.Error?"]),
                func!("rename", "Renames a path.", [from: "string", to: "string"], [ok: "boolean?", err: "essh.Error?"]),
                func!("read", "Reads a small file whole.", [path: "string"], [data: "string?", err: "essh.Error?"]),
                func!("write", "Writes a small file whole (atomically).", [path: "string", data: "string", mode: "integer?"], [ok: "boolean?", err: "essh.Error?"]),
            ],
        },
        TypeDef {
            name: "ssh.Forward",
            doc: "A local TCP tunnel.",
            fields: &[crate::slot!(port: "integer", "The local port it listens on.")],
            methods: &[func!("close", "Stops listening.", [], [])],
        },
    ],
    build,
};

/// A session as Lua holds it.
pub struct Session {
    conn: Mutex<Option<Arc<Connection>>>,
    label: String,
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
            module::method_table(lua, "essh_native.ssh.Session", session_methods)
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
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let name = k.to_string().unwrap_or_default();
        if !allowed.contains(&name.as_str()) {
            return Err(mlua::Error::runtime(format!(
                "{what}: unknown option '{name}' (known: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn connect_options(t: &Table) -> Result<(ConnectOptions, Secrets)> {
    const W: &str = "ssh.connect";
    check_keys(
        t,
        &[
            "host",
            "port",
            "user",
            "identity_file",
            "passphrase",
            "password",
            "agent",
            "known_hosts",
            "known_hosts_file",
            "connect_timeout",
            "keepalive_interval",
            "proxy_jump",
            "ssh_config",
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
    let options = ConnectOptions {
        host,
        port,
        user: opt(t, "user", W, "a string")?,
        identity_files,
        passphrase: None,
        password: None,
        agent: None,
        known_hosts,
        known_hosts_file: opt(t, "known_hosts_file", W, "a string")?,
        connect_timeout: seconds("connect_timeout")?,
        keepalive_interval: seconds("keepalive_interval")?,
        proxy_jump: opt(t, "proxy_jump", W, "a string")?,
        ssh_config,
    };
    let secrets = Secrets {
        passphrase: opt(t, "passphrase", W, "a string")?,
        password: opt(t, "password", W, "a string")?,
        agent: opt(t, "agent", W, "a boolean")?,
        agent_socket: crate::env::get("SSH_AUTH_SOCK"),
    };
    Ok((options, secrets))
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

fn result_table(lua: &Lua, r: ExecResult) -> Result<Table> {
    let t = lua.create_table()?;
    if let Some(code) = r.exit_status {
        t.raw_set("exitStatus", code)?;
        t.raw_set("exit_status", code)?;
    }
    if let Some(sig) = r.signal {
        t.raw_set("signal", sig)?;
    }
    t.raw_set("stdout", lua.create_string(&r.stdout)?)?;
    t.raw_set("stderr", lua.create_string(&r.stderr)?)?;
    t.raw_set("ok", r.exit_status == Some(0))?;
    t.raw_set("duration", r.duration.as_secs_f64())?;
    Ok(t)
}

/// Live output of a command, handed to Lua in batches by `next`.
struct ExecStream {
    rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Event>>>,
    outcome: Arc<Mutex<Option<crate::error::Result<ExecResult>>>>,
    partial: Arc<Mutex<[Vec<u8>; 2]>>,
    lines: bool,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ExecStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UserData for ExecStream {}

const BATCH_BYTES: usize = 1 << 20;

/// Adds one event to a batch: whole lines when `lines`, else the chunk.
fn add_event(batch: &mut Vec<(u8, Vec<u8>)>, partial: &mut [Vec<u8>; 2], lines: bool, stream: u8, data: Vec<u8>) {
    if !lines {
        batch.push((stream, data));
        return;
    }
    let buf = &mut partial[(stream - 1) as usize];
    buf.extend_from_slice(&data);
    let mut start = 0;
    while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
        let mut line = &buf[start..start + pos];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        batch.push((stream, line.to_vec()));
        start += pos + 1;
    }
    buf.drain(..start);
}

fn batch_table(lua: &Lua, batch: Vec<(u8, Vec<u8>)>) -> Result<Value> {
    if batch.is_empty() {
        return Ok(Value::Boolean(false));
    }
    let t = lua.create_table_with_capacity(batch.len() * 2, 0)?;
    for (stream, data) in batch {
        t.raw_push(stream)?;
        t.raw_push(lua.create_string(&data)?)?;
    }
    Ok(Value::Table(t))
}

/// The Lua half of exec: streams to callbacks when asked, else one native call.
const SESSION_LUA: &str = r#"
local exec, start, next_batch, finish = ...
local type, concat = type, table.concat
return function(self, command, options)
  if type(options) ~= "table" then return exec(self, command, options) end
  local stdin = options.stdin
  if type(stdin) == "function" then
    local chunks = {}
    for chunk in stdin do chunks[#chunks + 1] = chunk end
    local copy = {}
    for k, v in pairs(options) do copy[k] = v end
    copy.stdin = concat(chunks)
    options = copy
  end
  local on_stdout, on_stderr = options.on_stdout, options.on_stderr
  if not on_stdout and not on_stderr then return exec(self, command, options) end
  local stream = start(self, command, options)
  while true do
    local batch = next_batch(stream)
    if not batch then break end
    for i = 1, #batch, 2 do
      local callback = batch[i] == 1 and on_stdout or on_stderr
      if callback then callback(batch[i + 1]) end
    end
  end
  return finish(stream)
end
"#;

fn session_methods(lua: &Lua, m: &Table) -> Result<()> {
    let exec = module::waiting(
        lua,
        "session:exec",
        |_, (s, command, options): (UserDataRef<Session>, String, Option<Table>)| {
            let conn = s.connection()?;
            let (options, _) = exec_options(options.as_ref())?;
            Ok(async move {
                let r = session::exec(conn, command, options, None).await?;
                deliver(move |lua| result_table(lua, r))
            })
        },
    )?;
    let start = module::function(
        lua,
        "session:exec",
        |lua, (s, command, options): (UserDataRef<Session>, String, Option<Table>)| {
            let conn = s.connection()?;
            let (options, lines) = exec_options(options.as_ref())?;
            let (tx, rx) = tokio::sync::mpsc::channel(64);
            let outcome = Arc::new(Mutex::new(None));
            let slot = outcome.clone();
            let task = crate::runtime::get(lua)?.handle().spawn(async move {
                let r = session::exec(conn, command, options, Some(tx.clone())).await;
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                drop(tx);
            });
            let stream = ExecStream {
                rx: Arc::new(tokio::sync::Mutex::new(rx)),
                outcome,
                partial: Arc::new(Mutex::new([Vec::new(), Vec::new()])),
                lines,
                task,
            };
            lua.create_userdata(stream)
        },
    )?;
    let next_batch = module::waiting(lua, "session:exec", |_, stream: UserDataRef<ExecStream>| {
        let (rx, cell, lines) = (stream.rx.clone(), stream.partial.clone(), stream.lines);
        Ok(async move {
            let mut rx = rx.lock().await;
            let mut partial = std::mem::take(&mut *cell.lock().unwrap_or_else(|p| p.into_inner()));
            let mut batch = Vec::new();
            let mut bytes = 0;
            let mut next = rx.recv().await;
            let ended = next.is_none();
            while let Some(ev) = next {
                let (stream, data) = split(ev);
                bytes += data.len();
                add_event(&mut batch, &mut partial, lines, stream, data);
                next = if bytes < BATCH_BYTES { rx.try_recv().ok() } else { None };
            }
            if ended {
                for (i, rest) in partial.iter_mut().enumerate() {
                    if !rest.is_empty() {
                        batch.push((i as u8 + 1, std::mem::take(rest)));
                    }
                }
            }
            *cell.lock().unwrap_or_else(|p| p.into_inner()) = partial;
            deliver(move |lua| batch_table(lua, batch))
        })
    })?;
    let finish = module::function(lua, "session:exec", |lua, stream: UserDataRef<ExecStream>| {
        let outcome = stream.outcome.lock().unwrap_or_else(|p| p.into_inner()).take();
        match outcome {
            Some(Ok(r)) => crate::error::pair(lua, Ok(result_table(lua, r)?)),
            Some(Err(e)) => crate::error::pair::<Value>(lua, Err(e)),
            None => {
                crate::error::pair::<Value>(lua, Err(Error::new(Kind::Internal, "the command ended without a result")))
            }
        }
    })?;
    let exec_lua: mlua::Function =
        lua.load(SESSION_LUA).set_name("=essh_native.ssh").call((exec, start, next_batch, finish))?;
    m.raw_set("exec", exec_lua)?;
    m.raw_set(
        "close",
        module::waiting(lua, "session:close", |_, s: UserDataRef<Session>| {
            let conn = s.conn.lock().unwrap_or_else(|p| p.into_inner()).take();
            Ok(async move {
                if let Some(conn) = conn {
                    let _ = conn.handle.disconnect(russh::Disconnect::ByApplication, "", "").await;
                }
                deliver(|_| Ok(()))
            })
        })?,
    )?;
    sftp::add_methods(lua, m)?;
    forward::add_methods(lua, m)
}

fn split(ev: Event) -> (u8, Vec<u8>) {
    match ev {
        Event::Stdout(d) => (1, d),
        Event::Stderr(d) => (2, d),
    }
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    module::export_waiting(lua, m, "ssh.connect", |lua, options: Table| {
        let (options, secrets) = connect_options(&options)?;
        let target = session::resolve(&options);
        if let Ok(t) = &target {
            for hop in t.jumps.iter().chain(std::iter::once(t)) {
                if hop.policy == HostKeyPolicy::Off {
                    let label = known_hosts::host_label(&hop.alias, hop.port);
                    module::warn(lua, &format!("host key checking is off for {label} (known_hosts = \"off\")"));
                }
            }
        }
        Ok(async move {
            let target = target?;
            let conn = session::connect(target, Arc::new(secrets)).await?;
            let label = conn.label.clone();
            deliver(move |lua| lua.create_userdata(Session { conn: Mutex::new(Some(Arc::new(conn))), label }))
        })
    })?;
    Ok(())
}
