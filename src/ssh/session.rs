//! Connecting (ssh_config, ProxyJump, host keys, authentication) and running commands.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client::{self, AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, MethodKind, Preferred};

use super::config::{self, HostConfig, Tokens};
use super::known_hosts::{self, Verdict};
use crate::command::{CommandResult, Event, Sink};
use crate::error::{Error, Kind, Result};

/// How unknown and changed host keys are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Unknown or changed keys are refused (the default).
    Strict,
    /// Unknown keys are recorded; changed keys are refused.
    AcceptNew,
    /// Nothing is checked (explicit, with a warning).
    Off,
}

impl HostKeyPolicy {
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "strict" | "yes" | "ask" => Ok(HostKeyPolicy::Strict),
            "accept-new" => Ok(HostKeyPolicy::AcceptNew),
            "off" | "no" => Ok(HostKeyPolicy::Off),
            _ => Err(format!("known_hosts must be \"strict\", \"accept-new\" or \"off\", got '{text}'")),
        }
    }
}

/// Where ssh_config comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigSource {
    User,
    None,
    File(PathBuf),
}

/// What the caller of `connect` says; anything left out comes from ssh_config, then defaults.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// The name the user wrote: ssh_config's `Host` patterns match it, and errors name it.
    pub host: String,
    /// The address to reach, when it is not `host` (it wins over ssh_config's `HostName`).
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_files: Vec<String>,
    pub passphrase: Option<String>,
    pub password: Option<String>,
    pub agent: Option<bool>,
    pub known_hosts: Option<HostKeyPolicy>,
    pub known_hosts_file: Option<String>,
    pub hash_known_hosts: Option<bool>,
    pub connect_timeout: Option<Duration>,
    pub keepalive_interval: Option<Duration>,
    pub proxy_jump: Option<String>,
    pub ssh_config: Option<ConfigSource>,
}

/// One host to reach, with everything resolved.
#[derive(Clone, Debug)]
pub struct Target {
    pub alias: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
    pub identities_only: bool,
    pub known_hosts_file: PathBuf,
    pub policy: HostKeyPolicy,
    /// New known_hosts entries are written hashed (HashKnownHosts).
    pub hash_known_hosts: bool,
    pub connect_timeout: Duration,
    pub keepalive_interval: Option<Duration>,
    pub jumps: Vec<Target>,
}

fn home() -> PathBuf {
    crate::env::get("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"))
}

fn local_user() -> String {
    crate::env::get("USER").or_else(|| crate::env::get("LOGNAME")).unwrap_or_else(|| "root".into())
}

/// Resolves `options` against ssh_config: explicit options win, then the config, then defaults.
pub fn resolve(options: &ConnectOptions) -> Result<Target> {
    resolve_depth(options, 0)
}

