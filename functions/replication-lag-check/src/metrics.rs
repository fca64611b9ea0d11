//! CloudWatch metrics: which series the checks need ([`queries`], pure) and one batched read of
//! them ([`fetch`]): GetMetricData takes up to 500 queries a call, so a run makes
//! ⌈queries/500⌉ calls per region (plus its pages), whatever the number of pairs and rules.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::aws::errors::AwsError;
use lifeboat_shared::policy::{MetricRule, Policy, ReplicationPair};

use crate::checks::Series;
use crate::inventory::{Clients, Observations, ReplicaKind, Scope};

/// GetMetricData's limit of queries per call.
pub const MAX_QUERIES_PER_CALL: usize = 500;

/// How far back replication metrics are read: the newest datapoints decide.
pub const RECENT: i64 = 15;

/// What a series is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Purpose {
    /// S3 replication metrics of a pair's rule.
    Pair { pair: String, metric: &'static str },
    /// A database replica's lag.
    Replica { replica: String },
    /// An Aurora global database secondary's RPO lag (`AuroraGlobalDBRPOLag`).
    ReplicaRpo { replica: String },
    /// A metric rule's metric (`of`: its denominator).
    Rule { rule: String, of: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub id: String,
    pub region: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    pub stat: &'static str,
    pub period_seconds: i32,
    pub window: Duration,
    pub purpose: Purpose,
}

/// The S3 replication metrics read per rule in a full check, with the statistic that matters
/// (a lag check reads only the first).
pub const S3_METRICS: [(&str, &str); 2] = [
    ("ReplicationLatency", "Maximum"),
    ("OperationsFailedReplication", "Sum"),
];

/// The backlog metrics: read, in a second GetMetricData call, only for the pairs whose latency
/// is above its warning level or has no datapoints — where they explain something.
pub const PENDING_METRICS: [(&str, &str); 2] = [
    ("OperationsPendingReplication", "Maximum"),
    ("BytesPendingReplication", "Maximum"),
];

/// The queries being made, numbered as they are added.
#[derive(Default)]
struct Queries(Vec<Query>);

impl Queries {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        region: &str,
        namespace: &str,
        metric: &str,
        dimensions: Vec<(String, String)>,
        stat: &'static str,
        window: Duration,
        purpose: Purpose,
    ) {
        let id = format!("q{}", self.0.len());
        self.0.push(Query {
            id,
            region: region.to_string(),
            namespace: namespace.to_string(),
            metric: metric.to_string(),
            dimensions,
            stat,
            period_seconds: 60,
            window,
            purpose,
        });
    }
}

/// Every series this run needs: in a lag check only each pair's ReplicationLatency and the
/// replicas' lag.
pub fn queries(policy: &Policy, obs: &Observations, primary_region: &str) -> Vec<Query> {
    let mut q = Queries::default();
    pair_queries(&mut q, policy, obs, primary_region);
    replica_queries(&mut q, obs);
    rule_queries(&mut q, policy, obs, primary_region);
    q.0
}

/// Each pair's S3 replication metrics, per covering rule, where S3 publishes them.
fn pair_queries(q: &mut Queries, policy: &Policy, obs: &Observations, primary_region: &str) {
    for p in &policy.monitoring.replication {
        let Some(o) = obs.pairs.get(&p.name) else {
            continue;
        };
        let Ok(Some(rules)) = &o.rules else { continue };
        // (a rule without an ID has no `RuleId` to read its metrics by: never an empty
        // dimension value, which CloudWatch refuses with the whole call)
        for r in rules.iter().filter(|r| {
            r.enabled
                && r.metrics
                && !r.id.is_empty()
                && covers(&r.prefix, &p.source.prefix)
                && r.destination == p.replica.bucket
        }) {
            for (metric, stat) in S3_METRICS
                .into_iter()
                .filter(|(m, _)| obs.scope == Scope::Full || *m == "ReplicationLatency")
            {
                q.push(
                    &metric_region(p, metric, primary_region),
                    "AWS/S3",
                    metric,
                    vec![
                        ("SourceBucket".into(), p.source.bucket.clone()),
                        ("DestinationBucket".into(), p.replica.bucket.clone()),
                        ("RuleId".into(), r.id.clone()),
                    ],
                    stat,
                    if metric == "OperationsFailedReplication" {
                        failures_read_back(obs.since_full)
                    } else {
                        Duration::minutes(RECENT)
                    },
                    Purpose::Pair {
                        pair: p.name.clone(),
                        metric,
                    },
                );
            }
        }
    }
}

