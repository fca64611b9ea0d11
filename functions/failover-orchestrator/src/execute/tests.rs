//! The steps' AWS calls under `aws-smithy-mocks`, for what moto lacks or fakes: the retried
//! PromoteReadReplica that finds no read replica (moto answers a second promote with success),
//! Aurora global switchover/failover and ElastiCache global datastore failover (moto: HTTP 500),
//! Route 53 health-check status (moto: always healthy). Responses shaped as AWS documents them.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_elasticache::operation as ec_op;
use aws_sdk_rds::operation as rds_op;
use aws_sdk_rds::types::{DbCluster, DbInstance, Endpoint, GlobalCluster, GlobalClusterMember};
use aws_sdk_route53::operation::get_health_check_status::GetHealthCheckStatusOutput;
use aws_sdk_route53::types::{HealthCheckObservation, StatusReport};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use lifeboat_shared::policy::failover::{Action, AuroraGlobal, PromoteRdsReplica, RestoreRedis};
use lifeboat_shared::policy::Policy;

use super::*;
use crate::inventory::{Clients, Regional};
use crate::plan::{Phase, StepRun};

const POLICY: &str = "version: 1\nbuckets: {backup: shop-backups}\n";

fn regional(region: &str, rds: Vec<Rule>, ec: Vec<Rule>) -> Regional {
    let rds_refs: Vec<&Rule> = rds.iter().collect();
    let ec_refs: Vec<&Rule> = ec.iter().collect();
    let no_metrics = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .then_output(|| GetMetricDataOutput::builder().build());
    Regional {
        region: region.into(),
        rds: mock_client!(aws_sdk_rds, RuleMode::MatchAny, rds_refs.as_slice()),
        elasticache: mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, ec_refs.as_slice()),
        secrets: mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, &[]),
        ssm: mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[]),
        cloudwatch: mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[&no_metrics]),
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, &[]),
    }
}

fn clients(primary: Regional, dr: Regional, route53: Vec<Rule>) -> Clients {
    let refs: Vec<&Rule> = route53.iter().collect();
    let mut regions = BTreeMap::new();
    regions.insert(primary.region.clone(), primary);
    regions.insert(dr.region.clone(), dr);
    Clients {
        regions,
        route53: mock_client!(aws_sdk_route53, RuleMode::MatchAny, refs.as_slice()),
        sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, &[]),
    }
}

fn view(mode: Mode, allow_data_loss: bool) -> RunView {
    RunView {
        run_id: "20261207T100000Z-1a2b3c4d".into(),
        mode,
        plan: "region-failover".into(),
        primary_region: "us-east-1".into(),
        dr_region: "us-west-2".into(),
        rpo_seconds: 900,
        allow_data_loss,
        endpoints: BTreeMap::new(),
        approved: Default::default(),
        engines: BTreeMap::new(),
    }
}

fn step(action: Action) -> StepRun {
    StepRun::from_step(&lifeboat_shared::policy::failover::Step {
        name: "s".into(),
        action,
        depends_on: vec![],
        rto: lifeboat_shared::policy::Span::minutes(5),
    })
}

async fn run_until_done(cx: &Cx<'_>, v: &RunView, s: &mut StepRun) {
    for _ in 0..6 {
        advance(cx, v, s).await;
        if s.phase.terminal() {
            return;
        }
    }
}

fn instance(id: &str, status: &str, source: Option<&str>) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier(id)
        .db_instance_arn(format!("arn:aws:rds:us-west-2:123456789012:db:{id}"))
        .engine("postgres")
        .db_instance_status(status)
        .set_read_replica_source_db_instance_identifier(source.map(str::to_string))
        .endpoint(
            Endpoint::builder()
                .address(format!("{id}.xyz.us-west-2.rds.amazonaws.com"))
                .port(5432)
                .build(),
        )
        .build()
}

