//! `{"action": "preflight"}`: what replication-lag-check's checks will read, read once on the
//! real account with the same clients, before the first scheduled run (see
//! [`lifeboat_shared::preflight`]). Read-only: no lease, no state, no canary.
//!
//! The checks, from the calls [`crate::inventory`], [`crate::metrics`] and [`crate::execute`]
//! make:
//! - the report bucket: this function's check states, restore-verification's status (the
//!   verified RPO) and the lease are read before they exist; an absent key must answer 404;
//! - each replication pair (`monitoring.replication[i]`): the source and replica buckets
//!   (HeadBucket, each in its region), the source's replication configuration with a rule to the
//!   replica (GetBucketReplication), versioning on both (GetBucketVersioning), the canary
//!   listings, and a canary HEAD of an absent key in the replica (404);
//! - CloudWatch GetMetricData in each region the metrics are read from;
//! - every selected source found, its backups listable (snapshots, the DR region's, AWS Backup
//!   recovery points), each read replica and Aurora reader it has found, the global databases
//!   and datastores listable;
//! - each artifact set's listing (`monitoring.artifacts[i]`).

use aws_sdk_cloudwatch::types::{Metric, MetricDataQuery, MetricStat};
use chrono::Utc;
use lifeboat_shared::aws::rds;
use lifeboat_shared::policy::{Location, Policy, ReplicationPair, ResourceKind};
use lifeboat_shared::preflight::{self, Preflight};

use crate::inventory::Clients;

/// What preflight reads with.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub clients: &'a Clients,
    pub report_s3: &'a aws_sdk_s3::Client,
    pub report_bucket: &'a str,
}

/// Every check, in order.
pub async fn check(cx: &Context<'_>, run_id: &str) -> Preflight {
    let mut p = Preflight::new();
    let policy = cx.policy;
    let c = cx.clients;
    for key in [
        crate::execute::STATE_KEY.to_string(),
        "state/restore-verification/status.json".to_string(),
        format!("locks/{}.json", crate::FUNCTION),
        lifeboat_shared::run::answered_key(crate::FUNCTION, run_id),
    ] {
        p.absent_key(
            cx.report_bucket,
            &key,
            Some("LIFEBOAT_REPORT_BUCKET"),
            "s3:GetObject",
            cx.report_s3
                .get_object()
                .bucket(cx.report_bucket)
                .key(&key)
                .send()
                .await,
        );
    }
    for (i, pair) in policy.monitoring.replication.iter().enumerate() {
        replication_pair(&mut p, c, i, pair, run_id).await;
    }
    metrics(&mut p, c).await;
    let found = preflight::sources(
        &mut p,
        policy,
        &c.rds,
        &c.elasticache,
        &c.primary_region,
        |_| true,
    )
    .await;
    backups(&mut p, cx, &found).await;
    replicas(&mut p, cx, &found).await;
    for (i, a) in policy.monitoring.artifacts.iter().enumerate() {
        let f = format!("monitoring.artifacts[{i}].bucket");
        p.call(
            &format!("s3://{}/{} ({})", a.bucket, a.prefix, a.name),
            Some(&f),
            "s3:ListObjectsV2",
            c.s3_in(a.region.as_deref())
                .list_objects_v2()
                .bucket(&a.bucket)
                .prefix(&a.prefix)
                .max_keys(1)
                .send()
                .await,
            "listable",
        );
    }
    if policy
        .monitoring
        .replication
        .iter()
        .any(|p| p.canary.enabled)
    {
        p.note("the canary's PutObject and DeleteObject in each source bucket: preflight never writes; the first full check writes the canary and says if it cannot");
    }
    p.note("the writes (check states, canaries, the lease): preflight never writes");
    p
}

/// One pair's reads: both buckets, the replication rule, versioning, the canaries.
async fn replication_pair(
    p: &mut Preflight,
    c: &Clients,
    i: usize,
    pair: &ReplicationPair,
    run_id: &str,
) {
    let src = c.s3_in(pair.source.region.as_deref());
    let dst = c.s3_in(pair.replica.region.as_deref());
    let sides = [
        ("source", &pair.source, src),
        ("replica", &pair.replica, dst),
    ];
    let mut there = [false, false];
    for (n, (side, loc, s3)) in sides.iter().enumerate() {
        let f = format!("monitoring.replication[{i}].{side}.bucket");
        let subject = format!("s3://{} ({} {side})", loc.bucket, pair.name);
        if p.attempt(
            &subject,
            Some(&f),
            "s3:HeadBucket",
            s3.head_bucket().bucket(&loc.bucket).send().await,
        )
        .is_some()
        {
            p.ok(&subject, Some(&f), "s3:HeadBucket", "exists");
            there[n] = true;
        }
    }
    for (n, (side, loc, s3)) in sides.iter().enumerate() {
        if there[n] {
            bucket_side(p, i, pair, side, loc, s3, run_id).await;
        }
    }
    if there[0] {
        replication_rule(p, sides[0].2, i, pair).await;
    }
}

