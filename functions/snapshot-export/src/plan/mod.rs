//! The pure core of snapshot-export: from (policy, inventory, now) to a plan of steps, each
//! with its reason, and a keep/delete decision with its reason for every snapshot in scope.
//! No I/O and no clock reads here: `now` is a parameter. One file per concern: [`creates`]
//! (this period's snapshots), [`fingerprints`] (which get a data fingerprint), [`copies`] (DR copies), [`exports`] (S3 exports), [`manifests`],
//! [`retention`] (grandfather-father-son, deletion only with proof), [`settle`] (deletion intents and the manifests that record deletions), [`proof`] (which DR-region
//! snapshot is Lifeboat's copy of which snapshot, which export is whose).

mod copies;
mod coverage;
mod creates;
#[cfg(test)]
mod dr_proof_tests;
mod exports;
mod fingerprints;
mod manifests;
mod proof;
#[cfg(test)]
mod proof_tests;
mod retention;
mod settle;
#[cfg(test)]
mod target_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use lifeboat_shared::backup::{
    backup_prefix, export_task_id, manifest_key, period_start, snapshot_id, Manifest, ManifestCopy,
    ManifestExport, ManifestSnapshot, ManifestSource, Snapshot, MANIFEST_SCHEMA, TAG_COMPONENT,
    TAG_MANAGED, TAG_MANIFEST, TAG_PERIOD, TAG_RUN, TAG_SOURCE,
};
use lifeboat_shared::policy::{Policy, ResourceKind, Retention, Settings};
use lifeboat_shared::report::{Action, Decision, Finding, Outcome, Severity, Verdict};
use serde::{Deserialize, Serialize};

pub use crate::inventory::{ExportTask, Inventory, Quota, Read, ReadError, Source};
use copies::*;
use coverage::*;
use creates::*;
use exports::*;
pub use fingerprints::{
    fingerprints_due, missing_reason, within_window, Due, Fingerprints, FINGERPRINTS_OFF,
    FINGERPRINTS_VAR, FINGERPRINT_WINDOW_MINUTES,
};
pub use manifests::{manifest_for, manifests, unreadable_for};
use proof::*;
pub use retention::gfs_keep;
use retention::*;
pub use settle::{intent_key, settled_manifest, settlement, Intent, Settlement, INTENTS};

/// The status in which RDS, Aurora and ElastiCache accept a snapshot request (a stopped,
/// modifying or backing-up resource is refused with an invalid-state error).
const SNAPSHOTTABLE: [&str; 1] = ["available"];

/// Where the run works: regions and what a manual command narrowed it to.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub primary_region: String,
    pub dr_region: Option<String>,
    /// Component names or resource ids; empty means everything.
    pub only: Vec<String>,
    /// The time that decides the snapshot period (the schedule's time for scheduled runs).
    pub period_time: DateTime<Utc>,
    pub run_id: String,
}

