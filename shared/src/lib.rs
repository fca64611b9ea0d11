//! What the five Lifeboat functions share: how they are started ([`trigger`]), the runbook as
//! data ([`policy`]), the environment ([`config`]), AWS clients ([`clients`]), the report and its
//! delivery ([`report`], [`notify`], [`metrics`]), run state in S3 ([`journal`]) and alerts on
//! state change only ([`alerts`]); for tests, the call log of mocked clients ([`call_log`]).

pub mod alerts;
pub mod aws;
pub mod backup;
pub mod call_log;
pub mod clients;
pub mod config;
#[cfg(feature = "data")]
pub mod data;
pub mod error;
pub mod journal;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod preflight;
pub mod report;
pub mod resumable;
pub mod run;
pub mod trigger;

pub use error::{Error, Result};

use std::future::Future;

use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

/// JSON logs through `tracing` (to stderr; stdout carries the EMF metric lines), at the level
/// Lambda's advanced logging controls set (`AWS_LAMBDA_LOG_LEVEL`), else `RUST_LOG`, else `info`.
pub fn init_tracing() {
    let directives = log_filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}

/// The log filter: Lambda's `AWS_LAMBDA_LOG_LEVEL` (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) when
/// the function's logging config sets it, as aws-lambda-rust-runtime does; else `RUST_LOG`
/// (directives allowed); else `info`.
pub fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> String {
    let lambda = lambda_level.map(|l| l.trim().to_ascii_lowercase());
    match lambda.as_deref() {
        Some(l @ ("trace" | "debug" | "info" | "warn" | "error")) => l.to_string(),
        Some("fatal") => "error".to_string(),
        _ => match rust_log.map(str::trim) {
            Some(r) if !r.is_empty() => r.to_string(),
            _ => "info".to_string(),
        },
    }
}

/// Reads the policy document named by `LIFEBOAT_POLICY` from a file or from S3 and validates it.
pub async fn load_policy(location: &str, s3: &aws_sdk_s3::Client) -> Result<policy::Policy> {
    let text = if let Some(rest) = location.strip_prefix("s3://") {
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| Error::env(config::POLICY_VAR, "s3://bucket/key"))?;
        let (bytes, _) = journal::read_bytes(s3, bucket, key).await?.ok_or_else(|| {
            Error::env(
                config::POLICY_VAR,
                format!("{location} to exist (no such object)"),
            )
        })?;
        String::from_utf8(bytes)
            .map_err(|_| Error::env(config::POLICY_VAR, format!("{location} to hold UTF-8 text")))?
    } else {
        std::fs::read_to_string(location).map_err(|e| {
            Error::env(
                config::POLICY_VAR,
                format!("a readable policy file, but {location}: {e}"),
            )
        })?
    };
    policy::Policy::parse(&text)
}

/// 32-bit FNV-1a: stable across builds and platforms, unlike std's hasher. Every name or id
/// Lifeboat derives from a hash uses it.
pub fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// A run id that is the same for a retried delivery of the same event:
/// `<UTC time of the trigger>-<8 hex digits of the event or request id>`.
pub fn run_id(at: DateTime<Utc>, event_or_request_id: &str) -> String {
    format!(
        "{}-{:08x}",
        at.format("%Y%m%dT%H%M%SZ"),
        fnv1a(event_or_request_id)
    )
}

/// An AWS timestamp as chrono's (`None` when AWS gave none or it is out of range).
pub fn aws_time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

pub use run::{stop_time, DEADLINE_RESERVE};

/// The runtime loop every function's `main` ends in. The app is built once per container; a
/// configuration error is returned by every invocation (naming the variable or policy field)
/// instead of crashing the container.
pub async fn serve<A, F, Fut>(
    app: Result<A>,
    handler: F,
) -> std::result::Result<(), lambda_runtime::Error>
where
    A: Sync + 'static,
    F: Fn(&'static A, LambdaEvent<Value>) -> Fut,
    Fut: Future<Output = Result<Value>>,
{
    // Lives as long as the container: the process ends with it.
    let app: &'static Result<A> = Box::leak(Box::new(app));
    if let Err(e) = app {
        tracing::error!(error = %e, "configuration rejected; every invocation returns this error");
    }
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        match app {
            Ok(a) => handler(a, event).await,
            Err(e) => Err(e.clone()),
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn lambda_log_level_wins_then_rust_log_then_info() {
        assert_eq!(log_filter(Some("DEBUG"), Some("warn")), "debug");
        assert_eq!(log_filter(Some("FATAL"), None), "error");
        assert_eq!(
            log_filter(None, Some("lifeboat_shared=trace,info")),
            "lifeboat_shared=trace,info"
        );
        assert_eq!(
            log_filter(Some("LOUD"), Some("warn")),
            "warn",
            "an unknown level falls back"
        );
        assert_eq!(log_filter(None, None), "info");
    }
}