/// One bucket of a pair that exists: versioning on, and the canary prefix listable (and an
/// absent canary key read as absent in the replica).
async fn bucket_side(
    p: &mut Preflight,
    i: usize,
    pair: &ReplicationPair,
    side: &str,
    loc: &Location,
    s3: &aws_sdk_s3::Client,
    run_id: &str,
) {
    let f = format!("monitoring.replication[{i}].{side}.bucket");
    let subject = format!("s3://{} ({} {side})", loc.bucket, pair.name);
    let call = "s3:GetBucketVersioning";
    if let Some(v) = p.attempt(
        &subject,
        Some(&f),
        call,
        s3.get_bucket_versioning().bucket(&loc.bucket).send().await,
    ) {
        match v.status().map(|s| s.as_str()) {
            Some("Enabled") => p.ok(&subject, Some(&f), call, "versioning enabled"),
            other => p.missing(
                &subject,
                Some(&f),
                call,
                format!(
                    "versioning is {}: S3 replication needs it on both buckets",
                    other.unwrap_or("off")
                ),
            ),
        }
    }
    if pair.canary.enabled {
        // S3 replication keeps keys: the replica has the canary under the same key.
        let prefix = pair.canary_prefix();
        p.call(
            &format!("s3://{}/{prefix}", loc.bucket),
            Some(&f),
            "s3:ListObjectsV2",
            s3.list_objects_v2()
                .bucket(&loc.bucket)
                .prefix(&prefix)
                .max_keys(1)
                .send()
                .await,
            "listable (canaries)",
        );
        if side == "replica" {
            let key = format!("{prefix}lifeboat-preflight-absent-{run_id}");
            p.absent_key(
                &loc.bucket,
                &key,
                Some(&f),
                "s3:HeadObject",
                s3.head_object().bucket(&loc.bucket).key(&key).send().await,
            );
        }
    }
}

/// The source's replication configuration has a rule to the replica bucket.
async fn replication_rule(
    p: &mut Preflight,
    s3: &aws_sdk_s3::Client,
    i: usize,
    pair: &ReplicationPair,
) {
    let f = format!("monitoring.replication[{i}].source.bucket");
    let subject = format!("replication of s3://{} ({})", pair.source.bucket, pair.name);
    let call = "s3:GetBucketReplication";
    let Some(out) = p.attempt(
        &subject,
        Some(&f),
        call,
        s3.get_bucket_replication()
            .bucket(&pair.source.bucket)
            .send()
            .await,
    ) else {
        return;
    };
    // The same decision the full check makes: an enabled rule to the replica covering the
    // pair's prefix (a disabled one, or one for another prefix, fails the run's check too).
    let rules: Vec<_> = out
        .replication_configuration()
        .map(|c| {
            c.rules()
                .iter()
                .map(crate::inventory::rule_from_sdk)
                .collect()
        })
        .unwrap_or_default();
    match crate::plan::pairs::covering_rule(pair, &rules) {
        Ok(r) => p.ok(
            &subject,
            Some(&f),
            call,
            crate::plan::pairs::covering_words(pair, r),
        ),
        Err(why) => p.missing(&subject, Some(&f), call, why),
    }
}

/// One GetMetricData in each region the checks read metrics from.
async fn metrics(p: &mut Preflight, c: &Clients) {
    let now = Utc::now();
    let from =
        aws_sdk_cloudwatch::primitives::DateTime::from_secs((now.timestamp() / 60 - 10) * 60);
    let to = aws_sdk_cloudwatch::primitives::DateTime::from_secs(now.timestamp() / 60 * 60);
    for (region, cw) in &c.cloudwatch {
        let query = MetricDataQuery::builder()
            .id("preflight")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/S3")
                            .metric_name("ReplicationLatency")
                            .build(),
                    )
                    .period(300)
                    .stat("Maximum")
                    .build(),
            )
            .return_data(true)
            .build();
        p.call(
            &format!("CloudWatch metrics in {region}"),
            None,
            "cloudwatch:GetMetricData",
            cw.get_metric_data()
                .metric_data_queries(query)
                .start_time(from)
                .end_time(to)
                .send()
                .await,
            "readable",
        );
    }
}

