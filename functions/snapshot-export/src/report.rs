//! The report's content (pure): the headline and the per-kind counts as metrics. The envelope
//! finishes (status from outcomes, findings and verdicts) and delivers it.

use lifeboat_shared::report::{Outcome, Report, Verdict};

/// The headline and per-kind counts as metrics.
pub fn summarize(r: &mut Report) {
    let done_or_planned = if r.dry_run {
        Outcome::Planned
    } else {
        Outcome::Done
    };
    let mut parts = Vec::new();
    for (kind, noun, metric) in [
        (
            "create-snapshot",
            ("snapshot", "snapshots"),
            "SnapshotsCreated",
        ),
        ("copy-to-dr", ("DR copy", "DR copies"), "CopiesStarted"),
        ("start-export", ("export", "exports"), "ExportsStarted"),
        (
            "export-to-s3",
            ("cache export", "cache exports"),
            "CacheExportsStarted",
        ),
        (
            "delete-snapshot",
            ("deletion", "deletions"),
            "SnapshotsDeleted",
        ),
        (
            "delete-dr-copy",
            ("DR deletion", "DR deletions"),
            "DrCopiesDeleted",
        ),
        (
            "write-manifest",
            ("manifest", "manifests"),
            "ManifestsWritten",
        ),
    ] {
        let n = r.count(kind, done_or_planned);
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { noun.0 } else { noun.1 }));
        }
        r.measure(metric, n as f64, "Count");
    }
    let failed = r
        .actions
        .iter()
        .filter(|a| a.outcome == Outcome::Failed)
        .count();
    let deferred = r
        .actions
        .iter()
        .filter(|a| a.outcome == Outcome::Deferred)
        .count();
    let already = r
        .actions
        .iter()
        .filter(|a| a.outcome == Outcome::AlreadyDone)
        .count();
    r.measure("ActionsDeferred", deferred as f64, "Count");
    let mut head = if parts.is_empty() {
        "nothing new to do".to_string()
    } else if r.dry_run {
        format!("would make {}", parts.join(", "))
    } else {
        parts.join(", ")
    };
    if failed > 0 {
        head.push_str(&format!("; {failed} failed"));
    }
    if deferred > 0 {
        head.push_str(&format!("; {deferred} deferred"));
    }
    if already > 0 {
        head.push_str(&format!("; {already} already done"));
    }
    let kept = r.verdicts(Verdict::Keep);
    head.push_str(&format!("; {kept} kept"));
    r.headline = head;
}
