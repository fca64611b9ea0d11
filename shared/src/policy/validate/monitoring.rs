//! The `monitoring` section (replication-lag-check): replication pairs and their canaries, the
//! replica lag levels, artifact sets, metric rules.

use std::collections::BTreeSet;

use super::components::validate_name;
use super::fields::{check_bucket, check_region};
use crate::error::{Error, Result};
use crate::policy::{
    ArtifactSet, Levels, MetricRule, Monitoring, ReplicationPair, Span, CANARY_FOLDER,
};
use crate::trigger::excerpt_str;

/// CloudWatch allows at most 30 dimensions per metric.
const MAX_DIMENSIONS: usize = 30;

pub(super) fn validate_monitoring(m: &Monitoring) -> Result<()> {
    let at = "monitoring";
    let mut names = BTreeSet::new();
    for (i, p) in m.replication.iter().enumerate() {
        let at = format!("{at}.replication[{i}]");
        validate_name(&at, &p.name)?;
        unique(&at, &mut names, &p.name)?;
        validate_pair(&at, p)?;
    }
    validate_levels(&format!("{at}.replica_lag"), &m.replica_lag)?;
    let mut names = BTreeSet::new();
    for (i, a) in m.artifacts.iter().enumerate() {
        let at = format!("{at}.artifacts[{i}]");
        validate_name(&at, &a.name)?;
        unique(&at, &mut names, &a.name)?;
        validate_artifacts(&at, a)?;
    }
    let mut names = BTreeSet::new();
    for (i, r) in m.rules.iter().enumerate() {
        let at = format!("{at}.rules[{i}]");
        validate_rule(&at, r)?;
        unique(&at, &mut names, &r.name)?;
    }
    at_least(
        &format!("{at}.reminder_every"),
        m.reminder_every,
        Span::minutes(5),
    )?;
    at_least(
        &format!("{at}.full_check_every"),
        m.full_check_every,
        Span::minutes(1),
    )?;
    if m.full_check_every.0 > Span::days(1).0 {
        return Err(Error::policy(
            format!("{at}.full_check_every"),
            "at most 1d (the canary, versioning and the artifact sets are read only then)",
        ));
    }
    at_least(
        &format!("{at}.verification_max_age"),
        m.verification_max_age,
        Span::hours(1),
    )
}

fn unique<'a>(at: &str, seen: &mut BTreeSet<&'a str>, name: &'a str) -> Result<()> {
    if seen.insert(name) {
        Ok(())
    } else {
        Err(Error::policy(
            format!("{at}.name"),
            format!("a name used once, but {} appears again", excerpt_str(name)),
        ))
    }
}

fn at_least(field: &str, value: Span, min: Span) -> Result<()> {
    if value < min {
        return Err(Error::policy(field, format!("at least {min}, got {value}")));
    }
    Ok(())
}

fn validate_levels(at: &str, l: &Levels) -> Result<()> {
    at_least(
        &format!("{at}.warning"),
        l.warning,
        Span(chrono::Duration::seconds(1)),
    )?;
    if l.critical <= l.warning {
        return Err(Error::policy(
            format!("{at}.critical"),
            format!(
                "a duration above the warning level ({}), got {}",
                l.warning, l.critical
            ),
        ));
    }
    Ok(())
}

fn validate_pair(at: &str, p: &ReplicationPair) -> Result<()> {
    for (side, loc) in [("source", &p.source), ("replica", &p.replica)] {
        check_bucket(&format!("{at}.{side}.bucket"), &loc.bucket)?;
        if let Some(r) = &loc.region {
            check_region(&format!("{at}.{side}.region"), r)?;
        }
    }
    if p.source.bucket == p.replica.bucket {
        return Err(Error::policy(
            format!("{at}.replica.bucket"),
            "a bucket other than the source's (replication goes to another bucket)",
        ));
    }
    // S3 replication never rewrites keys: a replica prefix can only be the source's (or left
    // out). Anything else would look for the replica's objects where they never are.
    if !p.replica.prefix.is_empty() && p.replica.prefix != p.source.prefix {
        return Err(Error::policy(
            format!("{at}.replica.prefix"),
            format!(
                "the source prefix {} or nothing: S3 replication keeps keys, so the replica holds them under the source's prefix; got {}",
                excerpt_str(&p.source.prefix),
                excerpt_str(&p.replica.prefix)
            ),
        ));
    }
    validate_levels(&format!("{at}.latency"), &p.latency)?;
    if let Some(prefix) = &p.canary.prefix {
        // The role writes and deletes canaries only under `*lifeboat-canary/*` (the template's
        // canary grants): any other folder would be denied on every full check.
        if prefix.is_empty()
            || !prefix.starts_with(&p.source.prefix)
            || !prefix.ends_with(CANARY_FOLDER)
        {
            return Err(Error::policy(
                format!("{at}.canary.prefix"),
                format!(
                    "a folder named lifeboat-canary/ under the source prefix {} (replication must cover it, and the role writes canaries only there), got {}",
                    excerpt_str(&p.source.prefix),
                    excerpt_str(prefix)
                ),
            ));
        }
    }
    Ok(())
}

