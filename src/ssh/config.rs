//! ssh_config files, read as OpenSSH reads them: the first value of a keyword wins, `Host`
//! blocks with wildcards and negated patterns, `Include` (with globs), `key value` and
//! `key=value` forms, quoted arguments, and `%h %p %r %u %d ~` in paths.

use std::path::{Path, PathBuf};

/// The settings ssh_config gives one host (only the keywords essh uses).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HostConfig {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<String>,
    pub identities_only: Option<bool>,
    pub proxy_jump: Option<String>,
    pub user_known_hosts_file: Option<String>,
    pub strict_host_key_checking: Option<String>,
    pub hash_known_hosts: Option<bool>,
    pub connect_timeout: Option<u64>,
    pub server_alive_interval: Option<u64>,
}

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

/// `*` and `?` wildcards, as in ssh_config and known_hosts patterns (case-insensitive).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// A `Host` line's patterns match `alias` when one matches and no negated one does.
fn host_patterns_match(patterns: &[String], alias: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        if let Some(negated) = p.strip_prefix('!') {
            if wildcard_match(negated, alias) {
                return false;
            }
        } else if wildcard_match(p, alias) {
            matched = true;
        }
    }
    matched
}

/// Splits a config line into its keyword and arguments (`Key value`, `Key=value`, quotes).
fn split_line(line: &str) -> Option<(String, Vec<String>)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let key_end = line.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(line.len());
    let key = line[..key_end].to_ascii_lowercase();
    let mut rest = line[key_end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut has = false;
    for c in rest.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                has = true;
            }
            c if c.is_whitespace() && !quoted => {
                if has {
                    args.push(std::mem::take(&mut current));
                    has = false;
                }
            }
            c => {
                current.push(c);
                has = true;
            }
        }
    }
    if has {
        args.push(current);
    }
    Some((key, args))
}

/// Context for `%` tokens and `~`.
pub struct Tokens<'a> {
    pub host: &'a str,
    pub port: u16,
    pub remote_user: &'a str,
    pub local_user: &'a str,
    pub home: &'a str,
}

/// Expands `~` at the start and `%h %p %r %u %d %%`.
pub fn expand(value: &str, t: &Tokens<'_>) -> String {
    let value = match value.strip_prefix("~/") {
        Some(rest) => format!("{}/{rest}", t.home),
        None if value == "~" => t.home.to_owned(),
        None => value.to_owned(),
    };
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(t.host),
            Some('p') => out.push_str(&t.port.to_string()),
            Some('r') => out.push_str(t.remote_user),
            Some('u') => out.push_str(t.local_user),
            Some('d') => out.push_str(t.home),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

struct Reader<'a> {
    alias: &'a str,
    home: PathBuf,
    config: HostConfig,
    depth: usize,
}

impl Reader<'_> {
    fn read_file(&mut self, path: &Path, active: &mut bool) -> Result<(), ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(ConfigError { file: path.display().to_string(), line: 0, message: e.to_string() });
            }
        };
        self.read_text(&text, &path.display().to_string(), active)
    }

    fn read_text(&mut self, text: &str, file: &str, active: &mut bool) -> Result<(), ConfigError> {
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let Some((key, args)) = split_line(raw) else { continue };
            let error = |message: String| ConfigError { file: file.to_owned(), line, message };
            match key.as_str() {
                "host" => *active = host_patterns_match(&args, self.alias),
                "match" => *active = args.first().is_some_and(|a| a.eq_ignore_ascii_case("all")),
                "include" => {
                    if self.depth >= 16 {
                        return Err(error("Include nested too deeply".into()));
                    }
                    if !*active {
                        continue;
                    }
                    for pattern in &args {
                        let full = self.include_path(pattern);
                        self.depth += 1;
                        for path in glob(&full) {
                            self.read_file(&path, active)?;
                        }
                        self.depth -= 1;
                    }
                }
                _ if !*active => {}
                _ => self.set(&key, &args).map_err(error)?,
            }
        }
        Ok(())
    }

    fn include_path(&self, pattern: &str) -> PathBuf {
        if let Some(rest) = pattern.strip_prefix("~/") {
            self.home.join(rest)
        } else if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            self.home.join(".ssh").join(pattern)
        }
    }

    fn set(&mut self, key: &str, args: &[String]) -> Result<(), String> {
        let c = &mut self.config;
        let first = || args.first().cloned().ok_or_else(|| format!("{key} needs a value"));
        let number = |what: &str| -> Result<u64, String> {
            first()?.parse::<u64>().map_err(|_| format!("{what} must be a number, got '{}'", args[0]))
        };
        match key {
            "hostname" => set_once(&mut c.hostname, first()?),
            "user" => set_once(&mut c.user, first()?),
            "port" => {
                let port = u16::try_from(number("Port")?).map_err(|_| format!("bad port '{}'", args[0]))?;
                set_once(&mut c.port, port)
            }
            "identityfile" => c.identity_files.push(first()?),
            "identitiesonly" => set_once(&mut c.identities_only, yes(&first()?)),
            "proxyjump" => set_once(&mut c.proxy_jump, first()?),
            "userknownhostsfile" => set_once(&mut c.user_known_hosts_file, first()?),
            "stricthostkeychecking" => set_once(&mut c.strict_host_key_checking, first()?.to_ascii_lowercase()),
            "hashknownhosts" => set_once(&mut c.hash_known_hosts, yes(&first()?)),
            "connecttimeout" => set_once(&mut c.connect_timeout, number("ConnectTimeout")?),
            "serveraliveinterval" => set_once(&mut c.server_alive_interval, number("ServerAliveInterval")?),
            _ => {}
        }
        Ok(())
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

fn yes(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "yes" | "true")
}

