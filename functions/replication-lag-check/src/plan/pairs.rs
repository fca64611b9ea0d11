//! S3 replication pairs: the configuration, the buckets, latency and failed replications.

use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::policy::ReplicationPair;

use crate::checks::{against_levels, human, Check, State};
use crate::inventory::{Observations, PairFull, PairObs, ReplicationRule, Scope};
use crate::metrics::{Fetched, Purpose};

use super::Evaluation;

pub(super) fn pair_checks(
    obs: &Observations,
    p: &ReplicationPair,
    o: &PairObs,
    series: &dyn Fn(&Purpose) -> Option<Vec<f64>>,
    fetched: &Fetched,
    now: DateTime<Utc>,
    ev: &mut Evaluation,
) {
    let name = p.name.as_str();
    let check =
        |kind: &str, what: &str, state, detail: String| Check::new(kind, name, what, state, detail);
    let covering = config_check(p, o, ev);
    // Versioning at both ends, the replica bucket present (full checks).
    if let Some(f) = &o.full {
        ev.checks.push(buckets_check(p, f));
    }
    // The metrics: latency against the levels; without metrics there is nothing to measure.
    match covering {
        Some((true, _, true)) => ev.checks.push(check(
            "replication-latency",
            "replication latency",
            State::NoData,
            "the rule replicating the pair has no ID: S3 publishes replication metrics per rule ID (RuleId), so they cannot be read (give the rule an ID)"
                .into(),
        )),
        Some((false, _, _)) => ev.checks.push(check(
            "replication-latency",
            "replication latency",
            State::Warning,
            "replication metrics are off on the rule: nothing to measure (enable metrics or RTC)"
                .into(),
        )),
        Some((true, rtc, false)) => metric_checks(obs, p, rtc, series, fetched, ev),
        None => {}
    }
    // The canary (full checks).
    if let (true, Some(f)) = (p.canary.enabled, &o.full) {
        let c = super::canary::canary_check(p, f, obs, now, ev);
        ev.checks.push(c);
    }
}

/// The configuration: present, enabled, covering the prefix, to the replica bucket. Pushes its
/// check; the covering rule's (metrics, RTC, without an ID), if one is enabled.
fn config_check(
    p: &ReplicationPair,
    o: &PairObs,
    ev: &mut Evaluation,
) -> Option<(bool, bool, bool)> {
    let check = |kind: &str, what: &str, state, detail: String| {
        Check::new(kind, &p.name, what, state, detail)
    };
    match &o.rules {
        Err(e) => {
            ev.checks.push(check(
                "replication-config",
                "replication configuration",
                State::NoData,
                format!("could not be read ({e})"),
            ));
            None
        }
        Ok(None) => {
            ev.checks.push(check(
                "replication-config",
                "replication configuration",
                State::Critical,
                format!("s3://{} has no replication configuration", p.source.bucket),
            ));
            None
        }
        Ok(Some(rules)) => {
            let (state, detail, rule) = match covering_rule(p, rules) {
                Ok(r) => (State::Ok, covering_words(p, r), Some(r)),
                Err(why) => (State::Critical, why, None),
            };
            ev.checks.push(check(
                "replication-config",
                "replication configuration",
                state,
                detail,
            ));
            rule.map(|r| (r.metrics, r.rtc, r.id.is_empty()))
        }
    }
}

