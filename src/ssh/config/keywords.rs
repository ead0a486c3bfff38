//! Every keyword of OpenSSH 9.x's ssh_config(5) (and Debian's GSSAPI additions): how its
//! arguments are read, which value wins, how `ssh -G` prints it, and whether essh's native
//! client applies it.

/// How a keyword's arguments are read and which value wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// yes / no / true / false.
    Flag,
    /// One word of a fixed set: (accepted word, the form `ssh -G` prints).
    Choice(&'static [(&'static str, &'static str)]),
    /// An integer.
    Int,
    /// A time (`30`, `1m30s`); `none` where OpenSSH allows it.
    Time,
    /// A port number.
    Port,
    /// One argument; the first obtained wins.
    Text,
    /// The rest of the line (ProxyCommand, LocalCommand, ...); the first obtained wins.
    Command,
    /// ProxyJump: shares its first-obtained slot with ProxyCommand.
    Jump,
    /// An algorithm list, with OpenSSH's `+`, `-` and `^` forms.
    Algorithms(Algorithms),
    /// Several arguments on one line; the first line wins; `none` only alone.
    List,
    /// One argument a line; every line adds (IdentityFile, CertificateFile).
    Each,
    /// A forwarding specification; every line adds.
    Forward(Direction),
    /// Variable names to send; every line adds, `-NAME` removes.
    SendEnv,
    /// NAME=VALUE pairs; the first line wins, the first value of a name wins.
    SetEnv,
    /// Anything, first line wins (keywords whose arguments essh does not interpret).
    Words,
    /// A keyword OpenSSH itself no longer uses (it logs and ignores it).
    Obsolete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithms {
    Cipher,
    Kex,
    Mac,
    Key,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Local,
    Remote,
    Dynamic,
}

/// What the native client does with a keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Honoured by the native client.
    Applied,
    /// Not supported by the native client: a warning, unless the value is one of these (the
    /// printed forms that ask for what the native client does anyway).
    Reported(&'static [&'static str]),
}

#[derive(Debug)]
pub struct Keyword {
    /// The spelling of ssh_config(5).
    pub name: &'static str,
    pub kind: Kind,
    pub support: Support,
}

pub const FLAG: &[(&str, &str)] = &[("yes", "yes"), ("true", "yes"), ("no", "no"), ("false", "no")];
pub const STRICT: &[(&str, &str)] = &[
    ("yes", "true"),
    ("true", "true"),
    ("no", "false"),
    ("false", "false"),
    ("off", "false"),
    ("ask", "ask"),
    ("accept-new", "accept-new"),
];
const YES_NO_ASK: &[(&str, &str)] =
    &[("yes", "true"), ("true", "true"), ("no", "false"), ("false", "false"), ("ask", "ask")];
const ADD_KEYS: &[(&str, &str)] =
    &[("yes", "true"), ("true", "true"), ("no", "false"), ("false", "false"), ("ask", "ask"), ("confirm", "confirm")];
pub const REQUEST_TTY: &[(&str, &str)] =
    &[("yes", "true"), ("true", "true"), ("no", "false"), ("false", "false"), ("force", "force"), ("auto", "auto")];
const CONTROL_MASTER: &[(&str, &str)] = &[
    ("yes", "true"),
    ("true", "true"),
    ("no", "false"),
    ("false", "false"),
    ("auto", "auto"),
    ("ask", "ask"),
    ("autoask", "autoask"),
];
const TUNNEL: &[(&str, &str)] = &[
    ("ethernet", "ethernet"),
    ("point-to-point", "point-to-point"),
    ("yes", "true"),
    ("true", "true"),
    ("no", "false"),
    ("false", "false"),
];
pub const ADDRESS_FAMILY: &[(&str, &str)] = &[("inet", "inet"), ("inet6", "inet6"), ("any", "any")];
const SESSION_TYPE: &[(&str, &str)] = &[("none", "none"), ("subsystem", "subsystem"), ("default", "default")];
const CANONICALIZE: &[(&str, &str)] =
    &[("yes", "true"), ("true", "true"), ("no", "false"), ("false", "false"), ("always", "always")];
pub const PUBKEY: &[(&str, &str)] = &[
    ("yes", "true"),
    ("true", "true"),
    ("no", "false"),
    ("false", "false"),
    ("unbound", "unbound"),
    ("host-bound", "host-bound"),
];
const COMPRESSION: &[(&str, &str)] = &[("yes", "yes"), ("no", "no")];
pub const LOG_LEVEL: &[(&str, &str)] = &[
    ("quiet", "QUIET"),
    ("fatal", "FATAL"),
    ("error", "ERROR"),
    ("info", "INFO"),
    ("verbose", "VERBOSE"),
    ("debug", "DEBUG"),
    ("debug1", "DEBUG1"),
    ("debug2", "DEBUG2"),
    ("debug3", "DEBUG3"),
];
const FINGERPRINT_HASH: &[(&str, &str)] = &[("md5", "MD5"), ("sha256", "SHA256")];

