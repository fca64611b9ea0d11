//! The steps' AWS calls under `aws-smithy-mocks`, for what moto lacks or fakes: the retried
//! PromoteReadReplica that finds no read replica (moto answers a second promote with success),
//! Aurora global switchover/failover and ElastiCache global datastore failover (moto: HTTP 500),
//! Route 53 health-check status (moto: always healthy), creates retried after a lost answer
//! (a drill's secret copy, a restore: adopted only when tagged with this run), failback's
//! replica of an encrypted writer. Responses shaped as AWS documents them.
//!
//! Every mocked client is in its region and records its requests (`lifeboat_shared::call_log`,
//! with LIFEBOAT_CALL_LOG set) for the permission check, under the names of the tests' world
//! (scripts/iam/test-parameters.json: account 123456789012, us-east-1, DR us-west-2, the plan
//! region-failover's ecommerce-prod-db, its replica and its app secret).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::operation::get_metric_data::GetMetricDataOutput;
use aws_sdk_elasticache::operation as ec_op;
use aws_sdk_rds::operation as rds_op;
use aws_sdk_rds::types::{
    DbCluster, DbInstance, DbSnapshot, Endpoint, GlobalCluster, GlobalClusterMember,
};
use aws_sdk_route53::operation::get_health_check_status::GetHealthCheckStatusOutput;
use aws_sdk_route53::types::{HealthCheckObservation, StatusReport};
use aws_sdk_secretsmanager::operation as sm_op;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use lifeboat_shared::call_log::Recorder;
use lifeboat_shared::policy::failover::{
    Action, AuroraGlobal, PromoteRdsReplica, RestoreRds, RestoreRedis, UpdateSecret,
};
use lifeboat_shared::policy::Policy;

use super::*;
use crate::inventory::{Clients, Regional};
use crate::plan::{Phase, StepRun};

const POLICY: &str = "version: 1\nbuckets: {backup: shop-backups}\n";
const APP: &str = "lifeboat-failover-orchestrator";
const PRIMARY: &str = "us-east-1";
const DR: &str = "us-west-2";
const RUN: &str = "20261207T100000Z-1a2b3c4d";
const PRIMARY_DB: &str = "ecommerce-prod-db";
const REPLICA: &str = "ecommerce-prod-db-replica";

/// A mocked client of `$sdk` in `$region` whose requests `$rec` records.
macro_rules! recorded_client {
    ($sdk: ident, $region: expr, $rules: expr, $rec: expr) => {{
        let region = $sdk::config::Region::new($region.to_string());
        let rec: &Recorder = $rec;
        mock_client!($sdk, RuleMode::MatchAny, $rules, |c| c
            .region(region.clone())
            .interceptor(rec.clone()))
    }};
}

fn recorder() -> Recorder {
    Recorder::new(APP)
}

fn regional(region: &str, rds: Vec<Rule>, ec: Vec<Rule>) -> Regional {
    regional_in(&recorder(), region, rds, ec, vec![])
}

fn regional_in(
    rec: &Recorder,
    region: &str,
    rds: Vec<Rule>,
    ec: Vec<Rule>,
    secrets: Vec<Rule>,
) -> Regional {
    let rds_refs: Vec<&Rule> = rds.iter().collect();
    let ec_refs: Vec<&Rule> = ec.iter().collect();
    let secret_refs: Vec<&Rule> = secrets.iter().collect();
    let no_metrics = mock!(aws_sdk_cloudwatch::Client::get_metric_data)
        .then_output(|| GetMetricDataOutput::builder().build());
    Regional {
        region: region.into(),
        rds: recorded_client!(aws_sdk_rds, region, rds_refs.as_slice(), rec),
        elasticache: recorded_client!(aws_sdk_elasticache, region, ec_refs.as_slice(), rec),
        secrets: recorded_client!(aws_sdk_secretsmanager, region, secret_refs.as_slice(), rec),
        ssm: recorded_client!(aws_sdk_ssm, region, &[], rec),
        cloudwatch: recorded_client!(aws_sdk_cloudwatch, region, &[&no_metrics], rec),
        s3: recorded_client!(aws_sdk_s3, region, &[], rec),
    }
}

