//! Where the keys come from, in the AWS CLI's order: the client's own, the environment, a
//! profile's role (role_arn with source_profile or credential_source, or a web identity token),
//! AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE, the profile's keys, its credential_process,
//! the ECS container endpoint, and EC2's instance metadata (IMDSv2). [`resolve`] decides
//! without contacting anything, so that what a source reaches can be checked first.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::settings::{env, Endpoint, Settings};
use super::sigv4::Credentials;
use super::transport::{self, Call, Retry};
use super::xml;
use crate::error::{Error, Kind};

#[derive(Clone, Debug)]
pub enum Source {
    Static(Credentials, &'static str),
    Process { command: String, profile: String },
    AssumeRole { role_arn: String, session_name: String, external_id: Option<String>, duration: Option<u32>, sts: Endpoint, from: Box<Source> },
    WebIdentity { role_arn: String, session_name: String, token_file: String, sts: Endpoint },
    Container { url: String, token: Option<String>, token_file: Option<String> },
    Imds { endpoint: String },
}

/// Keys and when they stop working.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub credentials: Credentials,
    pub expires: Option<SystemTime>,
}

fn missing(message: String) -> Error {
    Error::new(Kind::Auth, message)
}

fn keys(access: Option<String>, secret: Option<String>, token: Option<String>) -> Option<Credentials> {
    Some(Credentials { access_key_id: access?, secret_access_key: secret?, session_token: token })
}

fn session_name() -> String {
    format!("essh-{}", chrono::Utc::now().timestamp_millis())
}

/// The source the CLI would use for `settings`.
pub fn resolve(settings: &Settings) -> Result<Source, Error> {
    if let Some(c) = &settings.explicit_credentials {
        return Ok(Source::Static(c.clone(), "the credentials option"));
    }
    if settings.environment_credentials() {
        if let Some(c) = keys(env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")) {
            return Ok(Source::Static(c, "the environment"));
        }
    }
    if let Some(source) = profile_source(settings, &settings.profile, &mut Vec::new())? {
        return Ok(source);
    }
    if let (Some(role_arn), Some(token_file)) = (env("AWS_ROLE_ARN"), env("AWS_WEB_IDENTITY_TOKEN_FILE")) {
        return Ok(Source::WebIdentity {
            role_arn,
            token_file,
            session_name: env("AWS_ROLE_SESSION_NAME").unwrap_or_else(session_name),
            sts: sts_endpoint(settings)?,
        });
    }
    if let Some(source) = container() {
        return Ok(source);
    }
    if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(missing(format!(
            "aws: no credentials: none in the environment or the profile '{}', and instance metadata is disabled",
            settings.profile
        )));
    }
    Ok(Source::Imds { endpoint: imds_endpoint(settings) })
}

fn sts_endpoint(settings: &Settings) -> Result<Endpoint, Error> {
    match settings.endpoint("sts") {
        Ok(e) => Ok(e),
        // STS answers in us-east-1 when no region is set, as the CLI's global endpoint does.
        Err(_) => {
            let base = url::Url::parse("https://sts.amazonaws.com").map_err(|e| Error::invalid(e.to_string()))?;
            Ok(Endpoint { base, region: "us-east-1".into(), signing_name: "sts".into(), custom: false })
        }
    }
}

fn imds_endpoint(settings: &Settings) -> String {
    env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .or_else(|| settings.setting("ec2_metadata_service_endpoint").cloned())
        .unwrap_or_else(|| "http://169.254.169.254".into())
        .trim_end_matches('/')
        .to_string()
}

