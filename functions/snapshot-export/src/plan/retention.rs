//! Retention: grandfather-father-son tiers, and deletion only with proof of a safe copy. A DR
//! copy serves recovery inside retention: a snapshot retention lets go is not copied to earn
//! proof (its export, where the policy requires one, still is), and a DR copy goes only after
//! its primary is gone, so a failed primary deletion never leaves a snapshot to copy again.
//! The policy's proof rule wins over retention: with `require_dr_copy`, a snapshot without a
//! DR copy of its own (none made, a look-alike under its name, a failed copy) is kept past
//! retention, and the run says so once, naming the policy change that would let it go.

use super::*;

pub use lifeboat_shared::backup::gfs_keep;

pub(super) fn retention_text(r: Retention) -> String {
    let mut parts = Vec::new();
    for (n, name) in [
        (r.hourly, "hourly"),
        (r.daily, "daily"),
        (r.weekly, "weekly"),
        (r.monthly, "monthly"),
    ] {
        if n > 0 {
            parts.push(format!("{name} {n}"));
        }
    }
    parts.join(", ")
}

/// Lifeboat's snapshots grouped per source, the unit retention counts over.
fn by_source<'a>(ours: &[&'a Snapshot]) -> BTreeMap<(ResourceKind, &'a str), Vec<&'a Snapshot>> {
    let mut groups: BTreeMap<(ResourceKind, &str), Vec<&Snapshot>> = BTreeMap::new();
    for s in ours {
        groups
            .entry((s.kind, s.source_id.as_str()))
            .or_default()
            .push(s);
    }
    groups
}

/// Which of one source's snapshots retention keeps, with why (see [`gfs_keep`]); only
/// available snapshots with a known time count.
fn kept(snaps: &[&Snapshot], r: Retention, now: DateTime<Utc>) -> BTreeMap<String, String> {
    let times: Vec<(String, DateTime<Utc>)> = snaps
        .iter()
        .filter(|s| s.available())
        .filter_map(|s| s.time().map(|t| (s.id.clone(), t)))
        .collect();
    gfs_keep(&times, r, now)
}

/// Lifeboat's snapshots that retention lets go: available, dated, and kept by no rule. They
/// are not copied to the DR region.
pub(super) fn outside_retention(
    ours: &[&Snapshot],
    settings_of: &dyn Fn(&Snapshot) -> (String, Settings),
    now: DateTime<Utc>,
) -> BTreeSet<(ResourceKind, String)> {
    let mut out = BTreeSet::new();
    for snaps in by_source(ours).into_values() {
        let keep = kept(&snaps, settings_of(snaps[0]).1.retention, now);
        out.extend(
            snaps
                .iter()
                .filter(|s| s.available() && s.time().is_some() && !keep.contains_key(&s.id))
                .map(|s| (s.kind, s.id.clone())),
        );
    }
    out
}

/// Why a snapshot outside retention stays: the policy's proof rule (`require_dr_copy`) wins
/// over retention, and no DR copy is made once retention lets a snapshot go.
pub(super) const KEPT_NO_COPY: &str = "kept past retention: require_dr_copy, and no DR copy exists";

/// How many snapshot ids the run's one line names per component before it counts the rest.
const NAMED_PER_COMPONENT: usize = 5;

/// The run's one line about the snapshots kept for want of a DR copy, per component, with the
/// policy change that would let them go.
fn kept_without_copy_line(kept: &BTreeMap<String, Vec<String>>) -> Option<Finding> {
    if kept.is_empty() {
        return None;
    }
    let total: usize = kept.values().map(Vec::len).sum();
    let per: Vec<String> = kept
        .iter()
        .map(|(component, ids)| {
            let mut named = ids
                .iter()
                .take(NAMED_PER_COMPONENT)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if ids.len() > NAMED_PER_COMPONENT {
                named.push_str(&format!(" and {} more", ids.len() - NAMED_PER_COMPONENT));
            }
            format!("{component}: {named}")
        })
        .collect();
    let components: Vec<&str> = kept.keys().map(String::as_str).collect();
    Some(Finding {
        severity: Severity::Info,
        resource: None,
        message: format!(
            "{KEPT_NO_COPY} for {total} {} ({}); no DR copy is made for a snapshot retention lets go, so {} until the policy changes: `require_dr_copy: false` on {} would let {} go (or delete {} by hand)",
            if total == 1 { "snapshot" } else { "snapshots" },
            per.join("; "),
            if total == 1 { "it stays" } else { "they stay" },
            components.join(", "),
            if total == 1 { "it" } else { "them" },
            if total == 1 { "it" } else { "them" },
        ),
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn plan_retention(
    policy: &Policy,
    inv: &Inventory,
    scope: &Scope,
    ours: &[&Snapshot],
    dr: &DrView,
    settings_of: &dyn Fn(&Snapshot) -> (String, Settings),
    now: DateTime<Utc>,
    out: &mut Plan,
) {
    // A source the policy selects, and whether this run covers it; for one it does not select,
    // whether this run reports it (an unnarrowed run, or `only` naming it).
    let selected = |kind: ResourceKind, source_id: &str| {
        inv.sources
            .iter()
            .find(|src| src.id == source_id && src.kind == kind)
    };
    let reported = |kind: ResourceKind, source_id: &str| match selected(kind, source_id) {
        Some(src) => scope.includes(&src.component, &src.id),
        None => scope.only.is_empty() || scope.only.iter().any(|o| o == source_id),
    };
    // Not selected, as far as can be told: a kind whose listing failed has no known sources.
    let unselected = |kind: ResourceKind, source_id: &str| {
        selected(kind, source_id).is_none() && !inv.unread_sources.contains_key(&kind)
    };

    // Snapshots Lifeboat did not make are never touched; say so once per snapshot.
    for s in inv.snapshots.iter().filter(|s| !s.managed()) {
        if !reported(s.kind, &s.source_id) {
            continue;
        }
        let what = if s.manual {
            "a manual snapshot Lifeboat did not make"
        } else {
            "an automated snapshot (AWS manages it)"
        };
        let reason = if unselected(s.kind, &s.source_id) {
            format!(
                "never deleted: {} is not selected by the policy; {what}",
                s.source_id
            )
        } else {
            format!("never deleted: {what}")
        };
        out.decisions.push(Decision {
            subject: s.id.clone(),
            verdict: Verdict::Keep,
            reason,
        });
    }

    // Newest restorable backup per source, over every snapshot (automated ones too).
    let mut newest: BTreeMap<(ResourceKind, &str), (&str, DateTime<Utc>)> = BTreeMap::new();
    for s in inv.snapshots.iter().filter(|s| s.available()) {
        if let Some(t) = s.time() {
            let e = newest
                .entry((s.kind, s.source_id.as_str()))
                .or_insert((s.id.as_str(), t));
            if t > e.1 {
                *e = (s.id.as_str(), t);
            }
        }
    }

    // Per component, the snapshots kept past retention for want of a DR copy.
    let mut kept_no_copy: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((kind, source), snaps) in by_source(ours) {
        let settings = settings_of(snaps[0]).1;
        let keep = kept(&snaps, settings.retention, now);
        let rule = retention_text(settings.retention);
        for s in snaps {
            let verdict = |v: Verdict, reason: String| Decision {
                subject: s.id.clone(),
                verdict: v,
                reason,
            };
            if !s.available() {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    format!(
                        "status {}: only available snapshots are considered",
                        s.status
                    ),
                ));
                continue;
            }
            let Some(t) = s.time() else {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    "no creation time known: age cannot be judged".into(),
                ));
                continue;
            };
            if let Some(why) = keep.get(&s.id) {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    format!("within retention ({rule}): {why}"),
                ));
                continue;
            }
            // Outside retention from here on.
            let mut missing = Vec::new();
            let mut proof = Vec::new();
            // Set when the policy requires a DR copy and none exists: the proof rule wins.
            let mut no_copy: Option<String> = None;
            if settings.require_dr_copy && kind != ResourceKind::Elasticache {
                match dr.of(s) {
                    DrState::Copy(c) if c.available() => {
                        proof.push(format!("DR copy available in {}", c.region))
                    }
                    DrState::Copy(c) if c.status == "failed" => {
                        no_copy = Some(format!("its DR copy in {} failed", c.region))
                    }
                    DrState::Copy(c) => missing.push(format!("its DR copy is {}", c.status)),
                    DrState::Unknown => missing.push(
                        "the DR region could not be read (a DR copy of it may be under way)"
                            .to_string(),
                    ),
                    // A DR copy serves recovery inside retention: none is made for this one.
                    DrState::Missing => {
                        no_copy = Some("none was made before retention let it go".to_string())
                    }
                    DrState::LookAlike(other) => {
                        no_copy = Some(format!(
                            "the {} snapshot of its name is not its copy: not proof",
                            other.region
                        ))
                    }
                }
            }
            if settings.require_export {
                let done = match kind {
                    ResourceKind::Elasticache => elasticache_exported(inv, &s.id),
                    _ => exports_of(inv, s).any(|e| e.status == "COMPLETE"),
                };
                if done {
                    proof.push("export COMPLETE".into());
                } else {
                    missing.push("its export has not completed".into());
                }
            }
            if newest.get(&(kind, source)).map(|n| n.0) == Some(s.id.as_str()) {
                missing.push(format!("it is the newest restorable backup of {source}"));
            }
            let age = (now - t).num_days();
            if let Some(why) = no_copy {
                let (component, _) = settings_of(s);
                kept_no_copy
                    .entry(component)
                    .or_default()
                    .push(s.id.clone());
                let mut reason =
                    format!("{KEPT_NO_COPY} ({why}); outside retention ({rule}, {age} days old)");
                if !missing.is_empty() {
                    reason.push_str(&format!("; also {}", missing.join(" and ")));
                }
                out.decisions.push(verdict(Verdict::Keep, reason));
                continue;
            }
            if !missing.is_empty() {
                let reason = format!(
                    "outside retention ({rule}, {age} days old) but {}: kept until proven safe",
                    missing.join(" and ")
                );
                out.decisions.push(verdict(Verdict::Keep, reason));
                continue;
            }
            if !policy.automation.delete_expired_snapshots {
                out.decisions.push(verdict(Verdict::Keep, format!("outside retention ({rule}, {age} days old); deletion is off (automation.delete_expired_snapshots)")));
                continue;
            }
            let grounds = if proof.is_empty() {
                "no copy is required by policy".to_string()
            } else {
                proof.join(", ")
            };
            let reason = format!(
                "outside retention ({rule}, {age} days old); {grounds}; a newer backup exists"
            );
            out.decisions.push(verdict(Verdict::Delete, reason.clone()));
            out.steps.push(Planned {
                action: Action::new("delete-snapshot", &s.id, reason).target(&scope.primary_region),
                step: Step::DeleteSnapshot {
                    snapshot: (*s).clone(),
                    place: Where::Primary,
                },
                blocked: None,
                deferred: false,
            });
        }
    }

    out.findings.extend(kept_without_copy_line(&kept_no_copy));

    plan_dr_retention(
        policy,
        scope,
        dr,
        inv,
        settings_of,
        &reported,
        &unselected,
        now,
        out,
    );
}

