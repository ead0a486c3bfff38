//! ssh_config, resolved as OpenSSH resolves it: every keyword of ssh_config(5), the first
//! obtained value winning, `Host` and `Match` blocks, `Include`, tokens, and the defaults
//! `ssh -G` shows.

pub mod dump;
pub mod keywords;
pub mod pattern;
pub mod read;
pub mod split;
pub mod tokens;

use std::path::{Path, PathBuf};

pub use pattern::wildcard_match;
pub use read::{Context, Setting, Settings, Source};
use tokens::Tokens;

/// A config problem, with where it is.
#[derive(Debug, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}


/// The settings of one host after resolution, with what its tokens stand for.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub settings: Settings,
    /// The host as given.
    pub host_arg: String,
    /// The host name reached (HostName expanded, lower-cased unless an address).
    pub host: String,
    pub user: String,
    pub port: u16,
    pub tokens: Tokens,
    home: PathBuf,
    env: fn(&str) -> Option<String>,
}

/// The key files OpenSSH tries when none is configured, in its order.
pub const DEFAULT_IDENTITIES: &[&str] = &[
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];

impl Context {
    /// This machine and its user, for `host_arg`: the home directory is $HOME (the passwd
    /// entry's when unset), the user the passwd entry's name.
    pub fn current(host_arg: &str) -> Context {
        let (name, dir) = passwd_entry();
        let home = crate::env::get("HOME").filter(|h| !h.is_empty()).or(dir).unwrap_or_else(|| "/".into());
        Context {
            host_arg: host_arg.to_owned(),
            local_user: name
                .or_else(|| crate::env::get("USER"))
                .or_else(|| crate::env::get("LOGNAME"))
                .unwrap_or_else(|| "root".into()),
            // SAFETY: getuid cannot fail.
            uid: unsafe { libc::getuid() },
            home: PathBuf::from(home),
            this_host: this_host(),
            env: crate::env::get,
        }
    }

    /// A context that knows nothing of this machine, for checking an option's value alone.
    pub fn for_checks() -> Context {
        Context {
            host_arg: "check".into(),
            local_user: String::new(),
            uid: 0,
            home: "/".into(),
            this_host: String::new(),
            env: |_| None,
        }
    }
}

