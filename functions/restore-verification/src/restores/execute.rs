//! Execute restores: start a restore into a temporary resource, watch it become available, run
//! the checks, tear it down — one phase per round, each call idempotent (a resumed or redelivered
//! run repeats calls safely; "already exists" and "not found" count as done).

use std::collections::BTreeMap;

use chrono::Utc;
use lifeboat_shared::aws::errors::{already_exists, code, invalid_state, not_found};
use lifeboat_shared::aws::{elasticache, rds};
use lifeboat_shared::backup::{TAG_PURPOSE, TAG_RUN};
use lifeboat_shared::data::Verdict as CheckVerdict;
use lifeboat_shared::policy::Component;
use lifeboat_shared::policy::{BackupSource, ResourceKind, RestoreTarget};

use super::inventory::{err, find_cluster, find_group, find_instance, group_tags, Clients};
use super::plan::{temp_tags, Job, Phase, TempKind, TempResource, VERIFY_ATTEMPTS};
use super::verify;
use super::Context;

/// Starts the restore (or finds it already started: the names are deterministic).
pub async fn start(
    c: &Clients,
    job: &mut Job,
    target: &RestoreTarget,
    source: BackupSource,
    run_id: &str,
) -> Result<(), String> {
    let tags = temp_tags(run_id, &job.component, &job.backup.id, job.expires_at);
    let sgs = target.security_group_ids.clone();
    if source == BackupSource::AwsBackup {
        let mut meta: std::collections::HashMap<String, String> = [
            ("DBSubnetGroupName", target.db_subnet_group.clone()),
            (
                "VpcSecurityGroupIds",
                format!("[\"{}\"]", sgs.join("\",\"")),
            ),
            ("PubliclyAccessible", "false".into()),
            ("MultiAZ", "false".into()),
            ("DeletionProtection", "false".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        match job.kind {
            ResourceKind::AuroraCluster => {
                meta.insert("DBClusterIdentifier".into(), job.temp_id.clone());
                meta.insert("Engine".into(), job.backup.engine.clone());
            }
            _ => {
                meta.insert("DBInstanceIdentifier".into(), job.temp_id.clone());
                meta.insert("DBInstanceClass".into(), target.instance_class.clone());
            }
        }
        let out = c
            .backup
            .start_restore_job()
            .recovery_point_arn(&job.backup.arn)
            .set_iam_role_arn(target.backup_role_arn.clone())
            .set_metadata(Some(meta))
            .resource_type(match job.kind {
                ResourceKind::AuroraCluster => "Aurora",
                _ => "RDS",
            })
            // The same token for a resumed run: AWS Backup returns the same job.
            .idempotency_token(format!("{run_id}/{}", job.component))
            .send()
            .await
            .map_err(|e| err("StartRestoreJob", &job.backup.arn, &e))?;
        job.restore_job_id = out.restore_job_id().map(str::to_string);
        return Ok(());
    }
    match job.kind {
        ResourceKind::RdsInstance => {
            let r = c
                .rds
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(&job.temp_id)
                .db_snapshot_identifier(&job.backup.id)
                .db_instance_class(&target.instance_class)
                .db_subnet_group_name(&target.db_subnet_group)
                .set_vpc_security_group_ids(Some(sgs))
                .publicly_accessible(false)
                .multi_az(false)
                .deletion_protection(false)
                .auto_minor_version_upgrade(false)
                .copy_tags_to_snapshot(false)
                .set_tags(Some(rds::tag_list(&tags)))
                .send()
                .await;
            match r {
                Ok(_) => Ok(()),
                Err(e) if already_exists(&code(&e)) => Ok(()),
                Err(e) => Err(err("RestoreDBInstanceFromDBSnapshot", &job.temp_id, &e)),
            }
        }
        ResourceKind::AuroraCluster => {
            let r = c
                .rds
                .restore_db_cluster_from_snapshot()
                .db_cluster_identifier(&job.temp_id)
                .snapshot_identifier(&job.backup.id)
                .engine(&job.backup.engine)
                .db_subnet_group_name(&target.db_subnet_group)
                .set_vpc_security_group_ids(Some(sgs))
                .deletion_protection(false)
                .set_tags(Some(rds::tag_list(&tags)))
                .send()
                .await;
            match r {
                Ok(_) => {}
                Err(e) if already_exists(&code(&e)) => {}
                Err(e) => return Err(err("RestoreDBClusterFromSnapshot", &job.temp_id, &e)),
            }
            add_aurora_instance(c, job, target, &tags).await
        }
        ResourceKind::Elasticache => {
            let r = c
                .elasticache
                .create_replication_group()
                .replication_group_id(&job.temp_id)
                .replication_group_description(format!(
                    "Lifeboat restore check of {} ({})",
                    job.backup.id, job.component
                ))
                .snapshot_name(&job.backup.id)
                .engine("redis")
                .cache_node_type(&target.cache_node_type)
                .num_cache_clusters(1)
                .automatic_failover_enabled(false)
                .set_cache_subnet_group_name(target.cache_subnet_group.clone())
                .set_security_group_ids(Some(sgs))
                // The restored copy holds production data: encrypted in transit (TLS; the
                // checks connect with `rediss://`, verified) and at rest. AWS requires a cache
                // subnet group for transit encryption (the policy requires one for a restore of
                // an ElastiCache component) and Redis 3.2.6 / 4.0.10 or later (the snapshot's
                // engine version; an older one is refused and reported). No AuthToken: the copy
                // is reachable only from the restore subnets, and AUTH is optional with TLS.
                // TransitEncryptionMode is left to its default at creation, `required`
                // (`preferred` is for migrating a live group's clients).
                .transit_encryption_enabled(true)
                .at_rest_encryption_enabled(true)
                .set_tags(Some(elasticache::tag_list(&tags)))
                .send()
                .await;
            match r {
                Ok(_) => Ok(()),
                Err(e) if already_exists(&code(&e)) => Ok(()),
                Err(e) => Err(err("CreateReplicationGroup", &job.temp_id, &e)),
            }
        }
    }
}

pub(crate) async fn add_aurora_instance(
    c: &Clients,
    job: &Job,
    target: &RestoreTarget,
    tags: &BTreeMap<String, String>,
) -> Result<(), String> {
    let Some(instance) = &job.temp_instance_id else {
        return Ok(());
    };
    let r = c
        .rds
        .create_db_instance()
        .db_instance_identifier(instance)
        .db_cluster_identifier(&job.temp_id)
        .engine(&job.backup.engine)
        .db_instance_class(&target.aurora_instance_class)
        .publicly_accessible(false)
        .auto_minor_version_upgrade(false)
        .set_tags(Some(rds::tag_list(tags)))
        .send()
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if already_exists(&code(&e)) => Ok(()),
        Err(e) => Err(err("CreateDBInstance", instance, &e)),
    }
}

/// Where a restore stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    Waiting(String),
    Ready {
        host: String,
        port: u16,
    },
    Failed(String),
    /// A resource of this name exists but is not this run's: left alone.
    Foreign(String),
}

