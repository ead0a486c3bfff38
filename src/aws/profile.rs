//! The AWS CLI's shared files, `~/.aws/config` and `~/.aws/credentials`: INI sections of
//! `key = value` lines, nested `key =` blocks of indented lines, `[profile NAME]` in the config
//! file and `[NAME]` in the credentials file. The credentials file wins where both set a key.

use std::collections::HashMap;

/// A profile's settings; a nested block's keys read `parent.key`.
pub type Profile = HashMap<String, String>;

/// Every profile of both files, and every `[services NAME]` section.
#[derive(Default, Debug)]
pub struct Files {
    pub profiles: HashMap<String, Profile>,
    pub services: HashMap<String, Profile>,
}

/// One parsed file: (section title, settings, line of the title) in order.
pub fn parse(text: &str, path: &str) -> Result<Vec<(String, Profile)>, String> {
    let mut sections: Vec<(String, Profile)> = Vec::new();
    let mut parent: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        if line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        let line = line.trim();
        if let Some(rest) = line.strip_prefix('[') {
            let Some(title) = rest.strip_suffix(']') else {
                return Err(format!("{path}:{}: a section title must end with ]", n + 1));
            };
            sections.push((title.trim().to_string(), Profile::new()));
            parent = None;
            continue;
        }
        let Some((_, section)) = sections.last_mut() else {
            return Err(format!("{path}:{}: a setting before any [section]", n + 1));
        };
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("{path}:{}: expected key = value, got '{line}'", n + 1));
        };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim().to_string());
        match (&parent, indented) {
            (Some(p), true) => {
                section.insert(format!("{p}.{key}"), value);
            }
            _ if value.is_empty() => parent = Some(key),
            _ => {
                parent = None;
                section.insert(key, value);
            }
        }
    }
    Ok(sections)
}

/// A line without its comment: `#` or `;` at the start, or after whitespace.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if (b == b'#' || b == b';') && (i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            return &line[..i];
        }
    }
    line
}

impl Files {
    /// Reads both files (either may be missing).
    pub fn load(config_path: &str, credentials_path: &str) -> Result<Files, String> {
        let mut files = Files::default();
        if let Some(text) = read_optional(config_path)? {
            for (title, settings) in parse(&text, config_path)? {
                let (kind, name) = match title.split_once(char::is_whitespace) {
                    Some((kind, name)) => (kind, name.trim()),
                    None => ("profile", title.as_str()),
                };
                match kind {
                    "profile" if title == "default" || title.starts_with("profile") => {
                        files.profiles.entry(name.to_string()).or_default().extend(settings)
                    }
                    "services" => files.services.entry(name.to_string()).or_default().extend(settings),
                    // [sso-session NAME] and sections of other tools are not profiles.
                    _ => {}
                }
            }
        }
        if let Some(text) = read_optional(credentials_path)? {
            for (title, settings) in parse(&text, credentials_path)? {
                files.profiles.entry(title).or_default().extend(settings);
            }
        }
        Ok(files)
    }

    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }
}

fn read_optional(path: &str) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {path}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_profiles_nested_blocks_and_comments() {
        let text = "[default]\nregion = eu-west-1 # home\n\n[profile dev]\nrole_arn=arn:aws:iam::1:role/x\n\
                    source_profile = default\ns3 =\n  max_concurrent_requests = 20\n  addressing_style = path\n\
                    output = json\n; a comment\n[services local]\ns3 =\n  endpoint_url = http://127.0.0.1:9000\n";
        let sections = parse(text, "config").unwrap();
        assert_eq!(sections[0].1["region"], "eu-west-1");
        assert_eq!(sections[1].0, "profile dev");
        assert_eq!(sections[1].1["s3.addressing_style"], "path");
        assert_eq!(sections[1].1["output"], "json");
        assert_eq!(sections[2].1["s3.endpoint_url"], "http://127.0.0.1:9000");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        assert_eq!(parse("region = x\n", "/h/.aws/config").unwrap_err(), "/h/.aws/config:1: a setting before any [section]");
        assert_eq!(parse("[a]\nnonsense\n", "c").unwrap_err(), "c:2: expected key = value, got 'nonsense'");
    }

    #[test]
    fn the_credentials_file_wins_over_the_config_file() {
        let dir = std::env::temp_dir().join(format!("essh-aws-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (config, creds) = (dir.join("config"), dir.join("credentials"));
        std::fs::write(&config, "[profile a]\naws_access_key_id = FROMCONFIG\nregion = r1\n[sso-session s]\nx = 1\n").unwrap();
        std::fs::write(&creds, "[a]\naws_access_key_id = FROMCREDS\n").unwrap();
        let files = Files::load(config.to_str().unwrap(), creds.to_str().unwrap()).unwrap();
        let a = files.profile("a").unwrap();
        assert_eq!((a["aws_access_key_id"].as_str(), a["region"].as_str()), ("FROMCREDS", "r1"));
        assert!(files.profile("s").is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