fn resolve_depth(options: &ConnectOptions, depth: usize) -> Result<Target> {
    if options.host.is_empty() {
        return Err(Error::invalid("ssh.connect: host is required"));
    }
    if depth > 8 {
        return Err(Error::invalid("ssh.connect: ProxyJump chain is longer than 8 hops (a loop?)"));
    }
    let home = home();
    let cfg = match options.ssh_config.clone().unwrap_or(ConfigSource::User) {
        ConfigSource::None => Ok(HostConfig::default()),
        ConfigSource::User => config::resolve(&home.join(".ssh/config"), &options.host, &home),
        ConfigSource::File(path) => config::resolve(&path, &options.host, &home),
    }
    .map_err(|e| Error::invalid(format!("ssh_config: {e}")).with("file", e.file.clone()).with("line", e.line))?;
    let local = local_user();
    let user = options.user.clone().or(cfg.user.clone()).unwrap_or_else(|| local.clone());
    let port = options.port.or(cfg.port).unwrap_or(22);
    let home_text = home.display().to_string();
    let tokens = Tokens { host: &options.host, port, remote_user: &user, local_user: &local, home: &home_text };
    let host = match (&options.hostname, &cfg.hostname) {
        (Some(name), _) => name.clone(),
        (None, Some(name)) => config::expand(name, &tokens),
        (None, None) => options.host.clone(),
    };
    let tokens = Tokens { host: &host, ..tokens };
    let identity_files: Vec<PathBuf> = if options.identity_files.is_empty() {
        cfg.identity_files.iter().map(|f| PathBuf::from(config::expand(f, &tokens))).collect()
    } else {
        options.identity_files.iter().map(|f| PathBuf::from(config::expand(f, &tokens))).collect()
    };
    let known_hosts_file = options
        .known_hosts_file
        .clone()
        .or(cfg.user_known_hosts_file.clone().and_then(|f| f.split_whitespace().next().map(str::to_owned)))
        .map(|f| PathBuf::from(config::expand(&f, &tokens)))
        .unwrap_or_else(|| home.join(".ssh/known_hosts"));
    let policy = match (options.known_hosts, &cfg.strict_host_key_checking) {
        (Some(p), _) => p,
        (None, Some(text)) => HostKeyPolicy::parse(text).unwrap_or(HostKeyPolicy::Strict),
        (None, None) => HostKeyPolicy::Strict,
    };
    let connect_timeout =
        options.connect_timeout.or(cfg.connect_timeout.map(Duration::from_secs)).unwrap_or(Duration::from_secs(30));
    let keepalive_interval = options
        .keepalive_interval
        .or(cfg.server_alive_interval.map(Duration::from_secs))
        .or(Some(Duration::from_secs(15)))
        .filter(|d| !d.is_zero());
    let jump_spec = options.proxy_jump.clone().or(cfg.proxy_jump.clone());
    let mut jumps = Vec::new();
    if let Some(spec) = jump_spec {
        for hop in config::parse_jumps(&spec).map_err(|e| Error::invalid(format!("ssh.connect: {e}")))? {
            let hop_options = ConnectOptions {
                host: hop.host,
                hostname: None,
                port: hop.port,
                user: hop.user,
                proxy_jump: None,
                known_hosts: options.known_hosts,
                known_hosts_file: options.known_hosts_file.clone(),
                ..options.clone()
            };
            let mut target = resolve_depth(&hop_options, depth + 1)?;
            // A hop's own ProxyJump is ignored: the list already names every hop, in order.
            target.jumps.clear();
            jumps.push(target);
        }
    }
    Ok(Target {
        alias: options.host.clone(),
        host,
        port,
        user,
        identity_files,
        identities_only: cfg.identities_only.unwrap_or(false),
        known_hosts_file,
        policy,
        hash_known_hosts: options.hash_known_hosts.or(cfg.hash_known_hosts).unwrap_or(false),
        connect_timeout,
        keepalive_interval,
        jumps,
    })
}

/// The russh handler: checks the server's host key against known_hosts.
pub struct Checker {
    target_host: String,
    port: u16,
    file: PathBuf,
    policy: HostKeyPolicy,
    hash: bool,
    refusal: Arc<Mutex<Option<Error>>>,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(&mut self, offered: &PublicKeyOrCertificate) -> std::result::Result<bool, Self::Error> {
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::new(cert.public_key().clone(), ""),
        };
        match check_host_key(&self.target_host, self.port, &self.file, (self.policy, self.hash), &key) {
            Ok(()) => Ok(true),
            Err(err) => {
                *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
                Ok(false)
            }
        }
    }
}

/// Checks `key` against the known_hosts `file` under `policy`; an accepted new key is written
/// hashed when `hash` (the second of `how`).
fn check_host_key(host: &str, port: u16, file: &Path, how: (HostKeyPolicy, bool), key: &PublicKey) -> Result<()> {
    let (policy, hash) = how;
    let label = known_hosts::host_label(host, port);
    if policy == HostKeyPolicy::Off {
        return Ok(());
    }
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::from_io(&e, "read known_hosts file", &file.display().to_string())),
    };
    let fp = known_hosts::fingerprint(key);
    let file_text = file.display().to_string();
    match known_hosts::check(&text, host, port, key) {
        Verdict::Known => Ok(()),
        Verdict::Changed { line } => Err(Error::new(
            Kind::HostKey,
            format!(
                "the host key of {label} has CHANGED: the server offers {} {fp}, but {file_text}:{line} lists another \
                 {} key (someone may be intercepting the connection; if the key changed on purpose, remove that line)",
                key.algorithm(),
                key.algorithm()
            ),
        )
        .with("fingerprint", fp)
        .with("file", file_text)
        .with("line", line)),
        Verdict::Revoked { line } => Err(Error::new(
            Kind::HostKey,
            format!("the host key of {label} ({fp}) is marked @revoked at {file_text}:{line}"),
        )
        .with("fingerprint", fp)
        .with("file", file_text)
        .with("line", line)),
        Verdict::Unknown if policy == HostKeyPolicy::AcceptNew => known_hosts::append(file, host, port, key, hash)
            .map_err(|e| Error::from_io(&e, "append to known_hosts file", &file_text)),
        Verdict::Unknown => Err(Error::new(
            Kind::HostKey,
            format!(
                "the host key of {label} is unknown: the server offers {} {fp}, which {file_text} does not list \
                 (verify it, then add it, or connect once with known_hosts = \"accept-new\")",
                key.algorithm()
            ),
        )
        .with("fingerprint", fp)
        .with("file", file_text)),
    }
}