/// Why a resource is not this run's (`None`: it carries this run's tags). A resource that is not
/// ours is never waited on, checked or deleted.
pub(crate) fn not_ours(tags: &BTreeMap<String, String>, run_id: &str, id: &str) -> Option<String> {
    let ours = tags.get(TAG_PURPOSE).map(String::as_str) == Some(super::plan::PURPOSE)
        && tags.get(TAG_RUN).map(String::as_str) == Some(run_id);
    (!ours).then(|| {
        format!("{id} exists but is not tagged as this run's ({TAG_RUN}={run_id}): left alone")
    })
}

/// Ready when AWS reports an address and a port.
pub(crate) fn ready(endpoint: Option<(String, u16)>, id: &str) -> Poll {
    match endpoint {
        Some((host, port)) => Poll::Ready { host, port },
        None => Poll::Waiting(format!("{id} has no endpoint yet")),
    }
}

pub async fn poll(
    c: &Clients,
    job: &mut Job,
    target: &RestoreTarget,
    run_id: &str,
) -> Result<Poll, String> {
    if let Some(rj) = job.restore_job_id.clone() {
        if job.endpoint.is_none() {
            let out = c
                .backup
                .describe_restore_job()
                .restore_job_id(&rj)
                .send()
                .await
                .map_err(|e| err("DescribeRestoreJob", &rj, &e))?;
            let status = out
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            match status.as_str() {
                "COMPLETED" => {
                    // AWS Backup cannot tag what it restores: tag it now, before anything else,
                    // so that the janitor and teardown recognise it.
                    let arn = out.created_resource_arn().unwrap_or_default().to_string();
                    let tags = temp_tags(run_id, &job.component, &job.backup.id, job.expires_at);
                    c.rds
                        .add_tags_to_resource()
                        .resource_name(&arn)
                        .set_tags(Some(rds::tag_list(&tags)))
                        .send()
                        .await
                        .map_err(|e| err("AddTagsToResource", &arn, &e))?;
                    if job.kind == ResourceKind::AuroraCluster {
                        add_aurora_instance(c, job, target, &tags).await?;
                    }
                }
                "ABORTED" | "FAILED" => {
                    return Ok(Poll::Failed(format!(
                        "AWS Backup restore job {rj} {status}: {}",
                        out.status_message().unwrap_or("no message")
                    )))
                }
                other => return Ok(Poll::Waiting(format!("restore job {rj} {other}"))),
            }
        }
    }
    let id = job.temp_id.as_str();
    let not_visible = || Ok(Poll::Waiting(format!("{id} not visible yet")));
    match job.kind {
        ResourceKind::RdsInstance => {
            let Some(i) = find_instance(c, id).await? else {
                return not_visible();
            };
            if let Some(why) = not_ours(&i.tags, run_id, id) {
                return Ok(Poll::Foreign(why));
            }
            if i.status != "available" {
                return Ok(Poll::Waiting(format!("{id} {}", i.status)));
            }
            Ok(ready(i.endpoint, id))
        }
        ResourceKind::AuroraCluster => {
            let Some(cl) = find_cluster(c, id).await? else {
                return not_visible();
            };
            if let Some(why) = not_ours(&cl.tags, run_id, id) {
                return Ok(Poll::Foreign(why));
            }
            let instance = job.temp_instance_id.clone().unwrap_or_default();
            let member = find_instance(c, &instance).await?;
            let cstatus = cl.status.as_str();
            let istatus = member
                .as_ref()
                .map(|i| i.status.as_str())
                .unwrap_or("not created");
            if cstatus != "available" || istatus != "available" {
                return Ok(Poll::Waiting(format!(
                    "cluster {id} {cstatus}, instance {instance} {istatus}"
                )));
            }
            Ok(ready(cl.endpoint, id))
        }
        ResourceKind::Elasticache => {
            let Some(g) = find_group(c, id).await? else {
                return not_visible();
            };
            if g.status != "available" {
                return Ok(Poll::Waiting(format!("{id} {}", g.status)));
            }
            let tags = group_tags(c, &g.arn).await?;
            if let Some(why) = not_ours(&tags, run_id, id) {
                return Ok(Poll::Foreign(why));
            }
            Ok(ready(g.endpoint, id))
        }
    }
}