fn container() -> Option<Source> {
    let url = match (env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
        (Some(relative), _) => format!("http://169.254.170.2{relative}"),
        (None, Some(full)) => full,
        (None, None) => return None,
    };
    Some(Source::Container {
        url,
        token: env("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        token_file: env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
    })
}

/// The source a profile names, following source_profile chains.
fn profile_source(settings: &Settings, name: &str, chain: &mut Vec<String>) -> Result<Option<Source>, Error> {
    if chain.iter().any(|n| n == name) {
        chain.push(name.to_string());
        return Err(Error::invalid(format!("aws: the source_profile chain loops: {}", chain.join(" -> "))));
    }
    chain.push(name.to_string());
    let Some(p) = settings.profile_settings(name) else {
        if chain.len() > 1 {
            return Err(Error::invalid(format!("aws: the source_profile '{name}' does not exist")));
        }
        return Ok(None);
    };
    let get = |k: &str| p.get(k).cloned();
    let static_keys = keys(get("aws_access_key_id"), get("aws_secret_access_key"), get("aws_session_token"));
    if let Some(role_arn) = get("role_arn") {
        // A profile with a role uses its own keys only as the role's source (chain.len() > 1).
        let sts = sts_endpoint(settings)?;
        let session = get("role_session_name").unwrap_or_else(session_name);
        if let Some(token_file) = get("web_identity_token_file") {
            return Ok(Some(Source::WebIdentity { role_arn, token_file, session_name: session, sts }));
        }
        if get("mfa_serial").is_some() {
            return Err(Error::invalid(format!(
                "aws: the profile '{name}' asks for MFA (mfa_serial), which essh cannot prompt for: use credentials from `aws sts get-session-token`"
            )));
        }
        let from = match (get("source_profile"), get("credential_source")) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(format!(
                    "aws: the profile '{name}' sets both source_profile and credential_source"
                )))
            }
            (Some(src), None) if src == name => match static_keys {
                Some(c) => Source::Static(c, "the profile's keys"),
                None => return Err(Error::invalid(format!("aws: the profile '{name}' is its own source_profile but has no keys"))),
            },
            (Some(src), None) => match profile_source(settings, &src, chain)? {
                Some(s) => s,
                None => return Err(missing(format!("aws: the source_profile '{src}' has no credentials"))),
            },
            (None, Some(cs)) => match cs.as_str() {
                "Environment" => match keys(env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")) {
                    Some(c) => Source::Static(c, "the environment"),
                    None => return Err(missing("aws: credential_source Environment, but AWS_ACCESS_KEY_ID is not set".into())),
                },
                "EcsContainer" => container().ok_or_else(|| missing("aws: credential_source EcsContainer, but no container endpoint is set".into()))?,
                "Ec2InstanceMetadata" => Source::Imds { endpoint: imds_endpoint(settings) },
                other => return Err(Error::invalid(format!("aws: unknown credential_source '{other}' in the profile '{name}'"))),
            },
            (None, None) => {
                return Err(Error::invalid(format!(
                    "aws: the profile '{name}' has a role_arn but neither source_profile nor credential_source"
                )))
            }
        };
        let duration = match get("duration_seconds") {
            Some(d) => Some(d.parse::<u32>().map_err(|_| Error::invalid(format!("aws: duration_seconds must be an integer, got '{d}'")))?),
            None => None,
        };
        return Ok(Some(Source::AssumeRole { role_arn, session_name: session, external_id: get("external_id"), duration, sts, from: Box::new(from) }));
    }
    if let Some(c) = static_keys {
        return Ok(Some(Source::Static(c, "the profile's keys")));
    }
    if let Some(command) = get("credential_process") {
        return Ok(Some(Source::Process { command, profile: name.to_string() }));
    }
    if get("sso_session").is_some() || get("sso_start_url").is_some() {
        return Err(Error::invalid(format!(
            "aws: the profile '{name}' uses IAM Identity Center (SSO), which essh does not read: export the keys `aws configure export-credentials --profile {name} --format env` prints"
        )));
    }
    Ok(None)
}

impl Source {
    /// What fetching contacts or runs, for the permission check: (permission, resource).
    pub fn reaches(&self) -> Vec<(&'static str, Option<String>)> {
        match self {
            Source::Static(..) => vec![],
            Source::Process { command, .. } => {
                let program = crate::ssh::config::split::arguments(command).ok().and_then(|a| a.into_iter().next());
                vec![("run", program)]
            }
            Source::AssumeRole { sts, from, .. } => {
                let mut r = vec![("net", Some(host_port(&sts.base)))];
                r.extend(from.reaches());
                r
            }
            Source::WebIdentity { sts, token_file, .. } => {
                vec![("net", Some(host_port(&sts.base))), ("read", Some(token_file.clone()))]
            }
            Source::Container { url, .. } => vec![("net", url::Url::parse(url).ok().map(|u| host_port(&u)))],
            Source::Imds { endpoint } => vec![("net", url::Url::parse(endpoint).ok().map(|u| host_port(&u)))],
        }
    }

