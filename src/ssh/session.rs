//! Connecting (ssh_config, ProxyJump, host keys, authentication) and running commands.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client::{self, AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelMsg, MethodKind};

use super::known_hosts::{self, Verdict};
pub use super::target::{resolve, ConfigSource, ConnectOptions, HostKeyPolicy, Method, RequestTty, Target};
use crate::command::{CommandResult, Event, Sink};
use crate::error::{Error, Kind, Result};

/// The russh handler: checks the server's host key against known_hosts, and takes the
/// channels the server opens (remote forwards, the forwarded agent).
pub struct Checker {
    host_key_name: String,
    port: u16,
    files: Vec<PathBuf>,
    global_files: Vec<PathBuf>,
    policy: HostKeyPolicy,
    hash: bool,
    refusal: Arc<Mutex<Option<Error>>>,
    remote_forwards: Arc<Mutex<Vec<super::forwarding::Remote>>>,
    agent: Option<String>,
    /// CheckHostIP: the address connected to, whose key is checked (and recorded) too.
    check_ip: Option<std::net::IpAddr>,
    notices: Arc<Mutex<Vec<String>>>,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(&mut self, offered: &PublicKeyOrCertificate) -> std::result::Result<bool, Self::Error> {
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::new(cert.public_key().clone(), ""),
        };
        let files = KnownHostsFiles { user: &self.files, global: &self.global_files };
        let checked = check_host_key(&self.host_key_name, self.port, files, (self.policy, self.hash), &key)
            .and_then(|()| self.check_address(&key));
        match checked {
            Ok(()) => Ok(true),
            Err(err) => {
                *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
                Ok(false)
            }
        }
    }

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: russh::Channel<client::Msg>,
        connected_address: &str,
        connected_port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: russh::client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> std::result::Result<(), Self::Error> {
        let target = super::forwarding::remote_target(&self.remote_forwards, connected_address, connected_port);
        match target {
            Some(target) => {
                reply.accept().await;
                tokio::spawn(super::forwarding::carry_to(channel, target));
            }
            None => reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await,
        }
        Ok(())
    }

    async fn server_channel_open_agent_forward(
        &mut self,
        channel: russh::Channel<client::Msg>,
        reply: russh::client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> std::result::Result<(), Self::Error> {
        match self.agent.clone() {
            Some(socket) => {
                reply.accept().await;
                tokio::spawn(super::forwarding::carry_to_agent(channel, socket));
            }
            None => reply.reject(russh::ChannelOpenFailure::AdministrativelyProhibited).await,
        }
        Ok(())
    }
}

impl Checker {
    /// CheckHostIP, as OpenSSH does it: the address's entry is recorded when missing; one that
    /// lists another key is a warning, and a refusal under StrictHostKeyChecking yes.
    fn check_address(&self, key: &PublicKey) -> Result<()> {
        let Some(ip) = self.check_ip else { return Ok(()) };
        let address = ip.to_string();
        if address == self.host_key_name || self.policy == HostKeyPolicy::Off {
            return Ok(());
        }
        let label = known_hosts::host_label(&address, self.port);
        let mut changed = None;
        for file in self.files.iter().chain(&self.global_files) {
            let Ok(text) = std::fs::read_to_string(file) else { continue };
            match known_hosts::check(&text, &address, self.port, key) {
                Verdict::Known => return Ok(()),
                Verdict::Changed { line } | Verdict::Revoked { line } => {
                    changed.get_or_insert(format!("{}:{line}", file.display()));
                }
                Verdict::Unknown => {}
            }
        }
        let note = |text: String| self.notices.lock().unwrap_or_else(|p| p.into_inner()).push(text);
        match (changed, self.files.first()) {
            (Some(place), _) => {
                let message = format!(
                    "the host key of {} differs from the key {place} lists for its address {label} (CheckHostIP)",
                    known_hosts::host_label(&self.host_key_name, self.port)
                );
                if self.policy == HostKeyPolicy::Strict {
                    return Err(Error::new(Kind::HostKey, message));
                }
                note(message);
            }
            (None, Some(file)) => {
                if let Err(e) = known_hosts::append(file, &address, self.port, key, self.hash) {
                    note(format!("cannot record the host key of {label} in {} (CheckHostIP): {e}", file.display()));
                }
            }
            (None, None) => {}
        }
        Ok(())
    }
}