/// Where a teardown stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Teardown {
    /// Gone, or being deleted.
    Gone,
    /// Another pass is needed (an Aurora cluster waits for its instance to go).
    Pending,
    /// The resource is not this run's: not deleted.
    Foreign(String),
}

/// Removes a job's temporary resource. Only resources tagged with this run are deleted.
pub async fn teardown(c: &Clients, job: &Job, run_id: &str) -> Result<Teardown, String> {
    let id = job.temp_id.as_str();
    match job.kind {
        ResourceKind::RdsInstance => {
            let Some(i) = find_instance(c, id).await? else {
                return Ok(Teardown::Gone);
            };
            if let Some(why) = not_ours(&i.tags, run_id, id) {
                return Ok(Teardown::Foreign(why));
            }
            if i.status == "deleting" {
                return Ok(Teardown::Gone);
            }
            delete_instance(c, id).await.map(|_| Teardown::Gone)
        }
        ResourceKind::AuroraCluster => {
            if let Some(instance) = &job.temp_instance_id {
                if let Some(i) = find_instance(c, instance).await? {
                    if let Some(why) = not_ours(&i.tags, run_id, instance) {
                        return Ok(Teardown::Foreign(why));
                    }
                    if i.status != "deleting" {
                        delete_instance(c, instance).await?;
                    }
                    // The cluster can go once its instance is gone.
                    if find_instance(c, instance).await?.is_some() {
                        return Ok(Teardown::Pending);
                    }
                }
            }
            match find_cluster(c, id).await? {
                None => Ok(Teardown::Gone),
                Some(cl) => {
                    if let Some(why) = not_ours(&cl.tags, run_id, id) {
                        return Ok(Teardown::Foreign(why));
                    }
                    delete_cluster(c, id).await
                }
            }
        }
        ResourceKind::Elasticache => match find_group(c, id).await? {
            None => Ok(Teardown::Gone),
            Some(g) if g.status == "deleting" => Ok(Teardown::Gone),
            Some(g) => {
                let tags = group_tags(c, &g.arn).await?;
                if let Some(why) = not_ours(&tags, run_id, id) {
                    return Ok(Teardown::Foreign(why));
                }
                delete_group(c, id).await
            }
        },
    }
}

