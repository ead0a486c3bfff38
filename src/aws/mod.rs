//! aws: EC2, S3, STS and SSM clients, and any other Query or JSON API through `aws.call`, on
//! essh's own SigV4 signer and reqwest. Configuration and credentials resolve as the AWS CLI
//! resolves them, lazily, on a client's first call.

mod context;
pub mod credentials;
pub mod profile;
mod s3;
pub mod settings;
pub mod sigv4;
pub mod transport;
pub mod xml;

use std::sync::{Arc, OnceLock};

use mlua::{Lua, MultiValue, Result, Table, UserData, UserDataRef, Value};

use crate::bridge::{self, Class, ModuleDef, Need, Resources, TypeDef};
use crate::error::{Error, Kind};
use crate::func;
use crate::luavalue::is_secret;
use crate::runtime::{deliver, waiting};
use context::{Context, Lazy};
use settings::Options;
use transport::Call;

const NET: &str = "the service's endpoint, and what the credentials come from (net of STS or a metadata endpoint, run of a credential_process)";
static CLIENT_NEEDS: &[Need] = &[Need::custom("net", NET, client_reaches)];
static S3_GET_NEEDS: &[Need] = &[Need::custom("net", NET, client_reaches), Need::custom("write", "the file option", s3_get_file)];
static S3_PUT_NEEDS: &[Need] = &[Need::custom("net", NET, client_reaches), Need::custom("read", "the file option", s3_put_file)];

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "aws",
    description: "AWS: EC2, S3, STS and SSM clients and any Query or JSON API (SigV4), configured as the AWS CLI is",
    classes: &[Class::Network],
    functions: &[
        func!("client", "A client of a service with its own options (region, profile, endpoint, credentials); its requests resolve the configuration on first use.", [service: "string", options: "aws.Options?"], [client: "aws.Client"]),
        func!("call", "Any action of a Query (EC2, STS, IAM, RDS...) or JSON (SSM, DynamoDB, KMS...) API: the answer as Lua data.", [service: "string", action: "string", params: "table?", options: "aws.CallOptions?"], [result: "table?", err: "essh.Error?"])
            .needs(&[Need::custom("net", NET, call_reaches)]),
        func!("config", "The configuration a client with these options uses: profile, region, endpoint of a service and where the credentials come from (never the keys).", [options: "aws.Options?"], [config: "aws.Config?", err: "essh.Error?"]),
    ],
    constants: &[
        crate::typed!(ec2: "aws.EC2", "EC2 with the default configuration."),
        crate::typed!(s3: "aws.S3", "S3 with the default configuration."),
        crate::typed!(sts: "aws.STS", "STS with the default configuration."),
        crate::typed!(ssm: "aws.SSM", "SSM with the default configuration."),
    ],
    types: &[
        TypeDef::record("aws.Options", "", &[
            crate::typed!(region: "string?", "Else AWS_REGION, AWS_DEFAULT_REGION, the profile's region."),
            crate::typed!(profile: "string?", "Else AWS_PROFILE, then default; an explicit profile ignores AWS_ACCESS_KEY_ID."),
            crate::typed!(endpoint: "string?", "Else AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's endpoint_url (S3-compatible stores, emulators)."),
            crate::typed!(credentials: "aws.Credentials?", "Keys to sign with (assumeRole's answer, say)."),
            crate::typed!(max_attempts: "integer?", "Tries per request, retrying throttling, 5xx and network errors (default 3, or AWS_MAX_ATTEMPTS)."),
            crate::typed!(timeout: "number?", "Seconds for a whole call, retries included (default 60)."),
            crate::typed!(path_style: "boolean?", "S3 buckets in the path (default: with a custom endpoint, or the profile's s3 addressing_style)."),
        ]),
        TypeDef::record("aws.CallOptions", "aws.Options, plus:", &[
            crate::typed!(version: "string?", "The API version of a Query service essh does not know."),
            crate::typed!(target: "string?", "The X-Amz-Target prefix of a JSON service essh does not know."),
            crate::typed!(json_version: "string?", "1.0 or 1.1, for such a JSON service."),
        ]),
        TypeDef::record("aws.Credentials", "", &[
            crate::typed!(AccessKeyId: "string"),
            crate::typed!(SecretAccessKey: "string|essh.Secret"),
            crate::typed!(SessionToken: "(string|essh.Secret)?"),
        ]),
        TypeDef::record("aws.Config", "", &[
            crate::typed!(profile: "string"),
            crate::typed!(region: "string?"),
            crate::typed!(credentials: "string", "Where the keys come from, in words."),
            crate::typed!(endpoints: "table<string, string>", "The endpoint of ec2, s3, sts and ssm."),
        ]),
        TypeDef::record("aws.DescribeOptions", "aws.Options, plus:", &[
            crate::typed!(Filters: "table?", "AWS's form { { Name = \"tag:Role\", Values = { \"web\" } } }, or { [\"tag:Role\"] = \"web\" | { ... } }."),
            crate::typed!(InstanceIds: "string[]?"),
            crate::typed!(MaxResults: "integer?", "Instances per page; every page is read."),
        ]),
        TypeDef::record("aws.GetOptions", "", &[
            crate::typed!(file: "string?", "Stream the object to this file (replaced atomically); the result is then the size."),
            crate::typed!(range: "string?", "An HTTP Range, as bytes=0-99."),
            crate::typed!(if_match: "string?", "Read only the object with this ETag; another is a conflict error."),
        ]),
        TypeDef::record("aws.PutOptions", "", &[
            crate::typed!(file: "string?", "Upload this file (body must then be nil)."),
            crate::typed!(content_type: "string?"),
            crate::typed!(metadata: "table<string, string>?", "x-amz-meta-* headers."),
            crate::typed!(threshold: "integer?", "Bytes above which the upload is multipart (default 8 MiB)."),
            crate::typed!(part_size: "integer?", "Bytes per part (default 8 MiB, at least 5 MiB)."),
            crate::typed!(concurrency: "integer?", "Parts in flight (default 8)."),
            crate::typed!(if_match: "string?", "Write only over the object with this ETag; another is a conflict error."),
            crate::typed!(if_none_match: "string?", "\"*\": write only when there is no object yet; one is a conflict error."),
        ]),
        TypeDef::record("aws.ListOptions", "", &[
            crate::typed!(prefix: "string?"),
            crate::typed!(delimiter: "string?", "Group keys: entries { Prefix = \"dir/\" } follow the objects."),
            crate::typed!(max: "integer?", "At most this many entries (default: all pages)."),
            crate::typed!(page_size: "integer?", "Keys per request (default 1000, S3's most)."),
        ]),
        TypeDef::record("aws.PresignOptions", "", &[
            crate::typed!(method: "string?", "GET (default) or PUT."),
            crate::typed!(expires: "integer?", "Seconds (default 3600, at most 604800)."),
        ]),
        TypeDef {
            name: "aws.EC2",
            doc: "An EC2 client.",
            fields: &[crate::typed!(service: "string")],
            methods: &[
                func!("describeInstances", "Every instance (reservations flattened, all pages), with AWS's field names; Tags also answers tags by key.", [options: "aws.DescribeOptions?"], [instances: "table[]?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
                func!("describeRegions", "The regions (RegionName, Endpoint, OptInStatus).", [options: "aws.DescribeOptions?"], [regions: "table[]?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
                func!("call", "Any EC2 action (wire names: Filter.1.Name); the answer as EC2 writes it.", [action: "string", params: "table?"], [result: "table?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
            ],
            method_index: Some(ec2_index),
        },
        TypeDef {
            name: "aws.S3",
            doc: "An S3 client.",
            fields: &[crate::typed!(service: "string")],
            methods: &[
                func!("get", "An object's body, or with the file option its size once streamed there, and its head as s3:head gives it (the ETag and LastModified of the version read).", [bucket: "string", key: "string", options: "aws.GetOptions?"], [body: "(string|integer)?", head_or_err: "(table|essh.Error)?"]).needs(S3_GET_NEEDS),
                func!("put", "Stores an object from a string or a file (multipart above the threshold); its ETag.", [bucket: "string", key: "string", body: "string?", options: "aws.PutOptions?"], [result: "{ ETag: string, parts: integer }?", err: "essh.Error?"]).needs(S3_PUT_NEEDS),
                func!("list", "Objects (Key, Size, ETag, LastModified, StorageClass) under a prefix, every page.", [bucket: "string", options: "aws.ListOptions?"], [objects: "table[]?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
                func!("head", "An object's ContentLength, ETag, ContentType, LastModified, Metadata and Date (the server's clock when it answered); a not_found error when there is none.", [bucket: "string", key: "string"], [info: "table?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
                func!("delete", "Deletes an object.", [bucket: "string", key: "string"], [ok: "boolean?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
                func!("createBucket", "Creates a bucket in the client's region.", [bucket: "string"], [ok: "boolean?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
                func!("presign", "A URL that allows a GET or PUT of the object without credentials until it expires.", [bucket: "string", key: "string", options: "aws.PresignOptions?"], [url: "string?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
            ],
            method_index: Some(s3_index),
        },
        TypeDef {
            name: "aws.STS",
            doc: "An STS client.",
            fields: &[crate::typed!(service: "string")],
            methods: &[
                func!("getCallerIdentity", "Account, Arn and UserId of the credentials.", [], [identity: "table?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
                func!("assumeRole", "Credentials of a role (RoleArn, RoleSessionName, DurationSeconds, ExternalId); the secret parts as essh.secret values, ready for aws.client's credentials.", [params: "table"], [result: "table?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
                func!("call", "Any STS action.", [action: "string", params: "table?"], [result: "table?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
            ],
            method_index: Some(sts_index),
        },
        TypeDef {
            name: "aws.SSM",
            doc: "An SSM client.",
            fields: &[crate::typed!(service: "string")],
            methods: &[
                func!("getParameter", "A parameter (a name, or { Name =, WithDecryption = }; decrypted by default); a SecureString's Value is an essh.secret.", [name: "string|table"], [parameter: "table?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
                func!("getParameters", "Parameters by name: { Parameters = ..., InvalidParameters = ... }.", [names: "string[]|table"], [result: "table?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
                func!("call", "Any SSM action.", [action: "string", params: "table?"], [result: "table?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
            ],
            method_index: Some(ssm_index),
        },
        TypeDef {
            name: "aws.Client",
            doc: "A client of another service.",
            fields: &[crate::typed!(service: "string")],
            methods: &[
                func!("call", "Any action of the service.", [action: "string", params: "table?", options: "aws.CallOptions?"], [result: "table?", err: "essh.Error?"]).needs(CLIENT_NEEDS),
            ],
            method_index: Some(generic_index),
        },
    ],
    build,
};

/// A service client: its name and its lazily resolved configuration.
#[derive(Clone)]
pub struct Client {
    service: String,
    lazy: Arc<Lazy>,
}

macro_rules! client_types {
    ($($ty:ident => $index:ident, $label:literal;)*) => {
        $(
            pub struct $ty(Client);

            impl UserData for $ty {
                fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
                    fields.add_field_method_get("service", |_, c| Ok(c.0.service.clone()));
                    fields.add_meta_field_with("__index", $index);
                }

                fn add_methods<M: mlua::UserDataMethods<Self>>(methods: &mut M) {
                    methods.add_meta_method(mlua::MetaMethod::ToString, |_, c, ()| Ok(format!("{} ({})", $label, c.0.service)));
                }
            }
        )*

        /// The client inside any of the client types.
        fn client_of(value: Option<&Value>) -> Option<Client> {
            let Some(Value::UserData(ud)) = value else { return None };
            $(
                if let Ok(c) = ud.borrow::<$ty>() {
                    return Some(c.0.clone());
                }
            )*
            None
        }
    };
}

client_types! {
    Ec2 => ec2_index, "aws.EC2";
    S3 => s3_index, "aws.S3";
    Sts => sts_index, "aws.STS";
    Ssm => ssm_index, "aws.SSM";
    Generic => generic_index, "aws.Client";
}

struct Http(reqwest::Client);

fn http(lua: &Lua) -> Result<reqwest::Client> {
    if let Some(h) = lua.app_data_ref::<Http>() {
        return Ok(h.0.clone());
    }
    let client = reqwest::Client::builder()
        .user_agent(concat!("essh/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(32)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| mlua::Error::runtime(format!("aws: cannot build an HTTP client: {e}")))?;
    lua.set_app_data(Http(client.clone()));
    Ok(client)
}

const OPTION_KEYS: &[&str] = &["region", "profile", "endpoint", "credentials", "max_attempts", "timeout", "path_style"];

/// The revealed text of a string or an essh.secret.
fn revealed(lua: &Lua, value: Value) -> Result<Option<String>> {
    let value = match value {
        Value::Table(t) => crate::luavalue::reveal(lua, t)?,
        v => v,
    };
    match value {
        Value::Nil => Ok(None),
        Value::String(s) => Ok(Some(s.to_str()?.to_string())),
        other => Err(mlua::Error::runtime(format!("aws: expected a string, got {}", other.type_name()))),
    }
}

/// A string as an essh.secret, when essh's Lua library is there.
fn secret(lua: &Lua, text: &str) -> Result<Value> {
    let require: mlua::Function = lua.globals().get("require")?;
    match require.call::<Table>("essh.secret") {
        Ok(m) => m.get::<mlua::Function>("new")?.call(text),
        Err(_) => Ok(Value::String(lua.create_string(text)?)),
    }
}

fn options(lua: &Lua, t: Option<&Table>, what: &str, extra: &[&str]) -> Result<Options> {
    let Some(t) = t else { return Ok(Options::default()) };
    let known: Vec<&str> = OPTION_KEYS.iter().chain(extra).copied().collect();
    if let Some(name) = bridge::unknown_option(t, &known)? {
        return Err(mlua::Error::runtime(format!("{what}: unknown option '{name}'")));
    }
    let credentials = match t.raw_get::<Option<Table>>("credentials")? {
        Some(c) => {
            let field = |k: &str| -> Result<Option<String>> { revealed(lua, c.raw_get(k)?) };
            match (field("AccessKeyId")?, field("SecretAccessKey")?) {
                (Some(id), Some(secret)) => Some(sigv4::Credentials {
                    access_key_id: id,
                    secret_access_key: secret,
                    session_token: field("SessionToken")?,
                }),
                _ => return Err(mlua::Error::runtime(format!("{what}: credentials need AccessKeyId and SecretAccessKey"))),
            }
        }
        None => None,
    };
    let timeout = match t.raw_get::<Option<f64>>("timeout")? {
        Some(s) => Some(crate::runtime::duration(s, what)?),
        None => None,
    };
    Ok(Options {
        profile: t.raw_get("profile")?,
        region: t.raw_get("region")?,
        endpoint: t.raw_get("endpoint")?,
        credentials,
        max_attempts: t.raw_get("max_attempts")?,
        timeout,
        path_style: t.raw_get("path_style")?,
    })
}

/// Whether an options table changes the configuration (and so needs its own resolution).
fn overrides(t: Option<&Table>) -> bool {
    t.is_some_and(|t| OPTION_KEYS.iter().any(|k| t.raw_get::<Value>(*k).map(|v| !v.is_nil()).unwrap_or(false)))
}

/// The configuration a call uses: the client's, or the client's with a call's options over it.
fn lazy_for(lua: &Lua, client: &Client, t: Option<&Table>, what: &str, extra: &[&str]) -> Result<Arc<Lazy>> {
    if !overrides(t) {
        return Ok(client.lazy.clone());
    }
    let own = options(lua, t, what, extra)?;
    let base = &client.lazy.options;
    Ok(Arc::new(Lazy::new(Options {
        profile: own.profile.or(base.profile.clone()),
        region: own.region.or(base.region.clone()),
        endpoint: own.endpoint.or(base.endpoint.clone()),
        credentials: own.credentials.or(base.credentials.clone()),
        max_attempts: own.max_attempts.or(base.max_attempts),
        timeout: own.timeout.or(base.timeout),
        path_style: own.path_style.or(base.path_style),
    })))
}

fn context(lua: &Lua, lazy: &Lazy) -> Result<std::result::Result<Context, Error>> {
    let http = http(lua)?;
    let resolved = lazy.get();
    if let Ok(r) = &resolved {
        warn_unapplied(lua, &r.settings);
    }
    Ok(resolved.map(|resolved| Context { http, resolved }))
}

/// Warns, once a process for each profile and key, of the profile's settings essh does not apply.
fn warn_unapplied(lua: &Lua, settings: &settings::Settings) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    for key in &settings.unapplied {
        let id = format!("{}:{key}", settings.profile);
        let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
        if !warned.contains(&id) {
            warned.push(id);
            drop(warned);
            bridge::warn(lua, &format!("aws: essh does not apply {key} of the profile '{}' (AWS CLI transfer setting): it is ignored", settings.profile));
        }
    }
}

fn reaches(service: &str, lazy: &Lazy) -> Resources {
    match lazy.get() {
        Ok(r) => r.reaches(service),
        Err(_) => vec![("net", None)],
    }
}

fn client_reaches(args: &MultiValue) -> Resources {
    match client_of(args.front()) {
        Some(c) => reaches(&c.service, &c.lazy),
        None => vec![("net", None)],
    }
}

fn file_option(args: &MultiValue, at: usize) -> Option<String> {
    match args.get(at) {
        Some(Value::Table(t)) => t.raw_get::<Option<String>>("file").ok().flatten(),
        _ => None,
    }
}

fn s3_get_file(args: &MultiValue) -> Resources {
    file_option(args, 3).map(|f| vec![("write", Some(f))]).unwrap_or_default()
}

fn s3_put_file(args: &MultiValue) -> Resources {
    file_option(args, 4).map(|f| vec![("read", Some(f))]).unwrap_or_default()
}

fn call_reaches(args: &MultiValue) -> Resources {
    let Some(Value::String(service)) = args.front() else { return vec![("net", None)] };
    let service = service.to_string_lossy();
    let opts = match args.get(3) {
        Some(Value::Table(t)) => {
            let get = |k: &str| t.raw_get::<Option<String>>(k).ok().flatten();
            Options { profile: get("profile"), region: get("region"), endpoint: get("endpoint"), ..Options::default() }
        }
        _ => Options::default(),
    };
    reaches(&service, &Lazy::new(opts))
}

// ---------------------------------------------------------------- Query and JSON protocols

/// (service, API version) of the Query services essh knows.
const QUERY: &[(&str, &str)] = &[
    ("ec2", "2016-11-15"),
    ("sts", "2011-06-15"),
    ("iam", "2010-05-08"),
    ("rds", "2014-10-31"),
    ("autoscaling", "2011-01-01"),
    ("elasticloadbalancing", "2015-12-01"),
    ("cloudformation", "2010-05-15"),
    ("sns", "2010-03-31"),
    ("monitoring", "2010-08-01"),
    ("elasticache", "2015-02-02"),
    ("ses", "2010-12-01"),
];

/// (service, X-Amz-Target prefix, JSON version) of the JSON services essh knows.
const JSON: &[(&str, &str, &str)] = &[
    ("ssm", "AmazonSSM", "1.1"),
    ("dynamodb", "DynamoDB_20120810", "1.0"),
    ("kms", "TrentService", "1.1"),
    ("secretsmanager", "secretsmanager", "1.1"),
    ("logs", "Logs_20140328", "1.1"),
    ("ecs", "AmazonEC2ContainerServiceV20141113", "1.1"),
    ("ecr", "AmazonEC2ContainerRegistry_V20150921", "1.1"),
    ("events", "AWSEvents", "1.1"),
    ("sqs", "AmazonSQS", "1.0"),
    ("cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101", "1.1"),
];

enum Protocol {
    Query(String),
    Json(String, String),
}

fn protocol(service: &str, t: Option<&Table>) -> Result<Protocol> {
    let get = |k: &str| -> Result<Option<String>> { t.map(|t| t.raw_get(k)).transpose().map(Option::flatten) };
    if let Some(v) = get("version")? {
        return Ok(Protocol::Query(v));
    }
    if let Some(target) = get("target")? {
        return Ok(Protocol::Json(target, get("json_version")?.unwrap_or_else(|| "1.1".into())));
    }
    if let Some((_, v)) = QUERY.iter().find(|(s, _)| *s == service) {
        return Ok(Protocol::Query(v.to_string()));
    }
    if let Some((_, target, v)) = JSON.iter().find(|(s, ..)| *s == service) {
        return Ok(Protocol::Json(target.to_string(), v.to_string()));
    }
    Err(mlua::Error::runtime(format!(
        "aws.call: essh does not know the protocol of '{service}': give options.version (a Query API) or options.target (a JSON API)"
    )))
}

fn scalar_text(v: &Value) -> Result<String> {
    Ok(match v {
        Value::String(s) => s.to_str()?.to_string(),
        Value::Integer(n) => n.to_string(),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        Value::Number(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        other => return Err(mlua::Error::runtime(format!("aws: cannot send a {} as a parameter", other.type_name()))),
    })
}

/// Query parameters from Lua: lists as Name.1 (EC2) or Name.member.1, tables as Name.Key.
fn flatten(lua: &Lua, prefix: &str, value: &Value, ec2: bool, out: &mut Vec<(String, String)>) -> Result<()> {
    let join = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match value {
        Value::Table(t) if t.raw_len() > 0 => {
            for (i, item) in t.sequence_values::<Value>().enumerate() {
                let name = if ec2 { join(&(i + 1).to_string()) } else { join(&format!("member.{}", i + 1)) };
                flatten(lua, &name, &item?, ec2, out)?;
            }
        }
        Value::Table(t) if is_secret(t) => out.push((prefix.to_string(), revealed(lua, value.clone())?.unwrap_or_default())),
        Value::Table(t) => {
            let mut pairs: Vec<(String, Value)> = Vec::new();
            for pair in t.pairs::<String, Value>() {
                pairs.push(pair?);
            }
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, v) in pairs {
                flatten(lua, &join(&k), &v, ec2, out)?;
            }
        }
        v => out.push((prefix.to_string(), scalar_text(v)?)),
    }
    Ok(())
}

fn query_call(service: &str, action: &str, version: &str, params: Vec<(String, String)>) -> Call {
    let mut body = vec![("Action".to_string(), action.to_string()), ("Version".to_string(), version.to_string())];
    body.extend(params);
    let mut c = Call::new(reqwest::Method::POST, "/", format!("{service} {action}"));
    c.body = form_urlencoded::Serializer::new(String::new()).extend_pairs(body).finish().into();
    c.headers.push(("content-type".into(), "application/x-www-form-urlencoded; charset=utf-8".into()));
    c
}

fn json_call(service: &str, action: &str, target: &str, version: &str, body: String) -> Call {
    let mut c = Call::new(reqwest::Method::POST, "/", format!("{service} {action}"));
    c.headers.push(("content-type".into(), format!("application/x-amz-json-{version}")));
    c.headers.push(("x-amz-target".into(), format!("{target}.{action}")));
    c.body = body.into();
    c
}

fn json_body(lua: &Lua, params: Option<Table>) -> Result<String> {
    match params {
        Some(t) if t.pairs::<Value, Value>().next().is_some() => {
            let revealed = reveal_all(lua, &t)?;
            crate::json::encode(lua, Value::Table(revealed), &crate::json::EncodeOptions::default())?
                .map_err(|e| mlua::Error::runtime(format!("aws: cannot encode the parameters: {}", e.message)))
        }
        _ => Ok("{}".into()),
    }
}

/// A copy of `t` with its secrets revealed, for the request body.
fn reveal_all(lua: &Lua, t: &Table) -> Result<Table> {
    let out = lua.create_table()?;
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let v = match v {
            Value::Table(inner) if is_secret(&inner) => match revealed(lua, Value::Table(inner))? {
                Some(s) => Value::String(lua.create_string(&s)?),
                None => Value::Nil,
            },
            Value::Table(inner) => Value::Table(reveal_all(lua, &inner)?),
            v => v,
        };
        out.raw_set(k, v)?;
    }
    Ok(out)
}

/// The result element of a Query answer (`<ActionResult>`, or EC2's whole answer), without
/// its request metadata.
fn query_result(lua: &Lua, root: &xml::Node, action: &str) -> Result<Value> {
    let result_name = format!("{action}Result");
    let node = root.child(&result_name).unwrap_or(root);
    let mut node = node.clone();
    node.children.retain(|c| c.name != "ResponseMetadata" && c.name != "requestId");
    if node.children.is_empty() {
        return Ok(Value::Table(lua.create_table()?));
    }
    xml::to_lua(lua, &node, &[])
}

fn parse_xml(what: &str, body: &[u8]) -> std::result::Result<xml::Node, Error> {
    xml::parse(body).map_err(|e| Error::new(Kind::Remote, format!("aws {what}: {e}")))
}

enum Answer {
    Xml(xml::Node, String),
    Json(bytes::Bytes),
}

fn answer_to_lua(lua: &Lua, answer: Answer) -> Result<Value> {
    match answer {
        Answer::Xml(root, action) => query_result(lua, &root, &action),
        Answer::Json(body) => {
            if body.iter().all(|b| b.is_ascii_whitespace()) {
                return Ok(Value::Table(lua.create_table()?));
            }
            let opts = crate::json::DecodeOptions { all: false, max_depth: crate::luavalue::DEFAULT_MAX_DEPTH };
            crate::json::decode(lua, &body, &opts)?.map_err(|e| mlua::Error::runtime(format!("aws: the answer is not JSON: {}", e.message)))
        }
    }
}

/// A generic call's work: on the Lua thread the request, on the runtime its sending.
fn generic(
    lua: &Lua,
    service: &str,
    action: String,
    params: Option<Table>,
    opts: Option<&Table>,
    lazy: &Lazy,
) -> Result<impl std::future::Future<Output = crate::runtime::Outcome> + Send + 'static> {
    let call = match protocol(service, opts)? {
        Protocol::Query(version) => {
            let mut flat = Vec::new();
            if let Some(p) = &params {
                flatten(lua, "", &Value::Table(p.clone()), service == "ec2", &mut flat)?;
            }
            query_call(service, &action, &version, flat)
        }
        Protocol::Json(target, version) => json_call(service, &action, &target, &version, json_body(lua, params)?),
    };
    let json = call.headers.iter().any(|(k, _)| k == "x-amz-target");
    let ctx = context(lua, lazy)?;
    let service = service.to_string();
    Ok(async move {
        let ctx = ctx?;
        let endpoint = ctx.endpoint(&service)?;
        let (_, body) = ctx.send(&endpoint, &call).await?;
        let answer = if json { Answer::Json(body) } else { Answer::Xml(parse_xml(&call.what, &body)?, action) };
        deliver(move |lua| answer_to_lua(lua, answer))
    })
}

const CALL_EXTRA: &[&str] = &["version", "target", "json_version"];

fn add_call(lua: &Lua, m: &Table, name: &'static str, client: fn(&Value) -> Option<Client>) -> Result<()> {
    m.raw_set(
        "call",
        waiting(lua, name, move |lua, (this, action, params, opts): (Value, String, Option<Table>, Option<Table>)| {
            let c = client(&this).ok_or_else(|| mlua::Error::runtime(format!("{name}: call it with ':'")))?;
            let lazy = lazy_for(lua, &c, opts.as_ref(), name, CALL_EXTRA)?;
            generic(lua, &c.service, action, params, opts.as_ref(), &lazy)
        })?,
    )
}

fn any_client(v: &Value) -> Option<Client> {
    client_of(Some(v))
}

// ---------------------------------------------------------------- EC2

fn shapes() -> &'static xml::Shapes {
    static SHAPES: OnceLock<xml::Shapes> = OnceLock::new();
    SHAPES.get_or_init(|| xml::Shapes::parse(include_str!("ec2_shapes.txt")))
}

/// Filter.N.Name / Filter.N.Value.M from AWS's list form or essh's map form.
fn ec2_filters(t: &Table) -> Result<Vec<(String, String)>> {
    let mut filters: Vec<(String, Vec<String>)> = Vec::new();
    let values = |v: Value| -> Result<Vec<String>> {
        match v {
            Value::Table(list) => list.sequence_values::<Value>().map(|x| scalar_text(&x?)).collect(),
            v => Ok(vec![scalar_text(&v)?]),
        }
    };
    if t.raw_len() > 0 {
        for f in t.sequence_values::<Table>() {
            let f = f?;
            let name: String = f.raw_get("Name").map_err(|_| mlua::Error::runtime("aws: each filter needs a Name"))?;
            filters.push((name, values(f.raw_get("Values")?)?));
        }
    } else {
        for pair in t.pairs::<String, Value>() {
            let (k, v) = pair?;
            filters.push((k, values(v)?));
        }
        filters.sort();
    }
    let mut out = Vec::new();
    for (i, (name, vals)) in filters.into_iter().enumerate() {
        out.push((format!("Filter.{}.Name", i + 1), name));
        for (j, v) in vals.into_iter().enumerate() {
            out.push((format!("Filter.{}.Value.{}", i + 1, j + 1), v));
        }
    }
    Ok(out)
}

const DESCRIBE_KEYS: &[&str] = &["Filters", "InstanceIds", "MaxResults", "AllRegions", "RegionNames"];

fn describe_params(t: Option<&Table>) -> Result<Vec<(String, String)>> {
    let mut params = Vec::new();
    let Some(t) = t else { return Ok(params) };
    if let Some(f) = t.raw_get::<Option<Table>>("Filters")? {
        params.extend(ec2_filters(&f)?);
    }
    for (key, wire) in [("InstanceIds", "InstanceId"), ("RegionNames", "RegionName")] {
        if let Some(ids) = t.raw_get::<Option<Table>>(key)? {
            for (i, id) in ids.sequence_values::<String>().enumerate() {
                params.push((format!("{wire}.{}", i + 1), id?));
            }
        }
    }
    if let Some(n) = t.raw_get::<Option<i64>>("MaxResults")? {
        params.push(("MaxResults".into(), n.to_string()));
    }
    if let Some(all) = t.raw_get::<Option<bool>>("AllRegions")? {
        params.push(("AllRegions".into(), all.to_string()));
    }
    Ok(params)
}

fn ec2_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.aws.EC2", |lua, m| {
        m.raw_set(
            "describeInstances",
            waiting(lua, "ec2:describeInstances", |lua, (c, opts): (UserDataRef<Ec2>, Option<Table>)| {
                let lazy = lazy_for(lua, &c.0, opts.as_ref(), "ec2:describeInstances", DESCRIBE_KEYS)?;
                let base = describe_params(opts.as_ref())?;
                let ctx = context(lua, &lazy)?;
                Ok(async move {
                    let ctx = ctx?;
                    let endpoint = ctx.endpoint("ec2")?;
                    let mut pages = Vec::new();
                    let mut token: Option<String> = None;
                    loop {
                        let mut params = base.clone();
                        if let Some(t) = &token {
                            params.push(("NextToken".into(), t.clone()));
                        }
                        let call = query_call("ec2", "DescribeInstances", "2016-11-15", params);
                        let (_, body) = ctx.send(&endpoint, &call).await?;
                        let root = parse_xml(&call.what, &body)?;
                        token = root.text_of("nextToken").filter(|t| !t.is_empty()).map(String::from);
                        pages.push(root);
                        if token.is_none() {
                            break;
                        }
                    }
                    deliver(move |lua| {
                        let out = lua.create_table()?;
                        for page in &pages {
                            let Value::Table(result) = shapes().to_lua(lua, page, "DescribeInstancesResult")? else { continue };
                            let Some(reservations) = result.raw_get::<Option<Table>>("Reservations")? else { continue };
                            for r in reservations.sequence_values::<Table>() {
                                if let Some(instances) = r?.raw_get::<Option<Table>>("Instances")? {
                                    for i in instances.sequence_values::<Value>() {
                                        out.raw_push(i?)?;
                                    }
                                }
                            }
                        }
                        Ok(out)
                    })
                })
            })?,
        )?;
        m.raw_set(
            "describeRegions",
            waiting(lua, "ec2:describeRegions", |lua, (c, opts): (UserDataRef<Ec2>, Option<Table>)| {
                let lazy = lazy_for(lua, &c.0, opts.as_ref(), "ec2:describeRegions", DESCRIBE_KEYS)?;
                let params = describe_params(opts.as_ref())?;
                let ctx = context(lua, &lazy)?;
                Ok(async move {
                    let ctx = ctx?;
                    let endpoint = ctx.endpoint("ec2")?;
                    let call = query_call("ec2", "DescribeRegions", "2016-11-15", params);
                    let (_, body) = ctx.send(&endpoint, &call).await?;
                    let root = parse_xml(&call.what, &body)?;
                    deliver(move |lua| {
                        let Value::Table(result) = shapes().to_lua(lua, &root, "DescribeRegionsResult")? else {
                            return Ok(Value::Table(lua.create_table()?));
                        };
                        Ok(match result.raw_get::<Value>("Regions")? {
                            Value::Nil => Value::Table(lua.create_table()?),
                            v => v,
                        })
                    })
                })
            })?,
        )?;
        add_call(lua, m, "ec2:call", any_client)
    })
}

// ---------------------------------------------------------------- STS and SSM

/// An STS action whose `<...Result>` comes back as Lua, with `secret_fields` of its
/// Credentials wrapped as secrets.
fn sts_action(
    lua: &Lua,
    c: &Client,
    action: &'static str,
    params: Vec<(String, String)>,
) -> Result<impl std::future::Future<Output = crate::runtime::Outcome> + Send + 'static> {
    let ctx = context(lua, &c.lazy)?;
    Ok(async move {
        let ctx = ctx?;
        let endpoint = ctx.endpoint("sts")?;
        let call = query_call("sts", action, "2011-06-15", params);
        let (_, body) = ctx.send(&endpoint, &call).await?;
        let root = parse_xml(&call.what, &body)?;
        deliver(move |lua| {
            let v = query_result(lua, &root, action)?;
            if let Value::Table(t) = &v {
                if let Some(creds) = t.raw_get::<Option<Table>>("Credentials")? {
                    for k in ["SecretAccessKey", "SessionToken"] {
                        if let Some(s) = creds.raw_get::<Option<String>>(k)? {
                            creds.raw_set(k, secret(lua, &s)?)?;
                        }
                    }
                }
            }
            Ok(v)
        })
    })
}

fn sts_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.aws.STS", |lua, m| {
        m.raw_set(
            "getCallerIdentity",
            waiting(lua, "sts:getCallerIdentity", |lua, c: UserDataRef<Sts>| sts_action(lua, &c.0, "GetCallerIdentity", vec![]))?,
        )?;
        m.raw_set(
            "assumeRole",
            waiting(lua, "sts:assumeRole", |lua, (c, params): (UserDataRef<Sts>, Table)| {
                let mut flat = Vec::new();
                flatten(lua, "", &Value::Table(params.clone()), false, &mut flat)?;
                if !flat.iter().any(|(k, _)| k == "RoleSessionName") {
                    flat.push(("RoleSessionName".into(), format!("essh-{}", chrono::Utc::now().timestamp())));
                }
                sts_action(lua, &c.0, "AssumeRole", flat)
            })?,
        )?;
        add_call(lua, m, "sts:call", any_client)
    })
}

/// Wraps the Value of each SecureString parameter in `list` as a secret.
fn hide_secure(lua: &Lua, parameter: &Table) -> Result<()> {
    if parameter.raw_get::<Option<String>>("Type")?.as_deref() == Some("SecureString") {
        if let Some(v) = parameter.raw_get::<Option<String>>("Value")? {
            parameter.raw_set("Value", secret(lua, &v)?)?;
        }
    }
    Ok(())
}

fn ssm_action(
    lua: &Lua,
    c: &Client,
    action: &'static str,
    params: Table,
) -> Result<impl std::future::Future<Output = crate::runtime::Outcome> + Send + 'static> {
    let call = json_call("ssm", action, "AmazonSSM", "1.1", json_body(lua, Some(params))?);
    let ctx = context(lua, &c.lazy)?;
    Ok(async move {
        let ctx = ctx?;
        let endpoint = ctx.endpoint("ssm")?;
        let (_, body) = ctx.send(&endpoint, &call).await?;
        deliver(move |lua| {
            let v = answer_to_lua(lua, Answer::Json(body))?;
            let Value::Table(t) = &v else { return Ok(v) };
            if action == "GetParameter" {
                let p: Table = t.raw_get("Parameter")?;
                hide_secure(lua, &p)?;
                return Ok(Value::Table(p));
            }
            if let Some(list) = t.raw_get::<Option<Table>>("Parameters")? {
                for p in list.sequence_values::<Table>() {
                    hide_secure(lua, &p?)?;
                }
            }
            Ok(v)
        })
    })
}

fn ssm_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.aws.SSM", |lua, m| {
        m.raw_set(
            "getParameter",
            waiting(lua, "ssm:getParameter", |lua, (c, name): (UserDataRef<Ssm>, Value)| {
                let params = match name {
                    Value::String(s) => lua.create_table_from([("Name", Value::String(s)), ("WithDecryption", Value::Boolean(true))])?,
                    Value::Table(t) => {
                        if t.raw_get::<Value>("WithDecryption")?.is_nil() {
                            t.raw_set("WithDecryption", true)?;
                        }
                        t
                    }
                    other => return Err(mlua::Error::runtime(format!("ssm:getParameter: expected a name or a table, got {}", other.type_name()))),
                };
                ssm_action(lua, &c.0, "GetParameter", params)
            })?,
        )?;
        m.raw_set(
            "getParameters",
            waiting(lua, "ssm:getParameters", |lua, (c, names): (UserDataRef<Ssm>, Table)| {
                let params = if names.raw_len() > 0 {
                    lua.create_table_from([("Names", Value::Table(names)), ("WithDecryption", Value::Boolean(true))])?
                } else {
                    if names.raw_get::<Value>("WithDecryption")?.is_nil() {
                        names.raw_set("WithDecryption", true)?;
                    }
                    names
                };
                ssm_action(lua, &c.0, "GetParameters", params)
            })?,
        )?;
        add_call(lua, m, "ssm:call", any_client)
    })
}

fn generic_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.aws.Client", |lua, m| add_call(lua, m, "client:call", any_client))
}

// ---------------------------------------------------------------- S3

fn node_text(lua: &Lua, node: &xml::Node, t: &Table, name: &str, integer: bool) -> Result<()> {
    if let Some(text) = node.text_of(name) {
        if integer {
            if let Ok(n) = text.parse::<i64>() {
                return t.raw_set(name, n);
            }
        }
        t.raw_set(name, lua.create_string(text)?)?;
    }
    Ok(())
}

fn head_table(lua: &Lua, headers: &reqwest::header::HeaderMap) -> Result<Table> {
    let t = lua.create_table()?;
    let meta = lua.create_table()?;
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match name.as_str() {
            "content-length" => t.raw_set("ContentLength", v.parse::<i64>().unwrap_or(0))?,
            "etag" => t.raw_set("ETag", v)?,
            "content-type" => t.raw_set("ContentType", v)?,
            "last-modified" => t.raw_set("LastModified", v)?,
            "date" => t.raw_set("Date", v)?,
            n => {
                if let Some(k) = n.strip_prefix("x-amz-meta-") {
                    meta.raw_set(k, v)?;
                }
            }
        }
    }
    t.raw_set("Metadata", meta)?;
    Ok(t)
}

fn integer_option(t: Option<&Table>, key: &str) -> Result<Option<u64>> {
    match t {
        Some(t) => match t.raw_get::<Option<i64>>(key)? {
            Some(n) if n > 0 => Ok(Some(n as u64)),
            Some(n) => Err(mlua::Error::runtime(format!("aws s3: {key} must be positive, got {n}"))),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

fn s3_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.aws.S3", |lua, m| {
        m.raw_set(
            "get",
            waiting(lua, "s3:get", |lua, (c, bucket, key, opts): (UserDataRef<S3>, String, String, Option<Table>)| {
                if let Some(t) = &opts {
                    if let Some(name) = bridge::unknown_option(t, &["file", "range", "if_match"])? {
                        return Err(mlua::Error::runtime(format!("s3:get: unknown option '{name}'")));
                    }
                }
                let file: Option<String> = opts.as_ref().map(|t| t.raw_get("file")).transpose()?.flatten();
                let range: Option<String> = opts.as_ref().map(|t| t.raw_get("range")).transpose()?.flatten();
                let if_match: Option<String> = opts.as_ref().map(|t| t.raw_get("if_match")).transpose()?.flatten();
                if file.is_some() && if_match.is_some() {
                    return Err(mlua::Error::runtime("s3:get: if_match reads into memory; give it without the file option"));
                }
                let ctx = context(lua, &c.0.lazy)?;
                Ok(async move {
                    let ctx = ctx?;
                    match file {
                        Some(path) => {
                            let (headers, n) = s3::download(&ctx, &bucket, &key, &path).await?;
                            deliver(move |lua| Ok((n as i64, head_table(lua, &headers)?)))
                        }
                        None => {
                            let (headers, body) = s3::get(&ctx, &bucket, &key, range, if_match).await?;
                            deliver(move |lua| Ok((lua.create_string(&body)?, head_table(lua, &headers)?)))
                        }
                    }
                })
            })?,
        )?;
        m.raw_set(
            "put",
            waiting(lua, "s3:put", |lua, (c, bucket, key, body, opts): (UserDataRef<S3>, String, String, Option<mlua::LuaString>, Option<Table>)| {
                if let Some(t) = &opts {
                    let known = ["file", "content_type", "metadata", "threshold", "part_size", "concurrency", "if_match", "if_none_match"];
                    if let Some(name) = bridge::unknown_option(t, &known)? {
                        return Err(mlua::Error::runtime(format!("s3:put: unknown option '{name}'")));
                    }
                }
                let file: Option<String> = opts.as_ref().map(|t| t.raw_get("file")).transpose()?.flatten();
                let data = match (body, file) {
                    (Some(b), None) => s3::Data::Memory(bytes::Bytes::copy_from_slice(&b.as_bytes())),
                    (None, Some(f)) => s3::Data::File(f),
                    (Some(_), Some(_)) => return Err(mlua::Error::runtime("s3:put: give a body or the file option, not both")),
                    (None, None) => return Err(mlua::Error::runtime("s3:put: give a body (a string) or the file option")),
                };
                let mut put = s3::PutOptions::default();
                if let Some(t) = &opts {
                    put.content_type = t.raw_get("content_type")?;
                    put.if_match = t.raw_get("if_match")?;
                    put.if_none_match = t.raw_get("if_none_match")?;
                    if let Some(meta) = t.raw_get::<Option<Table>>("metadata")? {
                        for pair in meta.pairs::<String, String>() {
                            put.metadata.push(pair?);
                        }
                        put.metadata.sort();
                    }
                }
                let threshold = integer_option(opts.as_ref(), "threshold")?;
                let part_size = integer_option(opts.as_ref(), "part_size")?;
                let concurrency = integer_option(opts.as_ref(), "concurrency")?;
                let ctx = context(lua, &c.0.lazy)?;
                Ok(async move {
                    let ctx = ctx?;
                    put.multipart = ctx.resolved.settings.s3_multipart;
                    put.multipart.threshold = threshold.unwrap_or(put.multipart.threshold);
                    put.multipart.part_size = part_size.unwrap_or(put.multipart.part_size);
                    put.multipart.concurrency = concurrency.map_or(put.multipart.concurrency, |n| n as usize);
                    let (etag, parts) = s3::put(&ctx, &bucket, &key, data, &put).await?;
                    deliver(move |lua| {
                        let t = lua.create_table()?;
                        t.raw_set("ETag", etag)?;
                        t.raw_set("parts", parts as i64)?;
                        Ok(t)
                    })
                })
            })?,
        )?;
        m.raw_set(
            "list",
            waiting(lua, "s3:list", |lua, (c, bucket, opts): (UserDataRef<S3>, String, Option<Table>)| {
                if let Some(t) = &opts {
                    if let Some(name) = bridge::unknown_option(t, &["prefix", "delimiter", "max", "page_size"])? {
                        return Err(mlua::Error::runtime(format!("s3:list: unknown option '{name}'")));
                    }
                }
                let get = |k: &str| -> Result<Option<String>> { opts.as_ref().map(|t| t.raw_get(k)).transpose().map(Option::flatten) };
                let (prefix, delimiter) = (get("prefix")?, get("delimiter")?);
                let max = integer_option(opts.as_ref(), "max")?.map(|n| n as usize);
                let page = integer_option(opts.as_ref(), "page_size")?;
                let ctx = context(lua, &c.0.lazy)?;
                Ok(async move {
                    let ctx = ctx?;
                    let nodes = s3::list(&ctx, &bucket, s3::Listing { prefix, delimiter, max, page }).await?;
                    deliver(move |lua| {
                        let out = lua.create_table()?;
                        let (objects, prefixes): (Vec<_>, Vec<_>) = nodes.iter().partition(|n| n.name == "Contents");
                        for n in objects.into_iter().chain(prefixes) {
                            let t = lua.create_table()?;
                            for (name, integer) in [("Key", false), ("Size", true), ("ETag", false), ("LastModified", false), ("StorageClass", false), ("Prefix", false)] {
                                node_text(lua, n, &t, name, integer)?;
                            }
                            out.raw_push(t)?;
                        }
                        Ok(out)
                    })
                })
            })?,
        )?;
        m.raw_set(
            "head",
            waiting(lua, "s3:head", |lua, (c, bucket, key): (UserDataRef<S3>, String, String)| {
                let ctx = context(lua, &c.0.lazy)?;
                Ok(async move {
                    let ctx = ctx?;
                    let headers = s3::head(&ctx, &bucket, &key).await?;
                    deliver(move |lua| head_table(lua, &headers))
                })
            })?,
        )?;
        m.raw_set(
            "delete",
            waiting(lua, "s3:delete", |lua, (c, bucket, key): (UserDataRef<S3>, String, String)| {
                let ctx = context(lua, &c.0.lazy)?;
                Ok(async move {
                    s3::delete(&ctx?, &bucket, &key).await?;
                    deliver(|_| Ok(true))
                })
            })?,
        )?;
        m.raw_set(
            "createBucket",
            waiting(lua, "s3:createBucket", |lua, (c, bucket): (UserDataRef<S3>, String)| {
                let ctx = context(lua, &c.0.lazy)?;
                Ok(async move {
                    s3::create_bucket(&ctx?, &bucket).await?;
                    deliver(|_| Ok(true))
                })
            })?,
        )?;
        m.raw_set(
            "presign",
            waiting(lua, "s3:presign", |lua, (c, bucket, key, opts): (UserDataRef<S3>, String, String, Option<Table>)| {
                if let Some(t) = &opts {
                    if let Some(name) = bridge::unknown_option(t, &["method", "expires"])? {
                        return Err(mlua::Error::runtime(format!("s3:presign: unknown option '{name}'")));
                    }
                }
                let method = opts.as_ref().map(|t| t.raw_get::<Option<String>>("method")).transpose()?.flatten().unwrap_or_else(|| "GET".into()).to_ascii_uppercase();
                if !matches!(method.as_str(), "GET" | "PUT" | "HEAD" | "DELETE") {
                    return Err(mlua::Error::runtime(format!("s3:presign: method must be GET, PUT, HEAD or DELETE, got '{method}'")));
                }
                let expires = integer_option(opts.as_ref(), "expires")?.unwrap_or(3600);
                if expires > 604_800 {
                    return Err(mlua::Error::runtime("s3:presign: expires is at most 604800 seconds (7 days)"));
                }
                let ctx = context(lua, &c.0.lazy)?;
                Ok(async move {
                    let url = s3::presign(&ctx?, &method, &bucket, &key, expires).await?;
                    deliver(move |_| Ok(url))
                })
            })?,
        )?;
        Ok(())
    })
}

// ---------------------------------------------------------------- the module

fn make_client(lua: &Lua, service: &str, lazy: Arc<Lazy>) -> Result<Value> {
    let c = Client { service: service.to_string(), lazy };
    Ok(Value::UserData(match service {
        "ec2" => lua.create_userdata(Ec2(c))?,
        "s3" => lua.create_userdata(S3(c))?,
        "sts" => lua.create_userdata(Sts(c))?,
        "ssm" => lua.create_userdata(Ssm(c))?,
        _ => lua.create_userdata(Generic(c))?,
    }))
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    for service in ["ec2", "s3", "sts", "ssm"] {
        m.raw_set(service, make_client(lua, service, Arc::new(Lazy::new(Options::default())))?)?;
    }
    bridge::export(lua, m, "aws.client", |lua, (service, opts): (String, Option<Table>)| {
        if service.is_empty() || !service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(mlua::Error::runtime(format!("aws.client: '{service}' is not a service name")));
        }
        let options = options(lua, opts.as_ref(), "aws.client", &[])?;
        make_client(lua, &service, Arc::new(Lazy::new(options)))
    })?;
    bridge::export(lua, m, "aws.config", |lua, opts: Option<Table>| {
        let options = options(lua, opts.as_ref(), "aws.config", &[])?;
        let resolved = match context::Resolved::new(&options) {
            Ok(r) => r,
            Err(e) => return crate::error::pair::<Value>(lua, Err(e)),
        };
        let t = lua.create_table()?;
        t.raw_set("profile", resolved.settings.profile.clone())?;
        t.raw_set("region", resolved.settings.region.clone())?;
        t.raw_set("credentials", resolved.provider.source.describe())?;
        let endpoints = lua.create_table()?;
        for s in ["ec2", "s3", "sts", "ssm"] {
            if let Ok(e) = resolved.settings.endpoint(s) {
                endpoints.raw_set(s, e.base.as_str().trim_end_matches('/'))?;
            }
        }
        t.raw_set("endpoints", endpoints)?;
        crate::error::pair(lua, Ok(t))
    })?;
    m.raw_set(
        "call",
        waiting(lua, "aws.call", |lua, (service, action, params, opts): (String, String, Option<Table>, Option<Table>)| {
            let options = options(lua, opts.as_ref(), "aws.call", CALL_EXTRA)?;
            let lazy = Lazy::new(options);
            generic(lua, &service, action, params, opts.as_ref(), &lazy)
        })?,
    )?;
    Ok(())
}
