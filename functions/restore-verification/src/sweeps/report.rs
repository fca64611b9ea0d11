//! A sweep's result as the report's lines (pure): the verdict with how each match was proven,
//! the mismatched objects (repaired when armed, else deferred with the command that repairs),
//! and the metrics.

use lifeboat_shared::policy::Sweep;
use lifeboat_shared::report::{Action, Decision, Measurement, Outcome, Report, Severity, Verdict};

use super::plan::SweepReport;
use crate::command::SweepCommand;

/// Whether an armed sweep found mismatches and re-copied every one of them, each verified equal
/// to its source after the copy: the replica was damaged and is whole again.
pub fn all_repaired(r: &SweepReport) -> bool {
    !r.mismatch_details.is_empty() && r.mismatch_details.iter().all(|m| m.repaired)
}

/// `a, b, c` for the first ten keys, `and N more` after them.
fn some_keys<'a>(keys: impl ExactSizeIterator<Item = &'a str>) -> String {
    let n = keys.len();
    let mut out = keys.take(10).collect::<Vec<_>>().join(", ");
    if n > 10 {
        out.push_str(&format!(" and {} more", n - 10));
    }
    out
}

/// Adds one sweep's verdict, findings, repair actions and metrics. A sweep whose every mismatch
/// was repaired (re-copied and verified) passes, with a warning naming the repaired objects: the
/// damage was real, and it is mended. A repair that failed leaves the verdict as measured and is
/// a failed action (critical).
pub fn add(report: &mut Report, sw: &Sweep, r: &SweepReport, cmd: &SweepCommand, threshold: f64) {
    let repaired = all_repaired(r);
    let pass = r.status == "PASS" || repaired;
    let measured = format!(
        "{} of {} sampled objects differ{} ({:.3}%, threshold {}%); matches proven by size and ETag in the listings: {}, by stored checksums: {}, by hashing {} bytes: {}; {} of {} listed sampled",
        r.mismatch_details.len(), r.total_sampled, if repaired { "ed before the repair" } else { "" }, r.mismatch_rate_percent, threshold, r.compared_by_etag, r.compared_by_checksum, r.bytes_hashed, r.compared_by_hash, r.total_sampled, r.total_listed
    );
    report.decisions.push(Decision {
        subject: sw.name.clone(),
        verdict: Verdict::pass_fail(pass),
        reason: if repaired {
            format!(
                "{} mismatch{} found and repaired (re-copied from the source, verified); {measured}",
                r.mismatch_details.len(),
                if r.mismatch_details.len() == 1 { "" } else { "es" }
            )
        } else {
            measured
        },
    });
    let (fixed, open): (Vec<_>, Vec<_>) = r.mismatch_details.iter().partition(|m| m.repaired);
    if !fixed.is_empty() {
        report.finding(
            Severity::Warning,
            Some(&sw.name),
            format!(
                "{} object(s) differed from the source and were repaired (re-copied from the source, verified equal): {}",
                fixed.len(),
                some_keys(fixed.iter().map(|m| m.key.as_str()))
            ),
        );
    }
    if !open.is_empty() {
        let sev = if pass {
            Severity::Warning
        } else {
            Severity::Critical
        };
        report.finding(
            sev,
            Some(&sw.name),
            format!(
                "{} object(s) differ from the source, e.g. {}",
                open.len(),
                some_keys(open.iter().map(|m| m.key.as_str()))
            ),
        );
    }
    if !r.errors.is_empty() {
        report.finding(
            Severity::Warning,
            Some(&sw.name),
            format!(
                "{} object(s) could not be compared (not counted): {}",
                r.errors.len(),
                r.errors[0].reason
            ),
        );
    }
    for m in &r.mismatch_details {
        let mut a = Action::new(
            "repair-object",
            format!(
                "s3://{}/{}",
                sw.replica.bucket,
                super::plan::replica_key(&m.key, &sw.source.prefix, &sw.replica.prefix)
            ),
            m.reason.clone(),
        )
        .target(format!("from s3://{}/{}", sw.source.bucket, m.key));
        a.outcome = if m.repaired {
            a.reason = format!("{}; re-copied from the source, verified equal", a.reason);
            Outcome::Done
        } else if cmd.dry_run {
            Outcome::Planned
        } else if cmd.repair {
            Outcome::Failed
        } else {
            a.reason = format!(
                "{}; not armed: re-copy with {{\"action\": \"sweep\", \"repair\": true}}",
                a.reason
            );
            Outcome::Deferred
        };
        if a.outcome == Outcome::Failed {
            a.error = Some(m.reason.clone());
        }
        report.actions.push(a);
    }
    let dims = |name: &str, value: f64, unit: &str| Measurement {
        name: name.to_string(),
        value,
        unit: unit.to_string(),
        dimensions: [("Sweep".to_string(), sw.name.clone())]
            .into_iter()
            .collect(),
    };
    let per_object = if r.total_sampled > 0 {
        r.api_calls as f64 / r.total_sampled as f64
    } else {
        0.0
    };
    report.measurements.extend([
        dims("MismatchRatePercent", r.mismatch_rate_percent, "Percent"),
        dims("ObjectsSampled", r.total_sampled as f64, "Count"),
        dims(
            "ObjectsPerSecond",
            if r.seconds > 0.0 {
                r.total_sampled as f64 / r.seconds
            } else {
                0.0
            },
            "Count/Second",
        ),
        dims("BytesHashed", r.bytes_hashed as f64, "Bytes"),
        dims(
            "ApiCallsPerObject",
            (per_object * 100.0).round() / 100.0,
            "None",
        ),
    ]);
}

