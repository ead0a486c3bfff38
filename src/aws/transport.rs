//! Signed AWS requests over essh's reqwest: each attempt signed anew, throttling, 5xx and
//! network failures retried with full-jitter backoff inside the call's deadline, and AWS's
//! error documents (XML or JSON) read into structured errors.

use std::time::{Duration, Instant};

use super::settings::Endpoint;
use super::sigv4::{self, Credentials};
use super::xml;
use crate::error::{Error, Kind};

/// One request: the path already percent-encoded, the query decoded.
pub struct Call {
    pub method: reqwest::Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: bytes::Bytes,
    /// None: the sha256 of the body. S3 sends it in x-amz-content-sha256 as well.
    pub payload_hash: Option<String>,
    /// What the error messages call it: "ec2 DescribeInstances".
    pub what: String,
    /// Overrides the endpoint's host (S3's virtual-hosted buckets).
    pub host: Option<String>,
}

impl Call {
    pub fn new(method: reqwest::Method, path: impl Into<String>, what: impl Into<String>) -> Call {
        Call {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: bytes::Bytes::new(),
            payload_hash: None,
            what: what.into(),
            host: None,
        }
    }
}

/// How long and how often a call may try.
#[derive(Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub deadline: Instant,
}

fn amz_date() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

/// host[:port] as the Host header carries it.
fn host_header(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// The URL of `call` at `endpoint`.
pub fn url_of(endpoint: &Endpoint, call: &Call) -> Result<url::Url, Error> {
    let mut url = endpoint.base.clone();
    if let Some(host) = &call.host {
        url.set_host(Some(host)).map_err(|e| Error::invalid(format!("aws: bad host '{host}': {e}")))?;
    }
    let base = url.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{base}{}", call.path));
    if call.query.is_empty() {
        url.set_query(None);
    } else {
        url.set_query(Some(&sigv4::query_string(&call.query)));
    }
    Ok(url)
}

/// The request, signed when there are credentials.
fn build(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    creds: Option<&Credentials>,
    call: &Call,
    remaining: Duration,
) -> Result<reqwest::RequestBuilder, Error> {
    let url = url_of(endpoint, call)?;
    let payload_hash = call.payload_hash.clone().unwrap_or_else(|| sigv4::sha256_hex(&call.body));
    let mut headers = call.headers.clone();
    if endpoint.signing_name == "s3" {
        headers.push(("x-amz-content-sha256".into(), payload_hash.clone()));
    }
    let mut req = http.request(call.method.clone(), url.clone()).timeout(remaining);
    if let Some(creds) = creds {
        let host = host_header(&url);
        let encoded_path = url.path().to_string();
        let signed = sigv4::sign(
            &sigv4::Request {
                method: call.method.as_str(),
                host: &host,
                path: &encoded_path,
                query: &call.query,
                headers: &headers,
                payload_hash: &payload_hash,
            },
            creds,
            &sigv4::Scope { region: &endpoint.region, service: &endpoint.signing_name, amz_date: &amz_date() },
        );
        headers.extend(signed);
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    Ok(req.body(call.body.clone()))
}

/// Error codes that mean "slow down".
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

const AUTH: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "UnauthorizedOperation",
    "MissingAuthenticationToken",
];

/// The structured error of a non-2xx answer.
pub fn error_of(what: &str, status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Error {
    let (mut code, mut message) = (String::new(), String::new());
    if let Ok(root) = xml::parse(body) {
        code = root.find("Code").map(|n| n.text.clone()).unwrap_or_default();
        message = root.find("Message").or_else(|| root.find("message")).map(|n| n.text.clone()).unwrap_or_default();
    } else if let Ok(serde_json::Value::Object(doc)) = serde_json::from_slice::<serde_json::Value>(body) {
        let text = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(String::from);
        code = text("__type").or_else(|| text("code")).or_else(|| text("Code")).unwrap_or_default();
        message = text("message").or_else(|| text("Message")).unwrap_or_default();
    }
    if code.is_empty() {
        code = headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or(v).to_string())
            .unwrap_or_else(|| format!("HTTP{status}"));
    }
    // JSON protocols qualify codes: "com.amazonaws.ssm#ParameterNotFound".
    let code = code.rsplit('#').next().unwrap_or(&code).to_string();
    let throttled = THROTTLING.contains(&code.as_str()) || status == 429;
    let kind = if AUTH.contains(&code.as_str()) || status == 401 || status == 403 {
        Kind::Auth
    } else if status == 404 || code.starts_with("NoSuch") || code.ends_with("NotFound") {
        Kind::NotFound
    } else if status == 412 || code == "PreconditionFailed" || code == "ConditionalRequestConflict" {
        Kind::Conflict
    } else if code.contains("AlreadyExists") || code.contains("AlreadyOwned") {
        Kind::AlreadyExists
    } else if throttled || status >= 500 {
        Kind::Remote
    } else {
        Kind::Invalid
    };
    let request_id = ["x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"]
        .iter()
        .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
        .map(String::from);
    let shown = if message.is_empty() { code.clone() } else { format!("{code}: {message}") };
    let mut err = Error::new(kind, format!("aws {what}: {shown} (HTTP {status})"))
        .with("code", code)
        .with("status", status as i64)
        .retryable(throttled || status >= 500);
    if let Some(id) = request_id {
        err = err.with("request_id", id);
    }
    err
}

fn network_error(what: &str, err: &reqwest::Error) -> Error {
    let kind = if err.is_timeout() { Kind::Timeout } else { Kind::Network };
    Error::new(kind, format!("aws {what}: {}", crate::http::error_chain(err))).retryable(true)
}

/// A random duration in [0, cap): the standard retry mode's full jitter.
fn jitter(cap: Duration) -> Duration {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    let r = (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64;
    cap.mul_f64(r)
}

/// Sends `call` until it succeeds, fails for good, or runs out of attempts or time; the
/// successful response's body is left to read.
pub async fn execute(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    creds: Option<&Credentials>,
    call: &Call,
    retry: Retry,
) -> Result<reqwest::Response, Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let remaining = retry.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::new(Kind::Timeout, format!("aws {}: no answer within the timeout", call.what)).retryable(true));
        }
        let outcome = match build(http, endpoint, creds, call, remaining)?.send().await {
            Ok(resp) if resp.status().is_success() => return Ok(resp),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp.bytes().await.unwrap_or_default();
                error_of(&call.what, status, &headers, &body)
            }
            Err(e) => network_error(&call.what, &e),
        };
        if !outcome.retryable || attempt >= retry.attempts {
            return Err(outcome.with("attempts", attempt as i64));
        }
        let cap = Duration::from_millis(500).saturating_mul(1 << (attempt - 1).min(6)).min(Duration::from_secs(20));
        let pause = jitter(cap).min(retry.deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(pause).await;
    }
}

