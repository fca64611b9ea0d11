// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

//! `{"action": "preflight"}` of every function against the seeded emulator: a healthy world is
//! all OK; a world missing a bucket, a secret and a subnet group says MISSING naming each and the
//! policy field; an AccessDenied names the IAM action; and preflight writes nothing but its own
//! report (every request it makes, read back from the fault proxy's log, is a read).

use aws_smithy_mocks::{mock, mock_client, RuleMode};
use chrono::Utc;
use lifeboat_shared::report::Report;
use lifeboat_tests::faults::FaultProxy;
use lifeboat_tests::{config_for, PRIMARY};
use serde_json::{json, Value};

use crate::util::{self, Parts};

/// The three functions' Apps on one world.
struct Apps {
    se: snapshot_export::App,
    rv: restore_verification::App,
    rlc: replication_lag_check::App,
}

fn apps(parts: Parts) -> Apps {
    Apps {
        se: parts.snapshot_export(),
        rlc: parts.replication_lag_check(),
        rv: parts.restore_verification(),
    }
}

const PREFLIGHT: &str = r#"{"action": "preflight"}"#;

/// Each function's preflight report, in the order snapshot-export, restore-verification,
/// replication-lag-check.
async fn preflights(a: &Apps) -> [Report; 3] {
    let payload: Value = serde_json::from_str(PREFLIGHT).unwrap();
    let now = Utc::now();
    let se = snapshot_export::run(&a.se, &payload, "pf-se", now, None)
        .await
        .unwrap();
    let rv = restore_verification::invoke(&a.rv, &payload, "pf-rv", now, None)
        .await
        .unwrap();
    let rlc = replication_lag_check::run(&a.rlc, &payload, "pf-rlc", now, None)
        .await
        .unwrap();
    [se, rv, rlc].map(|r| r.report().expect("a finished preflight").clone())
}

