//! S3 over its REST API: objects from and to memory or files (multipart above a threshold,
//! parts sent concurrently, aborted on failure), listings followed past each page, heads,
//! deletes and presigned URLs. Keys are encoded once, as S3 signs them.

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::context::Context;
use super::settings::Endpoint;
use super::sigv4::{self, uri_encode};
use super::transport::{self, Call};
use super::xml::{self, Node};
use crate::error::{Error, Kind};

pub const MIB: u64 = 1024 * 1024;

/// How an upload is split.
#[derive(Clone, Copy)]
pub struct Multipart {
    pub threshold: u64,
    pub part_size: u64,
    pub concurrency: usize,
}

impl Default for Multipart {
    fn default() -> Multipart {
        Multipart { threshold: 8 * MIB, part_size: 8 * MIB, concurrency: 8 }
    }
}

/// Where an object's requests go: the endpoint, the host and the encoded path.
pub fn locate(ctx: &Context, bucket: &str, key: &str) -> Result<(Endpoint, Option<String>, String), Error> {
    if bucket.is_empty() {
        return Err(Error::invalid("aws s3: the bucket name is empty"));
    }
    let endpoint = ctx.endpoint("s3")?;
    let key = uri_encode(key, true);
    if ctx.resolved.settings.s3_path_style(&endpoint, bucket) {
        let path = if key.is_empty() { format!("/{bucket}") } else { format!("/{bucket}/{key}") };
        Ok((endpoint.clone(), None, path))
    } else {
        let host = format!("{bucket}.{}", endpoint.base.host_str().unwrap_or_default());
        Ok((endpoint.clone(), Some(host), format!("/{key}")))
    }
}

fn call(ctx: &Context, method: reqwest::Method, bucket: &str, key: &str, what: &str) -> Result<(Endpoint, Call), Error> {
    let (endpoint, host, path) = locate(ctx, bucket, key)?;
    let mut c = Call::new(method, path, format!("s3 {what} s3://{bucket}/{key}"));
    c.host = host;
    Ok((endpoint, c))
}

/// Options of a put besides the body.
#[derive(Default, Clone)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub multipart: Multipart,
    /// Writes only over the object with this ETag (If-Match).
    pub if_match: Option<String>,
    /// Writes only when no object matches (If-None-Match; `*`: when there is none).
    pub if_none_match: Option<String>,
}

/// The conditions of a put, as headers of the request that makes the object.
fn conditions(opts: &PutOptions) -> Vec<(String, String)> {
    let mut h = Vec::new();
    if let Some(tag) = &opts.if_match {
        h.push(("if-match".to_string(), tag.clone()));
    }
    if let Some(tag) = &opts.if_none_match {
        h.push(("if-none-match".to_string(), tag.clone()));
    }
    h
}

fn put_headers(opts: &PutOptions) -> Vec<(String, String)> {
    let mut h = Vec::new();
    if let Some(ct) = &opts.content_type {
        h.push(("content-type".to_string(), ct.clone()));
    }
    for (k, v) in &opts.metadata {
        h.push((format!("x-amz-meta-{}", k.to_ascii_lowercase()), v.clone()));
    }
    h
}

/// A part's CRC32 as S3's x-amz-checksum-crc32 carries it (base64 of the big-endian value):
/// S3 checks it on arrival, as the AWS SDKs ask it to.
fn crc32(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(data).to_be_bytes())
}

fn etag(headers: &reqwest::header::HeaderMap) -> String {
    headers.get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// Where an upload's bytes are.
pub enum Data {
    Memory(bytes::Bytes),
    File(String),
}

/// Puts an object; returns its ETag and how many parts it went in (0: a single PUT).
pub async fn put(ctx: &Context, bucket: &str, key: &str, data: Data, opts: &PutOptions) -> Result<(String, usize), Error> {
    let size = match &data {
        Data::Memory(b) => b.len() as u64,
        Data::File(path) => tokio::fs::metadata(path).await.map_err(|e| Error::from_io(&e, "read", path))?.len(),
    };
    if size <= opts.multipart.threshold {
        let body = match data {
            Data::Memory(b) => b,
            Data::File(path) => tokio::fs::read(&path).await.map_err(|e| Error::from_io(&e, "read", &path))?.into(),
        };
        let (endpoint, mut c) = call(ctx, reqwest::Method::PUT, bucket, key, "PutObject")?;
        c.headers = put_headers(opts);
        c.headers.extend(conditions(opts));
        c.headers.push(("x-amz-checksum-crc32".into(), crc32(&body)));
        c.payload_hash = Some(sigv4::sha256_hex(&body));
        c.body = body;
        let (headers, _) = ctx.send(&endpoint, &c).await?;
        return Ok((etag(&headers), 0));
    }
    multipart(ctx, bucket, key, data, size, opts).await
}

async fn read_part(data: &Data, offset: u64, len: u64) -> Result<bytes::Bytes, Error> {
    match data {
        Data::Memory(b) => Ok(b.slice(offset as usize..(offset + len) as usize)),
        Data::File(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                use std::os::unix::fs::FileExt;
                let file = std::fs::File::open(&path).map_err(|e| Error::from_io(&e, "open", &path))?;
                let mut buf = vec![0u8; len as usize];
                file.read_exact_at(&mut buf, offset).map_err(|e| Error::from_io(&e, "read", &path))?;
                Ok(bytes::Bytes::from(buf))
            })
            .await
            .map_err(|e| Error::new(Kind::Internal, format!("aws s3: reading a part failed: {e}")))?
        }
    }
}

