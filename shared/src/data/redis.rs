//! Redis (ElastiCache replication groups): the key count at snapshot time, and the checks on a
//! restored copy: key count against that count, a sample of keys readable.
//!
//! Over TLS (`rediss://`, the server's certificate verified) whenever the endpoint asks for it
//! (`database.tls`, default true; restored caches always), in the clear only to a server
//! `LIFEBOAT_LOCAL_ENDPOINTS` maps locally or with `tls: false`. Reports carry counts, never a
//! key name read from the data (a key name can be a customer's e-mail address or session id).

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::sql::{CheckResult, Verdict};

/// The PEM roots Redis TLS verifies against instead of the system's, when set. Not
/// `LIFEBOAT_DB_CA_BUNDLE`: that one holds the RDS CA bundle, while ElastiCache's certificates
/// chain to Amazon's public roots, which the system's roots hold and the RDS bundle does not.
pub const REDIS_CA_BUNDLE_VAR: &str = "LIFEBOAT_REDIS_CA_BUNDLE";
use super::{Credentials, Target};

/// A Redis server to connect to. Prints without its password (an AUTH token).
#[derive(Clone, PartialEq)]
pub struct RedisEndpoint {
    pub host: String,
    pub port: u16,
    /// The logical database (0 on ElastiCache).
    pub db: i64,
    pub username: String,
    pub password: String,
    /// TLS with the server's certificate verified.
    pub tls: bool,
    /// The PEM roots TLS verifies against ([`REDIS_CA_BUNDLE_VAR`]; not the RDS bundle the SQL
    /// path uses); `None`: the system's roots (ElastiCache's certificates chain to Amazon's public
    /// root CAs, which the Lambda runtime's trust store carries).
    pub ca_bundle: Option<PathBuf>,
}

impl std::fmt::Debug for RedisEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}:{}/{}{}",
            if self.tls { "rediss" } else { "redis" },
            self.host,
            self.port,
            self.db,
            if self.password.is_empty() {
                ""
            } else {
                " (AUTH token hidden)"
            }
        )
    }
}

impl RedisEndpoint {
    /// `to` as `creds`; TLS when asked for, except to a locally mapped server (as
    /// [`super::Endpoint::new`]), verified against the system's roots, or `LIFEBOAT_REDIS_CA_BUNDLE` when it is set.
    pub fn new(to: &Target, creds: &Credentials, tls: bool) -> RedisEndpoint {
        RedisEndpoint {
            host: to.host.clone(),
            port: to.port,
            db: 0,
            username: creds.username.clone(),
            password: creds.password.clone(),
            tls: tls && !to.mapped,
            ca_bundle: std::env::var_os(REDIS_CA_BUNDLE_VAR).map(PathBuf::from),
        }
    }

    /// `redis://` or `rediss://[user:password@]host:port/db`; never logged.
    fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let auth = if self.password.is_empty() {
            String::new()
        } else {
            format!("{}:{}@", pct(&self.username), pct(&self.password))
        };
        format!("{scheme}://{auth}{}:{}/{}", self.host, self.port, self.db)
    }

    fn client(&self) -> Result<redis::Client, String> {
        let url = self.url();
        let built = match (&self.ca_bundle, self.tls) {
            (Some(path), true) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("{REDIS_CA_BUNDLE_VAR} {}: {e}", path.display()))?;
                // rustls needs one process-wide crypto provider; the PostgreSQL path uses the
                // same (aws-lc-rs). Already installed is fine.
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                redis::Client::build_with_tls(
                    url.as_str(),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    },
                )
            }
            (None, true) => {
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                redis::Client::open(url.as_str())
            }
            (_, false) => redis::Client::open(url.as_str()),
        };
        // The URL holds the AUTH token: the error says what was wrong, not the URL.
        built.map_err(|e| {
            format!(
                "Redis endpoint {self:?}: {:?} {}",
                e.kind(),
                e.code().unwrap_or_default()
            )
        })
    }
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub use crate::backup::CacheFingerprint;

async fn connect(ep: &RedisEndpoint) -> Result<redis::aio::MultiplexedConnection, String> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(std::time::Duration::from_secs(10))
        .set_response_timeout(std::time::Duration::from_secs(30));
    ep.client()?
        .get_multiplexed_async_connection_with_config(&config)
        .await
        // A connection error is about the network and the handshake (no key, no token).
        .map_err(|e| format!("connecting to Redis {ep:?}: {e}"))
}

/// A failed command, without its arguments: Redis echoes them in some errors ("unknown
/// command 'DUMP', with args beginning with: '<key>'"), and a key can be a customer's name.
fn command_error(what: &str, e: &redis::RedisError) -> String {
    format!(
        "{what}: {:?}{}",
        e.kind(),
        e.code().map(|c| format!(" ({c})")).unwrap_or_default()
    )
}

