//! The manifest beside each backup: what it records, and when it is settled.

use super::*;

/// A DR copy's status in the manifest when there is none yet.
const NOT_STARTED: &str = "not-started";
/// ... and when none is made: the snapshot was outside retention before it had one.
const NOT_MADE: &str = "not-made";

/// The state of a snapshot's DR copy and export as the manifest records it. `bucket` is the
/// backup target: where an export not found yet goes; a found one is recorded where it is (an
/// export task's own bucket, the bucket holding an ElastiCache export).
#[allow(clippy::too_many_arguments)]
pub fn manifest_for(
    snap: &Snapshot,
    component: &str,
    settings: &Settings,
    source: Option<&Source>,
    inv: &Inventory,
    scope: &Scope,
    bucket: &str,
    now: DateTime<Utc>,
) -> (Manifest, bool) {
    let mut settled = snap.available();
    let dr_copy = match (
        &scope.dr_region,
        settings.copy_to_dr && snap.kind != ResourceKind::Elasticache,
    ) {
        (Some(region), true) => {
            // Only Lifeboat's copy of this snapshot: a look-alike of its name is no DR copy.
            let copy = inv
                .dr_snapshots
                .iter()
                .find(|d| d.id == snap.id && copy_of(d, snap).is_ok());
            let status = copy
                .map(|c| c.status.clone())
                .unwrap_or_else(|| NOT_STARTED.into());
            settled &= status == "available";
            Some(ManifestCopy {
                region: region.clone(),
                id: snap.id.clone(),
                arn: copy.map(|c| c.arn.clone()),
                status,
            })
        }
        _ => None,
    };
    let export = if settings.export {
        Some(match snap.kind {
            ResourceKind::Elasticache => {
                let found = elasticache_export_bucket(inv, &snap.id);
                let done = found.is_some();
                settled &= done;
                ManifestExport {
                    task_id: None,
                    location: format!("s3://{}/{}-0001.rdb", found.unwrap_or(bucket), snap.id),
                    format: "rdb".into(),
                    status: if done {
                        "COMPLETE".into()
                    } else if snap.status == "exporting" {
                        "IN_PROGRESS".into()
                    } else {
                        "NOT_STARTED".into()
                    },
                }
            }
            _ => {
                let task = exports_of(inv, snap).last();
                let status = task
                    .map(|t| t.status.clone())
                    .unwrap_or_else(|| "NOT_STARTED".into());
                settled &= status == "COMPLETE";
                ManifestExport {
                    task_id: task.map(|t| t.id.clone()),
                    location: format!(
                        "s3://{}/{}export/",
                        task.and_then(|t| t.bucket.as_deref()).unwrap_or(bucket),
                        backup_prefix(snap.kind, &snap.source_id, &snap.id)
                    ),
                    format: "parquet".into(),
                    status,
                }
            }
        })
    } else {
        None
    };
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA.into(),
        component: component.to_string(),
        source: ManifestSource {
            kind: snap.kind,
            id: snap.source_id.clone(),
            arn: source.map(|s| s.arn.clone()),
            engine: source
                .map(|s| s.engine.clone())
                .or_else(|| snap.engine.clone()),
            engine_version: source.and_then(|s| s.engine_version.clone()),
            region: scope.primary_region.clone(),
        },
        snapshot: ManifestSnapshot {
            id: snap.id.clone(),
            arn: snap.arn.clone(),
            created_at: snap.time(),
            size_gb: snap.size_gb,
            encrypted: snap.encrypted,
            kms_key_id: snap.kms_key_id.clone(),
            status: snap.status.clone(),
        },
        dr_copy,
        export,
        written_at: now,
        written_by: scope.run_id.clone(),
        fingerprint: None,
        fingerprint_missing: None,
    };
    (manifest, settled)
}

/// The read a manifest of `snap` depends on that failed in this inventory, if any: a manifest
/// written without it would record "not started" for a copy or export it simply could not see.
pub fn unreadable_for(
    snap: &Snapshot,
    settings: &Settings,
    inv: &Inventory,
    scope: &Scope,
) -> Option<Read> {
    let dr = scope.dr_region.is_some()
        && settings.copy_to_dr
        && snap.kind != ResourceKind::Elasticache
        && inv.unread(Read::DrSnapshots);
    let export = settings.export
        && match snap.kind {
            ResourceKind::Elasticache => inv.unread(Read::ExportedObjects),
            _ => inv.unread(Read::ExportTasks),
        };
    if dr {
        Some(Read::DrSnapshots)
    } else if export {
        Some(match snap.kind {
            ResourceKind::Elasticache => Read::ExportedObjects,
            _ => Read::ExportTasks,
        })
    } else {
        None
    }
}