async fn multipart(ctx: &Context, bucket: &str, key: &str, data: Data, size: u64, opts: &PutOptions) -> Result<(String, usize), Error> {
    let part_size = opts.multipart.part_size.max(5 * MIB);
    let parts = size.div_ceil(part_size) as usize;
    if parts > 10_000 {
        return Err(Error::invalid(format!("aws s3: {size} bytes in parts of {part_size} make more than 10,000 parts")));
    }
    let (endpoint, mut start) = call(ctx, reqwest::Method::POST, bucket, key, "CreateMultipartUpload")?;
    start.query.push(("uploads".into(), String::new()));
    start.headers = put_headers(opts);
    start.headers.push(("x-amz-checksum-algorithm".into(), "CRC32".into()));
    let (_, body) = ctx.send(&endpoint, &start).await?;
    let upload_id = xml::parse(&body)
        .ok()
        .and_then(|root| root.text_of("UploadId").map(String::from))
        .ok_or_else(|| Error::new(Kind::Remote, format!("aws s3 CreateMultipartUpload s3://{bucket}/{key}: no UploadId")))?;
    let data = &data;
    let upload_id_ref = &upload_id;
    let results: Vec<Result<(usize, String, String), Error>> = futures::stream::iter(1..=parts)
        .map(|n| async move {
            let offset = (n as u64 - 1) * part_size;
            let len = part_size.min(size - offset);
            let bytes = read_part(data, offset, len).await?;
            let (endpoint, mut c) = call(ctx, reqwest::Method::PUT, bucket, key, "UploadPart")?;
            c.query.push(("partNumber".into(), n.to_string()));
            c.query.push(("uploadId".into(), upload_id_ref.clone()));
            let (hash, checksum) = tokio::task::spawn_blocking({
                let b = bytes.clone();
                move || (sigv4::sha256_hex(&b), crc32(&b))
            })
            .await
            .map_err(|e| Error::new(Kind::Internal, e.to_string()))?;
            c.payload_hash = Some(hash);
            c.headers.push(("x-amz-checksum-crc32".into(), checksum.clone()));
            c.body = bytes;
            let (headers, _) = ctx.send(&endpoint, &c).await?;
            Ok((n, etag(&headers), checksum))
        })
        .buffer_unordered(opts.multipart.concurrency.max(1))
        .collect()
        .await;
    let mut done = Vec::with_capacity(parts);
    let mut failure = None;
    for r in results {
        match r {
            Ok(p) => done.push(p),
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        abort(ctx, bucket, key, &upload_id).await;
        return Err(e);
    }
    done.sort();
    let mut doc = String::from("<CompleteMultipartUpload>");
    for (n, tag, checksum) in &done {
        doc.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag><ChecksumCRC32>{checksum}</ChecksumCRC32></Part>",
            escape(tag)
        ));
    }
    doc.push_str("</CompleteMultipartUpload>");
    let (endpoint, mut complete) = call(ctx, reqwest::Method::POST, bucket, key, "CompleteMultipartUpload")?;
    complete.query.push(("uploadId".into(), upload_id.clone()));
    complete.headers.push(("content-type".into(), "application/xml".into()));
    complete.headers.extend(conditions(opts));
    complete.body = doc.into();
    match ctx.send(&endpoint, &complete).await {
        Ok((_, body)) => {
            // S3 may answer 200 with an error document.
            let root = xml::parse(&body).map_err(|e| Error::new(Kind::Remote, format!("aws s3 CompleteMultipartUpload: {e}")))?;
            if root.name == "Error" {
                abort(ctx, bucket, key, &upload_id).await;
                return Err(transport::error_of("s3 CompleteMultipartUpload", 500, &Default::default(), &body));
            }
            Ok((root.text_of("ETag").unwrap_or_default().to_string(), parts))
        }
        Err(e) => {
            abort(ctx, bucket, key, &upload_id).await;
            Err(e)
        }
    }
}