use Kind::*;
use Support::*;

const fn k(name: &'static str, kind: Kind, support: Support) -> Keyword {
    Keyword { name, kind, support }
}

/// Reported unless set to "no" / "false" / "none" (which asks for nothing the native client lacks).
const UNLESS_OFF: Support = Reported(&["no", "false", "none"]);
const ALWAYS: Support = Reported(&[]);

pub static KEYWORDS: &[Keyword] = &[
    k("AddKeysToAgent", Choice(ADD_KEYS), UNLESS_OFF),
    k("AddressFamily", Choice(ADDRESS_FAMILY), Applied),
    k("BatchMode", Flag, Applied),
    k("BindAddress", Text, Applied),
    k("BindInterface", Text, ALWAYS),
    k("CanonicalDomains", List, Reported(&["none"])),
    k("CanonicalizeFallbackLocal", Flag, Reported(&["yes"])),
    k("CanonicalizeHostname", Choice(CANONICALIZE), UNLESS_OFF),
    k("CanonicalizeMaxDots", Int, Reported(&["1"])),
    k("CanonicalizePermittedCNAMEs", List, Reported(&["none"])),
    k("CASignatureAlgorithms", Algorithms(Algorithms::Key), ALWAYS),
    k("CertificateFile", Each, Applied),
    k("ChannelTimeout", Words, ALWAYS),
    k("CheckHostIP", Flag, Applied),
    k("Ciphers", Algorithms(Algorithms::Cipher), Applied),
    k("ClearAllForwardings", Flag, Applied),
    k("Compression", Choice(COMPRESSION), Applied),
    k("ConnectionAttempts", Int, Applied),
    k("ConnectTimeout", Time, Applied),
    k("ControlMaster", Choice(CONTROL_MASTER), UNLESS_OFF),
    k("ControlPath", Text, UNLESS_OFF),
    k("ControlPersist", Words, UNLESS_OFF),
    k("DynamicForward", Forward(Direction::Dynamic), ALWAYS),
    k("EnableEscapeCommandline", Flag, UNLESS_OFF),
    k("EnableSSHKeysign", Flag, UNLESS_OFF),
    k("EscapeChar", Words, ALWAYS),
    k("ExitOnForwardFailure", Flag, Applied),
    k("FingerprintHash", Choice(FINGERPRINT_HASH), Reported(&["SHA256"])),
    k("ForkAfterAuthentication", Flag, UNLESS_OFF),
    k("ForwardAgent", Text, Applied),
    k("ForwardX11", Flag, UNLESS_OFF),
    k("ForwardX11Timeout", Time, ALWAYS),
    k("ForwardX11Trusted", Flag, UNLESS_OFF),
    k("GatewayPorts", Flag, UNLESS_OFF),
    k("GlobalKnownHostsFile", List, Applied),
    k("GSSAPIAuthentication", Flag, UNLESS_OFF),
    k("GSSAPIClientIdentity", Text, ALWAYS),
    k("GSSAPIDelegateCredentials", Flag, UNLESS_OFF),
    k("GSSAPIKeyExchange", Flag, UNLESS_OFF),
    k("GSSAPIKexAlgorithms", Words, ALWAYS),
    k("GSSAPIRenewalForcesRekey", Flag, UNLESS_OFF),
    k("GSSAPIServerIdentity", Text, ALWAYS),
    k("GSSAPITrustDns", Flag, UNLESS_OFF),
    k("HashKnownHosts", Flag, Applied),
    k("Host", Words, Applied),
    k("HostbasedAcceptedAlgorithms", Algorithms(Algorithms::Key), ALWAYS),
    k("HostbasedAuthentication", Flag, UNLESS_OFF),
    k("HostKeyAlgorithms", Algorithms(Algorithms::Key), Applied),
    k("HostKeyAlias", Text, Applied),
    k("HostName", Text, Applied),
    k("IdentitiesOnly", Flag, Applied),
    k("IdentityAgent", Text, Applied),
    k("IdentityFile", Each, Applied),
    k("IgnoreUnknown", Text, Applied),
    k("Include", Words, Applied),
    k("IPQoS", Words, ALWAYS),
    k("KbdInteractiveAuthentication", Flag, Applied),
    k("KbdInteractiveDevices", Text, ALWAYS),
    k("KexAlgorithms", Algorithms(Algorithms::Kex), Applied),
    k("KnownHostsCommand", Command, ALWAYS),
    k("LocalCommand", Command, ALWAYS),
    k("LocalForward", Forward(Direction::Local), Applied),
    k("LogLevel", Choice(LOG_LEVEL), Applied),
    k("LogVerbose", List, Reported(&["none"])),
    k("MACs", Algorithms(Algorithms::Mac), Applied),
    k("Match", Words, Applied),
    k("NoHostAuthenticationForLocalhost", Flag, UNLESS_OFF),
    k("NumberOfPasswordPrompts", Int, Applied),
    k("ObscureKeystrokeTiming", Words, ALWAYS),
    k("PasswordAuthentication", Flag, Applied),
    k("PermitLocalCommand", Flag, UNLESS_OFF),
    k("PermitRemoteOpen", List, Reported(&["any"])),
    k("PKCS11Provider", Text, Reported(&["none"])),
    k("Port", Port, Applied),
    k("PreferredAuthentications", Text, Applied),
    k("ProxyCommand", Command, Applied),
    k("ProxyJump", Jump, Applied),
    k("ProxyUseFdpass", Flag, UNLESS_OFF),
    k("PubkeyAcceptedAlgorithms", Algorithms(Algorithms::Key), Applied),
    k("PubkeyAuthentication", Choice(PUBKEY), Applied),
    k("RekeyLimit", Words, ALWAYS),
    k("RemoteCommand", Command, Reported(&["none"])),
    k("RemoteForward", Forward(Direction::Remote), Applied),
    k("RequestTTY", Choice(REQUEST_TTY), Applied),
    k("RequiredRSASize", Int, ALWAYS),
    k("RevokedHostKeys", Text, ALWAYS),
    k("SecurityKeyProvider", Text, Reported(&["internal"])),
    k("SendEnv", SendEnv, Applied),
    k("ServerAliveCountMax", Int, Applied),
    k("ServerAliveInterval", Time, Applied),
    k("SessionType", Choice(SESSION_TYPE), Reported(&["default"])),
    k("SetEnv", SetEnv, Applied),
    k("StdinNull", Flag, UNLESS_OFF),
    k("StreamLocalBindMask", Words, ALWAYS),
    k("StreamLocalBindUnlink", Flag, UNLESS_OFF),
    k("StrictHostKeyChecking", Choice(STRICT), Applied),
    k("SyslogFacility", Words, ALWAYS),
    k("Tag", Text, Applied),
    k("TCPKeepAlive", Flag, Applied),
    k("Tunnel", Choice(TUNNEL), UNLESS_OFF),
    k("TunnelDevice", Words, ALWAYS),
    k("UpdateHostKeys", Choice(YES_NO_ASK), UNLESS_OFF),
    k("User", Text, Applied),
    k("UserKnownHostsFile", List, Applied),
    k("VerifyHostKeyDNS", Choice(YES_NO_ASK), UNLESS_OFF),
    k("VisualHostKey", Flag, UNLESS_OFF),
    k("XAuthLocation", Text, ALWAYS),
    // Keywords OpenSSH still reads but ignores, and the old names of current ones.
    k("Cipher", Obsolete, ALWAYS),
    k("FallBackToRsh", Obsolete, ALWAYS),
    k("GlobalKnownHostsFile2", Obsolete, ALWAYS),
    k("Protocol", Obsolete, ALWAYS),
    k("RhostsAuthentication", Obsolete, ALWAYS),
    k("UserKnownHostsFile2", Obsolete, ALWAYS),
    k("UseRoaming", Obsolete, ALWAYS),
    k("UseRsh", Obsolete, ALWAYS),
    k("UsePrivilegedPort", Obsolete, ALWAYS),
    k("AFSTokenPassing", Obsolete, ALWAYS),
    k("KerberosAuthentication", Obsolete, ALWAYS),
    k("KerberosTGTPassing", Obsolete, ALWAYS),
    k("RSAAuthentication", Obsolete, ALWAYS),
    k("RhostsRSAAuthentication", Obsolete, ALWAYS),
    k("CompressionLevel", Obsolete, ALWAYS),
];

