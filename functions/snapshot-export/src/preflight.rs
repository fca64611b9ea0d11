//! `{"action": "preflight"}`: what snapshot-export's runs will read and reach, read once on the
//! real account with the same clients, before the first scheduled run (see
//! [`lifeboat_shared::preflight`]). Read-only: no lease, no snapshot, no manifest, no intent.
//!
//! The checks, from the calls [`crate::inventory`] and [`crate::execute`] make:
//! - the report bucket: the lease and a run's recorded answer read (absent must answer 404);
//! - the backup bucket (`buckets.backup`): HeadBucket, the `lifeboat-` listing of ElastiCache
//!   exports, a manifest read of an absent key (404, not 403), GetBucketAcl when an ElastiCache
//!   component exports;
//! - with a backup target parameter (`buckets.target_parameter`): GetParameter, which must find
//!   it naming `buckets.backup` or `buckets.dr_backup` (a run finding anything else writes no
//!   backup), and the same checks of the secondary bucket (`buckets.dr_backup`, with S3 in the
//!   DR region), which every such run reads and a failover writes;
//! - every selected source (DescribeDBInstances / DBClusters / ReplicationGroups by the
//!   policy's selection), each id and tag selection found;
//! - the snapshot, export-task and quota listings each run makes;
//! - the DR region (`dr.region`): a snapshot listing there; the DR copy key (`dr.kms_key_id`)
//!   and the export key (`export.kms_key_id`) with kms:DescribeKey, enabled;
//! - each database secret (`components[i].database.secret_arn`, DescribeSecret) and, since
//!   fingerprints connect to the sources, a TCP connection to each source endpoint and the CA
//!   bundle when TLS is on.

use std::collections::BTreeMap;

use lifeboat_shared::aws::ssm::{self, Side};
use lifeboat_shared::aws::AwsError;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::policy::{Policy, ResourceKind};
use lifeboat_shared::preflight::{self, Preflight};

use crate::inventory::Clients;
use crate::plan::{Fingerprints, FINGERPRINTS_OFF, FINGERPRINTS_VAR};

/// What preflight reads with.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub clients: &'a Clients,
    /// For the KMS clients (the primary and the DR region), built like the others.
    pub aws: &'a Aws,
    pub report_s3: &'a aws_sdk_s3::Client,
    pub report_bucket: &'a str,
    pub local_endpoints: &'a BTreeMap<String, (String, u16)>,
    /// Whether the runs take fingerprints (`LIFEBOAT_FINGERPRINTS`, as the App read it).
    pub fingerprints: &'a Fingerprints,
}

