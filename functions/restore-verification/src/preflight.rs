//! `{"action": "preflight"}`: what restore-verification's restores, sweeps and janitor will
//! read, read once on the real account with the same clients, before the first scheduled run
//! (see [`lifeboat_shared::preflight`]). Read-only: no lease, no journal, no restore.
//!
//! The checks, from the calls [`crate::restores`] and [`crate::sweeps`] make:
//! - the report bucket: the restore run's status, a journal and the lease are read before they
//!   are written; an absent key must answer 404 (a 403 means `s3:ListBucket` is missing);
//! - the backup bucket's manifests (`buckets.backup`): an absent manifest must answer 404;
//! - the restore target (`verification.restore`): the DB subnet group
//!   (rds:DescribeDBSubnetGroups) and the cache subnet group
//!   (elasticache:DescribeCacheSubnetGroups) restores go into;
//! - every source of a component with `verify` found, its backups listable (snapshots, or AWS
//!   Backup recovery points);
//! - each database secret (DescribeSecret) and the CA bundle when checks connect over TLS;
//! - each integrity sweep's source and replica buckets (HeadBucket, the prefix's listing, an
//!   absent replica key answering 404).

use std::collections::BTreeMap;

use lifeboat_shared::clients::Aws;
use lifeboat_shared::policy::{BackupSource, Component, Policy, ResourceKind};
use lifeboat_shared::preflight::{self, Preflight};

use crate::restores::inventory::Clients;

/// What preflight reads with.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub clients: &'a Clients,
    pub aws: &'a Aws,
    /// S3 in the primary region (the report and backup buckets).
    pub s3: &'a aws_sdk_s3::Client,
    pub report_bucket: &'a str,
    pub local_endpoints: &'a BTreeMap<String, (String, u16)>,
}

fn verified(c: &Component) -> bool {
    c.verify.is_some()
}

/// Every check, in order.
pub async fn check(cx: &Context<'_>, run_id: &str) -> Preflight {
    let mut p = Preflight::new();
    let policy = cx.policy;
    let f = crate::FUNCTION;
    for key in [
        format!("state/{f}/status.json"),
        format!("runs/{f}/preflight-{run_id}.json"),
        format!("locks/{f}.json"),
    ] {
        p.absent_key(
            cx.report_bucket,
            &key,
            Some("LIFEBOAT_REPORT_BUCKET"),
            "s3:GetObject",
            cx.s3
                .get_object()
                .bucket(cx.report_bucket)
                .key(&key)
                .send()
                .await,
        );
    }
    let restores = policy.components.iter().any(verified);
    if restores {
        let absent = preflight::absent_manifest_key(run_id);
        let bucket = policy.buckets.backup.as_str();
        p.absent_key(
            bucket,
            &absent,
            Some("buckets.backup"),
            "s3:GetObject",
            cx.s3.get_object().bucket(bucket).key(&absent).send().await,
        );
        target(&mut p, cx).await;
        let c = cx.clients;
        let region = crate::restores::inventory::region(c);
        let found =
            preflight::sources(&mut p, policy, &c.rds, &c.elasticache, &region, verified).await;
        backups(&mut p, cx, &found, &region).await;
        preflight::secrets(&mut p, policy, &c.secrets, verified).await;
        let tls: Vec<&str> = policy
            .components
            .iter()
            // (Redis verifies against the system's roots when no bundle is set)
            .filter(|c| verified(c) && c.kind != ResourceKind::Elasticache)
            .filter_map(|c| {
                c.database
                    .as_ref()
                    .filter(|d| d.tls)
                    .map(|_| c.name.as_str())
            })
            .collect();
        let mapped = !cx.local_endpoints.is_empty();
        if !tls.is_empty() && !mapped {
            preflight::ca_bundle(
                &mut p,
                &format!("the restored copies of {}", tls.join(", ")),
            );
        }
        p.note("the restored copies' reachability: they exist only during a run (the function must run in subnets that reach the restore subnet group, its security group admitted by verification.restore.security_group_ids)");
        p.note(
            "the security groups of verification.restore.security_group_ids: no EC2 read is linked; the first restore names one that is missing",
        );
        if let Some(role) = policy
            .verification
            .restore
            .as_ref()
            .and_then(|t| t.backup_role_arn.as_deref())
        {
            p.note(format!(
                "iam:PassRole on verification.restore.backup_role_arn ({role}): the first StartRestoreJob proves it"
            ));
        }
        p.note("secretsmanager:GetSecretValue and each secret's shape (username, password): preflight never reads a secret's value");
    }
    sweeps(&mut p, cx, run_id).await;
    if !restores && policy.verification.sweeps.is_empty() {
        p.note(
            "no component has verify and there is no sweep: nothing for restore-verification to do",
        );
    }
    p.note("the writes (restores, tags, teardown, journals, repairs): preflight never writes");
    p
}