/// Old names OpenSSH still accepts for current keywords.
const ALIASES: &[(&str, &str)] = &[
    ("challengeresponseauthentication", "KbdInteractiveAuthentication"),
    ("skeyauthentication", "KbdInteractiveAuthentication"),
    ("tisauthentication", "KbdInteractiveAuthentication"),
    ("dsaauthentication", "PubkeyAuthentication"),
    ("identityfile2", "IdentityFile"),
    ("keepalive", "TCPKeepAlive"),
    ("hostbasedkeytypes", "HostbasedAcceptedAlgorithms"),
    ("pubkeyacceptedkeytypes", "PubkeyAcceptedAlgorithms"),
    ("smartcarddevice", "PKCS11Provider"),
];

/// The keyword spelled `name` in any case (old names included).
pub fn lookup(name: &str) -> Option<&'static Keyword> {
    let lower = name.to_ascii_lowercase();
    let canonical = ALIASES.iter().find(|(alias, _)| *alias == lower).map(|(_, c)| *c);
    let wanted = canonical.unwrap_or(&lower);
    KEYWORDS.iter().find(|k| k.name.eq_ignore_ascii_case(wanted))
}

impl Keyword {
    /// Whether the value is read as one argument (a DSL value with spaces stays whole).
    pub fn single_argument(&self) -> bool {
        matches!(self.kind, Flag | Choice(_) | Int | Time | Port | Text | Each | Algorithms(_))
    }

