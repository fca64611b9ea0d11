//! What snapshot-export reads from AWS for one decision, as plain data.

use std::collections::{BTreeMap, BTreeSet};

use lifeboat_shared::backup::Snapshot;
use lifeboat_shared::policy::{ResourceKind, Settings};

/// A database or cache that policy selects for backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub kind: ResourceKind,
    pub id: String,
    pub arn: String,
    pub engine: String,
    pub engine_version: Option<String>,
    pub status: String,
    pub encrypted: bool,
    pub tags: BTreeMap<String, String>,
    pub component: String,
    pub settings: Settings,
    /// Where clients connect (for the data fingerprint at snapshot time).
    pub endpoint: Option<(String, u16)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExportTask {
    pub id: String,
    pub source_arn: String,
    /// Upper-case as RDS reports it: STARTING, IN_PROGRESS, COMPLETE, CANCELING, CANCELED, FAILED.
    pub status: String,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub failure: Option<String>,
}

impl ExportTask {
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "FAILED" | "CANCELED" | "CANCELING")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub used: i64,
    pub max: i64,
}

/// Everything read from AWS for one decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub sources: Vec<Source>,
    /// Primary-region snapshots of every kind: automated and manual, ours and not.
    pub snapshots: Vec<Snapshot>,
    /// DR-region manual snapshots (RDS and Aurora).
    pub dr_snapshots: Vec<Snapshot>,
    pub exports: Vec<ExportTask>,
    /// Object keys in the backup bucket that start with `lifeboat-` (ElastiCache exports).
    pub exported_objects: BTreeSet<String>,
    /// Account quotas for manual DB and cluster snapshots, when they could be read.
    pub instance_quota: Option<Quota>,
    pub cluster_quota: Option<Quota>,
    /// Reads that failed, with the AWS error: the plan works around them and says so.
    pub read_errors: Vec<(String, String)>,
}
