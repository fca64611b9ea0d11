//! Database access shared by snapshot-export (the data fingerprint taken at snapshot time and
//! recorded in the manifest) and restore-verification (the checks on a restored copy).
//! Feature `data`: the other functions do not link the database drivers.
//!
//! Credentials come from Secrets Manager (RDS-style JSON: `username`, `password`) and are never
//! logged nor reported: [`Credentials`] prints without its password.

pub mod redis;
pub mod sql;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// The fingerprint records are part of the backup contract (they compile without `data`).
pub use crate::backup::DataFingerprint;
pub use redis::{CacheFingerprint, RedisEndpoint};
pub use sql::{CheckResult, Db, Endpoint, Engine, Fingerprint, Spec, Verdict};

/// Engine family of an RDS or ElastiCache engine name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Sql(Engine),
    Redis,
}

impl Family {
    pub fn of(engine: &str) -> Option<Family> {
        let e = engine.to_ascii_lowercase();
        if e.contains("postgres") {
            Some(Family::Sql(Engine::Postgres))
        } else if e.contains("mysql") || e.contains("mariadb") || e == "aurora" {
            Some(Family::Sql(Engine::Mysql))
        } else if e.contains("redis") || e.contains("valkey") {
            Some(Family::Redis)
        } else {
            None
        }
    }

    /// The key of `LIFEBOAT_LOCAL_ENDPOINTS`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Sql(Engine::Postgres) => "postgres",
            Family::Sql(Engine::Mysql) => "mysql",
            Family::Redis => "redis",
        }
    }
}

/// A database user and password from Secrets Manager.
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (password hidden)", self.username)
    }
}

/// Reads the secret. Errors name the secret and the field or shape expected, and never quote
/// anything of the secret's body: not a parse error's excerpt, and not the body of a reply the
/// SDK could not read (a `GetSecretValue` reply is the secret).
pub async fn credentials(
    sm: &aws_sdk_secretsmanager::Client,
    secret_arn: &str,
) -> Result<Credentials, String> {
    let out = sm
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| secret_read_error(secret_arn, &e))?;
    let text = out
        .secret_string()
        .ok_or_else(|| format!("secret {secret_arn} has no SecretString (a binary secret): expected a JSON object with \"username\" and \"password\""))?;
    parse_credentials(secret_arn, text)
}

/// The secret's JSON (RDS style: `username`, `password`). Errors name the secret and the field
/// or shape, never a value.
pub fn parse_credentials(secret_arn: &str, text: &str) -> Result<Credentials, String> {
    let shape = "a JSON object with \"username\" and \"password\" strings";
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| format!("secret {secret_arn} is not JSON: expected {shape}"))?;
    let Some(obj) = v.as_object() else {
        return Err(format!(
            "secret {secret_arn} is not a JSON object: expected {shape}"
        ));
    };
    let field = |k: &str| -> Result<Option<String>, String> {
        match obj.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!(
                "secret {secret_arn}: field \"{k}\" is not a string: expected {shape}"
            )),
        }
    };
    Ok(Credentials {
        username: field("username")?.unwrap_or_default(),
        password: field("password")?.ok_or_else(|| {
            format!("secret {secret_arn} has no \"password\" field: expected {shape}")
        })?,
    })
}

/// A failed `GetSecretValue`, without a byte of its reply: AWS's error code and message when the
/// reply carried one (Secrets Manager's messages name the secret, never its value); otherwise
/// only the HTTP status or that no reply came — the body of a reply the SDK could not read may
/// be the secret itself.
fn secret_read_error<E>(
    secret_arn: &str,
    err: &aws_sdk_secretsmanager::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
    if let Some(code) = err.code() {
        let msg: String = err
            .message()
            .unwrap_or("no message")
            .chars()
            .take(200)
            .collect();
        return format!("GetSecretValue {secret_arn}: {code}: {msg}");
    }
    let what = match err {
        SdkError::ResponseError(_) | SdkError::ServiceError(_) => match err.raw_response() {
            Some(raw) => format!(
                "HTTP {} reply that could not be read (its body is not quoted: it may hold the secret)",
                raw.status().as_u16()
            ),
            None => "a reply that could not be read".to_string(),
        },
        SdkError::TimeoutError(_) => "no reply in time".to_string(),
        SdkError::DispatchFailure(_) => "the request could not be sent (connection failed)".to_string(),
        SdkError::ConstructionFailure(_) => "the request could not be built".to_string(),
        _ => "failed".to_string(),
    };
    format!("GetSecretValue {secret_arn}: {what}")
}