/// Each database replica's lag, in its own region.
fn replica_queries(q: &mut Queries, obs: &Observations) {
    for r in &obs.replicas {
        let lag = || Purpose::Replica {
            replica: r.id.clone(),
        };
        match r.kind {
            ReplicaKind::ReadReplica | ReplicaKind::AuroraReader => {
                let metric = if r.kind == ReplicaKind::ReadReplica {
                    "ReplicaLag"
                } else {
                    "AuroraReplicaLag"
                };
                q.push(
                    &r.region,
                    "AWS/RDS",
                    metric,
                    vec![("DBInstanceIdentifier".into(), r.id.clone())],
                    "Maximum",
                    Duration::minutes(RECENT),
                    lag(),
                );
            }
            // Published in the secondary's region only, per secondary cluster: read with and
            // without the primary's region (`SourceRegion`), whichever set carries them.
            ReplicaKind::GlobalSecondary => {
                let cluster = ("DBClusterIdentifier".to_string(), r.id.clone());
                let mut sets = vec![vec![cluster.clone()]];
                if let Some((_, source)) = r.global.as_ref().and_then(|g| g.primary.as_ref()) {
                    sets.push(vec![cluster, ("SourceRegion".into(), source.clone())]);
                }
                for dims in sets {
                    q.push(
                        &r.region,
                        "AWS/RDS",
                        "AuroraGlobalDBReplicationLag",
                        dims.clone(),
                        "Maximum",
                        Duration::minutes(RECENT),
                        lag(),
                    );
                    q.push(
                        &r.region,
                        "AWS/RDS",
                        "AuroraGlobalDBRPOLag",
                        dims,
                        "Maximum",
                        Duration::minutes(RECENT),
                        Purpose::ReplicaRpo {
                            replica: r.id.clone(),
                        },
                    );
                }
            }
            // Published per node in the secondary's region, under each node's cache cluster.
            ReplicaKind::GlobalDatastoreSecondary => {
                let clusters = r
                    .global
                    .as_ref()
                    .and_then(|g| g.cache_clusters.as_ref())
                    .and_then(|c| c.as_ref().ok());
                for cluster in clusters.into_iter().flatten() {
                    q.push(
                        &r.region,
                        "AWS/ElastiCache",
                        "GlobalDatastoreReplicationLag",
                        vec![("CacheClusterId".into(), cluster.clone())],
                        "Maximum",
                        Duration::minutes(RECENT),
                        lag(),
                    );
                }
            }
        }
    }
}

/// Each rule's metric (and its denominator), in a full check.
fn rule_queries(q: &mut Queries, policy: &Policy, obs: &Observations, primary_region: &str) {
    for rule in policy
        .monitoring
        .rules
        .iter()
        .filter(|_| obs.scope == Scope::Full)
    {
        let dims: Vec<(String, String)> = rule
            .dimensions
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let stat = rule.statistic.as_str();
        let span = rule_read_back(rule, obs.since_full);
        q.push(
            primary_region,
            &rule.namespace,
            &rule.metric,
            dims.clone(),
            stat,
            span,
            Purpose::Rule {
                rule: rule.name.clone(),
                of: false,
            },
        );
        if let Some(of) = &rule.of {
            q.push(
                primary_region,
                &rule.namespace,
                of,
                dims,
                stat,
                span,
                Purpose::Rule {
                    rule: rule.name.clone(),
                    of: true,
                },
            );
        }
    }
}

