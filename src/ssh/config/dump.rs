//! A resolved configuration in the format of `ssh -G`: one lower-case keyword and its value a
//! line, in OpenSSH's order; keywords left unset show OpenSSH's default, or the native
//! client's where it has its own (algorithm lists, ConnectTimeout, ServerAliveInterval).

use super::Resolved;

/// The native client's own defaults, shown where the configuration leaves them unset.
pub struct Defaults {
    pub ciphers: String,
    pub kex: String,
    pub macs: String,
    pub host_keys: String,
    pub pubkeys: String,
    pub connect_timeout: u64,
    pub server_alive_interval: u64,
}

/// Assembles an algorithm list as OpenSSH does: `+list` appends to the defaults, `-list`
/// removes what matches its patterns, `^list` puts it first, a plain list replaces them.
pub fn assemble(spec: &str, default: &str) -> String {
    let defaults: Vec<&str> = default.split(',').filter(|s| !s.is_empty()).collect();
    let mut out: Vec<String> = Vec::new();
    let push = |name: &str, out: &mut Vec<String>| {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
    };
    if let Some(list) = spec.strip_prefix('+') {
        defaults.iter().chain(list.split(',').collect::<Vec<_>>().iter()).for_each(|n| push(n, &mut out));
    } else if let Some(list) = spec.strip_prefix('-') {
        defaults
            .iter()
            .filter(|n| !super::pattern::list_match(n, list, false))
            .for_each(|n| push(n, &mut out));
    } else if let Some(list) = spec.strip_prefix('^') {
        list.split(',').chain(defaults.iter().copied()).for_each(|n| push(n, &mut out));
    } else {
        spec.split(',').for_each(|n| push(n, &mut out));
    }
    out.join(",")
}