fn passwd_entry() -> (Option<String>, Option<String>) {
    let mut buf = vec![0 as libc::c_char; 16384];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: the buffers outlive the call, and the strings are read before they are freed.
    unsafe {
        if libc::getpwuid_r(libc::getuid(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut out) != 0 || out.is_null() {
            return (None, None);
        }
        let text = |p: *const libc::c_char| {
            (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
        };
        (text(pwd.pw_name), text(pwd.pw_dir))
    }
}

fn this_host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The user's sources: ~/.ssh/config, then /etc/ssh/ssh_config.
pub fn user_files(home: &Path) -> Vec<Source> {
    vec![
        Source::File { path: home.join(".ssh/config"), system: false },
        Source::File { path: PathBuf::from("/etc/ssh/ssh_config"), system: true },
    ]
}

/// Resolves the settings of `ctx.host_arg` from `sources`, read in order.
pub fn resolve(sources: &[Source], ctx: &Context) -> Result<Resolved, ConfigError> {
    let reader = read::Reader::new(ctx);
    let settings = reader.read(sources)?;
    let first = |name: &str| settings.get(name).and_then(|s| s.lines.first()).and_then(|l| l.first()).cloned();
    let host = read::reached_host(first("HostName").as_deref(), &ctx.host_arg);
    let user = first("User").unwrap_or_else(|| ctx.local_user.clone());
    let port: u16 = first("Port").and_then(|p| p.parse().ok()).unwrap_or(22);
    let tokens = Tokens {
        host: host.clone(),
        original: ctx.host_arg.clone(),
        port: port.to_string(),
        remote_user: user.clone(),
        local_user: ctx.local_user.clone(),
        home: ctx.home.display().to_string(),
        this_host: ctx.this_host.clone(),
        uid: ctx.uid.to_string(),
        key_alias: first("HostKeyAlias").map(|a| a.to_ascii_lowercase()).unwrap_or_else(|| ctx.host_arg.clone()),
    };
    Ok(Resolved { settings, host_arg: ctx.host_arg.clone(), host, user, port, tokens, home: ctx.home.clone(), env: ctx.env })
}

impl Resolved {
    /// The first value of a keyword (by its ssh_config(5) spelling).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.settings.get(name).and_then(|s| s.lines.first()).and_then(|l| l.first()).map(String::as_str)
    }

    /// Every line of a keyword that adds (IdentityFile, LocalForward, SendEnv, ...), or the
    /// arguments of the first line of one that does not.
    pub fn lines(&self, name: &str) -> &[Vec<String>] {
        self.settings.get(name).map(|s| s.lines.as_slice()).unwrap_or(&[])
    }

    /// A flag's value (`yes`), or `default`.
    pub fn flag(&self, name: &str, default: bool) -> bool {
        match self.get(name) {
            Some(v) => v == "yes" || v == "true",
            None => default,
        }
    }

    /// A number's value, or `default`.
    pub fn number(&self, name: &str, default: i64) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// A path: `~`, the usual tokens and `${VAR}` expanded.
    pub fn path(&self, value: &str) -> Result<String, String> {
        let env = self.env;
        tokens::expand(&tokens::tilde(value, &self.home), &self.tokens, tokens::ALL, Some(&env))
    }

    /// The key files to try, as written (OpenSSH's defaults when none is configured).
    pub fn identity_files(&self) -> Vec<String> {
        let configured: Vec<String> = self.lines("IdentityFile").iter().map(|l| l[0].clone()).collect();
        if configured.is_empty() {
            DEFAULT_IDENTITIES.iter().map(|s| (*s).to_owned()).collect()
        } else {
            configured
        }
    }

    /// Whether the key files are OpenSSH's defaults (missing ones are then skipped quietly).
    pub fn default_identities(&self) -> bool {
        self.lines("IdentityFile").is_empty()
    }

    /// The user's known_hosts files, expanded (none for `none`).
    pub fn user_known_hosts(&self) -> Result<Vec<String>, String> {
        self.files("UserKnownHostsFile", &["~/.ssh/known_hosts", "~/.ssh/known_hosts2"])
    }

    /// The system's known_hosts files (none for `none`).
    pub fn global_known_hosts(&self) -> Result<Vec<String>, String> {
        self.files("GlobalKnownHostsFile", &["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"])
    }

    fn files(&self, name: &str, defaults: &[&str]) -> Result<Vec<String>, String> {
        let listed: Vec<String> = match self.lines(name).first() {
            Some(line) => line.clone(),
            None => defaults.iter().map(|s| (*s).to_owned()).collect(),
        };
        if listed.first().is_some_and(|f| f.eq_ignore_ascii_case("none")) {
            return Ok(Vec::new());
        }
        listed.iter().map(|f| self.path(f)).collect()
    }

    /// The keywords set for this host that the native client does not support, with their
    /// values (not those set by the system-wide file, which the user did not write).
    pub fn unsupported(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (name, setting) in &self.settings {
            if setting.system {
                continue;
            }
            let Some(keyword) = keywords::lookup(name) else { continue };
            let value = setting.lines.iter().map(|l| l.join(" ")).collect::<Vec<_>>().join(", ");
            if !keyword.native_handles(&value) {
                out.push((keyword.name, value));
            }
        }
        out
    }
}

/// One hop of a ProxyJump list: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Jump {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Parses `ProxyJump` (`none` gives no hops).
pub fn parse_jumps(spec: &str) -> Result<Vec<Jump>, String> {
    if spec.eq_ignore_ascii_case("none") || spec.is_empty() {
        return Ok(Vec::new());
    }
    spec.split(',')
        .map(|hop| {
            let hop = hop.trim().trim_start_matches("ssh://");
            let (user, rest) = match hop.rsplit_once('@') {
                Some((u, r)) => (Some(u.to_owned()), r),
                None => (None, hop),
            };
            let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
                let (h, after) = inner.split_once(']').ok_or_else(|| format!("bad ProxyJump hop '{hop}'"))?;
                (h.to_owned(), after.strip_prefix(':'))
            } else {
                match rest.rsplit_once(':') {
                    Some((h, p)) => (h.to_owned(), Some(p)),
                    None => (rest.to_owned(), None),
                }
            };
            let port =
                port.map(|p| p.parse::<u16>().map_err(|_| format!("bad port in ProxyJump hop '{hop}'"))).transpose()?;
            if host.is_empty() {
                return Err(format!("bad ProxyJump hop '{hop}'"));
            }
            Ok(Jump { user, host, port })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(host: &str, home: &Path) -> Context {
        Context {
            host_arg: host.into(),
            local_user: "me".into(),
            uid: 1000,
            home: home.to_path_buf(),
            this_host: "box.example".into(),
            env: |k| (k == "KEYS").then(|| "/keys".to_owned()),
        }
    }

    fn text(config: &str, host: &str) -> Result<Resolved, ConfigError> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("essh-cfg-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config");
        std::fs::write(&path, config).unwrap();
        let r = resolve(&[Source::File { path, system: false }], &ctx(host, &dir));
        std::fs::remove_dir_all(dir).unwrap();
        r
    }

    const TEXT: &str = r#"
Host web? !web9
  HostName 10.0.0.%h
  User deploy
  Port=2222
  IdentityFile ~/.ssh/id_web
Host *.internal
  ProxyJump jump@bastion:2200,second
  StrictHostKeyChecking accept-new
Host *
  User nobody
  IdentityFile "~/.ssh/id with space"
  ConnectTimeout 1m7s
  ServerAliveInterval 15
  SendEnv LANG LC_*
  SendEnv -LC_*
"#;

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let c = text(TEXT, "web1").unwrap();
        assert_eq!(c.host, "10.0.0.web1");
        assert_eq!((c.user.as_str(), c.port), ("deploy", 2222));
        assert_eq!(c.identity_files(), vec!["~/.ssh/id_web".to_owned(), "~/.ssh/id with space".to_owned()]);
        assert_eq!(c.get("ConnectTimeout"), Some("67"));
        assert_eq!(c.lines("SendEnv"), &[vec!["LANG".to_owned()]]);
    }

    #[test]
    fn host_patterns_negate_and_are_case_sensitive() {
        let c = text(TEXT, "web9").unwrap();
        assert_eq!((c.user.as_str(), c.port), ("nobody", 22));
        assert_eq!(text(TEXT, "WEB1").unwrap().user, "nobody");
    }

    #[test]
    fn proxy_jump_wins_over_a_later_proxy_command() {
        let c = text("Host *\n ProxyJump a,b:23\n ProxyCommand nc %h %p\n", "x").unwrap();
        assert_eq!((c.get("ProxyJump"), c.get("ProxyCommand")), (Some("a,b:23"), Some("none")));
        let hops = parse_jumps(c.get("ProxyJump").unwrap()).unwrap();
        assert_eq!(hops[1], Jump { user: None, host: "b".into(), port: Some(23) });
        assert!(parse_jumps("none").unwrap().is_empty());
        assert!(parse_jumps("h:notaport").is_err());
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = text("Host a\n  Port many\n", "a").unwrap_err();
        assert_eq!((err.line, err.message.as_str()), (2, "Port: bad port 'many'"));
        assert!(text("Host a\n  Frobnicate yes\n", "a").unwrap_err().message.contains("unknown ssh_config keyword"));
        assert!(text("IgnoreUnknown frob*\nFrobnicate yes\n", "a").is_ok());
        assert!(text("BatchMode maybe\n", "a").unwrap_err().message.contains("unsupported value 'maybe'"));
        assert!(text("User a b\n", "a").unwrap_err().message.contains("extra arguments"));
    }

    #[test]
    fn match_criteria() {
        let config = "Match host 10.* user deploy\n  Port 1\nMatch originalhost web* !localuser root\n  Port 2\nMatch all\n  Port 3\n";
        let c = text(&format!("Host web1\n HostName 10.0.0.1\n User deploy\n{config}"), "web1").unwrap();
        assert_eq!(c.port, 1);
        assert_eq!(text(&format!("Host web1\n User other\n{config}"), "web1").unwrap().port, 2);
        assert_eq!(text(config, "db").unwrap().port, 3);
        assert_eq!(text("Match exec \"test %h = a\"\n Port 4\n", "a").unwrap().port, 4);
        assert_eq!(text("Match exec false\n Port 4\n", "a").unwrap().port, 22);
        let fin = text("Match final host real\n Port 5\nHost a\n HostName REAL\n", "a").unwrap();
        assert_eq!((fin.host.as_str(), fin.port), ("real", 5));
        assert!(text("Match all host x\n", "a").is_err());
    }

    #[test]
    fn include_reads_globbed_files_relative_to_dot_ssh() {
        let home = std::env::temp_dir().join(format!("essh-inc-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".ssh/conf.d")).unwrap();
        std::fs::write(home.join(".ssh/conf.d/a.conf"), "Host inc\n  HostName included.example\nHost *\n  Port 9\n").unwrap();
        std::fs::write(home.join(".ssh/config"), "Host inc\n Include conf.d/*.conf\nHost inc\n  User later\n").unwrap();
        let c = resolve(&user_files(&home)[..1], &ctx("inc", &home)).unwrap();
        assert_eq!((c.host.as_str(), c.user.as_str(), c.port), ("included.example", "later", 9));
        let other = resolve(&user_files(&home)[..1], &ctx("other", &home)).unwrap();
        assert_eq!(other.port, 22, "an Include inside an inactive block applies nothing");
        std::fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn options_are_read_first_and_paths_expand() {
        let options = Source::Options {
            label: "host web1".into(),
            options: vec![("identityfile".into(), "~/k %h".into()), ("UserKnownHostsFile".into(), "${KEYS}/%n ~/kh".into())],
        };
        let c = resolve(&[options], &ctx("web1", Path::new("/home/me"))).unwrap();
        assert_eq!(c.identity_files(), vec!["~/k %h".to_owned()]);
        assert_eq!(c.path(&c.identity_files()[0]).unwrap(), "/home/me/k web1");
        assert_eq!(c.user_known_hosts().unwrap(), vec!["/keys/web1".to_owned(), "/home/me/kh".to_owned()]);
        assert!(c.default_identities() == false);
    }

    #[test]
    fn unsupported_keywords_are_listed_unless_harmless() {
        let c = text("ForwardX11 no\nGatewayPorts yes\nControlMaster auto\n", "a").unwrap();
        let names: Vec<&str> = c.unsupported().iter().map(|(k, _)| *k).collect();
        assert_eq!(names, vec!["ControlMaster", "GatewayPorts"]);
    }
}
