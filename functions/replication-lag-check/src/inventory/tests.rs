//! The source reads under aws-smithy-mocks, answered as AWS answers: the secondaries of Aurora
//! global databases and ElastiCache global datastores become replicas (or a no-data finding when
//! they cannot be read), and the newest COMPLETED AWS Backup recovery point feeds backup age.

#![allow(clippy::unwrap_used)]
use aws_sdk_backup::operation::list_recovery_points_by_resource::{
    ListRecoveryPointsByResourceError, ListRecoveryPointsByResourceOutput,
};
use aws_sdk_backup::types::{RecoveryPointByResource, RecoveryPointStatus};
use aws_sdk_elasticache::operation as ec_op;
use aws_sdk_elasticache::types as ec;
use aws_sdk_rds::operation as rds_op;
use aws_sdk_rds::types as rds_t;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;

use super::sources::{observe_sources, read_replica};
use super::*;
use crate::checks::State;
use crate::metrics::Fetched;
use crate::plan::evaluate;
use lifeboat_shared::aws::rds::DbInstance;

const NOW: &str = "2026-11-21T12:00:00Z";
const CATALOG: &str = "arn:aws:rds:us-east-1:123456789012:cluster:catalog";
const CATALOG_DR: &str = "arn:aws:rds:us-west-2:123456789012:cluster:catalog-dr";
const CATALOG_EU: &str = "arn:aws:rds:eu-west-1:123456789012:cluster:catalog-eu";
const CATALOG_GONE: &str = "arn:aws:rds:ap-south-1:123456789012:cluster:catalog-gone";
const ORDERS: &str = "arn:aws:rds:us-east-1:123456789012:db:orders";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn sdk_time(at: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(at.timestamp())
}

fn denied(op: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code("AccessDenied")
        .message(format!("not authorized to perform: {op}"))
        .build()
}

/// Mocked clients in us-east-1 with the DR region us-west-2 (no DR RDS client: no DR copies are
/// read here).
/// (An Aurora cluster's readers are looked up among the DB instances: none, unless a test
/// answers DescribeDBInstances itself.)
fn clients(rds: &[&Rule], ec: &[&Rule], ec_dr: &[&Rule], backup: &[&Rule]) -> Clients {
    let no_instances = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
        rds_op::describe_db_instances::DescribeDbInstancesOutput::builder().build()
    });
    let no_clusters = mock!(aws_sdk_rds::Client::describe_db_clusters)
        .then_output(|| rds_op::describe_db_clusters::DescribeDbClustersOutput::builder().build());
    let no_groups =
        mock!(aws_sdk_elasticache::Client::describe_replication_groups).then_output(|| {
            ec_op::describe_replication_groups::DescribeReplicationGroupsOutput::builder().build()
        });
    let no_tags = mock!(aws_sdk_elasticache::Client::list_tags_for_resource).then_output(|| {
        ec_op::list_tags_for_resource::ListTagsForResourceOutput::builder().build()
    });
    let mut rds: Vec<&Rule> = rds.to_vec();
    rds.push(&no_instances);
    rds.push(&no_clusters);
    let mut ec: Vec<&Rule> = ec.to_vec();
    ec.push(&no_groups);
    ec.push(&no_tags);
    Clients {
        primary_region: "us-east-1".into(),
        dr_region: Some("us-west-2".into()),
        rds: mock_client!(aws_sdk_rds, RuleMode::MatchAny, &rds),
        rds_dr: None,
        elasticache: mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, &ec),
        elasticache_dr: Some(mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, ec_dr)),
        backup: mock_client!(aws_sdk_backup, RuleMode::MatchAny, backup),
        cloudwatch: BTreeMap::new(),
        s3: BTreeMap::new(),
    }
}

async fn observe_all(c: &Clients, policy: &Policy) -> Observations {
    let mut obs = Observations::default();
    observe_sources(c, policy, &|_: &str| true, &mut obs).await;
    obs
}

fn policy(components: &str) -> Policy {
    Policy::parse(&format!(
        "version: 1\nbuckets: {{backup: b-1}}\ndr: {{region: us-west-2}}\ncomponents:\n{components}"
    ))
    .unwrap()
}

fn aurora_policy() -> Policy {
    policy("  - {name: catalog, kind: aurora-cluster, ids: [catalog], rpo: 1h}\n")
}