/// The DR region: Lifeboat's copies under the same retention, each only after its primary is
/// gone and never the newest DR copy of a source; every other snapshot there is kept and said
/// so, a look-alike of one of ours as no proof.
#[allow(clippy::too_many_arguments)]
fn plan_dr_retention(
    policy: &Policy,
    scope: &Scope,
    dr: &DrView,
    inv: &Inventory,
    settings_of: &dyn Fn(&Snapshot) -> (String, Settings),
    reported: &dyn Fn(ResourceKind, &str) -> bool,
    unselected: &dyn Fn(ResourceKind, &str) -> bool,
    now: DateTime<Utc>,
    out: &mut Plan,
) {
    let in_scope = |s: &Snapshot| {
        let (comp, _) = settings_of(s);
        scope.includes(&comp, &s.source_id)
    };
    let mut groups: BTreeMap<(ResourceKind, &str), Vec<&Snapshot>> = BTreeMap::new();
    for s in &inv.dr_snapshots {
        let subject = format!("{}/{}", s.region, s.id);
        let keep = |reason: String| Decision {
            subject: subject.clone(),
            verdict: Verdict::Keep,
            reason,
        };
        match dr.primary_of(s) {
            // The copy of a primary that is still there, or of one that is gone.
            Some(p) if copy_of(s, p).is_ok() => {
                if in_scope(s) {
                    groups.entry((s.kind, s.source_id.as_str())).or_default().push(s);
                }
            }
            None if s.managed() => {
                if in_scope(s) {
                    groups.entry((s.kind, s.source_id.as_str())).or_default().push(s);
                }
            }
            // Named like one of our snapshots, and not its copy.
            Some(p) if p.managed() => {
                if in_scope(p) {
                    out.decisions.push(keep(format!(
                        "not proof of a DR copy of {}: not Lifeboat's copy of it ({}); kept (never deleted: not ours)",
                        p.id,
                        copy_of(s, p).err().unwrap_or_default()
                    )));
                }
            }
            _ if !reported(s.kind, &s.source_id) => {}
            _ if s.lifeboat_named() => out.decisions.push(keep(format!(
                "named like a Lifeboat snapshot but without Lifeboat's {TAG_MANAGED} tag: not ours; never deleted"
            ))),
            _ if unselected(s.kind, &s.source_id) => out.decisions.push(keep(format!(
                "never deleted: {} is not selected by the policy; a manual snapshot Lifeboat did not make",
                s.source_id
            ))),
            _ => out.decisions.push(keep(
                "never deleted: a manual snapshot Lifeboat did not make".into(),
            )),
        }
    }

    for ((kind, source), snaps) in groups {
        let settings = settings_of(snaps[0]).1;
        let rule = retention_text(settings.retention);
        let keep = kept(&snaps, settings.retention, now);
        let newest_dr = snaps
            .iter()
            .filter(|s| s.available())
            .filter_map(|s| s.time().map(|t| (s.id.as_str(), t)))
            .max_by_key(|(_, t)| *t)
            .map(|(id, _)| id);
        for s in snaps {
            let subject = format!("{}/{}", s.region, s.id);
            let verdict = |v: Verdict, reason: String| Decision {
                subject: subject.clone(),
                verdict: v,
                reason,
            };
            if !s.available() {
                out.decisions
                    .push(verdict(Verdict::Keep, format!("DR copy is {}", s.status)));
                continue;
            }
            let Some(t) = s.time() else {
                out.decisions
                    .push(verdict(Verdict::Keep, "no creation time known".into()));
                continue;
            };
            if let Some(why) = keep.get(&s.id) {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    format!("within retention ({rule}): {why}"),
                ));
            } else if newest_dr == Some(s.id.as_str()) {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    format!("outside retention but the newest DR copy of {source}"),
                ));
            } else if let Some(p) = dr.primary_of(s) {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    format!(
                        "outside retention ({rule}) but its primary is still in {}: a DR copy goes only after its primary is gone (a later run)",
                        p.region
                    ),
                ));
            } else if dr.primaries_unread(kind) {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    format!(
                        "outside retention ({rule}) but the snapshots in {} could not be read: that its primary is gone cannot be shown",
                        scope.primary_region
                    ),
                ));
            } else if !policy.automation.delete_expired_snapshots {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    "outside retention; deletion is off (automation.delete_expired_snapshots)"
                        .into(),
                ));
            } else {
                let reason = format!(
                    "DR copy outside retention ({rule}, {} days old); its primary is gone; a newer DR copy exists",
                    (now - t).num_days()
                );
                out.decisions.push(verdict(Verdict::Delete, reason.clone()));
                out.steps.push(Planned {
                    action: Action::new("delete-dr-copy", &s.id, reason).target(&s.region),
                    step: Step::DeleteSnapshot {
                        snapshot: s.clone(),
                        place: Where::Dr,
                    },
                    blocked: None,
                    deferred: false,
                });
            }
        }
    }
}
