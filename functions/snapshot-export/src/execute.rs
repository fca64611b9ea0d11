//! Execute: one run walks its phases in order — create this period's snapshots, fingerprint the
//! sources just snapshotted, copy and export, delete what retention lets go, write manifests.
//! Phases are data: each names the steps it performs and whether the inventory must be read
//! again (and the plan made again) before it, because an earlier phase changed AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use lifeboat_shared::data::DataFingerprint;
use lifeboat_shared::report::{Action, Outcome, Report};
use lifeboat_shared::run::Invocation;

use crate::plan::{self, Inventory, Plan, Planned, Scope, Step};
use crate::{aws, App};

/// The passes of a run, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// This period's snapshots. Where they become available at once (small databases), the
    /// copy/export phase copies and exports them in the same run; otherwise the next run does.
    Create,
    /// Row counts and checksums of each source just snapshotted, for restore-verification.
    Fingerprint,
    CopyAndExport,
    /// Deletions come before manifests, so a snapshot deleted now gets one manifest saying so
    /// instead of a progress update just before it goes.
    Delete,
    /// Manifests record the state after this run's copies, exports and deletions.
    Manifest,
}

pub const PHASES: [Phase; 5] = [
    Phase::Create,
    Phase::Fingerprint,
    Phase::CopyAndExport,
    Phase::Delete,
    Phase::Manifest,
];

/// The order of the actions in the report.
const REPORT_ORDER: [Phase; 5] = [
    Phase::Create,
    Phase::Fingerprint,
    Phase::CopyAndExport,
    Phase::Manifest,
    Phase::Delete,
];

/// What to read again before a phase when an earlier phase changed AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    Nothing,
    Inventory,
    InventoryAndPlan,
}

impl Phase {
    /// The phase that performs a planned step.
    pub fn of(step: &Step) -> Phase {
        match step {
            Step::CreateSnapshot { .. } => Phase::Create,
            Step::CopyToDr { .. } | Step::StartExport { .. } | Step::ExportToBucket { .. } => {
                Phase::CopyAndExport
            }
            Step::DeleteSnapshot { .. } => Phase::Delete,
            Step::WriteManifest { .. } => Phase::Manifest,
        }
    }

    pub fn refresh_before(self) -> Refresh {
        match self {
            Phase::CopyAndExport => Refresh::InventoryAndPlan,
            Phase::Delete => Refresh::Inventory,
            Phase::Create | Phase::Fingerprint | Phase::Manifest => Refresh::Nothing,
        }
    }
}

/// The state a run carries from phase to phase.
struct Walk {
    inv: Inventory,
    plan: Plan,
    /// An earlier phase changed AWS since the inventory was read.
    changed: bool,
    inventory_passes: u32,
    /// (source id, snapshot id) of the snapshots this run requested.
    created: Vec<(String, String)>,
    fingerprints: BTreeMap<String, DataFingerprint>,
    /// Snapshots deleted (or, in a dry run, to be deleted) this run.
    deleted: BTreeSet<String>,
    actions: BTreeMap<Phase, Vec<Action>>,
}

