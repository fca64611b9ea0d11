//! Pure decisions: `(policy, usage read from AWS, history, day) → lines, anomalies, savings,
//! forecast`. Nothing here calls AWS or reads a clock.
//!
//! - [`model`]: usage (bytes as AWS bills them) → cost lines per component, region, item and
//!   storage class, in USD a day, with free allocations taken off;
//! - [`anomalies`]: the seed's rules and the robust baseline over the stored history, each with
//!   its contributors ranked by dollar impact;
//! - [`savings`]: recommendations with $/month, evidence and the exact change;
//! - [`forecast`]: month-end per component with its uncertainty;
//! - [`reconcile`]: the model against Cost Explorer's actual cost.

pub mod anomalies;
pub mod forecast;
pub mod model;
pub mod reconcile;
pub mod savings;

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use lifeboat_shared::policy::cost::Class;
use serde::{Deserialize, Serialize};

/// The schema of a stored day.
pub const DAY_SCHEMA: &str = "lifeboat.cost-day/v1";

/// What a cost line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Item {
    /// RDS automated snapshots (the instance's backup retention).
    AutomatedSnapshots,
    /// Manual snapshots Lifeboat made and its retention governs.
    LifeboatSnapshots,
    /// Manual snapshots no retention governs: not made by Lifeboat.
    UnmanagedSnapshots,
    /// Lifeboat's copies in the DR region.
    DrCopies,
    /// Aurora continuous backup within the retention period.
    BackupRetention,
    /// Aurora cluster snapshots (manual and copied).
    ClusterSnapshots,
    /// ElastiCache snapshots.
    CacheSnapshots,
    /// AWS Backup recovery points.
    RecoveryPoints,
    /// S3 objects (current versions).
    Objects,
    /// S3 noncurrent versions.
    NoncurrentVersions,
    /// Parts of S3 multipart uploads never completed nor aborted.
    IncompleteUploads,
    /// Bytes S3 replication moved to another region on the day.
    ReplicationTransfer,
    /// Snapshot copies made to the DR region on the day.
    CopyTransfer,
    /// A Cost Explorer usage type (backfilled days).
    Billed,
}

impl Item {
    pub fn words(self) -> &'static str {
        match self {
            Item::AutomatedSnapshots => "automated snapshots",
            Item::LifeboatSnapshots => "Lifeboat snapshots",
            Item::UnmanagedSnapshots => "manual snapshots not made by Lifeboat",
            Item::DrCopies => "DR copies",
            Item::BackupRetention => "backup retention",
            Item::ClusterSnapshots => "cluster snapshots",
            Item::CacheSnapshots => "cache snapshots",
            Item::RecoveryPoints => "AWS Backup recovery points",
            Item::Objects => "objects",
            Item::NoncurrentVersions => "noncurrent versions",
            Item::IncompleteUploads => "incomplete multipart uploads",
            Item::ReplicationTransfer => "replication transfer",
            Item::CopyTransfer => "DR copy transfer",
            Item::Billed => "billed (Cost Explorer)",
        }
    }

    /// The resources a line of this item counts, in words ("snapshots", "objects").
    pub fn unit(self) -> &'static str {
        match self {
            Item::AutomatedSnapshots
            | Item::LifeboatSnapshots
            | Item::UnmanagedSnapshots
            | Item::DrCopies
            | Item::ClusterSnapshots
            | Item::CacheSnapshots
            | Item::CopyTransfer => "snapshots",
            Item::RecoveryPoints => "recovery points",
            Item::Objects | Item::NoncurrentVersions | Item::ReplicationTransfer => "objects",
            Item::IncompleteUploads => "uploads",
            Item::BackupRetention | Item::Billed => "",
        }
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.words())
    }
}

/// Where a line's cost comes from, in the report's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Bytes AWS reports as billed (Aurora's TotalBackupStorageBilled).
    Billed,
    /// Bytes measured (S3 metrics, inventory, listings, snapshot and recovery point sizes).
    Measured,
    /// An estimate: RDS snapshots from their allocated storage, as if none shared blocks.
    Estimate,
    /// Cost Explorer's figure.
    CostExplorer,
}

