//! The `verification` section (where restores are built, the integrity sweeps) and each
//! component's `verify`.

use std::collections::BTreeSet;

use chrono::Duration;

use super::components::validate_name;
use super::fields::{check_arn, check_bucket, check_identifier, check_region};
use crate::error::{Error, Result};
use crate::policy::{
    BackupSource, Component, Policy, ResourceKind, RestoreTarget, Selection, Sweep, Verify,
};
use crate::trigger::excerpt_str;

pub(super) fn validate_restore_target(r: &RestoreTarget) -> Result<()> {
    let at = "verification.restore";
    check_identifier(&format!("{at}.db_subnet_group"), &r.db_subnet_group)?;
    if let Some(g) = &r.cache_subnet_group {
        check_identifier(&format!("{at}.cache_subnet_group"), g)?;
    }
    validate_security_groups(at, &r.security_group_ids)?;
    for (field, class, prefix) in [
        ("instance_class", &r.instance_class, "db."),
        ("aurora_instance_class", &r.aurora_instance_class, "db."),
        ("cache_node_type", &r.cache_node_type, "cache."),
    ] {
        if !class.starts_with(prefix) || class.len() <= prefix.len() {
            return Err(Error::policy(
                format!("{at}.{field}"),
                format!(
                    "an instance class starting with {prefix:?}, got {}",
                    excerpt_str(class)
                ),
            ));
        }
    }
    validate_restore_times(at, r)?;
    if let Some(a) = &r.backup_role_arn {
        check_arn(&format!("{at}.backup_role_arn"), a, "iam")?;
    }
    Ok(())
}

fn validate_security_groups(at: &str, ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Err(Error::policy(
            format!("{at}.security_group_ids"),
            "at least one security group id (sg-...) for the restored resources",
        ));
    }
    for (i, g) in ids.iter().enumerate() {
        let ok =
            g.starts_with("sg-") && g.len() > 3 && g[3..].bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(Error::policy(
                format!("{at}.security_group_ids[{i}]"),
                format!(
                    "a security group id like sg-0123456789abcdef0, got {}",
                    excerpt_str(g)
                ),
            ));
        }
    }
    Ok(())
}

/// `expiry` and `timeout`: a timed-out restore is torn down before the janitor's deadline.
fn validate_restore_times(at: &str, r: &RestoreTarget) -> Result<()> {
    if r.expiry.0 < Duration::hours(1) || r.expiry.0 > Duration::days(7) {
        return Err(Error::policy(
            format!("{at}.expiry"),
            format!(
                "1h to 7d (long enough for a restore, short enough to bound the cost), got {}",
                r.expiry
            ),
        ));
    }
    if r.timeout.0 <= Duration::zero() || r.timeout.0 >= r.expiry.0 {
        return Err(Error::policy(
            format!("{at}.timeout"),
            format!("above 0 and below expiry ({}), so that a timed-out restore is torn down before the janitor's deadline, got {}", r.expiry, r.timeout),
        ));
    }
    Ok(())
}

pub(super) fn validate_sweeps(sweeps: &[Sweep]) -> Result<()> {
    let mut sweep_names = BTreeSet::new();
    for (i, sw) in sweeps.iter().enumerate() {
        let at = format!("verification.sweeps[{i}]");
        validate_name(&at, &sw.name)?;
        if !sweep_names.insert(sw.name.as_str()) {
            return Err(Error::policy(
                format!("{at}.name"),
                format!(
                    "a name used once, but {} appears again",
                    excerpt_str(&sw.name)
                ),
            ));
        }
        validate_sweep(&at, sw)?;
    }
    Ok(())
}

/// One sweep at `at` (`verification.sweeps[i]`), once its name is known to be good.
fn validate_sweep(at: &str, sw: &Sweep) -> Result<()> {
    for (side, loc) in [("source", &sw.source), ("replica", &sw.replica)] {
        check_bucket(&format!("{at}.{side}.bucket"), &loc.bucket)?;
        if let Some(r) = &loc.region {
            check_region(&format!("{at}.{side}.region"), r)?;
        }
    }
    if sw.source.bucket == sw.replica.bucket && sw.source.prefix == sw.replica.prefix {
        return Err(Error::policy(
            format!("{at}.replica"),
            "a bucket or prefix other than the source's (an object compared with itself proves nothing)",
        ));
    }
    if !(sw.sample_rate > 0.0 && sw.sample_rate <= 1.0) {
        return Err(Error::policy(
            format!("{at}.sample_rate"),
            format!(
                "a share above 0 and at most 1 (1 compares every object), got {}",
                sw.sample_rate
            ),
        ));
    }
    if !(1..=64).contains(&sw.concurrency) {
        return Err(Error::policy(
            format!("{at}.concurrency"),
            format!("1 to 64 objects compared at once, got {}", sw.concurrency),
        ));
    }
    Ok(())
}

