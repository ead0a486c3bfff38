//! known_hosts files as OpenSSH reads them: comma-separated host patterns (wildcards,
//! negation, `[host]:port`), hashed entries (`|1|salt|hash`), and the `@revoked` and
//! `@cert-authority` markers.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use russh::keys::ssh_key::{HashAlg, PublicKey};
use sha1::Sha1;

use super::config::wildcard_match;

/// What a known_hosts file says of a host's key.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A line lists this very key for the host.
    Known,
    /// The host is listed with another key of the same type, at this line.
    Changed { line: usize },
    /// The key is listed as revoked, at this line.
    Revoked { line: usize },
    /// Nothing is known of this host with this key type.
    Unknown,
}

/// How a host is named in known_hosts: `host`, or `[host]:port` off port 22.
pub fn host_label(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// The SHA256 fingerprint OpenSSH prints (`SHA256:...`).
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Checks `key` for `host` against the text of one known_hosts file.
pub fn check(text: &str, host: &str, port: u16, key: &PublicKey) -> Verdict {
    let label = host_label(host, port);
    let mut changed = None;
    let mut known = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let mut fields = raw.split_whitespace();
        let Some(mut first) = fields.next() else { continue };
        if first.starts_with('#') {
            continue;
        }
        let mut marker = None;
        if first.starts_with('@') {
            marker = Some(first);
            let Some(next) = fields.next() else { continue };
            first = next;
        }
        let (Some(_key_type), Some(blob)) = (fields.next(), fields.next()) else { continue };
        if marker == Some("@cert-authority") || !hosts_match(first, &label) {
            continue;
        }
        let Ok(listed) = PublicKey::from_openssh(&format!("{_key_type} {blob}")) else { continue };
        let same = listed.key_data() == key.key_data();
        if marker == Some("@revoked") {
            if same {
                return Verdict::Revoked { line };
            }
            continue;
        }
        if same {
            known = true;
        } else if listed.algorithm() == key.algorithm() && changed.is_none() {
            changed = Some(line);
        }
    }
    match (known, changed) {
        (true, _) => Verdict::Known,
        (false, Some(line)) => Verdict::Changed { line },
        (false, None) => Verdict::Unknown,
    }
}

/// Whether a comma-separated pattern list matches `label`: some pattern matches and no
/// negated one does.
fn hosts_match(patterns: &str, label: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(hashed) = pattern.strip_prefix("|1|") {
            matched |= hashed_match(hashed, label);
        } else if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard_match(negated, label) {
                return false;
            }
        } else if wildcard_match(pattern, label) {
            matched = true;
        }
    }
    matched
}

fn hashed_match(hashed: &str, label: &str) -> bool {
    let mut parts = hashed.split('|');
    let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else { return false };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else { return false };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else { return false };
    mac.update(label.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Appends `key` for `host` to the known_hosts file at `path`, creating it (and its folder)
/// when missing; with `hashed`, the host is written as OpenSSH's `HashKnownHosts yes` does
/// (`|1|salt|HMAC-SHA1(salt, host)`).
pub fn append(path: &Path, host: &str, port: u16, key: &PublicKey, hashed: bool) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let entry = key.to_openssh().map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let existing = std::fs::metadata(path)?.len();
    let mut line = String::new();
    if existing > 0 && !ends_with_newline(path)? {
        line.push('\n');
    }
    let entry = entry.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let label = host_label(host, port);
    let shown = if hashed { hash_label(&label)? } else { label };
    line.push_str(&format!("{shown} {entry}\n"));
    file.write_all(line.as_bytes())
}

/// `|1|salt|hash` of a host label, with a fresh 20-byte salt, as OpenSSH writes it.
fn hash_label(label: &str) -> std::io::Result<String> {
    let mut salt = [0u8; 20];
    getrandom::fill(&mut salt).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&salt).map_err(std::io::Error::other)?;
    mac.update(label.as_bytes());
    Ok(format!("|1|{}|{}", STANDARD.encode(salt), STANDARD.encode(mac.finalize().into_bytes())))
}

fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    f.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const ED2: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    #[test]
    fn plain_and_port_entries() {
        let text = format!("# comment\nweb1,10.0.0.5 {ED1}\n[web2]:2222 {ED1}\n");
        assert_eq!(check(&text, "web1", 22, &key(ED1)), Verdict::Known);
        assert_eq!(check(&text, "10.0.0.5", 22, &key(ED1)), Verdict::Known);
        assert_eq!(check(&text, "web2", 2222, &key(ED1)), Verdict::Known);
        assert_eq!(check(&text, "web2", 22, &key(ED1)), Verdict::Unknown);
        assert_eq!(check(&text, "web1", 22, &key(ED2)), Verdict::Changed { line: 2 });
    }

    #[test]
    fn wildcards_negation_and_markers() {
        let text = format!("*.example.com,!bad.example.com {ED1}\n@revoked * {ED2}\n@cert-authority * {ED2}\n");
        assert_eq!(check(&text, "a.example.com", 22, &key(ED1)), Verdict::Known);
        assert_eq!(check(&text, "bad.example.com", 22, &key(ED1)), Verdict::Unknown);
        assert_eq!(check(&text, "a.example.com", 22, &key(ED2)), Verdict::Revoked { line: 2 });
    }

    #[test]
    fn hashed_entries() {
        // `ssh-keygen -H` form of "[127.0.0.1]:2222", with salt "0123456789abcdefghij".
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let text = format!("|1|{}|{} {ED1}\n", STANDARD.encode(salt), STANDARD.encode(hash));
        assert_eq!(check(&text, "127.0.0.1", 2222, &key(ED1)), Verdict::Known);
        assert_eq!(check(&text, "127.0.0.1", 22, &key(ED1)), Verdict::Unknown);
    }

    #[test]
    fn append_adds_a_line_that_check_then_knows() {
        let dir = std::env::temp_dir().join(format!("essh-kh-{}", std::process::id()));
        let path = dir.join("sub/known_hosts");
        append(&path, "h", 2200, &key(ED1), false).unwrap();
        append(&path, "h2", 22, &key(ED2), false).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(check(&text, "h", 2200, &key(ED1)), Verdict::Known);
        assert_eq!(check(&text, "h2", 22, &key(ED2)), Verdict::Known);
        assert_eq!(text.lines().count(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn hashed_appends_hide_the_host_and_still_match() {
        let dir = std::env::temp_dir().join(format!("essh-khh-{}", std::process::id()));
        let path = dir.join("known_hosts");
        append(&path, "10.1.2.3", 2200, &key(ED1), true).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("|1|") && !text.contains("10.1.2.3"), "{text}");
        assert_eq!(check(&text, "10.1.2.3", 2200, &key(ED1)), Verdict::Known);
        assert_eq!(check(&text, "10.1.2.4", 2200, &key(ED1)), Verdict::Unknown);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