/// One line's identity: stable across days, the key of history, contributors and alerts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    pub component: String,
    pub region: String,
    pub item: Item,
    pub class: Class,
    /// The bucket (S3 lines), the vault (AWS Backup) or the usage type (Cost Explorer); empty
    /// otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub at: String,
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.component, self.item)?;
        if !self.at.is_empty() {
            write!(f, " in {}", self.at)?;
        }
        write!(f, " ({}, {})", self.class, self.region)
    }
}

/// One line of the day's cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    #[serde(flatten)]
    pub key: Key,
    /// GB billed (after the free allocation): GB-month for storage, GB moved for transfer.
    pub gb: f64,
    /// Before the free allocation (what AWS stores).
    pub stored_gb: f64,
    pub usd_day: f64,
    pub basis: Basis,
    /// How many resources (snapshots, objects, recovery points) the line counts.
    pub count: u64,
    /// The resources by id (snapshots, recovery points), at most [`IDS_KEPT`], sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}

/// Resource ids kept per line in the history.
pub const IDS_KEPT: usize = 200;

/// A source that could not be read: the component's figure is "no data", never $0.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Gap {
    /// The component whose figure it leaves without data ("*": every component).
    pub component: String,
    pub source: String,
    pub error: String,
}

/// One day's cost as stored in S3 (`cost/history/YYYY/MM/DD.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Day {
    pub schema: String,
    pub date: NaiveDate,
    /// `model` (read from the account) or `cost-explorer` (backfilled).
    pub source: String,
    pub lines: Vec<Line>,
    #[serde(default)]
    pub gaps: Vec<Gap>,
    pub prices_taken: String,
    pub written_by: String,
    /// Cost Explorer's actual cost of the day by component tag and usage type, when enabled
    /// and read (`None`: not enabled, or see `actual_error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<Vec<Line>>,
    /// Why Cost Explorer could not be read for the day, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_error: Option<String>,
}

/// What the anomaly rules compare: the model's figures, or Cost Explorer's actual cost (when
/// enabled: days compare like with like, and backfilled days are Cost Explorer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    Model,
    Actual,
}

/// The days as the rules see them on `basis`: on the model, the model's days; on actual cost,
/// each day's Cost Explorer lines (a day whose Cost Explorer read failed is NO DATA; a model
/// day recorded before Cost Explorer was enabled is left out: not comparable).
pub fn basis_view(days: &BTreeMap<NaiveDate, Day>, basis: Series) -> BTreeMap<NaiveDate, Day> {
    days.iter()
        .filter_map(|(d, day)| {
            let view = match basis {
                Series::Model if day.source == "model" => day.clone(),
                Series::Model => return None,
                Series::Actual if day.source == "cost-explorer" => day.clone(),
                Series::Actual => match (&day.actual, &day.actual_error) {
                    (Some(lines), _) => Day {
                        lines: lines.clone(),
                        gaps: Vec::new(),
                        ..day.clone()
                    },
                    (None, Some(err)) => Day {
                        lines: Vec::new(),
                        gaps: vec![Gap {
                            component: "*".into(),
                            source: "Cost Explorer GetCostAndUsage".into(),
                            error: err.clone(),
                        }],
                        ..day.clone()
                    },
                    (None, None) => return None,
                },
            };
            Some((*d, view))
        })
        .collect()
}

/// A day with sources it could not read may have lost a component whose name only those
/// sources would have given (one opted in by tag: named by its own id): a component the last
/// recorded model day costed that is neither costed nor without data today is marked without
/// data — never dropped, which later days would read as $0. With every source read, a
/// component that is gone is gone.
pub fn missing_as_gaps(day: &mut Day, history: &BTreeMap<NaiveDate, Day>) {
    if day.gaps.is_empty() {
        return;
    }
    let Some(prev) = history
        .range(..day.date)
        .rev()
        .map(|(_, d)| d)
        .find(|d| d.source == "model")
    else {
        return;
    };
    let now = day.components();
    let why: Vec<String> = day
        .gaps
        .iter()
        .map(|g| g.source.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for c in prev.components() {
        if !now.contains(&c) {
            day.gaps.push(Gap {
                component: c.clone(),
                source: why.join(", "),
                error: format!(
                    "costed on {} and not found today while these sources could not be read",
                    prev.date
                ),
            });
        }
    }
    day.gaps.sort();
}

/// A component's (or the total's) figure on a day: `None` is no data.
pub type Figure = Option<f64>;

/// Whose cost a figure is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Scope {
    Total,
    Component(String),
}

