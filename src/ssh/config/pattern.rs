//! ssh_config's patterns: `*` and `?` wildcards, and comma-separated lists with negation.

/// `*` and `?` wildcards, matched exactly as OpenSSH's match_pattern (case-sensitive).
pub fn matches(text: &str, pattern: &str) -> bool {
    fn go(t: &[u8], p: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(t, &p[1..]) || (!t.is_empty() && go(&t[1..], p)),
            (Some(b'?'), Some(_)) => go(&t[1..], &p[1..]),
            (Some(a), Some(b)) if a == b => go(&t[1..], &p[1..]),
            _ => false,
        }
    }
    go(text.as_bytes(), pattern.as_bytes())
}

/// `*` and `?` wildcards, ignoring ASCII case (known_hosts patterns).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    matches(&text.to_ascii_lowercase(), &pattern.to_ascii_lowercase())
}

/// A comma-separated pattern list (`a*,!ab`): Some(true) when a pattern matches and no
/// negated one does, Some(false) when none matches, None when a negated one matches.
pub fn list_matches(text: &str, list: &str, lowercase: bool) -> Option<bool> {
    let mut positive = false;
    for sub in list.split(',') {
        let (negated, sub) = match sub.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, sub),
        };
        let sub = if lowercase { sub.to_ascii_lowercase() } else { sub.to_owned() };
        if matches(text, &sub) {
            if negated {
                return None;
            }
            positive = true;
        }
    }
    Some(positive)
}

/// Whether `list` matches `text` (a negated match is no match).
pub fn list_match(text: &str, list: &str, lowercase: bool) -> bool {
    list_matches(text, list, lowercase) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_lists() {
        assert!(matches("web1", "web?"));
        assert!(matches("a.b.c", "*.c"));
        assert!(!matches("Web1", "web?"));
        assert!(wildcard_match("WEB?", "web1"));
        assert!(list_match("web1", "db*,web*", false));
        assert!(!list_match("web9", "web*,!web9", false));
        assert!(list_match("web1", "WEB*", true));
        assert!(!list_match("x", "", false));
    }
}