/// The enabled rule that replicates the pair's source prefix to its replica bucket (one without
/// a tag filter first: it covers every object), or why none does. Preflight asks the same.
pub fn covering_rule<'a>(
    p: &ReplicationPair,
    rules: &'a [ReplicationRule],
) -> Result<&'a ReplicationRule, String> {
    let to_replica: Vec<&ReplicationRule> = rules
        .iter()
        .filter(|r| {
            r.destination == p.replica.bucket && crate::metrics::covers(&r.prefix, &p.source.prefix)
        })
        .collect();
    let mut enabled: Vec<&ReplicationRule> =
        to_replica.iter().copied().filter(|r| r.enabled).collect();
    // A rule without a tag filter covers every object; one with tags only the objects carrying
    // them (the canary carries them: crate::execute::write_canary).
    enabled.sort_by_key(|r| r.tags.len());
    match enabled.first() {
        Some(r) => Ok(r),
        None if to_replica.is_empty() => Err(format!(
            "no rule replicates s3://{}/{} to {}",
            p.source.bucket, p.source.prefix, p.replica.bucket
        )),
        None => Err(format!(
            "the rule replicating s3://{}/{} to {} is disabled",
            p.source.bucket, p.source.prefix, p.replica.bucket
        )),
    }
}

/// What the covering rule replicates, in the report's words.
pub fn covering_words(p: &ReplicationPair, r: &ReplicationRule) -> String {
    let only = if r.tags.is_empty() {
        String::new()
    } else {
        format!(
            " objects tagged {} (only those: untagged objects there are not replicated; the canary carries the tags)",
            crate::inventory::tag_words(&r.tags)
        )
    };
    format!(
        "rule {} replicates s3://{}/{}{only} to {}",
        if r.id.is_empty() { "(no ID)" } else { &r.id },
        p.source.bucket,
        p.source.prefix,
        p.replica.bucket
    )
}

/// Latency against the levels (and the backlog in its detail), and failed replications in a
/// full check, when the covering rule has metrics and an ID.
fn metric_checks(
    obs: &Observations,
    p: &ReplicationPair,
    rtc: bool,
    series: &dyn Fn(&Purpose) -> Option<Vec<f64>>,
    fetched: &Fetched,
    ev: &mut Evaluation,
) {
    let check = |kind: &str, what: &str, state, detail: String| {
        Check::new(kind, &p.name, what, state, detail)
    };
    let latency = series(&Purpose::Pair {
        pair: p.name.clone(),
        metric: "ReplicationLatency",
    });
    let failed = series(&Purpose::Pair {
        pair: p.name.clone(),
        metric: "OperationsFailedReplication",
    });
    let max = |v: &Option<Vec<f64>>| v.as_ref().and_then(|v| v.iter().cloned().reduce(f64::max));
    // The backlog, read only where latency is high or silent (metrics::pending_queries);
    // both in the destination's region, failures in the source's.
    let region = crate::metrics::metric_region(p, "ReplicationLatency", &fetched.primary_region);
    let region = region.as_str();
    let source_region =
        crate::metrics::metric_region(p, "OperationsFailedReplication", &fetched.primary_region);
    let backlog = backlog_words(p, series, fetched, region);
    let c = match (&latency, max(&latency)) {
        (None, _) => check(
            "replication-latency",
            "replication latency",
            State::NoData,
            format!(
                "metrics could not be read ({})",
                fetched
                    .errors
                    .get(region)
                    .or_else(|| fetched.errors.values().next())
                    .cloned()
                    .unwrap_or_default()
            ),
        ),
        (Some(_), None) => check(
            "replication-latency",
            "replication latency",
            State::NoData,
            format!(
                "no ReplicationLatency datapoints in {region} (the destination's region, where S3 publishes it) in the last {} min{}{backlog}",
                crate::metrics::RECENT,
                if rtc {
                    ""
                } else {
                    " (metrics without RTC report only while objects replicate)"
                }
            ),
        ),
        (Some(_), Some(s)) => {
            ev.measure("ReplicationLagSeconds", s, "Seconds", ("Pair", &p.name));
            let d = Duration::seconds(s as i64);
            let detail = format!(
                "{} (warning above {}, critical above {}){backlog}",
                human(d),
                human(p.latency.warning.0),
                human(p.latency.critical.0)
            );
            check(
                "replication-latency",
                "replication latency",
                against_levels(d, &p.latency),
                detail,
            )
            .value(s)
        }
    };
    ev.checks.push(c);
    // Failures are read in full checks only (a lag check keeps their state).
    if obs.scope == Scope::Full {
        ev.checks.push(failures_check(
            p,
            failed.as_deref(),
            &source_region,
            fetched,
            crate::metrics::failures_read_back(obs.since_full),
        ));
    }
}