impl Scope {
    pub fn of(component: &Option<String>) -> Scope {
        match component {
            Some(c) => Scope::Component(c.clone()),
            None => Scope::Total,
        }
    }

    pub fn covers(&self, component: &str) -> bool {
        match self {
            Scope::Total => true,
            Scope::Component(c) => c == component,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Scope::Total => "backup cost",
            Scope::Component(c) => c,
        }
    }
}

impl Day {
    /// The day's figure for `scope`: the sum of its lines, or `None` when a source it covers
    /// could not be read.
    pub fn figure(&self, scope: &Scope) -> Figure {
        if self
            .gaps
            .iter()
            .any(|g| g.component == "*" || scope.covers(&g.component))
        {
            return None;
        }
        Some(
            self.lines
                .iter()
                .filter(|l| scope.covers(&l.key.component))
                .map(|l| l.usd_day)
                .sum(),
        )
    }

    /// What is known even with gaps: the sum of the lines read.
    pub fn partial(&self, scope: &Scope) -> f64 {
        self.lines
            .iter()
            .filter(|l| scope.covers(&l.key.component))
            .map(|l| l.usd_day)
            .sum()
    }

    /// Every component named by a line or a gap.
    pub fn components(&self) -> Vec<String> {
        let mut c: Vec<String> = self
            .lines
            .iter()
            .map(|l| l.key.component.clone())
            .chain(
                self.gaps
                    .iter()
                    .filter(|g| g.component != "*")
                    .map(|g| g.component.clone()),
            )
            .collect();
        c.sort();
        c.dedup();
        c
    }

    /// Lines by key.
    pub fn by_key(&self) -> BTreeMap<&Key, &Line> {
        self.lines.iter().map(|l| (&l.key, l)).collect()
    }
}

/// USD with cents (and more precision below a cent).
pub fn usd(v: f64) -> String {
    // (no "$-0.00": a sum of nothing negative is zero)
    let v = if v.abs() < 0.00005 { 0.0 } else { v };
    if v.abs() >= 0.0995 || v == 0.0 {
        format!("${v:.2}")
    } else {
        format!("${v:.4}")
    }
}

/// A signed USD change.
pub fn usd_signed(v: f64) -> String {
    if v < 0.0 {
        format!("-{}", usd(-v))
    } else {
        format!("+{}", usd(v))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::plan::anomalies::tests::day_of;

    #[test]
    fn a_component_lost_with_an_unread_source_is_no_data_not_zero() {
        let d = |n: u32| NaiveDate::from_ymd_opt(2026, 12, n).unwrap();
        let history: BTreeMap<NaiveDate, Day> = [(
            d(6),
            day_of(d(6), &[("orders-db", 1.0), ("analytics-db", 0.5)]),
        )]
        .into();
        // Given today's RDS read failed: orders-db is named by the policy (a gap), analytics-db,
        // opted in by tag, is not named at all
        let mut today = day_of(d(7), &[]);
        today.gaps.push(Gap {
            component: "orders-db".into(),
            source: "RDS snapshots in us-east-1".into(),
            error: "ServiceUnavailable".into(),
        });
        missing_as_gaps(&mut today, &history);
        assert_eq!(today.figure(&Scope::Component("analytics-db".into())), None);
        assert!(today.gaps.iter().any(|g| g.component == "analytics-db"
            && g.source == "RDS snapshots in us-east-1"
            && g.error.contains("costed on 2026-12-06")));
        // With every source read, a component that is gone is gone
        let mut clean = day_of(d(7), &[("orders-db", 1.0)]);
        missing_as_gaps(&mut clean, &history);
        assert_eq!(
            clean.figure(&Scope::Component("analytics-db".into())),
            Some(0.0)
        );
    }
}