/// Where AWS publishes an S3 replication metric of a pair: `OperationsFailedReplication` in the
/// source bucket's region, `ReplicationLatency`, `OperationsPendingReplication` and
/// `BytesPendingReplication` in the destination bucket's region.
pub fn metric_region(p: &ReplicationPair, metric: &str, primary_region: &str) -> String {
    let side = if metric == "OperationsFailedReplication" {
        &p.source
    } else {
        &p.replica
    };
    side.region.as_deref().unwrap_or(primary_region).to_string()
}

/// The second read: the backlog metrics of the pairs whose latency was above its warning level
/// or had no datapoints in the first (not those whose region could not be read: nothing to
/// explain there). Ids continue after `first`'s.
pub fn pending_queries(policy: &Policy, first: &[Query], fetched: &Fetched) -> Vec<Query> {
    let mut out: Vec<Query> = Vec::new();
    for q in first {
        let Purpose::Pair { pair, metric } = &q.purpose else {
            continue;
        };
        if *metric != "ReplicationLatency" || fetched.errors.contains_key(&q.region) {
            continue;
        }
        let Some(p) = policy
            .monitoring
            .replication
            .iter()
            .find(|p| &p.name == pair)
        else {
            continue;
        };
        let newest = fetched
            .series
            .get(&q.id)
            .and_then(|s| s.iter().map(|(_, v)| *v).reduce(f64::max));
        let warning = p.latency.warning.0.num_seconds() as f64;
        if newest.is_some_and(|v| v <= warning) {
            continue;
        }
        for (metric, stat) in PENDING_METRICS {
            out.push(Query {
                id: format!("q{}", first.len() + out.len()),
                metric: metric.to_string(),
                stat,
                purpose: Purpose::Pair {
                    pair: pair.clone(),
                    metric,
                },
                ..q.clone()
            });
        }
    }
    out
}

/// How far back failed replications are counted: since the last full check (`since_full`; a lag
/// check does not read them), at least [`RECENT`] minutes.
pub fn failures_read_back(since_full: Duration) -> Duration {
    Duration::minutes(RECENT).max(since_full)
}

/// How far back a rule's series are read: since the last full check (lag checks do not read
/// rules), at least its window; the evaluation slides the window over it
/// ([`crate::plan::worst_window`]).
pub fn rule_read_back(rule: &MetricRule, since_full: Duration) -> Duration {
    rule.window.0.max(since_full)
}

/// The time since the last full check, as the next full check reads back: at least
/// `full_check_every` (the first run, a clock set back), at most 3 hours (or `full_check_every`
/// when longer) after a long gap.
pub fn since_full_check(
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    every: Duration,
) -> Duration {
    let cap = every.max(Duration::hours(3));
    match last {
        Some(t) if t <= now => (now - t).clamp(every, cap),
        _ => every,
    }
}

/// A rule's prefix covers the pair's prefix ("" covers everything).
pub fn covers(rule_prefix: &str, prefix: &str) -> bool {
    prefix.starts_with(rule_prefix)
}

/// The calls a run makes for `n` queries in one region (before paging).
pub fn calls_for(n: usize) -> usize {
    n.div_ceil(MAX_QUERIES_PER_CALL)
}

/// What the read answered.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Datapoints by query id, inside each query's own window.
    pub series: BTreeMap<String, Series>,
    /// Regions whose read failed, with the AWS error: their series are "no data".
    pub errors: BTreeMap<String, String>,
    /// Regions whose backlog read (the second call) failed: the first read's series stand.
    pub backlog_errors: BTreeMap<String, String>,
    pub calls: usize,
    /// The region of queries without their own (the primary).
    pub primary_region: String,
}

