//! base64: standard and URL-safe alphabets, with or without padding.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use mlua::{Lua, Result, Table};

use crate::error::{self, Error};
use crate::bridge::{export, Class, ModuleDef, TypeDef};
use crate::{func, typed};

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "base64",
    description: "Base64 encoding and decoding, standard or URL-safe, padded or not",
    classes: &[Class::Deterministic],
    functions: &[
        func!("encode", "Encodes bytes as base64.", [data: "string", opts: "base64.Options?"], [text: "string"]),
        func!("decode", "Decodes base64; padding is optional unless opts.padding is true.", [text: "string", opts: "base64.Options?"], [data: "string?", err: "essh.Error?"]),
    ],
    constants: &[],
    types: &[TypeDef::record("base64.Options", "Alphabet and padding.", &[
            typed!(url: "boolean?", "Use the URL-safe alphabet (- and _)."),
            typed!(padding: "boolean?", "Write padding (default true); when decoding, require it."),
        ])],
    build,
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub url: bool,
    /// `None`: pad when encoding, accept either when decoding.
    pub padding: Option<bool>,
}

fn engine(opts: Options, decoding: bool) -> GeneralPurpose {
    let alphabet = if opts.url { &alphabet::URL_SAFE } else { &alphabet::STANDARD };
    let mode = match (decoding, opts.padding) {
        (true, None) => DecodePaddingMode::Indifferent,
        (_, Some(true)) | (false, None) => DecodePaddingMode::RequireCanonical,
        (_, Some(false)) => DecodePaddingMode::RequireNone,
    };
    let config =
        GeneralPurposeConfig::new().with_encode_padding(opts.padding.unwrap_or(true)).with_decode_padding_mode(mode);
    GeneralPurpose::new(alphabet, config)
}

pub fn encode(data: &[u8], opts: Options) -> String {
    engine(opts, false).encode(data)
}

pub fn decode(text: &[u8], opts: Options) -> error::Result<Vec<u8>> {
    engine(opts, true).decode(text).map_err(|e| {
        let (what, offset) = match e {
            base64::DecodeError::InvalidByte(at, byte) => (format!("invalid character {:?}", byte as char), Some(at)),
            base64::DecodeError::InvalidLength(_) => ("invalid length".to_owned(), None),
            base64::DecodeError::InvalidLastSymbol(at, _) => ("invalid last character".to_owned(), Some(at)),
            base64::DecodeError::InvalidPadding => ("invalid padding".to_owned(), None),
        };
        let alphabet = if opts.url { "URL-safe " } else { "" };
        let mut err = Error::invalid(match offset {
            Some(at) => format!("invalid {alphabet}base64: {what} at byte {at}"),
            None => format!("invalid {alphabet}base64: {what}"),
        });
        if let Some(at) = offset {
            err = err.with("offset", at);
        }
        err
    })
}

fn options(opts: Option<Table>) -> Result<Options> {
    let Some(t) = opts else { return Ok(Options::default()) };
    Ok(Options { url: t.get::<Option<bool>>("url")?.unwrap_or(false), padding: t.get("padding")? })
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    export(lua, m, "base64.encode", |_, (data, opts): (mlua::LuaString, Option<Table>)| {
        Ok(encode(&data.as_bytes(), options(opts)?))
    })?;
    export(lua, m, "base64.decode", |lua, (text, opts): (mlua::LuaString, Option<Table>)| {
        error::bytes_pair(lua, decode(&text.as_bytes(), options(opts)?))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_both_alphabets() {
        let data = b"\xfb\xff\xfe hello";
        for url in [false, true] {
            let opts = Options { url, padding: None };
            assert_eq!(decode(encode(data, opts).as_bytes(), opts).unwrap(), data);
        }
        assert_eq!(encode(b"\xfb\xff", Options { url: true, padding: Some(false) }), "-_8");
        assert_eq!(encode(b"\xfb\xff", Options::default()), "+/8=");
    }

    #[test]
    fn decoding_accepts_missing_padding_unless_required() {
        assert_eq!(decode(b"aGk", Options::default()).unwrap(), b"hi");
        assert!(decode(b"aGk", Options { url: false, padding: Some(true) }).is_err());
    }

    #[test]
    fn invalid_input_names_the_character_and_offset() {
        let e = decode(b"aG!k", Options::default()).unwrap_err();
        assert_eq!(e.message, "invalid base64: invalid character '!' at byte 2");
    }
}