/// [`execute`], and the whole body.
pub async fn send(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    creds: Option<&Credentials>,
    call: &Call,
    retry: Retry,
) -> Result<(reqwest::header::HeaderMap, bytes::Bytes), Error> {
    let resp = execute(http, endpoint, creds, call, retry).await?;
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|e| network_error(&call.what, &e))?;
    Ok((headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_xml_and_json_errors() {
        let h = reqwest::header::HeaderMap::new();
        let e = error_of("ec2 X", 400, &h, b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow</Message></Error></Errors></Response>");
        assert!(e.retryable && e.message == "aws ec2 X: RequestLimitExceeded: slow (HTTP 400)", "{}", e.message);
        let e = error_of("ssm GetParameter", 400, &h, br#"{"__type":"com.amazonaws.ssm#ParameterNotFound","message":"no"}"#);
        assert_eq!((e.kind, e.retryable), (Kind::NotFound, false));
        let e = error_of("s3 GET", 403, &h, b"<Error><Code>SignatureDoesNotMatch</Code></Error>");
        assert_eq!(e.kind, Kind::Auth);
        assert!(error_of("s3 GET", 503, &h, b"").retryable);
        let e = error_of("s3 PutObject", 412, &h, b"<Error><Code>PreconditionFailed</Code></Error>");
        assert_eq!((e.kind, e.retryable), (Kind::Conflict, false));
        assert_eq!(error_of("s3 PutObject", 409, &h, b"<Error><Code>ConditionalRequestConflict</Code></Error>").kind, Kind::Conflict);
        assert_eq!(error_of("s3 CreateBucket", 409, &h, b"<Error><Code>BucketAlreadyOwnedByYou</Code></Error>").kind, Kind::AlreadyExists);
    }
}
