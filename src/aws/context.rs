//! A client's resolved configuration and what its calls need on the runtime: the HTTP client,
//! the settings, and the credentials provider.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::credentials::{self, Provider};
use super::settings::{Endpoint, Options, Settings};
use super::sigv4::Credentials;
use super::transport::{self, Call, Retry};
use crate::error::Error;

pub struct Resolved {
    pub settings: Settings,
    pub provider: Arc<Provider>,
}

impl Resolved {
    pub fn new(options: &Options) -> Result<Arc<Resolved>, Error> {
        let settings = Settings::resolve(options)?;
        let provider = Provider::new(credentials::resolve(&settings)?);
        Ok(Arc::new(Resolved { settings, provider }))
    }

    /// What a call to `service` reaches: its endpoint (net) and what the credentials come from.
    pub fn reaches(&self, service: &str) -> Vec<(&'static str, Option<String>)> {
        let mut r = vec![("net", self.settings.endpoint(service).ok().map(|e| credentials::host_port(&e.base)))];
        r.extend(self.provider.source.reaches());
        r
    }
}

/// A client's options and, once first needed, their resolution (kept, errors included).
pub struct Lazy {
    pub options: Options,
    resolved: OnceLock<Result<Arc<Resolved>, Error>>,
}

impl Lazy {
    pub fn new(options: Options) -> Lazy {
        Lazy { options, resolved: OnceLock::new() }
    }

    pub fn get(&self) -> Result<Arc<Resolved>, Error> {
        self.resolved.get_or_init(|| Resolved::new(&self.options)).clone()
    }
}

/// Everything a call's future carries.
#[derive(Clone)]
pub struct Context {
    pub http: reqwest::Client,
    pub resolved: Arc<Resolved>,
}

impl Context {
    pub fn endpoint(&self, service: &str) -> Result<Endpoint, Error> {
        self.resolved.settings.endpoint(service)
    }

    pub fn retry(&self) -> Retry {
        Retry { attempts: self.resolved.settings.max_attempts, deadline: Instant::now() + self.resolved.settings.timeout }
    }

    pub async fn credentials(&self, retry: Retry) -> Result<Credentials, Error> {
        self.resolved.provider.get(&self.http, retry.deadline).await
    }

    pub async fn send(&self, endpoint: &Endpoint, call: &Call) -> Result<(reqwest::header::HeaderMap, bytes::Bytes), Error> {
        let retry = self.retry();
        let creds = self.credentials(retry).await?;
        transport::send(&self.http, endpoint, Some(&creds), call, retry).await
    }
}
