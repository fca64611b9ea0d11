//! The environment every function reads at start-up, validated with named variables.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::policy::partition_of;
use crate::trigger::excerpt_str;

pub const POLICY_VAR: &str = "LIFEBOAT_POLICY";
pub const TOPIC_VAR: &str = "LIFEBOAT_REPORT_TOPIC_ARN";
pub const BUCKET_VAR: &str = "LIFEBOAT_REPORT_BUCKET";
/// For local runs only: `postgres=127.0.0.1:5432,mysql=127.0.0.1:3306,redis=127.0.0.1:6379`
/// sends every database connection of that engine family to that address instead of the
/// endpoint AWS (the emulator) reports, in the clear. Unset on AWS.
pub const LOCAL_ENDPOINTS_VAR: &str = "LIFEBOAT_LOCAL_ENDPOINTS";

#[derive(Debug, Clone, PartialEq)]
pub struct Env {
    /// A file path or `s3://bucket/key`.
    pub policy: String,
    pub report_topic_arn: String,
    pub report_bucket: String,
    /// `LIFEBOAT_LOCAL_ENDPOINTS`: engine family (postgres, mysql, redis) -> host and port.
    pub local_endpoints: BTreeMap<String, (String, u16)>,
}

fn parse_local_endpoints(v: &str) -> Result<BTreeMap<String, (String, u16)>> {
    let mut out = BTreeMap::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parsed = item.split_once('=').and_then(|(family, addr)| {
            let (host, port) = addr.rsplit_once(':')?;
            let port: u16 = port.parse().ok()?;
            let family = family.trim();
            (["postgres", "mysql", "redis"].contains(&family) && !host.is_empty())
                .then(|| (family.to_string(), (host.to_string(), port)))
        });
        let Some((family, addr)) = parsed else {
            return Err(Error::env(
                LOCAL_ENDPOINTS_VAR,
                format!(
                    "comma-separated FAMILY=HOST:PORT with FAMILY one of postgres, mysql, redis, got {}",
                    excerpt_str(item)
                ),
            ));
        };
        out.insert(family, addr);
    }
    Ok(out)
}

/// `arn:PARTITION:sns:REGION:ACCOUNT:NAME` with a region of that partition and a 12-digit
/// account.
fn is_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "sns"
        && partition_of(parts[3]) == Some(parts[1])
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty()
}

fn is_bucket_name(b: &str) -> bool {
    crate::policy::is_bucket_name(b)
}