/// The files an Include pattern names (`*` and `?` in the last component), sorted.
fn glob(path: &Path) -> Vec<PathBuf> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !name.contains(['*', '?']) {
        return vec![path.to_path_buf()];
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| wildcard_match(&name, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Reads the settings for `alias` from the config file at `path` (Includes relative to
/// `home/.ssh`). A missing file gives empty settings.
pub fn resolve(path: &Path, alias: &str, home: &Path) -> Result<HostConfig, ConfigError> {
    let mut reader = Reader { alias, home: home.to_path_buf(), config: HostConfig::default(), depth: 0 };
    reader.read_file(path, &mut true)?;
    Ok(reader.config)
}

/// Reads the settings for `alias` from config text (for tests and inline configs).
pub fn resolve_text(text: &str, alias: &str, home: &Path) -> Result<HostConfig, ConfigError> {
    let mut reader = Reader { alias, home: home.to_path_buf(), config: HostConfig::default(), depth: 0 };
    reader.read_text(text, "ssh_config", &mut true)?;
    Ok(reader.config)
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

    const TEXT: &str = r#"
# global defaults come last in OpenSSH files, so first values win
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
  ConnectTimeout 7
  ServerAliveInterval 15
"#;

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let c = resolve_text(TEXT, "web1", Path::new("/home/u")).unwrap();
        assert_eq!(c.hostname.as_deref(), Some("10.0.0.%h"));
        assert_eq!(c.user.as_deref(), Some("deploy"));
        assert_eq!(c.port, Some(2222));
        assert_eq!(c.identity_files, vec!["~/.ssh/id_web".to_owned(), "~/.ssh/id with space".to_owned()]);
        assert_eq!(c.connect_timeout, Some(7));
        assert_eq!(c.server_alive_interval, Some(15));
    }

    #[test]
    fn negated_patterns_exclude() {
        let c = resolve_text(TEXT, "web9", Path::new("/home/u")).unwrap();
        assert_eq!(c.user.as_deref(), Some("nobody"));
        assert_eq!(c.port, None);
    }

    #[test]
    fn proxy_jump_lists_parse() {
        let c = resolve_text(TEXT, "db.internal", Path::new("/h")).unwrap();
        assert_eq!(c.strict_host_key_checking.as_deref(), Some("accept-new"));
        let hops = parse_jumps(c.proxy_jump.as_deref().unwrap()).unwrap();
        assert_eq!(
            hops,
            vec![
                Jump { user: Some("jump".into()), host: "bastion".into(), port: Some(2200) },
                Jump { user: None, host: "second".into(), port: None },
            ]
        );
        assert!(parse_jumps("none").unwrap().is_empty());
        assert!(parse_jumps("h:notaport").is_err());
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = resolve_text("Host a\n  Port many\n", "a", Path::new("/h")).unwrap_err();
        assert_eq!(err.to_string(), "ssh_config:2: Port must be a number, got 'many'");
    }

    #[test]
    fn include_reads_globbed_files_relative_to_dot_ssh() {
        let home = std::env::temp_dir().join(format!("essh-cfg-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".ssh/conf.d")).unwrap();
        std::fs::write(home.join(".ssh/conf.d/a.conf"), "Host inc\n  HostName included.example\n").unwrap();
        std::fs::write(home.join(".ssh/config"), "Include conf.d/*.conf\nHost inc\n  User later\n").unwrap();
        let c = resolve(&home.join(".ssh/config"), "inc", &home).unwrap();
        assert_eq!(c.hostname.as_deref(), Some("included.example"));
        assert_eq!(c.user.as_deref(), Some("later"));
        std::fs::remove_dir_all(home).unwrap();
    }

    #[test]
    fn tokens_expand() {
        let t = Tokens { host: "h", port: 22, remote_user: "r", local_user: "l", home: "/home/l" };
        assert_eq!(expand("~/.ssh/%h-%p-%r-%u-%%", &t), "/home/l/.ssh/h-22-r-l-%");
    }
}
