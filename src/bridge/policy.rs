//! Permissions: policies of grants, the scopes they apply in, and the one check that every
//! native function declaring a [`Need`](super::Need) makes before it acts.
//!
//! A Lua state has a *ceiling* (policies that only ever grow in number: the command line's,
//! an untrusted config's, a config's own `essh.permissions`) and a *current scope* (the
//! policies of the task and host running now, which the scheduler swaps per coroutine). An
//! action is allowed when every policy of both allows it. Nothing widens a scope: entering
//! adds a policy, leaving pops back to a scope the caller was in. With no policy at all, the
//! check returns at once without reading its arguments.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use crate::error::{Error, Kind};

/// The permissions a policy grants, as Deno names them (plus essh's `ssh`, `storage`, `db`).
pub const PERMISSIONS: [&str; 8] = ["read", "write", "net", "ssh", "run", "env", "storage", "db"];

/// What a policy says of one permission.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// Every resource.
    All,
    /// The resources matching one of the patterns (already normalised).
    Only(Vec<String>),
}

/// A named set of grants and refusals.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Who set it, for messages: "the task deploy", "the command line".
    pub name: String,
    /// What a refusal tells the user to do; a default names the grant that is missing.
    pub hint: Option<String>,
    /// Whether a permission the policy does not mention is allowed.
    pub default_allow: bool,
    allow: Vec<(&'static str, Rule)>,
    deny: Vec<(&'static str, Rule)>,
}

/// The name of a permission as the static string of [`PERMISSIONS`], or the error naming it.
pub fn permission_name(name: &str) -> Result<&'static str, String> {
    PERMISSIONS
        .iter()
        .copied()
        .find(|p| *p == name)
        .ok_or_else(|| format!("unknown permission '{name}' (known: {})", PERMISSIONS.join(", ")))
}

impl Policy {
    /// A policy allowing what it is not told otherwise (`default_allow`) or nothing but what
    /// it grants.
    pub fn new(name: impl Into<String>, default_allow: bool) -> Policy {
        Policy { name: name.into(), hint: None, default_allow, allow: Vec::new(), deny: Vec::new() }
    }

    /// Grants `permission` for `patterns` (None: every resource). Relative paths are read
    /// from `base`.
    pub fn allow(&mut self, permission: &str, patterns: Option<&[String]>, base: &Path) -> Result<(), String> {
        let (p, rule) = rule(permission, patterns, base)?;
        merge(&mut self.allow, p, rule);
        Ok(())
    }

    /// Refuses `permission` for `patterns` (None: every resource), whatever is granted.
    pub fn deny(&mut self, permission: &str, patterns: Option<&[String]>, base: &Path) -> Result<(), String> {
        let (p, rule) = rule(permission, patterns, base)?;
        merge(&mut self.deny, p, rule);
        Ok(())
    }

    /// Whether this policy lets `permission` reach `resource` (None: every resource).
    pub fn allows(&self, permission: &str, resource: Option<&str>) -> bool {
        let resource = resource.map(|r| normalize_resource(permission, r));
        self.allows_normalized(permission, resource.as_deref())
    }

    /// [`allows`](Self::allows) for a resource already normalised (once for every policy).
    fn allows_normalized(&self, permission: &str, resource: Option<&str>) -> bool {
        let matches = |rule: &Rule| match rule {
            Rule::All => true,
            Rule::Only(patterns) => match resource {
                Some(r) => patterns.iter().any(|p| pattern_matches(permission, p, r)),
                None => false,
            },
        };
        let denied = self.deny.iter().filter(|(p, _)| *p == permission).any(|(_, rule)| match (rule, resource) {
            (Rule::All, _) => true,
            // Refusing some resources refuses the request for all of them.
            (Rule::Only(_), None) => true,
            (Rule::Only(_), Some(_)) => matches(rule),
        });
        if denied {
            return false;
        }
        match self.allow.iter().find(|(p, _)| *p == permission) {
            Some((_, rule)) => matches(rule),
            None => self.default_allow,
        }
    }

