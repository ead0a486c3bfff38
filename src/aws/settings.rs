//! What the AWS CLI would use for a call: the profile, region, endpoint and the source of the
//! credentials, resolved from options, the environment and the shared files in the CLI's own
//! order. Resolving reads but contacts nothing; credentials are fetched by [`super::credentials`].

use std::sync::Arc;
use std::time::Duration;

use super::profile::{Files, Profile};
use super::sigv4::Credentials;
use crate::error::{Error, Kind};

/// Options a client is made with; unset ones come from the environment and the files.
#[derive(Default, Clone)]
pub struct Options {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub credentials: Option<Credentials>,
    pub max_attempts: Option<u32>,
    pub timeout: Option<Duration>,
    pub path_style: Option<bool>,
}

pub struct Settings {
    pub profile: String,
    explicit_profile: bool,
    pub region: Option<String>,
    endpoint: Option<String>,
    pub files: Files,
    pub explicit_credentials: Option<Credentials>,
    pub max_attempts: u32,
    pub timeout: Duration,
    path_style: Option<bool>,
    /// The profile's s3 multipart_threshold, multipart_chunksize and max_concurrent_requests
    /// (the AWS CLI's transfer settings), under the call's own options.
    pub s3_multipart: crate::aws::s3::Multipart,
    /// The profile's s3 settings that essh does not apply (`s3.max_bandwidth`...): each is
    /// named in a warning.
    pub unapplied: Vec<String>,
}

/// The AWS CLI's s3 settings that essh does not apply.
const UNAPPLIED_S3: &[&str] = &[
    "max_bandwidth",
    "max_queue_size",
    "use_accelerate_endpoint",
    "use_dualstack_endpoint",
    "payload_signing_enabled",
    "preferred_transfer_client",
    "target_bandwidth",
];

/// A size as the AWS CLI writes it: bytes, or a number with KB, MB, GB, TB (or KiB...), all
/// powers of 1024 as the CLI reads them.
fn size(key: &str, text: &str) -> Result<u64, Error> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "kib" => 1 << 10,
        "mb" | "mib" => 1 << 20,
        "gb" | "gib" => 1 << 30,
        "tb" | "tib" => 1 << 40,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(n) if factor > 0 && n > 0 => Ok(n * factor),
        _ => Err(config_error(format!("aws: s3 {key} must be a size such as 8MB or 8388608, got '{text}'"))),
    }
}

/// Where a service's requests go and how they are signed.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// scheme://host[:port], with any base path, no trailing slash.
    pub base: url::Url,
    pub region: String,
    /// The name the signature's scope uses.
    pub signing_name: String,
    /// Whether the endpoint was configured (a custom store or an emulator) rather than AWS's.
    pub custom: bool,
}

pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn home() -> String {
    env("HOME").unwrap_or_else(|| ".".into())
}

fn config_error(message: impl Into<String>) -> Error {
    Error::new(Kind::Invalid, message.into())
}