    /// Where the keys come from, in words (never the keys).
    pub fn describe(&self) -> String {
        match self {
            Source::Static(_, from) => from.to_string(),
            Source::Process { profile, .. } => format!("the credential_process of the profile '{profile}'"),
            Source::AssumeRole { role_arn, from, .. } => format!("the role {role_arn}, assumed with {}", from.describe()),
            Source::WebIdentity { role_arn, .. } => format!("the role {role_arn}, assumed with a web identity token"),
            Source::Container { .. } => "the container credentials endpoint".into(),
            Source::Imds { .. } => "the EC2 instance metadata service".into(),
        }
    }

    pub async fn fetch(&self, http: &reqwest::Client, deadline: Instant) -> Result<Fetched, Error> {
        match self {
            Source::Static(c, _) => Ok(Fetched { credentials: c.clone(), expires: None }),
            Source::Process { command, profile } => process(command, profile).await,
            Source::AssumeRole { role_arn, session_name, external_id, duration, sts, from } => {
                let source = Box::pin(from.fetch(http, deadline)).await?;
                let mut params = vec![
                    ("Action".to_string(), "AssumeRole".to_string()),
                    ("Version".to_string(), "2011-06-15".to_string()),
                    ("RoleArn".to_string(), role_arn.clone()),
                    ("RoleSessionName".to_string(), session_name.clone()),
                ];
                if let Some(id) = external_id {
                    params.push(("ExternalId".into(), id.clone()));
                }
                if let Some(d) = duration {
                    params.push(("DurationSeconds".into(), d.to_string()));
                }
                sts_call(http, sts, Some(&source.credentials), params, "AssumeRole", deadline).await
            }
            Source::WebIdentity { role_arn, session_name, token_file, sts } => {
                let token = tokio::fs::read_to_string(token_file)
                    .await
                    .map_err(|e| Error::from_io(&e, "read the web identity token", token_file))?;
                let params = vec![
                    ("Action".to_string(), "AssumeRoleWithWebIdentity".to_string()),
                    ("Version".to_string(), "2011-06-15".to_string()),
                    ("RoleArn".to_string(), role_arn.clone()),
                    ("RoleSessionName".to_string(), session_name.clone()),
                    ("WebIdentityToken".to_string(), token.trim().to_string()),
                ];
                sts_call(http, sts, None, params, "AssumeRoleWithWebIdentity", deadline).await
            }
            Source::Container { url, token, token_file } => {
                let mut req = http.get(url).timeout(Duration::from_secs(2));
                let token = match (token_file, token) {
                    (Some(f), _) => Some(
                        tokio::fs::read_to_string(f).await.map_err(|e| Error::from_io(&e, "read the container token", f))?,
                    ),
                    (None, t) => t.clone(),
                };
                if let Some(t) = token {
                    req = req.header("Authorization", t.trim());
                }
                let body = simple(req, "the container credentials endpoint").await?;
                json_keys(&body, "the container credentials endpoint")
            }
            Source::Imds { endpoint } => imds(http, endpoint).await,
        }
    }
}

pub fn host_port(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

async fn simple(req: reqwest::RequestBuilder, what: &str) -> Result<bytes::Bytes, Error> {
    let resp = req.send().await.map_err(|e| Error::new(Kind::Network, format!("aws: {what}: {e}")).retryable(true))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| Error::new(Kind::Network, format!("aws: {what}: {e}")))?;
    if !status.is_success() {
        return Err(Error::new(Kind::Auth, format!("aws: {what} answered HTTP {}", status.as_u16())));
    }
    Ok(body)
}

/// The JSON shape credential_process, the container endpoint and IMDS share.
fn json_keys(body: &[u8], what: &str) -> Result<Fetched, Error> {
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Error::new(Kind::Auth, format!("aws: {what} did not give JSON credentials: {e}")))?;
    let text = |k: &str| doc.get(k).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(String::from);
    let credentials = keys(text("AccessKeyId"), text("SecretAccessKey"), text("Token").or_else(|| text("SessionToken")))
        .ok_or_else(|| Error::new(Kind::Auth, format!("aws: {what} gave no AccessKeyId and SecretAccessKey")))?;
    Ok(Fetched { credentials, expires: text("Expiration").and_then(|e| parse_time(&e)) })
}