    /// Whether some resource of `permission` is allowed (for a query without a resource).
    pub fn allows_some(&self, permission: &str) -> bool {
        if self.deny.iter().any(|(p, rule)| *p == permission && *rule == Rule::All) {
            return false;
        }
        match self.allow.iter().find(|(p, _)| *p == permission) {
            Some((_, Rule::All)) => true,
            Some((_, Rule::Only(patterns))) => !patterns.is_empty(),
            None => self.default_allow,
        }
    }

    /// Whether the policy limits anything at all.
    pub fn restricts(&self) -> bool {
        !self.default_allow || !self.deny.is_empty() || self.allow.iter().any(|(_, r)| *r != Rule::All)
    }

    /// The grants, for display: `net: api.example.com, *.internal`, `read: all`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (p, rule) in &self.allow {
            parts.push(format!("{p}: {}", describe_rule(rule)));
        }
        for (p, rule) in &self.deny {
            parts.push(format!("no {p}: {}", describe_rule(rule)));
        }
        if parts.is_empty() {
            return if self.default_allow { "everything".into() } else { "nothing".into() };
        }
        if self.default_allow {
            parts.push("everything else".into());
        }
        parts.join("; ")
    }
}

fn describe_rule(rule: &Rule) -> String {
    match rule {
        Rule::All => "all".into(),
        Rule::Only(p) if p.is_empty() => "none".into(),
        Rule::Only(p) => p.join(", "),
    }
}

fn rule(permission: &str, patterns: Option<&[String]>, base: &Path) -> Result<(&'static str, Rule), String> {
    let p = permission_name(permission)?;
    let rule = match patterns {
        None => Rule::All,
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for pattern in list {
                if pattern.is_empty() {
                    return Err(format!("{p}: an empty pattern"));
                }
                out.push(normalize_pattern(p, pattern, base));
            }
            Rule::Only(out)
        }
    };
    Ok((p, rule))
}

fn merge(rules: &mut Vec<(&'static str, Rule)>, permission: &'static str, rule: Rule) {
    match rules.iter_mut().find(|(p, _)| *p == permission) {
        Some((_, existing)) => match (existing, rule) {
            (Rule::All, _) => {}
            (e, Rule::All) => *e = Rule::All,
            (Rule::Only(a), Rule::Only(b)) => a.extend(b),
        },
        None => rules.push((permission, rule)),
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn normalize_pattern(permission: &str, pattern: &str, base: &Path) -> String {
    match permission {
        "read" | "write" => {
            let expanded = expand_home(pattern);
            if has_wildcard(&expanded) {
                lexical(&absolute(&expanded, base)).to_string_lossy().into_owned()
            } else {
                resolved(&absolute(&expanded, base)).to_string_lossy().into_owned()
            }
        }
        "net" | "ssh" => pattern.to_ascii_lowercase(),
        _ => pattern.to_owned(),
    }
}

fn normalize_resource(permission: &str, resource: &str) -> String {
    match permission {
        "read" | "write" => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            resolved(&absolute(&expand_home(resource), &cwd)).to_string_lossy().into_owned()
        }
        "net" | "ssh" => resource.to_ascii_lowercase(),
        _ => resource.to_owned(),
    }
}

fn expand_home(path: &str) -> String {
    match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => match std::env::var("HOME") {
            Ok(home) => format!("{home}{rest}"),
            Err(_) => path.to_owned(),
        },
        _ => path.to_owned(),
    }
}

fn absolute(path: &str, base: &Path) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// `.` and `..` taken away without asking the file system.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// The path with the symbolic links of its existing part resolved: a link inside a granted
/// directory that points outside it leads outside.
fn resolved(path: &Path) -> PathBuf {
    let path = lexical(path);
    let mut existing = path.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return path,
        }
    }
}

fn pattern_matches(permission: &str, pattern: &str, resource: &str) -> bool {
    match permission {
        "read" | "write" => path_matches(pattern, resource),
        "net" => net_matches(pattern, resource),
        "run" => run_matches(pattern, resource),
        _ => wildcard(pattern.as_bytes(), resource.as_bytes(), None),
    }
}

