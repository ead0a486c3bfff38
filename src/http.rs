//! http: an HTTP client (reqwest over rustls) with pooled connections. Requests wait like every
//! other primitive: blocking in plain code, yielding in tasks, so many run at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mlua::{Lua, LuaString, Result, Table, Value};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Kind};
use crate::func;
use crate::bridge::{Need, self, Class, ModuleDef, TypeDef};
use crate::runtime::{deliver, duration};

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "http",
    description:
        "HTTP client (reqwest, rustls): pooled connections, JSON and form bodies, redirects, TLS options, downloads",
    classes: &[Class::Network],
    functions: &[
        func!("request", "Sends a request; a response whatever its status, or nil and an error (timeout, network, tls, invalid).", [options: "http.RequestOptions"], [response: "http.Response?", err: "essh.Error?"]).needs(&[Need::url_field("net", 0, "url")]),
        func!("get", "GET url.", [url: "string", options: "http.RequestOptions?"], [response: "http.Response?", err: "essh.Error?"]).needs(&[Need::url_host("net", 0)]),
        func!("post", "POST url.", [url: "string", options: "http.RequestOptions?"], [response: "http.Response?", err: "essh.Error?"]).needs(&[Need::url_host("net", 0)]),
        func!("put", "PUT url.", [url: "string", options: "http.RequestOptions?"], [response: "http.Response?", err: "essh.Error?"]).needs(&[Need::url_host("net", 0)]),
        func!("patch", "PATCH url.", [url: "string", options: "http.RequestOptions?"], [response: "http.Response?", err: "essh.Error?"]).needs(&[Need::url_host("net", 0)]),
        func!("delete", "DELETE url.", [url: "string", options: "http.RequestOptions?"], [response: "http.Response?", err: "essh.Error?"]).needs(&[Need::url_host("net", 0)]),
        func!("head", "HEAD url.", [url: "string", options: "http.RequestOptions?"], [response: "http.Response?", err: "essh.Error?"]).needs(&[Need::url_host("net", 0)]),
        func!("download", "Streams url to a file (atomically by default); a status other than 2xx is an error. Returns the bytes written.", [url: "string", path: "string", options: "http.DownloadOptions?"], [bytes: "integer?", err: "essh.Error?"]).needs(&[Need::url_host("net", 0), Need::arg("write", 1)]),
    ],
    constants: &[],
    types: &[
        TypeDef::record("http.RequestOptions", "", &[
                crate::typed!(method: "string?", "GET unless told otherwise."),
                crate::typed!(url: "string?", "Required for request()."),
                crate::typed!(headers: "table<string, string>?"),
                crate::typed!(query: "table<string, string|number>?", "Added to the URL's query string."),
                crate::typed!(body: "string?"),
                crate::typed!(json: "any", "Sent as JSON (Content-Type: application/json)."),
                crate::typed!(form: "table<string, string|number>?", "Sent as application/x-www-form-urlencoded."),
                crate::typed!(timeout: "number?", "Seconds for the whole request (default 30)."),
                crate::typed!(follow_redirects: "boolean?", "Default true."),
                crate::typed!(max_redirects: "integer?", "Default 10."),
                crate::typed!(ca_file: "string?", "PEM file of extra trusted certificates."),
                crate::typed!(insecure: "boolean?", "Skip certificate verification (logs a warning)."),
                crate::typed!(proxy: "string?", "Proxy URL for every scheme."),
            ]),
        TypeDef::record("http.DownloadOptions", "Request options, plus:", &[
                crate::typed!(atomic: "boolean?", "Temporary file and rename (default true)."),
                crate::typed!(on_progress: "fun(received: integer, total: integer?)?", "Called as data arrives."),
            ]),
        TypeDef::record("http.Response", "", &[
                crate::typed!(status: "integer"),
                crate::typed!(headers: "table<string, string>", "Lower-case names; lookups ignore case. Repeated headers are joined with \", \"."),
                crate::typed!(body: "string"),
                crate::typed!(url: "string", "The final URL, after redirects."),
                crate::typed!(ok: "boolean", "2xx status."),
                crate::typed!(json: "fun(): any, essh.Error?", "Decodes the body as JSON."),
            ]),
    ],
    build,
};

/// What distinguishes one pooled client from another.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    ca_file: Option<String>,
    insecure: bool,
    proxy: Option<String>,
    follow: bool,
    max_redirects: usize,
}

#[derive(Default)]
struct Clients(RefCell<HashMap<ClientKey, reqwest::Client>>);