/// The `ssh -G` text of `r`.
pub fn dump(r: &Resolved, d: &Defaults) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: &str| {
        out.push_str(key);
        out.push(' ');
        out.push_str(value);
        out.push('\n');
    };
    let get = |name: &str| r.get(name).map(str::to_owned);
    let or = |name: &str, default: &str| get(name).unwrap_or_else(|| default.to_owned());
    line("host", &r.host_arg);
    line("user", &r.user);
    line("hostname", &r.host);
    line("port", &r.port.to_string());
    for (name, default) in [
        ("AddressFamily", "any"),
        ("BatchMode", "no"),
        ("CanonicalizeFallbackLocal", "yes"),
        ("CanonicalizeHostname", "false"),
        ("CheckHostIP", "no"),
        ("Compression", "no"),
        ("ControlMaster", "false"),
        ("EnableSSHKeysign", "no"),
        ("ClearAllForwardings", "no"),
        ("ExitOnForwardFailure", "no"),
        ("FingerprintHash", "SHA256"),
        ("ForwardX11", "no"),
        ("ForwardX11Trusted", "no"),
        ("GatewayPorts", "no"),
        ("GSSAPIAuthentication", "no"),
        ("GSSAPIDelegateCredentials", "no"),
        ("HashKnownHosts", "no"),
        ("HostbasedAuthentication", "no"),
        ("IdentitiesOnly", "no"),
        ("KbdInteractiveAuthentication", "yes"),
        ("NoHostAuthenticationForLocalhost", "no"),
        ("PasswordAuthentication", "yes"),
        ("PermitLocalCommand", "no"),
        ("ProxyUseFdpass", "no"),
        ("PubkeyAuthentication", "true"),
        ("RequestTTY", "auto"),
        ("SessionType", "default"),
        ("StdinNull", "no"),
        ("ForkAfterAuthentication", "no"),
        ("StreamLocalBindUnlink", "no"),
        ("StrictHostKeyChecking", "ask"),
        ("TCPKeepAlive", "yes"),
        ("Tunnel", "false"),
        ("VerifyHostKeyDNS", "false"),
        ("VisualHostKey", "no"),
        ("UpdateHostKeys", "false"),
        ("EnableEscapeCommandline", "no"),
        ("CanonicalizeMaxDots", "1"),
        ("ConnectionAttempts", "1"),
        ("ForwardX11Timeout", "1200"),
        ("NumberOfPasswordPrompts", "3"),
        ("ServerAliveCountMax", "3"),
    ] {
        line(&name.to_ascii_lowercase(), &or(name, default));
    }
    line("serveraliveinterval", &or("ServerAliveInterval", &d.server_alive_interval.to_string()));
    line("requiredrsasize", &or("RequiredRSASize", "1024"));
    let algorithms = |name: &str, default: &str| match get(name) {
        Some(spec) => assemble(&spec, default),
        None => default.to_owned(),
    };
    let mut optional = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            line(key, &v);
        }
    };
    optional("bindaddress", get("BindAddress"));
    optional("bindinterface", get("BindInterface"));
    optional("ciphers", Some(algorithms("Ciphers", &d.ciphers)));
    optional("controlpath", get("ControlPath").filter(|p| p != "none").map(|p| r.path(&p).unwrap_or(p)));
    optional("hostkeyalgorithms", Some(algorithms("HostKeyAlgorithms", &d.host_keys)));
    optional("hostkeyalias", get("HostKeyAlias").map(|a| a.to_ascii_lowercase()));
    optional("hostbasedacceptedalgorithms", get("HostbasedAcceptedAlgorithms"));
    optional("identityagent", get("IdentityAgent").map(|p| r.path(&p).unwrap_or(p)));
    optional("ignoreunknown", get("IgnoreUnknown"));
    optional("kbdinteractivedevices", get("KbdInteractiveDevices"));
    optional("kexalgorithms", Some(algorithms("KexAlgorithms", &d.kex)));
    optional("casignaturealgorithms", get("CASignatureAlgorithms"));
    optional("localcommand", get("LocalCommand"));
    optional("remotecommand", get("RemoteCommand"));
    optional("loglevel", Some(or("LogLevel", "INFO")));
    optional("macs", Some(algorithms("MACs", &d.macs)));
    optional("pkcs11provider", get("PKCS11Provider"));
    optional("securitykeyprovider", Some(or("SecurityKeyProvider", "internal")));
    optional("preferredauthentications", get("PreferredAuthentications"));
    optional("pubkeyacceptedalgorithms", Some(algorithms("PubkeyAcceptedAlgorithms", &d.pubkeys)));
    optional("revokedhostkeys", get("RevokedHostKeys"));
    optional("xauthlocation", Some(or("XAuthLocation", "/usr/bin/xauth")));
    optional("knownhostscommand", get("KnownHostsCommand"));
    let clear = r.flag("ClearAllForwardings", false);
    for (key, name) in [("dynamicforward", "DynamicForward"), ("localforward", "LocalForward"), ("remoteforward", "RemoteForward")] {
        for l in r.lines(name).iter().filter(|_| !clear) {
            line(key, &l[0]);
        }
    }
    for file in r.identity_files() {
        line("identityfile", &file);
    }
    line("canonicaldomains", &r.lines("CanonicalDomains").first().map(|l| l.join(" ")).unwrap_or_else(|| "none".into()));
    for l in r.lines("CertificateFile") {
        line("certificatefile", &l[0]);
    }
    let files = |list: Result<Vec<String>, String>| match list {
        Ok(f) if f.is_empty() => "none".to_owned(),
        Ok(f) => f.join(" "),
        Err(e) => e,
    };
    line("globalknownhostsfile", &files(r.global_known_hosts()));
    line("userknownhostsfile", &files(r.user_known_hosts()));
    for l in r.lines("SendEnv") {
        line("sendenv", &l[0]);
    }
    for l in r.lines("SetEnv") {
        line("setenv", &l[0]);
    }
    line("logverbose", &r.lines("LogVerbose").first().map(|l| l.join(" ")).unwrap_or_else(|| "none".into()));
    line("permitremoteopen", &r.lines("PermitRemoteOpen").first().map(|l| l.join(" ")).unwrap_or_else(|| "any".into()));
    line("addkeystoagent", &or("AddKeysToAgent", "false"));
    line(
        "forwardagent",
        &match get("ForwardAgent") {
            None => "no".to_owned(),
            Some(v) if v.eq_ignore_ascii_case("yes") || v.eq_ignore_ascii_case("true") => "yes".to_owned(),
            Some(v) if v.eq_ignore_ascii_case("no") || v.eq_ignore_ascii_case("false") => "no".to_owned(),
            Some(path) => r.path(&path).unwrap_or(path),
        },
    );
    line("connecttimeout", &or("ConnectTimeout", &d.connect_timeout.to_string()));
    line("tunneldevice", &or("TunnelDevice", "any:any"));
    line("canonicalizePermittedcnames", &r.lines("CanonicalizePermittedCNAMEs").first().map(|l| l.join(" ")).unwrap_or_else(|| "none".into()));
    line("controlpersist", &or("ControlPersist", "no"));
    line("escapechar", &or("EscapeChar", "~"));
    line("ipqos", &r.lines("IPQoS").first().map(|l| l.join(" ")).unwrap_or_else(|| "lowdelay throughput".into()));
    line("rekeylimit", &r.lines("RekeyLimit").first().map(|l| l.join(" ")).unwrap_or_else(|| "0 0".into()));
    line("streamlocalbindmask", &or("StreamLocalBindMask", "0177"));
    line("syslogfacility", &or("SyslogFacility", "USER"));
    let set = |v: &Option<String>| v.as_ref().is_some_and(|v| !v.eq_ignore_ascii_case("none"));
    let (jump, command) = (get("ProxyJump"), get("ProxyCommand"));
    if set(&jump) {
        line("proxyjump", &jump_text(jump.as_deref().unwrap_or_default()));
    } else if set(&command) {
        line("proxycommand", command.as_deref().unwrap_or_default());
    }
    out
}

/// ProxyJump as `ssh -G` prints it: the last hop rewritten (`[address]` for a numeric one).
fn jump_text(spec: &str) -> String {
    if spec.eq_ignore_ascii_case("none") {
        return "none".into();
    }
    let (extra, last) = match spec.rsplit_once(',') {
        Some((extra, last)) => (format!("{extra},"), last),
        None => (String::new(), spec),
    };
    let Some(hop) = super::parse_jumps(last).ok().and_then(|h| h.into_iter().next()) else { return spec.to_owned() };
    let numeric = hop.host.contains(':') || hop.host.chars().all(|c| c.is_ascii_digit() || c == '.');
    let user = hop.user.map(|u| format!("{u}@")).unwrap_or_default();
    let host = if numeric { format!("[{}]", hop.host) } else { hop.host };
    let port = hop.port.map(|p| format!(":{p}")).unwrap_or_default();
    format!("{extra}{user}{host}{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_lists_assemble_as_openssh_does() {
        let d = "a,b,c";
        assert_eq!(assemble("+d,a", d), "a,b,c,d");
        assert_eq!(assemble("-b*", d), "a,c");
        assert_eq!(assemble("^c,x", d), "c,x,a,b");
        assert_eq!(assemble("x,y", d), "x,y");
    }
}