/// DescribeDBClusters: catalog in us-east-1, in the global database `global` if given.
fn catalog_cluster(global: Option<&'static str>) -> Rule {
    mock!(aws_sdk_rds::Client::describe_db_clusters).then_output(move || {
        rds_op::describe_db_clusters::DescribeDbClustersOutput::builder()
            .db_clusters(
                rds_t::DbCluster::builder()
                    .db_cluster_identifier("catalog")
                    .db_cluster_arn(CATALOG)
                    .engine("aurora-postgresql")
                    .status("available")
                    .set_global_cluster_identifier(global.map(str::to_string))
                    .build(),
            )
            .build()
    })
}

fn no_cluster_snapshots() -> Rule {
    mock!(aws_sdk_rds::Client::describe_db_cluster_snapshots).then_output(|| {
        rds_op::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput::builder().build()
    })
}

fn no_recovery_points() -> Rule {
    mock!(aws_sdk_backup::Client::list_recovery_points_by_resource)
        .then_output(|| ListRecoveryPointsByResourceOutput::builder().build())
}

fn member(arn: &str, writer: bool, sync: Option<&str>) -> rds_t::GlobalClusterMember {
    rds_t::GlobalClusterMember::builder()
        .db_cluster_arn(arn)
        .is_writer(writer)
        .set_synchronization_status(sync.map(rds_t::GlobalClusterMemberSynchronizationStatus::from))
        .build()
}

/// DescribeGlobalClusters: an unrelated global database, then `catalog-global` with `members`.
fn global_clusters(members: fn() -> Vec<rds_t::GlobalClusterMember>) -> Rule {
    mock!(aws_sdk_rds::Client::describe_global_clusters).then_output(move || {
        rds_op::describe_global_clusters::DescribeGlobalClustersOutput::builder()
            .global_clusters(
                rds_t::GlobalCluster::builder()
                    .global_cluster_identifier("billing-global")
                    .status("available")
                    .build(),
            )
            .global_clusters(
                rds_t::GlobalCluster::builder()
                    .global_cluster_identifier("catalog-global")
                    .status("available")
                    .set_global_cluster_members(Some(members()))
                    .build(),
            )
            .build()
    })
}

#[tokio::test]
async fn the_secondaries_of_a_writers_global_database_are_its_replicas() {
    // Given catalog, the writer of catalog-global, whose members are a synchronized secondary in
    // the DR region and one pending resync in eu-west-1; the writer also names one the global
    // database no longer lists
    let clusters = catalog_cluster(Some("catalog-global"));
    let globals = global_clusters(|| {
        vec![
            rds_t::GlobalClusterMember::builder()
                .db_cluster_arn(CATALOG)
                .is_writer(true)
                .readers(CATALOG_DR)
                .readers(CATALOG_EU)
                .readers(CATALOG_GONE)
                .build(),
            member(CATALOG_DR, false, Some("connected")),
            member(CATALOG_EU, false, Some("pending-resync")),
        ]
    });
    let (snaps, points) = (no_cluster_snapshots(), no_recovery_points());
    let c = clients(&[&clusters, &globals, &snaps], &[], &[], &[&points]);
    // When the sources are read
    let obs = observe_all(&c, &aurora_policy()).await;
    // Then one DescribeGlobalClusters read gave each secondary as a replica of catalog
    assert_eq!(globals.num_calls(), 1);
    assert!(obs.unread_globals.is_empty(), "{:?}", obs.unread_globals);
    let link = GlobalLink {
        id: "catalog-global".into(),
        primary: Some(("catalog".into(), "us-east-1".into())),
        selected: false,
        cache_clusters: None,
    };
    assert_eq!(
        obs.replicas[0],
        ReplicaObs {
            component: "catalog".into(),
            id: "catalog-dr".into(),
            region: "us-west-2".into(),
            kind: ReplicaKind::GlobalSecondary,
            status: Some("available".into()),
            replication: Some(("connected".into(), true, None)),
            unread: None,
            global: Some(link.clone()),
        }
    );
    let eu = &obs.replicas[1];
    assert_eq!(
        (eu.id.as_str(), eu.region.as_str()),
        ("catalog-eu", "eu-west-1")
    );
    assert_eq!(eu.replication, Some(("pending-resync".into(), false, None)));
    // and the one only the writer names is there, without a status: "does not exist"
    let gone = &obs.replicas[2];
    assert_eq!(
        (gone.id.as_str(), gone.status.clone()),
        ("catalog-gone", None)
    );
    assert_eq!(obs.replicas.len(), 3);
    assert_eq!(obs.sources[0].id, "catalog");
}

