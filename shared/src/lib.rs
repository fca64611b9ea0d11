//! What the five Lifeboat functions share: how they are started ([`trigger`]), the runbook as
//! data ([`policy`]), the environment ([`config`]), AWS clients ([`clients`]), the report and its
//! delivery ([`report`], [`notify`], [`metrics`]) and run state in S3 ([`journal`]).

pub mod clients;
pub mod config;
#[cfg(feature = "data")]
pub mod data;
pub mod error;
pub mod journal;
pub mod metrics;
pub mod notify;
pub mod policy;
pub mod report;
pub mod trigger;

pub use error::{Error, Result};

use std::future::Future;

use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

/// JSON logs through `tracing` (to stderr; stdout carries the EMF metric lines).
/// `RUST_LOG` sets the level (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
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

/// Where a snapshot's manifest and RDS export live in the backup bucket: written by
/// snapshot-export, read by restore-verification.
pub fn backup_prefix(kind: policy::ResourceKind, source_id: &str, snapshot_id: &str) -> String {
    format!("backups/{kind}/{source_id}/{snapshot_id}/")
}

/// The manifest beside a backup.
pub fn manifest_key(kind: policy::ResourceKind, source_id: &str, snapshot_id: &str) -> String {
    format!(
        "{}manifest.json",
        backup_prefix(kind, source_id, snapshot_id)
    )
}

/// Time kept back from the invocation deadline to save state and deliver the report.
pub const DEADLINE_RESERVE: std::time::Duration = std::time::Duration::from_secs(30);

/// How long an invocation may keep starting work: until the deadline less a reserve for the
/// report. A deadline that is not an epoch time in the future (some local runtime emulators send
/// the timeout itself) leaves the run unbounded rather than doing nothing.
pub fn stop_time(deadline_ms: u64, now: std::time::SystemTime) -> Option<std::time::Duration> {
    let deadline =
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(deadline_ms);
    let remaining = deadline.duration_since(now).ok()?;
    Some(remaining.saturating_sub(DEADLINE_RESERVE.min(remaining / 4)))
}

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