/// A path is granted by a directory above it, the path itself, or a glob matching it or a
/// directory above it.
fn path_matches(pattern: &str, path: &str) -> bool {
    if has_wildcard(pattern) {
        let mut candidate = Path::new(path);
        loop {
            if wildcard(pattern.as_bytes(), candidate.as_os_str().as_encoded_bytes(), Some(b'/')) {
                return true;
            }
            match candidate.parent() {
                Some(parent) => candidate = parent,
                None => return false,
            }
        }
    }
    path == pattern || pattern == "/" || path.strip_prefix(pattern).is_some_and(|rest| rest.starts_with('/'))
}

/// `host` grants every port of a host, `host:port` one; `*` in a host matches any part.
fn net_matches(pattern: &str, resource: &str) -> bool {
    let (pattern_host, pattern_port) = split_port(pattern);
    let (host, port) = split_port(resource);
    // Brackets hold an IPv6 address, not a class.
    let host_ok = if pattern_host.starts_with('[') {
        pattern_host == host
    } else {
        wildcard(pattern_host.as_bytes(), host.as_bytes(), None)
    };
    if !host_ok {
        return false;
    }
    match pattern_port {
        None => true,
        Some(p) => port == Some(p),
    }
}

/// `host:443` as host and port; `[::1]:80` as `[::1]` and 80; a bare IPv6 address has no port.
pub fn split_port(s: &str) -> (&str, Option<&str>) {
    if s.starts_with('[') {
        if let Some(end) = s.find(']') {
            let rest = &s[end + 1..];
            return (&s[..=end], rest.strip_prefix(':').filter(|p| !p.is_empty()));
        }
        return (s, None);
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => {
            (host, Some(port))
        }
        _ => (s, None),
    }
}

/// A program is granted by its name (as given, or found on PATH) or its path.
fn run_matches(pattern: &str, program: &str) -> bool {
    if pattern == program {
        return true;
    }
    let locate = |p: &str| if p.contains('/') { std::fs::canonicalize(p).ok() } else { which(p) };
    match (locate(pattern), locate(program)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// Glob matching: `*` any run, `?` one byte, `[abc]`/`[a-z]`/`[!a]` a class; with a separator,
/// `*` and `?` stop at it and `**` crosses it.
pub fn wildcard(pattern: &[u8], text: &[u8], sep: Option<u8>) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some(b'*') => {
            let double = sep.is_some() && pattern.get(1) == Some(&b'*');
            let crosses = sep.is_none() || double;
            let rest = if double { &pattern[2..] } else { &pattern[1..] };
            // `a/**/b` also matches `a/b`.
            if double && rest.first() == sep.as_ref() && wildcard(&rest[1..], text, sep) {
                return true;
            }
            for i in 0..=text.len() {
                if wildcard(rest, &text[i..], sep) {
                    return true;
                }
                if i < text.len() && !crosses && Some(text[i]) == sep {
                    return false;
                }
            }
            false
        }
        Some(b'?') => match text.first() {
            Some(&c) if Some(c) != sep => wildcard(&pattern[1..], &text[1..], sep),
            _ => false,
        },
        Some(b'[') => match (text.first(), class_end(pattern)) {
            (Some(&c), Some(end)) => {
                let class = &pattern[1..end];
                let (negated, class) = match class.first() {
                    Some(b'!') | Some(b'^') => (true, &class[1..]),
                    _ => (false, class),
                };
                if in_class(class, c) != negated && Some(c) != sep {
                    wildcard(&pattern[end + 1..], &text[1..], sep)
                } else {
                    false
                }
            }
            (Some(&c), None) => c == b'[' && wildcard(&pattern[1..], &text[1..], sep),
            (None, _) => false,
        },
        Some(&p) => text.first() == Some(&p) && wildcard(&pattern[1..], &text[1..], sep),
    }
}