#[tokio::test]
async fn a_selected_cluster_that_is_itself_a_secondary_is_checked_as_one() {
    // Given catalog is the secondary of catalog-global, whose writer is in eu-west-1
    let clusters = catalog_cluster(Some("catalog-global"));
    let globals = global_clusters(|| {
        vec![
            rds_t::GlobalClusterMember::builder()
                .db_cluster_arn(CATALOG_EU)
                .is_writer(true)
                .readers(CATALOG)
                .build(),
            member(CATALOG, false, Some("connected")),
        ]
    });
    let (snaps, points) = (no_cluster_snapshots(), no_recovery_points());
    let c = clients(&[&clusters, &globals, &snaps], &[], &[], &[&points]);
    let obs = observe_all(&c, &aurora_policy()).await;
    // Then catalog itself is the replica, of the writer in eu-west-1
    assert_eq!(obs.replicas.len(), 1);
    let r = &obs.replicas[0];
    assert_eq!((r.id.as_str(), r.region.as_str()), ("catalog", "us-east-1"));
    let g = r.global.as_ref().unwrap();
    assert!(g.selected);
    assert_eq!(g.primary, Some(("catalog-eu".into(), "eu-west-1".into())));
}

#[tokio::test]
async fn a_global_database_that_cannot_be_read_is_said_and_none_is_read_without_one() {
    // Given DescribeGlobalClusters denied
    let clusters = catalog_cluster(Some("catalog-global"));
    let globals = mock!(aws_sdk_rds::Client::describe_global_clusters).then_error(|| {
        rds_op::describe_global_clusters::DescribeGlobalClustersError::generic(denied(
            "rds:DescribeGlobalClusters",
        ))
    });
    let (snaps, points) = (no_cluster_snapshots(), no_recovery_points());
    let c = clients(&[&clusters, &globals, &snaps], &[], &[], &[&points]);
    let obs = observe_all(&c, &aurora_policy()).await;
    // Then the read error is recorded where the secondaries would have been, never nothing
    assert!(obs.replicas.is_empty());
    assert_eq!(
        obs.unread_globals,
        [(
            "catalog".to_string(),
            "catalog-global".to_string(),
            "DescribeGlobalClusters: AccessDenied: not authorized to perform: rds:DescribeGlobalClusters".to_string()
        )]
    );
    let checks = evaluate(&aurora_policy(), &obs, &[], &Fetched::default(), t(NOW)).checks;
    let c = checks
        .iter()
        .find(|c| c.id == "replica/catalog catalog-global")
        .unwrap();
    assert_eq!(c.state, State::NoData);
    // Given a cluster in no global database: DescribeGlobalClusters is not called
    let clusters = catalog_cluster(None);
    let globals = global_clusters(Vec::new);
    let (snaps, points) = (no_cluster_snapshots(), no_recovery_points());
    let c = clients(&[&clusters, &globals, &snaps], &[], &[], &[&points]);
    let obs = observe_all(&c, &aurora_policy()).await;
    assert_eq!(globals.num_calls(), 0);
    assert!(obs.replicas.is_empty() && obs.unread_globals.is_empty());
}

fn ds_member(id: &str, region: &str, role: &str, status: &str) -> ec::GlobalReplicationGroupMember {
    ec::GlobalReplicationGroupMember::builder()
        .replication_group_id(id)
        .replication_group_region(region)
        .role(role)
        .status(status)
        .build()
}