/// Deleted, being deleted, or already gone (not found counts as done).
pub(crate) async fn delete_instance(c: &Clients, id: &str) -> Result<(), String> {
    match c
        .rds
        .delete_db_instance()
        .db_instance_identifier(id)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if not_found(&code(&e)) => Ok(()),
        Err(e) => Err(err("DeleteDBInstance", id, &e)),
    }
}

/// Pending while the cluster still has members being deleted (invalid state).
pub(crate) async fn delete_cluster(c: &Clients, id: &str) -> Result<Teardown, String> {
    match c
        .rds
        .delete_db_cluster()
        .db_cluster_identifier(id)
        .skip_final_snapshot(true)
        .send()
        .await
    {
        Ok(_) => Ok(Teardown::Gone),
        Err(e) if not_found(&code(&e)) => Ok(Teardown::Gone),
        Err(e) if invalid_state(&code(&e)) => Ok(Teardown::Pending),
        Err(e) => Err(err("DeleteDBCluster", id, &e)),
    }
}

pub(crate) async fn delete_group(c: &Clients, id: &str) -> Result<Teardown, String> {
    match c
        .elasticache
        .delete_replication_group()
        .replication_group_id(id)
        .retain_primary_cluster(false)
        .send()
        .await
    {
        Ok(_) => Ok(Teardown::Gone),
        Err(e) if not_found(&code(&e)) => Ok(Teardown::Gone),
        Err(e) if invalid_state(&code(&e)) => Ok(Teardown::Pending),
        Err(e) => Err(err("DeleteReplicationGroup", id, &e)),
    }
}

/// Deletes what the janitor picked (members first; a cluster whose members are still going is
/// left for the next run).
pub async fn remove(c: &Clients, r: &TempResource) -> Result<Teardown, String> {
    match r.kind {
        TempKind::DbInstance => delete_instance(c, &r.id).await.map(|_| Teardown::Gone),
        TempKind::DbCluster => {
            for m in &r.members {
                delete_instance(c, m).await?;
            }
            delete_cluster(c, &r.id).await
        }
        TempKind::ReplicationGroup => delete_group(c, &r.id).await,
    }
}

/// Advances one restore by one phase. Returns whether it moved.
pub(crate) async fn step(
    cx: &Context<'_>,
    target: &lifeboat_shared::policy::RestoreTarget,
    run_id: &str,
    job: &mut Job,
) -> bool {
    let now = Utc::now();
    let Some(comp) = component(cx, &job.component) else {
        if job.phase != Phase::Done && job.phase != Phase::Teardown {
            job.fail(format!(
                "component {} is no longer in the policy",
                job.component
            ));
            return true;
        }
        return teardown_step(cx, run_id, job).await;
    };
    let source = comp
        .verify
        .as_ref()
        .map(|v| v.source)
        .unwrap_or(BackupSource::Snapshot);
    match job.phase {
        Phase::Start => {
            match start(cx.clients, job, target, source, run_id).await {
                Ok(()) => {
                    job.started_at = Some(now);
                    job.phase = Phase::Wait;
                }
                Err(e) => job.fail(format!("restore did not start: {e}")),
            }
            true
        }
        Phase::Wait => match poll(cx.clients, job, target, run_id).await {
            Ok(Poll::Ready { host, port }) => {
                job.endpoint = Some((host, port));
                job.available_at = Some(now);
                job.phase = Phase::Verify;
                true
            }
            Ok(Poll::Failed(why)) => {
                job.fail(why);
                true
            }
            Ok(Poll::Foreign(why)) => {
                // Never torn down: it is not this run's.
                job.error = Some(why);
                job.passed = Some(false);
                job.phase = Phase::Done;
                true
            }
            Ok(Poll::Waiting(why)) | Err(why) => {
                let since = job.started_at.unwrap_or(now);
                if now - since > target.timeout.0 {
                    job.fail(format!(
                        "not available after {} min (timeout {}): {why}",
                        (now - since).num_minutes(),
                        target.timeout
                    ));
                    return true;
                }
                job.teardown_note = Some(why);
                false
            }
        },
        Phase::Verify => {
            job.teardown_note = None;
            let checked =
                match verify::recorded_fingerprint(cx.s3, &cx.policy.buckets.backup, job).await {
                    Err(e) => Err(format!("could not read the backup's manifest: {e}")),
                    Ok(recorded) => verify::run_checks(
                        &cx.clients.secrets,
                        cx.local_endpoints,
                        comp,
                        job,
                        recorded.fingerprint.as_ref(),
                    )
                    .await
                    .map(|mut checks| {
                        verify::explain_missing(&mut checks, recorded.missing.as_deref());
                        checks
                    })
                    .map_err(|e| format!("could not check the restored data: {e}")),
                };
            match checked {
                Ok(checks) => {
                    job.passed = Some(
                        !checks.is_empty()
                            && checks.iter().all(|c| c.verdict == CheckVerdict::Pass),
                    );
                    job.checks = checks;
                    job.verified_at = Some(Utc::now());
                    job.phase = Phase::Teardown;
                    true
                }
                // A read that failed says nothing about the backup: try again on the next
                // invocation, and after the last attempt report it as could-not-verify.
                Err(why) => {
                    job.verify_attempts += 1;
                    if job.verify_attempts < VERIFY_ATTEMPTS {
                        job.teardown_note = Some(format!(
                            "{why}; attempt {} of {VERIFY_ATTEMPTS}, tried again on the next invocation",
                            job.verify_attempts
                        ));
                        false
                    } else {
                        job.inconclusive(format!("{why} ({VERIFY_ATTEMPTS} attempts)"));
                        true
                    }
                }
            }
        }
        Phase::Teardown => teardown_step(cx, run_id, job).await,
        Phase::Done => false,
    }
}