/// The subnet groups restores go into.
async fn target(p: &mut Preflight, cx: &Context<'_>) {
    let Some(t) = &cx.policy.verification.restore else {
        p.missing(
            "restore target",
            Some("verification.restore"),
            "policy",
            "components have verify but the policy names no restore target",
        );
        return;
    };
    let subject = format!("DB subnet group {}", t.db_subnet_group);
    let f = Some("verification.restore.db_subnet_group");
    let call = "rds:DescribeDBSubnetGroups";
    let rds = &cx.clients.rds;
    if let Some(out) = p.attempt(
        &subject,
        f,
        call,
        rds.describe_db_subnet_groups()
            .db_subnet_group_name(&t.db_subnet_group)
            .send()
            .await,
    ) {
        match out.db_subnet_groups().first() {
            Some(g) => p.ok(
                &subject,
                f,
                call,
                format!(
                    "exists, {} subnets in {}",
                    g.subnets().len(),
                    g.vpc_id().unwrap_or("a VPC")
                ),
            ),
            None => p.missing(&subject, f, call, "not listed"),
        }
    }
    let caches = cx
        .policy
        .components
        .iter()
        .any(|c| c.kind == ResourceKind::Elasticache && verified(c));
    if !caches {
        return;
    }
    let Some(name) = &t.cache_subnet_group else {
        p.missing(
            "cache subnet group",
            Some("verification.restore.cache_subnet_group"),
            "policy",
            "an elasticache component has verify but no cache subnet group is named: restored caches would go to the default VPC",
        );
        return;
    };
    let subject = format!("cache subnet group {name}");
    let f = Some("verification.restore.cache_subnet_group");
    let call = "elasticache:DescribeCacheSubnetGroups";
    if let Some(out) = p.attempt(
        &subject,
        f,
        call,
        cx.clients
            .elasticache
            .describe_cache_subnet_groups()
            .cache_subnet_group_name(name)
            .send()
            .await,
    ) {
        match out.cache_subnet_groups().first() {
            Some(g) => p.ok(
                &subject,
                f,
                call,
                format!(
                    "exists, {} subnets in {}",
                    g.subnets().len(),
                    g.vpc_id().unwrap_or("a VPC")
                ),
            ),
            None => p.missing(&subject, f, call, "not listed"),
        }
    }
}

/// The backups a run chooses from: each kind's snapshot listing, each AWS Backup source's
/// recovery points.
async fn backups(p: &mut Preflight, cx: &Context<'_>, found: &[preflight::Source], region: &str) {
    let c = cx.clients;
    let policy = cx.policy;
    let uses = |k: ResourceKind| {
        policy.components.iter().any(|comp| {
            comp.kind == k
                && comp
                    .verify
                    .as_ref()
                    .is_some_and(|v| v.source == BackupSource::Snapshot)
        })
    };
    preflight::snapshot_listings(p, &c.rds, &c.elasticache, region, uses).await;
    for s in found {
        let comp = &policy.components[s.component];
        if comp.verify.as_ref().map(|v| v.source) != Some(BackupSource::AwsBackup) {
            continue;
        }
        p.call(
            &format!("recovery points of {} ({})", s.id, comp.name),
            Some(&format!("components[{}].verify.source", s.component)),
            "backup:ListRecoveryPointsByResource",
            c.backup
                .list_recovery_points_by_resource()
                .resource_arn(&s.arn)
                .max_results(20)
                .send()
                .await,
            "listable",
        );
    }
}

/// Each sweep's two sides: the bucket, the prefix's listing, and on the replica an absent key
/// answering 404 (a missing replica object is a mismatch, not a failure).
async fn sweeps(p: &mut Preflight, cx: &Context<'_>, run_id: &str) {
    for (i, sw) in cx.policy.verification.sweeps.iter().enumerate() {
        for (side, loc) in [("source", &sw.source), ("replica", &sw.replica)] {
            let s3 = match loc.region.as_deref() {
                Some(r) if r != cx.aws.region() => cx.aws.s3_in(r),
                _ => cx.s3.clone(),
            };
            let bucket = loc.bucket.as_str();
            let f = format!("verification.sweeps[{i}].{side}.bucket");
            let subject = format!("s3://{bucket} ({} {side})", sw.name);
            if p.attempt(
                &subject,
                Some(&f),
                "s3:HeadBucket",
                s3.head_bucket().bucket(bucket).send().await,
            )
            .is_none()
            {
                continue;
            }
            p.ok(&subject, Some(&f), "s3:HeadBucket", "exists");
            p.call(
                &format!("s3://{bucket}/{}", loc.prefix),
                Some(&f),
                "s3:ListObjectsV2",
                s3.list_objects_v2()
                    .bucket(bucket)
                    .prefix(&loc.prefix)
                    .max_keys(1)
                    .send()
                    .await,
                "listable",
            );
            if side == "replica" {
                let key = format!("{}lifeboat-preflight/absent-{run_id}", loc.prefix);
                p.absent_key(
                    bucket,
                    &key,
                    Some(&f),
                    "s3:HeadObject",
                    s3.head_object().bucket(bucket).key(&key).send().await,
                );
            }
        }
    }
}
