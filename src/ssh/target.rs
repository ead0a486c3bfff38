//! From what the caller says and what ssh_config gives to one resolved host: the explicit
//! options of ssh.connect come first (as OpenSSH's command line does), then the host's own ssh
//! options (a DSL host's, as a `Host <name>` block), then the config files.

use std::path::PathBuf;
use std::time::Duration;

use russh::keys::Algorithm;
use russh::Preferred;

use super::config::{self, dump, keywords, tokens, Context, Resolved, Source};
use crate::error::{Error, Result};

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
            "strict" | "yes" | "true" | "ask" => Ok(HostKeyPolicy::Strict),
            "accept-new" => Ok(HostKeyPolicy::AcceptNew),
            "off" | "no" | "false" => Ok(HostKeyPolicy::Off),
            _ => Err(format!("known_hosts must be \"strict\", \"accept-new\" or \"off\", got '{text}'")),
        }
    }

    fn keyword_value(self) -> &'static str {
        match self {
            HostKeyPolicy::Strict => "yes",
            HostKeyPolicy::AcceptNew => "accept-new",
            HostKeyPolicy::Off => "no",
        }
    }
}

/// Where ssh_config comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigSource {
    /// ~/.ssh/config, then /etc/ssh/ssh_config.
    User,
    None,
    File(PathBuf),
}

/// What the caller of `connect` says; anything left out comes from ssh_config, then defaults.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// The name the user wrote: ssh_config's `Host` patterns match it, and errors name it.
    pub host: String,
    /// The address to reach, when it is not `host` (it wins over ssh_config's HostName).
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_files: Vec<String>,
    pub known_hosts: Option<HostKeyPolicy>,
    pub known_hosts_file: Option<String>,
    pub hash_known_hosts: Option<bool>,
    pub connect_timeout: Option<Duration>,
    pub keepalive_interval: Option<Duration>,
    pub proxy_jump: Option<String>,
    /// ssh options (keyword, value), read before the config files: a DSL host's.
    pub options: Vec<(String, String)>,
    /// Round trips saved in authentication (both on by default; off for a server that minds).
    pub pipelining: Option<Pipelining>,
    pub ssh_config: Option<ConfigSource>,
}

/// The round trips authentication saves: the first request sent with the service request
/// (`auth`), and keys signed at once instead of first asking whether the server takes them
/// (`signature`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pipelining {
    pub auth: bool,
    pub signature: bool,
}

/// Which authentication methods to try, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    PublicKey,
    KeyboardInteractive,
    Password,
}

/// When a command gets a pseudo-terminal (RequestTTY).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestTty {
    /// As asked (a PTY for interactive sessions on a terminal).
    Auto,
    /// Always, even for commands.
    Force,
    /// Never.
    Never,
}

