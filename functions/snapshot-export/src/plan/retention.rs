//! Retention: grandfather-father-son tiers, and deletion only with proof of a safe copy.

use super::*;

/// Which snapshots grandfather-father-son retention keeps, with the rule that keeps each.
/// `times` are (id, time); the newest snapshot in each of the last N hours/days/ISO weeks/months
/// (counting from `now`'s) is kept.
pub fn gfs_keep(
    times: &[(String, DateTime<Utc>)],
    r: Retention,
    now: DateTime<Utc>,
) -> BTreeMap<String, String> {
    let mut sorted: Vec<&(String, DateTime<Utc>)> = times.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keep: BTreeMap<String, String> = BTreeMap::new();
    // Contiguous bucket numbers, so "the last N" is a range back from now's bucket.
    type Bucket = fn(DateTime<Utc>) -> i64;
    let rules: [(&str, u32, Bucket); 4] = [
        ("hourly", r.hourly, |t| t.timestamp().div_euclid(3600)),
        ("daily", r.daily, |t| t.timestamp().div_euclid(86_400)),
        // ISO weeks start on Monday; the Unix epoch was a Thursday.
        ("weekly", r.weekly, |t| {
            (t.timestamp().div_euclid(86_400) + 3).div_euclid(7)
        }),
        ("monthly", r.monthly, |t| {
            t.year() as i64 * 12 + t.month0() as i64
        }),
    ];
    for (name, count, bucket) in rules {
        let now_bucket = bucket(now);
        let oldest = now_bucket - count as i64;
        let mut seen = BTreeSet::new();
        for (id, t) in &sorted {
            let b = bucket(*t);
            if b > oldest && b <= now_bucket && seen.insert(b) {
                keep.entry(id.clone())
                    .or_insert_with(|| format!("newest {name} backup of {}", label(name, *t)));
            }
        }
    }
    keep
}

pub(super) fn label(rule: &str, t: DateTime<Utc>) -> String {
    match rule {
        "hourly" => t.format("%Y-%m-%d %H:00").to_string(),
        "daily" => t.format("%Y-%m-%d").to_string(),
        "weekly" => {
            let w = t.iso_week();
            format!("week {}-W{:02}", w.year(), w.week())
        }
        _ => t.format("%Y-%m").to_string(),
    }
}

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

#[allow(clippy::too_many_arguments)]
pub(super) fn plan_retention(
    policy: &Policy,
    inv: &Inventory,
    scope: &Scope,
    ours: &[&Snapshot],
    dr_by_id: &BTreeMap<&str, &Snapshot>,
    settings_of: &dyn Fn(&Snapshot) -> (String, Settings),
    now: DateTime<Utc>,
    out: &mut Plan,
) {
    // Snapshots Lifeboat did not make are never touched; say so once per snapshot.
    for s in inv.snapshots.iter().filter(|s| !s.managed()) {
        let in_scope = inv.sources.iter().any(|src| {
            src.id == s.source_id && src.kind == s.kind && scope.includes(&src.component, &src.id)
        });
        if in_scope {
            out.decisions.push(Decision {
                subject: s.id.clone(),
                verdict: Verdict::Keep,
                reason: if s.manual {
                    "never deleted: a manual snapshot Lifeboat did not make".into()
                } else {
                    "never deleted: an automated snapshot (AWS manages it)".into()
                },
            });
        }
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

    let mut groups: BTreeMap<(ResourceKind, &str), Vec<&Snapshot>> = BTreeMap::new();
    for s in ours {
        groups
            .entry((s.kind, s.source_id.as_str()))
            .or_default()
            .push(s);
    }
    for ((kind, source), snaps) in groups {
        let settings = settings_of(snaps[0]).1;
        let times: Vec<(String, DateTime<Utc>)> = snaps
            .iter()
            .filter(|s| s.available())
            .filter_map(|s| s.time().map(|t| (s.id.clone(), t)))
            .collect();
        let keep = gfs_keep(&times, settings.retention, now);
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
            let mut missing = Vec::new();
            let mut proof = Vec::new();
            if settings.require_dr_copy && kind != ResourceKind::Elasticache {
                match dr_by_id.get(s.id.as_str()) {
                    Some(c) if c.available() => {
                        proof.push(format!("DR copy available in {}", c.region))
                    }
                    Some(c) => missing.push(format!("its DR copy is {}", c.status)),
                    None => missing.push("it has no DR copy".to_string()),
                }
            }
            if settings.require_export {
                let done = match kind {
                    ResourceKind::Elasticache => elasticache_exported(inv, &s.id),
                    _ => inv
                        .exports
                        .iter()
                        .any(|e| e.source_arn == s.arn && e.status == "COMPLETE"),
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
            if !missing.is_empty() {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    format!(
                        "outside retention ({rule}, {age} days old) but {}: kept until proven safe",
                        missing.join(" and ")
                    ),
                ));
                continue;
            }
            if !policy.automation.delete_expired_snapshots {
                out.decisions.push(verdict(Verdict::Keep, format!("outside retention ({rule}, {age} days old); deletion is off (automation.delete_expired_snapshots)")));
                continue;
            }
            let reason = format!(
                "outside retention ({rule}, {age} days old); {}",
                if proof.is_empty() {
                    "no copy is required by policy; a newer backup exists".to_string()
                } else {
                    format!("{}; a newer backup exists", proof.join(", "))
                }
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

    // DR copies: the same retention; never the newest DR copy of a source.
    let mut dr_groups: BTreeMap<(ResourceKind, &str), Vec<&Snapshot>> = BTreeMap::new();
    for s in inv.dr_snapshots.iter().filter(|s| s.managed()) {
        let (comp, _) = settings_of(s);
        if scope.includes(&comp, &s.source_id) {
            dr_groups
                .entry((s.kind, s.source_id.as_str()))
                .or_default()
                .push(s);
        }
    }
    for ((_, source), snaps) in dr_groups {
        let settings = settings_of(snaps[0]).1;
        let rule = retention_text(settings.retention);
        let times: Vec<(String, DateTime<Utc>)> = snaps
            .iter()
            .filter(|s| s.available())
            .filter_map(|s| s.time().map(|t| (s.id.clone(), t)))
            .collect();
        let keep = gfs_keep(&times, settings.retention, now);
        let newest_dr = times
            .iter()
            .max_by_key(|(_, t)| *t)
            .map(|(id, _)| id.clone());
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
            } else if newest_dr.as_deref() == Some(s.id.as_str()) {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    format!("outside retention but the newest DR copy of {source}"),
                ));
            } else if !policy.automation.delete_expired_snapshots {
                out.decisions.push(verdict(
                    Verdict::Keep,
                    "outside retention; deletion is off (automation.delete_expired_snapshots)"
                        .into(),
                ));
            } else {
                let reason = format!(
                    "DR copy outside retention ({rule}, {} days old); a newer DR copy exists",
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