/// The known_hosts files of a host: the user's (new keys go to the first), the system's.
struct KnownHostsFiles<'a> {
    user: &'a [PathBuf],
    global: &'a [PathBuf],
}

/// Checks `key` against the known_hosts `files` under `policy`; an accepted new key is written
/// to the first user file, hashed when `hash` (the second of `how`).
fn check_host_key(host: &str, port: u16, files: KnownHostsFiles<'_>, how: (HostKeyPolicy, bool), key: &PublicKey) -> Result<()> {
    let (policy, hash) = how;
    let label = known_hosts::host_label(host, port);
    if policy == HostKeyPolicy::Off {
        return Ok(());
    }
    let fp = known_hosts::fingerprint(key);
    let mut changed = None;
    for file in files.user.iter().chain(files.global) {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied) => continue,
            Err(e) => return Err(Error::from_io(&e, "read known_hosts file", &file.display().to_string())),
        };
        let file_text = file.display().to_string();
        match known_hosts::check(&text, host, port, key) {
            Verdict::Known => return Ok(()),
            Verdict::Revoked { line } => {
                return Err(Error::new(
                    Kind::HostKey,
                    format!("the host key of {label} ({fp}) is marked @revoked at {file_text}:{line}"),
                )
                .with("fingerprint", fp)
                .with("file", file_text)
                .with("line", line))
            }
            Verdict::Changed { line } => {
                changed.get_or_insert((file_text, line));
            }
            Verdict::Unknown => {}
        }
    }
    if let Some((file_text, line)) = changed {
        return Err(Error::new(
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
        .with("line", line));
    }
    match files.user.first() {
        Some(file) if policy == HostKeyPolicy::AcceptNew => known_hosts::append(file, host, port, key, hash)
            .map_err(|e| Error::from_io(&e, "append to known_hosts file", &file.display().to_string())),
        _ => Err(Error::new(
            Kind::HostKey,
            format!(
                "the host key of {label} is unknown: the server offers {} {fp}, which {} does not list \
                 (verify it, then add it, or connect once with known_hosts = \"accept-new\")",
                key.algorithm(),
                files.user.first().map(|f| f.display().to_string()).unwrap_or_else(|| "no known_hosts file".into())
            ),
        )
        .with("fingerprint", fp)
        .with("file", files.user.first().map(|f| f.display().to_string()).unwrap_or_default())),
    }
}

/// An authenticated connection, with the hops it goes through kept alive.
pub struct Connection {
    pub handle: Handle<Checker>,
    pub label: String,
    /// What every session channel asks for first (SendEnv, SetEnv, RequestTTY, ForwardAgent).
    pub setup: ChannelSetup,
    _jumps: Vec<Arc<Connection>>,
    /// The ProxyCommand carrying the connection, ended with it.
    _proxy: Option<super::proxy::Proxy>,
    /// LocalForward listeners, stopped with the connection.
    pub(crate) forwards: Mutex<Vec<super::forwarding::Listener>>,
    /// What deserves a warning once connected: forwards that could not be set up
    /// (ExitOnForwardFailure no), CheckHostIP's findings.
    pub(crate) notices: Arc<Mutex<Vec<String>>>,
    /// The RemoteForwards the server carries back, by the address and port it listens on.
    pub remote_forwards: Arc<Mutex<Vec<super::forwarding::Remote>>>,
    commands: std::sync::Mutex<Commands>,
}

/// What a session channel asks for before its command.
#[derive(Clone, Debug, Default)]
pub struct ChannelSetup {
    pub env: Vec<(String, String)>,
    pub request_tty: Option<RequestTty>,
    pub forward_agent: bool,
}