/// Where a connection goes: the endpoint AWS reports, or, in a local run, the address
/// `LIFEBOAT_LOCAL_ENDPOINTS` gives for the engine family (then `mapped`, and in the clear).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub mapped: bool,
}

pub fn target(
    local: &BTreeMap<String, (String, u16)>,
    family: Family,
    host: &str,
    port: u16,
) -> Target {
    match local.get(family.name()) {
        Some((h, p)) => Target {
            host: h.clone(),
            port: *p,
            mapped: true,
        },
        None => Target {
            host: host.to_string(),
            port,
            mapped: false,
        },
    }
}

impl Endpoint {
    /// A connection to `to` as `creds`; TLS when asked for, except to a locally mapped server.
    pub fn new(
        engine: Engine,
        to: &Target,
        database: Option<&str>,
        creds: &Credentials,
        tls: bool,
    ) -> Endpoint {
        Endpoint {
            engine,
            host: to.host.clone(),
            port: to.port,
            database: database.unwrap_or_default().to_string(),
            user: creds.username.clone(),
            password: creds.password.clone(),
            tls: tls && !to.mapped,
        }
    }
}

/// `check subject: detail` of every failing check, in order.
pub fn failing(checks: &[CheckResult]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| format!("{} {}: {}", c.check, c.subject, c.detail))
        .collect()
}

/// What a backup's manifest records about the data at snapshot time: the fingerprint, or why
/// there is none.
#[derive(Debug, Default)]
pub struct Recorded {
    pub fingerprint: Option<DataFingerprint>,
    pub missing: Option<String>,
}