#[tokio::test]
async fn a_promote_retried_after_its_answer_was_lost_finds_no_read_replica_and_is_done() {
    // Given: the first PromoteReadReplica succeeded but its answer was lost; the SDK's retry
    // gets AWS's InvalidDBInstanceState "is not a read replica".
    let promote = mock!(aws_sdk_rds::Client::promote_read_replica).then_error(|| {
        rds_op::promote_read_replica::PromoteReadReplicaError::InvalidDbInstanceStateFault(
            aws_sdk_rds::types::error::InvalidDbInstanceStateFault::builder()
                .meta(
                    ErrorMetadata::builder()
                        .code("InvalidDBInstanceState")
                        .message("DB Instance is not a read replica.")
                        .build(),
                )
                .build(),
        )
    });
    let describe = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
        rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
            .db_instances(instance("orders-replica", "available", None))
            .build()
    });
    let c = clients(
        regional("us-east-1", vec![], vec![]),
        regional("us-west-2", vec![promote, describe], vec![]),
        vec![],
    );
    let policy = Policy::parse(POLICY).unwrap();
    let cx = Cx {
        policy: &policy,
        clients: &c,
        local_endpoints: &BTreeMap::new(),
        emulator: false,
    };
    let mut s = step(Action::PromoteRdsReplica(PromoteRdsReplica {
        replica: "orders-replica".into(),
        primary: "orders".into(),
    }));
    // When
    run_until_done(&cx, &view(Mode::Execute, false), &mut s).await;
    // Then: done, not failed, with the new endpoint
    assert_eq!(s.phase, Phase::Done, "{s:?}");
    assert!(s.detail.contains("promoted already"), "{}", s.detail);
    assert_eq!(s.endpoint.as_ref().map(|e| e.1), Some(5432));
}

#[tokio::test]
async fn an_available_replica_that_still_names_its_source_is_not_taken_for_promoted_on_aws() {
    let promote = mock!(aws_sdk_rds::Client::promote_read_replica)
        .then_output(|| rds_op::promote_read_replica::PromoteReadReplicaOutput::builder().build());
    let describe = mock!(aws_sdk_rds::Client::describe_db_instances)
        .sequence()
        .output(|| {
            rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .db_instances(instance("r", "available", Some("orders")))
                .build()
        })
        .output(|| {
            rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .db_instances(instance("r", "available", Some("orders")))
                .build()
        })
        .output(|| {
            rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .db_instances(instance("r", "modifying", Some("orders")))
                .build()
        })
        .output(|| {
            rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .db_instances(instance("r", "available", None))
                .build()
        })
        .repeatedly()
        .build();
    let c = clients(
        regional("us-east-1", vec![], vec![]),
        regional("us-west-2", vec![promote, describe], vec![]),
        vec![],
    );
    let policy = Policy::parse(POLICY).unwrap();
    let cx = Cx {
        policy: &policy,
        clients: &c,
        local_endpoints: &BTreeMap::new(),
        emulator: false,
    };
    let v = view(Mode::Execute, false);
    let mut s = step(Action::PromoteRdsReplica(PromoteRdsReplica {
        replica: "r".into(),
        primary: "orders".into(),
    }));
    advance(&cx, &v, &mut s).await; // promote requested
    advance(&cx, &v, &mut s).await; // available, still a replica: waiting
    advance(&cx, &v, &mut s).await; // still: waiting
    assert_eq!(s.phase, Phase::Running, "{s:?}");
    advance(&cx, &v, &mut s).await; // modifying
    advance(&cx, &v, &mut s).await; // available, standalone
    assert_eq!(s.phase, Phase::Done, "{s:?}");
}

fn global(writer_primary: bool, status: &str) -> GlobalCluster {
    GlobalCluster::builder()
        .global_cluster_identifier("orders-global")
        .status(status)
        .global_cluster_members(
            GlobalClusterMember::builder()
                .db_cluster_arn("arn:aws:rds:us-east-1:123456789012:cluster:orders-primary")
                .is_writer(writer_primary)
                .build(),
        )
        .global_cluster_members(
            GlobalClusterMember::builder()
                .db_cluster_arn("arn:aws:rds:us-west-2:123456789012:cluster:orders-dr")
                .is_writer(!writer_primary)
                .build(),
        )
        .build()
}

