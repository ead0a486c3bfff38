//! A workaround for unencrypted OpenSSH ECDSA keys whose private scalar starts with a zero byte.
//! OpenSSH writes the scalar as a minimal mpint (31 bytes for P-256 about once in 256 keys),
//! and ssh-key 0.7.0-rc.11 refuses anything shorter than the curve size ("length invalid").
//! The scalar is padded back to full size, which ssh-key reads, and the key is decoded again.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<usize> {
        let bytes = self.data.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_be_bytes(bytes.try_into().ok()?) as usize)
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()?;
        let bytes = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(bytes)
    }
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn curve_size(curve: &[u8]) -> Option<usize> {
    match curve {
        b"nistp256" => Some(32),
        b"nistp384" => Some(48),
        b"nistp521" => Some(66),
        _ => None,
    }
}

/// The key with its short ECDSA scalar padded, or None when there is nothing to fix.
pub fn pad_short_ecdsa_scalar(pem: &str) -> Option<String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    let data = STANDARD.decode(body).ok()?;
    let magic = b"openssh-key-v1\0";
    let mut r = Reader { data: data.get(magic.len()..).filter(|_| data.starts_with(magic))?, pos: 0 };
    let (cipher, kdf, kdf_options) = (r.string()?, r.string()?, r.string()?);
    if cipher != b"none" || r.u32()? != 1 {
        return None;
    }
    let public = r.string()?;
    let private = r.string()?;
    let mut p = Reader { data: private, pos: 0 };
    let (check1, check2) = (p.u32()?, p.u32()?);
    let key_type = p.string()?;
    if !key_type.starts_with(b"ecdsa-sha2-") {
        return None;
    }
    let curve = p.string()?;
    let point = p.string()?;
    let scalar = p.string()?;
    let comment = p.string()?;
    let size = curve_size(curve)?;
    let digits = scalar.strip_prefix(&[0u8]).unwrap_or(scalar);
    if digits.len() >= size || digits.is_empty() {
        return None;
    }
    let mut padded = vec![0u8; size - digits.len()];
    padded.extend_from_slice(digits);

    let mut section = Vec::new();
    section.extend_from_slice(&(check1 as u32).to_be_bytes());
    section.extend_from_slice(&(check2 as u32).to_be_bytes());
    for field in [key_type, curve, point, &padded[..], comment] {
        put_string(&mut section, field);
    }
    let mut pad = 1u8;
    while section.len() % 8 != 0 {
        section.push(pad);
        pad += 1;
    }
    let mut out = magic.to_vec();
    for field in [cipher, kdf, kdf_options] {
        put_string(&mut out, field);
    }
    out.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut out, public);
    put_string(&mut out, &section);
    let encoded = STANDARD.encode(out);
    let mut text = String::from("-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for chunk in encoded.as_bytes().chunks(70) {
        text.push_str(std::str::from_utf8(chunk).ok()?);
        text.push('\n');
    }
    text.push_str("-----END OPENSSH PRIVATE KEY-----\n");
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by ssh-keygen -t ecdsa: its scalar is a 31-byte mpint.
    const SHORT: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAaAAAABNlY2RzYS
1zaGEyLW5pc3RwMjU2AAAACG5pc3RwMjU2AAAAQQST+Qr8x7BXyYs34f2PgSokW58JEOcE
ffe9OWLP94t0xh9PI8dwj6ngJh9z+jLBIsJN+NW09bibpAsvheqeiaIsAAAAoE7q+1JO6v
tSAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJP5CvzHsFfJizfh
/Y+BKiRbnwkQ5wR99705Ys/3i3TGH08jx3CPqeAmH3P6MsEiwk341bT1uJukCy+F6p6Joi
wAAAAfdgIXHAg26jIfzZHz7BmQhXaqoFj23WOQMGUAbESfqQAAAAVzaG9ydAECAwQ=
-----END OPENSSH PRIVATE KEY-----
";

    #[test]
    fn a_short_scalar_is_padded_and_the_key_then_decodes() {
        assert!(russh::keys::decode_secret_key(SHORT, None).is_err(), "ssh-key fixed the bug: drop keyfix.rs");
        let fixed = pad_short_ecdsa_scalar(SHORT).expect("a fix");
        let key = russh::keys::decode_secret_key(&fixed, None).expect("decodes");
        let public = key.public_key().to_openssh().unwrap();
        assert_eq!(public.split(' ').nth(1), Some("AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJP5CvzHsFfJizfh/Y+BKiRbnwkQ5wR99705Ys/3i3TGH08jx3CPqeAmH3P6MsEiwk341bT1uJukCy+F6p6Joiw="));
    }
}