impl Fetched {
    /// Adds the backlog read's answers. Its failures do not unmake the first read: they are kept
    /// apart, and the latency's detail says its backlog could not be read.
    pub fn merge_backlog(&mut self, more: Fetched) {
        self.series.extend(more.series);
        for (region, e) in more.errors {
            self.backlog_errors.entry(region).or_insert(e);
        }
        self.calls += more.calls;
    }
}

/// Reads every query: per region, batches of [`MAX_QUERIES_PER_CALL`] over the longest window,
/// each series then cut to its own window.
pub async fn fetch(c: &Clients, queries: &[Query], now: DateTime<Utc>) -> Fetched {
    let mut out = Fetched {
        primary_region: c.primary_region.clone(),
        ..Fetched::default()
    };
    let mut by_region: BTreeMap<&str, Vec<&Query>> = BTreeMap::new();
    for q in queries {
        by_region.entry(q.region.as_str()).or_default().push(q);
    }
    for (region, qs) in by_region {
        let Some(cw) = c.cloudwatch.get(region) else {
            out.errors.insert(
                region.to_string(),
                format!("no CloudWatch client for {region} (a region the policy does not name)"),
            );
            continue;
        };
        let longest = qs.iter().map(|q| q.window).max().unwrap_or_default();
        // Whole minutes: CloudWatch aligns periods to them.
        let end = now - Duration::seconds(now.timestamp().rem_euclid(60)) + Duration::minutes(1);
        let start = end - longest - Duration::minutes(1);
        for batch in qs.chunks(MAX_QUERIES_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                out.calls += 1;
                let sent = cw
                    .get_metric_data()
                    .set_metric_data_queries(Some(batch.iter().map(|q| sdk_query(q)).collect()))
                    .start_time(aws_smithy_types::DateTime::from_secs(start.timestamp()))
                    .end_time(aws_smithy_types::DateTime::from_secs(end.timestamp()))
                    .set_next_token(token.clone())
                    .send()
                    .await;
                let page = match sent {
                    Ok(p) => p,
                    Err(e) => {
                        out.errors.insert(
                            region.to_string(),
                            AwsError::new("GetMetricData", &e).to_string(),
                        );
                        break;
                    }
                };
                for r in page.metric_data_results() {
                    let Some(id) = r.id() else { continue };
                    let window = batch
                        .iter()
                        .find(|q| q.id == id)
                        .map(|q| q.window)
                        .unwrap_or(longest);
                    let from = now - window;
                    let s = out.series.entry(id.to_string()).or_default();
                    for (t, v) in r.timestamps().iter().zip(r.values()) {
                        if let Some(t) = lifeboat_shared::aws_time(Some(t)) {
                            if t >= from - Duration::minutes(1) {
                                s.push((t, *v));
                            }
                        }
                    }
                }
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
        }
    }
    out
}