impl ChannelSetup {
    fn of(target: &Target) -> ChannelSetup {
        let mut env: Vec<(String, String)> = Vec::new();
        if !target.send_env.is_empty() {
            let mut vars = crate::env::vars();
            vars.sort();
            for (name, value) in vars {
                if target.send_env.iter().any(|p| super::config::pattern::matches(&name, p)) {
                    env.push((name, value));
                }
            }
        }
        for (name, value) in &target.set_env {
            env.retain(|(n, _)| n != name);
            env.push((name.clone(), value.clone()));
        }
        ChannelSetup { env, request_tty: Some(target.request_tty), forward_agent: target.forward_agent.is_some() }
    }

    /// Sends the environment and the agent request on a new channel.
    pub async fn apply(&self, channel: &russh::Channel<client::Msg>, extra_env: &[(String, String)]) -> std::result::Result<(), russh::Error> {
        for (k, v) in self.env.iter().filter(|(k, _)| !extra_env.iter().any(|(e, _)| e == k)).chain(extra_env) {
            channel.set_env(false, k.clone(), v.clone()).await?;
        }
        if self.forward_agent {
            channel.agent_forward(false).await?;
        }
        Ok(())
    }
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
    /// Stops what still runs and says goodbye; the server's hanging up is waited for in the
    /// background (and at exit: see goodbye.rs), not here.
    pub async fn close(self: Arc<Self>) {
        self.settle().await;
        let _ = self.handle.disconnect(russh::Disconnect::ByApplication, "", "").await;
        let pending = super::goodbye::Pending::start();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !self.handle.is_closed() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            drop(pending);
        });
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
    Arc::new(client::Config {
        preferred: target.preferred.clone(),
        keepalive_interval: target.keepalive_interval,
        keepalive_max: target.keepalive_max,
        inactivity_timeout: None,
        window_size: 8 * 1024 * 1024,
        maximum_packet_size: 65535,
        channel_buffer_size: 256,
        nodelay: true,
        pipeline_auth: target.pipelining.auth,
        sign_without_probe: target.pipelining.signature,
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
pub async fn connect(target: Target, secrets: Arc<Secrets>) -> Result<Arc<Connection>> {
    let mut via: Option<Arc<Connection>> = None;
    let mut hops = Vec::new();
    for hop in &target.jumps {
        let conn = Arc::new(connect_one(hop, via.clone(), &secrets).await?);
        hops.push(conn.clone());
        via = Some(conn);
    }
    let mut conn = connect_one(&target, via, &secrets).await?;
    conn._jumps = hops;
    let conn = Arc::new(conn);
    super::forwarding::start(&conn, &target).await?;
    Ok(conn)
}

/// The secrets of a connection: kept out of options that might be printed.
#[derive(Default)]
pub struct Secrets {
    pub passphrase: Option<String>,
    pub password: Option<String>,
    pub agent: Option<bool>,
}

/// Opens the transport: a TCP connection (BindAddress, AddressFamily, TCPKeepAlive), the
/// ProxyCommand's pipes, or a channel through the previous hop.
/// What carries a connection: the stream, the ProxyCommand behind it, the address reached.
type Transport = (Box<dyn Stream>, Option<super::proxy::Proxy>, Option<std::net::IpAddr>);

async fn transport(target: &Target, via: &Option<Arc<Connection>>, label: &str) -> Result<Transport> {
    if let Some(jump) = via {
        let channel = jump
            .handle
            .channel_open_direct_tcpip(target.host.clone(), target.port as u32, "127.0.0.1", 0)
            .await
            .map_err(|e| {
                Error::new(Kind::Network, format!("cannot reach {label} through {}: {}", jump.label, session_error(&jump.label, e)))
            })?;
        return Ok((Box::new(channel.into_stream()), None, None));
    }
    if let Some(command) = &target.proxy_command {
        let (stream, proxy) = super::proxy::spawn(command, label)?;
        return Ok((Box::new(stream), Some(proxy), None));
    }
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| network_error(label, &e))?
        .filter(|a| match target.address_family.as_str() {
            "inet" => a.is_ipv4(),
            "inet6" => a.is_ipv6(),
            _ => true,
        })
        .collect();
    let mut last = None;
    for address in addresses {
        match tcp(address, target).await {
            Ok(stream) => return Ok((Box::new(stream), None, Some(address.ip()))),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => network_error(label, &e),
        None => Error::new(Kind::Network, format!("cannot connect to {label}: no {} address", target.address_family))
            .with("host", label.to_owned()),
    })
}

async fn tcp(address: std::net::SocketAddr, target: &Target) -> std::io::Result<tokio::net::TcpStream> {
    let socket = if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    if let Some(bind) = &target.bind_address {
        let ip: std::net::IpAddr = bind
            .parse()
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("BindAddress {bind} is not an address")))?;
        socket.bind(std::net::SocketAddr::new(ip, 0))?;
    }
    socket.set_keepalive(target.tcp_keepalive)?;
    socket.set_nodelay(true)?;
    socket.connect(address).await
}

