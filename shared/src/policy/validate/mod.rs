//! What serde cannot check: one function per policy section, called in turn by `validate`. The
//! first failing check is the error, and it names its field.

mod components;
mod fields;
mod monitoring;
mod verification;

use super::{Buckets, Dr, Export, Limits, Policy, Tag, Thresholds};
use crate::error::{Error, Result};
use crate::trigger::excerpt_str;
pub(crate) use components::validate_name;
use fields::{check_arn, check_kms};
pub(crate) use fields::{check_bucket, check_identifier, check_region, is_bucket_name};
use monitoring::validate_monitoring;
use verification::{validate_restore_target, validate_sweeps};

impl Policy {
    /// Every section in turn. The order decides which error a policy with several faults gets,
    /// so it stays as it is.
    pub(super) fn validate(&self) -> Result<()> {
        validate_version(self.version)?;
        validate_buckets(&self.buckets)?;
        validate_opt_in_tag(&self.opt_in_tag)?;
        if let Some(dr) = &self.dr {
            validate_dr(dr)?;
        }
        if let Some(ex) = &self.export {
            validate_export(ex)?;
        }
        self.check_settings("defaults", &self.defaults, None)?;
        self.validate_components()?;
        if let Some(r) = &self.verification.restore {
            validate_restore_target(r)?;
        }
        validate_limits(&self.limits)?;
        validate_sweeps(&self.verification.sweeps)?;
        validate_thresholds(&self.thresholds)?;
        super::cost::validate_prices(&self.prices)?;
        validate_monitoring(&self.monitoring)?;
        let names: Vec<&str> = self.components.iter().map(|c| c.name.as_str()).collect();
        super::cost::validate_cost(&self.cost, &names)
    }
}

fn validate_version(version: u32) -> Result<()> {
    if version != 1 {
        return Err(Error::policy(
            "version",
            format!("1 (the only version this Lifeboat reads), got {version}"),
        ));
    }
    Ok(())
}

fn validate_buckets(buckets: &Buckets) -> Result<()> {
    check_bucket("buckets.backup", &buckets.backup)?;
    if let Some(b) = &buckets.dr_backup {
        check_bucket("buckets.dr_backup", b)?;
    }
    if let Some(name) = &buckets.target_parameter {
        check_parameter_name("buckets.target_parameter", name)?;
        if buckets.dr_backup.is_none() {
            return Err(Error::policy(
                "buckets.target_parameter",
                "set together with buckets.dr_backup, the bucket a failover points it at (with buckets.backup alone it can only name buckets.backup)",
            ));
        }
    }
    Ok(())
}

/// An SSM parameter name as Parameter Store accepts it: 1 to 1011 characters of letters, digits
/// and `_ . - /`; a name with a `/` is fully qualified (starts with one); not starting with `aws`
/// or `ssm` (reserved, any case, with or without the leading slash).
pub(crate) fn check_parameter_name(field: &str, name: &str) -> Result<()> {
    let lower = name.to_ascii_lowercase();
    let bare = lower.strip_prefix('/').unwrap_or(&lower);
    let ok = (1..=1011).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
        && (!name.contains('/') || name.starts_with('/'))
        && !bare.starts_with("aws")
        && !bare.starts_with("ssm");
    if !ok {
        return Err(Error::policy(
            field,
            format!(
                "an SSM parameter name like /lifeboat/backup-target (1 to 1011 letters, digits, _ . - /; starting with / when it has one; not starting with aws or ssm), got {}",
                excerpt_str(name)
            ),
        ));
    }
    Ok(())
}

fn validate_opt_in_tag(tag: &Tag) -> Result<()> {
    if tag.key.is_empty() {
        return Err(Error::policy("opt_in_tag.key", "a non-empty tag key"));
    }
    Ok(())
}

fn validate_dr(dr: &Dr) -> Result<()> {
    check_region("dr.region", &dr.region)?;
    if let Some(acct) = &dr.account_id {
        if acct.len() != 12 || !acct.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::policy(
                "dr.account_id",
                format!("a 12-digit AWS account id, got {}", excerpt_str(acct)),
            ));
        }
    }
    if let Some(k) = &dr.kms_key_id {
        check_kms("dr.kms_key_id", k, Some(&dr.region))?;
    }
    Ok(())
}