fn clients(primary: Regional, dr: Regional, route53: Vec<Rule>) -> Clients {
    let refs: Vec<&Rule> = route53.iter().collect();
    let rec = recorder();
    let mut regions = BTreeMap::new();
    regions.insert(primary.region.clone(), primary);
    regions.insert(dr.region.clone(), dr);
    Clients {
        regions,
        // Route 53 is served (and signed) from us-east-1.
        route53: recorded_client!(aws_sdk_route53, "us-east-1", refs.as_slice(), &rec),
        sfn: recorded_client!(aws_sdk_sfn, PRIMARY, &[], &rec),
    }
}

fn view(mode: Mode, allow_data_loss: bool) -> RunView {
    RunView {
        run_id: RUN.into(),
        mode,
        plan: "region-failover".into(),
        primary_region: PRIMARY.into(),
        dr_region: DR.into(),
        rpo_seconds: 900,
        allow_data_loss,
        endpoints: BTreeMap::new(),
        approved: Default::default(),
        engines: BTreeMap::new(),
        memos: BTreeMap::new(),
    }
}

fn step(name: &str, action: Action) -> StepRun {
    StepRun::from_step(&lifeboat_shared::policy::failover::Step {
        name: name.into(),
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

/// An instance of `region` as DescribeDBInstances answers (to finish with more fields).
fn instance_in(
    region: &str,
    id: &str,
    status: &str,
    source: Option<&str>,
) -> aws_sdk_rds::types::builders::DbInstanceBuilder {
    DbInstance::builder()
        .db_instance_identifier(id)
        .db_instance_arn(format!("arn:aws:rds:{region}:123456789012:db:{id}"))
        .engine("postgres")
        .db_instance_status(status)
        .set_read_replica_source_db_instance_identifier(source.map(str::to_string))
        .endpoint(
            Endpoint::builder()
                .address(format!("{id}.abcdefghijkl.{region}.rds.amazonaws.com"))
                .port(5432)
                .build(),
        )
}

fn instance(id: &str, status: &str, source: Option<&str>) -> DbInstance {
    instance_in(DR, id, status, source).build()
}

fn rds_tag(k: &str, v: &str) -> aws_sdk_rds::types::Tag {
    aws_sdk_rds::types::Tag::builder().key(k).value(v).build()
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
            .db_instances(instance(REPLICA, "available", None))
            .build()
    });
    let c = clients(
        regional(PRIMARY, vec![], vec![]),
        regional(DR, vec![promote, describe], vec![]),
        vec![],
    );
    let policy = Policy::parse(POLICY).unwrap();
    let cx = Cx {
        policy: &policy,
        clients: &c,
        local_endpoints: &BTreeMap::new(),
        emulator: false,
    };
    let mut s = step(
        "promote-orders-db",
        Action::PromoteRdsReplica(PromoteRdsReplica {
            replica: REPLICA.into(),
            primary: PRIMARY_DB.into(),
        }),
    );
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
                .db_instances(instance(REPLICA, "available", Some(PRIMARY_DB)))
                .build()
        })
        .output(|| {
            rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .db_instances(instance(REPLICA, "available", Some(PRIMARY_DB)))
                .build()
        })
        .output(|| {
            rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .db_instances(instance(REPLICA, "modifying", Some(PRIMARY_DB)))
                .build()
        })
        .output(|| {
            rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .db_instances(instance(REPLICA, "available", None))
                .build()
        })
        .repeatedly()
        .build();
    let c = clients(
        regional(PRIMARY, vec![], vec![]),
        regional(DR, vec![promote, describe], vec![]),
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
    let mut s = step(
        "promote-orders-db",
        Action::PromoteRdsReplica(PromoteRdsReplica {
            replica: REPLICA.into(),
            primary: PRIMARY_DB.into(),
        }),
    );
    advance(&cx, &v, &mut s).await; // promote requested
    advance(&cx, &v, &mut s).await; // available, still a replica: waiting
    advance(&cx, &v, &mut s).await; // still: waiting
    assert_eq!(s.phase, Phase::Running, "{s:?}");
    advance(&cx, &v, &mut s).await; // modifying
    advance(&cx, &v, &mut s).await; // available, standalone
    assert_eq!(s.phase, Phase::Done, "{s:?}");
}

