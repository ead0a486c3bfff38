//! The `%` tokens and `${VAR}` references of ssh_config, expanded where OpenSSH expands them.

use std::path::Path;

/// What the tokens stand for.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    /// %h: the host name reached.
    pub host: String,
    /// %n: the host as given.
    pub original: String,
    /// %p
    pub port: String,
    /// %r: the remote user.
    pub remote_user: String,
    /// %u: the local user.
    pub local_user: String,
    /// %d: the local home directory.
    pub home: String,
    /// %l: this machine's name, %L up to its first dot.
    pub this_host: String,
    /// %i: the local user id.
    pub uid: String,
    /// %k: HostKeyAlias, or the host as given.
    pub key_alias: String,
}

impl Tokens {
    /// %C: the SHA-1 of %l%h%p%r, in hex.
    pub fn connection_hash(&self) -> String {
        use sha1::Digest;
        let mut hasher = sha1::Sha1::new();
        for part in [&self.this_host, &self.host, &self.port, &self.remote_user] {
            hasher.update(part.as_bytes());
        }
        hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn value(&self, token: char) -> Option<String> {
        Some(match token {
            'h' => self.host.clone(),
            'n' => self.original.clone(),
            'p' => self.port.clone(),
            'r' => self.remote_user.clone(),
            'u' => self.local_user.clone(),
            'd' => self.home.clone(),
            'l' => self.this_host.clone(),
            'L' => self.this_host.split('.').next().unwrap_or_default().to_owned(),
            'i' => self.uid.clone(),
            'k' => self.key_alias.clone(),
            'C' => self.connection_hash(),
            _ => return None,
        })
    }
}

/// The tokens a keyword expands.
pub const ALL: &str = "ChLiklnpdhru";
/// ProxyCommand and ProxyJump's.
pub const PROXY: &str = "hnpr";

/// Looks up an environment variable for `${VAR}`.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expands the `%` tokens in `allowed` (and `${VAR}` when `env` is given); an unknown token
/// or an unset variable is an error that names it.
pub fn expand(text: &str, tokens: &Tokens, allowed: &str, env: Option<Lookup>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let (Some(env), true) = (env, rest.starts_with("${")) {
            let end = rest.find('}').ok_or_else(|| format!("'{text}': ${{ without a closing }}"))?;
            let name = &rest[2..end];
            if name.is_empty() {
                return Err(format!("'{text}': an empty ${{}}"));
            }
            let value = env(name).ok_or_else(|| format!("'{text}': the environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &rest[end + 1..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(token) = rest.chars().next() else { return Err(format!("'{text}': a % at the end")) };
        rest = &rest[token.len_utf8()..];
        if token == '%' {
            out.push('%');
        } else if allowed.contains(token) {
            out.push_str(&tokens.value(token).unwrap_or_default());
        } else {
            return Err(format!("'{text}': unknown token %{token}"));
        }
    }
    Ok(out)
}

/// `~` and `~/...` as the home directory (tilde_expand_filename; `~user` is left alone).
pub fn tilde(path: &str, home: &Path) -> String {
    match path.strip_prefix('~') {
        Some("") => home.display().to_string(),
        Some(rest) if rest.starts_with('/') => format!("{}{rest}", home.display()),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expand() {
        let t = Tokens {
            host: "h".into(),
            original: "n".into(),
            port: "22".into(),
            remote_user: "r".into(),
            local_user: "l".into(),
            home: "/home/l".into(),
            this_host: "box.example".into(),
            uid: "1000".into(),
            key_alias: "n".into(),
        };
        assert_eq!(expand("%h-%p-%r-%u-%n-%L-%i-%%", &t, ALL, None).unwrap(), "h-22-r-l-n-box-1000-%");
        assert_eq!(t.connection_hash().len(), 40);
        assert!(expand("%T", &t, ALL, None).unwrap_err().contains("%T"));
        assert!(expand("%u", &t, PROXY, None).is_err());
        let env = |k: &str| (k == "X").then(|| "x".to_owned());
        assert_eq!(expand("${X}/%h", &t, ALL, Some(&env)).unwrap(), "x/h");
        assert!(expand("${Y}", &t, ALL, Some(&env)).unwrap_err().contains("Y is not set"));
        assert_eq!(tilde("~/.ssh/k", Path::new("/home/l")), "/home/l/.ssh/k");
        assert_eq!(tilde("~bob/k", Path::new("/home/l")), "~bob/k");
    }
}
