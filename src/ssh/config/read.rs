//! Reading ssh_config sources into settings, as OpenSSH's readconf.c does: the first obtained
//! value wins, `Host` and `Match` blocks, `Include`, and a final pass when `Match final` (or
//! CanonicalizeHostname) asks for one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::keywords::{self, Direction, Keyword, Kind};
use super::pattern;
use super::split;
use super::tokens::{self, Tokens};
use super::ConfigError;

/// What resolution needs to know of this machine and its user.
#[derive(Clone, Debug)]
pub struct Context {
    /// The host as given (the alias `Host` patterns match).
    pub host_arg: String,
    pub local_user: String,
    pub uid: u32,
    pub home: PathBuf,
    pub this_host: String,
    /// Reads an environment variable (for `${VAR}`).
    pub env: fn(&str) -> Option<String>,
}

/// Where settings come from, in the order they are read.
#[derive(Clone, Debug)]
pub enum Source {
    /// Options that always apply (a DSL host's, or ssh.connect's own), as keyword and value;
    /// `label` names them in errors.
    Options { label: String, options: Vec<(String, String)> },
    /// A file; `system` for /etc/ssh/ssh_config (relative Includes from /etc/ssh).
    File { path: PathBuf, system: bool },
}

/// One keyword's obtained value: its lines of arguments (one line unless the keyword adds).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Setting {
    pub lines: Vec<Vec<String>>,
    /// Set by the system-wide file (which the user did not write).
    pub system: bool,
}

pub type Settings = BTreeMap<&'static str, Setting>;

struct Place<'a> {
    file: &'a str,
    line: usize,
    system: bool,
}

impl Place<'_> {
    fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError { file: self.file.to_owned(), line: self.line, message: message.into() }
    }
}

pub struct Reader<'a> {
    ctx: &'a Context,
    pub settings: Settings,
    final_pass: bool,
    want_final: bool,
}

const MAX_INCLUDE_DEPTH: usize = 16;

impl<'a> Reader<'a> {
    pub fn new(ctx: &'a Context) -> Self {
        Reader { ctx, settings: Settings::new(), final_pass: false, want_final: false }
    }

    /// Reads every source, then again for the final pass when one is asked for.
    pub fn read(mut self, sources: &[Source]) -> Result<Settings, ConfigError> {
        self.pass(sources)?;
        let canonicalize = self.first("CanonicalizeHostname").is_some_and(|v| v != "false");
        if self.want_final || canonicalize {
            self.final_pass = true;
            let host = self.hostname();
            self.settings.insert("HostName", Setting { lines: vec![vec![host]], system: false });
            self.pass(sources)?;
        }
        Ok(self.settings)
    }

    fn pass(&mut self, sources: &[Source]) -> Result<(), ConfigError> {
        for source in sources {
            match source {
                Source::Options { label, options } => {
                    let place = Place { file: label, line: 0, system: false };
                    for (key, value) in options {
                        let Some(keyword) = keywords::lookup(key) else {
                            return Err(place.error(format!("unknown ssh option '{key}'")));
                        };
                        let args = if keyword.single_argument() {
                            vec![value.clone()]
                        } else {
                            split::arguments(value).map_err(|e| place.error(format!("{}: {e}", keyword.name)))?
                        };
                        self.keyword(keyword, value, args, &place, &mut true, false, 0)?;
                    }
                }
                Source::File { path, system } => {
                    self.file(path, *system, &mut true, false, 0)?;
                }
            }
        }
        Ok(())
    }