/// The Aurora global database of the catalog: catalog-aurora (us-east-1, the seeded cluster)
/// and its secondary catalog-aurora-dr (us-west-2).
const GLOBAL_CLUSTER: &str = "catalog-aurora-global";
/// The ElastiCache global datastore of ecommerce-redis-cluster (AWS prefixes the id given).
const GLOBAL_DATASTORE: &str = "ldgnf-ecommerce-redis";

fn global(writer_primary: bool, status: &str) -> GlobalCluster {
    GlobalCluster::builder()
        .global_cluster_identifier(GLOBAL_CLUSTER)
        .status(status)
        .global_cluster_members(
            GlobalClusterMember::builder()
                .db_cluster_arn("arn:aws:rds:us-east-1:123456789012:cluster:catalog-aurora")
                .is_writer(writer_primary)
                .build(),
        )
        .global_cluster_members(
            GlobalClusterMember::builder()
                .db_cluster_arn("arn:aws:rds:us-west-2:123456789012:cluster:catalog-aurora-dr")
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
                    .db_cluster_identifier("catalog-aurora-dr")
                    .engine("aurora-postgresql")
                    .status("available")
                    .endpoint("catalog-aurora-dr.cluster-abcdefghijkl.us-west-2.rds.amazonaws.com")
                    .port(5432)
                    .build(),
            )
            .build()
    });
    let switchover = mock!(aws_sdk_rds::Client::switchover_global_cluster)
        .match_requests(|r| {
            r.target_db_cluster_identifier()
                == Some("arn:aws:rds:us-west-2:123456789012:cluster:catalog-aurora-dr")
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
                    .db_cluster_identifier("catalog-aurora")
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
        regional(PRIMARY, p, vec![]),
        regional(DR, d, vec![]),
        vec![],
    );
    let policy = Policy::parse(POLICY).unwrap();
    let cx = Cx {
        policy: &policy,
        clients: &c,
        local_endpoints: &BTreeMap::new(),
        emulator: false,
    };
    let mut s = step(
        "catalog-global",
        Action::AuroraGlobal(AuroraGlobal {
            global_cluster: GLOBAL_CLUSTER.into(),
            target_cluster: "catalog-aurora-dr".into(),
        }),
    );
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
    assert_eq!(s.changes[0].before, "writer catalog-aurora");
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
            .global_replication_group_id(GLOBAL_DATASTORE)
            .status("available")
            .members(
                GlobalReplicationGroupMember::builder()
                    .replication_group_id("ecommerce-redis-cluster")
                    .replication_group_region(PRIMARY)
                    .role(if primary_here { "SECONDARY" } else { "PRIMARY" })
                    .build(),
            )
            .members(
                GlobalReplicationGroupMember::builder()
                    .replication_group_id("ecommerce-redis-cluster-dr")
                    .replication_group_region(DR)
                    .role(if primary_here { "PRIMARY" } else { "SECONDARY" })
                    .build(),
            )
            .build()
    };
    let describe = mock!(aws_sdk_elasticache::Client::describe_global_replication_groups)
        .then_output(move || ec_op::describe_global_replication_groups::DescribeGlobalReplicationGroupsOutput::builder().global_replication_groups(gd(true)).build());
    let failover = mock!(aws_sdk_elasticache::Client::failover_global_replication_group)
        .match_requests(|r| {
            r.primary_region() == Some(DR)
                && r.primary_replication_group_id() == Some("ecommerce-redis-cluster-dr")
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
                    .replication_group_id("ecommerce-redis-cluster-dr")
                    .status("available")
                    .engine("redis")
                    .node_groups(
                        NodeGroup::builder()
                            .primary_endpoint(
                                EcEndpoint::builder()
                                    .address("ecommerce-redis-cluster-dr.abcdef.usw2.cache.amazonaws.com")
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
        regional(PRIMARY, vec![], vec![]),
        regional(DR, vec![], vec![describe, failover, group]),
        vec![],
    );
    let policy = Policy::parse(POLICY).unwrap();
    let cx = Cx {
        policy: &policy,
        clients: &c,
        local_endpoints: &BTreeMap::new(),
        emulator: false,
    };
    let mut s = step(
        "sessions",
        Action::RestoreRedis(RestoreRedis {
            target: "ecommerce-redis-cluster-dr".into(),
            source_group: None,
            node_type: None,
            subnet_group: None,
            security_groups: vec![],
            global_datastore: Some(GLOBAL_DATASTORE.into()),
        }),
    );
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
        regional(PRIMARY, vec![], vec![]),
        regional(DR, vec![], vec![]),
        vec![down, up],
    );
    let h =
        crate::inventory::health_checks(&c, &["hc-down".to_string(), "hc-up".to_string()]).await;
    assert_eq!(h[0].healthy, Some(false), "{h:?}");
    assert_eq!(h[1].healthy, Some(true), "{h:?}");
}

/// The plan's application secret in the DR region, as AWS names it (a 6-character suffix).
const APP_SECRET: &str = "ecommerce-prod-db-app";
const APP_SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-west-2:123456789012:secret:ecommerce-prod-db-app-Ab12Cd";

/// A drill's update-secret whose CreateSecret of the copy is answered ResourceExistsException
/// (the SDK's retry after the first create's answer was lost, or another drill's copy of that
/// name), the copy tagged with `copy_run`'s run id. Returns the step and the copy's name.
async fn drill_secret_copy_retried(copy_run: &str) -> (StepRun, String) {
    let copy = format!("{APP_SECRET}-{}", drill_name(RUN, "orders-secret"));
    let copy_arn = format!("arn:aws:secretsmanager:{DR}:123456789012:secret:{copy}-Xy34Zw");
    let copy_tags: Vec<(String, String)> = [
        (TAG_PURPOSE, DRILL_PURPOSE),
        (TAG_RUN, copy_run),
        ("lifeboat:plan", "region-failover"),
        (TAG_EXPIRES, "2026-12-07T16:00:00Z"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let tag_refs: Vec<(&str, &str)> = copy_tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // What AWS holds: the app secret, and the copy with its tags (the check's aws:ResourceTag).
    let rec =
        recorder()
            .holds(APP_SECRET_ARN, &[APP_SECRET], &[])
            .holds(&copy_arn, &[&copy], &tag_refs);
    let read = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .match_requests(|r| r.secret_id() == Some(APP_SECRET))
        .then_output(|| {
            sm_op::get_secret_value::GetSecretValueOutput::builder()
                .arn(APP_SECRET_ARN)
                .name(APP_SECRET)
                .version_id("a1b2c3d4-0000-4000-8000-000000000001")
                .secret_string(r#"{"engine":"postgres","host":"ecommerce-prod-db.abcdefghijkl.us-east-1.rds.amazonaws.com","port":5432,"username":"app","password":"not-real"}"#)
                .build()
        });
    let wanted = copy.clone();
    let create = mock!(aws_sdk_secretsmanager::Client::create_secret)
        .match_requests(move |r| {
            r.name() == Some(wanted.as_str())
                && r.tags()
                    .iter()
                    .any(|t| t.key() == Some(TAG_PURPOSE) && t.value() == Some(DRILL_PURPOSE))
                && r.tags()
                    .iter()
                    .any(|t| t.key() == Some(TAG_RUN) && t.value() == Some(RUN))
        })
        .then_error(|| {
            sm_op::create_secret::CreateSecretError::ResourceExistsException(
                aws_sdk_secretsmanager::types::error::ResourceExistsException::builder()
                    .message("The operation failed because the secret already exists.")
                    .meta(
                        ErrorMetadata::builder()
                            .code("ResourceExistsException")
                            .build(),
                    )
                    .build(),
            )
        });
    let (name, arn) = (copy.clone(), copy_arn.clone());
    let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret)
        .match_requests({
            let copy = copy.clone();
            move |r| r.secret_id() == Some(copy.as_str())
        })
        .then_output(move || {
            let mut out = sm_op::describe_secret::DescribeSecretOutput::builder()
                .arn(&arn)
                .name(&name);
            for (k, v) in &copy_tags {
                out = out.tags(
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build(),
                );
            }
            out.build()
        });
    let c = clients(
        regional_in(&rec, PRIMARY, vec![], vec![], vec![]),
        regional_in(&rec, DR, vec![], vec![], vec![read, create, describe]),
        vec![],
    );
    let policy = Policy::parse(POLICY).unwrap();
    let cx = Cx {
        policy: &policy,
        clients: &c,
        local_endpoints: &BTreeMap::new(),
        emulator: false,
    };
    let mut v = view(Mode::Drill, false);
    v.endpoints.insert(
        "promote-orders-db".into(),
        (
            format!(
                "{}.abcdefghijkl.us-west-2.rds.amazonaws.com",
                drill_name(RUN, "promote-orders-db")
            ),
            5432,
        ),
    );
    let mut s = step(
        "orders-secret",
        Action::UpdateSecret(UpdateSecret {
            secret: APP_SECRET.into(),
            endpoint_from: "promote-orders-db".into(),
            host_field: "host".into(),
            port_field: "port".into(),
        }),
    );
    run_until_done(&cx, &v, &mut s).await;
    (s, copy)
}

#[tokio::test]
async fn a_drill_secret_copy_found_on_retry_is_adopted_when_it_carries_this_runs_tag() {
    // Given: the copy exists, tagged with this run (its first create's answer was lost)
    // When
    let (s, copy) = drill_secret_copy_retried(RUN).await;
    // Then: the step is done on that copy (torn down with the drill's temporaries)
    assert_eq!(s.phase, Phase::Done, "{s:?}");
    assert_eq!(s.memo.get("temp"), Some(&copy));
    assert!(s.detail.starts_with(&copy), "{}", s.detail);
    assert!(s.changes[0].after.ends_with(":5432"), "{:?}", s.changes);
}

#[tokio::test]
async fn a_drill_secret_copy_of_another_run_is_refused_not_adopted() {
    // Given: a copy of that name tagged with another drill's run
    let (s, copy) = drill_secret_copy_retried("20261206T090000Z-99999999").await;
    // Then: refused, naming the copy; nothing recorded as this drill's to tear down
    assert_eq!(s.phase, Phase::Failed, "{s:?}");
    let error = s.error.as_deref().unwrap_or_default();
    assert!(
        error.contains(&copy) && error.contains("is not this run's"),
        "{error}"
    );
    assert!(s.next.as_deref().unwrap_or_default().contains("remove"));
    assert!(!s.memo.contains_key("temp"), "{:?}", s.memo);
}

/// snapshot-export's DR copies of ecommerce-prod-db (us-west-2), encrypted with the DR key.
const DR_KEY: &str = "arn:aws:kms:us-west-2:123456789012:key/lifeboat-dr";

fn dr_copy(id: &str, taken: i64) -> DbSnapshot {
    DbSnapshot::builder()
        .db_snapshot_identifier(id)
        .db_snapshot_arn(format!("arn:aws:rds:{DR}:123456789012:snapshot:{id}"))
        .db_instance_identifier(PRIMARY_DB)
        .snapshot_type("manual")
        .status("available")
        .engine("postgres")
        .encrypted(true)
        .kms_key_id(DR_KEY)
        .snapshot_create_time(aws_smithy_types::DateTime::from_secs(taken))
        .tag_list(rds_tag("lifeboat:managed", "true"))
        .tag_list(rds_tag("lifeboat:component", "orders-db"))
        .build()
}

/// An execute's restore-rds-from-snapshot whose restore is answered DBInstanceAlreadyExists;
/// the instance of that name carries `instance_run`'s run id.
async fn restore_retried(instance_run: &str) -> StepRun {
    let newest = "lifeboat-ecommerce-prod-db-20261207-0000";
    let newest_arn = format!("arn:aws:rds:{DR}:123456789012:snapshot:{newest}");
    // RDS restores an encrypted snapshot with its key, authorized as the caller.
    let rec = recorder().encrypted_with(&newest_arn, DR_KEY);
    let snapshots = mock!(aws_sdk_rds::Client::describe_db_snapshots).then_output(|| {
        rds_op::describe_db_snapshots::DescribeDbSnapshotsOutput::builder()
            .db_snapshots(dr_copy(
                "lifeboat-ecommerce-prod-db-20261206-0000",
                1_796_515_200,
            ))
            .db_snapshots(dr_copy(
                "lifeboat-ecommerce-prod-db-20261207-0000",
                1_796_601_600,
            ))
            .build()
    });
    let restore = mock!(aws_sdk_rds::Client::restore_db_instance_from_db_snapshot)
        .match_requests(move |r| {
            r.db_snapshot_identifier() == Some(newest_arn.as_str())
                && r.db_instance_identifier() == Some("orders-db-dr")
                && r.tags()
                    .iter()
                    .any(|t| t.key() == Some(TAG_FROM) && t.value() == Some(newest))
        })
        .then_error(|| {
            rds_op::restore_db_instance_from_db_snapshot::RestoreDBInstanceFromDBSnapshotError::DbInstanceAlreadyExistsFault(
                aws_sdk_rds::types::error::DbInstanceAlreadyExistsFault::builder()
                    .meta(ErrorMetadata::builder().code("DBInstanceAlreadyExists").build())
                    .build(),
            )
        });
    let run = instance_run.to_string();
    let existing = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("orders-db-dr"))
        .then_output(move || {
            rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .db_instances(
                    instance_in(DR, "orders-db-dr", "creating", None)
                        .tag_list(rds_tag(TAG_RUN, &run))
                        .build(),
                )
                .build()
        });
    let c = clients(
        regional_in(&rec, PRIMARY, vec![], vec![], vec![]),
        regional_in(&rec, DR, vec![snapshots, restore, existing], vec![], vec![]),
        vec![],
    );
    let policy = Policy::parse(POLICY).unwrap();
    let cx = Cx {
        policy: &policy,
        clients: &c,
        local_endpoints: &BTreeMap::new(),
        emulator: false,
    };
    let mut s = step(
        "orders-from-snapshot",
        Action::RestoreRdsFromSnapshot(RestoreRds {
            component: "orders-db".into(),
            target: "orders-db-dr".into(),
            instance_class: "db.r6g.large".into(),
            subnet_group: "lifeboat-restore".into(),
            security_groups: vec![],
        }),
    );
    advance(&cx, &view(Mode::Execute, true), &mut s).await;
    s
}

#[tokio::test]
async fn a_restore_found_on_retry_is_adopted_when_it_carries_this_runs_tag() {
    // Given: the restore of the newest DR copy made orders-db-dr, tagged with this run, and
    // its answer was lost
    let s = restore_retried(RUN).await;
    // Then: the restore counts as requested, from the newest copy
    assert_eq!(s.phase, Phase::Running, "{s:?}");
    assert_eq!(
        s.memo.get("snapshot").map(String::as_str),
        Some("lifeboat-ecommerce-prod-db-20261207-0000")
    );
}

#[tokio::test]
async fn a_restore_target_of_another_run_is_refused_not_adopted() {
    let s = restore_retried("20261206T090000Z-99999999").await;
    assert_eq!(s.phase, Phase::Failed, "{s:?}");
    assert!(
        s.error
            .as_deref()
            .unwrap_or_default()
            .contains("orders-db-dr exists in us-west-2 and is not this run's"),
        "{s:?}"
    );
    assert!(!s.memo.contains_key("snapshot"));
}

/// The old primary's customer managed key (SourceKmsKeyArns in the tests' world).
const SOURCE_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/ecommerce-db";

/// Failback's first round for an encrypted DR writer: the old primary (fenced by the execute
/// run) has `old_key`. Returns the step and how many replicas were requested.
async fn failback_replica(old_key: Option<&'static str>) -> (StepRun, usize) {
    let fenced = inventory::fenced_id(PRIMARY_DB, "20261207T090000Z-0a0b0c0d");
    let writer = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some(REPLICA))
        .then_output(|| {
            rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .db_instances(
                    instance_in(DR, REPLICA, "available", None)
                        .storage_encrypted(true)
                        .kms_key_id(DR_KEY)
                        .build(),
                )
                .build()
        });
    let gone = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some(PRIMARY_DB))
        .then_error(|| {
            rds_op::describe_db_instances::DescribeDBInstancesError::DbInstanceNotFoundFault(
                aws_sdk_rds::types::error::DbInstanceNotFoundFault::builder()
                    .meta(ErrorMetadata::builder().code("DBInstanceNotFound").build())
                    .build(),
            )
        });
    let fenced_id = fenced.clone();
    let old = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(move |r| r.db_instance_identifier() == Some(fenced_id.as_str()))
        .then_output({
            let fenced = fenced.clone();
            move || {
                rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                    .db_instances(
                        instance_in(PRIMARY, &fenced, "available", None)
                            .storage_encrypted(old_key.is_some())
                            .set_kms_key_id(old_key.map(str::to_string))
                            .build(),
                    )
                    .build()
            }
        });
    // The listing failback finds the fenced old primary in (by its name and fence tag).
    let listing = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier().is_none())
        .then_output({
            let fenced = fenced.clone();
            move || {
                rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                    .db_instances(
                        instance_in(PRIMARY, &fenced, "available", None)
                            .tag_list(
                                aws_sdk_rds::types::Tag::builder()
                                    .key(crate::FENCED_TAG)
                                    .value("20261207T090000Z-0a0b0c0d")
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            }
        });
    let replica = mock!(aws_sdk_rds::Client::create_db_instance_read_replica)
        .match_requests(|r| {
            r.db_instance_identifier() == Some(PRIMARY_DB)
                && r.source_db_instance_identifier()
                    == Some("arn:aws:rds:us-west-2:123456789012:db:ecommerce-prod-db-replica")
                && r.kms_key_id() == Some(SOURCE_KEY)
        })
        .then_output(|| {
            rds_op::create_db_instance_read_replica::CreateDbInstanceReadReplicaOutput::builder()
                .build()
        });
    let c = clients(
        regional(PRIMARY, vec![listing, gone, old, replica.clone()], vec![]),
        regional(DR, vec![writer], vec![]),
        vec![],
    );
    let policy = Policy::parse(POLICY).unwrap();
    let cx = Cx {
        policy: &policy,
        clients: &c,
        local_endpoints: &BTreeMap::new(),
        emulator: false,
    };
    let mut s = step(
        "promote-orders-db",
        Action::PromoteRdsReplica(PromoteRdsReplica {
            replica: REPLICA.into(),
            primary: PRIMARY_DB.into(),
        }),
    );
    advance(&cx, &view(Mode::Failback, false), &mut s).await;
    (s, replica.num_calls())
}

#[tokio::test]
async fn failback_of_an_encrypted_writer_creates_its_replica_with_the_old_primarys_key() {
    // Given: the DR writer is encrypted; the fenced old primary was encrypted with SOURCE_KEY
    // When
    let (s, requested) = failback_replica(Some(SOURCE_KEY)).await;
    // Then: the primary-region replica is requested with that key (a cross-region replica of
    // an encrypted source needs a key of its own region)
    assert_eq!(requested, 1, "{s:?}");
    assert_eq!(s.phase, Phase::Running, "{s:?}");
    assert_eq!(s.memo.get("replica").map(String::as_str), Some(PRIMARY_DB));
}

#[tokio::test]
async fn failback_of_an_encrypted_writer_without_a_known_key_stops_with_the_command() {
    let (s, requested) = failback_replica(None).await;
    assert_eq!(requested, 0);
    assert_eq!(s.phase, Phase::Failed, "{s:?}");
    assert!(
        s.error
            .as_deref()
            .unwrap_or_default()
            .contains("is encrypted and no KMS key of the old primary"),
        "{s:?}"
    );
    assert!(s
        .next
        .as_deref()
        .unwrap_or_default()
        .contains("--kms-key-id"));
}

#[tokio::test]
async fn a_teardown_delete_denied_because_the_temporary_is_already_gone_is_done() {
    // Given: a drill instance whose DeleteDBInstance answer was lost; the retry is denied (the
    // role deletes only what carries the drill tag, and a gone instance carries none)
    let denied = mock!(aws_sdk_rds::Client::delete_db_instance).then_error(|| {
        rds_op::delete_db_instance::DeleteDBInstanceError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform: rds:DeleteDBInstance")
                .build(),
        )
    });
    let describe = mock!(aws_sdk_rds::Client::describe_db_instances)
        .sequence()
        .output(|| {
            rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
                .db_instances(
                    instance_in(DR, "lifeboat-drill-0a0b0c0d", "available", None)
                        .tag_list(
                            aws_sdk_rds::types::Tag::builder()
                                .key(TAG_RUN)
                                .value(RUN)
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
        .error(|| {
            rds_op::describe_db_instances::DescribeDBInstancesError::DbInstanceNotFoundFault(
                aws_sdk_rds::types::error::DbInstanceNotFoundFault::builder()
                    .meta(ErrorMetadata::builder().code("DBInstanceNotFound").build())
                    .build(),
            )
        })
        .build();
    // (For the permission check, the instance as the first, lost attempt found it: tagged.)
    let rec = recorder().holds(
        "arn:aws:rds:us-west-2:123456789012:db:lifeboat-drill-0a0b0c0d",
        &["lifeboat-drill-0a0b0c0d"],
        &[(TAG_PURPOSE, crate::DRILL_PURPOSE), (TAG_RUN, RUN)],
    );
    let c = clients(
        regional(PRIMARY, vec![], vec![]),
        regional_in(&rec, DR, vec![denied, describe], vec![], vec![]),
        vec![],
    );
    let policy = Policy::parse(POLICY).unwrap();
    let cx = Cx {
        policy: &policy,
        clients: &c,
        local_endpoints: &BTreeMap::new(),
        emulator: false,
    };
    let mut temps = vec![Temp {
        kind: "rds-instance".into(),
        region: DR.into(),
        id: "lifeboat-drill-0a0b0c0d".into(),
        spec: None,
        gone: false,
        error: None,
        attempts: 0,
    }];
    // When
    teardown(&cx, &view(Mode::Drill, false), &mut temps).await;
    // Then: settled by the lookup, not reported as left behind
    assert!(temps[0].gone && temps[0].error.is_none(), "{temps:?}");
}