#[tokio::test]
async fn the_secondaries_of_a_primarys_global_datastore_are_its_replicas() {
    // Given sessions, the PRIMARY of ldgnf-sessions, with an associated secondary in the DR
    // region and one still associating in ap-southeast-2
    let groups =
        mock!(aws_sdk_elasticache::Client::describe_replication_groups).then_output(|| {
            ec_op::describe_replication_groups::DescribeReplicationGroupsOutput::builder()
                .replication_groups(
                    ec::ReplicationGroup::builder()
                        .replication_group_id("sessions")
                        .arn("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:sessions")
                        .status("available")
                        .global_replication_group_info(
                            ec::GlobalReplicationGroupInfo::builder()
                                .global_replication_group_id("ldgnf-sessions")
                                .global_replication_group_member_role("primary")
                                .build(),
                        )
                        .member_clusters("sessions-001")
                        .build(),
                )
                .build()
        });
    let datastores = mock!(aws_sdk_elasticache::Client::describe_global_replication_groups)
        .match_requests(|r| r.show_member_info() == Some(true))
        .then_output(|| {
            ec_op::describe_global_replication_groups::DescribeGlobalReplicationGroupsOutput::builder()
                .global_replication_groups(
                    ec::GlobalReplicationGroup::builder()
                        .global_replication_group_id("ldgnf-sessions")
                        .status("available")
                        .members(ds_member("sessions", "us-east-1", "PRIMARY", "associated"))
                        .members(ds_member("sessions-dr", "us-west-2", "SECONDARY", "associated"))
                        .members(ds_member("sessions-ap", "ap-southeast-2", "SECONDARY", "associating"))
                        .build(),
                )
                .build()
        });
    let snaps = mock!(aws_sdk_elasticache::Client::describe_snapshots)
        .then_output(|| ec_op::describe_snapshots::DescribeSnapshotsOutput::builder().build());
    // The DR region's ElastiCache answers for the secondary there
    let dr_group = mock!(aws_sdk_elasticache::Client::describe_replication_groups)
        .match_requests(|r| r.replication_group_id() == Some("sessions-dr"))
        .then_output(|| {
            ec_op::describe_replication_groups::DescribeReplicationGroupsOutput::builder()
                .replication_groups(
                    ec::ReplicationGroup::builder()
                        .replication_group_id("sessions-dr")
                        .member_clusters("sessions-dr-001")
                        .member_clusters("sessions-dr-002")
                        .build(),
                )
                .build()
        });
    let points = no_recovery_points();
    let c = clients(
        &[],
        &[&groups, &datastores, &snaps],
        &[&dr_group],
        &[&points],
    );
    let p = policy("  - {name: sessions, kind: elasticache, ids: [sessions], rpo: 2h}\n");
    let obs = observe_all(&c, &p).await;
    // Then each SECONDARY is a replica of sessions; the DR one with its cache clusters
    assert_eq!(datastores.num_calls(), 1);
    assert_eq!(obs.replicas.len(), 2);
    let dr = &obs.replicas[0];
    assert_eq!(
        (dr.id.as_str(), dr.region.as_str(), dr.kind),
        (
            "sessions-dr",
            "us-west-2",
            ReplicaKind::GlobalDatastoreSecondary
        )
    );
    assert_eq!(dr.replication, Some(("associated".into(), true, None)));
    assert_eq!(
        dr.global.as_ref().unwrap().cache_clusters,
        Some(Ok(vec!["sessions-dr-001".into(), "sessions-dr-002".into()]))
    );
    // and the other: associating, in a region with no client, so its clusters are not read
    let ap = &obs.replicas[1];
    assert_eq!(ap.replication, Some(("associating".into(), false, None)));
    let Some(Err(e)) = &ap.global.as_ref().unwrap().cache_clusters else {
        panic!("{ap:?}")
    };
    assert!(
        e.contains("no ElastiCache client for ap-southeast-2"),
        "{e}"
    );
}

fn orders_instance() -> Rule {
    mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
        rds_op::describe_db_instances::DescribeDbInstancesOutput::builder()
            .db_instances(
                rds_t::DbInstance::builder()
                    .db_instance_identifier("orders")
                    .db_instance_arn(ORDERS)
                    .engine("postgres")
                    .db_instance_status("available")
                    .build(),
            )
            .build()
    })
}

fn no_db_snapshots() -> Rule {
    mock!(aws_sdk_rds::Client::describe_db_snapshots)
        .then_output(|| rds_op::describe_db_snapshots::DescribeDbSnapshotsOutput::builder().build())
}

