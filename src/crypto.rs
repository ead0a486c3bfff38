//! crypto: SHA-1/2 digests (one-shot, streaming and of files), HMAC, OS randomness and a
//! constant-time comparison.

use std::fs::File;
use std::io::Read;

use hmac::{Hmac, Mac};
use mlua::{AnyUserData, Lua, Result, Table, UserData, UserDataMethods, UserDataRef};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::error::{self, Error};
use crate::func;
use crate::bridge::{Need, self, export, Class, ModuleDef, TypeDef};

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "crypto",
    description: "SHA-1/SHA-256/SHA-512 digests, HMAC, OS randomness and constant-time comparison",
    classes: &[Class::Deterministic, Class::Nondeterministic, Class::Io],
    functions: &[
        func!("sha1", "SHA-1 digest of a string (hex unless told otherwise).", [data: "string", encoding: "crypto.Encoding?"], [digest: "string"]),
        func!("sha256", "SHA-256 digest of a string (hex unless told otherwise).", [data: "string", encoding: "crypto.Encoding?"], [digest: "string"]),
        func!("sha512", "SHA-512 digest of a string (hex unless told otherwise).", [data: "string", encoding: "crypto.Encoding?"], [digest: "string"]),
        func!("hasher", "A streaming hasher for sha1, sha256 or sha512.", [algorithm: "crypto.Algorithm"], [hasher: "crypto.Hasher"]),
        func!("hmac", "HMAC of a message under a key.", [algorithm: "crypto.Algorithm", key: "string", message: "string", encoding: "crypto.Encoding?"], [mac: "string"]),
        func!("random_bytes", "n bytes from the operating system's secure random source.", [n: "integer"], [bytes: "string"]),
        func!("constant_time_equal", "Compares two strings in time that depends only on their lengths.", [a: "string", b: "string"], [equal: "boolean"]),
        func!("file_digest", "Digest of a file, read in a stream.", [path: "string", algorithm: "crypto.Algorithm", encoding: "crypto.Encoding?"], [digest: "string?", err: "essh.Error?"]).needs(&[Need::arg("read", 0)]),
    ],
    constants: &[],
    types: &[
        TypeDef::alias("crypto.Algorithm", "\"sha1\"|\"sha256\"|\"sha512\""),
        TypeDef::alias("crypto.Encoding", "\"hex\"|\"raw\"|\"base64\""),
        TypeDef { method_index: Some(hasher_index),
            name: "crypto.Hasher",
            doc: "A streaming digest: feed it with update, read it with hex, digest or base64.",
            fields: &[],
            methods: &[
                func!("update", "Feeds more data; returns the hasher for chaining.", [data: "string"], [hasher: "crypto.Hasher"]),
                func!("hex", "The digest so far, in lowercase hex.", [], [digest: "string"]),
                func!("digest", "The digest so far, as raw bytes.", [], [digest: "string"]),
                func!("base64", "The digest so far, in standard base64.", [], [digest: "string"]),
            ],
        },
    ],
    build,
};

/// A digest algorithm by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn parse(name: &str) -> std::result::Result<Self, String> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Ok(Algorithm::Sha1),
            "sha256" => Ok(Algorithm::Sha256),
            "sha512" => Ok(Algorithm::Sha512),
            _ => Err(format!("unknown digest algorithm '{name}' (expected sha1, sha256 or sha512)")),
        }
    }
}

/// How a digest is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Raw,
    Base64,
}

impl Encoding {
    fn parse(name: Option<&str>) -> std::result::Result<Self, String> {
        match name {
            None | Some("hex") => Ok(Encoding::Hex),
            Some("raw") | Some("binary") => Ok(Encoding::Raw),
            Some("base64") => Ok(Encoding::Base64),
            Some(other) => Err(format!("unknown encoding '{other}' (expected hex, raw or base64)")),
        }
    }

    pub fn apply(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Encoding::Raw => bytes.to_vec(),
            Encoding::Hex => to_hex(bytes).into_bytes(),
            Encoding::Base64 => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(bytes).into_bytes()
            }
        }
    }
}

pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// A running digest of any supported algorithm.
#[derive(Clone)]
pub enum Hasher {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far; the hasher can keep going.
    pub fn peek(&self) -> Vec<u8> {
        match self.clone() {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

pub fn digest(algorithm: Algorithm, data: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(algorithm);
    h.update(data);
    h.peek()
}

pub fn hmac(algorithm: Algorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so construction cannot fail.
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<Sha1>>(key, message),
        Algorithm::Sha256 => run::<Hmac<Sha256>>(key, message),
        Algorithm::Sha512 => run::<Hmac<Sha512>>(key, message),
    }
}

/// Compares in time independent of where the strings differ.
pub fn constant_time_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Digest of a file, read in large blocks.
pub fn file_digest(path: &str, algorithm: Algorithm) -> error::Result<Vec<u8>> {
    let mut file = File::open(path).map_err(|e| Error::from_io(&e, "open", path))?;
    let mut hasher = Hasher::new(algorithm);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::from_io(&e, "read", path)),
        }
    }
    Ok(hasher.peek())
}