/// The backups each check measures: the snapshot listings (the primary region's, the DR
/// region's), the AWS Backup recovery points of each source.
async fn backups(p: &mut Preflight, cx: &Context<'_>, found: &[preflight::Source]) {
    let c = cx.clients;
    let has = |k: ResourceKind| found.iter().any(|s| s.kind == k);
    preflight::snapshot_listings(p, &c.rds, &c.elasticache, &c.primary_region, has).await;
    if let (Some(rds_dr), Some(dr)) = (&c.rds_dr, &c.dr_region) {
        let subject = format!("DR region {dr}");
        p.call(
            &subject,
            Some("dr.region"),
            "rds:DescribeDBSnapshots",
            rds_dr
                .describe_db_snapshots()
                .snapshot_type("manual")
                .max_records(20)
                .send()
                .await,
            "reachable, snapshots listable",
        );
        p.call(
            &subject,
            Some("dr.region"),
            "rds:DescribeDBInstances",
            rds_dr.describe_db_instances().max_records(20).send().await,
            "reachable, DB instances listable (cross-region replicas)",
        );
    }
    // AWS Backup recovery points (every source's backup age counts them): the action has no
    // resource-level permission, so one source's read proves it for all.
    if let Some(s) = found.iter().find(|s| !s.arn.is_empty()) {
        let subject = format!("AWS Backup recovery points (of {})", s.id);
        let call = "backup:ListRecoveryPointsByResource";
        let read = c
            .backup
            .list_recovery_points_by_resource()
            .resource_arn(&s.arn)
            .max_results(20)
            .send()
            .await;
        match read {
            Ok(out) => p.ok(
                &subject,
                None,
                call,
                format!(
                    "listable ({} on the first page)",
                    out.recovery_points().len()
                ),
            ),
            // A resource AWS Backup never backed up: listable, none there.
            Err(e) if lifeboat_shared::aws::errors::code(&e) == "ResourceNotFoundException" => p
                .ok(
                    &subject,
                    None,
                    call,
                    "listable (none: never backed up by AWS Backup)",
                ),
            Err(e) => p.failed(
                &subject,
                None,
                call,
                &lifeboat_shared::aws::errors::AwsError::new("ListRecoveryPointsByResource", &e),
            ),
        }
    }
}

/// The replicas the lag checks watch: each read replica and Aurora reader of a selected source
/// is found where it lives; the global databases and datastores are listable.
async fn replicas(p: &mut Preflight, cx: &Context<'_>, found: &[preflight::Source]) {
    let c = cx.clients;
    for s in found {
        for r in &s.replicas {
            // A replica in another region is named by its ARN: arn:aws:rds:REGION:ACCOUNT:db:ID.
            let parts: Vec<&str> = r.split(':').collect();
            let (region, id) = match parts.as_slice() {
                ["arn", _, "rds", region, _, "db", id] => (region.to_string(), id.to_string()),
                _ => (c.primary_region.clone(), r.clone()),
            };
            let client = if region == c.primary_region {
                &c.rds
            } else if Some(&region) == c.dr_region.as_ref() {
                match &c.rds_dr {
                    Some(rds) => rds,
                    None => continue,
                }
            } else {
                p.note(format!(
                    "replica {r} of {}: in {region}, a region the policy does not name (dr.region); its lag reads as no data",
                    s.id
                ));
                continue;
            };
            let subject = format!("replica {id} of {} in {region}", s.id);
            let f = format!("components[{}]", s.component);
            let call = "rds:DescribeDBInstances";
            match rds::find_instance(client, &id).await {
                Ok(Some(i)) => p.ok(&subject, Some(&f), call, format!("found, {}", i.status)),
                Ok(None) => p.missing(
                    &subject,
                    Some(&f),
                    call,
                    format!("{} lists it as a replica, {region} does not have it", s.id),
                ),
                Err(e) => p.failed(&subject, Some(&f), call, &e),
            }
        }
    }
    let primary = &c.primary_region;
    let global = |k: ResourceKind| found.iter().any(|s| s.kind == k && s.global.is_some());
    if global(ResourceKind::AuroraCluster) {
        p.call(
            &format!("global databases in {primary}"),
            None,
            "rds:DescribeGlobalClusters",
            c.rds
                .describe_global_clusters()
                .max_records(20)
                .send()
                .await,
            "listable",
        );
    }
    if global(ResourceKind::Elasticache) {
        p.call(
            &format!("global datastores in {primary}"),
            None,
            "elasticache:DescribeGlobalReplicationGroups",
            c.elasticache
                .describe_global_replication_groups()
                .max_records(20)
                .send()
                .await,
            "listable",
        );
    }
}