/// Manifest steps for every Lifeboat snapshot whose manifest is not final yet, written to the
/// backup target (blocked when it is unknown).
/// `deleting`: snapshots this run deleted or tried to: their manifests are settled from the
/// deletion intents instead (see [`super::settle`]).
pub fn manifests(
    policy: &Policy,
    inv: &Inventory,
    scope: &Scope,
    now: DateTime<Utc>,
    deleting: &BTreeSet<String>,
) -> Vec<Planned> {
    let by_source: BTreeMap<&str, &Source> =
        inv.sources.iter().map(|s| (s.id.as_str(), s)).collect();
    // Snapshots retention lets go get no DR copy (see `retention`): the manifest says so.
    let ours: Vec<&Snapshot> = inv.snapshots.iter().filter(|s| s.managed()).collect();
    let expired = outside_retention(&ours, &|s: &Snapshot| component_of(policy, inv, s), now);
    let dr = DrView::new(inv);
    let bucket = inv.target.label(policy);
    let unwritable = inv
        .target
        .unknown()
        .map(|why| format!("no backup is written to any bucket: {why}"));
    let mut steps = Vec::new();
    for snap in inv.snapshots.iter().filter(|s| s.managed()) {
        if deleting.contains(&snap.id)
            || snap.tags.get(TAG_MANIFEST).map(String::as_str) == Some("final")
        {
            continue;
        }
        let source = by_source
            .get(snap.source_id.as_str())
            .copied()
            .filter(|s| s.kind == snap.kind);
        let (component, settings) = match source {
            Some(s) => (s.component.clone(), s.settings.clone()),
            None => {
                let c = snap
                    .tags
                    .get(TAG_COMPONENT)
                    .cloned()
                    .unwrap_or_else(|| snap.source_id.clone());
                let s = policy.settings_by_name(&c);
                (c, s)
            }
        };
        if !scope.includes(&component, &snap.source_id) {
            continue;
        }
        let key = manifest_key(snap.kind, &snap.source_id, &snap.id);
        if let Some(read) = unreadable_for(snap, &settings, inv, scope) {
            steps.push(Planned {
                action: Action::new(
                    "write-manifest",
                    &snap.id,
                    format!(
                        "waits for a run that can read {}: written now it would say what was not seen",
                        read.label()
                    ),
                )
                .target(format!("s3://{bucket}/{key}")),
                step: Step::WriteManifest {
                    snapshot: snap.clone(),
                    key,
                    manifest: Box::new(manifest_for(
                        snap,
                        &component,
                        &settings,
                        source,
                        inv,
                        scope,
                        bucket,
                        now,
                    )
                    .0),
                    settled: false,
                    carry_fingerprint: false,
                },
                deferred: unwritable.is_none(),
                blocked: unwritable.clone(),
            });
            continue;
        }
        let (manifest, settled) =
            manifest_for(snap, &component, &settings, source, inv, scope, bucket, now);
        let (mut manifest, mut settled) = (manifest, settled);
        if let Some(c) = manifest.dr_copy.as_mut() {
            if c.status == NOT_STARTED
                && expired.contains(&(snap.kind, snap.id.clone()))
                && !matches!(dr.of(snap), DrState::Unknown)
            {
                c.status = NOT_MADE.into();
                settled = snap.available()
                    && manifest
                        .export
                        .as_ref()
                        .is_none_or(|e| e.status == "COMPLETE");
            }
        }
        let reason = if settled {
            "every copy and export is final: last manifest update".to_string()
        } else {
            let mut waiting = Vec::new();
            if !snap.available() {
                waiting.push(format!("snapshot {}", snap.status));
            }
            if let Some(c) = &manifest.dr_copy {
                if c.status != "available" {
                    waiting.push(format!("DR copy {}", c.status));
                }
            }
            if let Some(e) = &manifest.export {
                if e.status != "COMPLETE" {
                    waiting.push(format!("export {}", e.status));
                }
            }
            format!("records progress ({})", waiting.join(", "))
        };
        steps.push(Planned {
            action: Action::new("write-manifest", &snap.id, reason)
                .target(format!("s3://{bucket}/{key}")),
            step: Step::WriteManifest {
                snapshot: snap.clone(),
                key,
                carry_fingerprint: policy
                    .components
                    .iter()
                    .any(|c| c.name == manifest.component && c.database.is_some()),
                manifest: Box::new(manifest),
                settled,
            },
            blocked: unwritable.clone(),
            deferred: false,
        });
    }
    steps
}