#[tokio::test]
async fn the_newest_completed_recovery_point_feeds_backup_age() {
    // Given orders' recovery points: COMPLETED 30 h and 5 h ago, a PARTIAL one 1 h ago and an
    // EXPIRED one 10 min ago
    let now = t(NOW);
    let points = mock!(aws_sdk_backup::Client::list_recovery_points_by_resource)
        .match_requests(|r| r.resource_arn() == Some(ORDERS))
        .then_output(move || {
            let point = |name: &str, hours_ago: i64, status| {
                RecoveryPointByResource::builder()
                    .recovery_point_arn(format!(
                        "arn:aws:backup:us-east-1:123456789012:recovery-point:{name}"
                    ))
                    .status(status)
                    .creation_date(sdk_time(now - chrono::Duration::minutes(60 * hours_ago)))
                    .build()
            };
            ListRecoveryPointsByResourceOutput::builder()
                .recovery_points(point("old", 30, RecoveryPointStatus::Completed))
                .recovery_points(point("good", 5, RecoveryPointStatus::Completed))
                .recovery_points(point("partial", 1, RecoveryPointStatus::Partial))
                .recovery_points(
                    RecoveryPointByResource::builder()
                        .recovery_point_arn(
                            "arn:aws:backup:us-east-1:123456789012:recovery-point:expired",
                        )
                        .status(RecoveryPointStatus::Expired)
                        .creation_date(sdk_time(now - chrono::Duration::minutes(10)))
                        .build(),
                )
                .build()
        });
    let (instances, snaps) = (orders_instance(), no_db_snapshots());
    let c = clients(&[&instances, &snaps], &[], &[], &[&points]);
    let p = policy("  - {name: orders-db, kind: rds-instance, ids: [orders], rpo: 24h}\n");
    let obs = observe_all(&c, &p).await;
    // Then only COMPLETED points count, the newest of them
    assert_eq!(
        obs.sources[0].recovery_point,
        Ok(Some(now - chrono::Duration::hours(5)))
    );
    let checks = evaluate(&p, &obs, &[], &Fetched::default(), now).checks;
    let c = checks
        .iter()
        .find(|c| c.id == "backup-age/orders-db")
        .unwrap();
    assert_eq!(c.state, State::Ok, "{}", c.detail);
    assert_eq!(c.detail, "5 h against RPO 24 h (AWS Backup recovery point)");
}

#[tokio::test]
async fn recovery_points_that_cannot_be_read_are_no_data() {
    // Given ListRecoveryPointsByResource denied, and no snapshot of orders
    let points = mock!(aws_sdk_backup::Client::list_recovery_points_by_resource).then_error(|| {
        ListRecoveryPointsByResourceError::generic(denied("backup:ListRecoveryPointsByResource"))
    });
    let (instances, snaps) = (orders_instance(), no_db_snapshots());
    let c = clients(&[&instances, &snaps], &[], &[], &[&points]);
    let p = policy("  - {name: orders-db, kind: rds-instance, ids: [orders], rpo: 24h}\n");
    let obs = observe_all(&c, &p).await;
    assert!(obs.sources[0].recovery_point.is_err());
    // Then backup age is "could not be read" (no data), not "no backup" (critical)
    let checks = evaluate(&p, &obs, &[], &Fetched::default(), t(NOW)).checks;
    let c = checks
        .iter()
        .find(|c| c.id == "backup-age/orders-db")
        .unwrap();
    assert_eq!(c.state, State::NoData, "{}", c.detail);
    assert!(
        c.detail
            .starts_with("AWS Backup recovery points could not be read (AccessDenied"),
        "{}",
        c.detail
    );
}

