//! Database replicas: RDS read replicas, Aurora readers, global database and datastore
//! secondaries.

use chrono::Duration;
use lifeboat_shared::policy::{Levels, Policy, Span};

use crate::checks::{against_levels, human, Check, Series, State};
use crate::inventory::{Observations, ReplicaKind};
use crate::metrics::{Fetched, Purpose};

use super::Evaluation;

pub(super) fn replica_check(
    policy: &Policy,
    r: &crate::inventory::ReplicaObs,
    series: &dyn Fn(&Purpose) -> Option<Vec<f64>>,
    timed: &dyn Fn(&Purpose) -> Option<Series>,
    fetched: &Fetched,
    ev: &mut Evaluation,
) {
    let what = match r.kind {
        ReplicaKind::ReadReplica => "read replica",
        ReplicaKind::AuroraReader => "Aurora replica",
        ReplicaKind::GlobalSecondary => "global database secondary",
        ReplicaKind::GlobalDatastoreSecondary => "global datastore secondary",
    };
    let subject = format!("{} {}", r.component, r.id);
    let link = global_words(r);
    let plain = |state, detail: String| Check::new("replica", &subject, what, state, detail);
    let check = |state, detail: String| plain(state, format!("{detail}{link}"));
    if let Some((state, detail)) = before_lag(r) {
        ev.checks.push(check(state, detail));
        return;
    }
    let status = r.status.as_deref().unwrap_or_default();
    let points = timed(&Purpose::Replica {
        replica: r.id.clone(),
    });
    // RDS ReplicaLag is -1 when replication is not active (AWS: "ReplicaLag = -1 is equivalent
    // to Seconds_Behind_Master = NULL"): the newest datapoint -1 is a stopped replica, never
    // "0 s behind". Earlier -1s are not lag either: the lag is the largest real value.
    let newest = points
        .as_ref()
        .and_then(|p| p.iter().max_by_key(|(t, _)| *t).copied());
    if let Some((at, v)) = newest.filter(|(_, v)| *v < 0.0) {
        ev.checks.push(check(
            State::Critical,
            format!(
                "replication is not active: its lag metric reads {v:.0} (AWS: -1 when replication is not active) at {} (status {status})",
                at.format("%H:%M UTC")
            ),
        ));
        return;
    }
    let values: Option<Vec<f64>> = points.map(|p| {
        p.into_iter()
            .map(|(_, v)| v)
            .filter(|v| *v >= 0.0)
            .collect()
    });
    let lag = values
        .as_ref()
        .and_then(|v| v.iter().cloned().reduce(f64::max));
    let mut c = match (values, lag) {
        (None, _) => plain(
            State::NoData,
            format!(
                "its lag metric could not be read{}",
                fetched
                    .errors
                    .get(&r.region)
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
        ),
        (Some(_), None) => plain(State::NoData, format!("no lag datapoints in the last {} min (status {status}): a replica without data is not OK", crate::metrics::RECENT)),
        (Some(_), Some(v)) => {
            // ReplicaLag and GlobalDatastoreReplicationLag are in seconds; the Aurora metrics in
            // milliseconds.
            let secs = match r.kind {
                ReplicaKind::ReadReplica | ReplicaKind::GlobalDatastoreSecondary => v,
                _ => v / 1000.0,
            };
            ev.measure("ReplicationLagSeconds", secs, "Seconds", ("Replica", &r.id));
            let l: &Levels = &policy.monitoring.replica_lag;
            let d = Duration::milliseconds((secs * 1000.0) as i64);
            plain(against_levels(d, l), format!("{} behind (warning above {}, critical above {})", human(d), human(l.warning.0), human(l.critical.0))).value(secs)
        }
    };
    if r.kind == ReplicaKind::GlobalSecondary {
        rpo_lag(policy, r, series, &mut c, ev);
    }
    c.detail.push_str(&link);
    ev.checks.push(c);
}

/// Why a replica's lag is not read: it could not be looked up, does not exist, is not
/// replicating, or has no cache clusters to read it from. `None`: its lag decides.
fn before_lag(r: &crate::inventory::ReplicaObs) -> Option<(State, String)> {
    if let Some(why) = &r.unread {
        return Some((State::NoData, format!("could not be read: {why}")));
    }
    if r.status.is_none() {
        return Some((
            State::Critical,
            format!(
                "{} in {} is listed by its source but does not exist",
                r.id, r.region
            ),
        ));
    }
    if let Some((s, normal, msg)) = &r.replication {
        let (words, healthy) = match r.kind {
            ReplicaKind::GlobalSecondary => ("global database synchronization", "connected"),
            ReplicaKind::GlobalDatastoreSecondary => ("global datastore membership", "associated"),
            _ => ("replication", "replicating"),
        };
        if !normal || s != healthy {
            return Some((
                State::Critical,
                format!(
                    "{words} is {s}{}",
                    msg.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
                ),
            ));
        }
    }
    match r.global.as_ref().and_then(|g| g.cache_clusters.as_ref()) {
        Some(Err(e)) => Some((
            State::NoData,
            format!("its cache clusters could not be read, so neither can its lag ({e})"),
        )),
        Some(Ok(clusters)) if clusters.is_empty() => Some((
            State::NoData,
            format!(
                "{} in {} has no cache clusters to read its lag from",
                r.id, r.region
            ),
        )),
        _ => None,
    }
}

/// Where a global secondary replicates from, for its check's detail ("" for other replicas).
pub(super) fn global_words(r: &crate::inventory::ReplicaObs) -> String {
    let Some(g) = &r.global else {
        return String::new();
    };
    let kind = match r.kind {
        ReplicaKind::GlobalDatastoreSecondary => "global datastore",
        _ => "global database",
    };
    let from = match &g.primary {
        Some((id, region)) => format!("it replicates from {id} in {region}"),
        None => "its primary is not named".to_string(),
    };
    let status = match r.status.as_deref() {
        Some(s) if s != "available" => format!(", status {s}"),
        _ => String::new(),
    };
    let itself = if g.selected {
        "the policy selects this secondary itself; "
    } else {
        ""
    };
    format!("; {itself}{from} ({kind} {}{status})", g.id)
}

/// An Aurora global secondary's RPO lag (`AuroraGlobalDBRPOLag`) against its component's RPO:
/// above it is critical, whatever the replication lag says. Said in the detail either way.
pub(super) fn rpo_lag(
    policy: &Policy,
    r: &crate::inventory::ReplicaObs,
    series: &dyn Fn(&Purpose) -> Option<Vec<f64>>,
    c: &mut Check,
    ev: &mut Evaluation,
) {
    let rpo = component_rpo(policy, &r.component);
    let values = series(&Purpose::ReplicaRpo {
        replica: r.id.clone(),
    });
    let Some(ms) = values
        .as_ref()
        .and_then(|v| v.iter().cloned().reduce(f64::max))
    else {
        c.detail.push_str(&format!(
            "; {} to hold against RPO {}",
            if values.is_some() {
                "no RPO lag datapoints (AuroraGlobalDBRPOLag)"
            } else {
                "its RPO lag (AuroraGlobalDBRPOLag) could not be read"
            },
            human(rpo.0)
        ));
        return;
    };
    let d = Duration::milliseconds(ms as i64);
    ev.measure("RpoLagSeconds", ms / 1000.0, "Seconds", ("Replica", &r.id));
    let over = d > rpo.0;
    if over {
        c.state = State::Critical;
    }
    c.detail.push_str(&format!(
        "; RPO lag {} {} RPO {}",
        human(d),
        if over { "exceeds its" } else { "within its" },
        human(rpo.0)
    ));
}

/// A component's RPO: its own, else its settings' (defaults).
pub(super) fn component_rpo(policy: &Policy, component: &str) -> Span {
    policy
        .components
        .iter()
        .find(|c| c.name == component)
        .and_then(|c| c.rpo)
        .unwrap_or_else(|| policy.settings_by_name(component).rpo)
}

/// Global databases and datastores that could not be read: no data, never skipped.
pub(super) fn unread_global_checks(obs: &Observations, ev: &mut Evaluation) {
    for (component, id, why) in &obs.unread_globals {
        ev.checks.push(Check::new(
            "replica",
            &format!("{component} {id}"),
            "global replicas",
            State::NoData,
            format!("{id} could not be checked: {why}"),
        ));
    }
}