pub(crate) async fn teardown_step(cx: &Context<'_>, run_id: &str, job: &mut Job) -> bool {
    match teardown(cx.clients, job, run_id).await {
        Ok(Teardown::Gone) => {
            job.torn_down_at = Some(Utc::now());
            job.teardown_note = None;
            job.phase = Phase::Done;
            true
        }
        Ok(Teardown::Pending) => {
            job.teardown_note = Some("waiting for the cluster's instance to be deleted".into());
            false
        }
        Ok(Teardown::Foreign(why)) => {
            job.teardown_note = Some(why);
            job.phase = Phase::Done;
            true
        }
        Err(e) => {
            // Retried next invocation; the janitor removes it at expiry in any case.
            job.teardown_note = Some(format!("teardown failed, retried: {e}"));
            false
        }
    }
}

fn component<'a>(cx: &'a Context<'a>, name: &str) -> Option<&'a Component> {
    cx.policy.components.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod encryption_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::restores::plan::{Backup, Origin};
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use lifeboat_shared::policy::{BackupSource, Policy};

    #[tokio::test]
    async fn a_restored_cache_is_requested_encrypted_in_transit_and_at_rest() {
        // Given a restore of an ElastiCache snapshot into the policy's restore target
        let p = Policy::parse(
            "version: 1
buckets: {backup: b-1}
components:
  - {name: sessions-redis, kind: elasticache, ids: [sessions], verify: {every: 1d}}
verification:
  restore: {db_subnet_group: lifeboat-restore, cache_subnet_group: lifeboat-cache, security_group_ids: [sg-0a1b2c3d]}
",
        )
        .unwrap();
        let target = p.verification.restore.as_ref().unwrap();
        let group = mock!(aws_sdk_elasticache::Client::create_replication_group)
            .match_requests(|r| {
                r.transit_encryption_enabled() == Some(true)
                    && r.at_rest_encryption_enabled() == Some(true)
                    && r.cache_subnet_group_name() == Some("lifeboat-cache")
                    && r.auth_token().is_none()
                    && r.transit_encryption_mode().is_none()
            })
            .then_output(|| {
                aws_sdk_elasticache::operation::create_replication_group::CreateReplicationGroupOutput::builder().build()
            });
        let none: &[&Rule] = &[];
        let c = Clients {
            rds: mock_client!(aws_sdk_rds, RuleMode::MatchAny, none),
            elasticache: mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, &[&group]),
            backup: mock_client!(aws_sdk_backup, RuleMode::MatchAny, none),
            secrets: mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, none),
        };
        let backup = Backup {
            id: "lifeboat-sessions-20261121-0000".into(),
            arn: "arn:aws:elasticache:us-east-1:123456789012:snapshot:lifeboat-sessions-20261121-0000".into(),
            origin: Origin::Lifeboat,
            created_at: Utc::now(),
            source_id: "sessions".into(),
            engine: "redis".into(),
        };
        let mut job = Job::new(
            "sessions-redis",
            ResourceKind::Elasticache,
            backup,
            "lifeboat-verify-00000003".into(),
            Utc::now(),
        );
        // When it is started
        let started = start(&c, &mut job, target, BackupSource::Snapshot, "r").await;
        // Then the one CreateReplicationGroup asked for both encryptions
        assert_eq!(started, Ok(()));
        assert_eq!(
            group.num_calls(),
            1,
            "the request matched: both encryptions on"
        );
    }
}
