//! The runbook as data: one declarative document every function reads.
//!
//! Loaded from a file path or an `s3://bucket/key` URI (`LIFEBOAT_POLICY`), in YAML or JSON, and
//! validated before anything else happens. Every error names the field, e.g.
//! `invalid policy: components[1].rpo: a duration like "5m", "1h", "30d" or "2w", got "5 minutes"`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::Duration;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

/// The resource kinds Lifeboat backs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceKind {
    /// An RDS DB instance (not an Aurora cluster member).
    RdsInstance,
    /// An Aurora DB cluster.
    AuroraCluster,
    /// An ElastiCache (Redis OSS / Valkey) replication group.
    Elasticache,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::RdsInstance => "rds-instance",
            ResourceKind::AuroraCluster => "aurora-cluster",
            ResourceKind::Elasticache => "elasticache",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A duration written as `30s`, `5m`, `1h`, `30d` or `2w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    pub fn parse(s: &str) -> Option<Span> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = s.split_at(split);
        let n: i64 = n.parse().ok()?;
        let d = match unit.trim() {
            "s" => Duration::try_seconds(n)?,
            "m" | "min" => Duration::try_minutes(n)?,
            "h" => Duration::try_hours(n)?,
            "d" => Duration::try_days(n)?,
            "w" => Duration::try_weeks(n)?,
            _ => return None,
        };
        Some(Span(d))
    }

    pub fn minutes(m: i64) -> Span {
        Span(Duration::minutes(m))
    }

    pub fn hours(h: i64) -> Span {
        Span(Duration::hours(h))
    }

    pub fn days(d: i64) -> Span {
        Span(Duration::days(d))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.num_seconds();
        if s != 0 && s % 604_800 == 0 {
            write!(f, "{}w", s / 604_800)
        } else if s != 0 && s % 86_400 == 0 {
            write!(f, "{}d", s / 86_400)
        } else if s != 0 && s % 3600 == 0 {
            write!(f, "{}h", s / 3600)
        } else if s != 0 && s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Span::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "a duration like \"5m\", \"1h\", \"30d\" or \"2w\", got {s:?}"
            ))
        })
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Grandfather-father-son retention: keep the newest backup of each of the last `daily` days,
/// `weekly` ISO weeks and `monthly` months (and of the last `hourly` hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default)]
    pub hourly: u32,
    #[serde(default)]
    pub daily: u32,
    #[serde(default)]
    pub weekly: u32,
    #[serde(default)]
    pub monthly: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            hourly: 0,
            daily: 7,
            weekly: 4,
            monthly: 6,
        }
    }
}

/// Settings a component may set; anything unset comes from `defaults`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    pub rpo: Option<Span>,
    pub rto: Option<Span>,
    /// How often a manual snapshot is taken: one per period of this length.
    pub frequency: Option<Span>,
    pub retention: Option<Retention>,
    pub copy_to_dr: Option<bool>,
    pub export: Option<bool>,
    /// Deletion needs an available DR copy (default: whenever `copy_to_dr`).
    pub require_dr_copy: Option<bool>,
    /// Deletion needs a completed export (default: whenever `export`).
    pub require_export: Option<bool>,
}

/// Fully resolved settings of one component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub rpo: Span,
    pub rto: Span,
    pub frequency: Span,
    pub retention: Retention,
    pub copy_to_dr: bool,
    pub export: bool,
    pub require_dr_copy: bool,
    pub require_export: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub name: String,
    pub kind: ResourceKind,
    /// Resource identifiers (DB instance id, cluster id, replication group id).
    #[serde(default)]
    pub ids: Vec<String>,
    /// Every tag here must be on the resource.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub rpo: Option<Span>,
    pub rto: Option<Span>,
    pub frequency: Option<Span>,
    pub retention: Option<Retention>,
    pub copy_to_dr: Option<bool>,
    pub export: Option<bool>,
    pub require_dr_copy: Option<bool>,
    pub require_export: Option<bool>,
    /// How Lifeboat reaches the data: for snapshot-time fingerprints (snapshot-export) and the
    /// checks on a restored copy (restore-verification).
    #[serde(default)]
    pub database: Option<DatabaseAccess>,
    /// Restore verification of this component's backups (none: not restored).
    #[serde(default)]
    pub verify: Option<Verify>,
}

/// Credentials and database of a component. The secret is the RDS-style JSON
/// (`username`, `password`; ElastiCache: `password` as the AUTH token) and is read from Secrets
/// Manager at run time; it is never logged nor reported.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseAccess {
    /// Database (schema on MySQL) to fingerprint and check; not used for Redis.
    #[serde(default)]
    pub name: Option<String>,
    pub secret_arn: String,
    /// Encrypt and verify the connection (RDS CA bundle; `LIFEBOAT_DB_CA_BUNDLE`). Only the
    /// local endpoint mapping of local runs connects in the clear.
    #[serde(default = "yes")]
    pub tls: bool,
}

fn yes() -> bool {
    true
}

/// Which backup to restore, how often, and what must hold in the restored copy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// A backup of this component is restored at most this often (default 7d; every scheduled
    /// run restores the components that are due).
    #[serde(default = "week")]
    pub every: Span,
    /// `latest`, or `random` within `window` (as AWS Backup restore testing offers).
    #[serde(default)]
    pub select: Selection,
    /// How far back `random` may reach (default 7d).
    #[serde(default = "week")]
    pub window: Span,
    /// `snapshot` (RDS/Aurora/ElastiCache snapshots) or `aws-backup` (recovery points of the
    /// resource, restored with StartRestoreJob).
    #[serde(default)]
    pub source: BackupSource,
    /// Row-count difference allowed against the snapshot-time fingerprint, in percent. At 0 the
    /// primary-key checksums must match too.
    #[serde(default)]
    pub row_tolerance_percent: f64,
    /// Newest value of `table.column` at most `max_lag` before the snapshot time.
    #[serde(default)]
    pub freshness: Option<Freshness>,
    /// Named checks: `sql` returns one number, expected to equal `expect`.
    #[serde(default)]
    pub checks: Vec<NamedCheck>,
    /// Redis: key-count difference allowed against the snapshot-time count, in percent.
    #[serde(default)]
    pub key_tolerance_percent: f64,
    /// Redis: keys read back (DUMP) from the restored copy.
    #[serde(default = "default_sample_keys")]
    pub sample_keys: u32,
}

fn week() -> Span {
    Span::days(7)
}

fn default_sample_keys() -> u32 {
    100
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    #[default]
    Latest,
    Random,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupSource {
    #[default]
    Snapshot,
    AwsBackup,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    pub table: String,
    pub column: String,
    pub max_lag: Span,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NamedCheck {
    pub name: String,
    pub sql: String,
    #[serde(default)]
    pub expect: i64,
}

/// Where and how restore-verification builds its temporary resources.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreTarget {
    /// DB subnet group for restored RDS instances and Aurora clusters (private subnets).
    pub db_subnet_group: String,
    /// Cache subnet group for restored ElastiCache replication groups.
    #[serde(default)]
    pub cache_subnet_group: Option<String>,
    /// Security groups of the restored resources (must admit the function's security group).
    pub security_group_ids: Vec<String>,
    /// The smallest class the engines accept (default db.t4g.micro; Aurora: db.t4g.medium).
    #[serde(default = "default_instance_class")]
    pub instance_class: String,
    #[serde(default = "default_aurora_class")]
    pub aurora_instance_class: String,
    #[serde(default = "default_cache_node_type")]
    pub cache_node_type: String,
    /// Tagged on every temporary resource; the janitor removes them once it has passed.
    #[serde(default = "default_expiry")]
    pub expiry: Span,
    /// A restore not available within this fails (and is torn down).
    #[serde(default = "default_restore_timeout")]
    pub timeout: Span,
    /// Role AWS Backup assumes for StartRestoreJob (components with `source: aws-backup`).
    #[serde(default)]
    pub backup_role_arn: Option<String>,
}

fn default_instance_class() -> String {
    "db.t4g.micro".into()
}
fn default_aurora_class() -> String {
    "db.t4g.medium".into()
}
fn default_cache_node_type() -> String {
    "cache.t4g.micro".into()
}
fn default_expiry() -> Span {
    Span::hours(6)
}
fn default_restore_timeout() -> Span {
    Span::hours(3)
}

impl Component {
    /// The component's own settings (unset ones come from `defaults`).
    pub fn settings(&self) -> SettingsInput {
        SettingsInput {
            rpo: self.rpo,
            rto: self.rto,
            frequency: self.frequency,
            retention: self.retention,
            copy_to_dr: self.copy_to_dr,
            export: self.export,
            require_dr_copy: self.require_dr_copy,
            require_export: self.require_export,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dr {
    pub region: String,
    #[serde(default)]
    pub account_id: Option<String>,
    /// KMS key in the DR region for copies of encrypted snapshots.
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Buckets {
    /// Exports and manifests go here.
    pub backup: String,
    /// The DR-region replica of `backup` (S3 cross-region replication).
    #[serde(default)]
    pub dr_backup: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// Role RDS assumes to write the export.
    pub iam_role_arn: String,
    /// KMS key the export is encrypted with (StartExportTask requires one).
    pub kms_key_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Cross-region snapshot copies in flight per destination region (AWS allows 5).
    pub max_copies_in_flight: u32,
    /// Warn when manual snapshots use this share of the account quota.
    pub snapshot_quota_warn_percent: u32,
    /// AWS calls in flight at once (RDS allows about 12 requests/s per account and region).
    pub max_concurrent_calls: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_copies_in_flight: 5,
            snapshot_quota_warn_percent: 80,
            max_concurrent_calls: 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// S3 replication lag above this is critical.
    pub replication_lag: Span,
    /// Integrity sweep mismatch rate (percent) at or above which the sweep fails.
    pub mismatch_rate_percent: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            replication_lag: Span::minutes(30),
            mismatch_rate_percent: 0.5,
        }
    }
}

/// USD per GB-month, for cost reporting.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Prices {
    pub rds_snapshot_gb_month: f64,
    pub elasticache_snapshot_gb_month: f64,
    pub s3_standard_gb_month: f64,
    pub s3_glacier_gb_month: f64,
    pub cross_region_transfer_gb: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            rds_snapshot_gb_month: 0.095,
            elasticache_snapshot_gb_month: 0.085,
            s3_standard_gb_month: 0.023,
            s3_glacier_gb_month: 0.0036,
            cross_region_transfer_gb: 0.02,
        }
    }
}

/// What may run without a person.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Automation {
    /// Retention deletes snapshots (always only with proof of a safe copy).
    pub delete_expired_snapshots: bool,
    /// The failover orchestrator may execute without a manual, armed command.
    pub auto_failover: bool,
}

impl Default for Automation {
    fn default() -> Self {
        Automation {
            delete_expired_snapshots: true,
            auto_failover: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub version: u32,
    /// Resources carrying this tag are backed up with `defaults` unless a component names them.
    #[serde(default = "default_opt_in")]
    pub opt_in_tag: Tag,
    #[serde(default)]
    pub dr: Option<Dr>,
    pub buckets: Buckets,
    #[serde(default)]
    pub export: Option<Export>,
    #[serde(default)]
    pub defaults: SettingsInput,
    #[serde(default)]
    pub components: Vec<Component>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub prices: Prices,
    #[serde(default)]
    pub automation: Automation,
    #[serde(default)]
    pub verification: Verification,
}

/// What restore-verification checks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// Integrity sweeps: a primary bucket/prefix against its replica.
    #[serde(default)]
    pub sweeps: Vec<Sweep>,
    /// Where restores go; required when any component has `verify`.
    #[serde(default)]
    pub restore: Option<RestoreTarget>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    /// The bucket's region (default: the primary region).
    #[serde(default)]
    pub region: Option<String>,
}

/// Seed 002's integrity sweep: compare sampled objects of `source` (the source of truth) with
/// `replica`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    pub name: String,
    pub source: Location,
    pub replica: Location,
    /// Share of objects compared each run, above 0 and at most 1 (1: all).
    #[serde(default = "default_sample_rate")]
    pub sample_rate: f64,
    /// Objects compared at once.
    #[serde(default = "default_sweep_concurrency")]
    pub concurrency: u32,
    /// How a match is proven (default `listing`).
    #[serde(default)]
    pub compare: SweepCompare,
}

/// How the sweep proves that a replica object equals its source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepCompare {
    /// Both sides are listed; an equal size and an equal ETag in the listings is a match
    /// (`rclone check`'s rule: the ETag is the body's MD5, or for multipart uploads a digest of
    /// the parts' MD5s). A missing key or a different size is a mismatch. Only where the ETags
    /// differ (SSE-KMS, other part sizes, or a real difference) are both sides read with
    /// HeadObject, and hashed when their stored checksums cannot decide.
    #[default]
    Listing,
    /// Every sampled object is read with HeadObject on both sides and proven by a stored
    /// checksum both carry (then by hashing both bodies): for when ETags are not to be trusted.
    Checksum,
}

fn default_sample_rate() -> f64 {
    0.01
}

fn default_sweep_concurrency() -> u32 {
    16
}

fn default_opt_in() -> Tag {
    Tag {
        key: "lifeboat:backup".into(),
        value: "true".into(),
    }
}

/// Which component a resource belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership<'a> {
    /// The component's name; for a resource opted in by tag alone, its own id.
    pub component: String,
    pub settings: Settings,
    pub named: Option<&'a Component>,
}

impl Policy {
    /// Parses and validates a policy document (YAML or JSON).
    pub fn parse(text: &str) -> Result<Policy> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let policy: Policy = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let mut msg = e.inner().to_string();
            // serde_yaml_ng may start its message with the path too; say it once. Its
            // " at line L column C" stays: it helps the reader.
            if let Some((head, rest)) = msg.split_once(": ") {
                if !head.is_empty() && path.starts_with(head) {
                    msg = rest.to_string();
                }
            }
            Error::policy(if path == "." { "policy".into() } else { path }, msg)
        })?;
        policy.validate()?;
        Ok(policy)
    }

    fn validate(&self) -> Result<()> {
        if self.version != 1 {
            return Err(Error::policy(
                "version",
                format!(
                    "1 (the only version this Lifeboat reads), got {}",
                    self.version
                ),
            ));
        }
        check_bucket("buckets.backup", &self.buckets.backup)?;
        if let Some(b) = &self.buckets.dr_backup {
            check_bucket("buckets.dr_backup", b)?;
        }
        if self.opt_in_tag.key.is_empty() {
            return Err(Error::policy("opt_in_tag.key", "a non-empty tag key"));
        }
        if let Some(dr) = &self.dr {
            check_region("dr.region", &dr.region)?;
            if let Some(acct) = &dr.account_id {
                if acct.len() != 12 || !acct.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::policy(
                        "dr.account_id",
                        format!("a 12-digit AWS account id, got {acct:?}"),
                    ));
                }
            }
            if let Some(k) = &dr.kms_key_id {
                check_kms("dr.kms_key_id", k, Some(&dr.region))?;
            }
        }
        if let Some(ex) = &self.export {
            check_arn("export.iam_role_arn", &ex.iam_role_arn, "iam")?;
            check_kms("export.kms_key_id", &ex.kms_key_id, None)?;
        }
        self.check_settings("defaults", &self.defaults, None)?;
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in self.components.iter().enumerate() {
            let at = format!("components[{i}]");
            if c.name.is_empty()
                || !c
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(Error::policy(
                    format!("{at}.name"),
                    format!("lower-case letters, digits and hyphens, got {:?}", c.name),
                ));
            }
            if !seen.insert(c.name.as_str()) {
                return Err(Error::policy(
                    format!("{at}.name"),
                    format!("a name used once, but {:?} appears again", c.name),
                ));
            }
            if c.ids.is_empty() && c.tags.is_empty() {
                return Err(Error::policy(
                    at.clone(),
                    "resources selected by `ids` or `tags` (neither is set)",
                ));
            }
            for (j, id) in c.ids.iter().enumerate() {
                check_identifier(&format!("{at}.ids[{j}]"), id)?;
            }
            self.check_settings(&at, &c.settings(), Some(c.kind))?;
            if let Some(db) = &c.database {
                check_arn(
                    &format!("{at}.database.secret_arn"),
                    &db.secret_arn,
                    "secretsmanager",
                )?;
                match (&db.name, c.kind) {
                    (None, ResourceKind::RdsInstance | ResourceKind::AuroraCluster) => {
                        return Err(Error::policy(
                            format!("{at}.database.name"),
                            "the database (MySQL: schema) to fingerprint and check",
                        ))
                    }
                    (Some(n), _) if n.is_empty() || n.len() > 63 => {
                        return Err(Error::policy(
                            format!("{at}.database.name"),
                            format!("a database name of 1-63 characters, got {n:?}"),
                        ))
                    }
                    _ => {}
                }
            }
            if let Some(v) = &c.verify {
                self.check_verify(&format!("{at}.verify"), v, c)?;
            }
        }
        if let Some(r) = &self.verification.restore {
            let at = "verification.restore";
            check_identifier(&format!("{at}.db_subnet_group"), &r.db_subnet_group)?;
            if let Some(g) = &r.cache_subnet_group {
                check_identifier(&format!("{at}.cache_subnet_group"), g)?;
            }
            if r.security_group_ids.is_empty() {
                return Err(Error::policy(
                    format!("{at}.security_group_ids"),
                    "at least one security group id (sg-...) for the restored resources",
                ));
            }
            for (i, g) in r.security_group_ids.iter().enumerate() {
                let ok = g.starts_with("sg-")
                    && g.len() > 3
                    && g[3..].bytes().all(|b| b.is_ascii_hexdigit());
                if !ok {
                    return Err(Error::policy(
                        format!("{at}.security_group_ids[{i}]"),
                        format!("a security group id like sg-0123456789abcdef0, got {g:?}"),
                    ));
                }
            }
            for (field, class, prefix) in [
                ("instance_class", &r.instance_class, "db."),
                ("aurora_instance_class", &r.aurora_instance_class, "db."),
                ("cache_node_type", &r.cache_node_type, "cache."),
            ] {
                if !class.starts_with(prefix) || class.len() <= prefix.len() {
                    return Err(Error::policy(
                        format!("{at}.{field}"),
                        format!("an instance class starting with {prefix:?}, got {class:?}"),
                    ));
                }
            }
            if r.expiry.0 < Duration::hours(1) || r.expiry.0 > Duration::days(7) {
                return Err(Error::policy(
                    format!("{at}.expiry"),
                    format!("1h to 7d (long enough for a restore, short enough to bound the cost), got {}", r.expiry),
                ));
            }
            if r.timeout.0 <= Duration::zero() || r.timeout.0 >= r.expiry.0 {
                return Err(Error::policy(
                    format!("{at}.timeout"),
                    format!("above 0 and below expiry ({}), so that a timed-out restore is torn down before the janitor's deadline, got {}", r.expiry, r.timeout),
                ));
            }
            if let Some(a) = &r.backup_role_arn {
                check_arn(&format!("{at}.backup_role_arn"), a, "iam")?;
            }
        }
        let l = &self.limits;
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
        let mut sweep_names = std::collections::BTreeSet::new();
        for (i, sw) in self.verification.sweeps.iter().enumerate() {
            let at = format!("verification.sweeps[{i}]");
            if sw.name.is_empty() || !sweep_names.insert(sw.name.as_str()) {
                return Err(Error::policy(
                    format!("{at}.name"),
                    format!("a non-empty name used once, got {:?}", sw.name),
                ));
            }
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
        }
        let t = &self.thresholds;
        if !(0.0..=100.0).contains(&t.mismatch_rate_percent) {
            return Err(Error::policy(
                "thresholds.mismatch_rate_percent",
                format!(
                    "a percentage from 0 to 100, got {}",
                    t.mismatch_rate_percent
                ),
            ));
        }
        for (name, v) in [
            (
                "prices.rds_snapshot_gb_month",
                self.prices.rds_snapshot_gb_month,
            ),
            (
                "prices.elasticache_snapshot_gb_month",
                self.prices.elasticache_snapshot_gb_month,
            ),
            (
                "prices.s3_standard_gb_month",
                self.prices.s3_standard_gb_month,
            ),
            (
                "prices.s3_glacier_gb_month",
                self.prices.s3_glacier_gb_month,
            ),
            (
                "prices.cross_region_transfer_gb",
                self.prices.cross_region_transfer_gb,
            ),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::policy(
                    name,
                    format!("a price in USD of 0 or more, got {v}"),
                ));
            }
        }
        Ok(())
    }

    fn check_verify(&self, at: &str, v: &Verify, c: &Component) -> Result<()> {
        let Some(target) = &self.verification.restore else {
            return Err(Error::policy(
                "verification.restore",
                format!("the subnet group and security groups for restores ({at} is set)"),
            ));
        };
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
        if let Some(f) = &v.freshness {
            if f.table.is_empty() || f.column.is_empty() {
                return Err(Error::policy(
                    format!("{at}.freshness"),
                    "a table and a timestamp column",
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, n) in v.checks.iter().enumerate() {
            if n.name.is_empty() || !names.insert(n.name.as_str()) {
                return Err(Error::policy(
                    format!("{at}.checks[{i}].name"),
                    format!("a non-empty name used once, got {:?}", n.name),
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

    fn check_settings(
        &self,
        at: &str,
        s: &SettingsInput,
        kind: Option<ResourceKind>,
    ) -> Result<()> {
        if let Some(f) = s.frequency {
            if f.0 < Duration::hours(1) {
                return Err(Error::policy(
                    format!("{at}.frequency"),
                    format!("at least 1h (manual snapshots are not a minutes-RPO mechanism: point-in-time recovery is), got {f}"),
                ));
            }
        }
        if let Some(r) = s.retention {
            if r.hourly + r.daily + r.weekly + r.monthly == 0 {
                return Err(Error::policy(
                    format!("{at}.retention"),
                    "at least one of hourly, daily, weekly, monthly above 0",
                ));
            }
        }
        for (field, v) in [("rpo", s.rpo), ("rto", s.rto)] {
            if let Some(v) = v {
                if v.0 <= Duration::zero() {
                    return Err(Error::policy(format!("{at}.{field}"), "a duration above 0"));
                }
            }
        }
        let resolved = self.resolve(s);
        if resolved.copy_to_dr && self.dr.is_none() && kind != Some(ResourceKind::Elasticache) {
            return Err(Error::policy(
                format!("{at}.copy_to_dr"),
                "a `dr` section with the DR region (copy_to_dr is on)",
            ));
        }
        if resolved.export && self.export.is_none() && kind != Some(ResourceKind::Elasticache) {
            return Err(Error::policy(
                format!("{at}.export"),
                "an `export` section with iam_role_arn and kms_key_id (export is on)",
            ));
        }
        if resolved.require_dr_copy && !resolved.copy_to_dr {
            return Err(Error::policy(
                format!("{at}.require_dr_copy"),
                "copy_to_dr on as well (a DR copy that is never made can never be proof)",
            ));
        }
        if resolved.require_export && !resolved.export {
            return Err(Error::policy(
                format!("{at}.require_export"),
                "export on as well (an export that is never made can never be proof)",
            ));
        }
        Ok(())
    }

    /// Settings with `defaults` and then built-in defaults filled in.
    pub fn resolve(&self, s: &SettingsInput) -> Settings {
        let d = &self.defaults;
        let copy_to_dr = s.copy_to_dr.or(d.copy_to_dr).unwrap_or(self.dr.is_some());
        let export = s.export.or(d.export).unwrap_or(false);
        Settings {
            rpo: s.rpo.or(d.rpo).unwrap_or(Span::hours(24)),
            rto: s.rto.or(d.rto).unwrap_or(Span::hours(1)),
            frequency: s.frequency.or(d.frequency).unwrap_or(Span::days(1)),
            retention: s.retention.or(d.retention).unwrap_or_default(),
            copy_to_dr,
            export,
            require_dr_copy: s
                .require_dr_copy
                .or(d.require_dr_copy)
                .unwrap_or(copy_to_dr),
            require_export: s.require_export.or(d.require_export).unwrap_or(export),
        }
    }

    /// The component a resource belongs to: the first component naming it (by id or by all its
    /// tags), else the opt-in tag with `defaults`, else none.
    pub fn membership<'a>(
        &'a self,
        kind: ResourceKind,
        id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Option<Membership<'a>> {
        for c in &self.components {
            if c.kind != kind {
                continue;
            }
            let by_id = c.ids.iter().any(|i| i == id);
            let by_tags = !c.tags.is_empty() && c.tags.iter().all(|(k, v)| tags.get(k) == Some(v));
            if by_id || by_tags {
                return Some(Membership {
                    component: c.name.clone(),
                    settings: self.resolve(&c.settings()),
                    named: Some(c),
                });
            }
        }
        if tags.get(&self.opt_in_tag.key) == Some(&self.opt_in_tag.value) {
            return Some(Membership {
                component: id.to_string(),
                settings: self.resolve(&SettingsInput::default()),
                named: None,
            });
        }
        None
    }

    /// Settings for a component by name (for backups whose source is gone or was re-tagged),
    /// falling back to `defaults`.
    pub fn settings_by_name(&self, component: &str) -> Settings {
        self.components
            .iter()
            .find(|c| c.name == component)
            .map(|c| self.resolve(&c.settings()))
            .unwrap_or_else(|| self.resolve(&SettingsInput::default()))
    }
}

fn check_bucket(field: &str, b: &str) -> Result<()> {
    let ok = (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("an S3 bucket name (3-63 lower-case letters, digits, '-' or '.'), got {b:?}"),
        ))
    }
}

pub(crate) fn check_region(field: &str, r: &str) -> Result<()> {
    let parts: Vec<&str> = r.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts[parts.len() - 1].bytes().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("an AWS region like us-west-2, got {r:?}"),
        ))
    }
}

fn check_arn(field: &str, arn: &str, service: &str) -> Result<()> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == service && !parts[5].is_empty() {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("an arn:aws:{service}:... ARN, got {arn:?}"),
        ))
    }
}

fn check_kms(field: &str, key: &str, region: Option<&str>) -> Result<()> {
    if key.starts_with("arn:") {
        check_arn(field, key, "kms")?;
        if let Some(r) = region {
            let key_region = key.split(':').nth(3).unwrap_or_default();
            if key_region != r {
                return Err(Error::policy(
                    field,
                    format!("a KMS key in {r} (the copy is encrypted in the DR region), got one in {key_region:?}"),
                ));
            }
        }
        Ok(())
    } else if key.starts_with("alias/") || (key.len() == 36 && key.matches('-').count() == 4) {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("a KMS key ARN, key id or alias/NAME, got {key:?}"),
        ))
    }
}

/// RDS and ElastiCache identifiers: a letter first, then letters, digits and single hyphens.
fn check_identifier(field: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 63
        && id.as_bytes()[0].is_ascii_alphabetic()
        && id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        && !id.contains("--")
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::policy(
            field,
            format!("a DB or replication group identifier (a letter, then letters, digits, single hyphens), got {id:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "version: 1\nbuckets: {backup: lifeboat-backups}\n";

    fn err(text: &str) -> String {
        Policy::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_policy_gets_safe_defaults() {
        let p = Policy::parse(MINIMAL).unwrap();
        let s = p.resolve(&SettingsInput::default());
        assert_eq!(s.frequency, Span::days(1));
        assert!(!s.copy_to_dr, "no DR region: no copies");
        assert!(p.automation.delete_expired_snapshots);
        assert!(
            !p.automation.auto_failover,
            "auto-failover is off unless armed"
        );
        assert_eq!(p.opt_in_tag.key, "lifeboat:backup");
    }

    #[test]
    fn the_example_policy_in_infra_is_valid() {
        let p = Policy::parse(include_str!("../../infra/policy.example.yaml")).unwrap();
        assert!(p.components.len() >= 3);
    }

    #[test]
    fn durations_are_named_by_field() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: db, kind: rds-instance, ids: [db], rpo: 5 minutes}\n");
        assert!(
            e.starts_with("invalid policy: components[0].rpo: a duration like"),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = err("version: 1\nbuckets: {backup: b-1}\nretension: {daily: 3}\n");
        assert!(e.contains("unknown field `retension`"), "{e}");
    }

    #[test]
    fn wrong_version() {
        assert_eq!(
            err("version: 2\nbuckets: {backup: b-1}\n"),
            "invalid policy: version: 1 (the only version this Lifeboat reads), got 2"
        );
    }

    #[test]
    fn missing_bucket_is_named() {
        let e = err("version: 1\n");
        assert!(e.contains("missing field `buckets`"), "{e}");
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
    fn copy_needs_dr_region() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ndefaults: {copy_to_dr: true}\n");
        assert!(e.starts_with("invalid policy: defaults.copy_to_dr"), "{e}");
    }

    #[test]
    fn export_needs_role_and_key() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: db, kind: rds-instance, ids: [db], export: true}\n");
        assert!(e.starts_with("invalid policy: components[0].export"), "{e}");
    }

    #[test]
    fn proof_requirement_needs_the_mechanism() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ndefaults: {require_export: true}\n");
        assert!(
            e.starts_with("invalid policy: defaults.require_export"),
            "{e}"
        );
    }

    #[test]
    fn sub_hourly_frequency_is_refused() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ndefaults: {frequency: 5m}\n");
        assert!(
            e.starts_with("invalid policy: defaults.frequency: at least 1h"),
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
    fn dr_key_must_be_in_dr_region() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ndr: {region: us-west-2, kms_key_id: 'arn:aws:kms:us-east-1:123456789012:key/abc'}\n");
        assert!(e.contains("a KMS key in us-west-2"), "{e}");
    }

    #[test]
    fn duplicate_component_names() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: a, kind: elasticache, ids: [x]}\n  - {name: a, kind: elasticache, ids: [y]}\n");
        assert!(e.starts_with("invalid policy: components[1].name"), "{e}");
    }

    #[test]
    fn component_without_selector() {
        let e = err(
            "version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: a, kind: elasticache}\n",
        );
        assert!(
            e.starts_with("invalid policy: components[0]: resources selected by"),
            "{e}"
        );
    }

    #[test]
    fn membership_by_id_then_tags_then_opt_in() {
        let p = Policy::parse("version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: orders, kind: rds-instance, ids: [orders-db], frequency: 12h}\n  - {name: tagged, kind: rds-instance, tags: {app: shop}}\n").unwrap();
        let none = BTreeMap::new();
        let m = p
            .membership(ResourceKind::RdsInstance, "orders-db", &none)
            .unwrap();
        assert_eq!(
            (m.component.as_str(), m.settings.frequency),
            ("orders", Span::hours(12))
        );
        let shop = BTreeMap::from([("app".to_string(), "shop".to_string())]);
        assert_eq!(
            p.membership(ResourceKind::RdsInstance, "x", &shop)
                .unwrap()
                .component,
            "tagged"
        );
        assert!(
            p.membership(ResourceKind::AuroraCluster, "orders-db", &none)
                .is_none(),
            "kind must match"
        );
        let opted = BTreeMap::from([("lifeboat:backup".to_string(), "true".to_string())]);
        assert_eq!(
            p.membership(ResourceKind::Elasticache, "cache", &opted)
                .unwrap()
                .component,
            "cache"
        );
        assert!(p
            .membership(ResourceKind::Elasticache, "cache", &none)
            .is_none());
    }

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

    #[test]
    fn span_round_trip() {
        for s in ["30s", "5m", "1h", "30d", "2w"] {
            assert_eq!(Span::parse(s).unwrap().to_string(), s);
        }
        assert!(Span::parse("5 minutes").is_none());
        assert!(Span::parse("m").is_none());
    }
}