fn aurora_rules(primary_status: &'static str) -> (Vec<Rule>, Vec<Rule>) {
    let globals = mock!(aws_sdk_rds::Client::describe_global_clusters)
        .sequence()
        .output(|| {
            rds_op::describe_global_clusters::DescribeGlobalClustersOutput::builder()
                .global_clusters(global(true, "available"))
                .build()
        })
        .output(|| {
            rds_op::describe_global_clusters::DescribeGlobalClustersOutput::builder()
                .global_clusters(global(false, "available"))
                .build()
        })
        .repeatedly()
        .build();
    let dr_cluster = mock!(aws_sdk_rds::Client::describe_db_clusters).then_output(|| {
        rds_op::describe_db_clusters::DescribeDbClustersOutput::builder()
            .db_clusters(
                DbCluster::builder()
                    .db_cluster_identifier("orders-dr")
                    .engine("aurora-postgresql")
                    .status("available")
                    .endpoint("orders-dr.cluster-xyz.us-west-2.rds.amazonaws.com")
                    .port(5432)
                    .build(),
            )
            .build()
    });
    let switchover = mock!(aws_sdk_rds::Client::switchover_global_cluster)
        .match_requests(|r| {
            r.target_db_cluster_identifier()
                == Some("arn:aws:rds:us-west-2:123456789012:cluster:orders-dr")
        })
        .then_output(|| {
            rds_op::switchover_global_cluster::SwitchoverGlobalClusterOutput::builder().build()
        });
    let failover = mock!(aws_sdk_rds::Client::failover_global_cluster)
        .match_requests(|r| r.allow_data_loss() == Some(true))
        .then_output(|| {
            rds_op::failover_global_cluster::FailoverGlobalClusterOutput::builder().build()
        });
    let primary_cluster = mock!(aws_sdk_rds::Client::describe_db_clusters).then_output(move || {
        rds_op::describe_db_clusters::DescribeDbClustersOutput::builder()
            .db_clusters(
                DbCluster::builder()
                    .db_cluster_identifier("orders-primary")
                    .engine("aurora-postgresql")
                    .status(primary_status)
                    .build(),
            )
            .build()
    });
    (
        vec![primary_cluster],
        vec![globals, dr_cluster, switchover, failover],
    )
}

async fn aurora(primary_status: &'static str, allow_data_loss: bool) -> StepRun {
    let (p, d) = aurora_rules(primary_status);
    let c = clients(
        regional("us-east-1", p, vec![]),
        regional("us-west-2", d, vec![]),
        vec![],
    );
    let policy = Policy::parse(POLICY).unwrap();
    let cx = Cx {
        policy: &policy,
        clients: &c,
        local_endpoints: &BTreeMap::new(),
        emulator: false,
    };
    let mut s = step(Action::AuroraGlobal(AuroraGlobal {
        global_cluster: "orders-global".into(),
        target_cluster: "orders-dr".into(),
    }));
    run_until_done(&cx, &view(Mode::Execute, allow_data_loss), &mut s).await;
    s
}

#[tokio::test]
async fn aurora_global_switches_over_when_the_primary_is_healthy() {
    let s = aurora("available", false).await;
    assert_eq!(s.phase, Phase::Done, "{s:?}");
    assert!(
        s.detail.contains("SwitchoverGlobalCluster (no data loss)"),
        "{}",
        s.detail
    );
    assert_eq!(s.changes[0].before, "writer orders-primary");
}

#[tokio::test]
async fn aurora_global_fails_over_only_when_the_primary_is_down_and_data_loss_is_allowed() {
    let s = aurora("inaccessible-encryption-credentials", true).await;
    assert_eq!(s.phase, Phase::Done, "{s:?}");
    assert!(s.detail.contains("FailoverGlobalCluster"), "{}", s.detail);
    let s = aurora("inaccessible-encryption-credentials", false).await;
    assert_eq!(s.phase, Phase::Failed, "{s:?}");
    assert!(
        s.error
            .as_deref()
            .unwrap_or("")
            .contains("does not allow data loss"),
        "{s:?}"
    );
    assert!(s.next.as_deref().unwrap_or("").contains("allow_data_loss"));
}

