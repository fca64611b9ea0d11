//! The active canary of a replication pair: its key, what the listings of both sides say, and
//! its check.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::policy::ReplicationPair;

use crate::checks::{against_levels, human, Check, State};
use crate::inventory::{Observations, PairFull, PairObs};

use super::Evaluation;

/// The canary key written by a run: `<prefix><yyyymmddThhmmssZ>-<run id>.json`; its time is
/// read back from the key.
pub fn canary_key(prefix: &str, at: DateTime<Utc>, run_id: &str) -> String {
    format!("{prefix}{}-{run_id}.json", at.format("%Y%m%dT%H%M%SZ"))
}

pub fn canary_time(prefix: &str, key: &str) -> Option<DateTime<Utc>> {
    let stamp = key.strip_prefix(prefix)?.get(..16)?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// The tags this run's canary carries: those of the enabled rule that replicates the pair (the
/// one with the fewest tags; none when a rule without a tag filter covers it). A rule filtered
/// by tags replicates only objects carrying them, so an untagged canary would never arrive
/// while the pair's tagged data does.
pub fn canary_tags(p: &ReplicationPair, o: Option<&PairObs>) -> Vec<(String, String)> {
    let Some(Ok(Some(rules))) = o.map(|o| &o.rules) else {
        return Vec::new();
    };
    rules
        .iter()
        .filter(|r| {
            r.enabled
                && r.destination == p.replica.bucket
                && crate::metrics::covers(&r.prefix, &p.source.prefix)
        })
        .min_by_key(|r| r.tags.len())
        .map(|r| r.tags.clone())
        .unwrap_or_default()
}

/// What the canaries of a pair say.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryView {
    /// The newest canary that arrived: (key, written, arrived).
    pub newest_arrived: Option<(String, DateTime<Utc>, DateTime<Utc>)>,
    /// Its arrival is when a run first saw it (at most that; S3 gives replicas the source's
    /// time), not a time the replica carries; then `arrived_after` is the last time a run
    /// looked and did not find it (at least that), if one did.
    pub arrival_seen: bool,
    pub arrived_after: Option<DateTime<Utc>>,
    /// Canaries written after it that have not arrived: (key, written).
    pub pending: Vec<(String, DateTime<Utc>)>,
    /// Canaries written before it that never arrived (replication lost them).
    pub lost: Vec<(String, DateTime<Utc>)>,
    /// Arrived canaries older than the newest arrived one: removed on both sides.
    pub spent: Vec<String>,
}

pub fn canary_view(
    p: &ReplicationPair,
    source: &[(String, DateTime<Utc>)],
    replica: &[(String, DateTime<Utc>)],
    obs: &Observations,
    now: DateTime<Utc>,
) -> CanaryView {
    let seen = &obs.canaries_seen;
    let prefix = p.canary_prefix();
    let arrived_at: BTreeMap<String, DateTime<Utc>> =
        replica.iter().map(|(k, t)| (k.clone(), *t)).collect();
    // S3 keeps the source object's time on a replica: unless the replica's time is later than
    // the source object's (a store that stamps arrival), arrival is when a run first saw it.
    let source_time: BTreeMap<&str, DateTime<Utc>> =
        source.iter().map(|(k, t)| (k.as_str(), *t)).collect();
    let arrival = |key: &str, rk: &str, written: DateTime<Utc>, listed: DateTime<Utc>| {
        let put = source_time.get(key).copied().unwrap_or(written);
        if listed > put + Duration::seconds(1) {
            (listed, false)
        } else {
            (seen.get(rk).copied().unwrap_or(now).max(written), true)
        }
    };
    let mut written: Vec<(String, DateTime<Utc>)> = source
        .iter()
        .filter_map(|(k, _)| canary_time(&prefix, k).map(|t| (k.clone(), t)))
        .collect();
    written.sort_by_key(|(_, t)| *t);
    // (key, written, (arrived, from a run's sighting))
    type Arrived = (String, DateTime<Utc>, (DateTime<Utc>, bool));
    let mut arrived: Vec<Arrived> = written
        .iter()
        .filter_map(|(k, w)| {
            // (S3 replication keeps keys: the replica's key is the source's)
            let rk = k.clone();
            arrived_at
                .get(&rk)
                .map(|listed| (k.clone(), *w, arrival(k, &rk, *w, *listed)))
        })
        .collect();
    let (newest_arrived, arrival_seen) = match arrived.pop() {
        Some((k, w, (a, seen))) => (Some((k, w, a)), seen),
        None => (None, false),
    };
    let arrived_after = newest_arrived
        .as_ref()
        .filter(|_| arrival_seen)
        .and_then(|(k, _, _)| obs.canaries_looked.get(k).copied());
    let cut = newest_arrived.as_ref().map(|(_, w, _)| *w);
    let not_arrived = written.iter().filter(|(k, _)| !arrived_at.contains_key(k));
    let (lost, pending): (Vec<_>, Vec<_>) = not_arrived
        .cloned()
        .partition(|(_, w)| cut.is_some_and(|c| *w < c));
    CanaryView {
        newest_arrived,
        arrival_seen,
        arrived_after,
        pending,
        lost,
        spent: arrived.into_iter().map(|(k, _, _)| k).collect(),
    }
}

