//! Account-level sections: the DR region, buckets, export, limits, thresholds and automation
//! (prices are cost-anomaly's, in `cost.rs`).

use serde::Deserialize;

use super::Span;

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
    /// The DR-region replica of `backup` (S3 cross-region replication), and the secondary
    /// backup target a failover points `target_parameter` at.
    #[serde(default)]
    pub dr_backup: Option<String>,
    /// The SSM parameter (read in the primary region, e.g. `/lifeboat/backup-target`) that holds
    /// the bucket backups go to now: `backup`, or `dr_backup` after failover-orchestrator's
    /// `switch-backup-target` step pointed it there (failback points it back). Lifeboat's own
    /// writers (snapshot-export's exports and manifests) read it once per run. Unset: backups
    /// always go to `backup`.
    #[serde(default)]
    pub target_parameter: Option<String>,
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
    /// No longer read: refused with a pointer to `monitoring.replication[].latency`, where each
    /// pair's levels are (a value here used to be accepted and silently ignored).
    pub replication_lag: Option<Span>,
    /// Integrity sweep mismatch rate (percent) at or above which the sweep fails.
    pub mismatch_rate_percent: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            replication_lag: None,
            mismatch_rate_percent: 0.5,
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
