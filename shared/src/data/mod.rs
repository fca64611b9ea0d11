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
pub use redis::CacheFingerprint;
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

/// Reads the secret. Errors name the secret and the missing field, never its value.
pub async fn credentials(
    sm: &aws_sdk_secretsmanager::Client,
    secret_arn: &str,
) -> Result<Credentials, String> {
    let out = sm
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| {
            let (code, msg) = crate::error::aws_error_parts(&e);
            format!("GetSecretValue {secret_arn}: {code}: {msg}")
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| format!("secret {secret_arn} has no SecretString"))?;
    let v: serde_json::Value = serde_json::from_str(text).map_err(|_| {
        format!("secret {secret_arn} is not a JSON object with username and password")
    })?;
    let field = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    Ok(Credentials {
        username: field("username").unwrap_or_default(),
        password: field("password")
            .ok_or_else(|| format!("secret {secret_arn} has no \"password\" field"))?,
    })
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
            redis::fingerprint(&redis::url(to, creds), at).await?,
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