fn validate_export(ex: &Export) -> Result<()> {
    check_arn("export.iam_role_arn", &ex.iam_role_arn, "iam")?;
    check_kms("export.kms_key_id", &ex.kms_key_id, None)
}

fn validate_limits(l: &Limits) -> Result<()> {
    if !(1..=5).contains(&l.max_copies_in_flight) {
        return Err(Error::policy(
            "limits.max_copies_in_flight",
            format!("1 to 5 (AWS allows 5 cross-region snapshot copies in flight per destination region), got {}", l.max_copies_in_flight),
        ));
    }
    if !(1..=100).contains(&l.snapshot_quota_warn_percent) {
        return Err(Error::policy(
            "limits.snapshot_quota_warn_percent",
            format!(
                "a percentage from 1 to 100, got {}",
                l.snapshot_quota_warn_percent
            ),
        ));
    }
    if !(1..=12).contains(&l.max_concurrent_calls) {
        return Err(Error::policy(
            "limits.max_concurrent_calls",
            format!(
                "1 to 12 (RDS allows about 12 requests per second), got {}",
                l.max_concurrent_calls
            ),
        ));
    }
    Ok(())
}

fn validate_thresholds(t: &Thresholds) -> Result<()> {
    if t.replication_lag.is_some() {
        return Err(Error::policy(
            "thresholds.replication_lag",
            "nothing: no function reads it; set each pair's monitoring.replication[].latency (warning, critical) instead",
        ));
    }
    if !(0.0..=100.0).contains(&t.mismatch_rate_percent) {
        return Err(Error::policy(
            "thresholds.mismatch_rate_percent",
            format!(
                "a percentage from 0 to 100, got {}",
                t.mismatch_rate_percent
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::policy::tests::err;

    #[test]
    fn wrong_version() {
        assert_eq!(
            err("version: 2\nbuckets: {backup: b-1}\n"),
            "invalid policy: version: 1 (the only version this Lifeboat reads), got 2"
        );
    }

    #[test]
    fn bad_bucket_name() {
        let e = err("version: 1\nbuckets: {backup: Bad_Bucket}\n");
        assert!(
            e.starts_with("invalid policy: buckets.backup: an S3 bucket name"),
            "{e}"
        );
    }

    #[test]
    fn the_backup_target_parameter_is_an_ssm_name_beside_a_secondary_bucket() {
        // Given the target parameter with both buckets
        let base = "version: 1\nbuckets: {backup: b-1, dr_backup: b-2, target_parameter: ";
        for good in [
            "/lifeboat/backup-target",
            "lifeboat-backup-target",
            "Backup_Target.v2",
        ] {
            // Then a name Parameter Store accepts is accepted and kept
            let p = crate::policy::Policy::parse(&format!("{base}'{good}'}}\n"))
                .unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(p.buckets.target_parameter.as_deref(), Some(good));
        }
        let long = format!("/{}", "a".repeat(1011));
        for bad in [
            "",
            "/aws/backup-target",
            "AWS-target",
            "/SSM/target",
            "ssm-target",
            "/lifeboat/backup target",
            "/lifeboat/target$",
            "lifeboat/backup-target",
            long.as_str(),
        ] {
            // When a name it refuses is given
            let e = err(&format!("{base}'{bad}'}}\n"));
            // Then the error names the field
            assert!(
                e.starts_with("invalid policy: buckets.target_parameter: an SSM parameter name"),
                "{bad}: {e}"
            );
            assert!(e.len() < 400, "{} bytes", e.len());
        }
        // And a target parameter with no secondary bucket to point at is refused by field
        let e =
            err("version: 1\nbuckets: {backup: b-1, target_parameter: /lifeboat/backup-target}\n");
        assert!(
            e.starts_with(
                "invalid policy: buckets.target_parameter: set together with buckets.dr_backup"
            ),
            "{e}"
        );
        // And without it the policy reads as before
        let p = crate::policy::Policy::parse("version: 1\nbuckets: {backup: b-1}\n").unwrap();
        assert_eq!(p.buckets.target_parameter, None);
    }

    #[test]
    fn a_replication_lag_threshold_nothing_reads_is_refused_with_where_it_went() {
        // Given the old thresholds.replication_lag, which no function read (the pairs' levels are
        // monitoring.replication[].latency)
        let e = err("version: 1\nbuckets: {backup: b-1}\nthresholds: {replication_lag: 30m}\n");
        // Then it is refused by field, naming the field to set instead
        assert!(
            e.starts_with("invalid policy: thresholds.replication_lag: nothing")
                && e.contains("monitoring.replication[].latency"),
            "{e}"
        );
    }

    #[test]
    fn copies_in_flight_capped_at_aws_limit() {
        let e = err("version: 1\nbuckets: {backup: b-1}\nlimits: {max_copies_in_flight: 9}\n");
        assert!(
            e.starts_with("invalid policy: limits.max_copies_in_flight: 1 to 5"),
            "{e}"
        );
    }

    #[test]
    fn made_up_regions_are_refused_naming_the_field() {
        // Given a policy with a region no AWS partition has, in each place a region is written
        let base = "version: 1\nbuckets: {backup: b-1}\n";
        let sweep = |source: &str, replica: &str| {
            format!("{base}verification:\n  sweeps:\n    - {{name: crr, source: {{bucket: b-1{source}}}, replica: {{bucket: b-2{replica}}}}}\n")
        };
        let cases = [
            (format!("{base}dr: {{region: mars-north-1}}\n"), "dr.region: an AWS region"),
            (format!("{base}dr: {{region: us-mars-1}}\n"), "dr.region: an AWS region"),
            (format!("{base}dr: {{region: mars-north-1, kms_key_id: 'arn:aws:kms:mars-north-1:123456789012:key/abc'}}\n"), "dr.region: an AWS region"),
            (sweep(", region: mars-north-1", ""), "verification.sweeps[0].source.region: an AWS region"),
            (sweep("", ", region: mars-north-1"), "verification.sweeps[0].replica.region: an AWS region"),
            (format!("{base}export: {{iam_role_arn: 'arn:aws:iam::123456789012:role/x', kms_key_id: 'arn:aws:kms:mars-north-1:123456789012:key/abc'}}\n"), "export.kms_key_id: "),
            (format!("{base}export: {{iam_role_arn: 'arn:aws:iam:mars-north-1:123456789012:role/x', kms_key_id: alias/x}}\n"), "export.iam_role_arn: "),
            (format!("{base}export: {{iam_role_arn: 'arn:aws:iam::123456789012:role/x', kms_key_id: 'arn:aws:kms:cn-north-1:123456789012:key/abc'}}\n"), "export.kms_key_id: "),
            (format!("{base}components:\n  - {{name: a, kind: rds-instance, ids: [a], database: {{name: d, secret_arn: 'arn:aws:secretsmanager:mars-north-1:123456789012:secret:x'}}}}\n"), "components[0].database.secret_arn: "),
        ];
        for (text, expected) in cases {
            // When it is parsed
            let e = err(&text);
            // Then the error names that field
            assert!(
                e.starts_with(&format!("invalid policy: {expected}")),
                "{expected}: {e}"
            );
        }
        // And every region AWS has (each partition's pattern) is accepted
        for region in [
            "us-east-1",
            "ap-southeast-7",
            "ca-west-1",
            "il-central-1",
            "mx-central-1",
            "eu-central-2",
            "me-central-1",
            "af-south-1",
            "sa-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "cn-northwest-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "us-isof-south-1",
            "eu-isoe-west-1",
            "eusc-de-east-1",
        ] {
            crate::policy::Policy::parse(&format!("{base}dr: {{region: {region}}}\n"))
                .unwrap_or_else(|e| panic!("{region}: {e}"));
        }
        crate::policy::Policy::parse(&format!("{base}dr: {{region: cn-northwest-1, kms_key_id: 'arn:aws-cn:kms:cn-northwest-1:123456789012:key/abc'}}\n")).unwrap();
    }

    #[test]
    fn dr_key_must_be_in_dr_region() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ndr: {region: us-west-2, kms_key_id: 'arn:aws:kms:us-east-1:123456789012:key/abc'}\n");
        assert!(e.contains("a KMS key in us-west-2"), "{e}");
    }
}