/// What russh runs a connection over.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Stream for T {}

async fn connect_one(target: &Target, via: Option<Arc<Connection>>, secrets: &Secrets) -> Result<Connection> {
    let mut attempt = 1;
    loop {
        match connect_attempt(target, via.clone(), secrets).await {
            Err(e) if attempt < target.connection_attempts && matches!(e.kind, Kind::Network | Kind::Timeout) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

async fn connect_attempt(target: &Target, via: Option<Arc<Connection>>, secrets: &Secrets) -> Result<Connection> {
    let label = known_hosts::host_label(&target.alias, target.port);
    let refusal = Arc::new(Mutex::new(None));
    let remote_forwards = Arc::new(Mutex::new(Vec::new()));
    let notices = Arc::new(Mutex::new(Vec::new()));
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
    let mut proxy = None;
    let handshake = async {
        let (stream, started, ip) = transport(target, &via, &label).await?;
        proxy = started;
        let checker = Checker {
            host_key_name: target.host_key_name.clone(),
            port: target.port,
            files: target.known_hosts_files.clone(),
            global_files: target.global_known_hosts_files.clone(),
            policy: target.policy,
            hash: target.hash_known_hosts,
            refusal: refusal.clone(),
            remote_forwards: remote_forwards.clone(),
            agent: target.forward_agent.clone(),
            check_ip: ip.filter(|_| target.check_host_ip),
            notices: notices.clone(),
        };
        client::connect_stream(config, stream, checker).await.map_err(|e| {
            match refusal.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some(refused) => refused,
                None => session_error(&label, e),
            }
        })
    };
    let handshake = tokio::time::timeout(timeout, handshake).await;
    let mut handle = match handshake {
        Ok(Ok(handle)) => handle,
        Ok(Err(e)) => return Err(proxy_failure(&mut proxy, e).await),
        Err(_) => return Err(timed_out("connecting")),
    };
    tokio::time::timeout(timeout, authenticate(&mut handle, target, secrets, &label))
        .await
        .map_err(|_| timed_out("authenticating"))??;
    Ok(Connection {
        handle,
        label,
        setup: ChannelSetup::of(target),
        _jumps: Vec::new(),
        _proxy: proxy,
        forwards: Mutex::new(Vec::new()),
        notices,
        remote_forwards,
        commands: Default::default(),
    })
}

/// An error while a ProxyCommand carried the connection names the command when it had ended.
async fn proxy_failure(proxy: &mut Option<super::proxy::Proxy>, err: Error) -> Error {
    match proxy {
        Some(p) => p.explain(err).await,
        None => err,
    }
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

/// What authentication tried and learnt, for the error when all fails.
#[derive(Default)]
struct Attempts {
    tried: Vec<String>,
    offered: Vec<String>,
    problems: Vec<String>,
    /// Which RSA signature the server takes, asked only when an RSA key comes up.
    rsa: Option<Option<russh::keys::HashAlg>>,
}

impl Attempts {
    fn note(&mut self, result: &AuthResult) {
        if let AuthResult::Failure { remaining_methods, .. } = result {
            self.offered = remaining_methods.iter().map(|m| method_name(m).to_owned()).collect();
        }
    }

    async fn rsa(&mut self, handle: &Handle<Checker>, algorithm: &russh::keys::Algorithm) -> Option<russh::keys::HashAlg> {
        if algorithm.clone().is_rsa() {
            rsa_hash(handle, &mut self.rsa).await
        } else {
            None
        }
    }
}

/// Whether PubkeyAcceptedAlgorithms lets a key of `algorithm` be offered.
fn accepted(target: &Target, algorithm: &russh::keys::Algorithm) -> bool {
    match &target.pubkey_algorithms {
        None => true,
        Some(names) if algorithm.clone().is_rsa() => names.iter().any(|n| n.starts_with("rsa-sha2-") || n == "ssh-rsa"),
        Some(names) => names.iter().any(|n| n == algorithm.as_str()),
    }
}

/// Authenticates with the methods of `target`, in its order: public keys (the agent's, then
/// key files with their certificates), keyboard-interactive and password (answered with the
/// password given, never by prompting).
async fn authenticate(handle: &mut Handle<Checker>, target: &Target, secrets: &Secrets, label: &str) -> Result<()> {
    let user = target.user.clone();
    let mut a = Attempts::default();
    for method in &target.methods {
        let name = match method {
            Method::PublicKey => "publickey",
            Method::KeyboardInteractive => "keyboard-interactive",
            Method::Password => "password",
        };
        // As OpenSSH does, a method the server does not list as able to continue is skipped
        // (asked with the "none" method when no public key has told yet).
        if a.offered.is_empty() && *method != Method::PublicKey && secrets.password.is_some() {
            match handle.authenticate_none(user.clone()).await {
                Ok(AuthResult::Success) => return Ok(()),
                Ok(result) => a.note(&result),
                Err(e) => return Err(session_error(label, e)),
            }
        }
        if !a.offered.is_empty() && !a.offered.iter().any(|m| m == name) {
            continue;
        }
        let done = match method {
            Method::PublicKey => public_keys(handle, target, secrets, label, &mut a).await?,
            Method::KeyboardInteractive => keyboard_interactive(handle, target, secrets, label, &mut a).await?,
            Method::Password => password(handle, target, secrets, label, &mut a).await?,
        };
        if done {
            return Ok(());
        }
    }
    let mut message = format!("authentication as {user}@{label} failed");
    if a.tried.is_empty() {
        message.push_str(": no method to try (no agent, no key file, no password)");
    } else {
        message.push_str(&format!("; tried: {}", a.tried.join(", ")));
    }
    if !a.offered.is_empty() {
        message.push_str(&format!("; the server accepts: {}", a.offered.join(", ")));
    }
    if !a.problems.is_empty() {
        message.push_str(&format!("; {}", a.problems.join("; ")));
    }
    Err(Error::new(Kind::Auth, message).with("host", label.to_owned()).with("user", user))
}

/// The public halves of the key files, for IdentitiesOnly's choice of agent keys.
fn file_public_keys(files: &[PathBuf]) -> Vec<PublicKey> {
    files
        .iter()
        .filter_map(|f| russh::keys::load_public_key(format!("{}.pub", f.display())).ok())
        .collect()
}

async fn public_keys(handle: &mut Handle<Checker>, target: &Target, secrets: &Secrets, label: &str, a: &mut Attempts) -> Result<bool> {
    let user = target.user.clone();
    let files: Vec<PathBuf> = if target.default_identities {
        target.identity_files.iter().filter(|p| p.exists()).cloned().collect()
    } else {
        target.identity_files.clone()
    };
    let agent_socket = target.agent_socket.as_ref().filter(|_| secrets.agent.unwrap_or(true));
    if let Some(socket) = agent_socket {
        if let Ok(mut agent) = AgentClient::connect_uds(socket).await {
            if let Ok(identities) = agent.request_identities().await {
                // IdentitiesOnly: only the agent's keys that are also named key files.
                let allowed = target.identities_only.then(|| file_public_keys(&files));
                for identity in identities {
                    let public = identity.public_key().into_owned();
                    if let Some(allowed) = &allowed {
                        if !allowed.iter().any(|k| k.key_data() == public.key_data()) {
                            continue;
                        }
                    }
                    if !accepted(target, &public.algorithm()) {
                        continue;
                    }
                    a.tried.push(format!("agent key {}", known_hosts::fingerprint(&public)));
                    let hash = a.rsa(handle, &public.algorithm()).await;
                    match handle.authenticate_publickey_with(user.clone(), public, hash, &mut agent).await {
                        Ok(AuthResult::Success) => return Ok(true),
                        Ok(result) => a.note(&result),
                        Err(e) => a.problems.push(format!("agent: {e}")),
                    }
                }
            }
        }
    }
    let certificates: Vec<PathBuf> = target.certificate_files.clone();
    for file in &files {
        let shown = file.display().to_string();
        let key = match load_key(file, secrets.passphrase.as_deref()) {
            Ok(key) => Arc::new(key),
            Err(e) => {
                a.problems.push(describe_key_error(&shown, &e, secrets.passphrase.is_some()));
                continue;
            }
        };
        if !accepted(target, &key.algorithm()) {
            continue;
        }
        let beside = PathBuf::from(format!("{shown}-cert.pub"));
        for cert_path in certificates.iter().chain(std::iter::once(&beside)) {
            let Ok(cert) = russh::keys::load_openssh_certificate(cert_path) else { continue };
            if cert.public_key() != key.public_key().key_data() {
                continue;
            }
            a.tried.push(format!("certificate {}", cert_path.display()));
            match handle.authenticate_openssh_cert(user.clone(), key.clone(), cert).await {
                Ok(AuthResult::Success) => return Ok(true),
                Ok(result) => a.note(&result),
                Err(e) => return Err(session_error(label, e)),
            }
        }
        a.tried.push(format!("key {shown}"));
        let hash = a.rsa(handle, &key.algorithm()).await;
        match handle.authenticate_publickey(user.clone(), PrivateKeyWithHashAlg::new(key, hash)).await {
            Ok(AuthResult::Success) => return Ok(true),
            Ok(result) => a.note(&result),
            Err(e) => return Err(session_error(label, e)),
        }
    }
    Ok(false)
}

async fn password(handle: &mut Handle<Checker>, target: &Target, secrets: &Secrets, label: &str, a: &mut Attempts) -> Result<bool> {
    let Some(password) = secrets.password.clone().filter(|_| target.password_prompts > 0) else { return Ok(false) };
    a.tried.push("password".into());
    match handle.authenticate_password(target.user.clone(), password).await {
        Ok(AuthResult::Success) => Ok(true),
        Ok(result) => {
            a.note(&result);
            Ok(false)
        }
        Err(e) => Err(session_error(label, e)),
    }
}

async fn keyboard_interactive(
    handle: &mut Handle<Checker>,
    target: &Target,
    secrets: &Secrets,
    label: &str,
    a: &mut Attempts,
) -> Result<bool> {
    let Some(password) = secrets.password.clone().filter(|_| target.password_prompts > 0) else { return Ok(false) };
    a.tried.push("keyboard-interactive".into());
    let mut response = handle
        .authenticate_keyboard_interactive_start(target.user.clone(), None)
        .await
        .map_err(|e| session_error(label, e))?;
    for _ in 0..8 {
        match response {
            KeyboardInteractiveAuthResponse::Success => return Ok(true),
            KeyboardInteractiveAuthResponse::Failure { remaining_methods, .. } => {
                a.offered = remaining_methods.iter().map(|m| method_name(m).to_owned()).collect();
                return Ok(false);
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
    Ok(false)
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
    conn.setup.apply(&channel, &options.env).await.map_err(|e| session_error(label, e))?;
    let forced = Pty { term: "xterm".into(), cols: 80, rows: 24 };
    let pty = match conn.setup.request_tty {
        Some(RequestTty::Never) => None,
        Some(RequestTty::Force) => Some(options.pty.as_ref().unwrap_or(&forced)),
        _ => options.pty.as_ref(),
    };
    if let Some(pty) = pty {
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
