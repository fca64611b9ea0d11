//! Backups: the newest restorable point against the RPO, the DR copy, the restore window,
//! verified backups.

use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::backup::{Snapshot, PREFIX};
use lifeboat_shared::policy::{ArtifactSet, Policy, ResourceKind, Retention, Span};

use crate::checks::{backup_age, human, Check, State};
use crate::inventory::{ArtifactObs, Observations, SourceObs};

use super::Evaluation;

/// The newest restorable backup of a source: a snapshot of any kind, the point-in-time
/// recovery limit, an AWS Backup recovery point.
pub(super) fn newest_backup(s: &SourceObs) -> (Option<(DateTime<Utc>, String)>, Vec<String>) {
    let mut candidates: Vec<(DateTime<Utc>, String)> = Vec::new();
    let mut unread = Vec::new();
    match &s.snapshots {
        Ok(list) => {
            if let Some(n) = list
                .iter()
                .filter(|x| x.available())
                .filter_map(|x| x.created_at.map(|t| (t, x)))
                .max_by_key(|(t, _)| *t)
            {
                candidates.push((n.0, format!("snapshot {}", n.1.id)));
            }
        }
        Err(e) => unread.push(format!("snapshots could not be read ({e})")),
    }
    if let Some(t) = s.latest_restorable {
        candidates.push((t, "point-in-time recovery".into()));
    }
    match &s.recovery_point {
        Ok(Some(t)) => candidates.push((*t, "AWS Backup recovery point".into())),
        Ok(None) => {}
        Err(e) => unread.push(format!(
            "AWS Backup recovery points could not be read ({e})"
        )),
    }
    (candidates.into_iter().max_by_key(|(t, _)| *t), unread)
}

/// How far back retention promises to reach: the longest tier, less one of its periods.
pub fn promised_window(r: &Retention) -> Duration {
    [
        Duration::hours(r.hourly.saturating_sub(1) as i64),
        Duration::days(r.daily.saturating_sub(1) as i64),
        Duration::weeks(r.weekly.saturating_sub(1) as i64),
        Duration::days(30 * r.monthly.saturating_sub(1) as i64),
    ]
    .into_iter()
    .max()
    .unwrap_or_default()
}

pub(super) fn source_checks(
    policy: &Policy,
    s: &SourceObs,
    several: bool,
    now: DateTime<Utc>,
    ev: &mut Evaluation,
) {
    let settings = policy.settings_by_name(&s.component);
    let rpo: Span = policy
        .components
        .iter()
        .find(|c| c.name == s.component)
        .and_then(|c| c.rpo)
        .unwrap_or(settings.rpo);
    let subject = if several
        || policy
            .components
            .iter()
            .any(|c| c.name == s.component && c.ids.len() > 1)
    {
        format!("{} {}", s.component, s.id)
    } else {
        s.component.clone()
    };
    let (newest, unread) = newest_backup(s);
    let mut c = match (&newest, unread.is_empty()) {
        (None, false) => Check::new(
            "backup-age",
            &subject,
            "backup age",
            State::NoData,
            unread.join("; "),
        ),
        _ => backup_age(
            &subject,
            newest.as_ref().map(|(t, w)| (now - *t, w.clone())),
            rpo,
        ),
    };
    if c.state == State::Critical && !unread.is_empty() {
        c.detail.push_str(&format!(" ({})", unread.join("; ")));
    }
    if let Some((t, _)) = &newest {
        ev.measure(
            "BackupAgeSeconds",
            (now - *t).num_seconds() as f64,
            "Seconds",
            ("Component", &subject),
        );
    }
    ev.measure(
        "RpoSeconds",
        rpo.0.num_seconds() as f64,
        "Seconds",
        ("Component", &subject),
    );
    ev.checks.push(c);
    // The DR region: the newest DR copy — the RPO after losing the primary region.
    if let (Some(dr), true) = (
        &s.dr_snapshots,
        settings.copy_to_dr && s.kind != ResourceKind::Elasticache,
    ) {
        let limit = Span(settings.frequency.0 * 2).max(rpo);
        ev.checks
            .push(dr_copy_check(&subject, dr, settings.frequency, limit, now));
    }
    // The restore window: the oldest retained Lifeboat backup against what retention promises.
    if let Ok(list) = &s.snapshots {
        let promise = promised_window(&settings.retention);
        ev.checks.extend(restore_window_check(
            &subject,
            list,
            promise,
            s.created_at,
            now,
        ));
    }
}

/// The newest DR copy in the DR region (a Lifeboat snapshot, available), dated by the backup it
/// copies, against `limit`.
fn dr_copy_check(
    subject: &str,
    dr: &Result<Vec<Snapshot>, String>,
    frequency: Span,
    limit: Span,
    now: DateTime<Utc>,
) -> Check {
    let check = |state, detail| Check::new("dr-copy-age", subject, "DR copy age", state, detail);
    let list = match dr {
        Err(e) => {
            return check(
                State::NoData,
                format!("DR-region snapshots could not be read ({e})"),
            )
        }
        Ok(list) => list,
    };
    let newest = list
        .iter()
        .filter(|x| x.available() && x.id.starts_with(PREFIX))
        .filter_map(|x| x.time())
        .max();
    match newest {
        None => check(State::Critical, "no DR copy in the DR region".into()),
        Some(t) => {
            let age = now - t;
            check(
                if age > limit.0 {
                    State::Critical
                } else {
                    State::Ok
                },
                format!(
                    "{} (the backup taken then; a copy is made every {}, alert above {})",
                    human(age),
                    human(frequency.0),
                    human(limit.0)
                ),
            )
            .value(age.num_seconds() as f64)
        }
    }
}

