//! The report of a finished restore run (pure): PASS/FAIL per restore with the failing checks
//! first, restore time against the RTO, the verified RPO per component, janitor removals.

use chrono::{DateTime, Utc};
use lifeboat_shared::data::Verdict as CheckVerdict;
use lifeboat_shared::report::{Action, Decision, Measurement, Outcome, Report, Severity, Verdict};
use serde_json::{json, Value};

use super::plan::{Job, Run, Status as RunStatus};
use super::Context;

fn minutes(secs: f64) -> String {
    if secs < 120.0 {
        format!("{secs:.1} s")
    } else {
        format!("{:.1} min", secs / 60.0)
    }
}

/// The report of a finished run.
pub fn build_report(cx: &Context<'_>, run: &Run, status: &RunStatus, now: DateTime<Utc>) -> Report {
    let mut report = Report::new(
        cx.store.function,
        &run.run_id,
        cx.region,
        run.trigger.clone(),
        false,
        run.started_at,
    );
    let (mut passed, mut failed, mut unverified) = (0, 0, 0);
    let mut jobs: Vec<&Job> = run.state.jobs.iter().collect();
    // Failures first, then what could not be verified, then passes.
    jobs.sort_by_key(|j| (j.passed == Some(true), j.inconclusive.is_none()));
    for j in jobs {
        let settings = cx.policy.settings_by_name(&j.component);
        let ok = j.passed == Some(true);
        let verdict = match (&j.inconclusive, ok) {
            (Some(_), _) => Verdict::Inconclusive,
            (None, ok) => Verdict::pass_fail(ok),
        };
        match verdict {
            Verdict::Pass => passed += 1,
            Verdict::Inconclusive => unverified += 1,
            _ => failed += 1,
        }
        let failing = lifeboat_shared::data::failing(&j.checks);
        let restore = j.restore_seconds();
        let rto = settings.rto.0.num_seconds() as f64;
        let timing = match restore {
            Some(s) => format!(
                "restore {} against RTO {} ({})",
                minutes(s),
                settings.rto,
                if s <= rto { "within" } else { "OVER" }
            ),
            None => "restore time not measured (never available)".into(),
        };
        let mut reason = Vec::new();
        if let Some(e) = &j.error {
            reason.push(e.clone());
        }
        if let Some(why) = &j.inconclusive {
            reason.push(format!("could not verify: {why}"));
        }
        reason.extend(failing.iter().cloned());
        reason.push(format!(
            "{} of {} checks passed",
            j.checks
                .iter()
                .filter(|c| c.verdict == CheckVerdict::Pass)
                .count(),
            j.checks.len()
        ));
        reason.push(timing);
        report.decisions.push(Decision {
            subject: format!("{}: {} -> {}", j.component, j.backup.id, j.temp_id),
            verdict,
            reason: reason.join("; "),
        });
        if let Some(why) = &j.inconclusive {
            report.finding(
                Severity::Warning,
                Some(&j.component),
                format!(
                    "backup {} could not be verified (not a failure of the backup): {why}; the component stays due and is restored again on the next run",
                    j.backup.id
                ),
            );
        } else if !ok {
            let what = j
                .error
                .clone()
                .into_iter()
                .chain(failing)
                .collect::<Vec<_>>()
                .join("; ");
            report.finding(
                Severity::Critical,
                Some(&j.component),
                format!("backup {} FAILED verification: {what}", j.backup.id),
            );
        }
        if let Some(s) = restore {
            if s > rto {
                report.finding(
                    Severity::Warning,
                    Some(&j.component),
                    format!("restore took {} (RTO {})", minutes(s), settings.rto),
                );
            }
        }
        if j.mapped {
            report.finding(
                Severity::Info,
                Some(&j.component),
                format!(
                    "checks connected through LIFEBOAT_LOCAL_ENDPOINTS (a local run), not to {}",
                    j.endpoint
                        .as_ref()
                        .map(|(h, p)| format!("{h}:{p}"))
                        .unwrap_or_default()
                ),
            );
        }
        let mut restore_action = Action::new(
            "restore",
            &j.temp_id,
            format!(
                "from {} ({} backup of {}, taken {})",
                j.backup.id,
                match j.backup.origin {
                    super::plan::Origin::Lifeboat => "Lifeboat",
                    super::plan::Origin::Snapshot => "snapshot",
                    super::plan::Origin::RecoveryPoint => "AWS Backup",
                },
                j.backup.source_id,
                j.backup.created_at.format("%Y-%m-%d %H:%M UTC")
            ),
        );
        restore_action.outcome = if j.available_at.is_some() {
            Outcome::Done
        } else {
            restore_action.error = j.error.clone();
            Outcome::Failed
        };
        report.actions.push(restore_action);
        let mut teardown = Action::new(
            "teardown",
            &j.temp_id,
            "temporary resource deleted (no final snapshot)",
        );
        teardown.outcome = if j.torn_down_at.is_some() {
            Outcome::Done
        } else {
            teardown.error = j.teardown_note.clone();
            Outcome::Failed
        };
        report.actions.push(teardown);
        let dims = |name: &str, value: f64, unit: &str| Measurement {
            name: name.into(),
            value,
            unit: unit.into(),
            dimensions: [("Component".to_string(), j.component.clone())]
                .into_iter()
                .collect(),
        };
        if let Some(s) = restore {
            report
                .measurements
                .push(dims("RestoreSeconds", s, "Seconds"));
        }
        report.measurements.push(dims(
            "VerificationPassed",
            if ok { 1.0 } else { 0.0 },
            "Count",
        ));
    }
    for (c, why) in &run.state.skipped {
        report.finding(
            Severity::Info,
            Some(c),
            format!("not restored this run: {why}"),
        );
    }
    for (id, why) in &run.state.janitor {
        let mut a = Action::new("janitor-delete", id, why.clone());
        a.outcome = Outcome::Done;
        report.actions.push(a);
    }
    for (c, e) in &run.state.unread {
        report.finding(Severity::Warning, Some(c), super::unread_finding(e));
    }
    for w in &run.state.warnings {
        report.finding(Severity::Warning, None, w.clone());
    }
    // Verified RPO: age of the newest backup that passed, per component with verify.
    let mut rpo = serde_json::Map::new();
    for c in cx.policy.components.iter().filter(|c| c.verify.is_some()) {
        let st = status.components.get(&c.name);
        let settings = cx.policy.settings_by_name(&c.name);
        match st.and_then(|s| s.verified_backup_at) {
            Some(at) => {
                let age = (now - at).num_seconds().max(0) as f64;
                report.measurements.push(Measurement {
                    name: "VerifiedRpoSeconds".into(),
                    value: age,
                    unit: "Seconds".into(),
                    dimensions: [("Component".to_string(), c.name.clone())]
                        .into_iter()
                        .collect(),
                });
                rpo.insert(
                    c.name.clone(),
                    json!({
                        "backup": st.and_then(|s| s.verified_backup.clone()),
                        "backup_time": at,
                        "age_seconds": age,
                        "rpo": settings.rpo.to_string(),
                    }),
                );
            }
            None => {
                // Info: a failure this run is already critical; a component not yet due says
                // so here without turning a passing run into a warning.
                report.finding(
                    Severity::Info,
                    Some(&c.name),
                    "no backup of this component has passed verification yet: verified RPO unknown",
                );
                rpo.insert(c.name.clone(), Value::Null);
            }
        }
    }
    let rpo_text: Vec<String> = rpo
        .iter()
        .filter_map(|(c, v)| {
            let age = v.get("age_seconds")?.as_f64()?;
            Some(format!("{c} {:.1} h", age / 3600.0))
        })
        .collect();
    report.headline = if run.state.jobs.is_empty() {
        format!("no restore due ({} skipped)", run.state.skipped.len())
    } else {
        format!(
            "restores: {passed} passed, {failed} failed{}{}",
            if unverified > 0 {
                format!(", {unverified} could not be verified")
            } else {
                String::new()
            },
            if rpo_text.is_empty() {
                String::new()
            } else {
                format!("; verified RPO {}", rpo_text.join(", "))
            }
        )
    };
    report.details = json!({
        "restores": run.state.jobs,
        "skipped": run.state.skipped,
        "janitor": run.state.janitor,
        "verified_rpo": rpo,
        "invocations": run.invocations,
    });
    report
}