/// One host to reach, with everything resolved.
#[derive(Clone, Debug)]
pub struct Target {
    pub alias: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
    /// The key files are OpenSSH's defaults: those that do not exist are skipped quietly.
    pub default_identities: bool,
    pub certificate_files: Vec<PathBuf>,
    pub identities_only: bool,
    /// The agent's socket (IdentityAgent, else $SSH_AUTH_SOCK); None for no agent.
    pub agent_socket: Option<String>,
    pub known_hosts_files: Vec<PathBuf>,
    pub global_known_hosts_files: Vec<PathBuf>,
    /// The name host keys are looked up and recorded under (HostKeyAlias, else the host).
    pub host_key_name: String,
    /// CheckHostIP: the address's host key is checked and recorded too (direct TCP only).
    pub check_host_ip: bool,
    pub policy: HostKeyPolicy,
    /// New known_hosts entries are written hashed (HashKnownHosts).
    pub hash_known_hosts: bool,
    pub connect_timeout: Duration,
    pub connection_attempts: u32,
    pub keepalive_interval: Option<Duration>,
    pub keepalive_max: usize,
    pub tcp_keepalive: bool,
    pub bind_address: Option<String>,
    pub address_family: String,
    pub batch_mode: bool,
    pub methods: Vec<Method>,
    pub password_prompts: u32,
    pub preferred: Preferred,
    pub pipelining: Pipelining,
    /// Public key algorithms offered (PubkeyAcceptedAlgorithms); None: every one russh has.
    pub pubkey_algorithms: Option<Vec<String>>,
    pub proxy_command: Option<String>,
    pub send_env: Vec<String>,
    pub set_env: Vec<(String, String)>,
    pub request_tty: RequestTty,
    pub forward_agent: Option<String>,
    pub local_forwards: Vec<String>,
    pub remote_forwards: Vec<String>,
    pub exit_on_forward_failure: bool,
    /// LogLevel QUIET, FATAL or ERROR: warnings are not shown.
    pub quiet: bool,
    /// Keywords set for this host that the native client does not support, with their values.
    pub unsupported: Vec<(&'static str, String)>,
    /// Algorithms asked for that the native client does not have.
    pub missing_algorithms: Vec<String>,
    pub jumps: Vec<Target>,
}

fn explicit_options(options: &ConnectOptions) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut add = |k: &str, v: String| out.push((k.to_owned(), v));
    if let Some(v) = &options.hostname {
        add("HostName", v.replace('%', "%%"));
    }
    if let Some(v) = options.port {
        add("Port", v.to_string());
    }
    if let Some(v) = &options.user {
        add("User", v.clone());
    }
    for f in &options.identity_files {
        add("IdentityFile", f.clone());
    }
    if let Some(v) = options.known_hosts {
        add("StrictHostKeyChecking", v.keyword_value().into());
    }
    if let Some(v) = &options.known_hosts_file {
        add("UserKnownHostsFile", config::split::quote(v));
    }
    if let Some(v) = options.hash_known_hosts {
        add("HashKnownHosts", if v { "yes".into() } else { "no".into() });
    }
    if let Some(v) = &options.proxy_jump {
        add("ProxyJump", v.clone());
    }
    out
}

/// The sources of `options`, in the order they are read.
pub fn sources(options: &ConnectOptions, home: &std::path::Path) -> Vec<Source> {
    let mut sources = vec![
        Source::Options { label: "ssh.connect".into(), options: explicit_options(options) },
        Source::Options { label: format!("host {}", options.host), options: options.options.clone() },
    ];
    match options.ssh_config.clone().unwrap_or(ConfigSource::User) {
        ConfigSource::None => {}
        ConfigSource::User => sources.extend(config::user_files(home)),
        ConfigSource::File(path) => sources.push(Source::File { path, system: false }),
    }
    sources
}

/// Resolves `options` against ssh_config.
pub fn resolve_config(options: &ConnectOptions) -> Result<Resolved> {
    if options.host.is_empty() {
        return Err(Error::invalid("ssh.connect: host is required"));
    }
    let ctx = Context::current(&options.host);
    config::resolve(&sources(options, &ctx.home), &ctx)
        .map_err(|e| Error::invalid(format!("ssh_config: {e}")).with("file", e.file.clone()).with("line", e.line))
}

/// The native client's defaults, as `ssh -G` shows them.
pub fn native_defaults() -> dump::Defaults {
    let names = |list: Vec<&str>| list.into_iter().filter(|n| !is_extension(n)).collect::<Vec<_>>().join(",");
    let p = preferred_defaults();
    dump::Defaults {
        ciphers: names(p.cipher.iter().map(|n| n.as_ref()).collect()),
        kex: names(p.kex.iter().map(|n| n.as_ref()).collect()),
        macs: names(p.mac.iter().map(|n| n.as_ref()).collect()),
        host_keys: p.key.iter().map(|a| a.as_str().to_owned()).collect::<Vec<_>>().join(","),
        pubkeys: p.key.iter().map(|a| a.as_str().to_owned()).collect::<Vec<_>>().join(","),
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        server_alive_interval: DEFAULT_KEEPALIVE,
    }
}

const DEFAULT_CONNECT_TIMEOUT: u64 = 30;
const DEFAULT_KEEPALIVE: u64 = 15;

fn is_extension(name: &str) -> bool {
    name.starts_with("ext-info-") || name.starts_with("kex-strict-")
}