fn client(lua: &Lua, key: &ClientKey) -> Result<reqwest::Client> {
    if lua.app_data_ref::<Clients>().is_none() {
        lua.set_app_data(Clients::default());
    }
    let clients = lua.app_data_ref::<Clients>().ok_or_else(|| mlua::Error::runtime("http: no client pool"))?;
    if let Some(c) = clients.0.borrow().get(key) {
        return Ok(c.clone());
    }
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("essh/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .redirect(if key.follow {
            reqwest::redirect::Policy::limited(key.max_redirects)
        } else {
            reqwest::redirect::Policy::none()
        });
    if let Some(path) = &key.ca_file {
        let pem =
            std::fs::read(path).map_err(|e| mlua::Error::runtime(Error::from_io(&e, "read CA file", path).message))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| mlua::Error::runtime(format!("http: {path} is not a PEM certificate file: {e}")))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if key.insecure {
        builder = builder.danger_accept_invalid_certs(true);
    }
    if let Some(proxy) = &key.proxy {
        let p =
            reqwest::Proxy::all(proxy).map_err(|e| mlua::Error::runtime(format!("http: bad proxy '{proxy}': {e}")))?;
        builder = builder.proxy(p);
    }
    let c = builder.build().map_err(|e| mlua::Error::runtime(format!("http: cannot build a client: {e}")))?;
    clients.0.borrow_mut().insert(key.clone(), c.clone());
    Ok(c)
}

fn urlencode(t: &Table) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for pair in t.pairs::<String, Value>() {
        let (k, v) = pair?;
        let text = match v {
            Value::String(s) => s.to_str()?.to_string(),
            Value::Integer(n) => n.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Boolean(b) => b.to_string(),
            other => {
                return Err(mlua::Error::runtime(format!(
                    "http: value of '{k}' must be a string or number, got {}",
                    other.type_name()
                )))
            }
        };
        pairs.push((k, text));
    }
    pairs.sort();
    Ok(pairs)
}

const KNOWN: &[&str] = &[
    "method",
    "url",
    "headers",
    "query",
    "body",
    "json",
    "form",
    "timeout",
    "follow_redirects",
    "max_redirects",
    "ca_file",
    "insecure",
    "proxy",
    "atomic",
    "on_progress",
];

/// Builds a request on the Lua thread: everything that reads Lua values happens here.
fn prepare(
    lua: &Lua,
    method: Option<&str>,
    url: Option<String>,
    t: Option<&Table>,
    what: &str,
) -> Result<reqwest::RequestBuilder> {
    let empty = lua.create_table()?;
    let t = t.unwrap_or(&empty);
    if let Some(name) = bridge::unknown_option(t, KNOWN)? {
        return Err(mlua::Error::runtime(format!("{what}: unknown option '{name}'")));
    }
    let url = match url.or(t.raw_get::<Option<String>>("url")?) {
        Some(u) => u,
        None => return Err(mlua::Error::runtime(format!("{what}: option 'url' is required"))),
    };
    let mut parsed =
        url::Url::parse(&url).map_err(|e| mlua::Error::runtime(format!("{what}: bad URL '{url}': {e}")))?;
    if parsed.scheme() != "http" && parsed.scheme() != "https" {
        return Err(mlua::Error::runtime(format!("{what}: unsupported URL scheme '{}'", parsed.scheme())));
    }
    if let Some(q) = t.raw_get::<Option<Table>>("query")? {
        let pairs = urlencode(&q)?;
        parsed.query_pairs_mut().extend_pairs(pairs);
    }
    let method = match method {
        Some(m) => m.to_owned(),
        None => t.raw_get::<Option<String>>("method")?.unwrap_or_else(|| "GET".into()).to_ascii_uppercase(),
    };
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| mlua::Error::runtime(format!("{what}: bad method '{method}'")))?;
    let insecure = t.raw_get::<Option<bool>>("insecure")?.unwrap_or(false);
    if insecure {
        let host = parsed.host_str().unwrap_or("");
        bridge::warn(lua, &format!("TLS certificate verification is off for {host} (insecure = true)"));
    }
    let key = ClientKey {
        ca_file: t.raw_get("ca_file")?,
        insecure,
        proxy: t.raw_get("proxy")?,
        follow: t.raw_get::<Option<bool>>("follow_redirects")?.unwrap_or(true),
        max_redirects: t.raw_get::<Option<usize>>("max_redirects")?.unwrap_or(10),
    };
    let timeout = match t.raw_get::<Option<f64>>("timeout")? {
        Some(s) => duration(s, what)?,
        None => Duration::from_secs(30),
    };
    let mut req = client(lua, &key)?.request(method, parsed).timeout(timeout);
    if let Some(headers) = t.raw_get::<Option<Table>>("headers")? {
        for pair in headers.pairs::<String, String>() {
            let (k, v) = pair?;
            req = req.header(k, v);
        }
    }
    let json_value: Value = t.raw_get("json")?;
    if let Some(body) = t.raw_get::<Option<LuaString>>("body")? {
        req = req.body(body.as_bytes().to_vec());
    } else if !json_value.is_nil() {
        let text = crate::json::encode(lua, json_value, &crate::json::EncodeOptions::default())?
            .map_err(|e| mlua::Error::runtime(format!("{what}: cannot encode the json option: {}", e.message)))?;
        req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(text);
    } else if let Some(form) = t.raw_get::<Option<Table>>("form")? {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(urlencode(&form)?).finish();
        req = req.header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
    }
    Ok(req)
}