/// The oldest retained Lifeboat backup against what retention promises (a source younger than
/// the promise is still building up, not short). `None` without a Lifeboat backup.
fn restore_window_check(
    subject: &str,
    list: &[Snapshot],
    promise: Duration,
    created_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Check> {
    let oldest = list
        .iter()
        .filter(|x| x.managed() && x.available())
        .filter_map(|x| x.time())
        .min()?;
    let reach = now - oldest;
    // A source younger than the promise cannot have a longer history: retention is still
    // building up, which is not a fault.
    let possible = created_at.map(|c| now - c).unwrap_or(promise);
    let short = reach + Duration::days(1) < promise.min(possible);
    let detail = if reach + Duration::days(1) >= promise || short {
        format!(
            "the oldest retained backup is {} old; retention promises {}",
            human(reach),
            human(promise)
        )
    } else {
        format!(
            "the oldest retained backup is {} old; retention promises {}, and the source is {} old: still building up",
            human(reach),
            human(promise),
            human(possible)
        )
    };
    Some(Check::new(
        "restore-window",
        subject,
        "restore window",
        if short { State::Warning } else { State::Ok },
        detail,
    ))
}

pub(super) fn verified_checks(
    policy: &Policy,
    obs: &Observations,
    now: DateTime<Utc>,
    ev: &mut Evaluation,
) {
    let Some(verified) = &obs.verified else {
        return;
    };
    let max = policy.monitoring.verification_max_age;
    for c in policy.components.iter().filter(|c| c.verify.is_some()) {
        if !obs.sources.iter().any(|s| s.component == c.name)
            && !obs.unread_components.contains_key(&c.name)
        {
            continue; // not in this run's scope
        }
        let check =
            |state, detail| Check::new("verified-rpo", &c.name, "verified backup", state, detail);
        let c = match verified {
            Err(e) => check(
                State::NoData,
                format!("restore-verification's status could not be read ({e})"),
            ),
            Ok(map) => match map.get(&c.name) {
                None => check(
                    State::NoData,
                    "restore-verification has not verified a backup of it yet".into(),
                ),
                Some(t) => {
                    let age = now - *t;
                    ev.measure(
                        "VerifiedBackupAgeSeconds",
                        age.num_seconds() as f64,
                        "Seconds",
                        ("Component", &c.name),
                    );
                    check(
                        if age > max.0 {
                            State::Warning
                        } else {
                            State::Ok
                        },
                        format!(
                            "the newest verified backup is {} old (warning above {})",
                            human(age),
                            human(max.0)
                        ),
                    )
                    .value(age.num_seconds() as f64)
                }
            },
        };
        ev.checks.push(c);
    }
}

/// An artifact set's newest object against its RPO (overdue: a warning) and its `min_size`.
pub(super) fn artifact_check(
    a: &ArtifactSet,
    o: &ArtifactObs,
    now: DateTime<Utc>,
    ev: &mut Evaluation,
) -> Check {
    let check = |state, detail| Check::new("artifacts", &a.name, "newest object", state, detail);
    match &o.newest {
        Err(e) => check(State::NoData, format!("could not be listed ({e})")),
        Ok(None) => check(
            State::Critical,
            format!(
                "no object under s3://{}/{} (RPO {})",
                a.bucket,
                a.prefix,
                human(a.rpo().0)
            ),
        ),
        Ok(Some((key, t, size))) => {
            let age = now - *t;
            ev.measure(
                "BackupAgeSeconds",
                age.num_seconds() as f64,
                "Seconds",
                ("Component", &a.name),
            );
            ev.measure(
                "RpoSeconds",
                a.rpo().0.num_seconds() as f64,
                "Seconds",
                ("Component", &a.name),
            );
            // Overdue (the policy's `rpo` doc): later than the cadence plus half of the
            // gap to the RPO is a warning before it becomes critical.
            let overdue = a.every.0 + (a.rpo().0 - a.every.0) / 2;
            let state = if age > a.rpo().0 {
                State::Critical
            } else if age > overdue || (*size as u64) < a.min_size {
                State::Warning
            } else {
                State::Ok
            };
            let small = if (*size as u64) < a.min_size {
                format!(", {size} bytes is below the {} expected", a.min_size)
            } else {
                String::new()
            };
            check(
                state,
                format!(
                    "{} against RPO {} (written every {}): {key}{small}",
                    human(age),
                    human(a.rpo().0),
                    human(a.every.0)
                ),
            )
            .value(age.num_seconds() as f64)
        }
    }
}