pub fn parse_time(text: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(SystemTime::from)
}

async fn process(command: &str, profile: &str) -> Result<Fetched, Error> {
    let argv = crate::ssh::config::split::arguments(command)
        .map_err(|e| Error::invalid(format!("aws: the credential_process of '{profile}': {e}")))?;
    let Some((program, args)) = argv.split_first() else {
        return Err(Error::invalid(format!("aws: the credential_process of '{profile}' is empty")));
    };
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| Error::from_io(&e, "run the credential_process", program))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::new(
            Kind::Auth,
            format!("aws: the credential_process of '{profile}' failed ({}): {}", out.status, stderr.trim()),
        ));
    }
    json_keys(&out.stdout, &format!("the credential_process of '{profile}'"))
}

async fn sts_call(
    http: &reqwest::Client,
    sts: &Endpoint,
    creds: Option<&Credentials>,
    params: Vec<(String, String)>,
    action: &str,
    deadline: Instant,
) -> Result<Fetched, Error> {
    let mut call = Call::new(reqwest::Method::POST, "/", format!("sts {action}"));
    call.body = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish().into();
    call.headers.push(("content-type".into(), "application/x-www-form-urlencoded; charset=utf-8".into()));
    let (_, body) = transport::send(http, sts, creds, &call, Retry { attempts: 3, deadline }).await?;
    let root = xml::parse(&body).map_err(|e| Error::new(Kind::Remote, format!("aws sts {action}: {e}")))?;
    let c = root.find("Credentials").ok_or_else(|| Error::new(Kind::Remote, format!("aws sts {action}: no Credentials")))?;
    let text = |k: &str| c.text_of(k).map(String::from);
    let credentials = keys(text("AccessKeyId"), text("SecretAccessKey"), text("SessionToken"))
        .ok_or_else(|| Error::new(Kind::Remote, format!("aws sts {action}: incomplete Credentials")))?;
    Ok(Fetched { credentials, expires: text("Expiration").and_then(|e| parse_time(&e)) })
}

async fn imds(http: &reqwest::Client, endpoint: &str) -> Result<Fetched, Error> {
    let what = "the EC2 instance metadata service";
    let unreachable = |e: reqwest::Error| {
        Error::new(Kind::Auth, format!("aws: no credentials: none in the environment or the profile, and {what} at {endpoint} is unreachable ({e})"))
    };
    let token = http
        .put(format!("{endpoint}/latest/api/token"))
        .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .map_err(unreachable)?
        .text()
        .await
        .map_err(unreachable)?;
    let get = |path: String| {
        http.get(format!("{endpoint}{path}")).header("x-aws-ec2-metadata-token", token.clone()).timeout(Duration::from_secs(1))
    };
    let roles = simple(get("/latest/meta-data/iam/security-credentials/".into()), what).await?;
    let role = String::from_utf8_lossy(&roles).lines().next().unwrap_or_default().trim().to_string();
    if role.is_empty() {
        return Err(Error::new(Kind::Auth, format!("aws: {what} has no instance role")));
    }
    let body = simple(get(format!("/latest/meta-data/iam/security-credentials/{role}")), what).await?;
    json_keys(&body, what)
}

/// A source and the keys it last gave, renewed five minutes before they expire.
pub struct Provider {
    pub source: Source,
    cached: tokio::sync::Mutex<Option<Fetched>>,
}

impl Provider {
    pub fn new(source: Source) -> Arc<Provider> {
        Arc::new(Provider { source, cached: tokio::sync::Mutex::new(None) })
    }

    pub async fn get(&self, http: &reqwest::Client, deadline: Instant) -> Result<Credentials, Error> {
        let mut cached = self.cached.lock().await;
        let fresh = |f: &Fetched| match f.expires {
            Some(t) => t > SystemTime::now() + Duration::from_secs(300),
            None => true,
        };
        if let Some(f) = cached.as_ref().filter(|f| fresh(f)) {
            return Ok(f.credentials.clone());
        }
        let f = self.source.fetch(http, deadline).await?;
        let c = f.credentials.clone();
        *cached = Some(f);
        Ok(c)
    }
}