    /// Whether the value is the rest of the line.
    pub fn whole_line(&self) -> bool {
        matches!(self.kind, Command | Jump)
    }

    /// Whether the native client does what `printed` asks.
    pub fn native_handles(&self, printed: &str) -> bool {
        match self.support {
            Applied => true,
            Reported(harmless) => harmless.iter().any(|h| h.eq_ignore_ascii_case(printed)),
        }
    }
}

/// The algorithm names OpenSSH 9.x knows (`ssh -Q cipher|kex|mac|key-sig`).
pub fn known_algorithms(which: Algorithms) -> &'static [&'static str] {
    match which {
        Algorithms::Cipher => &[
            "3des-cbc",
            "aes128-cbc",
            "aes192-cbc",
            "aes256-cbc",
            "aes128-ctr",
            "aes192-ctr",
            "aes256-ctr",
            "aes128-gcm@openssh.com",
            "aes256-gcm@openssh.com",
            "chacha20-poly1305@openssh.com",
        ],
        Algorithms::Kex => &[
            "diffie-hellman-group1-sha1",
            "diffie-hellman-group14-sha1",
            "diffie-hellman-group14-sha256",
            "diffie-hellman-group16-sha512",
            "diffie-hellman-group18-sha512",
            "diffie-hellman-group-exchange-sha1",
            "diffie-hellman-group-exchange-sha256",
            "ecdh-sha2-nistp256",
            "ecdh-sha2-nistp384",
            "ecdh-sha2-nistp521",
            "curve25519-sha256",
            "curve25519-sha256@libssh.org",
            "sntrup761x25519-sha512",
            "sntrup761x25519-sha512@openssh.com",
            "mlkem768x25519-sha256",
        ],
        Algorithms::Mac => &[
            "hmac-sha1",
            "hmac-sha1-96",
            "hmac-sha2-256",
            "hmac-sha2-512",
            "hmac-md5",
            "hmac-md5-96",
            "umac-64@openssh.com",
            "umac-128@openssh.com",
            "hmac-sha1-etm@openssh.com",
            "hmac-sha1-96-etm@openssh.com",
            "hmac-sha2-256-etm@openssh.com",
            "hmac-sha2-512-etm@openssh.com",
            "hmac-md5-etm@openssh.com",
            "hmac-md5-96-etm@openssh.com",
            "umac-64-etm@openssh.com",
            "umac-128-etm@openssh.com",
        ],
        Algorithms::Key => &[
            "ssh-ed25519",
            "ssh-ed25519-cert-v01@openssh.com",
            "sk-ssh-ed25519@openssh.com",
            "sk-ssh-ed25519-cert-v01@openssh.com",
            "ecdsa-sha2-nistp256",
            "ecdsa-sha2-nistp256-cert-v01@openssh.com",
            "ecdsa-sha2-nistp384",
            "ecdsa-sha2-nistp384-cert-v01@openssh.com",
            "ecdsa-sha2-nistp521",
            "ecdsa-sha2-nistp521-cert-v01@openssh.com",
            "sk-ecdsa-sha2-nistp256@openssh.com",
            "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
            "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
            "ssh-dss",
            "ssh-dss-cert-v01@openssh.com",
            "ssh-rsa",
            "ssh-rsa-cert-v01@openssh.com",
            "rsa-sha2-256",
            "rsa-sha2-256-cert-v01@openssh.com",
            "rsa-sha2-512",
            "rsa-sha2-512-cert-v01@openssh.com",
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_knows_old_names() {
        assert_eq!(lookup("hostname").unwrap().name, "HostName");
        assert_eq!(lookup("CHALLENGEresponseAuthentication").unwrap().name, "KbdInteractiveAuthentication");
        assert!(lookup("NoSuchKeyword").is_none());
    }

    #[test]
    fn every_keyword_is_listed_once() {
        for (i, a) in KEYWORDS.iter().enumerate() {
            assert!(KEYWORDS[i + 1..].iter().all(|b| !a.name.eq_ignore_ascii_case(b.name)), "{} twice", a.name);
        }
    }
}