impl Policy {
    /// A component's `verify` at `at` (`components[i].verify`): it needs `verification.restore`.
    pub(super) fn check_verify(&self, at: &str, v: &Verify, c: &Component) -> Result<()> {
        let Some(target) = &self.verification.restore else {
            return Err(Error::policy(
                "verification.restore",
                format!("the subnet group and security groups for restores ({at} is set)"),
            ));
        };
        validate_schedule(at, v)?;
        validate_kind_needs(at, v, c, target)?;
        validate_checks(at, v)
    }
}

/// How often, how far back, and the tolerances.
fn validate_schedule(at: &str, v: &Verify) -> Result<()> {
    if v.every.0 < Duration::hours(1) {
        return Err(Error::policy(
            format!("{at}.every"),
            format!("at least 1h, got {}", v.every),
        ));
    }
    if v.select == Selection::Random && v.window.0 < Duration::hours(1) {
        return Err(Error::policy(
            format!("{at}.window"),
            format!("at least 1h to pick a random backup from, got {}", v.window),
        ));
    }
    for (field, p) in [
        ("row_tolerance_percent", v.row_tolerance_percent),
        ("key_tolerance_percent", v.key_tolerance_percent),
    ] {
        if !(0.0..=100.0).contains(&p) {
            return Err(Error::policy(
                format!("{at}.{field}"),
                format!("a percentage from 0 to 100, got {p}"),
            ));
        }
    }
    Ok(())
}

/// What the component's kind and the backup source need beside `verify`.
fn validate_kind_needs(at: &str, v: &Verify, c: &Component, target: &RestoreTarget) -> Result<()> {
    let sql = matches!(
        c.kind,
        ResourceKind::RdsInstance | ResourceKind::AuroraCluster
    );
    if sql && c.database.is_none() {
        return Err(Error::policy(
            at.to_string(),
            "a `database` section beside it (name and secret_arn): the checks connect to the restored copy",
        ));
    }
    if !sql && (v.freshness.is_some() || !v.checks.is_empty()) {
        return Err(Error::policy(
            format!("{at}.checks"),
            "no SQL checks or freshness on an ElastiCache component (Redis is checked by key count and sampled keys)",
        ));
    }
    if c.kind == ResourceKind::Elasticache && target.cache_subnet_group.is_none() {
        return Err(Error::policy(
            "verification.restore.cache_subnet_group",
            format!("the cache subnet group for restored replication groups ({at} is set on an ElastiCache component)"),
        ));
    }
    if v.source == BackupSource::AwsBackup {
        if target.backup_role_arn.is_none() {
            return Err(Error::policy(
                "verification.restore.backup_role_arn",
                format!("the IAM role AWS Backup restores with ({at}.source is aws-backup)"),
            ));
        }
        if c.ids.is_empty() {
            return Err(Error::policy(
                format!("{at}.source"),
                "`ids` on the component: recovery points are looked up by resource",
            ));
        }
    }
    Ok(())
}