/// An authenticated connection, with the hops it goes through kept alive.
pub struct Connection {
    pub handle: Handle<Checker>,
    pub label: String,
    _jumps: Vec<Arc<Connection>>,
    commands: std::sync::Mutex<Commands>,
}

pub(crate) type ChannelWriter = Arc<russh::ChannelWriteHalf<client::Msg>>;

/// The commands of a connection still running, and those being stopped.
#[derive(Default)]
struct Commands {
    next: u64,
    running: std::collections::HashMap<u64, ChannelWriter>,
    stopping: Vec<tokio::task::JoinHandle<()>>,
}

/// Tells a command to stop: OpenSSH's sshd sends the signal to the command's whole process
/// group, so nothing it started is left running; then the channel is closed.
async fn stop(channel: ChannelWriter) {
    let _ = channel.signal(russh::Sig::TERM).await;
    let _ = channel.eof().await;
    let _ = channel.close().await;
}

impl Connection {
    /// Stops what still runs, disconnects, and waits (at most 2 s) until the goodbye is on the
    /// wire: a program exiting right after would otherwise cut it off.
    pub async fn close(&self) {
        self.settle().await;
        let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "", "").await;
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.handle.is_closed() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn commands(&self) -> std::sync::MutexGuard<'_, Commands> {
        self.commands.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops every command still running or abandoned, so a disconnect leaves none behind.
    async fn settle(&self) {
        let (running, stopping) = {
            let mut commands = self.commands();
            (std::mem::take(&mut commands.running), std::mem::take(&mut commands.stopping))
        };
        futures::future::join_all(running.into_values().map(stop)).await;
        for pending in stopping {
            let _ = pending.await;
        }
    }

    pub(crate) fn track(self: &Arc<Self>, channel: ChannelWriter) -> Tracked {
        let mut commands = self.commands();
        commands.next += 1;
        let id = commands.next;
        commands.running.insert(id, channel);
        Tracked { id, conn: self.clone() }
    }
}

/// A running command; dropped before its end (cancel, timeout, Ctrl-C), it is stopped.
pub(crate) struct Tracked {
    id: u64,
    conn: Arc<Connection>,
}

impl Tracked {
    pub(crate) fn finished(self) {
        self.conn.commands().running.remove(&self.id);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut commands = self.conn.commands();
        let Some(channel) = commands.running.remove(&self.id) else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            commands.stopping.push(runtime.spawn(stop(channel)));
        }
    }
}

fn russh_config(target: &Target) -> Arc<client::Config> {
    let mut preferred = Preferred::DEFAULT.clone();
    // curve25519 first: the post-quantum hybrid costs the server several times more per connection.
    let mut kex: Vec<_> = preferred.kex.iter().cloned().collect();
    if let Some(pos) = kex.iter().position(|k| *k == russh::kex::CURVE25519) {
        let k = kex.remove(pos);
        kex.insert(0, k);
    }
    preferred.kex = kex.into();
    // AES-GCM first: hardware-accelerated, so bulk transfers cost less CPU than ChaCha20.
    let mut ciphers: Vec<_> = preferred.cipher.iter().cloned().collect();
    if let Some(pos) = ciphers.iter().position(|c| *c == russh::cipher::AES_256_GCM) {
        let c = ciphers.remove(pos);
        ciphers.insert(0, c);
    }
    preferred.cipher = ciphers.into();
    preferred.compression = (&[russh::compression::NONE][..]).into();
    Arc::new(client::Config {
        preferred,
        keepalive_interval: target.keepalive_interval,
        keepalive_max: 3,
        inactivity_timeout: None,
        window_size: 8 * 1024 * 1024,
        maximum_packet_size: 65535,
        channel_buffer_size: 256,
        nodelay: true,
        ..Default::default()
    })
}