/// Whether a rustls error is somewhere in the chain. An io::Error's `source()` skips the error
/// it wraps, so wrapped errors are looked into with `get_ref`.
fn caused_by_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            if caused_by_tls(inner) {
                return true;
            }
        }
        next = e.source();
    }
    false
}

/// An error and its causes, outermost first, as one line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    chain
}

/// Maps a reqwest failure to a structured error.
fn failure(url: &str, err: &reqwest::Error) -> Error {
    let chain = error_chain(err);
    let kind = if err.is_timeout() {
        Kind::Timeout
    } else if caused_by_tls(err) {
        Kind::Tls
    } else if err.is_builder() {
        Kind::Invalid
    } else {
        Kind::Network
    };
    let retryable = matches!(kind, Kind::Timeout | Kind::Network);
    Error::new(kind, format!("{url}: {chain}")).with("url", url).retryable(retryable)
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    url: String,
}

fn headers_of(map: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in map {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.iter_mut().find(|(n, _)| n == name.as_str()) {
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(&v);
            }
            None => out.push((name.as_str().to_owned(), v)),
        }
    }
    out
}


fn response_table(lua: &Lua, reply: Reply) -> Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("status", reply.status)?;
    t.raw_set("ok", (200..300).contains(&reply.status))?;
    t.raw_set("url", reply.url)?;
    t.raw_set("body", lua.create_string(&reply.body)?)?;
    let headers = lua.create_table()?;
    for (k, v) in reply.headers {
        headers.raw_set(k, v)?;
    }
    t.raw_set("headers", headers)?;
    let finish: mlua::Function = lua.named_registry_value("essh_native.http.finish")?;
    finish.call(t)
}

async fn send(req: reqwest::RequestBuilder, shown: String) -> crate::error::Result<Reply> {
    let resp = req.send().await.map_err(|e| failure(&shown, &e))?;
    let status = resp.status().as_u16();
    let headers = headers_of(resp.headers());
    let url = resp.url().to_string();
    let body = resp.bytes().await.map_err(|e| failure(&shown, &e))?.to_vec();
    Ok(Reply { status, headers, body, url })
}

fn download_options(t: Option<&Table>) -> Result<bool> {
    Ok(match t {
        Some(t) => t.raw_get::<Option<bool>>("atomic")?.unwrap_or(true),
        None => true,
    })
}

/// Streams the body to `path`, reporting progress through `progress`.
async fn download(
    req: reqwest::RequestBuilder,
    shown: String,
    path: String,
    atomic: bool,
    progress: Option<&tokio::sync::watch::Sender<Received>>,
) -> crate::error::Result<u64> {
    let mut resp = req.send().await.map_err(|e| failure(&shown, &e))?;
    if !resp.status().is_success() {
        return Err(Error::new(Kind::Remote, format!("{shown}: HTTP {}", resp.status()))
            .with("status", resp.status().as_u16() as i64));
    }
    let total = resp.content_length();
    let target = if atomic { crate::fs::temporary_beside(&path) } else { path.clone() };
    let mut file = tokio::fs::File::create(&target).await.map_err(|e| Error::from_io(&e, "create", &target))?;
    let cleanup = crate::fs::Leftover::new(atomic.then(|| target.clone()));
    let mut received = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(|e| failure(&shown, &e))? {
        file.write_all(&chunk).await.map_err(|e| Error::from_io(&e, "write", &target))?;
        received += chunk.len() as u64;
        if let Some(p) = progress {
            let _ = p.send((received, total));
        }
    }
    file.sync_all().await.map_err(|e| Error::from_io(&e, "sync", &target))?;
    drop(file);
    if atomic {
        tokio::fs::rename(&target, &path).await.map_err(|e| Error::from_io(&e, "replace", &path))?;
    }
    cleanup.commit();
    Ok(received)
}