impl UserData for Hasher {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field_with("__index", |lua| {
            hasher_index(lua)
        });
        fields.add_meta_field("__name", "crypto.Hasher");
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(mlua::MetaMethod::ToString, |_, h, ()| {
            let name = match h {
                Hasher::Sha1(_) => "sha1",
                Hasher::Sha256(_) => "sha256",
                Hasher::Sha512(_) => "sha512",
            };
            Ok(format!("crypto.Hasher({name})"))
        });
    }
}

fn hasher_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.crypto.Hasher", hasher_methods)
}

fn hasher_methods(lua: &Lua, m: &Table) -> Result<()> {
    m.raw_set(
        "update",
        bridge::function(lua, "hasher:update", |_, (this, data): (AnyUserData, mlua::LuaString)| {
            this.borrow_mut::<Hasher>()?.update(&data.as_bytes());
            Ok(this)
        })?,
    )?;
    m.raw_set("hex", bridge::function(lua, "hasher:hex", |_, h: UserDataRef<Hasher>| Ok(to_hex(&h.peek())))?)?;
    m.raw_set(
        "digest",
        bridge::function(lua, "hasher:digest", |lua, h: UserDataRef<Hasher>| lua.create_string(h.peek()))?,
    )?;
    m.raw_set(
        "base64",
        bridge::function(lua, "hasher:base64", |lua, h: UserDataRef<Hasher>| {
            lua.create_string(Encoding::Base64.apply(&h.peek()))
        })?,
    )
}

fn algorithm_arg(name: &str) -> Result<Algorithm> {
    Algorithm::parse(name).map_err(mlua::Error::runtime)
}

fn encoding_arg(name: Option<mlua::LuaString>) -> Result<Encoding> {
    let name = name.map(|s| s.to_string_lossy());
    Encoding::parse(name.as_deref()).map_err(mlua::Error::runtime)
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    for (name, algorithm) in
        [("crypto.sha1", Algorithm::Sha1), ("crypto.sha256", Algorithm::Sha256), ("crypto.sha512", Algorithm::Sha512)]
    {
        export(lua, m, name, move |lua, (data, encoding): (mlua::LuaString, Option<mlua::LuaString>)| {
            let encoding = encoding_arg(encoding)?;
            lua.create_string(encoding.apply(&digest(algorithm, &data.as_bytes())))
        })?;
    }
    export(lua, m, "crypto.hasher", |lua, name: String| lua.create_userdata(Hasher::new(algorithm_arg(&name)?)))?;
    export(
        lua,
        m,
        "crypto.hmac",
        |lua, (name, key, message, encoding): (String, mlua::LuaString, mlua::LuaString, Option<mlua::LuaString>)| {
            let algorithm = algorithm_arg(&name)?;
            let encoding = encoding_arg(encoding)?;
            lua.create_string(encoding.apply(&hmac(algorithm, &key.as_bytes(), &message.as_bytes())))
        },
    )?;
    export(lua, m, "crypto.random_bytes", |lua, n: i64| {
        if !(0..=1 << 20).contains(&n) {
            return Err(mlua::Error::runtime(format!("random_bytes: n must be between 0 and 1048576, got {n}")));
        }
        let mut buf = vec![0u8; n as usize];
        getrandom::fill(&mut buf)
            .map_err(|e| mlua::Error::runtime(format!("random_bytes: the OS random source failed: {e}")))?;
        lua.create_string(buf)
    })?;
    export(lua, m, "crypto.constant_time_equal", |_, (a, b): (mlua::LuaString, mlua::LuaString)| {
        Ok(constant_time_equal(&a.as_bytes(), &b.as_bytes()))
    })?;
    export(lua, m, "crypto.file_digest", |lua, (path, name, encoding): (String, String, Option<mlua::LuaString>)| {
        let algorithm = algorithm_arg(&name)?;
        let encoding = encoding_arg(encoding)?;
        error::bytes_pair(lua, file_digest(&path, algorithm).map(|d| encoding.apply(&d)))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_vectors() {
        assert_eq!(
            to_hex(&digest(Algorithm::Sha256, b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(to_hex(&digest(Algorithm::Sha1, b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert!(to_hex(&digest(Algorithm::Sha512, b"abc")).starts_with("ddaf35a193617aba"));
    }

    #[test]
    fn streaming_equals_one_shot_and_can_continue() {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"a");
        let partial = h.peek();
        h.update(b"bc");
        assert_eq!(partial, digest(Algorithm::Sha256, b"a"));
        assert_eq!(h.peek(), digest(Algorithm::Sha256, b"abc"));
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac(Algorithm::Sha256, b"Jefe", b"what do ya want for nothing?");
        assert_eq!(to_hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn constant_time_equal_compares_contents_and_lengths() {
        assert!(constant_time_equal(b"secret", b"secret"));
        assert!(!constant_time_equal(b"secret", b"secreT"));
        assert!(!constant_time_equal(b"secret", b"secrets"));
    }

    #[test]
    fn algorithm_names_are_forgiving_but_unknown_ones_fail() {
        assert_eq!(Algorithm::parse("SHA-256"), Ok(Algorithm::Sha256));
        assert!(Algorithm::parse("md5").unwrap_err().contains("md5"));
    }
}