fn network_error(label: &str, err: &std::io::Error) -> Error {
    use std::io::ErrorKind as E;
    let (kind, what) = match err.kind() {
        E::ConnectionRefused => (Kind::Network, "connection refused"),
        E::ConnectionReset | E::ConnectionAborted | E::BrokenPipe => (Kind::Network, "connection reset"),
        E::TimedOut => (Kind::Timeout, "timed out"),
        E::HostUnreachable | E::NetworkUnreachable => (Kind::Network, "unreachable"),
        _ => (Kind::Network, ""),
    };
    let detail = if what.is_empty() { err.to_string() } else { what.to_owned() };
    Error::new(kind, format!("cannot connect to {label}: {detail}")).with("host", label)
}

/// Maps a russh error during a session to a structured error.
pub fn session_error(label: &str, err: russh::Error) -> Error {
    match err {
        russh::Error::IO(e) => network_error(label, &e),
        russh::Error::Disconnect | russh::Error::HUP | russh::Error::SendError | russh::Error::RecvError => {
            Error::new(Kind::Network, format!("the connection to {label} was closed")).with("host", label)
        }
        russh::Error::KeepaliveTimeout | russh::Error::InactivityTimeout => {
            Error::new(Kind::Timeout, format!("{label} stopped answering (keepalive timeout)")).with("host", label)
        }
        other => Error::new(Kind::Network, format!("ssh error with {label}: {other}")).with("host", label),
    }
}

/// Connects to `target` (through its jumps) and authenticates.
pub async fn connect(target: Target, secrets: Arc<Secrets>) -> Result<Connection> {
    let mut via: Option<Arc<Connection>> = None;
    let mut hops = Vec::new();
    for hop in &target.jumps {
        let conn = Arc::new(connect_one(hop, via.clone(), &secrets).await?);
        hops.push(conn.clone());
        via = Some(conn);
    }
    let mut conn = connect_one(&target, via, &secrets).await?;
    conn._jumps = hops;
    Ok(conn)
}

/// The secrets of a connection: kept out of options that might be printed.
#[derive(Default)]
pub struct Secrets {
    pub passphrase: Option<String>,
    pub password: Option<String>,
    pub agent: Option<bool>,
    /// $SSH_AUTH_SOCK, read on the Lua thread (the environment is read under env's lock).
    pub agent_socket: Option<String>,
}

async fn connect_one(target: &Target, via: Option<Arc<Connection>>, secrets: &Secrets) -> Result<Connection> {
    let label = known_hosts::host_label(&target.alias, target.port);
    let refusal = Arc::new(Mutex::new(None));
    let checker = Checker {
        target_host: target.host.clone(),
        port: target.port,
        file: target.known_hosts_file.clone(),
        policy: target.policy,
        hash: target.hash_known_hosts,
        refusal: refusal.clone(),
    };
    let config = russh_config(target);
    let timeout = target.connect_timeout;
    // The connect timeout bounds the connection with its key exchange, then the authentication.
    let timed_out = |phase: &str| {
        Error::new(
            Kind::Timeout,
            format!("cannot connect to {label}: timed out after {}s {phase}", timeout.as_secs_f64()),
        )
        .with("host", label.clone())
    };
    let handshake = async {
        match &via {
            None => {
                let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
                    .await
                    .map_err(|e| network_error(&label, &e))?;
                let _ = stream.set_nodelay(true);
                client::connect_stream(config, stream, checker).await
            }
            Some(jump) => {
                let channel = jump
                    .handle
                    .channel_open_direct_tcpip(target.host.clone(), target.port as u32, "127.0.0.1", 0)
                    .await
                    .map_err(|e| {
                        Error::new(
                            Kind::Network,
                            format!("cannot reach {label} through {}: {}", jump.label, session_error(&jump.label, e)),
                        )
                    })?;
                client::connect_stream(config, channel.into_stream(), checker).await
            }
        }
        .map_err(|e| match refusal.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(refused) => refused,
            None => session_error(&label, e),
        })
    };
    let mut handle = tokio::time::timeout(timeout, handshake).await.map_err(|_| timed_out("connecting"))??;
    tokio::time::timeout(timeout, authenticate(&mut handle, target, secrets, &label))
        .await
        .map_err(|_| timed_out("authenticating"))??;
    Ok(Connection { handle, label, _jumps: Vec::new(), commands: Default::default() })
}