/// The freshness check and the named SQL checks.
fn validate_checks(at: &str, v: &Verify) -> Result<()> {
    if let Some(f) = &v.freshness {
        if f.table.is_empty() || f.column.is_empty() {
            return Err(Error::policy(
                format!("{at}.freshness"),
                "a table and a timestamp column",
            ));
        }
    }
    let mut names = BTreeSet::new();
    for (i, n) in v.checks.iter().enumerate() {
        if n.name.is_empty() || !names.insert(n.name.as_str()) {
            return Err(Error::policy(
                format!("{at}.checks[{i}].name"),
                format!("a non-empty name used once, got {}", excerpt_str(&n.name)),
            ));
        }
        let head = n.sql.trim_start().to_ascii_lowercase();
        if !(head.starts_with("select") || head.starts_with("with")) {
            return Err(Error::policy(
                format!("{at}.checks[{i}].sql"),
                "one SELECT (or WITH ... SELECT) returning one number",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::policy::tests::err;
    use crate::policy::{BackupSource, Policy, Selection, Span, SweepCompare};

    #[test]
    fn sweeps_are_validated_by_field() {
        let base = "version: 1\nbuckets: {backup: b-1}\nverification:\n  sweeps:\n";
        let ok = Policy::parse(&format!("{base}    - {{name: crr, source: {{bucket: b-1, prefix: backups/}}, replica: {{bucket: b-2, prefix: backups/, region: us-west-2}}}}\n")).unwrap();
        assert_eq!(ok.verification.sweeps[0].sample_rate, 0.01);
        assert_eq!(ok.verification.sweeps[0].compare, SweepCompare::Listing);
        let by_head = Policy::parse(&format!("{base}    - {{name: crr, source: {{bucket: b-1}}, replica: {{bucket: b-2}}, compare: checksum}}\n")).unwrap();
        assert_eq!(
            by_head.verification.sweeps[0].compare,
            SweepCompare::Checksum
        );
        let e = err(&format!("{base}    - {{name: crr, source: {{bucket: b-1}}, replica: {{bucket: b-2}}, compare: md5}}\n"));
        assert!(
            e.starts_with("invalid policy: verification.sweeps[0].compare: unknown variant `md5`"),
            "{e}"
        );
        let e = err(&format!("{base}    - {{name: crr, source: {{bucket: b-1}}, replica: {{bucket: b-2}}, sample_rate: 0}}\n"));
        assert!(
            e.starts_with("invalid policy: verification.sweeps[0].sample_rate: a share above 0"),
            "{e}"
        );
        let e = err(&format!(
            "{base}    - {{name: crr, source: {{bucket: b-1}}, replica: {{bucket: b-1}}}}\n"
        ));
        assert!(
            e.starts_with("invalid policy: verification.sweeps[0].replica"),
            "{e}"
        );
        let e = err(&format!(
            "{base}    - {{name: crr, source: {{bucket: b-1}}, replica: {{bucket: B_2}}}}\n"
        ));
        assert!(
            e.starts_with("invalid policy: verification.sweeps[0].replica.bucket"),
            "{e}"
        );
    }

    #[test]
    fn sweep_and_component_names_can_be_named_in_a_command() {
        // Given names a manual command's `only` could never name (it takes 1-63 letters, digits
        // and hyphens)
        let base = "version: 1\nbuckets: {backup: b-1}\n";
        let long = "a".repeat(64);
        for (text, expected) in [
            (format!("{base}verification:\n  sweeps:\n    - {{name: backups crr, source: {{bucket: b-1}}, replica: {{bucket: b-2}}}}\n"), "verification.sweeps[0].name: "),
            (format!("{base}verification:\n  sweeps:\n    - {{name: {long}, source: {{bucket: b-1}}, replica: {{bucket: b-2}}}}\n"), "verification.sweeps[0].name: "),
            (format!("{base}components:\n  - {{name: {long}, kind: elasticache, ids: [a]}}\n"), "components[0].name: "),
        ] {
            // When the policy is parsed
            let e = err(&text);
            // Then the name is refused by field
            assert!(e.starts_with(&format!("invalid policy: {expected}")), "{e}");
        }
    }

    #[test]
    fn restores_are_validated_by_field() {
        let comp = |extra: &str| {
            format!("version: 1\nbuckets: {{backup: b-1}}\ncomponents:\n  - name: orders\n    kind: rds-instance\n    ids: [db-1]\n    database: {{name: shop, secret_arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf'}}\n    verify: {{every: 1d{extra}}}\n")
        };
        let target = "verification:\n  restore: {db_subnet_group: lifeboat-restore, security_group_ids: [sg-0a1b2c3d]}\n";
        let p = Policy::parse(&format!("{}{target}", comp(""))).unwrap();
        let v = p.components[0].verify.as_ref().unwrap();
        assert_eq!(
            (v.select, v.source),
            (Selection::Latest, BackupSource::Snapshot)
        );
        let r = p.verification.restore.as_ref().unwrap();
        assert_eq!(
            (r.instance_class.as_str(), r.expiry),
            ("db.t4g.micro", Span::hours(6))
        );
        for (text, field) in [
            (comp(""), "verification.restore: the subnet group"),
            (format!("{}verification:\n  restore: {{db_subnet_group: r, security_group_ids: [default]}}\n", comp("")), "verification.restore.security_group_ids[0]: a security group id"),
            (format!("{}verification:\n  restore: {{db_subnet_group: r, security_group_ids: [sg-01], expiry: 2h, timeout: 3h}}\n", comp("")), "verification.restore.timeout: above 0 and below expiry"),
            (format!("{}{target}", comp(", source: aws-backup")), "verification.restore.backup_role_arn"),
            (format!("{}{target}", comp(", checks: [{name: x, sql: 'DELETE FROM orders'}]")), "components[0].verify.checks[0].sql: one SELECT"),
            (format!("{}{target}", comp(", row_tolerance_percent: 120")), "components[0].verify.row_tolerance_percent"),
            (format!("{}{target}", comp("")).replace("name: shop, ", ""), "components[0].database.name"),
            (format!("{}{target}", comp("")).replace("arn:aws:secretsmanager", "arn:aws:ssm"), "components[0].database.secret_arn"),
        ] {
            let e = err(&text);
            assert!(e.starts_with(&format!("invalid policy: {field}")), "{field}: {e}");
        }
    }
}
