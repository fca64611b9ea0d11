//! S3 replication pairs and their canaries, database replicas and global secondaries, and AWS's
//! semantics the emulator forgave (issue 15).

use super::*;

#[test]
fn canary_arrived_late_and_missing() {
    let p = policy();
    let pair = &p.monitoring.replication[0];
    let cases: Vec<(Keys, Keys, State, &str)> = vec![
        // arrived 90 s after it was written: measured, OK
        (
            vec![canary(10, "r1"), canary(5, "r2")],
            vec![(
                canary(10, "r1").0,
                t(NOW) - Duration::minutes(10) + Duration::seconds(90),
            )],
            State::Ok,
            "arrived in 90 s",
        ),
        // written 20 min ago, not arrived: late (warning above 15 min)
        (
            vec![canary(20, "r1")],
            vec![],
            State::Warning,
            "a canary written 20 min ago has not arrived",
        ),
        // written 2 h ago, not arrived: missing (critical above 1 h), with its age
        (
            vec![canary(120, "r1"), canary(5, "r2")],
            vec![],
            State::Critical,
            "written 2 h ago",
        ),
        // the first canary in flight: no data yet, never OK
        (vec![canary(1, "r1")], vec![], State::NoData, "in flight"),
        // none written yet
        (vec![], vec![], State::NoData, "no canary written yet"),
    ];
    for (src, dst, state, words) in cases {
        let obs = Observations {
            pairs: [(pair.name.clone(), pair_obs(src.clone(), dst.clone()))]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let (s, d) = state_of(&run(&obs), "canary/backups-crr");
        assert_eq!(s, state, "{src:?} / {dst:?}: {d}");
        assert!(d.contains(words), "{d}");
    }
    // A canary older than the newest arrived one that never arrived is lost: a warning, and the
    // spent ones are removed
    let v = canary_view(
        pair,
        &[canary(30, "r0"), canary(20, "r1"), canary(10, "r2")],
        &[
            (canary(20, "r1").0, t(NOW) - Duration::minutes(19)),
            (canary(10, "r2").0, t(NOW) - Duration::minutes(9)),
        ],
        &Observations::default(),
        t(NOW),
    );
    assert_eq!(v.lost.len(), 1);
    assert_eq!(v.spent, vec![canary(20, "r1").0]);
    assert!(v.pending.is_empty());
    assert_eq!(
        canary_time("backups/lifeboat-canary/", &canary(20, "r1").0),
        Some(t(NOW) - Duration::minutes(20))
    );
}

#[test]
fn replication_configuration_versioning_and_metrics() {
    let p = policy();
    let name = p.monitoring.replication[0].name.clone();
    let mut o = pair_obs(vec![], vec![]);
    o.rules = Ok(None);
    if let Some(f) = o.full.as_mut() {
        f.replica_versioning = Ok(false);
    }
    let checks = run(&Observations {
        pairs: [(name.clone(), o)].into_iter().collect(),
        ..Default::default()
    });
    assert_eq!(
        state_of(&checks, "replication-config/backups-crr").0,
        State::Critical
    );
    let (s, d) = state_of(&checks, "replication-buckets/backups-crr");
    assert_eq!(s, State::Critical);
    assert!(d.contains("versioning is off on the replica bucket"), "{d}");
    // Metrics on, but no datapoints: NO DATA, never OK
    let checks = run(&Observations {
        pairs: [(name.clone(), pair_obs(vec![], vec![]))]
            .into_iter()
            .collect(),
        ..Default::default()
    });
    assert_eq!(
        state_of(&checks, "replication-latency/backups-crr").0,
        State::NoData
    );
    // Metrics off on the rule: a warning, nothing to measure
    let mut o = pair_obs(vec![], vec![]);
    if let Ok(Some(rules)) = &mut o.rules {
        rules[0].metrics = false;
    }
    let checks = run(&Observations {
        pairs: [(name, o)].into_iter().collect(),
        ..Default::default()
    });
    let (s, d) = state_of(&checks, "replication-latency/backups-crr");
    assert_eq!(s, State::Warning);
    assert!(d.contains("metrics are off"), "{d}");
}

#[test]
fn replicas_missing_broken_or_silent_are_findings() {
    let base = ReplicaObs {
        component: "orders-db".into(),
        id: "orders-replica".into(),
        region: "us-west-2".into(),
        kind: crate::inventory::ReplicaKind::ReadReplica,
        status: Some("available".into()),
        replication: Some(("replicating".into(), true, None)),
        unread: None,
        global: None,
    };
    let gone = ReplicaObs {
        status: None,
        ..base.clone()
    };
    let broken = ReplicaObs {
        replication: Some(("error".into(), false, Some("IO error".into()))),
        ..base.clone()
    };
    let checks = run(&Observations {
        replicas: vec![gone],
        ..Default::default()
    });
    assert_eq!(checks[0].state, State::Critical);
    let checks = run(&Observations {
        replicas: vec![broken],
        ..Default::default()
    });
    assert_eq!(checks[0].state, State::Critical);
    assert!(checks[0].detail.contains("replication is error: IO error"));
    // A new replica without data is "no data", not OK
    let checks = run(&Observations {
        replicas: vec![base],
        ..Default::default()
    });
    assert_eq!(checks[0].state, State::NoData);
}

#[test]
fn a_global_database_secondary_lag_against_the_levels_and_its_rpo_lag_against_the_rpo() {
    // Given catalog's global secondary (RPO 1 h; replica lag warning above 5 min, critical above
    // 15 min), its lag metrics read in its own region, with and without the primary's region
    let obs = replicas(global_secondary());
    let q = metrics::queries(&policy(), &obs, "us-east-1");
    let read: Vec<(&str, &str, usize)> = q
        .iter()
        .map(|q| (q.metric.as_str(), q.region.as_str(), q.dimensions.len()))
        .collect();
    assert_eq!(
        read,
        [
            ("AuroraGlobalDBReplicationLag", "us-west-2", 1),
            ("AuroraGlobalDBRPOLag", "us-west-2", 1),
            ("AuroraGlobalDBReplicationLag", "us-west-2", 2),
            ("AuroraGlobalDBRPOLag", "us-west-2", 2),
        ]
    );
    assert_eq!(
        q[2].dimensions[1],
        ("SourceRegion".to_string(), "us-east-1".to_string())
    );
    // When its lag (ms) and RPO lag (ms) are measured
    let cases: Vec<(f64, f64, State, &str)> = vec![
        (800.0, 900.0, State::Ok, "0 s behind"),
        (360_000.0, 360_000.0, State::Warning, "6 min behind"),
        (1_200_000.0, 1_200_000.0, State::Critical, "20 min behind"),
        // replication lag fine, but commits an hour and more behind: past the RPO
        (
            1_000.0,
            7_200_000.0,
            State::Critical,
            "RPO lag 2 h exceeds its RPO 60 min",
        ),
    ];
    for (lag, rpo, state, words) in cases {
        let checks = run_with(
            &obs,
            &[
                (lag_of("catalog-dr"), vec![lag, lag / 2.0]),
                (rpo_lag_of("catalog-dr"), vec![rpo]),
            ],
            &[],
        );
        let (s, d) = state_of(&checks, "replica/catalog catalog-dr");
        // Then the worse of the two decides, and both are said
        assert_eq!(s, state, "{lag}/{rpo}: {d}");
        assert!(d.contains(words), "{d}");
        assert!(d.contains("RPO lag"), "{d}");
        assert!(
            d.ends_with("it replicates from catalog in us-east-1 (global database catalog-global)"),
            "{d}"
        );
    }
    let (_, d) = state_of(
        &run_with(
            &obs,
            &[
                (lag_of("catalog-dr"), vec![800.0]),
                (rpo_lag_of("catalog-dr"), vec![900.0]),
            ],
            &[],
        ),
        "replica/catalog catalog-dr",
    );
    assert!(d.contains("RPO lag 0 s within its RPO 60 min"), "{d}");
}

#[test]
fn a_global_database_secondary_without_data_is_no_data_never_ok() {
    // Given no datapoints at all
    let obs = replicas(global_secondary());
    let (s, d) = state_of(&run_with(&obs, &[], &[]), "replica/catalog catalog-dr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("no lag datapoints"), "{d}");
    assert!(d.contains("no RPO lag datapoints"), "{d}");
    // Given a secondary in a region with no CloudWatch client (the policy does not name it)
    let mut far = global_secondary();
    far.region = "eu-west-1".into();
    let checks = run_with(
        &replicas(far),
        &[],
        &[(
            "eu-west-1",
            "no CloudWatch client for eu-west-1 (a region the policy does not name)",
        )],
    );
    let (s, d) = state_of(&checks, "replica/catalog catalog-dr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("no CloudWatch client for eu-west-1"), "{d}");
    assert!(
        d.contains("its RPO lag (AuroraGlobalDBRPOLag) could not be read"),
        "{d}"
    );
    // But an RPO lag above the RPO is critical even without a replication lag datapoint
    let (s, d) = state_of(
        &run_with(&obs, &[(rpo_lag_of("catalog-dr"), vec![4_000_000.0])], &[]),
        "replica/catalog catalog-dr",
    );
    assert_eq!(s, State::Critical, "{d}");
}

#[test]
fn a_broken_or_vanished_global_member_is_critical_and_a_selected_secondary_says_so() {
    // Given a member the global database lists as pending resync
    let mut broken = global_secondary();
    broken.replication = Some(("pending-resync".into(), false, None));
    let (s, d) = state_of(
        &run_with(
            &replicas(broken),
            &[(lag_of("catalog-dr"), vec![10.0])],
            &[],
        ),
        "replica/catalog catalog-dr",
    );
    assert_eq!(s, State::Critical, "{d}");
    assert!(
        d.starts_with("global database synchronization is pending-resync"),
        "{d}"
    );
    // Given a secondary the writer names but the global database no longer lists
    let mut gone = global_secondary();
    gone.status = None;
    gone.replication = None;
    let (s, d) = state_of(&run(&replicas(gone)), "replica/catalog catalog-dr");
    assert_eq!(s, State::Critical, "{d}");
    assert!(d.contains("does not exist"), "{d}");
    // Given the policy's cluster is itself the secondary: checked as its primary's replica
    let mut itself = global_secondary();
    itself.id = "catalog".into();
    itself.region = "us-east-1".into();
    if let Some(g) = itself.global.as_mut() {
        g.selected = true;
        g.primary = Some(("catalog-eu".into(), "eu-west-1".into()));
    }
    let (s, d) = state_of(
        &run_with(&replicas(itself), &[(lag_of("catalog"), vec![300.0])], &[]),
        "replica/catalog catalog",
    );
    assert_eq!(s, State::Ok, "{d}");
    assert!(
        d.contains(
            "the policy selects this secondary itself; it replicates from catalog-eu in eu-west-1"
        ),
        "{d}"
    );
}

#[test]
fn an_elasticache_global_datastore_secondary() {
    // Given sessions' secondary, its lag read per cache cluster in its own region
    let obs = replicas(datastore_secondary());
    let q = metrics::queries(&policy(), &obs, "us-east-1");
    let read: Vec<(&str, &str, &str)> = q
        .iter()
        .map(|q| {
            (
                q.namespace.as_str(),
                q.region.as_str(),
                q.dimensions[0].1.as_str(),
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            ("AWS/ElastiCache", "us-west-2", "sessions-dr-001"),
            ("AWS/ElastiCache", "us-west-2", "sessions-dr-002"),
        ]
    );
    assert!(q
        .iter()
        .all(|q| q.metric == "GlobalDatastoreReplicationLag"
            && q.dimensions[0].0 == "CacheClusterId"));
    // When its lag (seconds) is measured: against the replica lag levels
    for (lag, state, words) in [
        (2.0, State::Ok, "2 s behind"),
        (400.0, State::Warning, "6 min behind"),
        (1_000.0, State::Critical, "16 min behind"),
    ] {
        let (s, d) = state_of(
            &run_with(&obs, &[(lag_of("sessions-dr"), vec![lag])], &[]),
            "replica/sessions sessions-dr",
        );
        assert_eq!(s, state, "{lag}: {d}");
        assert!(d.contains(words), "{d}");
        assert!(d.ends_with("(global datastore ldgnf-sessions)"), "{d}");
    }
    let (s, _) = state_of(&run_with(&obs, &[], &[]), "replica/sessions sessions-dr");
    assert_eq!(s, State::NoData);
    // A membership other than associated is critical, with the status
    let mut associating = datastore_secondary();
    associating.replication = Some(("associating".into(), false, None));
    let (s, d) = state_of(
        &run_with(
            &replicas(associating),
            &[(lag_of("sessions-dr"), vec![1.0])],
            &[],
        ),
        "replica/sessions sessions-dr",
    );
    assert_eq!(s, State::Critical, "{d}");
    assert!(
        d.contains("global datastore membership is associating"),
        "{d}"
    );
    // Cache clusters that could not be read: no data, with the error
    let mut unread = datastore_secondary();
    if let Some(g) = unread.global.as_mut() {
        g.cache_clusters = Some(Err(
            "DescribeReplicationGroups sessions-dr: AccessDenied: no".into(),
        ));
    }
    let (s, d) = state_of(&run(&replicas(unread)), "replica/sessions sessions-dr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("AccessDenied"), "{d}");
}

#[test]
fn a_global_database_or_datastore_that_could_not_be_read_is_no_data() {
    let obs = Observations {
        unread_globals: vec![
            (
                "catalog".into(),
                "catalog-global".into(),
                "DescribeGlobalClusters: AccessDenied: not authorized".into(),
            ),
            (
                "sessions".into(),
                "ldgnf-sessions".into(),
                "it does not list sessions among its members".into(),
            ),
        ],
        ..Default::default()
    };
    let checks = run(&obs);
    let (s, d) = state_of(&checks, "replica/catalog catalog-global");
    assert_eq!(s, State::NoData);
    assert_eq!(
        d,
        "catalog-global could not be checked: DescribeGlobalClusters: AccessDenied: not authorized"
    );
    assert_eq!(
        state_of(&checks, "replica/sessions ldgnf-sessions").0,
        State::NoData
    );
}

#[test]
fn the_backlog_explains_a_high_or_silent_latency_and_a_failed_backlog_read_is_said() {
    let p = policy();
    let obs = Observations {
        pairs: [("backups-crr".to_string(), pair_obs(vec![], vec![]))]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let first = metrics::queries(&p, &obs, "us-east-1");
    let latency_id = |q: &[metrics::Query]| {
        q.iter()
            .find(|q| q.metric == "ReplicationLatency")
            .map(|q| q.id.clone())
            .unwrap()
    };
    let at = t(NOW) - Duration::minutes(1);
    // Given a latency of 30 minutes, whose backlog read then failed
    let mut high = Fetched {
        primary_region: "us-east-1".into(),
        ..Fetched::default()
    };
    high.series.insert(latency_id(&first), vec![(at, 1_800.0)]);
    let backlog = metrics::pending_queries(&p, &first, &high);
    assert_eq!(backlog.len(), 2);
    // (the backlog is read in the destination's region, us-west-2)
    high.merge_backlog(Fetched {
        errors: [(
            "us-west-2".to_string(),
            "GetMetricData: ThrottlingException".to_string(),
        )]
        .into_iter()
        .collect(),
        calls: 1,
        ..Fetched::default()
    });
    let all: Vec<metrics::Query> = first.iter().chain(&backlog).cloned().collect();
    let checks = evaluate(&p, &obs, &all, &high, t(NOW)).checks;
    // Then the latency still stands (a warning), and says its backlog could not be read
    let (s, d) = state_of(&checks, "replication-latency/backups-crr");
    assert_eq!(s, State::Warning);
    assert!(
        d.ends_with("; its backlog could not be read (GetMetricData: ThrottlingException)"),
        "{d}"
    );
    // Given no latency datapoints but 42 operations pending
    let mut silent = Fetched {
        primary_region: "us-east-1".into(),
        ..Fetched::default()
    };
    let backlog = metrics::pending_queries(&p, &first, &silent);
    let pending_id = backlog
        .iter()
        .find(|q| q.metric == "OperationsPendingReplication")
        .map(|q| q.id.clone())
        .unwrap();
    silent.series.insert(pending_id, vec![(at, 42.0)]);
    let all: Vec<metrics::Query> = first.iter().chain(&backlog).cloned().collect();
    let checks = evaluate(&p, &obs, &all, &silent, t(NOW)).checks;
    // Then the NO DATA names the backlog: replication is stuck, not idle
    let (s, d) = state_of(&checks, "replication-latency/backups-crr");
    assert_eq!(s, State::NoData);
    assert!(d.ends_with("; 42 operations pending"), "{d}");
}

#[test]
fn a_replica_with_the_source_time_arrived_when_a_run_first_saw_it() {
    let p = policy();
    let pair = &p.monitoring.replication[0];
    let (key, written) = canary(20, "r1");
    let rk = key.clone();
    let source = vec![(key.clone(), written)];
    // Given the replica as S3 lists it: with the source object's time, not its arrival
    let replica = vec![(rk.clone(), written)];
    let history = |seen: Option<i64>, looked: Option<i64>| Observations {
        canaries_seen: seen
            .map(|m| (rk.clone(), written + Duration::minutes(m)))
            .into_iter()
            .collect(),
        canaries_looked: looked
            .map(|m| (rk.clone(), written + Duration::minutes(m)))
            .into_iter()
            .collect(),
        ..Default::default()
    };
    // When a lag check first saw it 5 minutes after it was written
    let v = canary_view(pair, &source, &replica, &history(Some(5), None), t(NOW));
    // Then it arrived within 5 minutes, said as a bound
    let (_, w, a) = v.newest_arrived.clone().unwrap();
    assert_eq!(a - w, Duration::minutes(5));
    assert!(v.arrival_seen);
    // And seen for the first time by this run, it arrived by now, after the last look
    let v = canary_view(pair, &source, &replica, &history(None, Some(10)), t(NOW));
    let (_, w, a) = v.newest_arrived.unwrap();
    assert_eq!(a - w, Duration::minutes(20));
    assert_eq!(v.arrived_after, Some(written + Duration::minutes(10)));
    // A store that stamps arrival on the replica (later than the source object) is believed
    let stamped = vec![(rk.clone(), written + Duration::seconds(40))];
    let v = canary_view(pair, &source, &stamped, &history(None, None), t(NOW));
    let (_, w, a) = v.newest_arrived.unwrap();
    assert_eq!((a - w, v.arrival_seen), (Duration::seconds(40), false));
    // The check: late only by what the runs saw. Not looked for in 20 minutes (the first look
    // found it): OK, "between"; looked for at 16 minutes and not there: a warning (above 15)
    let obs = |h: Observations| Observations {
        pairs: [(pair.name.clone(), pair_obs(source.clone(), replica.clone()))]
            .into_iter()
            .collect(),
        ..h
    };
    let (s, d) = state_of(&run(&obs(history(None, None))), "canary/backups-crr");
    assert_eq!(s, State::Ok, "{d}");
    assert!(
        d.starts_with("the last canary arrived between 0 s and 20 min"),
        "{d}"
    );
    let (s, d) = state_of(&run(&obs(history(None, Some(16)))), "canary/backups-crr");
    assert_eq!(s, State::Warning, "{d}");
    let (s, d) = state_of(&run(&obs(history(Some(5), Some(0)))), "canary/backups-crr");
    assert_eq!(s, State::Ok, "{d}");
    assert!(d.starts_with("the last canary arrived within 5 min"), "{d}");
}

#[test]
fn s3_replication_metrics_are_read_where_aws_publishes_them() {
    // Given a pair from us-east-1 to us-west-2, in a full check
    let p = policy();
    let obs = cross_region_obs("backups-to-dr");
    // When its queries are made (and the backlog's, for a silent latency)
    let first = metrics::queries(&p, &obs, "us-east-1");
    let backlog = metrics::pending_queries(&p, &first, &Fetched::default());
    // Then latency and the backlog are asked of the destination's region, failures of the
    // source's
    let region_of = |m: &str| -> Vec<String> {
        first
            .iter()
            .chain(&backlog)
            .filter(|q| q.metric == m)
            .map(|q| q.region.clone())
            .collect()
    };
    assert_eq!(region_of("ReplicationLatency"), ["us-west-2"]);
    assert_eq!(region_of("OperationsPendingReplication"), ["us-west-2"]);
    assert_eq!(region_of("BytesPendingReplication"), ["us-west-2"]);
    assert_eq!(region_of("OperationsFailedReplication"), ["us-east-1"]);
    // and a latency read that failed in the destination's region says that region's error
    let checks = run_with(
        &obs,
        &[],
        &[("us-west-2", "AccessDenied: not in us-west-2")],
    );
    let (s, d) = state_of(&checks, "replication-latency/backups-crr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("not in us-west-2"), "{d}");
}

#[test]
fn failed_replications_without_datapoints_are_no_data_not_a_pass() {
    // Given a pair whose metrics answer no datapoints at all (and, next, whose source region's
    // read failed)
    let obs = cross_region_obs("backups-to-dr");
    let checks = run_with(&obs, &[], &[]);
    let (s, d) = state_of(&checks, "replication-failures/backups-crr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(!d.contains("-0"), "{d}");
    let checks = run_with(&obs, &[], &[("us-east-1", "Throttling: slow down")]);
    let (s, d) = state_of(&checks, "replication-failures/backups-crr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("Throttling"), "{d}");
    // and zero failures counted is a pass that says 0
    let failed = Purpose::Pair {
        pair: "backups-crr".into(),
        metric: "OperationsFailedReplication",
    };
    let checks = run_with(&obs, &[(failed, vec![0.0, 0.0])], &[]);
    let (s, d) = state_of(&checks, "replication-failures/backups-crr");
    assert_eq!(s, State::Ok, "{d}");
    assert!(d.starts_with("0 operations failed"), "{d}");
}

#[test]
fn a_rule_without_an_id_never_sends_an_empty_rule_id() {
    // Given the covering rule has no ID
    let p = policy();
    let obs = cross_region_obs("");
    // When the queries are made
    let q = metrics::queries(&p, &obs, "us-east-1");
    // Then no query carries an empty dimension value (CloudWatch refuses the whole call)
    assert!(
        q.iter()
            .all(|q| q.dimensions.iter().all(|(_, v)| !v.is_empty())),
        "{q:#?}"
    );
    // and the latency check says why it cannot be read
    let checks = run_with(&obs, &[], &[]);
    let (s, d) = state_of(&checks, "replication-latency/backups-crr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("no ID"), "{d}");
}

#[test]
fn replica_lag_of_minus_one_is_replication_not_active() {
    // Given a read replica whose newest ReplicaLag is -1 (AWS: replication is not active)
    let r = ReplicaObs {
        component: "orders-db".into(),
        id: "orders-replica".into(),
        region: "us-east-1".into(),
        kind: ReplicaKind::ReadReplica,
        status: Some("available".into()),
        replication: Some(("replicating".into(), true, None)),
        unread: None,
        global: None,
    };
    // (newest first)
    let checks = run_with(
        &replicas(r.clone()),
        &[(lag_of("orders-replica"), vec![-1.0, -1.0, 2.0])],
        &[],
    );
    assert_eq!(checks[0].state, State::Critical, "{}", checks[0].detail);
    assert!(
        checks[0].detail.contains("not active"),
        "{}",
        checks[0].detail
    );
    // and a replica that was stopped and is back is measured on its real lag
    let checks = run_with(
        &replicas(r),
        &[(lag_of("orders-replica"), vec![3.0, -1.0])],
        &[],
    );
    assert_eq!(checks[0].state, State::Ok, "{}", checks[0].detail);
    assert!(
        checks[0].detail.starts_with("3 s behind"),
        "{}",
        checks[0].detail
    );
}

#[test]
fn the_canary_is_looked_for_under_the_same_key_in_the_replica() {
    // Given a pair whose replica has no prefix of its own (S3 replication keeps keys)
    let p = Policy::parse(
        "version: 1
buckets: {backup: backups-primary}
monitoring:
  replication:
    - {name: backups-crr, source: {bucket: backups-primary, prefix: backups/}, replica: {bucket: backups-dr, region: us-west-2}}
",
    )
    .unwrap();
    let pair = &p.monitoring.replication[0];
    // When the canary written 10 min ago is in the replica under its own key
    let written = canary(10, "r1");
    let v = canary_view(
        pair,
        std::slice::from_ref(&written),
        &[(written.0.clone(), t(NOW) - Duration::minutes(9))],
        &Observations::default(),
        t(NOW),
    );
    // Then it arrived
    assert!(v.pending.is_empty(), "{v:?}");
    assert_eq!(v.newest_arrived.map(|(k, _, _)| k), Some(written.0));
}

#[test]
fn a_rule_filtered_by_tags_is_said_and_the_canary_carries_its_tags() {
    use aws_sdk_s3::types as s3;
    // Given the pair's rule as S3 answers it: prefix and two tags under And
    let sdk = s3::ReplicationRule::builder()
        .id("backups-to-dr")
        .status(s3::ReplicationRuleStatus::Enabled)
        .filter(
            s3::ReplicationRuleFilter::builder()
                .and(
                    s3::ReplicationRuleAndOperator::builder()
                        .prefix("backups/")
                        .tags(
                            s3::Tag::builder()
                                .key("replicate")
                                .value("dr")
                                .build()
                                .unwrap(),
                        )
                        .tags(
                            s3::Tag::builder()
                                .key("tier")
                                .value("gold")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build(),
        )
        .destination(
            s3::Destination::builder()
                .bucket("arn:aws:s3:::backups-dr")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let rule = crate::inventory::rule_from_sdk(&sdk);
    let tags = vec![
        ("replicate".to_string(), "dr".to_string()),
        ("tier".to_string(), "gold".to_string()),
    ];
    assert_eq!(rule.prefix, "backups/");
    assert_eq!(rule.tags, tags);
    // When the pair is checked
    let p = policy();
    let mut o = pair_obs(vec![], vec![]);
    o.rules = Ok(Some(vec![rule.clone()]));
    // Then the configuration check says the rule covers only the tagged objects
    let checks = run(&Observations {
        pairs: [(p.monitoring.replication[0].name.clone(), o.clone())]
            .into_iter()
            .collect(),
        ..Default::default()
    });
    let (s, d) = state_of(&checks, "replication-config/backups-crr");
    assert_eq!(s, State::Ok, "{d}");
    assert!(
        d.contains("objects tagged replicate=dr, tier=gold (only those"),
        "{d}"
    );
    // and the canary carries the tags (none when a rule without tags covers the pair too)
    let pair = &p.monitoring.replication[0];
    assert_eq!(canary_tags(pair, Some(&o)), tags);
    assert_eq!(
        crate::execute::tagging(&[("a b".into(), "x/y".into()), ("k".into(), "v".into())]),
        "a%20b=x%2Fy&k=v"
    );
    if let Ok(Some(rules)) = &mut o.rules {
        rules.push(ReplicationRule {
            id: "everything".into(),
            tags: vec![],
            prefix: String::new(),
            ..rule
        });
    }
    assert!(canary_tags(pair, Some(&o)).is_empty());
}
