//! The report — pure: changes first (worst first), then every check that is not OK, then the
//! OK ones; the counts as EMF metrics.

use lifeboat_shared::report::{Decision, Report, Severity, Verdict};

use lifeboat_shared::policy::Policy;

use crate::alerts::{Change, Stored, Why};
use crate::checks::{human, Check, State};

/// `held`: checks with no data for less than the reminder interval, not emailed yet.
pub fn fill(
    report: &mut Report,
    checks: &[Check],
    changes: &[Change],
    held: &[String],
    first: bool,
) {
    for ch in changes {
        // The first check's OK ones are the baseline: said once, as decisions below.
        if first && ch.check.state == State::Ok {
            continue;
        }
        let severity = match (ch.why, ch.check.state) {
            (Why::Recovered, _) | (_, State::Ok) => Severity::Info,
            (_, State::Critical) => Severity::Critical,
            (_, State::Warning | State::NoData) => Severity::Warning,
        };
        let mut message = ch.sentence();
        if let Some(a) = &ch.check.action {
            message.push_str(&format!(" — action: {a}"));
        }
        report.finding(severity, Some(&ch.check.subject), message);
    }
    for c in checks {
        let changed = changes.iter().any(|ch| ch.check.id == c.id);
        if c.state != State::Ok && !changed {
            let severity = match c.state {
                State::Critical => Severity::Critical,
                _ => Severity::Warning,
            };
            let note = if held.contains(&c.id) {
                "not emailed yet: no data for less than the reminder interval, the last known state stands"
            } else {
                "unchanged"
            };
            report.finding(
                severity,
                Some(&c.subject),
                format!("{} ({note})", c.sentence()),
            );
        }
        if c.state == State::Ok {
            report.decisions.push(Decision::new(
                format!("{} {}", c.subject, c.what),
                Verdict::Pass,
                c.detail.clone(),
            ));
        }
    }
    let count = |s: State| checks.iter().filter(|c| c.state == s).count();
    let (crit, warn, nodata, ok) = (
        count(State::Critical),
        count(State::Warning),
        count(State::NoData),
        count(State::Ok),
    );
    report.measure("ChecksCritical", crit as f64, "Count");
    report.measure("ChecksWarning", warn as f64, "Count");
    report.measure("ChecksNoData", nodata as f64, "Count");
    report.measure("ChecksOk", ok as f64, "Count");
    let tally = format!("{ok} OK, {crit} critical, {warn} warning, {nodata} no data");
    report.headline = match changes.first() {
        _ if first => format!("first check: {tally}"),
        Some(ch) if changes.len() == 1 => ch.sentence(),
        Some(ch) => format!("{} changes: {}; ...", changes.len(), ch.sentence()),
        None => format!("no change: {tally}"),
    };
}

/// A lag check says what it read and what keeps the last full check's state.
pub fn lag_check(report: &mut Report, stored: &Stored, checks: &[Check], policy: &Policy) {
    let every = policy.monitoring.full_check_every.0;
    let carried = stored
        .checks
        .keys()
        .filter(|id| !checks.iter().any(|c| &c.id == *id))
        .count();
    let last = match stored.full_check_at {
        Some(t) => format!(
            "{}, next due {}",
            t.format("%H:%M UTC"),
            (t + every).format("%H:%M UTC")
        ),
        None => "never".into(),
    };
    report.finding(
        Severity::Info,
        None,
        format!(
            "lag check: {} checks read now (replication configuration and latency, replica lag, \
             backup ages); {carried} keep the state of the last full check ({last}; every {})",
            checks.len(),
            human(every)
        ),
    );
}