/// Bytes received so far, and the total when the server announced it.
type Received = (u64, Option<u64>);

/// A download reporting progress: Lua pulls updates until it ends.
struct Progress {
    rx: Arc<tokio::sync::Mutex<tokio::sync::watch::Receiver<Received>>>,
    outcome: Arc<std::sync::Mutex<Option<crate::error::Result<u64>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl mlua::UserData for Progress {}


fn build(lua: &Lua, m: &Table) -> Result<()> {
    let decode = crate::bridge::function(lua, "response.json", |lua, body: LuaString| {
        let opts = crate::json::DecodeOptions { all: false, max_depth: crate::luavalue::DEFAULT_MAX_DEPTH };
        crate::error::pair(lua, crate::json::decode(lua, &body.as_bytes(), &opts)?)
    })?;
    let native = lua.create_table()?;
    native.raw_set("decode", decode)?;
    let finish: mlua::Function =
        bridge::run_embedded(lua, "http", include_str!("lua/http_response.lua"), native)?;
    lua.set_named_registry_value("essh_native.http.finish", finish)?;

    crate::runtime::export_waiting(lua, m, "http.request", |lua, options: Table| {
        let req = prepare(lua, None, None, Some(&options), "http.request")?;
        let shown: String = options.raw_get("url")?;
        Ok(async move {
            let reply = send(req, shown).await?;
            deliver(move |lua| response_table(lua, reply))
        })
    })?;
    for (name, method) in [
        ("http.get", "GET"),
        ("http.post", "POST"),
        ("http.put", "PUT"),
        ("http.patch", "PATCH"),
        ("http.delete", "DELETE"),
        ("http.head", "HEAD"),
    ] {
        crate::runtime::export_waiting(lua, m, name, move |lua, (url, options): (String, Option<Table>)| {
            let req = prepare(lua, Some(method), Some(url.clone()), options.as_ref(), name)?;
            Ok(async move {
                let reply = send(req, url).await?;
                deliver(move |lua| response_table(lua, reply))
            })
        })?;
    }
    let plain = crate::runtime::waiting(lua, "http.download", |lua, (url, path, options): (String, String, Option<Table>)| {
        let req = prepare(lua, Some("GET"), Some(url.clone()), options.as_ref(), "http.download")?;
        let atomic = download_options(options.as_ref())?;
        Ok(async move {
            let n = download(req, url, path, atomic, None).await?;
            deliver(move |_| Ok(n))
        })
    })?;
    let start =
        bridge::function(lua, "http.download", |lua, (url, path, options): (String, String, Option<Table>)| {
            let req = prepare(lua, Some("GET"), Some(url.clone()), options.as_ref(), "http.download")?;
            let atomic = download_options(options.as_ref())?;
            let (tx, rx) = tokio::sync::watch::channel((0u64, None));
            let outcome = Arc::new(std::sync::Mutex::new(None));
            let slot = outcome.clone();
            // The sender goes (ending the updates) only once the outcome is in its slot.
            let task = crate::runtime::get(lua)?.handle().spawn(async move {
                let r = download(req, url, path, atomic, Some(&tx)).await;
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                drop(tx);
            });
            lua.create_userdata(Progress { rx: Arc::new(tokio::sync::Mutex::new(rx)), outcome, task })
        })?;
    let next_update = crate::runtime::waiting(lua, "http.download", |_, job: mlua::UserDataRef<Progress>| {
        let rx = job.rx.clone();
        Ok(async move {
            let mut rx = rx.lock().await;
            // Err: the sender is gone, so the download has ended.
            match rx.changed().await {
                Ok(()) => {
                    let (received, total) = *rx.borrow_and_update();
                    deliver(move |_| Ok((received, total)))
                }
                Err(_) => deliver(|_| Ok(Value::Nil)),
            }
        })
    })?;
    let finish = bridge::function(lua, "http.download", |lua, job: mlua::UserDataRef<Progress>| {
        match job.outcome.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(r) => crate::error::pair(lua, r),
            None => {
                crate::error::pair::<Value>(lua, Err(Error::new(Kind::Internal, "the download ended without a result")))
            }
        }
    })?;
    let native = lua.create_table()?;
    native.raw_set("plain", plain)?;
    native.raw_set("start", start)?;
    native.raw_set("next_update", next_update)?;
    native.raw_set("finish", finish)?;
    let download_fn: mlua::Function =
        bridge::run_embedded(lua, "http", include_str!("lua/http_download.lua"), native)?;
    m.raw_set("download", download_fn)?;
    Ok(())
}