/// A sweep that could not run at all is a failed verification, said as such.
pub fn could_not_run(report: &mut Report, sw: &Sweep, e: &lifeboat_shared::Error) {
    report.decisions.push(Decision::new(
        sw.name.clone(),
        Verdict::Fail,
        format!("sweep could not run: {e}"),
    ));
    report.finding(
        Severity::Critical,
        Some(&sw.name),
        format!("sweep could not run: {e}"),
    );
}

/// The headline (passed sweeps, how many of them after a repair, failed sweeps) and the
/// seed-002 JSON in `details`.
pub fn headline(report: &mut Report, results: Vec<SweepReport>) {
    let passed = report.verdicts(Verdict::Pass);
    let failed = report.verdicts(Verdict::Fail);
    let repaired = match results.iter().filter(|r| all_repaired(r)).count() {
        0 => String::new(),
        n => format!(" ({n} after repair)"),
    };
    report.headline = format!("integrity sweeps: {passed} passed{repaired}, {failed} failed");
    report.details = serde_json::json!({ "sweeps": results });
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use lifeboat_shared::policy::{Location, SweepCompare};
    use lifeboat_shared::report::Status;
    use lifeboat_shared::trigger::Trigger;

    use super::*;
    use crate::sweeps::plan::Mismatch;

    fn sweep() -> Sweep {
        let at = |bucket: &str| Location {
            bucket: bucket.into(),
            prefix: "backups/".into(),
            region: None,
        };
        Sweep {
            name: "crr".into(),
            source: at("primary"),
            replica: at("replica"),
            sample_rate: 1.0,
            concurrency: 8,
            compare: SweepCompare::Listing,
        }
    }

    fn command(repair: bool) -> SweepCommand {
        SweepCommand {
            trigger: Trigger::parse(&serde_json::json!({"action": "sweep", "repair": repair}))
                .unwrap(),
            dry_run: false,
            only: Vec::new(),
            sample_rate: None,
            repair,
        }
    }

    /// 3 of 100 sampled objects differ (3%, above the 0.5% threshold): `FAIL` as measured.
    fn result(repaired: &[bool]) -> SweepReport {
        SweepReport {
            name: "crr".into(),
            status: "FAIL".into(),
            mismatch_rate_percent: 3.0,
            threshold_percent: 0.5,
            total_listed: 100,
            total_sampled: 100,
            mismatch_details: repaired
                .iter()
                .enumerate()
                .map(|(i, &repaired)| Mismatch {
                    key: format!("backups/part-{i}.json"),
                    reason: if repaired {
                        "missing in the replica".into()
                    } else {
                        "missing in the replica; re-copy failed: AccessDenied: no".into()
                    },
                    repaired,
                })
                .collect(),
            compared_by_etag: 97,
            compared_by_checksum: 0,
            compared_by_hash: 0,
            bytes_hashed: 0,
            errors: Vec::new(),
            api_calls: 5,
            seconds: 1.0,
        }
    }

    fn reported(r: SweepReport, cmd: &SweepCommand) -> Report {
        let mut report = Report::new(
            "restore-verification",
            "run-1",
            "us-east-1",
            "manual sweep".into(),
            false,
            Utc::now(),
        );
        add(&mut report, &sweep(), &r, cmd, 0.5);
        headline(&mut report, vec![r]);
        report.finish(Utc::now());
        report
    }

    #[test]
    fn an_armed_sweep_that_repaired_every_mismatch_passes_with_a_warning() {
        // Given an armed sweep whose 3 mismatches were all re-copied and verified equal
        let report = reported(result(&[true, true, true]), &command(true));
        // Then it passes, says so, and warns with the repaired objects: the damage was real
        assert_eq!(report.verdicts(Verdict::Pass), 1);
        assert_eq!(report.verdicts(Verdict::Fail), 0);
        assert!(
            report.decisions[0].reason.starts_with(
                "3 mismatches found and repaired (re-copied from the source, verified); 3 of 100 sampled objects differed before the repair"
            ),
            "{}",
            report.decisions[0].reason
        );
        assert_eq!(report.status, Status::Warning, "{}", report.render_text());
        assert_eq!(
            report.headline,
            "integrity sweeps: 1 passed (1 after repair), 0 failed"
        );
        assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
        let f = &report.findings[0];
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            f.message,
            "3 object(s) differed from the source and were repaired (re-copied from the source, verified equal): backups/part-0.json, backups/part-1.json, backups/part-2.json"
        );
        assert!(report
            .actions
            .iter()
            .all(|a| a.outcome == Outcome::Done && a.reason.ends_with("verified equal")));
    }

    #[test]
    fn a_failed_repair_stays_a_critical_failure() {
        // Given an armed sweep where one of 3 re-copies failed
        let report = reported(result(&[true, false, true]), &command(true));
        // Then the verdict is as measured (FAIL), the unrepaired object is critical, the two
        // repaired ones a warning, and the failed copy a failed action
        assert_eq!(report.verdicts(Verdict::Fail), 1);
        assert_eq!(report.status, Status::Critical, "{}", report.render_text());
        assert_eq!(report.headline, "integrity sweeps: 0 passed, 1 failed");
        assert!(report
            .findings
            .iter()
            .any(|f| f.severity == Severity::Critical
                && f.message == "1 object(s) differ from the source, e.g. backups/part-1.json"));
        assert!(report
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning
                && f.message.starts_with("2 object(s) differed")));
        assert_eq!(
            report
                .actions
                .iter()
                .filter(|a| a.outcome == Outcome::Failed)
                .count(),
            1
        );
    }

    #[test]
    fn an_unarmed_sweep_with_mismatches_fails_and_defers_the_repair() {
        let report = reported(result(&[false, false, false]), &command(false));
        assert_eq!(report.verdicts(Verdict::Fail), 1);
        assert_eq!(report.status, Status::Critical);
        assert_eq!(report.headline, "integrity sweeps: 0 passed, 1 failed");
        assert!(report
            .actions
            .iter()
            .all(|a| a.outcome == Outcome::Deferred && a.reason.contains("not armed")));
    }
}