/// Total keys from `INFO keyspace` (`db0:keys=12,expires=0,...`).
pub fn keys_from_info(info: &str) -> i64 {
    info.lines()
        .filter(|l| l.starts_with("db"))
        .filter_map(|l| l.split_once(':').map(|(_, rest)| rest))
        .filter_map(|rest| rest.split(',').find_map(|kv| kv.strip_prefix("keys=")))
        .filter_map(|n| n.trim().parse::<i64>().ok())
        .sum()
}

pub async fn fingerprint(
    ep: &RedisEndpoint,
    at: DateTime<Utc>,
) -> Result<CacheFingerprint, String> {
    let mut c = connect(ep).await?;
    let info: String = redis::cmd("INFO")
        .arg("keyspace")
        .query_async(&mut c)
        .await
        .map_err(|e| command_error("INFO keyspace", &e))?;
    Ok(CacheFingerprint {
        taken_at: at,
        keys: keys_from_info(&info),
    })
}

/// Key count within `tolerance_percent` of the fingerprint, and `sample` keys (from SCAN of the
/// connected database) readable with DUMP, whatever their type. The results say how many keys,
/// never which.
pub async fn verify(
    ep: &RedisEndpoint,
    expected: Option<&CacheFingerprint>,
    tolerance_percent: f64,
    sample: usize,
) -> Result<Vec<CheckResult>, String> {
    let mut c = connect(ep).await?;
    let mut out = Vec::new();
    let info: String = redis::cmd("INFO")
        .arg("keyspace")
        .query_async(&mut c)
        .await
        .map_err(|e| command_error("INFO keyspace", &e))?;
    let keys = keys_from_info(&info);
    match expected {
        Some(fp) => {
            let allowed = (fp.keys as f64 * tolerance_percent / 100.0).floor() as i64;
            out.push(CheckResult {
                check: "key-count".into(),
                subject: "redis".into(),
                verdict: if (keys - fp.keys).abs() <= allowed {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                },
                detail: format!(
                    "{keys} keys restored, {} at snapshot time (tolerance {tolerance_percent}%)",
                    fp.keys
                ),
            });
        }
        None => out.push(CheckResult {
            check: "key-count".into(),
            subject: "redis".into(),
            verdict: Verdict::Pass,
            detail: format!("{keys} keys; no count recorded at snapshot time"),
        }),
    }
    let mut cursor: u64 = 0;
    let mut picked: Vec<String> = Vec::new();
    for _ in 0..1000 {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(100)
            .query_async(&mut c)
            .await
            .map_err(|e| command_error("SCAN", &e))?;
        picked.extend(batch);
        cursor = next;
        if cursor == 0 || picked.len() >= sample {
            break;
        }
    }
    picked.truncate(sample);
    let mut unreadable = 0;
    for (i, k) in picked.iter().enumerate() {
        let dumped: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(k)
            .query_async(&mut c)
            .await
            .map_err(|e| {
                command_error(
                    &format!("DUMP of sampled key {} of {}", i + 1, picked.len()),
                    &e,
                )
            })?;
        if dumped.is_none() {
            unreadable += 1;
        }
    }
    out.push(CheckResult {
        check: "sample-readable".into(),
        subject: "redis".into(),
        verdict: if unreadable == 0 && (!picked.is_empty() || keys == 0) {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        detail: sample_detail(picked.len(), unreadable),
    });
    out.sort_by_key(|r| r.verdict == Verdict::Pass);
    Ok(out)
}

/// The sample check's line: counts only.
fn sample_detail(sampled: usize, unreadable: usize) -> String {
    if unreadable == 0 {
        format!("{sampled} sampled keys read")
    } else {
        format!("{unreadable} of {sampled} sampled keys unreadable (key names are not reported)")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keyspace_info_is_summed() {
        let info =
            "# Keyspace\r\ndb0:keys=12,expires=3,avg_ttl=0\r\ndb5:keys=30,expires=0,avg_ttl=0\r\n";
        assert_eq!(super::keys_from_info(info), 42);
        assert_eq!(super::keys_from_info("# Keyspace\r\n"), 0);
    }

    #[test]
    fn the_endpoint_prints_without_its_token_and_picks_the_scheme() {
        let mut ep = super::RedisEndpoint {
            host: "master.sessions.abc123.use1.cache.amazonaws.com".into(),
            port: 6379,
            db: 0,
            username: String::new(),
            password: "an-auth-token-of-16+".into(),
            tls: true,
            ca_bundle: None,
        };
        assert!(ep
            .url()
            .starts_with("rediss://:an-auth-token-of-16%2B@master."));
        let shown = format!("{ep:?}");
        assert!(!shown.contains("an-auth-token"), "{shown}");
        assert!(shown.starts_with("rediss://master."), "{shown}");
        ep.tls = false;
        assert!(ep.url().starts_with("redis://"));
        assert_eq!(
            super::sample_detail(50, 3),
            "3 of 50 sampled keys unreadable (key names are not reported)"
        );
    }
}