#[test]
fn a_read_replica_is_looked_up_in_its_own_region_and_an_unread_one_is_no_data() {
    let db = |id: &str| DbInstance {
        id: id.into(),
        arn: format!("arn:aws:rds:us-west-2:123456789012:db:{id}"),
        engine: "postgres".into(),
        engine_version: None,
        status: "available".into(),
        encrypted: true,
        cluster_id: None,
        endpoint: None,
        tags: BTreeMap::new(),
        replica_source: None,
        replicas: Vec::new(),
        replication: Some(("replicating".into(), true, None)),
        latest_restorable: None,
        created_at: None,
        allocated_gb: None,
        backup_retention_days: None,
    };
    let dr_ok: Result<Vec<DbInstance>, String> = Ok(vec![db("orders-dr")]);
    let dr_err: Result<Vec<DbInstance>, String> = Err("DescribeDBInstances: Throttling".into());
    let arn = |region: &str| format!("arn:aws:rds:{region}:123456789012:db:orders-dr");
    // In the DR region, listed: found
    let r = read_replica(
        "orders-db",
        &arn("us-west-2"),
        "us-east-1",
        &[],
        Some(("us-west-2", &dr_ok)),
    );
    assert_eq!(
        (r.status.as_deref(), r.unread.as_deref()),
        (Some("available"), None)
    );
    // The DR listing failed: could not be read, not "does not exist"
    let r = read_replica(
        "orders-db",
        &arn("us-west-2"),
        "us-east-1",
        &[],
        Some(("us-west-2", &dr_err)),
    );
    assert_eq!(r.status, None);
    assert!(r.unread.as_deref().unwrap().contains("Throttling"));
    // A third region is not looked up in the DR region's list (a look-alike id there is not it)
    let r = read_replica(
        "orders-db",
        &arn("eu-west-1"),
        "us-east-1",
        &[],
        Some(("us-west-2", &dr_ok)),
    );
    assert_eq!(r.status, None);
    assert!(r.unread.as_deref().unwrap().contains("eu-west-1"), "{r:?}");
    // And the evaluation says NO DATA for both unread ones
    let p = lifeboat_shared::policy::Policy::parse(
        "version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [orders], rpo: 24h}\n",
    )
    .unwrap();
    let obs = Observations {
        replicas: vec![r],
        ..Default::default()
    };
    let q = crate::metrics::queries(&p, &obs, "us-east-1");
    let checks = evaluate(&p, &obs, &q, &Fetched::default(), t("2026-11-21T12:00:00Z")).checks;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].state, State::NoData, "{}", checks[0].sentence());
}

#[tokio::test]
async fn a_resource_with_the_opt_in_tag_is_checked_though_no_component_names_its_kind() {
    // Given a policy naming only an RDS instance, and an Aurora cluster tagged for Lifeboat
    let clusters = mock!(aws_sdk_rds::Client::describe_db_clusters).then_output(|| {
        rds_op::describe_db_clusters::DescribeDbClustersOutput::builder()
            .db_clusters(
                rds_t::DbCluster::builder()
                    .db_cluster_identifier("ledger")
                    .db_cluster_arn("arn:aws:rds:us-east-1:123456789012:cluster:ledger")
                    .engine("aurora-postgresql")
                    .status("available")
                    .tag_list(
                        rds_t::Tag::builder()
                            .key("lifeboat:backup")
                            .value("true")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let snaps = no_cluster_snapshots();
    let points = no_recovery_points();
    let c = clients(&[&clusters, &snaps], &[], &[], &[&points]);
    let p = policy("  - {name: orders-db, kind: rds-instance, ids: [orders], rpo: 24h}\n");
    // When the sources are observed
    let obs = observe_all(&c, &p).await;
    // Then the cluster is a source of its own (named by its id, as snapshot-export names it)
    assert!(
        obs.sources
            .iter()
            .any(|s| s.component == "ledger" && s.id == "ledger"),
        "{:?}",
        obs.sources
    );
}

#[tokio::test]
async fn an_available_recovery_point_is_usable_too() {
    // Given orders' recovery points: COMPLETED 5 h ago and AVAILABLE (AWS Backup: "successfully
    // created ... ready for use") 2 h ago
    let now = t(NOW);
    let points = mock!(aws_sdk_backup::Client::list_recovery_points_by_resource)
        .match_requests(|r| r.resource_arn() == Some(ORDERS))
        .then_output(move || {
            let point = |name: &str, hours_ago: i64, status| {
                RecoveryPointByResource::builder()
                    .recovery_point_arn(format!(
                        "arn:aws:backup:us-east-1:123456789012:recovery-point:{name}"
                    ))
                    .status(status)
                    .creation_date(sdk_time(now - chrono::Duration::hours(hours_ago)))
                    .build()
            };
            ListRecoveryPointsByResourceOutput::builder()
                .recovery_points(point("completed", 5, RecoveryPointStatus::Completed))
                .recovery_points(point("available", 2, RecoveryPointStatus::Available))
                .build()
        });
    let (instances, snaps) = (orders_instance(), no_db_snapshots());
    let c = clients(&[&instances, &snaps], &[], &[], &[&points]);
    let p = policy("  - {name: orders-db, kind: rds-instance, ids: [orders], rpo: 24h}\n");
    // When observed
    let obs = observe_all(&c, &p).await;
    // Then the AVAILABLE one is the newest usable backup
    assert_eq!(
        obs.sources[0].recovery_point,
        Ok(Some(now - chrono::Duration::hours(2)))
    );
}