/// Every check, in order.
pub async fn check(cx: &Context<'_>, run_id: &str) -> Preflight {
    let mut p = Preflight::new();
    let policy = cx.policy;
    let c = cx.clients;
    // Run state: the lease, and a run's recorded answer (run::once), are read before they are
    // written.
    for key in [
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
    let primary = &cx.clients.s3;
    backup_bucket(
        &mut p,
        cx,
        (&policy.buckets.backup, "buckets.backup"),
        primary,
        true,
        run_id,
    )
    .await;
    if let Some(parameter) = policy.buckets.target_parameter.as_deref() {
        backup_target(&mut p, cx, parameter).await;
        if let Some(secondary) = policy.buckets.dr_backup.as_deref() {
            // In the DR region no export ever goes there (see plan::exports).
            let (s3, exports_there) = match &c.dr_region {
                Some(dr) if dr != &c.primary_region => (cx.aws.s3_in(dr), false),
                _ => (primary.clone(), true),
            };
            let named = (secondary, "buckets.dr_backup");
            backup_bucket(&mut p, cx, named, &s3, exports_there, run_id).await;
        }
    }
    let found = preflight::sources(
        &mut p,
        policy,
        &c.rds,
        &c.elasticache,
        &c.primary_region,
        |_| true,
    )
    .await;
    listings(&mut p, c).await;
    keys(&mut p, cx).await;
    match cx.fingerprints {
        Fingerprints::Off(why) => p.note(format!(
            "the database secrets and endpoints: {FINGERPRINTS_OFF} ({FINGERPRINTS_VAR}: {why}); restore checks then have no row-count baseline"
        )),
        Fingerprints::On => {
            preflight::secrets(&mut p, policy, &c.secrets, |_| true).await;
            preflight::endpoints(
                &mut p,
                policy,
                &found,
                cx.local_endpoints,
                "snapshot-time fingerprint",
            )
            .await;
            if policy.components.iter().any(|c| c.database.is_some()) {
                p.note("secretsmanager:GetSecretValue and each secret's shape (username, password): preflight never reads a secret's value");
            }
        }
    }
    if policy.export.is_some() {
        p.note(format!(
            "iam:PassRole on export.iam_role_arn ({}): no read-only call proves it; the first StartExportTask does",
            policy.export.as_ref().map(|e| e.iam_role_arn.as_str()).unwrap_or_default()
        ));
    }
    p.note("kms:CreateGrant on the DR and export keys: RDS exercises it only during a copy or an export");
    p.note(
        "the writes (snapshots, copies, tags, manifests, intents, deletes): preflight never writes",
    );
    p
}

/// The backup target parameter (GetParameter in the primary region, as the runs read it): there,
/// and naming one of the policy's two backup buckets.
async fn backup_target(p: &mut Preflight, cx: &Context<'_>, parameter: &str) {
    let ssm = aws_sdk_ssm::Client::new(cx.aws.config());
    let subject = format!("SSM parameter {parameter} in {}", cx.clients.primary_region);
    let (f, call) = (Some("buckets.target_parameter"), "ssm:GetParameter");
    let Some(out) = (match ssm.get_parameter().name(parameter).send().await {
        Ok(out) => Some(out),
        Err(e) => {
            let e = AwsError::new("GetParameter", &e);
            if e.code == "ParameterNotFound" {
                p.missing(
                    &subject,
                    f,
                    call,
                    format!(
                        "does not exist: every run would write no backup until it holds the bucket backups go to ({})",
                        cx.policy.buckets.backup
                    ),
                );
            } else {
                p.failed(&subject, f, call, &e);
            }
            None
        }
    }) else {
        return;
    };
    let value = out.parameter().and_then(|x| x.value()).unwrap_or_default();
    match ssm::target_of(cx.policy, parameter, value) {
        Ok(t) if t.side == Side::Primary => p.ok(
            &subject,
            f,
            call,
            format!("names {} ({}): backups go there", t.bucket, t.field()),
        ),
        Ok(t) => p.ok(
            &subject,
            f,
            call,
            format!(
                "names {} ({}): backups go to the secondary (failover) until failback switches it back",
                t.bucket,
                t.field()
            ),
        ),
        Err(e) => p.missing(
            &subject,
            f,
            call,
            format!("{e}; every run would write no backup"),
        ),
    }
}

/// A backup bucket the runs read and write, and the policy field naming it; `s3` is S3 in its
/// region; `exports_there`: ElastiCache exports may be written there (its ACL is read).
async fn backup_bucket(
    p: &mut Preflight,
    cx: &Context<'_>,
    (bucket, field): (&str, &str),
    s3: &aws_sdk_s3::Client,
    exports_there: bool,
    run_id: &str,
) {
    let subject = format!("s3://{bucket}");
    let f = Some(field);
    if p.attempt(
        &subject,
        f,
        "s3:HeadBucket",
        s3.head_bucket().bucket(bucket).send().await,
    )
    .is_some()
    {
        p.ok(&subject, f, "s3:HeadBucket", "exists");
    }
    p.call(
        &format!("s3://{bucket}/{}", lifeboat_shared::backup::PREFIX),
        f,
        "s3:ListObjectsV2",
        s3.list_objects_v2()
            .bucket(bucket)
            .prefix(lifeboat_shared::backup::PREFIX)
            .max_keys(1)
            .send()
            .await,
        "listable (ElastiCache exports)",
    );
    // A manifest is read before it is written (an earlier run's, when the fingerprint is due).
    let absent = preflight::absent_manifest_key(run_id);
    p.absent_key(
        bucket,
        &absent,
        f,
        "s3:GetObject",
        s3.get_object().bucket(bucket).key(&absent).send().await,
    );
    let cache_export = cx.policy.components.iter().any(|comp| {
        comp.kind == ResourceKind::Elasticache && cx.policy.resolve(&comp.settings()).export
    });
    if cache_export && exports_there {
        p.call(
            &subject,
            f,
            "s3:GetBucketAcl",
            s3.get_bucket_acl().bucket(bucket).send().await,
            "readable (ElastiCache's export to the bucket requires it of the caller)",
        );
        p.note(format!("the ACL grant to ElastiCache on {bucket} (an ElastiCache export there needs it): the first export proves it"));
    }
}

/// The listings every run makes, one page each.
async fn listings(p: &mut Preflight, c: &Clients) {
    preflight::snapshot_listings(p, &c.rds, &c.elasticache, &c.primary_region, |_| true).await;
    p.call(
        &format!("export tasks in {}", c.primary_region),
        None,
        "rds:DescribeExportTasks",
        c.rds.describe_export_tasks().max_records(20).send().await,
        "listable",
    );
    p.call(
        &format!("manual snapshot quota in {}", c.primary_region),
        None,
        "rds:DescribeAccountAttributes",
        c.rds.describe_account_attributes().send().await,
        "readable",
    );
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
            "rds:DescribeDBClusterSnapshots",
            rds_dr
                .describe_db_cluster_snapshots()
                .snapshot_type("manual")
                .max_records(20)
                .send()
                .await,
            "reachable, cluster snapshots listable",
        );
    }
}

/// The KMS keys the policy names: each exists and is enabled (kms:DescribeKey, which RDS also
/// requires of the caller of an encrypted copy or an export).
async fn keys(p: &mut Preflight, cx: &Context<'_>) {
    let policy = cx.policy;
    let mut wanted: Vec<(String, &str, String)> = Vec::new();
    if let (Some(dr), Some(key)) = (
        &policy.dr,
        policy.dr.as_ref().and_then(|d| d.kms_key_id.clone()),
    ) {
        wanted.push((key, "dr.kms_key_id", dr.region.clone()));
    }
    let exports = policy
        .components
        .iter()
        .any(|c| c.kind != ResourceKind::Elasticache && policy.resolve(&c.settings()).export)
        || policy.defaults.export == Some(true);
    if let (Some(e), true) = (&policy.export, exports) {
        wanted.push((
            e.kms_key_id.clone(),
            "export.kms_key_id",
            cx.clients.primary_region.clone(),
        ));
    }
    for (key, f, region) in wanted {
        let kms = aws_sdk_kms::Client::new(&cx.aws.config_in(&region));
        let subject = format!("KMS key {key} in {region}");
        let call = "kms:DescribeKey";
        let Some(out) = p.attempt(
            &subject,
            Some(f),
            call,
            kms.describe_key().key_id(&key).send().await,
        ) else {
            continue;
        };
        let state = out
            .key_metadata()
            .and_then(|m| m.key_state())
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "unknown".into());
        if state == "Enabled" {
            p.ok(&subject, Some(f), call, "exists, enabled");
        } else {
            p.missing(
                &subject,
                Some(f),
                call,
                format!("exists but is {state}: unusable for copies and exports"),
            );
        }
    }
}
