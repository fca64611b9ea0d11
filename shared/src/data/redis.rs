//! Redis (ElastiCache replication groups): the key count at snapshot time, and the checks on a
//! restored copy: key count against that count, a sample of keys readable.

use chrono::{DateTime, Utc};

use super::sql::{CheckResult, Verdict};
use super::{Credentials, Target};

/// `redis://[:password@]host:port/0`; the password (an AUTH token) is never logged.
pub fn url(to: &Target, creds: &Credentials) -> String {
    if creds.password.is_empty() {
        format!("redis://{}:{}/0", to.host, to.port)
    } else {
        let user = if creds.username.is_empty() {
            String::new()
        } else {
            creds.username.clone()
        };
        format!(
            "redis://{}:{}@{}:{}/0",
            pct(&user),
            pct(&creds.password),
            to.host,
            to.port
        )
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

async fn connect(url: &str) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| format!("redis URL: {e}"))?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| {
            format!(
                "connecting to Redis: {:?} {}",
                e.kind(),
                e.detail().unwrap_or_default()
            )
        })
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

pub async fn fingerprint(url: &str, at: DateTime<Utc>) -> Result<CacheFingerprint, String> {
    let mut c = connect(url).await?;
    let info: String = redis::cmd("INFO")
        .arg("keyspace")
        .query_async(&mut c)
        .await
        .map_err(|e| format!("INFO keyspace: {e}"))?;
    Ok(CacheFingerprint {
        taken_at: at,
        keys: keys_from_info(&info),
    })
}

/// Key count within `tolerance_percent` of the fingerprint, and `sample` keys (from SCAN of the
/// connected database) readable with DUMP, whatever their type.
pub async fn verify(
    url: &str,
    expected: Option<&CacheFingerprint>,
    tolerance_percent: f64,
    sample: usize,
) -> Result<Vec<CheckResult>, String> {
    let mut c = connect(url).await?;
    let mut out = Vec::new();
    let info: String = redis::cmd("INFO")
        .arg("keyspace")
        .query_async(&mut c)
        .await
        .map_err(|e| format!("INFO keyspace: {e}"))?;
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
            .map_err(|e| format!("SCAN: {e}"))?;
        picked.extend(batch);
        cursor = next;
        if cursor == 0 || picked.len() >= sample {
            break;
        }
    }
    picked.truncate(sample);
    let mut unreadable = Vec::new();
    for k in &picked {
        let dumped: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(k)
            .query_async(&mut c)
            .await
            .map_err(|e| format!("DUMP {k}: {e}"))?;
        if dumped.is_none() {
            unreadable.push(k.clone());
        }
    }
    out.push(CheckResult {
        check: "sample-readable".into(),
        subject: "redis".into(),
        verdict: if unreadable.is_empty() && (!picked.is_empty() || keys == 0) {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        detail: if unreadable.is_empty() {
            format!("{} sampled keys read", picked.len())
        } else {
            format!(
                "{} of {} sampled keys unreadable, e.g. {}",
                unreadable.len(),
                picked.len(),
                unreadable[0]
            )
        },
    });
    out.sort_by_key(|r| r.verdict == Verdict::Pass);
    Ok(out)
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
}
