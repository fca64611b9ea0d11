//! Exports to S3 (RDS/Aurora StartExportTask, ElastiCache copy to the bucket), retried with new
//! deterministic ids, into the backup target (`Inventory::target`).
//!
//! Both export calls write only to a bucket in the snapshot's own region (ElastiCache's
//! CopySnapshot answers "The S3 bucket ... is outside of the region"; RDS documents the same for
//! StartExportTask). While the target is the secondary bucket in the DR region (failover), a
//! primary-region snapshot's export therefore waits, said in its line, for failback to point
//! the target back: it is never sent to the primary behind the target's back.

use super::*;
use crate::inventory::Destination;

/// Why an export of `snap` cannot go to the target now, if it cannot: `Err` blocks it (the
/// target is unknown), `Ok(Some)` defers it (the target is in another region).
fn export_hold(inv: &Inventory, snap: &Snapshot) -> Result<Option<String>, String> {
    match &inv.target {
        Destination::Unknown(why) => Err(format!("no backup is written to any bucket: {why}")),
        Destination::Secondary { bucket, region, .. } if !region.is_empty() && *region != snap.region => Ok(Some(format!(
            "exports write only to a bucket in the snapshot's region ({}), and backups go to the secondary bucket {bucket} in {region} (failover): exported once failback points the backup target back",
            snap.region
        ))),
        _ => Ok(None),
    }
}

pub(super) fn plan_exports(
    policy: &Policy,
    inv: &Inventory,
    ours: &[&Snapshot],
    settings_of: &dyn Fn(&Snapshot) -> (String, Settings),
    out: &mut Plan,
) {
    let bucket = inv.target.label(policy).to_string();
    for snap in ours.iter().copied() {
        if !settings_of(snap).1.export {
            continue;
        }
        match snap.kind {
            ResourceKind::RdsInstance | ResourceKind::AuroraCluster => {
                let tasks: Vec<&ExportTask> = exports_of(inv, snap).collect();
                if tasks.iter().any(|t| !t.failed()) {
                    continue;
                }
                let attempt = tasks.len() + 1;
                let Some(ex) = policy.export.as_ref() else {
                    continue;
                };
                let prefix = format!(
                    "{}export",
                    backup_prefix(snap.kind, &snap.source_id, &snap.id)
                );
                let task_id = export_task_id(&snap.id, attempt);
                let mut action = Action::new(
                    "start-export",
                    &snap.id,
                    if attempt == 1 {
                        "no export to S3 yet".to_string()
                    } else {
                        format!(
                            "export attempt {attempt}: the previous one {}",
                            tasks
                                .last()
                                .map(|t| format!(
                                    "{} ({})",
                                    t.status,
                                    t.failure.clone().unwrap_or_default()
                                ))
                                .unwrap_or_default()
                        )
                    },
                )
                .target(format!("s3://{bucket}/{prefix}"));
                let mut blocked = None;
                let mut deferred = false;
                if attempt > MAX_EXPORT_ATTEMPTS {
                    blocked = Some(format!(
                        "{} export attempts failed; fix the cause and start one by hand",
                        attempt - 1
                    ));
                } else if !snap.available() {
                    deferred = true;
                    action.reason =
                        format!("snapshot is {}; it is exported once available", snap.status);
                } else if snap.arn.is_empty() {
                    // The export task names its source by ARN, and so does its proof.
                    deferred = true;
                    action.reason =
                        "AWS reported no ARN for the snapshot; it is exported once it does".into();
                } else {
                    match export_hold(inv, snap) {
                        Err(why) => blocked = Some(why),
                        Ok(Some(why)) => {
                            deferred = true;
                            action.reason = why;
                        }
                        Ok(None) => {}
                    }
                }
                out.steps.push(Planned {
                    step: Step::StartExport {
                        snapshot: snap.clone(),
                        task_id,
                        bucket: bucket.clone(),
                        prefix,
                        iam_role_arn: ex.iam_role_arn.clone(),
                        kms_key_id: ex.kms_key_id.clone(),
                    },
                    action,
                    blocked,
                    deferred,
                });
            }
            ResourceKind::Elasticache => {
                if elasticache_exported(inv, &snap.id) || snap.status == "exporting" {
                    continue;
                }
                let mut action = Action::new(
                    "export-to-s3",
                    &snap.id,
                    "no export to the backup bucket yet",
                )
                .target(format!("s3://{bucket}/{}", snap.id));
                let mut deferred = !snap.available();
                let mut blocked = None;
                if deferred {
                    action.reason =
                        format!("snapshot is {}; it is exported once available", snap.status);
                } else {
                    match export_hold(inv, snap) {
                        Err(why) => blocked = Some(why),
                        Ok(Some(why)) => {
                            deferred = true;
                            action.reason = why;
                        }
                        Ok(None) => {}
                    }
                }
                out.steps.push(Planned {
                    step: Step::ExportToBucket {
                        snapshot: snap.clone(),
                        target_name: snap.id.clone(),
                        bucket: bucket.clone(),
                    },
                    action,
                    blocked,
                    deferred,
                });
            }
        }
    }
}

/// ElastiCache writes `<name>-0001.rdb` (one file per shard) into the bucket.
pub(super) fn elasticache_exported(inv: &Inventory, snapshot_id: &str) -> bool {
    elasticache_export_bucket(inv, snapshot_id).is_some()
}

/// The backup bucket that holds the ElastiCache export of `snapshot_id`, if one does.
pub(super) fn elasticache_export_bucket<'a>(
    inv: &'a Inventory,
    snapshot_id: &str,
) -> Option<&'a str> {
    inv.exported_objects
        .iter()
        .find(|(k, _)| k.starts_with(&format!("{snapshot_id}-")) && k.ends_with(".rdb"))
        .map(|(_, bucket)| bucket.as_str())
}
