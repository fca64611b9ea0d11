//! The `monitoring` section, read by replication-lag-check: S3 replication pairs (with their
//! canary), database replica lag, S3 artifact sets (Kafka archives, Kubernetes config, Secrets
//! Manager backups), metric threshold rules as data (seed 002's table), and how often a check
//! still failing is reminded.

use serde::Deserialize;

use super::{Location, Span};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// S3 replication pairs: the source bucket/prefix and its replica.
    #[serde(default)]
    pub replication: Vec<ReplicationPair>,
    /// Lag thresholds for database replicas (RDS read replicas, Aurora replicas, global
    /// databases). Default (seed 003): warning above 5 min, critical above 15 min.
    #[serde(default = "default_replica_lag")]
    pub replica_lag: Levels,
    /// Backups kept as S3 objects, each with the cadence it is written at.
    #[serde(default)]
    pub artifacts: Vec<ArtifactSet>,
    /// Metric threshold rules, evaluated by Lifeboat from raw CloudWatch series.
    #[serde(default)]
    pub rules: Vec<MetricRule>,
    /// A check still failing is emailed again after this long (default 4h).
    #[serde(default = "default_reminder")]
    pub reminder_every: Span,
    /// How often the full check runs (default 15m): every check, the canary, all four S3
    /// replication metrics, the rules, the artifact sets. The scheduled runs in between are lag
    /// checks: each pair's replication configuration and ReplicationLatency and each database
    /// replica's lag — the cheap, urgent part — and every backup's age (RDS, ElastiCache and AWS
    /// Backup reads are free of charge); the other checks keep the state of the last full check.
    /// The CloudWatch and S3 request bill scales with it (docs/PERFORMANCE.md). An alarm, a manual
    /// check, a dry run and the first run are always full.
    #[serde(default = "default_full_check")]
    pub full_check_every: Span,
    /// Opt-in: EMF metrics per component (BackupAgeSeconds, and VerifiedBackupAgeSeconds for a
    /// verified one, with a `Component` dimension; never RpoSeconds, a constant). CloudWatch
    /// bills each metric and dimension value as a custom metric, $0.30 a month each (1 or 2 per
    /// component: $0.30–$0.60 a component a month). Default `false`: the aggregates (the worst
    /// backup age against RPO, the count over RPO), the per-pair and per-replica lag and the
    /// check counts are metrics, and every component's values are EMF properties of its log line
    /// (free to query with Logs Insights; the dashboard draws them so). Alerts and reports are
    /// unchanged.
    #[serde(default)]
    pub per_component_metrics: bool,
    /// restore-verification's newest verified backup older than this is a warning (seed 003:
    /// "verification not done in 7 days").
    #[serde(default = "default_verification_age")]
    pub verification_max_age: Span,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            replication: Vec::new(),
            replica_lag: default_replica_lag(),
            artifacts: Vec::new(),
            rules: Vec::new(),
            reminder_every: default_reminder(),
            full_check_every: default_full_check(),
            per_component_metrics: false,
            verification_max_age: default_verification_age(),
        }
    }
}

fn default_replica_lag() -> Levels {
    Levels {
        warning: Span::minutes(5),
        critical: Span::minutes(15),
    }
}

fn default_reminder() -> Span {
    Span::hours(4)
}

fn default_full_check() -> Span {
    Span::minutes(15)
}

fn default_verification_age() -> Span {
    Span::days(7)
}

/// A warning and a critical level for a measured time.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Levels {
    pub warning: Span,
    pub critical: Span,
}

/// An S3 replication pair (a CRR rule) the function watches.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationPair {
    pub name: String,
    pub source: Location,
    pub replica: Location,
    /// ReplicationLatency and the canary's end-to-end time. Default (seed 003): warning above
    /// 15 min, critical above 1 h.
    #[serde(default = "default_latency")]
    pub latency: Levels,
    /// The active canary: a small object written under `prefix` in the source bucket each run,
    /// looked for in the replica. `false` turns it off.
    #[serde(default)]
    pub canary: Canary,
}

fn default_latency() -> Levels {
    Levels {
        warning: Span::minutes(15),
        critical: Span::hours(1),
    }
}

/// The canary of a replication pair.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Canary {
    pub enabled: bool,
    /// Where canaries are written (in the source bucket; the replica has them under the same
    /// key when replication covers it). Must lie under the pair's source prefix.
    pub prefix: Option<String>,
}

impl Default for Canary {
    fn default() -> Self {
        Canary {
            enabled: true,
            prefix: None,
        }
    }
}

/// The folder replication-lag-check writes its canaries in (the end of every canary prefix; the
/// role's canary grants are on `*lifeboat-canary/*`, and integrity sweeps skip it).
pub const CANARY_FOLDER: &str = "lifeboat-canary/";

impl ReplicationPair {
    /// `<source prefix>lifeboat-canary/` unless the policy says otherwise.
    pub fn canary_prefix(&self) -> String {
        self.canary
            .prefix
            .clone()
            .unwrap_or_else(|| format!("{}{CANARY_FOLDER}", self.source.prefix))
    }
}

/// Backups kept as S3 objects: the newest object under `prefix` must be younger than `rpo` and
/// at least `min_size` bytes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSet {
    pub name: String,
    pub bucket: String,
    #[serde(default)]
    pub prefix: String,
    /// The bucket's region (default: the primary region).
    #[serde(default)]
    pub region: Option<String>,
    /// How often a new object is written (the cadence); informational in the report.
    pub every: Span,
    /// The newest object older than this is critical; older than `every` plus half of the gap
    /// to `rpo` a warning. Default: twice `every`.
    #[serde(default)]
    pub rpo: Option<Span>,
    /// Smallest plausible size in bytes: a smaller newest object is a warning (an empty dump).
    #[serde(default)]
    pub min_size: u64,
}

impl ArtifactSet {
    pub fn rpo(&self) -> Span {
        self.rpo.unwrap_or(Span(self.every.0 * 2))
    }
}

/// A metric threshold rule (seed 002): one metric's statistic, or the ratio of two, over a
/// window, compared with a threshold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRule {
    pub name: String,
    pub namespace: String,
    /// The metric (for a ratio: the numerator, e.g. failures).
    pub metric: String,
    /// For a ratio rule: the denominator (e.g. all attempts); the value is 100 × metric / of.
    #[serde(default)]
    pub of: Option<String>,
    #[serde(default)]
    pub dimensions: std::collections::BTreeMap<String, String>,
    /// How the window's datapoints are combined: Sum (default), Average, Maximum, Minimum.
    #[serde(default)]
    pub statistic: Statistic,
    pub window: Span,
    /// Alert when the value is above this (exclusive)...
    #[serde(default)]
    pub above: Option<f64>,
    /// ... or below this (exclusive). Exactly one of the two.
    #[serde(default)]
    pub below: Option<f64>,
    pub severity: RuleSeverity,
    /// The runbook's action, quoted in the alert.
    #[serde(default)]
    pub action: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Statistic {
    #[default]
    Sum,
    Average,
    Maximum,
    Minimum,
}

impl Statistic {
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Sum => "Sum",
            Statistic::Average => "Average",
            Statistic::Maximum => "Maximum",
            Statistic::Minimum => "Minimum",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleSeverity {
    Warning,
    Critical,
}
