//! Splitting ssh_config lines as OpenSSH does: the keyword (ended by whitespace or `=`), then
//! arguments with quotes and backslash escapes, a `#` starting a word ending the line.

/// The keyword and the rest of a line; None for a blank line or a comment.
pub fn keyword(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start_matches([' ', '\t']);
    let line = line.trim_end_matches([' ', '\t', '\r', '\n', '\x0c']);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line.find([' ', '\t', '=']).unwrap_or(line.len());
    let (key, rest) = line.split_at(end);
    let rest = rest.trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start_matches([' ', '\t']);
    Some((key, rest))
}

/// The arguments of a line (argv_split); Err for an unterminated quote.
pub fn arguments(text: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut args = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == ' ' || chars[i] == '\t' {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' && i + 1 < chars.len() {
                let next = chars[i + 1];
                if next == '\'' || next == '"' || next == '\\' || (quote.is_none() && next == ' ') {
                    arg.push(next);
                    i += 2;
                    continue;
                }
                arg.push(c);
            } else if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
            } else if quote == Some(c) {
                quote = None;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        if quote.is_some() {
            return Err("invalid quotes".into());
        }
        args.push(arg);
    }
    Ok(args)
}

/// An argument written so that `arguments` reads it back whole.
pub fn quote(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '"', '\'', '\\', '#']) {
        return arg.to_owned();
    }
    let mut out = String::from("\"");
    for c in arg.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_arguments() {
        assert_eq!(keyword("  Port=22 "), Some(("Port", "22")));
        assert_eq!(keyword("User = bob"), Some(("User", "bob")));
        assert_eq!(keyword("# c"), None);
        assert_eq!(arguments(r#"a "b c" 'd e' f\ g # tail"#).unwrap(), vec!["a", "b c", "d e", "f g"]);
        assert!(arguments("\"open").is_err());
        for s in ["plain", "with space", "q\"uote", "back\\slash", "#hash", ""] {
            assert_eq!(arguments(&quote(s)).unwrap(), vec![s.to_owned()]);
        }
    }
}