fn class_end(pattern: &[u8]) -> Option<usize> {
    pattern.iter().skip(2).position(|&b| b == b']').map(|i| i + 2)
}

fn in_class(class: &[u8], c: u8) -> bool {
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == b'-' {
            if class[i] <= c && c <= class[i + 2] {
                return true;
            }
            i += 3;
        } else {
            if class[i] == c {
                return true;
            }
            i += 1;
        }
    }
    false
}

/// An action a policy refused.
#[derive(Clone, Debug, PartialEq)]
pub struct Denial {
    pub permission: &'static str,
    pub action: String,
    pub resource: Option<String>,
}

/// A policy in force, with what the scope it was entered for calls itself (task, host) and
/// what it refused there.
#[derive(Debug)]
pub struct Layer {
    pub policy: Rc<Policy>,
    pub task: Option<String>,
    pub host: Option<String>,
    pub denials: RefCell<Vec<Denial>>,
    /// essh's own bookkeeping (the run history): innermost, it lifts every policy for its scope.
    pub own: bool,
}

impl Layer {
    pub fn new(policy: Rc<Policy>, task: Option<String>, host: Option<String>) -> Rc<Layer> {
        Rc::new(Layer { policy, task, host, denials: RefCell::new(Vec::new()), own: false })
    }

    /// The layer of essh's own acts, which no policy limits while it is the innermost one.
    pub fn own() -> Rc<Layer> {
        Rc::new(Layer {
            policy: Rc::new(Policy::new("essh", true)),
            task: None,
            host: None,
            denials: RefCell::new(Vec::new()),
            own: true,
        })
    }
}

/// The policies of a scope, outermost first.
pub type Scope = Rc<Vec<Rc<Layer>>>;

/// The permission state of one Lua state.
#[derive(Default)]
pub struct State {
    pub ceiling: Vec<Rc<Layer>>,
    pub current: Scope,
    pub audit: Option<std::fs::File>,
    pub key_claimed: bool,
}

impl State {
    /// Whether any check has to look at its arguments.
    pub fn is_open(&self) -> bool {
        self.audit.is_none() && !self.restricted()
    }

    /// Whether some policy in force limits something.
    pub fn restricted(&self) -> bool {
        self.layers().any(|l| l.policy.restricts())
    }

    /// The layers that limit what runs now: none inside essh's own layer.
    fn layers(&self) -> impl Iterator<Item = &Rc<Layer>> {
        let own = self.current.last().is_some_and(|l| l.own);
        self.ceiling.iter().chain(self.current.iter()).filter(move |_| !own)
    }

    /// `permission` for `resource` (None: every resource), asked by `action`: Ok, or the
    /// permission_denied error to return. Records the decision (audit, the scope's denials).
    pub fn check(&mut self, permission: &'static str, action: &str, resource: Option<&str>) -> Result<(), Error> {
        let normalized = resource.map(|r| normalize_resource(permission, r));
        let refusing = self.layers().find(|l| !l.policy.allows_normalized(permission, normalized.as_deref())).cloned();
        let Some(layer) = refusing else {
            self.record(permission, action, resource, true, "");
            return Ok(());
        };
        self.record(permission, action, resource, false, &layer.policy.name);
        let denial = Denial { permission, action: action.to_owned(), resource: resource.map(str::to_owned) };
        let labelled = self.current.iter().rev().find(|l| l.task.is_some() || l.host.is_some()).unwrap_or(&layer);
        labelled.denials.borrow_mut().push(denial);
        Err(denied_error(&layer.policy, permission, action, resource))
    }

    /// Whether `permission` on `resource` would be allowed, without recording anything:
    /// "granted", or "denied"; with no resource, `partial` says some resources are.
    pub fn query(&self, permission: &str, resource: Option<&str>) -> (&'static str, bool) {
        let normalized = resource.map(|r| normalize_resource(permission, r));
        if self.layers().all(|l| l.policy.allows_normalized(permission, normalized.as_deref())) {
            return ("granted", false);
        }
        let partial = resource.is_none() && self.layers().all(|l| l.policy.allows_some(permission));
        ("denied", partial)
    }