#[tokio::test]
async fn an_elasticache_global_datastore_is_failed_over_to_the_dr_member() {
    use aws_sdk_elasticache::types::{
        Endpoint as EcEndpoint, GlobalReplicationGroup, GlobalReplicationGroupMember, NodeGroup,
        ReplicationGroup,
    };
    let gd = |primary_here: bool| {
        GlobalReplicationGroup::builder()
            .global_replication_group_id("ldgnf-sessions")
            .status("available")
            .members(
                GlobalReplicationGroupMember::builder()
                    .replication_group_id("sessions")
                    .replication_group_region("us-east-1")
                    .role(if primary_here { "SECONDARY" } else { "PRIMARY" })
                    .build(),
            )
            .members(
                GlobalReplicationGroupMember::builder()
                    .replication_group_id("sessions-dr")
                    .replication_group_region("us-west-2")
                    .role(if primary_here { "PRIMARY" } else { "SECONDARY" })
                    .build(),
            )
            .build()
    };
    let describe = mock!(aws_sdk_elasticache::Client::describe_global_replication_groups)
        .then_output(move || ec_op::describe_global_replication_groups::DescribeGlobalReplicationGroupsOutput::builder().global_replication_groups(gd(true)).build());
    let failover = mock!(aws_sdk_elasticache::Client::failover_global_replication_group)
        .match_requests(|r| {
            r.primary_region() == Some("us-west-2")
                && r.primary_replication_group_id() == Some("sessions-dr")
        })
        .then_output(|| {
            ec_op::failover_global_replication_group::FailoverGlobalReplicationGroupOutput::builder(
            )
            .build()
        });
    let group = mock!(aws_sdk_elasticache::Client::describe_replication_groups).then_output(|| {
        ec_op::describe_replication_groups::DescribeReplicationGroupsOutput::builder()
            .replication_groups(
                ReplicationGroup::builder()
                    .replication_group_id("sessions-dr")
                    .status("available")
                    .engine("redis")
                    .node_groups(
                        NodeGroup::builder()
                            .primary_endpoint(
                                EcEndpoint::builder()
                                    .address("sessions-dr.xyz.usw2.cache.amazonaws.com")
                                    .port(6379)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let c = clients(
        regional("us-east-1", vec![], vec![]),
        regional("us-west-2", vec![], vec![describe, failover, group]),
        vec![],
    );
    let policy = Policy::parse(POLICY).unwrap();
    let cx = Cx {
        policy: &policy,
        clients: &c,
        local_endpoints: &BTreeMap::new(),
        emulator: false,
    };
    let mut s = step(Action::RestoreRedis(RestoreRedis {
        target: "sessions-dr".into(),
        source_group: None,
        node_type: None,
        subnet_group: None,
        security_groups: vec![],
        global_datastore: Some("ldgnf-sessions".into()),
    }));
    run_until_done(&cx, &view(Mode::Execute, false), &mut s).await;
    assert_eq!(s.phase, Phase::Done, "{s:?}");
    assert_eq!(s.endpoint.as_ref().map(|e| e.1), Some(6379));
}

#[tokio::test]
async fn route53_health_checks_count_as_healthy_only_above_18_percent_of_checkers() {
    let obs = |ok: usize, bad: usize| {
        let mut out = GetHealthCheckStatusOutput::builder();
        for i in 0..ok + bad {
            let status = if i < ok {
                "Success: HTTP Status Code 200, OK"
            } else {
                "Failure: Connection timed out."
            };
            out = out.health_check_observations(
                HealthCheckObservation::builder()
                    .region(aws_sdk_route53::types::HealthCheckRegion::UsEast1)
                    .status_report(StatusReport::builder().status(status).build())
                    .build(),
            );
        }
        out.build().unwrap()
    };
    let down = mock!(aws_sdk_route53::Client::get_health_check_status)
        .match_requests(|r| r.health_check_id() == Some("hc-down"))
        .then_output(move || obs(1, 15));
    let up = mock!(aws_sdk_route53::Client::get_health_check_status)
        .match_requests(|r| r.health_check_id() == Some("hc-up"))
        .then_output(move || obs(15, 1));
    let c = clients(
        regional("us-east-1", vec![], vec![]),
        regional("us-west-2", vec![], vec![]),
        vec![down, up],
    );
    let h =
        crate::inventory::health_checks(&c, &["hc-down".to_string(), "hc-up".to_string()]).await;
    assert_eq!(h[0].healthy, Some(false), "{h:?}");
    assert_eq!(h[1].healthy, Some(true), "{h:?}");
}