pub(super) fn canary_check(
    p: &ReplicationPair,
    o: &PairFull,
    obs: &Observations,
    now: DateTime<Utc>,
    ev: &mut Evaluation,
) -> Check {
    let check = |state, detail| Check::new("canary", &p.name, "canary", state, detail);
    let (src, dst) = match (&o.canaries_source, &o.canaries_replica) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => {
            return check(State::NoData, format!("canaries could not be listed ({e})"))
        }
    };
    let v = canary_view(p, src, dst, obs, now);
    let mut state = State::Ok;
    let mut detail = Vec::new();
    match &v.newest_arrived {
        Some((_, w, a)) => {
            let took = *a - *w;
            ev.measure(
                "CanaryReplicationSeconds",
                took.num_seconds().max(0) as f64,
                "Seconds",
                ("Pair", &p.name),
            );
            // Seen by a run: it arrived at most `took` after it was written, and at least when
            // a run last looked and did not find it. Only that lower bound can make it late.
            let at_least = v
                .arrived_after
                .map(|l| (l - *w).max(Duration::zero()))
                .unwrap_or_else(Duration::zero);
            state = against_levels(if v.arrival_seen { at_least } else { took }, &p.latency);
            detail.push(if v.arrival_seen && took - at_least > Duration::minutes(6) {
                format!(
                    "the last canary arrived between {} and {} after it was written ({}; no run looked in between)",
                    human(at_least),
                    human(took),
                    w.format("%H:%M UTC")
                )
            } else if v.arrival_seen {
                format!(
                    "the last canary arrived within {} (written {}, first seen in the replica {})",
                    human(took),
                    w.format("%H:%M UTC"),
                    a.format("%H:%M UTC")
                )
            } else {
                format!(
                    "the last canary arrived in {} (written {})",
                    human(took),
                    w.format("%H:%M UTC")
                )
            });
        }
        None if v.pending.is_empty() => {
            return check(
                State::NoData,
                "no canary written yet: the next run measures the first".into(),
            )
        }
        None => {}
    }
    if let Some((_, w)) = v.pending.first() {
        let age = now - *w;
        let pending_state = against_levels(age, &p.latency);
        if pending_state != State::Ok {
            detail.push(format!(
                "a canary written {} ago has not arrived",
                human(age)
            ));
        } else if v.newest_arrived.is_none() {
            detail.push(format!(
                "the first canary is in flight ({} old)",
                human(age)
            ));
            state = state.max(State::NoData);
        }
        state = state.max(pending_state);
    }
    if !v.lost.is_empty() {
        detail.push(format!("{} earlier canaries never arrived", v.lost.len()));
        state = state.max(State::Warning);
    }
    check(state, detail.join("; "))
}