/// russh's algorithms in essh's order: curve25519 first (the post-quantum hybrid costs the
/// server several times more per connection), AES-GCM first (hardware-accelerated).
fn preferred_defaults() -> Preferred {
    let mut preferred = Preferred::DEFAULT.clone();
    let mut kex: Vec<_> = preferred.kex.iter().cloned().collect();
    if let Some(pos) = kex.iter().position(|k| *k == russh::kex::CURVE25519) {
        let k = kex.remove(pos);
        kex.insert(0, k);
    }
    preferred.kex = kex.into();
    let mut ciphers: Vec<_> = preferred.cipher.iter().cloned().collect();
    if let Some(pos) = ciphers.iter().position(|c| *c == russh::cipher::AES_256_GCM) {
        let c = ciphers.remove(pos);
        ciphers.insert(0, c);
    }
    preferred.cipher = ciphers.into();
    preferred.compression = (&[russh::compression::NONE][..]).into();
    preferred
}

/// Resolves `options` into a target, its jumps included.
pub fn resolve(options: &ConnectOptions) -> Result<Target> {
    resolve_depth(options, 0)
}

fn invalid(host: &str, message: String) -> Error {
    Error::invalid(format!("ssh_config of {host}: {message}")).with("host", host.to_owned())
}

fn resolve_depth(options: &ConnectOptions, depth: usize) -> Result<Target> {
    if depth > 8 {
        return Err(Error::invalid("ssh.connect: ProxyJump chain is longer than 8 hops (a loop?)"));
    }
    let r = resolve_config(options)?;
    let alias = options.host.clone();
    let who = alias.clone();
    let bad = |m: String| invalid(&who, m);
    let path = |value: &str| r.path(value).map(PathBuf::from).map_err(bad);
    let identity_files = r.identity_files().iter().map(|f| path(f)).collect::<Result<Vec<_>>>()?;
    let certificate_files =
        r.lines("CertificateFile").iter().map(|l| path(&l[0])).collect::<Result<Vec<_>>>()?;
    let agent_socket = match r.get("IdentityAgent") {
        None => crate::env::get("SSH_AUTH_SOCK"),
        Some(v) if v.eq_ignore_ascii_case("none") => None,
        Some("SSH_AUTH_SOCK") => crate::env::get("SSH_AUTH_SOCK"),
        Some(v) => match v.strip_prefix('$') {
            Some(var) => crate::env::get(var),
            None => Some(r.path(v).map_err(bad)?),
        },
    };
    let policy = match r.get("StrictHostKeyChecking") {
        Some(v) => HostKeyPolicy::parse(v).unwrap_or(HostKeyPolicy::Strict),
        None => HostKeyPolicy::Strict,
    };
    let seconds = |name: &str, default: u64| Duration::from_secs(r.number(name, default as i64).max(0) as u64);
    let connect_timeout = options.connect_timeout.unwrap_or_else(|| seconds("ConnectTimeout", DEFAULT_CONNECT_TIMEOUT));
    let keepalive_interval = options
        .keepalive_interval
        .unwrap_or_else(|| seconds("ServerAliveInterval", DEFAULT_KEEPALIVE))
        .max(Duration::ZERO);
    let methods = methods(&r).map_err(bad)?;
    let (preferred, pubkey_algorithms, missing_algorithms) = algorithms(&r);
    let proxy_command = match r.get("ProxyCommand") {
        Some(c) if !c.eq_ignore_ascii_case("none") && r.get("ProxyJump").is_none() => {
            let env = |_: &str| None;
            Some(tokens::expand(c, &r.tokens, tokens::PROXY, Some(&env)).map_err(|e| bad(format!("ProxyCommand: {e}")))?)
        }
        _ => None,
    };
    let set_env = r
        .lines("SetEnv")
        .iter()
        .filter_map(|l| l[0].split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let forward_agent = match r.get("ForwardAgent") {
        None => None,
        Some(v) if matches!(v.to_ascii_lowercase().as_str(), "no" | "false") => None,
        Some(v) if matches!(v.to_ascii_lowercase().as_str(), "yes" | "true") => agent_socket.clone(),
        Some(v) => match v.strip_prefix('$') {
            Some(var) => crate::env::get(var),
            None => Some(r.path(v).map_err(bad)?),
        },
    };
    let clear_forwards = r.flag("ClearAllForwardings", false);
    let forwards = |name: &str| if clear_forwards { Vec::new() } else { r.lines(name).iter().map(|l| l[0].clone()).collect() };
    let mut jumps = Vec::new();
    if let Some(spec) = r.get("ProxyJump") {
        for hop in config::parse_jumps(spec).map_err(|e| Error::invalid(format!("ssh.connect: {e}")))? {
            // A hop takes the caller's explicit options (keys, known_hosts, timeouts), not the
            // target host's own ssh options.
            let hop_options = ConnectOptions {
                host: hop.host,
                hostname: None,
                port: hop.port,
                user: hop.user,
                proxy_jump: None,
                options: Vec::new(),
                ..options.clone()
            };
            let mut target = resolve_depth(&hop_options, depth + 1)?;
            // A hop's own ProxyJump is ignored: the list already names every hop, in order.
            target.jumps.clear();
            target.proxy_command = None;
            jumps.push(target);
        }
    }
    let quiet = matches!(r.get("LogLevel"), Some("QUIET" | "FATAL" | "ERROR"));
    Ok(Target {
        alias,
        host: r.host.clone(),
        port: r.port,
        user: r.user.clone(),
        identity_files,
        default_identities: r.default_identities(),
        certificate_files,
        identities_only: r.flag("IdentitiesOnly", false),
        agent_socket,
        known_hosts_files: r.user_known_hosts().map_err(bad)?.into_iter().map(PathBuf::from).collect(),
        global_known_hosts_files: r.global_known_hosts().map_err(bad)?.into_iter().map(PathBuf::from).collect(),
        check_host_ip: r.flag("CheckHostIP", false),
        host_key_name: r.get("HostKeyAlias").map(|a| a.to_ascii_lowercase()).unwrap_or_else(|| r.host.clone()),
        policy,
        hash_known_hosts: r.flag("HashKnownHosts", false),
        connect_timeout,
        connection_attempts: r.number("ConnectionAttempts", 1).clamp(1, 100) as u32,
        keepalive_interval: Some(keepalive_interval).filter(|d| !d.is_zero()),
        keepalive_max: r.number("ServerAliveCountMax", 3).max(1) as usize,
        tcp_keepalive: r.flag("TCPKeepAlive", true),
        bind_address: r.get("BindAddress").map(str::to_owned),
        address_family: r.get("AddressFamily").unwrap_or("any").to_owned(),
        batch_mode: r.flag("BatchMode", false),
        methods,
        password_prompts: r.number("NumberOfPasswordPrompts", 3).max(0) as u32,
        preferred,
        pipelining: options.pipelining.unwrap_or(Pipelining { auth: true, signature: true }),
        pubkey_algorithms,
        proxy_command,
        send_env: r.lines("SendEnv").iter().map(|l| l[0].clone()).collect(),
        set_env,
        request_tty: match r.get("RequestTTY") {
            Some("force") => RequestTty::Force,
            Some("false") => RequestTty::Never,
            _ => RequestTty::Auto,
        },
        forward_agent,
        local_forwards: forwards("LocalForward"),
        remote_forwards: forwards("RemoteForward"),
        exit_on_forward_failure: r.flag("ExitOnForwardFailure", false),
        quiet,
        unsupported: r.unsupported(),
        missing_algorithms,
        jumps,
    })
}

/// The methods to try: PreferredAuthentications' order (publickey, keyboard-interactive,
/// password by default), without those turned off.
fn methods(r: &Resolved) -> std::result::Result<Vec<Method>, String> {
    let order = r.get("PreferredAuthentications").unwrap_or("publickey,keyboard-interactive,password");
    let mut out = Vec::new();
    for name in order.split(',') {
        let method = match name {
            "publickey" => Method::PublicKey,
            "keyboard-interactive" => Method::KeyboardInteractive,
            "password" => Method::Password,
            "gssapi-with-mic" | "gssapi-keyex" | "hostbased" | "none" => continue,
            other => return Err(format!("PreferredAuthentications: unknown method '{other}'")),
        };
        let enabled = match method {
            Method::PublicKey => r.get("PubkeyAuthentication").unwrap_or("true") != "false",
            Method::KeyboardInteractive => r.flag("KbdInteractiveAuthentication", true),
            Method::Password => r.flag("PasswordAuthentication", true),
        };
        if enabled && !out.contains(&method) {
            out.push(method);
        }
    }
    Ok(out)
}

/// russh's algorithm preferences from Ciphers, KexAlgorithms, MACs, HostKeyAlgorithms and
/// PubkeyAcceptedAlgorithms, with the names russh lacks.
fn algorithms(r: &Resolved) -> (Preferred, Option<Vec<String>>, Vec<String>) {
    let defaults = native_defaults();
    let mut preferred = preferred_defaults();
    let mut missing = Vec::new();
    let list = |name: &str, default: &str| r.get(name).map(|spec| dump::assemble(spec, default));
    if let Some(names) = list("Ciphers", &defaults.ciphers) {
        preferred.cipher = pick(&names, &mut missing, |n| russh::cipher::Name::try_from(n).ok()).into();
    }
    if let Some(names) = list("KexAlgorithms", &defaults.kex) {
        let mut kex = pick(&names, &mut missing, |n| russh::kex::Name::try_from(n).ok());
        kex.extend([russh::kex::EXTENSION_SUPPORT_AS_CLIENT, russh::kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT]);
        preferred.kex = kex.into();
    }
    if let Some(names) = list("MACs", &defaults.macs) {
        preferred.mac = pick(&names, &mut missing, |n| russh::mac::Name::try_from(n).ok()).into();
    }
    if let Some(names) = list("HostKeyAlgorithms", &defaults.host_keys) {
        preferred.key = pick(&names, &mut missing, key_algorithm).into();
    }
    if r.get("Compression") == Some("yes") {
        preferred.compression = (&[russh::compression::ZLIB, russh::compression::ZLIB_LEGACY, russh::compression::NONE][..]).into();
    }
    let pubkeys = list("PubkeyAcceptedAlgorithms", &defaults.pubkeys).map(|names| {
        let picked = pick(&names, &mut missing, key_algorithm);
        picked.iter().map(|a| a.as_str().to_owned()).collect()
    });
    missing.dedup();
    (preferred, pubkeys, missing)
}

fn key_algorithm(name: &str) -> Option<Algorithm> {
    if name.contains("-cert-v01@") || name.starts_with("sk-") || name.starts_with("webauthn-") {
        return None;
    }
    name.parse::<Algorithm>().ok()
}

fn pick<T>(names: &str, missing: &mut Vec<String>, find: impl Fn(&str) -> Option<T>) -> Vec<T> {
    let mut out = Vec::new();
    for name in names.split(',').filter(|n| !n.is_empty()) {
        match find(name) {
            Some(found) => out.push(found),
            None => missing.push(name.to_owned()),
        }
    }
    out
}

/// The warnings a connection to `target` deserves: unsupported keywords and algorithms.
pub fn warnings(target: &Target) -> Vec<String> {
    let mut out = Vec::new();
    for (keyword, value) in &target.unsupported {
        let known = keywords::lookup(keyword).map(|k| k.kind == keywords::Kind::Obsolete).unwrap_or(false);
        out.push(if known {
            format!("host {}: {keyword} is obsolete and ignored, by OpenSSH too", target.alias)
        } else {
            format!(
                "host {}: the native client does not support {keyword} ({value}); ssh_backend = \"openssh\" does",
                target.alias
            )
        });
    }
    if !target.missing_algorithms.is_empty() {
        out.push(format!(
            "host {}: the native client does not have {}; ssh_backend = \"openssh\" does",
            target.alias,
            target.missing_algorithms.join(", ")
        ));
    }
    out
}
