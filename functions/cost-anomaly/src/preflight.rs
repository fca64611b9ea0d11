//! `{"action": "preflight"}`: what cost-anomaly's runs will read, read once on the real
//! account with the same clients and the same calls, before the first scheduled run (see
//! [`lifeboat_shared::preflight`]). Read-only: no lease, no history, no state.
//!
//! - the report bucket: the day's history record, the alert states and the lease are read
//!   before they exist; an absent key must answer 404 (s3:ListBucket);
//! - in the primary and DR regions: RDS instances, snapshots and clusters, ElastiCache
//!   replication groups and snapshots;
//! - CloudWatch GetMetricData in each bucket's region: whether `AWS/S3` `BucketSizeBytes` has
//!   the last day's datapoint for each bucket (S3 publishes daily; a new bucket has none yet);
//! - each bucket: versioning, lifecycle, replication, a listing and the multipart uploads;
//! - each S3 Inventory report: a dated report under its destination;
//! - each AWS Backup vault: its recovery points listable;
//! - Cost Explorer, when enabled: one GetCostAndUsage of the last day ($0.01): enabled or not.

use chrono::Duration;
use lifeboat_shared::preflight::Preflight;
use lifeboat_shared::report::Report;
use lifeboat_shared::run::Invocation;

use crate::command::day_before;
use crate::execute::{day_key, ALERTS_KEY};
use crate::inventory::{self, Calls};
use crate::App;

pub async fn run(app: &App, inv: &Invocation) -> Report {
    let p = Box::pin(check(app, inv)).await;
    let mut report = inv.report();
    p.into_report(&mut report);
    report
}

