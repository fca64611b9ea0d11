//! A sweep's result as the report's lines (pure): the verdict with how each match was proven,
//! the mismatched objects (repaired when armed, else deferred with the command that repairs),
//! and the metrics.

use lifeboat_shared::policy::Sweep;
use lifeboat_shared::report::{Action, Decision, Measurement, Outcome, Report, Severity, Verdict};

use super::plan::SweepReport;
use crate::command::SweepCommand;

/// Adds one sweep's verdict, findings, repair actions and metrics.
pub fn add(report: &mut Report, sw: &Sweep, r: &SweepReport, cmd: &SweepCommand, threshold: f64) {
    let pass = r.status == "PASS";
    report.decisions.push(Decision {
        subject: sw.name.clone(),
        verdict: Verdict::pass_fail(pass),
        reason: format!(
            "{} of {} sampled objects differ ({:.3}%, threshold {}%); matches proven by size and ETag in the listings: {}, by stored checksums: {}, by hashing {} bytes: {}; {} of {} listed sampled",
            r.mismatch_details.len(), r.total_sampled, r.mismatch_rate_percent, threshold, r.compared_by_etag, r.compared_by_checksum, r.bytes_hashed, r.compared_by_hash, r.total_sampled, r.total_listed
        ),
    });
    if !r.mismatch_details.is_empty() {
        let sev = if pass {
            Severity::Warning
        } else {
            Severity::Critical
        };
        let keys: Vec<&str> = r
            .mismatch_details
            .iter()
            .take(10)
            .map(|m| m.key.as_str())
            .collect();
        report.finding(
            sev,
            Some(&sw.name),
            format!(
                "{} object(s) differ from the source, e.g. {}",
                r.mismatch_details.len(),
                keys.join(", ")
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

/// The headline (passed and failed sweeps) and the seed-002 JSON in `details`.
pub fn headline(report: &mut Report, results: Vec<SweepReport>) {
    let passed = report.verdicts(Verdict::Pass);
    let failed = report.verdicts(Verdict::Fail);
    report.headline = format!("integrity sweeps: {passed} passed, {failed} failed");
    report.details = serde_json::json!({ "sweeps": results });
}