/// The manifest at `key` in `bucket`, read for its fingerprint: `None` when there is no such
/// manifest; an error when it cannot be read, is of another schema, or its fingerprint does
/// not parse. Shared by restore-verification and failover-orchestrator's verify step.
pub async fn recorded_at(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Recorded>, String> {
    let manifest: Option<(serde_json::Value, String)> = crate::journal::read_json(s3, bucket, key)
        .await
        .map_err(|e| e.to_string())?;
    let Some((m, _)) = manifest else {
        return Ok(None);
    };
    crate::backup::check_schema(m.get("schema").and_then(|v| v.as_str()))
        .map_err(|e| format!("s3://{bucket}/{key}: {e}"))?;
    let missing = m
        .get("fingerprint_missing")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    match m.get("fingerprint") {
        None | Some(serde_json::Value::Null) => Ok(Some(Recorded {
            fingerprint: None,
            missing,
        })),
        Some(v) => serde_json::from_value(v.clone())
            .map(|f| {
                Some(Recorded {
                    fingerprint: Some(f),
                    missing: None,
                })
            })
            .map_err(|e| format!("s3://{bucket}/{key}: fingerprint not readable: {e}")),
    }
}

/// The checks on an endpoint and whether it was a local stand-in.
#[derive(Debug)]
pub struct Checked {
    pub results: Vec<CheckResult>,
    pub mapped: bool,
}

/// Every check a component's `verify` section asks for, on `host:port` (a restored copy, a
/// promoted replica): row counts against `expected` (the fingerprint recorded at snapshot time),
/// orphans, freshness against `as_of`, named checks; Redis keys. SQL connects with the
/// component's secret; Redis (with `redis_auth`) with its AUTH token when the component names a secret, over TLS
/// (in the clear only to a locally mapped server). Failing checks come first. Shared by
/// restore-verification and failover-orchestrator's verify step.
#[allow(clippy::too_many_arguments)]
pub async fn check_endpoint(
    secrets: &aws_sdk_secretsmanager::Client,
    local: &BTreeMap<String, (String, u16)>,
    comp: &crate::policy::Component,
    engine: &str,
    host: &str,
    port: u16,
    expected: Option<&DataFingerprint>,
    as_of: Option<DateTime<Utc>>,
    redis_auth: bool,
) -> Result<Checked, String> {
    let family =
        Family::of(engine).ok_or_else(|| format!("engine {engine:?} has no checks in Lifeboat"))?;
    let to = target(local, family, host, port);
    let v = comp
        .verify
        .as_ref()
        .ok_or("the component has no verify section")?;
    let results = match family {
        Family::Sql(engine) => {
            let access = comp
                .database
                .as_ref()
                .ok_or("the component has no database section")?;
            let creds = credentials(secrets, &access.secret_arn).await?;
            let ep = Endpoint::new(engine, &to, access.name.as_deref(), &creds, access.tls);
            let mut db = Db::connect(&ep).await?;
            let spec = Spec {
                tolerance_percent: v.row_tolerance_percent,
                freshness: v
                    .freshness
                    .as_ref()
                    .map(|f| (f.table.clone(), f.column.clone(), f.max_lag.0)),
                named: v.checks.clone(),
            };
            let fp = match expected {
                Some(DataFingerprint::Sql(f)) => Some(f),
                _ => None,
            };
            db.verify(fp, as_of, &spec).await?
        }
        Family::Redis => {
            // A restored copy has no AUTH inside the restore subnets; a promoted production
            // group keeps the component's token.
            let creds = match (&comp.database, redis_auth) {
                (Some(access), true) => credentials(secrets, &access.secret_arn).await?,
                _ => Credentials::default(),
            };
            let ep = redis::RedisEndpoint::new(&to, &creds, true);
            let fp = match expected {
                Some(DataFingerprint::Redis(f)) => Some(f),
                _ => None,
            };
            redis::verify(&ep, fp, v.key_tolerance_percent, v.sample_keys as usize).await?
        }
    };
    Ok(Checked {
        results,
        mapped: to.mapped,
    })
}

/// Takes the fingerprint of a live source (at snapshot time) or of a restored copy.
pub async fn fingerprint(
    family: Family,
    to: &Target,
    database: Option<&str>,
    creds: &Credentials,
    tls: bool,
    at: DateTime<Utc>,
) -> Result<DataFingerprint, String> {
    match family {
        Family::Sql(engine) => {
            let mut db = Db::connect(&Endpoint::new(engine, to, database, creds, tls)).await?;
            Ok(DataFingerprint::Sql(db.fingerprint(at).await?))
        }
        Family::Redis => Ok(DataFingerprint::Redis(
            redis::fingerprint(&redis::RedisEndpoint::new(to, creds, tls), at).await?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_families() {
        for (e, f) in [
            ("postgres", Family::Sql(Engine::Postgres)),
            ("aurora-postgresql", Family::Sql(Engine::Postgres)),
            ("mysql", Family::Sql(Engine::Mysql)),
            ("mariadb", Family::Sql(Engine::Mysql)),
            ("aurora-mysql", Family::Sql(Engine::Mysql)),
            ("redis", Family::Redis),
            ("valkey", Family::Redis),
        ] {
            assert_eq!(Family::of(e), Some(f), "{e}");
        }
        assert_eq!(Family::of("oracle-ee"), None);
    }

    #[test]
    fn local_mapping_is_explicit() {
        let mut local = BTreeMap::new();
        let t = target(&local, Family::Redis, "x.cache.amazonaws.com", 6379);
        assert!(!t.mapped && t.host == "x.cache.amazonaws.com");
        local.insert("redis".to_string(), ("127.0.0.1".to_string(), 6380));
        let t = target(&local, Family::Redis, "x.cache.amazonaws.com", 6379);
        assert_eq!(
            (t.host.as_str(), t.port, t.mapped),
            ("127.0.0.1", 6380, true)
        );
        let t = target(&local, Family::Sql(Engine::Mysql), "db", 3306);
        assert!(!t.mapped);
    }

    #[test]
    fn credentials_never_print_the_password() {
        let c = Credentials {
            username: "app".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