async fn check(app: &App, inv: &Invocation) -> Preflight {
    let mut p = Preflight::new();
    let c = &app.clients;
    let bucket = &app.env.report_bucket;
    let day = day_before(inv.now);
    for key in [
        day_key(day + Duration::days(2)),
        ALERTS_KEY.to_string(),
        format!("locks/{}.json", crate::FUNCTION),
        lifeboat_shared::run::answered_key(crate::FUNCTION, &inv.run_id),
    ] {
        p.absent_key(
            bucket,
            &key,
            Some("LIFEBOAT_REPORT_BUCKET"),
            "s3:GetObject",
            app.report_s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await,
        );
    }
    for region in c.regions() {
        let here = format!("backups in {region}");
        if let Some(rds) = c.rds.get(&region) {
            p.call(
                &here,
                None,
                "rds:DescribeDBInstances",
                rds.describe_db_instances().max_records(20).send().await,
                "listable",
            );
            p.call(
                &here,
                None,
                "rds:DescribeDBSnapshots",
                rds.describe_db_snapshots().max_records(20).send().await,
                "listable",
            );
            p.call(
                &here,
                None,
                "rds:DescribeDBClusters",
                rds.describe_db_clusters().max_records(20).send().await,
                "listable",
            );
            p.call(
                &here,
                None,
                "rds:DescribeDBClusterSnapshots",
                rds.describe_db_cluster_snapshots()
                    .max_records(20)
                    .send()
                    .await,
                "listable",
            );
        }
        if let Some(ec) = c.elasticache.get(&region) {
            p.call(
                &here,
                None,
                "elasticache:DescribeReplicationGroups",
                ec.describe_replication_groups()
                    .max_records(20)
                    .send()
                    .await,
                "listable",
            );
            p.call(
                &here,
                None,
                "elasticache:DescribeSnapshots",
                ec.describe_snapshots().max_records(20).send().await,
                "listable",
            );
        }
    }
    let buckets = inventory::buckets(&app.policy, &c.primary, c.dr.as_deref());
    for b in &buckets {
        let Some(s3) = c.s3.get(&b.region) else {
            continue;
        };
        let subject = format!("s3://{}", b.name);
        p.call(
            &subject,
            None,
            "s3:GetBucketVersioning",
            s3.get_bucket_versioning().bucket(&b.name).send().await,
            "versioning readable",
        );
        match s3
            .get_bucket_lifecycle_configuration()
            .bucket(&b.name)
            .send()
            .await
        {
            Ok(l) => p.ok(
                &subject,
                None,
                "s3:GetBucketLifecycleConfiguration",
                format!("{} lifecycle rule(s)", l.rules().len()),
            ),
            Err(e) if lifeboat_shared::aws::errors::code(&e) == "NoSuchLifecycleConfiguration" => p
                .ok(
                    &subject,
                    None,
                    "s3:GetBucketLifecycleConfiguration",
                    "no lifecycle rules (the savings will say what they cost)",
                ),
            Err(e) => p.failed(
                &subject,
                None,
                "s3:GetBucketLifecycleConfiguration",
                &lifeboat_shared::aws::errors::AwsError::new("GetBucketLifecycleConfiguration", &e),
            ),
        }
        match s3.get_bucket_replication().bucket(&b.name).send().await {
            Ok(_) => p.ok(
                &subject,
                None,
                "s3:GetBucketReplication",
                "replicated: its transfer is costed",
            ),
            Err(e)
                if lifeboat_shared::aws::errors::code(&e)
                    == "ReplicationConfigurationNotFoundError" =>
            {
                p.ok(&subject, None, "s3:GetBucketReplication", "not replicated")
            }
            Err(e) => p.failed(
                &subject,
                None,
                "s3:GetBucketReplication",
                &lifeboat_shared::aws::errors::AwsError::new("GetBucketReplication", &e),
            ),
        }
        p.call(
            &subject,
            None,
            "s3:ListObjectsV2",
            s3.list_objects_v2()
                .bucket(&b.name)
                .max_keys(1)
                .send()
                .await,
            "listable",
        );
        p.call(
            &subject,
            None,
            "s3:ListMultipartUploads",
            s3.list_multipart_uploads()
                .bucket(&b.name)
                .max_uploads(1)
                .send()
                .await,
            "multipart uploads listable",
        );
        // The metric the run reads.
        if let Some(cw) = c.cloudwatch.get(&b.region) {
            let series_day = day;
            let got = cw
                .get_metric_data()
                .metric_data_queries(
                    aws_sdk_cloudwatch::types::MetricDataQuery::builder()
                        .id("s")
                        .metric_stat(
                            aws_sdk_cloudwatch::types::MetricStat::builder()
                                .metric(
                                    aws_sdk_cloudwatch::types::Metric::builder()
                                        .namespace("AWS/S3")
                                        .metric_name("BucketSizeBytes")
                                        .dimensions(
                                            aws_sdk_cloudwatch::types::Dimension::builder()
                                                .name("BucketName")
                                                .value(&b.name)
                                                .build(),
                                        )
                                        .dimensions(
                                            aws_sdk_cloudwatch::types::Dimension::builder()
                                                .name("StorageType")
                                                .value("StandardStorage")
                                                .build(),
                                        )
                                        .build(),
                                )
                                .period(86_400)
                                .stat("Average")
                                .build(),
                        )
                        .build(),
                )
                .start_time(aws_smithy_types::DateTime::from_secs(
                    (series_day - Duration::days(2))
                        .and_hms_opt(0, 0, 0)
                        .unwrap_or_default()
                        .and_utc()
                        .timestamp(),
                ))
                .end_time(aws_smithy_types::DateTime::from_secs(
                    (series_day + Duration::days(1))
                        .and_hms_opt(0, 0, 0)
                        .unwrap_or_default()
                        .and_utc()
                        .timestamp(),
                ))
                .send()
                .await;
            if let Some(out) = p.attempt(&subject, None, "cloudwatch:GetMetricData", got) {
                let points: usize = out
                    .metric_data_results()
                    .iter()
                    .map(|r| r.values().len())
                    .sum();
                if points > 0 {
                    p.ok(&subject, None, "cloudwatch:GetMetricData", format!("AWS/S3 BucketSizeBytes (StandardStorage) in {}: {points} daily datapoint(s) in the last 3 days", b.region));
                } else {
                    p.ok(&subject, None, "cloudwatch:GetMetricData", format!("AWS/S3 BucketSizeBytes (StandardStorage) in {}: no datapoint in the last 3 days (a new or empty bucket, or no STANDARD objects); the run lists buckets of up to {} objects", b.region, app.policy.cost.list_up_to));
                }
            }
        }
    }
    for (i, r) in app.policy.cost.inventories.iter().enumerate() {
        let f = format!("cost.inventories[{i}]");
        let Some(s3) = buckets
            .iter()
            .find(|b| b.name == r.bucket)
            .and_then(|b| c.s3.get(&b.region))
            .or_else(|| c.s3.get(&c.primary))
        else {
            continue;
        };
        let prefix = match &r.destination_prefix {
            Some(p) => format!("{p}/{}/{}/", r.bucket, r.config_id),
            None => format!("{}/{}/", r.bucket, r.config_id),
        };
        let subject = format!("s3://{}/{prefix}", r.destination_bucket);
        if let Some(out) = p.attempt(
            &subject,
            Some(&f),
            "s3:ListObjectsV2",
            s3.list_objects_v2()
                .bucket(&r.destination_bucket)
                .prefix(&prefix)
                .delimiter("/")
                .send()
                .await,
        ) {
            let mut dated: Vec<&str> = out
                .common_prefixes()
                .iter()
                .filter_map(|cp| cp.prefix())
                .filter(|p| !p.ends_with("/data/") && !p.ends_with("/hive/"))
                .collect();
            dated.sort();
            match dated.last() {
                Some(newest) => p.ok(&subject, Some(&f), "s3:ListObjectsV2", format!("newest report folder {newest}")),
                None => p.missing(&subject, Some(&f), "s3:ListObjectsV2", "no inventory report yet (AWS writes the first within 48 hours of the configuration)"),
            }
        }
    }
    for (i, v) in app.policy.cost.backup_vaults.iter().enumerate() {
        let f = format!("cost.backup_vaults[{i}]");
        p.call(
            &format!("AWS Backup vault {v}"),
            Some(&f),
            "backup:ListRecoveryPointsByBackupVault",
            c.backup
                .list_recovery_points_by_backup_vault()
                .backup_vault_name(v)
                .max_results(1)
                .send()
                .await,
            "listable",
        );
    }
    match &c.ce {
        None => p.note("Cost Explorer: not enabled in the policy (cost.cost_explorer.enabled): the model's figures stand alone, and no Cost Explorer request is made"),
        Some(ce) => {
            let mut calls = Calls::default();
            match inventory::cost_and_usage(ce, &app.policy.cost.cost_explorer.tag_key, day, day + Duration::days(1), &mut calls).await {
                Ok(a) => p.ok("Cost Explorer", Some("cost.cost_explorer.enabled"), "ce:GetCostAndUsage", format!("enabled: {} group(s) for {day} ($0.01 for this request)", a.len())),
                Err(e) => p.could_not_check("Cost Explorer", Some("cost.cost_explorer.enabled"), "ce:GetCostAndUsage", format!("{e} (a new account must enable Cost Explorer in the Billing console; the tag {} must be activated as a cost allocation tag)", app.policy.cost.cost_explorer.tag_key)),
            }
        }
    }
    p
}
