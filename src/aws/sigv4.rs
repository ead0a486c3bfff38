//! AWS Signature Version 4: the signed headers of a request and presigned URLs, on essh's own
//! sha2 and hmac. S3 signs its path as sent; every other service signs it encoded once more.

use crate::crypto::{digest, hmac, to_hex, Algorithm};

/// The keys a request is signed with.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ******)", self.access_key_id)
    }
}

/// What is signed: the request as it goes on the wire.
pub struct Request<'a> {
    pub method: &'a str,
    pub host: &'a str,
    /// The path, its segments already percent-encoded as sent.
    pub path: &'a str,
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// Headers besides host, x-amz-date and x-amz-security-token, all signed.
    pub headers: &'a [(String, String)],
    /// The hex sha256 of the body, or `UNSIGNED-PAYLOAD`.
    pub payload_hash: &'a str,
}

/// Where and when: the credential scope.
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
}

impl Scope<'_> {
    fn date(&self) -> &str {
        &self.amz_date[..8.min(self.amz_date.len())]
    }

    fn text(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.date(), self.region, self.service)
    }
}

pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub fn sha256_hex(data: &[u8]) -> String {
    to_hex(&digest(Algorithm::Sha256, data))
}

/// Percent-encodes everything but RFC 3986's unreserved characters (and `/` when `slash`).
pub fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(k, v)| (uri_encode(k, false), uri_encode(v, false))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The signed headers (names joined by `;`) and their canonical block.
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut list: Vec<(String, String)> =
        headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), canonical_value(v))).collect();
    list.sort();
    let names = list.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let block: String = list.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    (names, block)
}

fn canonical_path(path: &str, service: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    if service == "s3" {
        path.to_string()
    } else {
        uri_encode(path, true)
    }
}

fn signing_key(secret: &str, scope: &Scope) -> Vec<u8> {
    let k_date = hmac(Algorithm::Sha256, format!("AWS4{secret}").as_bytes(), scope.date().as_bytes());
    let k_region = hmac(Algorithm::Sha256, &k_date, scope.region.as_bytes());
    let k_service = hmac(Algorithm::Sha256, &k_region, scope.service.as_bytes());
    hmac(Algorithm::Sha256, &k_service, b"aws4_request")
}

fn signature(creds: &Credentials, scope: &Scope, canonical_request: &str) -> String {
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{}\n{}",
        scope.amz_date,
        scope.text(),
        sha256_hex(canonical_request.as_bytes())
    );
    to_hex(&hmac(Algorithm::Sha256, &signing_key(&creds.secret_access_key, scope), to_sign.as_bytes()))
}

/// The headers to add to `req`: x-amz-date, x-amz-security-token when there is a session
/// token, and Authorization.
pub fn sign(req: &Request, creds: &Credentials, scope: &Scope) -> Vec<(String, String)> {
    let mut added = vec![("x-amz-date".to_string(), scope.amz_date.to_string())];
    if let Some(token) = &creds.session_token {
        added.push(("x-amz-security-token".to_string(), token.clone()));
    }
    let mut all: Vec<(String, String)> = vec![("host".to_string(), req.host.to_string())];
    all.extend(req.headers.iter().cloned());
    all.extend(added.iter().cloned());
    let (names, block) = canonical_headers(&all);
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_path(req.path, scope.service),
        canonical_query(req.query),
        block,
        names,
        req.payload_hash
    );
    let sig = signature(creds, scope, &canonical);
    added.push((
        "authorization".to_string(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={names}, Signature={sig}",
            creds.access_key_id,
            scope.text()
        ),
    ));
    added
}

/// The query of a presigned URL for `req` (whose own query pairs it includes), valid for
/// `expires` seconds from the scope's time. Only host is signed; the payload is unsigned.
pub fn presign(req: &Request, creds: &Credentials, scope: &Scope, expires: u64) -> Vec<(String, String)> {
    let mut query: Vec<(String, String)> = req.query.to_vec();
    query.push(("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()));
    query.push(("X-Amz-Credential".into(), format!("{}/{}", creds.access_key_id, scope.text())));
    query.push(("X-Amz-Date".into(), scope.amz_date.into()));
    query.push(("X-Amz-Expires".into(), expires.to_string()));
    if let Some(token) = &creds.session_token {
        query.push(("X-Amz-Security-Token".into(), token.clone()));
    }
    query.push(("X-Amz-SignedHeaders".into(), "host".into()));
    let canonical = format!(
        "{}\n{}\n{}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD",
        req.method,
        canonical_path(req.path, scope.service),
        canonical_query(&query),
        req.host
    );
    let sig = signature(creds, scope, &canonical);
    query.push(("X-Amz-Signature".into(), sig));
    query
}

/// Query pairs as a URL's query string, encoded as they were signed.
pub fn query_string(query: &[(String, String)]) -> String {
    query.iter().map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    // The examples of AWS's Signature Version 4 documentation and test suite.
    // (The test suite's secret has a '+' where S3's documentation has a '/'.)
    fn creds(id: &str) -> Credentials {
        let secret = if id == "AKIDEXAMPLE" {
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
        } else {
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        };
        Credentials { access_key_id: id.into(), secret_access_key: secret.into(), session_token: None }
    }

    fn signature_of(headers: &[(String, String)]) -> String {
        let auth = &headers.iter().find(|(k, _)| k == "authorization").unwrap().1;
        auth.rsplit("Signature=").next().unwrap().to_string()
    }

    #[test]
    fn signs_the_test_suites_get_vanilla() {
        let req = Request {
            method: "GET",
            host: "example.amazonaws.com",
            path: "/",
            query: &[],
            headers: &[],
            payload_hash: EMPTY_SHA256,
        };
        let scope = Scope { region: "us-east-1", service: "service", amz_date: "20150830T123600Z" };
        let headers = sign(&req, &creds("AKIDEXAMPLE"), &scope);
        assert_eq!(signature_of(&headers), "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
        assert!(headers[1].1.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date,"
        ));
    }

    #[test]
    fn signs_s3s_documented_get_object() {
        let headers = [
            ("Range".to_string(), "bytes=0-9".to_string()),
            ("x-amz-content-sha256".to_string(), EMPTY_SHA256.to_string()),
        ];
        let req = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: &[],
            headers: &headers,
            payload_hash: EMPTY_SHA256,
        };
        let scope = Scope { region: "us-east-1", service: "s3", amz_date: "20130524T000000Z" };
        let signed = sign(&req, &creds("AKIAIOSFODNN7EXAMPLE"), &scope);
        assert_eq!(signature_of(&signed), "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    }

    #[test]
    fn presigns_s3s_documented_url() {
        let req = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: &[],
            headers: &[],
            payload_hash: "UNSIGNED-PAYLOAD",
        };
        let scope = Scope { region: "us-east-1", service: "s3", amz_date: "20130524T000000Z" };
        let query = presign(&req, &creds("AKIAIOSFODNN7EXAMPLE"), &scope, 86400);
        assert_eq!(query.last().unwrap().1, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
        assert!(query_string(&query).contains("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"));
    }

    #[test]
    fn other_services_sign_their_path_encoded_twice() {
        assert_eq!(canonical_path("/a%20b/c", "s3"), "/a%20b/c");
        assert_eq!(canonical_path("/a%20b/c", "execute-api"), "/a%2520b/c");
        assert_eq!(uri_encode("a b+c=ü/~", true), "a%20b%2Bc%3D%C3%BC/~");
    }

    #[test]
    fn credentials_never_show_their_secret() {
        assert_eq!(format!("{:?}", creds("AKID")), "Credentials(AKID, ******)");
    }
}
