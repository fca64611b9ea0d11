//! Restore verification: which backup of a component is restored and what must hold in it,
//! where restores are built, and the integrity sweeps of replicated buckets.

use serde::{Deserialize, Serialize};

use super::Span;

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