/// The checks of a report: (subject, field, verdict, action, detail).
fn items(r: &Report) -> Vec<(String, String, String, String, String)> {
    r.details["preflight"]
        .as_array()
        .unwrap_or_else(|| panic!("no preflight items: {}", r.render_text()))
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap_or_default().to_string();
            (
                s("subject"),
                s("field"),
                s("verdict"),
                s("action"),
                s("detail"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_seeded_world_is_all_ok() {
    // Given the seeded world (buckets, keys, secrets, subnet groups, replication, databases);
    // moto has no AWS Backup API, so replication-lag-check's AWS Backup answers as AWS does for
    // resources it never backed up: no recovery points
    let mut f = util::world().dir("lifeboat-preflight-ok").build(apps).await;
    let none = mock!(aws_sdk_backup::Client::list_recovery_points_by_resource).then_output(|| {
        aws_sdk_backup::operation::list_recovery_points_by_resource::ListRecoveryPointsByResourceOutput::builder().build()
    });
    f.app.rlc.clients.backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&none]);
    // When each function's preflight runs
    let reports = preflights(&f).await;
    for r in &reports {
        // Then every check is OK, the headline says so, and the report was delivered
        let bad: Vec<_> = items(r).into_iter().filter(|i| i.2 != "OK").collect();
        assert!(bad.is_empty(), "{}: {bad:#?}", r.function);
        assert!(
            r.headline.starts_with("preflight: 0 missing, 0 denied ("),
            "{}",
            r.headline
        );
        assert!(items(r).len() >= 8, "{}", r.render_text());
        assert!(r.dry_run, "a preflight is a dry run: it changes nothing");
        assert!(r.archive_uri.is_some(), "delivered like a run's report");
        assert_eq!(r.status, lifeboat_shared::report::Status::Ok);
    }
    // And the checks cover what the runs read
    let subjects = |r: &Report| items(r).into_iter().map(|i| (i.0, i.1)).collect::<Vec<_>>();
    let se = subjects(&reports[0]);
    for field in [
        "buckets.backup",
        "dr.kms_key_id",
        "dr.region",
        "components[0].ids[0]",
        "components[1].tags",
        "components[0].database.secret_arn",
    ] {
        assert!(
            se.iter().any(|(_, f)| f == field),
            "snapshot-export checks {field}: {se:#?}"
        );
    }
    let rv = subjects(&reports[1]);
    for field in [
        "verification.restore.db_subnet_group",
        "verification.restore.cache_subnet_group",
        "verification.sweeps[0].replica.bucket",
        "components[2].database.secret_arn",
    ] {
        assert!(
            rv.iter().any(|(_, f)| f == field),
            "restore-verification checks {field}: {rv:#?}"
        );
    }
    let rlc = subjects(&reports[2]);
    for field in [
        "monitoring.replication[0].source.bucket",
        "monitoring.replication[0].replica.bucket",
        "monitoring.artifacts[0].bucket",
    ] {
        assert!(
            rlc.iter().any(|(_, f)| f == field),
            "replication-lag-check checks {field}: {rlc:#?}"
        );
    }
    // And with fingerprints off (the template's LIFEBOAT_FINGERPRINTS without the VPC or the
    // secrets), snapshot-export checks no secret and no endpoint, and says why
    let off = "DatabaseSecretArns is empty, so snapshot-export may read no database credentials";
    let cx = snapshot_export::preflight::Context {
        policy: &f.se.policy,
        clients: &f.se.clients,
        aws: &f.se.aws,
        report_s3: &f.se.report_s3,
        report_bucket: &f.se.env.report_bucket,
        local_endpoints: &f.se.env.local_endpoints,
        fingerprints: &snapshot_export::plan::Fingerprints::Off(off.to_string()),
    };
    let p = snapshot_export::preflight::check(&cx, "pf-off").await;
    assert!(
        p.items
            .iter()
            .all(|i| !i.call.starts_with("secretsmanager:") && i.call != "tcp"),
        "{:#?}",
        p.items
    );
    assert!(p.notes.iter().any(|n| n.contains(off)), "{:#?}", p.notes);
    f.world.drop_databases().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_secret_and_subnet_group_are_named_with_their_fields() {
    // Given a world whose sessions secret is gone, and a policy naming a cache subnet group and
    // an artifact bucket the account does not have (moto 5.2.5 deletes no cache subnet group;
    // the bucket is the one scripts/iam/test-parameters.json deploys as ArtifactBucketNames)
    const GONE: &str = "ecommerce-audit-logs-gone";
    let f = util::world()
        .dir("lifeboat-preflight-missing")
        .edit_policy(|text| {
            text.replace(
                "cache_subnet_group: lifeboat-restore",
                "cache_subnet_group: lifeboat-restore-cache",
            )
            .replace(
                "  artifacts:\n",
                &format!(
                    "  artifacts:\n    - {{name: audit-logs, bucket: {GONE}, prefix: audit/, every: 1d}}\n"
                ),
            )
        })
        .build(apps)
        .await;
    let primary = f.emu.config(PRIMARY).await;
    let sessions = f.rv.policy.components[2]
        .database
        .as_ref()
        .unwrap()
        .secret_arn
        .clone();
    aws_sdk_secretsmanager::Client::new(&primary)
        .delete_secret()
        .secret_id(&sessions)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    // When each function's preflight runs
    let [se, rv, rlc] = preflights(&f).await;
    // Then each absence is MISSING, naming the resource and the policy field
    let missing = |r: &Report, field: &str, subject: &str| {
        let found = items(r).into_iter().any(|i| {
            i.1 == field && i.2 == "MISSING" && i.0.contains(subject) && i.4.contains(field)
        });
        assert!(
            found,
            "{}: no MISSING {subject} ({field}):\n{}",
            r.function,
            r.render_text()
        );
    };
    missing(&se, "components[2].database.secret_arn", &sessions);
    missing(&rv, "components[2].database.secret_arn", &sessions);
    missing(
        &rv,
        "verification.restore.cache_subnet_group",
        "cache subnet group lifeboat-restore-cache",
    );
    missing(&rlc, "monitoring.artifacts[0].bucket", GONE);
    // And the headline counts them, the report is critical, the problems come first
    assert!(
        rv.headline.starts_with("preflight: 2 missing, 0 denied"),
        "{}",
        rv.headline
    );
    assert_eq!(rv.status, lifeboat_shared::report::Status::Critical);
    let text = rv.render_text();
    assert!(
        text.find("MISSING").unwrap() < text.find("OK: ").unwrap(),
        "{text}"
    );
    // And what still exists is still OK
    assert!(items(&rv)
        .iter()
        .any(|i| i.1 == "verification.restore.db_subnet_group" && i.2 == "OK"));
    f.world.drop_databases().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_names_the_iam_action_the_role_lacks() {
    // Given restore-verification whose RDS answers AccessDenied to DescribeDBSubnetGroups (the
    // role lacks it) and lists nothing else
    let mut f = util::world()
        .dir("lifeboat-preflight-denied")
        .build(|parts| parts.restore_verification())
        .await;
    use aws_sdk_rds::operation as op;
    let denied = mock!(aws_sdk_rds::Client::describe_db_subnet_groups).then_error(|| {
        op::describe_db_subnet_groups::DescribeDBSubnetGroupsError::generic(
            aws_smithy_types::error::ErrorMetadata::builder()
                .code("AccessDenied")
                .message("User: arn:aws:sts::123456789012:assumed-role/rv/x is not authorized to perform: rds:DescribeDBSubnetGroups")
                .build(),
        )
    });
    let instances = mock!(aws_sdk_rds::Client::describe_db_instances)
        .then_output(|| op::describe_db_instances::DescribeDbInstancesOutput::builder().build());
    let clusters = mock!(aws_sdk_rds::Client::describe_db_clusters)
        .then_output(|| op::describe_db_clusters::DescribeDbClustersOutput::builder().build());
    let snapshots = mock!(aws_sdk_rds::Client::describe_db_snapshots)
        .then_output(|| op::describe_db_snapshots::DescribeDbSnapshotsOutput::builder().build());
    let cl_snapshots =
        mock!(aws_sdk_rds::Client::describe_db_cluster_snapshots).then_output(|| {
            op::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput::builder().build()
        });
    f.app.cloud.rds = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [&denied, &instances, &clusters, &snapshots, &cl_snapshots],
        |c| c.region(aws_sdk_rds::config::Region::new(PRIMARY))
    );
    // When its preflight runs
    let r = restore_verification::invoke(
        &f.app,
        &json!({"action": "preflight"}),
        "pf",
        Utc::now(),
        None,
    )
    .await
    .unwrap();
    let r = r.report().unwrap();
    // Then the subnet group check is DENIED, naming the IAM action, and counted
    let item = items(r)
        .into_iter()
        .find(|i| i.0 == "DB subnet group lifeboat-restore")
        .unwrap();
    assert_eq!(
        (item.2.as_str(), item.3.as_str()),
        ("DENIED", "rds:DescribeDBSubnetGroups")
    );
    assert!(
        item.4
            .starts_with("the role lacks rds:DescribeDBSubnetGroups"),
        "{}",
        item.4
    );
    assert_eq!(denied.num_calls(), 1);
    assert!(r.headline.contains(" 1 denied"), "{}", r.headline);
    assert!(r
        .render_text()
        .contains("DENIED: the role lacks rds:DescribeDBSubnetGroups"));
    // And the sources the mocked account lacks are MISSING, not silently skipped
    assert!(items(r)
        .iter()
        .any(|i| i.1 == "components[0].ids[0]" && i.2 == "MISSING"));
    f.world.drop_databases().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_writes_nothing_but_its_report() {
    // Given the seeded world, with the functions' requests going through the recording proxy
    let h = util::world()
        .dir("lifeboat-preflight-reads")
        .build(|_| ())
        .await;
    let proxy = FaultProxy::start(&h.emu.endpoint);
    let parts = util::function_parts(config_for(&proxy.endpoint, PRIMARY).await, &h.world).await;
    let a = apps(parts);
    proxy.clear_log();
    // When each function's preflight runs
    let reports = preflights(&a).await;
    // Then every request was a read, but for each report's archive and email
    let log = proxy.log();
    assert!(log.len() > 30, "{} requests", log.len());
    let reports_prefix = format!("/{}/reports/", h.world.report_bucket);
    let mut archives = 0;
    let mut emails = 0;
    for r in &log {
        let read = ["Describe", "List", "Get", "Head"]
            .iter()
            .any(|p| r.operation.starts_with(p))
            || r.operation.starts_with("GET ");
        if read {
            continue;
        }
        if r.service == "s3" && r.operation == "PutObject" && r.path.starts_with(&reports_prefix) {
            archives += 1;
        } else if r.service == "sns" && r.operation == "Publish" {
            emails += 1;
        } else {
            panic!(
                "preflight wrote: {} {} {} {}",
                r.service, r.operation, r.method, r.path
            );
        }
    }
    assert_eq!((archives, emails), (3, 3), "one report each");
    // And the reports are those preflights', archived under each function's reports prefix
    for r in &reports {
        let uri = r.archive_uri.as_deref().unwrap();
        assert!(uri.contains(&format!("/reports/{}/", r.function)), "{uri}");
    }
    h.world.drop_databases().await;
}

#[test]
fn a_preflight_command_is_a_dry_run_and_takes_no_only() {
    // Given each function's preflight command, and one with `only`
    let plain = json!({"action": "preflight"});
    let narrowed = json!({"action": "preflight", "only": ["orders-db"]});
    // Then the plain one is a dry run, and `only` is refused naming the field
    let se = snapshot_export::command::parse(&plain).unwrap();
    assert!(se.preflight && se.dry_run);
    let rlc = replication_lag_check::command::parse(&plain).unwrap();
    assert!(rlc.preflight && rlc.dry_run);
    let policy =
        lifeboat_shared::policy::Policy::parse("version: 1\nbuckets: {backup: b-1}\n").unwrap();
    assert!(matches!(
        restore_verification::command::parse(&plain, &policy).unwrap(),
        restore_verification::command::Command::Preflight(_)
    ));
    let errors = [
        snapshot_export::command::parse(&narrowed).unwrap_err(),
        replication_lag_check::command::parse(&narrowed).unwrap_err(),
        restore_verification::command::parse(&narrowed, &policy).unwrap_err(),
    ];
    for e in errors {
        assert!(
            e.to_string()
                .starts_with("invalid event: event.only: no only for preflight"),
            "{e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replication_rule_for_another_prefix_is_missing_as_the_full_check_would_find() {
    // Given the backup bucket's only replication rule sending another prefix (other/) to the
    // DR bucket: the pair's backups/ is not replicated
    use aws_sdk_s3::types::{
        Destination, ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter,
        ReplicationRuleStatus,
    };
    let f = util::world()
        .dir("lifeboat-preflight-rule")
        .build(apps)
        .await;
    let s3 = lifeboat_tests::s3(&f.emu.config(PRIMARY).await);
    s3.put_bucket_replication()
        .bucket(&f.world.backup_bucket)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role("arn:aws:iam::123456789012:role/lifeboat-s3-replication")
                .rules(
                    ReplicationRule::builder()
                        .id("other-prefix")
                        .priority(1)
                        .status(ReplicationRuleStatus::Enabled)
                        .filter(ReplicationRuleFilter::builder().prefix("other/").build())
                        .destination(
                            Destination::builder()
                                .bucket(format!("arn:aws:s3:::{}", f.world.dr_backup_bucket))
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // When replication-lag-check's preflight runs
    let [_, _, rlc] = preflights(&f).await;
    // Then the pair's replication is MISSING with the full check's own words (it was OK: any
    // rule to the replica bucket counted)
    let rule = items(&rlc)
        .into_iter()
        .find(|i| i.0.starts_with("replication of s3://"))
        .unwrap_or_else(|| panic!("no replication item:\n{}", rlc.render_text()));
    assert_eq!(rule.2, "MISSING", "{rule:?}");
    assert!(rule.4.contains("no rule replicates s3://"), "{rule:?}");
    f.world.drop_databases().await;
}