impl Settings {
    pub fn resolve(options: &Options) -> Result<Settings, Error> {
        let config_path = env("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{}/.aws/config", home()));
        let credentials_path =
            env("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| format!("{}/.aws/credentials", home()));
        let files = Files::load(&config_path, &credentials_path).map_err(config_error)?;
        let explicit_profile = options.profile.is_some();
        let profile = options
            .profile
            .clone()
            .or_else(|| env("AWS_PROFILE"))
            .or_else(|| env("AWS_DEFAULT_PROFILE"))
            .unwrap_or_else(|| "default".into());
        if profile != "default" && files.profile(&profile).is_none() {
            return Err(config_error(format!(
                "aws: the profile '{profile}' is in neither {config_path} nor {credentials_path}"
            )));
        }
        let settings = |key: &str| files.profile(&profile).and_then(|p| p.get(key)).cloned();
        let region = options
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or_else(|| settings("region"));
        let max_attempts = match options.max_attempts {
            Some(n) => n,
            None => match env("AWS_MAX_ATTEMPTS").or_else(|| settings("max_attempts")) {
                Some(text) => text
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| config_error(format!("aws: max_attempts must be a positive integer, got '{text}'")))?,
                None => 3,
            },
        };
        let path_style = options.path_style.or(match settings("s3.addressing_style").as_deref() {
            Some("path") => Some(true),
            Some("virtual") => Some(false),
            _ => None,
        });
        let mut s3_multipart = crate::aws::s3::Multipart::default();
        if let Some(t) = settings("s3.multipart_threshold") {
            s3_multipart.threshold = size("multipart_threshold", &t)?;
        }
        if let Some(t) = settings("s3.multipart_chunksize") {
            s3_multipart.part_size = size("multipart_chunksize", &t)?;
        }
        if let Some(t) = settings("s3.max_concurrent_requests") {
            s3_multipart.concurrency = t.trim().parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                config_error(format!("aws: s3 max_concurrent_requests must be a positive integer, got '{t}'"))
            })?;
        }
        let unapplied = UNAPPLIED_S3.iter().map(|k| format!("s3.{k}")).filter(|k| settings(k).is_some()).collect();
        Ok(Settings {
            s3_multipart,
            unapplied,
            profile,
            explicit_profile,
            region,
            endpoint: options.endpoint.clone(),
            files,
            explicit_credentials: options.credentials.clone(),
            max_attempts,
            timeout: options.timeout.unwrap_or(Duration::from_secs(60)),
            path_style,
        })
    }

    pub fn profile_settings(&self, name: &str) -> Option<&Profile> {
        self.files.profile(name)
    }

    pub fn setting(&self, key: &str) -> Option<&String> {
        self.profile_settings(&self.profile).and_then(|p| p.get(key))
    }

    /// Whether environment keys count: not when a profile was chosen in the options.
    pub fn environment_credentials(&self) -> bool {
        !self.explicit_profile
    }

    pub fn region(&self) -> Result<&str, Error> {
        self.region.as_deref().ok_or_else(|| {
            config_error(
                "aws: no region: set AWS_REGION, a region in the profile, or the region option".to_string(),
            )
        })
    }

    /// The endpoint configured for `service`, in the SDKs' order: the option, then
    /// AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's services section and its
    /// endpoint_url.
    fn configured_endpoint(&self, service: &str) -> Option<String> {
        if let Some(e) = &self.endpoint {
            return Some(e.clone());
        }
        if env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        let id = service.to_ascii_uppercase().replace(['-', ' '], "_");
        env(&format!("AWS_ENDPOINT_URL_{id}"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .or_else(|| {
                let section = self.setting("services")?;
                self.files.services.get(section)?.get(&format!("{}.endpoint_url", service.to_ascii_lowercase())).cloned()
            })
            .or_else(|| self.setting("endpoint_url").cloned())
    }

    pub fn endpoint(&self, service: &str) -> Result<Endpoint, Error> {
        let global = matches!(service, "iam" | "route53" | "cloudfront" | "organizations");
        let region = match self.region() {
            Ok(r) => r.to_string(),
            Err(_) if global => "us-east-1".to_string(),
            Err(e) => return Err(e),
        };
        let (text, custom) = match self.configured_endpoint(service) {
            Some(e) => (e, true),
            None => {
                let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
                let host = if global { format!("{service}.{suffix}") } else { format!("{service}.{region}.{suffix}") };
                (format!("https://{host}"), false)
            }
        };
        let base = url::Url::parse(text.trim_end_matches('/'))
            .map_err(|e| config_error(format!("aws: bad endpoint URL '{text}': {e}")))?;
        if base.scheme() != "http" && base.scheme() != "https" {
            return Err(config_error(format!("aws: the endpoint '{text}' must be http or https")));
        }
        let signing_name = match service {
            "ses" => "email",
            other => other,
        }
        .to_string();
        Ok(Endpoint { base, region: if global && !custom { "us-east-1".into() } else { region }, signing_name, custom })
    }

    /// Whether S3 requests put the bucket in the path rather than the host name.
    pub fn s3_path_style(&self, endpoint: &Endpoint, bucket: &str) -> bool {
        match self.path_style {
            Some(p) => p,
            None => endpoint.custom || bucket.contains('.') || bucket.to_ascii_lowercase() != bucket,
        }
    }
}

/// Shared settings, as clients keep them.
pub type Shared = Arc<Settings>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_sizes_read_as_the_aws_cli_reads_them() {
        assert_eq!(size("t", "8388608").unwrap(), 8 << 20);
        assert_eq!(size("t", "64MB").unwrap(), 64 << 20);
        assert_eq!(size("t", "16 MiB").unwrap(), 16 << 20);
        assert_eq!(size("t", "1GB").unwrap(), 1 << 30);
        assert!(size("multipart_threshold", "lots").unwrap_err().message.contains("got 'lots'"));
        assert!(size("t", "0").is_err());
    }

    fn settings(region: Option<&str>, endpoint: Option<&str>) -> Settings {
        Settings {
            profile: "default".into(),
            explicit_profile: false,
            region: region.map(String::from),
            endpoint: endpoint.map(String::from),
            files: Files::default(),
            explicit_credentials: None,
            max_attempts: 3,
            timeout: Duration::from_secs(60),
            path_style: None,
            s3_multipart: crate::aws::s3::Multipart::default(),
            unapplied: Vec::new(),
        }
    }

    #[test]
    fn endpoints_are_regional_global_or_configured() {
        let s = settings(Some("eu-west-1"), None);
        assert_eq!(s.endpoint("ec2").unwrap().base.as_str(), "https://ec2.eu-west-1.amazonaws.com/");
        let iam = s.endpoint("iam").unwrap();
        assert_eq!((iam.base.as_str(), iam.region.as_str()), ("https://iam.amazonaws.com/", "us-east-1"));
        assert_eq!(settings(Some("cn-north-1"), None).endpoint("sts").unwrap().base.host_str(), Some("sts.cn-north-1.amazonaws.com.cn"));
        let local = settings(Some("us-east-1"), Some("http://127.0.0.1:5000/"));
        let e = local.endpoint("s3").unwrap();
        assert!(e.custom && local.s3_path_style(&e, "bucket"));
        assert!(!s.s3_path_style(&s.endpoint("s3").unwrap(), "bucket"));
        assert!(s.s3_path_style(&s.endpoint("s3").unwrap(), "my.bucket"));
    }

    #[test]
    fn a_missing_region_says_where_to_set_one() {
        let err = settings(None, None).endpoint("ec2").unwrap_err();
        assert!(err.message.contains("no region: set AWS_REGION"), "{}", err.message);
    }
}