    fn record(&mut self, permission: &str, action: &str, resource: Option<&str>, allowed: bool, by: &str) {
        let Some(file) = self.audit.as_mut() else { return };
        let labels = self.current.iter().rev();
        let task = labels.clone().find_map(|l| l.task.clone());
        let host = labels.clone().find_map(|l| l.host.clone());
        let mut line = serde_json::json!({
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "task": task,
            "host": host,
            "permission": permission,
            "action": action,
            "resource": resource,
            "allowed": allowed,
        });
        if !by.is_empty() {
            line["denied_by"] = serde_json::Value::from(by);
        }
        let _ = writeln!(file, "{line}");
    }
}

fn denied_error(policy: &Policy, permission: &'static str, action: &str, resource: Option<&str>) -> Error {
    let what = match resource {
        Some(r) => format!("{permission} access to {r}"),
        None => format!("{permission} access to everything"),
    };
    let hint = policy.hint.clone().unwrap_or_else(|| {
        let flag = match resource {
            Some(r) => format!("--allow-{permission}={r}"),
            None => format!("--allow-{permission}"),
        };
        format!("grant it in the permissions of the task or config, or with {flag}")
    });
    let err = Error::new(
        Kind::PermissionDenied,
        format!("permission denied: {action} needs {what}, which {} does not grant; {hint}", policy.name),
    )
    .with("permission", permission)
    .with("action", action);
    match resource {
        Some(r) => err.with("resource", r),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(grants: &[(&str, Option<&[&str]>)]) -> Policy {
        let mut p = Policy::new("the test", false);
        for (perm, patterns) in grants {
            let owned: Option<Vec<String>> = patterns.map(|l| l.iter().map(|s| s.to_string()).collect());
            p.allow(perm, owned.as_deref(), Path::new("/base")).unwrap();
        }
        p
    }

    #[test]
    fn paths_are_granted_below_a_prefix_and_never_beside_it() {
        let p = policy(&[("write", Some(&["./build"]))]);
        assert!(p.allows("write", Some("/base/build")));
        assert!(p.allows("write", Some("/base/build/out/x.o")));
        assert!(!p.allows("write", Some("/base/buildx")));
        assert!(!p.allows("write", Some("/base/build/../secret")));
        assert!(!p.allows("write", None));
        assert!(!p.allows("read", Some("/base/build")));
    }

    #[test]
    fn a_symlink_out_of_a_granted_directory_leads_out() {
        let dir = std::env::temp_dir().join(format!("essh-policy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("granted")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.join("granted/etc")).unwrap();
        let mut p = Policy::new("t", false);
        p.allow("read", Some(&[dir.join("granted").to_string_lossy().into_owned()]), Path::new("/")).unwrap();
        assert!(p.allows("read", Some(&dir.join("granted/file").to_string_lossy())));
        assert!(!p.allows("read", Some(&dir.join("granted/etc/passwd").to_string_lossy())));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn path_globs_match_within_directories_and_double_stars_across() {
        let p = policy(&[("read", Some(&["/data/*.json", "/logs/**/today"]))]);
        assert!(p.allows("read", Some("/data/a.json")));
        assert!(!p.allows("read", Some("/data/sub/a.json")));
        assert!(p.allows("read", Some("/logs/x/y/today")));
        assert!(p.allows("read", Some("/logs/today")));
        assert!(p.allows("read", Some("/logs/x/today/file")));
        assert!(!p.allows("read", Some("/logs/x/yesterday")));
    }

    #[test]
    fn hosts_match_with_or_without_a_port() {
        let p = policy(&[("net", Some(&["api.example.com", "*.internal:8080", "[::1]:80"]))]);
        assert!(p.allows("net", Some("api.example.com:443")));
        assert!(p.allows("net", Some("API.example.com:80")));
        assert!(p.allows("net", Some("db.internal:8080")));
        assert!(!p.allows("net", Some("db.internal:8081")));
        assert!(!p.allows("net", Some("example.com:443")));
        assert!(p.allows("net", Some("[::1]:80")));
        assert!(!p.allows("net", Some("[::1]:81")));
    }

    #[test]
    fn programs_match_by_name_or_by_the_path_the_name_finds() {
        let p = policy(&[("run", Some(&["sh"]))]);
        assert!(p.allows("run", Some("sh")));
        assert!(p.allows("run", Some(&which("sh").unwrap().to_string_lossy())));
        assert!(!p.allows("run", Some("curl")));
        assert!(!p.allows("run", Some("/tmp/sh")));
    }

    #[test]
    fn refusals_win_over_grants_and_defaults() {
        let mut p = Policy::new("the command line", true);
        p.deny("env", Some(&["AWS_*".to_string()]), Path::new("/")).unwrap();
        assert!(p.allows("env", Some("HOME")));
        assert!(!p.allows("env", Some("AWS_SECRET_ACCESS_KEY")));
        assert!(!p.allows("env", None));
        assert!(p.allows("net", Some("x:1")));
        assert!(p.restricts());
        assert!(!Policy::new("open", true).restricts());
    }

    #[test]
    fn unknown_permissions_are_refused_by_name() {
        let mut p = Policy::new("t", false);
        let err = p.allow("network", None, Path::new("/")).unwrap_err();
        assert!(err.contains("unknown permission 'network'"), "{err}");
    }

    #[test]
    fn a_check_refused_by_any_layer_is_a_permission_denied_error_with_details() {
        let mut state = State::default();
        state.ceiling.push(Layer::new(Rc::new(Policy::new("the command line", true)), None, None));
        let task = Layer::new(Rc::new(policy(&[("net", Some(&["api.example.com"]))])), Some("deploy".into()), None);
        state.current = Rc::new(vec![task.clone()]);
        assert!(state.check("net", "http.get", Some("api.example.com:443")).is_ok());
        let err = state.check("net", "http.get", Some("evil.example.com:443")).unwrap_err();
        assert_eq!(err.kind, Kind::PermissionDenied);
        assert_eq!(err.detail("resource"), Some(&"evil.example.com:443".into()));
        assert!(
            err.message.contains("http.get needs net access to evil.example.com:443, which the test"),
            "{}",
            err.message
        );
        assert_eq!(task.denials.borrow().len(), 1);
        assert_eq!(state.query("net", None), ("denied", true));
        assert_eq!(state.query("net", Some("api.example.com")), ("granted", false));
    }

    #[test]
    fn essh_own_layer_lifts_the_policies_only_while_it_is_innermost() {
        let mut state = State::default();
        state.ceiling.push(Layer::new(Rc::new(policy(&[("net", Some(&["api.example.com"]))])), None, None));
        let task = Layer::new(Rc::new(policy(&[])), Some("deploy".into()), None);
        state.current = Rc::new(vec![task.clone(), Layer::own()]);
        assert!(state.check("storage", "storage.open", Some("default")).is_ok());
        assert!(!state.restricted());
        state.current = Rc::new(vec![Layer::own(), task.clone()]);
        assert!(state.check("storage", "storage.open", Some("default")).is_err());
        assert!(state.restricted());
    }

    #[test]
    fn wildcards_follow_glob_rules() {
        assert!(wildcard(b"a*c", b"abbbc", None));
        assert!(wildcard(b"a?c", b"abc", None));
        assert!(wildcard(b"[a-c]x", b"bx", None));
        assert!(!wildcard(b"[!a-c]x", b"bx", None));
        assert!(!wildcard(b"/a/*", b"/a/b/c", Some(b'/')));
        assert!(wildcard(b"/a/**", b"/a/b/c", Some(b'/')));
        assert_eq!(split_port("[::1]:22"), ("[::1]", Some("22")));
        assert_eq!(split_port("::1"), ("::1", None));
        assert_eq!(split_port("host"), ("host", None));
    }
}