/// Walks the phases. Every step's failure is recorded in its action: the walk itself cannot
/// fail, and every step ends in the report.
pub async fn work(app: &App, scope: &Scope, inv: &Invocation, report: &mut Report) {
    let c = &app.clients;
    let policy = &app.policy;
    let bucket = policy.buckets.backup.as_str();
    let n = policy.limits.max_concurrent_calls as usize;
    let (dry_run, now, stop_at) = (inv.dry_run, inv.now, inv.stop_at);
    let started = Instant::now();
    let first = aws::inventory(c, policy).await;
    let plan = plan::plan(policy, &first, scope, now);
    let mut w = Walk {
        inv: first,
        actions: [(Phase::Create, plan.already.clone())].into_iter().collect(),
        plan,
        changed: false,
        inventory_passes: 1,
        created: Vec::new(),
        fingerprints: BTreeMap::new(),
        deleted: BTreeSet::new(),
    };
    for phase in PHASES {
        let refresh = phase.refresh_before();
        if w.changed && !dry_run && refresh != Refresh::Nothing {
            w.inv = aws::refresh(c, policy, Some(&w.inv)).await;
            w.inventory_passes += 1;
            w.changed = false;
            if refresh == Refresh::InventoryAndPlan {
                w.plan = plan::plan(policy, &w.inv, scope, now);
            }
        }
        let done = match phase {
            Phase::Fingerprint if dry_run => Vec::new(),
            Phase::Fingerprint => {
                let (fps, actions) = aws::fingerprints(
                    c,
                    policy,
                    &app.env.local_endpoints,
                    &w.inv,
                    &w.created,
                    now,
                )
                .await;
                w.fingerprints = fps;
                actions
            }
            Phase::Manifest => {
                let mut manifests = plan::manifests(policy, &w.inv, scope, now, &w.deleted);
                for m in &mut manifests {
                    if let Step::WriteManifest {
                        snapshot, manifest, ..
                    } = &mut m.step
                    {
                        if let Some(fp) = w.fingerprints.get(&snapshot.id) {
                            manifest.fingerprint = Some(fp.clone());
                        }
                    }
                }
                aws::execute(c, bucket, manifests, dry_run, n, stop_at).await
            }
            Phase::Create | Phase::CopyAndExport | Phase::Delete => {
                let steps: Vec<Planned> = w
                    .plan
                    .steps
                    .iter()
                    .filter(|p| Phase::of(&p.step) == phase)
                    .cloned()
                    .collect();
                let attempted = steps.iter().any(|p| !p.deferred && p.blocked.is_none());
                let actions = aws::execute(c, bucket, steps.clone(), dry_run, n, stop_at).await;
                // `execute` answers in the order of the steps.
                for (p, a) in steps.iter().zip(&actions) {
                    match (&p.step, a.outcome) {
                        (
                            Step::CreateSnapshot {
                                source_id,
                                snapshot_id,
                                ..
                            },
                            Outcome::Done,
                        ) => w.created.push((source_id.clone(), snapshot_id.clone())),
                        (
                            Step::DeleteSnapshot { snapshot, .. },
                            Outcome::Done | Outcome::AlreadyDone | Outcome::Planned,
                        ) => {
                            w.deleted.insert(snapshot.id.clone());
                        }
                        _ => {}
                    }
                }
                w.changed = match phase {
                    Phase::Create => attempted,
                    _ => actions.iter().any(|a| a.outcome == Outcome::Done),
                };
                actions
            }
        };
        w.actions.entry(phase).or_default().extend(done);
    }
    for phase in REPORT_ORDER {
        report
            .actions
            .extend(w.actions.remove(&phase).unwrap_or_default());
    }
    report.decisions = w.plan.decisions;
    report.findings.extend(w.plan.findings);
    report.measure("InventoryPasses", w.inventory_passes as f64, "Count");
    report.measure("Sources", w.inv.sources.len() as f64, "Count");
    report.measure(
        "SnapshotsSeen",
        (w.inv.snapshots.len() + w.inv.dr_snapshots.len()) as f64,
        "Count",
    );
    report.measure("WorkSeconds", started.elapsed().as_secs_f64(), "Seconds");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_after_a_change_reads_what_it_needs_again() {
        assert_eq!(PHASES[0], Phase::Create, "creates come first");
        assert_eq!(
            Phase::CopyAndExport.refresh_before(),
            Refresh::InventoryAndPlan,
            "copies are planned from the snapshots just created"
        );
        assert_eq!(Phase::Delete.refresh_before(), Refresh::Inventory);
        assert!(
            PHASES.iter().position(|p| *p == Phase::Delete)
                < PHASES.iter().position(|p| *p == Phase::Manifest),
            "a snapshot deleted now gets one manifest saying so"
        );
    }
}