fn method_name(m: &MethodKind) -> &'static str {
    match m {
        MethodKind::None => "none",
        MethodKind::Password => "password",
        MethodKind::PublicKey => "publickey",
        MethodKind::HostBased => "hostbased",
        MethodKind::KeyboardInteractive => "keyboard-interactive",
        _ => "other",
    }
}

/// Default key files, in OpenSSH's order.
fn default_identities() -> Vec<PathBuf> {
    let dir = home().join(".ssh");
    ["id_ed25519", "id_ecdsa", "id_rsa"].iter().map(|n| dir.join(n)).filter(|p| p.exists()).collect()
}

async fn authenticate(handle: &mut Handle<Checker>, target: &Target, secrets: &Secrets, label: &str) -> Result<()> {
    let user = target.user.clone();
    let mut tried: Vec<String> = Vec::new();
    let mut offered: Vec<String> = Vec::new();
    let note = |offered: &mut Vec<String>, result: &AuthResult| {
        if let AuthResult::Failure { remaining_methods, .. } = result {
            offered.clear();
            offered.extend(remaining_methods.iter().map(|m| method_name(m).to_owned()));
        }
    };
    // Which RSA signature the server takes, asked only when an RSA key comes up.
    let mut rsa: Option<Option<russh::keys::HashAlg>> = None;
    let mut key_problems: Vec<String> = Vec::new();

    // 1. Agent identities.
    let agent_socket = secrets.agent_socket.as_ref().filter(|_| secrets.agent.unwrap_or(true));
    if let (Some(socket), false) = (agent_socket, target.identities_only) {
        if let Ok(mut agent) = AgentClient::connect_uds(socket).await {
            if let Ok(identities) = agent.request_identities().await {
                for identity in identities {
                    let public = identity.public_key().into_owned();
                    tried.push(format!("agent key {}", known_hosts::fingerprint(&public)));
                    let hash = if public.algorithm().is_rsa() { rsa_hash(handle, &mut rsa).await } else { None };
                    match handle.authenticate_publickey_with(user.clone(), public, hash, &mut agent).await {
                        Ok(AuthResult::Success) => return Ok(()),
                        Ok(result) => note(&mut offered, &result),
                        Err(e) => key_problems.push(format!("agent: {e}")),
                    }
                }
            }
        }
    }

    // 2. Key files (with their certificates when a -cert.pub sits beside them).
    let files = if target.identity_files.is_empty() { default_identities() } else { target.identity_files.clone() };
    for file in &files {
        let shown = file.display().to_string();
        let key = match load_key(file, secrets.passphrase.as_deref()) {
            Ok(key) => Arc::new(key),
            Err(e) => {
                key_problems.push(describe_key_error(&shown, &e, secrets.passphrase.is_some()));
                continue;
            }
        };
        let cert_path = PathBuf::from(format!("{shown}-cert.pub"));
        if let Ok(cert) = russh::keys::load_openssh_certificate(&cert_path) {
            tried.push(format!("certificate {}", cert_path.display()));
            match handle.authenticate_openssh_cert(user.clone(), key.clone(), cert).await {
                Ok(AuthResult::Success) => return Ok(()),
                Ok(result) => note(&mut offered, &result),
                Err(e) => return Err(session_error(label, e)),
            }
        }
        tried.push(format!("key {shown}"));
        let hash = if key.algorithm().is_rsa() { rsa_hash(handle, &mut rsa).await } else { None };
        match handle.authenticate_publickey(user.clone(), PrivateKeyWithHashAlg::new(key, hash)).await {
            Ok(AuthResult::Success) => return Ok(()),
            Ok(result) => note(&mut offered, &result),
            Err(e) => return Err(session_error(label, e)),
        }
    }

    // 3. Password, then keyboard-interactive answered with the same password.
    if let Some(password) = &secrets.password {
        tried.push("password".into());
        match handle.authenticate_password(user.clone(), password.clone()).await {
            Ok(AuthResult::Success) => return Ok(()),
            Ok(result) => note(&mut offered, &result),
            Err(e) => return Err(session_error(label, e)),
        }
        tried.push("keyboard-interactive".into());
        let mut response = handle
            .authenticate_keyboard_interactive_start(user.clone(), None)
            .await
            .map_err(|e| session_error(label, e))?;
        for _ in 0..8 {
            match response {
                KeyboardInteractiveAuthResponse::Success => return Ok(()),
                KeyboardInteractiveAuthResponse::Failure { remaining_methods, .. } => {
                    offered = remaining_methods.iter().map(|m| method_name(m).to_owned()).collect();
                    break;
                }
                KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                    let answers = prompts.iter().map(|_| password.clone()).collect();
                    response = handle
                        .authenticate_keyboard_interactive_respond(answers)
                        .await
                        .map_err(|e| session_error(label, e))?;
                }
            }
        }
    }

    let mut message = format!("authentication as {user}@{label} failed");
    if tried.is_empty() {
        message.push_str(": no method to try (no agent, no key file, no password)");
    } else {
        message.push_str(&format!("; tried: {}", tried.join(", ")));
    }
    if !offered.is_empty() {
        message.push_str(&format!("; the server accepts: {}", offered.join(", ")));
    }
    if !key_problems.is_empty() {
        message.push_str(&format!("; {}", key_problems.join("; ")));
    }
    Err(Error::new(Kind::Auth, message).with("host", label).with("user", user))
}