async fn abort(ctx: &Context, bucket: &str, key: &str, upload_id: &str) {
    if let Ok((endpoint, mut c)) = call(ctx, reqwest::Method::DELETE, bucket, key, "AbortMultipartUpload") {
        c.query.push(("uploadId".into(), upload_id.to_string()));
        let _ = ctx.send(&endpoint, &c).await;
    }
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An object's body in memory.
/// An object's headers and body.
pub async fn get(
    ctx: &Context,
    bucket: &str,
    key: &str,
    range: Option<String>,
    if_match: Option<String>,
) -> Result<(reqwest::header::HeaderMap, bytes::Bytes), Error> {
    let (endpoint, mut c) = call(ctx, reqwest::Method::GET, bucket, key, "GetObject")?;
    if let Some(r) = range {
        c.headers.push(("range".into(), r));
    }
    if let Some(tag) = if_match {
        c.headers.push(("if-match".into(), tag));
    }
    ctx.send(&endpoint, &c).await
}

/// Streams an object to `path` (a temporary file beside it, renamed at the end); its headers
/// and the bytes.
pub async fn download(ctx: &Context, bucket: &str, key: &str, path: &str) -> Result<(reqwest::header::HeaderMap, u64), Error> {
    let (endpoint, c) = call(ctx, reqwest::Method::GET, bucket, key, "GetObject")?;
    let retry = ctx.retry();
    let creds = ctx.credentials(retry).await?;
    let mut resp = transport::execute(&ctx.http, &endpoint, Some(&creds), &c, retry).await?;
    let headers = resp.headers().clone();
    let target = crate::fs::temporary_beside(path);
    let mut file = tokio::fs::File::create(&target).await.map_err(|e| Error::from_io(&e, "create", &target))?;
    let cleanup = crate::fs::Leftover::new(Some(target.clone()));
    let mut received = 0u64;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Error::new(Kind::Network, format!("aws s3 GetObject s3://{bucket}/{key}: {e}")).retryable(true))?
    {
        file.write_all(&chunk).await.map_err(|e| Error::from_io(&e, "write", &target))?;
        received += chunk.len() as u64;
    }
    file.sync_all().await.map_err(|e| Error::from_io(&e, "sync", &target))?;
    drop(file);
    tokio::fs::rename(&target, path).await.map_err(|e| Error::from_io(&e, "replace", path))?;
    cleanup.commit();
    Ok((headers, received))
}

/// An object's metadata: (name, value) pairs of its headers.
pub async fn head(ctx: &Context, bucket: &str, key: &str) -> Result<reqwest::header::HeaderMap, Error> {
    let (endpoint, c) = call(ctx, reqwest::Method::HEAD, bucket, key, "HeadObject")?;
    Ok(ctx.send(&endpoint, &c).await?.0)
}

pub async fn delete(ctx: &Context, bucket: &str, key: &str) -> Result<(), Error> {
    let (endpoint, c) = call(ctx, reqwest::Method::DELETE, bucket, key, "DeleteObject")?;
    ctx.send(&endpoint, &c).await.map(|_| ())
}

pub async fn create_bucket(ctx: &Context, bucket: &str) -> Result<(), Error> {
    let (endpoint, mut c) = call(ctx, reqwest::Method::PUT, bucket, "", "CreateBucket")?;
    let region = endpoint.region.clone();
    if region != "us-east-1" {
        c.body = format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        )
        .into();
    }
    ctx.send(&endpoint, &c).await.map(|_| ())
}

/// What a listing asks for.
pub struct Listing {
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    pub max: Option<usize>,
    pub page: Option<u64>,
}

/// A listing: the pages' `Contents` and `CommonPrefixes`, up to `max` entries.
pub async fn list(ctx: &Context, bucket: &str, listing: Listing) -> Result<Vec<Node>, Error> {
    let Listing { prefix, delimiter, max, page } = listing;
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (endpoint, mut c) = call(ctx, reqwest::Method::GET, bucket, "", "ListObjectsV2")?;
        c.what = format!("s3 ListObjectsV2 s3://{bucket}");
        c.query.push(("list-type".into(), "2".into()));
        if let Some(p) = &prefix {
            c.query.push(("prefix".into(), p.clone()));
        }
        if let Some(d) = &delimiter {
            c.query.push(("delimiter".into(), d.clone()));
        }
        if let Some(t) = &token {
            c.query.push(("continuation-token".into(), t.clone()));
        }
        if let Some(n) = page {
            c.query.push(("max-keys".into(), n.to_string()));
        }
        let (_, body) = ctx.send(&endpoint, &c).await?;
        let root = xml::parse(&body).map_err(|e| Error::new(Kind::Remote, format!("aws s3 ListObjectsV2: {e}")))?;
        for child in &root.children {
            if child.name == "Contents" || child.name == "CommonPrefixes" {
                out.push(child.clone());
                if max.is_some_and(|m| out.len() >= m) {
                    return Ok(out);
                }
            }
        }
        token = match root.text_of("IsTruncated") {
            Some("true") => root.text_of("NextContinuationToken").map(String::from),
            _ => None,
        };
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// A URL that lets its holder `method` the object for `expires` seconds.
pub async fn presign(ctx: &Context, method: &str, bucket: &str, key: &str, expires: u64) -> Result<String, Error> {
    let (endpoint, c) = call(ctx, reqwest::Method::GET, bucket, key, "presign")?;
    let creds = ctx.credentials(ctx.retry()).await?;
    let mut url = transport::url_of(&endpoint, &c)?;
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let query = sigv4::presign(
        &sigv4::Request { method, host: &host, path: url.path(), query: &[], headers: &[], payload_hash: "UNSIGNED-PAYLOAD" },
        &creds,
        &sigv4::Scope { region: &endpoint.region, service: "s3", amz_date: &amz_date },
        expires,
    );
    url.set_query(Some(&sigv4::query_string(&query)));
    Ok(url.to_string())
}