fn sdk_query(q: &Query) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(&q.namespace)
        .metric_name(&q.metric)
        .set_dimensions(Some(
            q.dimensions
                .iter()
                .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                .collect(),
        ))
        .build();
    MetricDataQuery::builder()
        .id(&q.id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(q.period_seconds)
                .stat(q.stat)
                .build(),
        )
        .return_data(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_per_run_are_one_per_500_queries() {
        assert_eq!(calls_for(0), 0);
        assert_eq!(calls_for(1), 1);
        assert_eq!(calls_for(500), 1);
        assert_eq!(calls_for(501), 2);
        assert_eq!(calls_for(1200), 3);
        assert!(covers("", "backups/"));
        assert!(covers("backups/", "backups/"));
        assert!(!covers("logs/", "backups/"));
    }

    #[test]
    fn what_lag_checks_do_not_read_is_read_back_to_the_last_full_check() {
        let p = Policy::parse(
            "version: 1\nbuckets: {backup: b-1}\nmonitoring:\n  rules:\n    - {name: r, namespace: N, metric: m, window: 10m, above: 1, severity: warning}\n",
        )
        .unwrap();
        let rule = &p.monitoring.rules[0];
        let now = DateTime::from_timestamp(1_795_219_200, 0).unwrap();
        let every = Duration::minutes(15);
        let ago = |m: i64| Some(now - Duration::minutes(m));
        // The full check 15 min after the last: failures and the 10-min rule over 15 min
        let since = since_full_check(ago(15), now, every);
        assert_eq!(since, Duration::minutes(15));
        assert_eq!(failures_read_back(since), Duration::minutes(15));
        assert_eq!(rule_read_back(rule, since), Duration::minutes(15));
        // A schedule of 10 minutes: the full check comes 20 min after the last, and reads 20
        let since = since_full_check(ago(20), now, every);
        assert_eq!(rule_read_back(rule, since), Duration::minutes(20));
        // The first run, or a clock set back: full_check_every; after two days: 3 hours
        assert_eq!(since_full_check(None, now, every), every);
        assert_eq!(since_full_check(ago(-30), now, every), every);
        assert_eq!(
            since_full_check(ago(2 * 24 * 60), now, every),
            Duration::hours(3)
        );
        // Every run full (1m): the rule's own window, 15 min of failures
        let since = since_full_check(ago(1), now, Duration::minutes(1));
        assert_eq!(failures_read_back(since), Duration::minutes(RECENT));
        assert_eq!(rule_read_back(rule, since), Duration::minutes(10));
    }

    #[test]
    fn the_backlog_is_read_only_where_latency_is_high_or_silent() {
        let policy = Policy::parse(
            "version: 1
buckets: {backup: b-1}
monitoring:
  replication:
    - {name: fast, source: {bucket: b-1}, replica: {bucket: b-2}}
    - {name: slow, source: {bucket: b-3}, replica: {bucket: b-4}}
    - {name: silent, source: {bucket: b-5}, replica: {bucket: b-6}}
    - {name: unread, source: {bucket: b-7}, replica: {bucket: b-8, region: us-west-2}, latency: {warning: 1m, critical: 2m}}
",
        )
        .unwrap();
        let q = |id: &str, pair: &str, region: &str| Query {
            id: id.into(),
            region: region.into(),
            namespace: "AWS/S3".into(),
            metric: "ReplicationLatency".into(),
            dimensions: vec![("SourceBucket".into(), pair.into())],
            stat: "Maximum",
            period_seconds: 60,
            window: Duration::minutes(RECENT),
            purpose: Purpose::Pair {
                pair: pair.into(),
                metric: "ReplicationLatency",
            },
        };
        let first = vec![
            q("q0", "fast", "us-east-1"),
            q("q1", "slow", "us-east-1"),
            q("q2", "silent", "us-east-1"),
            q("q3", "unread", "eu-west-1"),
        ];
        let at = DateTime::from_timestamp(1_795_219_200, 0).unwrap();
        let mut fetched = Fetched::default();
        // 40 s is under the 15 min warning; 30 min is above; "silent" has no datapoints
        fetched.series.insert("q0".into(), vec![(at, 40.0)]);
        fetched.series.insert("q1".into(), vec![(at, 1_800.0)]);
        fetched
            .errors
            .insert("eu-west-1".into(), "throttled".into());
        let more = pending_queries(&policy, &first, &fetched);
        let asked: Vec<(String, String, String)> = more
            .iter()
            .map(|m| {
                let Purpose::Pair { pair, .. } = &m.purpose else {
                    panic!()
                };
                (m.id.clone(), pair.clone(), m.metric.clone())
            })
            .collect();
        assert_eq!(
            asked,
            [
                ("q4", "slow", "OperationsPendingReplication"),
                ("q5", "slow", "BytesPendingReplication"),
                ("q6", "silent", "OperationsPendingReplication"),
                ("q7", "silent", "BytesPendingReplication"),
            ]
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        );
        assert!(more
            .iter()
            .all(|m| m.dimensions == first[1].dimensions || m.dimensions == first[2].dimensions));
    }
}