/// The backlog (read only where latency is high or silent: `metrics::pending_queries`), for the
/// latency's detail: "; 42 operations (5.0 MiB) pending", or why it could not be read.
fn backlog_words(
    p: &ReplicationPair,
    series: &dyn Fn(&Purpose) -> Option<Vec<f64>>,
    fetched: &Fetched,
    region: &str,
) -> String {
    let max = |metric: &'static str| {
        series(&Purpose::Pair {
            pair: p.name.clone(),
            metric,
        })
        .and_then(|v| v.into_iter().reduce(f64::max))
    };
    match (
        max("OperationsPendingReplication"),
        max("BytesPendingReplication"),
    ) {
        (Some(n), Some(b)) => format!(
            "; {n:.0} operations ({}) pending",
            crate::checks::human_bytes(b)
        ),
        (Some(n), None) => format!("; {n:.0} operations pending"),
        _ => match fetched.backlog_errors.get(region) {
            Some(e) => format!("; its backlog could not be read ({e})"),
            None => String::new(),
        },
    }
}

/// Failed replications since the last full check: a sum of datapoints, or NO DATA when there are
/// none (S3 publishes replication metrics while objects replicate: an absent series is not "0
/// failed") or the source region's read failed.
pub(super) fn failures_check(
    p: &ReplicationPair,
    failed: Option<&[f64]>,
    region: &str,
    fetched: &Fetched,
    span: Duration,
) -> Check {
    let check = |state, detail| {
        Check::new(
            "replication-failures",
            &p.name,
            "failed replications",
            state,
            detail,
        )
    };
    match failed {
        None => check(
            State::NoData,
            format!(
                "OperationsFailedReplication could not be read in {region} ({})",
                fetched.errors.get(region).cloned().unwrap_or_default()
            ),
        ),
        Some([]) => check(
            State::NoData,
            format!(
                "no OperationsFailedReplication datapoints in {region} (the source's region, where S3 publishes it) in the last {}",
                human(span)
            ),
        ),
        Some(values) => {
            // (a sum starting at 0, never -0)
            let f: f64 = values.iter().fold(0.0, |a, v| a + v);
            check(
                if f > 0.0 { State::Warning } else { State::Ok },
                format!(
                    "{f:.0} operations failed to replicate in the last {}",
                    human(span)
                ),
            )
        }
    }
}

/// Versioning at both ends (replication requires it) and the replica bucket present.
pub(super) fn buckets_check(p: &ReplicationPair, f: &PairFull) -> Check {
    let mut vstate = State::Ok;
    let mut vdetail = Vec::new();
    for (side, r) in [
        ("source", &f.source_versioning),
        ("replica", &f.replica_versioning),
    ] {
        match r {
            Ok(true) => {}
            Ok(false) => {
                vstate = vstate.max(State::Critical);
                vdetail.push(format!(
                    "versioning is off on the {side} bucket (replication requires it)"
                ));
            }
            Err(e) => {
                vstate = vstate.max(State::NoData);
                vdetail.push(format!(
                    "the {side} bucket's versioning could not be read ({e})"
                ));
            }
        }
    }
    match &f.replica_exists {
        Ok(true) => {}
        Ok(false) => {
            vstate = State::Critical;
            vdetail.push(format!(
                "the replica bucket {} does not exist",
                p.replica.bucket
            ));
        }
        Err(e) => {
            vstate = vstate.max(State::NoData);
            vdetail.push(format!("the replica bucket could not be read ({e})"));
        }
    }
    Check::new(
        "replication-buckets",
        &p.name,
        "buckets",
        vstate,
        if vdetail.is_empty() {
            "versioning on at both ends; the replica bucket exists".into()
        } else {
            vdetail.join("; ")
        },
    )
}