fn validate_artifacts(at: &str, a: &ArtifactSet) -> Result<()> {
    check_bucket(&format!("{at}.bucket"), &a.bucket)?;
    if let Some(r) = &a.region {
        check_region(&format!("{at}.region"), r)?;
    }
    at_least(&format!("{at}.every"), a.every, Span::minutes(1))?;
    if let Some(rpo) = a.rpo {
        if rpo < a.every {
            return Err(Error::policy(
                format!("{at}.rpo"),
                format!(
                    "at least the cadence `every` ({}): a set written every {} cannot be fresher, got {rpo}",
                    a.every, a.every
                ),
            ));
        }
    }
    Ok(())
}

fn validate_rule(at: &str, r: &MetricRule) -> Result<()> {
    let ok_name = !r.name.is_empty()
        && r.name.len() <= 128
        && r.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok_name {
        return Err(Error::policy(
            format!("{at}.name"),
            format!(
                "1 to 128 letters, digits, '.', '_' and '-' (like cert.s3.save.fail), got {}",
                excerpt_str(&r.name)
            ),
        ));
    }
    for (field, v) in [
        ("namespace", Some(&r.namespace)),
        ("metric", Some(&r.metric)),
        ("of", r.of.as_ref()),
    ] {
        if let Some(v) = v {
            if v.trim().is_empty() || v.len() > 255 {
                return Err(Error::policy(
                    format!("{at}.{field}"),
                    format!(
                        "a CloudWatch name of 1 to 255 characters, got {}",
                        excerpt_str(v)
                    ),
                ));
            }
        }
    }
    if r.dimensions.len() > MAX_DIMENSIONS {
        return Err(Error::policy(
            format!("{at}.dimensions"),
            format!(
                "at most {MAX_DIMENSIONS} dimensions (CloudWatch's limit), got {}",
                r.dimensions.len()
            ),
        ));
    }
    // CloudWatch refuses the whole GetMetricData request for one bad dimension: every series
    // of the region would read as no data. Named here instead.
    for (name, value) in &r.dimensions {
        if name.is_empty() || name.len() > 255 {
            return Err(Error::policy(
                format!("{at}.dimensions"),
                format!(
                    "dimension names of 1 to 255 characters, got {}",
                    excerpt_str(name)
                ),
            ));
        }
        if value.is_empty() || value.len() > 1024 {
            return Err(Error::policy(
                format!("{at}.dimensions.{name}"),
                format!(
                    "a value of 1 to 1024 characters, got {}",
                    excerpt_str(value)
                ),
            ));
        }
    }
    for (field, metric) in [("metric", Some(&r.metric)), ("of", r.of.as_ref())] {
        if let Some(m) = metric.filter(|m| m.is_empty() || m.len() > 255) {
            return Err(Error::policy(
                format!("{at}.{field}"),
                format!(
                    "a metric name of 1 to 255 characters, got {}",
                    excerpt_str(m)
                ),
            ));
        }
    }
    at_least(&format!("{at}.window"), r.window, Span::minutes(1))?;
    if r.window > Span::days(1) {
        return Err(Error::policy(
            format!("{at}.window"),
            format!("at most 1d, got {}", r.window),
        ));
    }
    let threshold = match (r.above, r.below) {
        (Some(v), None) | (None, Some(v)) => v,
        (Some(_), Some(_)) => {
            return Err(Error::policy(
                format!("{at}.below"),
                "exactly one of `above` and `below`, got both",
            ))
        }
        (None, None) => {
            return Err(Error::policy(
                format!("{at}.above"),
                "a threshold: `above: <number>` or `below: <number>`",
            ))
        }
    };
    if !threshold.is_finite() || (r.of.is_some() && !(0.0..=100.0).contains(&threshold)) {
        return Err(Error::policy(
            format!("{at}.{}", if r.above.is_some() { "above" } else { "below" }),
            format!(
                "{}, got {threshold}",
                if r.of.is_some() {
                    "a percentage from 0 to 100 (a ratio rule: 100 × metric / of)"
                } else {
                    "a finite number"
                }
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::policy::tests::err;
    use crate::policy::{Policy, RuleSeverity, Span, Statistic};

    const BASE: &str = "version: 1\nbuckets: {backup: b-1}\nmonitoring:\n";

    #[test]
    fn a_full_monitoring_section_reads_with_its_defaults() {
        let p = Policy::parse(&format!(
            "{BASE}  replication:\n    - {{name: backups-crr, source: {{bucket: b-1, prefix: backups/}}, replica: {{bucket: b-2, prefix: backups/, region: us-west-2}}}}\n  artifacts:\n    - {{name: kafka-archives, bucket: b-1, prefix: kafka/, every: 1h, min_size: 1024}}\n  rules:\n    - {{name: cert.s3.save.fail, namespace: Cert/S3, metric: save.fail, of: save.total, window: 10m, above: 5, severity: warning, action: Check S3 service status}}\n"
        ))
        .unwrap();
        let m = &p.monitoring;
        assert_eq!(m.replication[0].latency.warning, Span::minutes(15));
        assert_eq!(m.replication[0].latency.critical, Span::hours(1));
        assert_eq!(m.replication[0].canary_prefix(), "backups/lifeboat-canary/");
        assert!(m.replication[0].canary.enabled);
        assert_eq!(m.artifacts[0].rpo(), Span::hours(2));
        assert_eq!(m.rules[0].statistic, Statistic::Sum);
        assert_eq!(m.rules[0].severity, RuleSeverity::Warning);
        assert_eq!(m.replica_lag.critical, Span::minutes(15));
        assert_eq!(m.reminder_every, Span::hours(4));
        assert_eq!(m.full_check_every, Span::minutes(15));
        assert_eq!(m.verification_max_age, Span::days(7));
    }

    #[test]
    fn a_replica_prefix_other_than_the_sources_is_refused() {
        // S3 replication keeps keys: the replica has the source's keys, under the source prefix
        let pair = |replica: &str| {
            format!("{BASE}  replication:\n    - {{name: crr, source: {{bucket: b-1, prefix: backups/}}, replica: {{bucket: b-2{replica}}}}}\n")
        };
        let e = err(&pair(", prefix: dr/"));
        assert!(
            e.starts_with("invalid policy: monitoring.replication[0].replica.prefix: "),
            "{e}"
        );
        assert!(e.contains("keeps keys"), "{e}");
        // the same prefix, or none, reads
        assert!(Policy::parse(&pair(", prefix: backups/")).is_ok());
        assert!(Policy::parse(&pair("")).is_ok());
    }

    #[test]
    fn per_component_metrics_are_an_opt_in() {
        let p = Policy::parse(BASE.trim_end_matches("monitoring:\n")).unwrap();
        assert!(!p.monitoring.per_component_metrics);
        let p = Policy::parse(&format!("{BASE}  per_component_metrics: true\n")).unwrap();
        assert!(p.monitoring.per_component_metrics);
    }

    #[test]
    fn bad_rules_artifact_sets_and_pairs_are_named_by_field() {
        let rule = |extra: &str| {
            let window = if extra.contains("window:") {
                ""
            } else {
                ", window: 10m"
            };
            let metric = if extra.contains("metric:") {
                ""
            } else {
                ", metric: save.fail"
            };
            let severity = if extra.contains("severity:") {
                ""
            } else {
                ", severity: warning"
            };
            format!("{BASE}  rules:\n    - {{name: cert.s3.save.fail, namespace: Cert/S3{severity}{metric}{window}{extra}}}\n")
        };
        let pair = |extra: &str| {
            format!("{BASE}  replication:\n    - {{name: crr, source: {{bucket: b-1, prefix: backups/}}, replica: {{bucket: b-2}}{extra}}}\n")
        };
        let artifacts = |extra: &str| {
            let every = if extra.contains("every:") {
                ""
            } else {
                ", every: 1h"
            };
            format!("{BASE}  artifacts:\n    - {{name: k8s-config, bucket: b-1{every}{extra}}}\n")
        };
        for (text, starts) in [
            (rule(""), "monitoring.rules[0].above: a threshold"),
            (rule(", above: 5, below: 1"), "monitoring.rules[0].below: exactly one"),
            (rule(", above: 5, of: save.total, statistic: Sum"), ""),
            (rule(", above: 500, of: save.total"), "monitoring.rules[0].above: a percentage from 0 to 100"),
            (rule(", above: 5, window: 30s"), "monitoring.rules[0].window: at least 1m"),
            (rule(", above: 5, window: 2d"), "monitoring.rules[0].window: at most 1d"),
            (rule(", above: 5, statistic: p99"), "monitoring.rules[0].statistic: unknown variant `p99`"),
            (rule(", above: 5, severity: page"), "monitoring.rules[0].severity: unknown variant `page`"),
            (rule(", above: 5, metric: ''"), "monitoring.rules[0].metric: a CloudWatch name"),
            (rule(", above: 5, threshold: 3"), "monitoring.rules[0].threshold: unknown field `threshold`"),
            (
                format!("{BASE}  rules:\n    - {{name: 'cert s3', namespace: N, metric: m, window: 10m, above: 1, severity: warning}}\n"),
                "monitoring.rules[0].name: 1 to 128 letters",
            ),
            (artifacts(", rpo: 30m"), "monitoring.artifacts[0].rpo: at least the cadence"),
            (artifacts(", every: 10s"), "monitoring.artifacts[0].every: at least 1m"),
            (
                format!("{BASE}  artifacts:\n    - {{name: k8s-config, bucket: B_1, every: 1h}}\n"),
                "monitoring.artifacts[0].bucket",
            ),
            (artifacts(", min_size: -1"), "monitoring.artifacts[0].min_size"),
            (pair(", latency: {warning: 1h, critical: 15m}"), "monitoring.replication[0].latency.critical: a duration above the warning level"),
            (pair(", canary: {prefix: other/}"), "monitoring.replication[0].canary.prefix: a folder named lifeboat-canary/ under the source prefix"),
            // Under the source prefix, but not where the role may write canaries
            (pair(", canary: {prefix: backups/canary/}"), "monitoring.replication[0].canary.prefix: a folder named lifeboat-canary/"),
            (
                format!("{BASE}  replication:\n    - {{name: crr, source: {{bucket: b-1}}, replica: {{bucket: b-1}}}}\n"),
                "monitoring.replication[0].replica.bucket: a bucket other than the source's",
            ),
            (
                format!("{BASE}  replication:\n    - {{name: crr, source: {{bucket: b-1}}, replica: {{bucket: b-2, region: mars-north-1}}}}\n"),
                "monitoring.replication[0].replica.region",
            ),
            (format!("{BASE}  reminder_every: 1m\n"), "monitoring.reminder_every: at least 5m"),
            (
                format!("{BASE}  rules:\n    - {{name: r, namespace: N, metric: m, dimensions: {{Service: ''}}, window: 10m, above: 1, severity: warning}}\n"),
                "monitoring.rules[0].dimensions.Service: a value of 1 to 1024 characters",
            ),
            (format!("{BASE}  full_check_every: 30s\n"), "monitoring.full_check_every: at least 1m"),
            (format!("{BASE}  full_check_every: 2d\n"), "monitoring.full_check_every: at most 1d"),
            (format!("{BASE}  replica_lag: {{warning: 10m, critical: 5m}}\n"), "monitoring.replica_lag.critical"),
        ] {
            if starts.is_empty() {
                assert!(Policy::parse(&text).is_ok(), "{text}");
                continue;
            }
            let e = err(&text);
            assert!(
                e.starts_with(&format!("invalid policy: {starts}")),
                "{text}\n=> {e}"
            );
            assert!(e.len() < 400, "{e}");
        }
    }
}