async fn rsa_hash(
    handle: &Handle<Checker>,
    known: &mut Option<Option<russh::keys::HashAlg>>,
) -> Option<russh::keys::HashAlg> {
    if let Some(hash) = known {
        return *hash;
    }
    let hash = match handle.best_supported_rsa_hash().await {
        Ok(Some(hash)) => hash,
        _ => Some(russh::keys::HashAlg::Sha256),
    };
    *known = Some(hash);
    hash
}

/// Reads a private key file, working around keys that ssh-key misreads (see keyfix.rs).
fn load_key(path: &Path, passphrase: Option<&str>) -> std::result::Result<russh::keys::PrivateKey, russh::keys::Error> {
    let first = russh::keys::load_secret_key(path, passphrase);
    if first.is_ok() {
        return first;
    }
    let fixed = std::fs::read_to_string(path).ok().and_then(|pem| super::keyfix::pad_short_ecdsa_scalar(&pem));
    match fixed {
        Some(pem) => russh::keys::decode_secret_key(&pem, passphrase).or(first),
        None => first,
    }
}

fn describe_key_error(file: &str, err: &russh::keys::Error, have_passphrase: bool) -> String {
    match err {
        russh::keys::Error::KeyIsEncrypted if !have_passphrase => {
            format!("{file} is encrypted and no passphrase was given")
        }
        russh::keys::Error::KeyIsEncrypted => format!("{file}: wrong passphrase"),
        russh::keys::Error::IO(e) if e.kind() == std::io::ErrorKind::NotFound => format!("{file} does not exist"),
        other => format!("cannot read key {file}: {other}"),
    }
}

/// How to run one command.
#[derive(Default)]
pub struct ExecOptions {
    pub stdin: Option<Vec<u8>>,
    pub env: Vec<(String, String)>,
    pub pty: Option<Pty>,
    pub timeout: Option<Duration>,
}

#[derive(Clone)]
pub struct Pty {
    pub term: String,
    pub cols: u32,
    pub rows: u32,
}

/// Opens a session channel and starts `command` on it, with env and pty set first.
pub async fn start(conn: &Connection, command: &str, options: &ExecOptions) -> Result<russh::Channel<client::Msg>> {
    let label = &conn.label;
    let channel = conn.handle.channel_open_session().await.map_err(|e| session_error(label, e))?;
    for (k, v) in &options.env {
        channel.set_env(false, k.clone(), v.clone()).await.map_err(|e| session_error(label, e))?;
    }
    if let Some(pty) = &options.pty {
        channel
            .request_pty(false, &pty.term, pty.cols, pty.rows, 0, 0, &[])
            .await
            .map_err(|e| session_error(label, e))?;
    }
    channel.exec(true, command.as_bytes()).await.map_err(|e| session_error(label, e))?;
    Ok(channel)
}