impl Scope {
    fn includes(&self, component: &str, source_id: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == component || o == source_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Where {
    Primary,
    Dr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    CreateSnapshot {
        kind: ResourceKind,
        source_id: String,
        snapshot_id: String,
        tags: BTreeMap<String, String>,
    },
    CopyToDr {
        snapshot: Snapshot,
        target_id: String,
        kms_key_id: Option<String>,
    },
    StartExport {
        snapshot: Snapshot,
        task_id: String,
        bucket: String,
        prefix: String,
        iam_role_arn: String,
        kms_key_id: String,
    },
    ExportToBucket {
        snapshot: Snapshot,
        target_name: String,
        bucket: String,
    },
    WriteManifest {
        snapshot: Snapshot,
        key: String,
        manifest: Box<Manifest>,
        /// The manifest records every location in its final state: tag the snapshot so later
        /// runs skip it.
        settled: bool,
        /// The component has database access: keep the fingerprint an earlier write recorded.
        carry_fingerprint: bool,
    },
    DeleteSnapshot {
        snapshot: Snapshot,
        place: Where,
    },
}

/// A step with the report line that explains it. `blocked` steps are not executed: they are
/// reported as failed with the reason (a configuration problem), `deferred` ones wait for a
/// later run.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub step: Step,
    pub action: Action,
    pub blocked: Option<String>,
    pub deferred: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub steps: Vec<Planned>,
    /// Creates found already done: reported, nothing to execute.
    pub already: Vec<Action>,
    pub decisions: Vec<Decision>,
    pub findings: Vec<Finding>,
}

impl Plan {
    pub fn count(&self, f: impl Fn(&Step) -> bool) -> usize {
        self.steps
            .iter()
            .filter(|p| !p.deferred && p.blocked.is_none() && f(&p.step))
            .count()
    }
}

const MAX_EXPORT_ATTEMPTS: usize = 3;

/// The whole plan for one pass.
pub fn plan(policy: &Policy, inv: &Inventory, scope: &Scope, now: DateTime<Utc>) -> Plan {
    let mut out = Plan::default();
    for e in &inv.read_errors {
        out.findings.push(Finding {
            severity: Severity::Warning,
            resource: None,
            message: format!("could not read {}: {}", e.what.label(), e.error),
        });
    }
    let sources: Vec<&Source> = inv
        .sources
        .iter()
        .filter(|s| scope.includes(&s.component, &s.id))
        .collect();
    for o in &scope.only {
        let known = inv.sources.iter().any(|s| &s.component == o || &s.id == o)
            || inv.snapshots.iter().any(|s| {
                s.managed() && (&s.source_id == o || s.tags.get(TAG_COMPONENT) == Some(o))
            });
        if !known {
            out.findings.push(Finding {
                severity: Severity::Warning,
                resource: Some(o.clone()),
                message: "named in `only` but no selected resource or Lifeboat snapshot matches it"
                    .into(),
            });
        }
    }

    plan_coverage(policy, inv, scope, &mut out);
    plan_creates(policy, inv, scope, &sources, &mut out);

    // Lifeboat's snapshots in scope, with the settings of their component.
    let settings_of = |snap: &Snapshot| component_of(policy, inv, snap);
    let ours: Vec<&Snapshot> = inv
        .snapshots
        .iter()
        .filter(|s| s.managed())
        .filter(|s| {
            let (comp, _) = settings_of(s);
            scope.includes(&comp, &s.source_id)
        })
        .collect();
    let dr = DrView::new(inv);
    let expired = outside_retention(&ours, &settings_of, now);

    plan_copies(
        policy,
        inv,
        scope,
        &ours,
        &dr,
        &expired,
        &settings_of,
        &mut out,
    );
    plan_exports(policy, inv, &ours, &settings_of, &mut out);
    plan_retention(policy, inv, scope, &ours, &dr, &settings_of, now, &mut out);
    plan_target(policy, inv, &mut out);
    out
}

/// The backup target in the report, when the policy has a target parameter: where backups go,
/// a warning while that is the secondary (failover), and, when it is unknown, a critical line
/// and every write to a bucket blocked with the reason — retention's deletions too, whose
/// intent must be recorded first. Snapshots and DR copies go on: they write to no bucket.
fn plan_target(policy: &Policy, inv: &Inventory, out: &mut Plan) {
    use crate::inventory::Destination;
    let Some(parameter) = policy.buckets.target_parameter.as_deref() else {
        return;
    };
    let (severity, message) = match &inv.target {
        Destination::Primary => (
            Severity::Info,
            format!(
                "backups go to the primary bucket {}: the backup target parameter {parameter} names it",
                policy.buckets.backup
            ),
        ),
        Destination::Secondary {
            bucket, parameter, ..
        } => (
            Severity::Warning,
            format!(
                "backups go to the secondary bucket {bucket}: the backup target parameter {parameter} points there (failover); failback switches it back"
            ),
        ),
        Destination::Unknown(why) => {
            for p in &mut out.steps {
                let writes = matches!(
                    p.step,
                    Step::StartExport { .. }
                        | Step::ExportToBucket { .. }
                        | Step::DeleteSnapshot { .. }
                        | Step::WriteManifest { .. }
                );
                if writes && p.blocked.is_none() {
                    p.blocked = Some(format!("no backup is written to any bucket: {why}"));
                    p.deferred = false;
                }
            }
            (
                Severity::Critical,
                format!("no export, manifest or deletion this run: {why}"),
            )
        }
    };
    out.findings.push(Finding {
        severity,
        resource: Some(parameter.to_string()),
        message,
    });
}

/// The component of a snapshot and its settings: its source's when the source is selected,
/// else those of the component named in its tag.
fn component_of(policy: &Policy, inv: &Inventory, snap: &Snapshot) -> (String, Settings) {
    match inv
        .sources
        .iter()
        .find(|s| s.id == snap.source_id && s.kind == snap.kind)
    {
        Some(src) => (src.component.clone(), src.settings.clone()),
        None => {
            let comp = snap
                .tags
                .get(TAG_COMPONENT)
                .cloned()
                .unwrap_or_else(|| snap.source_id.clone());
            let settings = policy.settings_by_name(&comp).for_kind(snap.kind);
            (comp, settings)
        }
    }
}