impl Env {
    pub fn from_process() -> Result<Env> {
        Env::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Env> {
        let req = |var: &str, expected: &str| -> Result<String> {
            match get(var) {
                Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
                _ => Err(Error::env(var, format!("{expected} (it is not set)"))),
            }
        };
        let policy = req(POLICY_VAR, "a policy file path or s3://bucket/key")?;
        if let Some(rest) = policy.strip_prefix("s3://") {
            if !matches!(rest.split_once('/'), Some((b, k)) if is_bucket_name(b) && !k.is_empty() && k.len() <= 1024)
            {
                return Err(Error::env(
                    POLICY_VAR,
                    format!(
                        "s3://bucket/key with both parts (a bucket name, a key of at most 1024 bytes), got {}",
                        excerpt_str(&policy)
                    ),
                ));
            }
        }
        let report_topic_arn = req(TOPIC_VAR, "the SNS topic ARN report emails go to")?;
        if !is_topic_arn(&report_topic_arn) {
            return Err(Error::env(
                TOPIC_VAR,
                format!(
                    "an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME, REGION an AWS region of the ARN's partition, ACCOUNT 12 digits), got {}",
                    excerpt_str(&report_topic_arn)
                ),
            ));
        }
        let report_bucket = req(BUCKET_VAR, "the S3 bucket that archives JSON reports")?;
        if !is_bucket_name(&report_bucket) {
            return Err(Error::env(
                BUCKET_VAR,
                format!(
                    "a bucket name (3-63 lower-case letters, digits, '-' or '.'; no s3:// and no key), got {}",
                    excerpt_str(&report_bucket)
                ),
            ));
        }
        let local_endpoints = match get(LOCAL_ENDPOINTS_VAR) {
            Some(v) if !v.trim().is_empty() => parse_local_endpoints(v.trim())?,
            _ => BTreeMap::new(),
        };
        Ok(Env {
            policy,
            report_topic_arn,
            report_bucket,
            local_endpoints,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Env> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::from_lookup(|k| m.get(k).cloned())
    }

    const GOOD: [(&str, &str); 3] = [
        (POLICY_VAR, "s3://cfg/policy.yaml"),
        (TOPIC_VAR, "arn:aws:sns:us-east-1:123456789012:lifeboat"),
        (BUCKET_VAR, "lifeboat-reports"),
    ];

    #[test]
    fn complete_environment_parses() {
        assert_eq!(env(&GOOD).unwrap().report_bucket, "lifeboat-reports");
    }

    #[test]
    fn each_missing_variable_is_named() {
        for (var, _) in GOOD {
            let partial: Vec<_> = GOOD.iter().filter(|(k, _)| *k != var).copied().collect();
            let e = env(&partial).unwrap_err().to_string();
            assert!(e.contains(var) && e.contains("it is not set"), "{e}");
        }
    }

    #[test]
    fn local_endpoints_parse_or_are_named() {
        let mut pairs = GOOD.to_vec();
        pairs.push((
            LOCAL_ENDPOINTS_VAR,
            "postgres=127.0.0.1:5432, redis=localhost:6380",
        ));
        let e = env(&pairs).unwrap();
        assert_eq!(e.local_endpoints["postgres"], ("127.0.0.1".into(), 5432));
        assert_eq!(e.local_endpoints["redis"], ("localhost".into(), 6380));
        assert!(env(&GOOD).unwrap().local_endpoints.is_empty());
        pairs.pop();
        pairs.push((LOCAL_ENDPOINTS_VAR, "oracle=h:1"));
        let err = env(&pairs).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "invalid environment: LIFEBOAT_LOCAL_ENDPOINTS: comma-separated FAMILY=HOST:PORT"
            ),
            "{err}"
        );
    }

    #[test]
    fn topic_must_be_an_sns_arn() {
        let e = env(&[GOOD[0], (TOPIC_VAR, "lifeboat"), GOOD[2]])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid environment: LIFEBOAT_REPORT_TOPIC_ARN: an SNS topic ARN"),
            "{e}"
        );
    }

    #[test]
    fn a_topic_in_a_made_up_region_is_named() {
        // Given a report topic ARN in a region no AWS partition has
        for topic in [
            "arn:aws:sns:mars-north-1:123456789012:lifeboat",
            "arn:aws:sns::123456789012:lifeboat",
            "arn:aws-cn:sns:us-east-1:123456789012:lifeboat",
        ] {
            // When the environment is read
            let e = env(&[GOOD[0], (TOPIC_VAR, topic), GOOD[2]])
                .unwrap_err()
                .to_string();
            // Then the variable is named
            assert!(
                e.starts_with("invalid environment: LIFEBOAT_REPORT_TOPIC_ARN: an SNS topic ARN"),
                "{topic}: {e}"
            );
        }
        // And a topic in another partition's region is accepted
        env(&[
            GOOD[0],
            (TOPIC_VAR, "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t"),
            GOOD[2],
        ])
        .unwrap();
    }

    #[test]
    fn errors_quote_at_most_a_short_excerpt_of_a_variable() {
        // Given variables of megabytes
        let huge = "x".repeat(5_000_000);
        let s3 = format!("s3://{huge}");
        let topic = format!("arn:aws:sns:{huge}");
        let endpoints = format!("postgres={huge}");
        let bucket = huge.clone();
        for pairs in [
            vec![(POLICY_VAR, s3.as_str()), GOOD[1], GOOD[2]],
            vec![GOOD[0], (TOPIC_VAR, topic.as_str()), GOOD[2]],
            vec![GOOD[0], GOOD[1], (BUCKET_VAR, bucket.as_str())],
            vec![
                GOOD[0],
                GOOD[1],
                GOOD[2],
                (LOCAL_ENDPOINTS_VAR, endpoints.as_str()),
            ],
        ] {
            // When the environment is read
            let e = env(&pairs).unwrap_err().to_string();
            // Then the error is short
            assert!(e.len() < 300, "{} bytes", e.len());
        }
    }

    #[test]
    fn s3_policy_uri_needs_a_key() {
        let e = env(&[(POLICY_VAR, "s3://cfg"), GOOD[1], GOOD[2]])
            .unwrap_err()
            .to_string();
        assert!(e.contains("s3://bucket/key with both parts"), "{e}");
    }
}
