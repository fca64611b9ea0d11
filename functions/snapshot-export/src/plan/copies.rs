//! DR copies: at most `limits.copies_in_flight` per destination region. A DR copy serves
//! recovery inside retention: a snapshot that retention lets go is never copied (where the
//! policy requires a DR copy, retention then keeps it: see `retention`).

use super::*;

#[allow(clippy::too_many_arguments)]
pub(super) fn plan_copies(
    policy: &Policy,
    inv: &Inventory,
    scope: &Scope,
    ours: &[&Snapshot],
    dr: &DrView,
    expired: &BTreeSet<(ResourceKind, String)>,
    settings_of: &dyn Fn(&Snapshot) -> (String, Settings),
    out: &mut Plan,
) {
    let Some(dr_region) = scope.dr_region.as_deref() else {
        return;
    };
    let in_flight = inv
        .dr_snapshots
        .iter()
        .filter(|s| !s.available() && s.status != "failed")
        .count() as i64;
    let mut slots = policy.limits.max_copies_in_flight as i64 - in_flight;
    let mut started = 0;
    let mut wanted: Vec<&Snapshot> = ours
        .iter()
        .copied()
        .filter(|s| s.kind != ResourceKind::Elasticache && settings_of(s).1.copy_to_dr)
        .filter(|s| !expired.contains(&(s.kind, s.id.clone())))
        .filter(|s| match dr.of(s) {
            DrState::Missing | DrState::Unknown => true,
            DrState::Copy(c) if c.status == "failed" => {
                // Its own copy (proven by identity), failed: the name is taken, so no run copies
                // it again until a person removes the failed copy. Said, never silent.
                let (what, delete) = match s.kind {
                    ResourceKind::AuroraCluster => (
                        "delete-db-cluster-snapshot --db-cluster-snapshot-identifier",
                        "cluster snapshot",
                    ),
                    _ => ("delete-db-snapshot --db-snapshot-identifier", "snapshot"),
                };
                out.findings.push(Finding {
                    severity: Severity::Warning,
                    resource: Some(format!("{dr_region}/{}", s.id)),
                    message: format!(
                        "the DR copy of {} in {dr_region} failed, and no copy is made again under the name it holds: delete the failed {delete} (aws rds {what} {} --region {dr_region}) and the next run copies it again",
                        s.id, s.id
                    ),
                });
                false
            }
            DrState::Copy(_) => false,
            DrState::LookAlike(other) => {
                // The name is taken: a copy under it would be refused (or, worse, counted as
                // done), and the snapshot holding it is not ours to remove.
                out.findings.push(Finding {
                    severity: Severity::Warning,
                    resource: Some(format!("{dr_region}/{}", s.id)),
                    message: format!(
                        "no DR copy can be made: {dr_region} already has a snapshot named {} that is not Lifeboat's copy of it ({})",
                        s.id,
                        copy_of(other, s).err().unwrap_or_default()
                    ),
                });
                false
            }
        })
        .collect();
    // Newest first: the newest backup matters most for the DR region's recovery point.
    wanted.sort_by(|a, b| b.time().cmp(&a.time()).then(a.id.cmp(&b.id)));
    for snap in wanted {
        let mut action = Action::new(
            "copy-to-dr",
            &snap.id,
            format!("no copy in {dr_region} yet"),
        )
        .target(format!("{dr_region}/{}", snap.id));
        let kms = if snap.encrypted {
            policy.dr.as_ref().and_then(|d| d.kms_key_id.clone())
        } else {
            None
        };
        let mut blocked = None;
        let mut deferred = false;
        if snap.encrypted && kms.is_none() {
            blocked = Some(
                "the snapshot is encrypted and the policy has no dr.kms_key_id for the DR region"
                    .to_string(),
            );
        } else if !snap.available() {
            deferred = true;
            action.reason = format!("snapshot is {}; it is copied once available", snap.status);
        } else if slots <= 0 {
            deferred = true;
            action.reason = format!(
                "{in_flight} cross-region copies to {dr_region} were in flight and this run starts {} more (limit {}); waits for a later run",
                started,
                policy.limits.max_copies_in_flight
            );
        } else {
            slots -= 1;
            started += 1;
        }
        out.steps.push(Planned {
            step: Step::CopyToDr {
                snapshot: snap.clone(),
                target_id: snap.id.clone(),
                kms_key_id: kms,
            },
            action,
            blocked,
            deferred,
        });
    }
}