    fn file(&mut self, path: &Path, system: bool, active: &mut bool, never: bool, depth: usize) -> Result<(), ConfigError> {
        let name = path.display().to_string();
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(ConfigError { file: name, line: 0, message: e.to_string() }),
        };
        for (index, raw) in text.lines().enumerate() {
            let place = Place { file: &name, line: index + 1, system };
            let Some((key, rest)) = split::keyword(raw) else { continue };
            if rest.is_empty() {
                return Err(place.error(format!("no argument after keyword '{key}'")));
            }
            let Some(keyword) = keywords::lookup(key) else {
                if self.first("IgnoreUnknown").is_some_and(|list| pattern::list_match(&key.to_ascii_lowercase(), &list, true)) {
                    continue;
                }
                return Err(place.error(format!("unknown ssh_config keyword '{key}'")));
            };
            let args = split::arguments(rest).map_err(|e| place.error(e))?;
            self.keyword(keyword, rest, args, &place, active, never, depth)?;
        }
        Ok(())
    }

    fn first(&self, name: &str) -> Option<String> {
        self.settings.get(name).and_then(|s| s.lines.first()).and_then(|l| l.first()).cloned()
    }

    /// The host name reached so far: HostName with %h expanded, lower-cased unless an address.
    pub fn hostname(&self) -> String {
        match self.first("HostName") {
            Some(name) if self.final_pass => canonical_host(name),
            other => reached_host(other.as_deref(), &self.ctx.host_arg),
        }
    }

    fn match_tokens(&self, host: &str) -> Tokens {
        let port = self.first("Port").unwrap_or_else(|| "22".into());
        let user = self.first("User").unwrap_or_else(|| self.ctx.local_user.clone());
        Tokens {
            host: host.to_owned(),
            original: self.ctx.host_arg.clone(),
            port,
            remote_user: user,
            local_user: self.ctx.local_user.clone(),
            home: self.ctx.home.display().to_string(),
            this_host: self.ctx.this_host.clone(),
            uid: self.ctx.uid.to_string(),
            key_alias: self.first("HostKeyAlias").unwrap_or_else(|| host.to_owned()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn keyword(
        &mut self,
        keyword: &'static Keyword,
        rest: &str,
        args: Vec<String>,
        place: &Place<'_>,
        active: &mut bool,
        never: bool,
        depth: usize,
    ) -> Result<(), ConfigError> {
        let name = keyword.name;
        match name {
            "Host" => {
                *active = !never && self.host_line(&args);
                return Ok(());
            }
            "Match" => {
                let matched = self.match_line(&args, place)?;
                *active = !never && matched;
                return Ok(());
            }
            "Include" => return self.include(&args, place, active, never, depth),
            _ => {}
        }
        let setting = parse(keyword, rest, &args).map_err(|e| place.error(format!("{name}: {e}")))?;
        if !*active {
            return Ok(());
        }
        let Some(values) = setting else { return Ok(()) };
        let slot = self.settings.entry(name);
        let adds = matches!(keyword.kind, Kind::Each | Kind::Forward(_) | Kind::SendEnv);
        match keyword.kind {
            Kind::Jump | Kind::Command if name == "ProxyCommand" || name == "ProxyJump" => {
                if self.settings.contains_key("ProxyCommand") || self.settings.contains_key("ProxyJump") {
                    return Ok(());
                }
                let jump_none = name == "ProxyJump" && values[0].eq_ignore_ascii_case("none");
                self.settings.insert(name, Setting { lines: vec![values], system: place.system });
                if name == "ProxyJump" && !jump_none {
                    self.settings
                        .insert("ProxyCommand", Setting { lines: vec![vec!["none".into()]], system: place.system });
                }
            }
            Kind::SendEnv => {
                let setting = slot.or_insert_with(|| Setting { lines: Vec::new(), system: place.system });
                for var in values {
                    if let Some(removed) = var.strip_prefix('-') {
                        setting.lines.retain(|l| !pattern::matches(&l[0], removed));
                    } else {
                        setting.lines.push(vec![var]);
                    }
                }
            }
            Kind::SetEnv => {
                if let std::collections::btree_map::Entry::Vacant(v) = slot {
                    let mut seen: Vec<String> = Vec::new();
                    let mut lines = Vec::new();
                    for pair in values {
                        let var = pair.split('=').next().unwrap_or_default().to_owned();
                        if !seen.contains(&var) {
                            seen.push(var);
                            lines.push(vec![pair]);
                        }
                    }
                    v.insert(Setting { lines, system: place.system });
                }
            }
            _ if adds => slot.or_insert_with(|| Setting { lines: Vec::new(), system: place.system }).lines.push(values),
            _ => {
                slot.or_insert(Setting { lines: vec![values], system: place.system });
            }
        }
        Ok(())
    }

    fn host_line(&self, patterns: &[String]) -> bool {
        let mut matched = false;
        for p in patterns {
            match p.strip_prefix('!') {
                Some(negated) if pattern::matches(&self.ctx.host_arg, negated) => return false,
                Some(_) => {}
                None => matched |= pattern::matches(&self.ctx.host_arg, p),
            }
        }
        matched
    }

    fn match_line(&mut self, args: &[String], place: &Place<'_>) -> Result<bool, ConfigError> {
        let host = if self.final_pass { self.first("HostName").unwrap_or_default() } else { self.hostname() };
        let tokens = self.match_tokens(&host);
        let mut result = true;
        let mut criteria = 0;
        let mut i = 0;
        while i < args.len() {
            let raw = &args[i];
            i += 1;
            let (negate, attribute) = match raw.strip_prefix('!') {
                Some(a) => (true, a.to_ascii_lowercase()),
                None => (false, raw.to_ascii_lowercase()),
            };
            if attribute == "all" {
                if criteria > 0 || i < args.len() {
                    return Err(place.error(format!("Match: '{raw}' cannot be combined with other criteria")));
                }
                return Ok(result && !negate);
            }
            criteria += 1;
            if attribute == "canonical" || attribute == "final" {
                if attribute == "final" {
                    self.want_final = true;
                }
                if self.final_pass == negate {
                    result = false;
                }
                continue;
            }
            let Some(arg) = args.get(i) else {
                return Err(place.error(format!("Match: {attribute} needs an argument")));
            };
            i += 1;
            let matched = match attribute.as_str() {
                "host" => pattern::list_match(&host.to_ascii_lowercase(), arg, true),
                "originalhost" => pattern::list_match(&self.ctx.host_arg.to_ascii_lowercase(), arg, true),
                "user" => pattern::list_match(&tokens.remote_user, arg, false),
                "localuser" => pattern::list_match(&self.ctx.local_user, arg, false),
                "tagged" => pattern::list_match(&self.first("Tag").unwrap_or_default(), arg, false),
                "exec" => {
                    if !result {
                        continue;
                    }
                    let command = tokens::expand(arg, &tokens, tokens::ALL, None)
                        .map_err(|e| place.error(format!("Match exec: {e}")))?;
                    run_exec(&command).map_err(|e| place.error(format!("Match exec '{command}': {e}")))?
                }
                other => return Err(place.error(format!("Match: unsupported criterion '{other}'"))),
            };
            if matched == negate {
                result = false;
            }
        }
        if criteria == 0 {
            return Err(place.error("Match: no criteria"));
        }
        Ok(result)
    }

    fn include(
        &mut self,
        patterns: &[String],
        place: &Place<'_>,
        active: &mut bool,
        never: bool,
        depth: usize,
    ) -> Result<(), ConfigError> {
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(place.error("Include nested too deeply"));
        }
        let outer = *active;
        for pattern in patterns {
            if pattern.starts_with('~') && place.system {
                return Err(place.error(format!("Include: bad path {pattern} in the system file")));
            }
            let full = if pattern.starts_with('/') {
                pattern.clone()
            } else if pattern.starts_with('~') {
                tokens::tilde(pattern, &self.ctx.home)
            } else if place.system {
                format!("/etc/ssh/{pattern}")
            } else {
                format!("{}/.ssh/{pattern}", self.ctx.home.display())
            };
            for path in glob(&full) {
                self.file(&path, place.system, active, never || !outer, depth + 1)?;
                *active = outer;
            }
        }
        Ok(())
    }
}

/// Checks a keyword's arguments: Some(values) to record, None when the line sets nothing
/// (`ConnectTimeout none`, an obsolete keyword).
fn parse(keyword: &Keyword, rest: &str, args: &[String]) -> Result<Option<Vec<String>>, String> {
    let one = || -> Result<&String, String> {
        match args {
            [] => Err("missing argument".into()),
            [a] if a.is_empty() => Err("missing argument".into()),
            [a] => Ok(a),
            [_, extra, ..] => Err(format!("extra arguments at end of line ('{extra}')")),
        }
    };
    let value = match keyword.kind {
        Kind::Flag => vec![choice(one()?, keywords::FLAG)?],
        Kind::Choice(choices) => vec![choice(one()?, choices)?],
        Kind::Int => {
            let text = one()?;
            text.parse::<i32>().map_err(|_| format!("'{text}' is not an integer"))?;
            vec![text.clone()]
        }
        Kind::Time => {
            let text = one()?;
            if text == "none" {
                return Ok(None);
            }
            vec![seconds(text).ok_or_else(|| format!("'{text}' is not a time (such as 30, 90s, 1m30s)"))?.to_string()]
        }
        Kind::Port => {
            let text = one()?;
            match text.parse::<u16>() {
                Ok(p) if p > 0 => vec![p.to_string()],
                _ => return Err(format!("bad port '{text}'")),
            }
        }
        Kind::Text | Kind::Each => vec![one()?.clone()],
        Kind::Command => vec![rest.to_owned()],
        Kind::Jump => {
            let spec = rest.split('#').next().unwrap_or_default().trim_end().to_owned();
            super::parse_jumps(&spec)?;
            vec![spec]
        }
        Kind::Algorithms(which) => {
            let text = one()?;
            check_algorithms(text, which)?;
            vec![text.clone()]
        }
        Kind::List => {
            if args.is_empty() {
                return Err("missing argument".into());
            }
            if args.len() > 1 && args.iter().any(|a| a.eq_ignore_ascii_case("none")) {
                return Err("\"none\" must appear alone".into());
            }
            args.to_vec()
        }
        Kind::Forward(direction) => vec![forward(direction, args)?],
        Kind::SendEnv => {
            if let Some(bad) = args.iter().find(|a| a.is_empty() || a.contains('=')) {
                return Err(format!("invalid environment variable name '{bad}'"));
            }
            args.to_vec()
        }
        Kind::SetEnv => {
            if let Some(bad) = args.iter().find(|a| !a.contains('=')) {
                return Err(format!("'{bad}' is not NAME=VALUE"));
            }
            args.to_vec()
        }
        Kind::Words => {
            if args.is_empty() {
                return Err("missing argument".into());
            }
            args.to_vec()
        }
        Kind::Obsolete => return Ok(None),
    };
    Ok(Some(value))
}

fn choice(text: &str, choices: &[(&str, &'static str)]) -> Result<String, String> {
    choices.iter().find(|(word, _)| word.eq_ignore_ascii_case(text)).map(|(_, shown)| (*shown).to_owned()).ok_or_else(
        || {
            let mut words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
            words.dedup();
            format!("unsupported value '{text}' (expected {})", words.join(", "))
        },
    )
}

/// OpenSSH's time format: a number of seconds, or parts like 1h30m (s m h d w).
pub fn seconds(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    if !number.is_empty() {
        total = total.checked_add(number.parse().ok()?)?;
    }
    (total <= i32::MAX as u64).then_some(total)
}

fn check_algorithms(text: &str, which: keywords::Algorithms) -> Result<(), String> {
    if text.starts_with('-') {
        return Ok(());
    }
    let names = text.strip_prefix(['+', '^']).unwrap_or(text);
    let known = keywords::known_algorithms(which);
    for name in names.split(',') {
        if !known.contains(&name) {
            return Err(format!("unknown algorithm '{name}' (known: {})", known.join(",")));
        }
    }
    Ok(())
}

/// A forwarding specification in the form `ssh -G` prints it: `[host]:port` or a path for the
/// listening side, then (not for DynamicForward) the same for the target.
fn forward(direction: Direction, args: &[String]) -> Result<String, String> {
    let (listen, target) = match (direction, args) {
        (_, []) => return Err("missing argument".into()),
        (Direction::Dynamic, [listen]) | (Direction::Remote, [listen]) => (listen, None),
        (Direction::Local, [_]) => return Err("missing target argument".into()),
        (Direction::Dynamic, [_, extra, ..]) => return Err(format!("extra arguments at end of line ('{extra}')")),
        (_, [listen, target]) => (listen, Some(target)),
        (_, [_, _, extra, ..]) => return Err(format!("extra arguments at end of line ('{extra}')")),
    };
    let listen = endpoint(listen, true).ok_or_else(|| format!("bad forwarding specification '{listen}'"))?;
    Ok(match target {
        Some(t) => {
            let target = endpoint(t, false).ok_or_else(|| format!("bad forwarding specification '{t}'"))?;
            format!("{listen} {target}")
        }
        None => listen,
    })
}

/// One side of a forward: a socket path, `port`, or `host:port` (`[v6]:port`, `*:port`).
fn endpoint(text: &str, listening: bool) -> Option<String> {
    if text.contains('/') {
        return Some(text.to_owned());
    }
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        let (h, after) = inner.split_once(']')?;
        (Some(h), after.strip_prefix(':')?)
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (Some(h), p),
            None => (None, text),
        }
    };
    let port: u16 = port.parse().ok()?;
    if port == 0 && !listening {
        return None;
    }
    match host {
        Some(h) if !h.is_empty() => Some(format!("[{h}]:{port}")),
        Some(_) if listening => Some(format!("[]:{port}")),
        Some(_) => None,
        None if listening => Some(port.to_string()),
        None => None,
    }
}

fn is_address(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

/// A host name as OpenSSH compares it: lower-cased, unless it is an address.
fn canonical_host(host: String) -> String {
    if is_address(&host) {
        host
    } else {
        host.to_ascii_lowercase()
    }
}

/// The host reached for `host_arg`: HostName (its %h and %% expanded) or the name itself,
/// lower-cased unless an address.
pub fn reached_host(hostname: Option<&str>, host_arg: &str) -> String {
    canonical_host(match hostname {
        Some(name) => name.replace("%h", host_arg).replace("%%", "%"),
        None => host_arg.to_owned(),
    })
}

fn run_exec(command: &str) -> Result<bool, String> {
    let shell = crate::env::get("SHELL").filter(|s| !s.is_empty()).unwrap_or_else(|| "/bin/sh".into());
    std::process::Command::new(shell)
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .map(|status| status.success())
        .map_err(|e| e.to_string())
}

/// The files a pattern names (`*` and `?` in any component), sorted as glob(3) sorts them.
fn glob(pattern: &str) -> Vec<PathBuf> {
    if !pattern.contains(['*', '?']) {
        return vec![PathBuf::from(pattern)];
    }
    let mut found = vec![PathBuf::from(if pattern.starts_with('/') { "/" } else { "." })];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for dir in &found {
            if part.contains(['*', '?']) {
                let Ok(entries) = std::fs::read_dir(dir) else { continue };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                    .filter(|n| pattern::matches(n, part))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| dir.join(n)));
            } else {
                next.push(dir.join(part));
            }
        }
        found = next;
    }
    found.retain(|p| p.exists());
    found
}