/// Runs `command` and collects its output, or streams it to `sink` when one is given.
pub async fn exec(
    conn: Arc<Connection>,
    command: String,
    options: ExecOptions,
    sink: Option<Sink>,
) -> Result<CommandResult> {
    let started = Instant::now();
    let label = conn.label.clone();
    let run = async {
        let (mut reader, writer) = start(&conn, &command, &options).await?.split();
        let writer = Arc::new(writer);
        let tracked = conn.track(writer.clone());
        if let Some(stdin) = &options.stdin {
            writer.data_bytes(stdin.clone()).await.map_err(|e| session_error(&label, e))?;
        }
        writer.eof().await.map_err(|e| session_error(&label, e))?;
        let mut result = CommandResult::default();
        let mut refused = false;
        while let Some(msg) = reader.wait().await {
            match msg {
                ChannelMsg::Data { data } => result.take(&sink, Event::Stdout(data.to_vec())).await,
                ChannelMsg::ExtendedData { data, ext: 1 } => result.take(&sink, Event::Stderr(data.to_vec())).await,
                ChannelMsg::ExitStatus { exit_status } => result.exit_status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => result.signal = Some(signal_name_text(&signal_name)),
                ChannelMsg::Failure => refused = true,
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        tracked.finished();
        if refused && result.exit_status.is_none() {
            return Err(
                Error::new(Kind::Remote, format!("{label} refused to run the command")).with("host", label.clone())
            );
        }
        if result.exit_status.is_none() && result.signal.is_none() && conn.handle.is_closed() {
            return Err(Error::new(Kind::Network, format!("the connection to {label} was lost during the command"))
                .with("host", label.clone()));
        }
        Ok(result)
    };
    let mut result = match options.timeout {
        Some(limit) => tokio::time::timeout(limit, run).await.map_err(|_| {
            Error::new(Kind::Timeout, format!("the command on {label} timed out after {}s", limit.as_secs_f64()))
                .with("host", label.clone())
        })??,
        None => run.await?,
    };
    result.duration = started.elapsed();
    Ok(result)
}

pub(crate) fn signal_name_text(sig: &russh::Sig) -> String {
    let text = format!("{sig:?}");
    match text.strip_prefix("Custom(\"").and_then(|t| t.strip_suffix("\")")) {
        Some(custom) => custom.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_options_win_over_ssh_config() {
        let dir = std::env::temp_dir().join(format!("essh-resolve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config");
        std::fs::write(&path, "Host web\n  HostName 127.0.0.9\n  Port 2200\n  User cfg\n  ProxyJump j1,j2:23\n")
            .unwrap();
        let options = ConnectOptions {
            host: "web".into(),
            user: Some("explicit".into()),
            ssh_config: Some(ConfigSource::File(path)),
            ..Default::default()
        };
        let t = resolve(&options).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.user.as_str()), ("127.0.0.9", 2200, "explicit"));
        assert_eq!(t.jumps.iter().map(|j| (j.host.as_str(), j.port)).collect::<Vec<_>>(), vec![("j1", 22), ("j2", 23)]);
        assert_eq!(t.policy, HostKeyPolicy::Strict);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn ssh_config_blocks_match_the_alias_while_the_hostname_is_reached() {
        let dir = std::env::temp_dir().join(format!("essh-alias-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config");
        std::fs::write(&path, "Host web1\n  User from-alias\n  Port 2201\nHost 10.0.0.5\n  User from-address\n").unwrap();
        let options = ConnectOptions {
            host: "web1".into(),
            hostname: Some("10.0.0.5".into()),
            ssh_config: Some(ConfigSource::File(path)),
            ..Default::default()
        };
        let t = resolve(&options).unwrap();
        assert_eq!((t.alias.as_str(), t.host.as_str(), t.port, t.user.as_str()), ("web1", "10.0.0.5", 2201, "from-alias"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_bad_config_names_its_file_and_line() {
        let dir = std::env::temp_dir().join(format!("essh-badcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config");
        std::fs::write(&path, "Host *\n  Port x\n").unwrap();
        let options = ConnectOptions {
            host: "a".into(),
            ssh_config: Some(ConfigSource::File(path.clone())),
            ..Default::default()
        };
        let err = resolve(&options).unwrap_err();
        assert_eq!(err.message, format!("ssh_config: {}:2: Port must be a number, got 'x'", path.display()));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
