//! Inventory of restores: which backups of each component exist (every page, through the
//! shared readers), the temporary resources the janitor looks at, and the describe calls the
//! polling and teardown read before acting.

use std::collections::BTreeMap;

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use lifeboat_shared::aws::errors::AwsError;
use lifeboat_shared::aws::rds::SnapshotFilter;
use lifeboat_shared::aws::{backup as aws_backup, elasticache, rds};
use lifeboat_shared::backup::{period_of, Snapshot, TEMP_PREFIX};
use lifeboat_shared::policy::{BackupSource, Policy, ResourceKind};

use super::plan::{Backup, Origin, TempKind, TempResource};

pub struct Clients {
    pub rds: aws_sdk_rds::Client,
    pub elasticache: aws_sdk_elasticache::Client,
    pub backup: aws_sdk_backup::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// `<operation> <id>: <code>: <message>`.
pub(crate) fn err<E>(op: &'static str, id: &str, e: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    AwsError::new(op, e).about(id)
}

/// The region the clients work in (the snapshots' region).
pub(crate) fn region(c: &Clients) -> String {
    c.rds
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default()
}

/// A resource a component covers: id, ARN, engine.
pub(crate) struct Member {
    id: String,
    arn: String,
    engine: String,
}

/// What the candidates read found.
#[derive(Debug, Default)]
pub struct Candidates {
    /// Restorable backups by component.
    pub by_component: BTreeMap<String, Vec<Backup>>,
    /// Components whose resources or backups could not be read, with the AWS error: they are
    /// not verified this run, stay due, and the report says so with a warning.
    pub unread: BTreeMap<String, String>,
}

impl Candidates {
    /// Marks every component with `verify` of `kind` (only those selecting by tag when
    /// `tagged_only`) unread.
    fn unread_kind(&mut self, policy: &Policy, kind: ResourceKind, tagged_only: bool, why: &str) {
        for comp in policy.components.iter().filter(|c| {
            c.kind == kind && c.verify.is_some() && (!tagged_only || !c.tags.is_empty())
        }) {
            self.unread
                .entry(comp.name.clone())
                .or_insert_with(|| why.to_string());
        }
    }
}

/// Restorable backups of every component with `verify`, by component. A failed read leaves the
/// components it would have listed unread (never "no backup").
pub async fn candidates(c: &Clients, policy: &Policy) -> Candidates {
    let mut found = Candidates::default();
    let mut out: BTreeMap<String, Vec<Backup>> = BTreeMap::new();
    let wanted = |k: ResourceKind| {
        policy
            .components
            .iter()
            .any(|comp| comp.kind == k && comp.verify.is_some())
    };
    let mut members: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    if wanted(ResourceKind::RdsInstance) {
        match rds::instances(&c.rds).await {
            Ok(list) => {
                for i in list {
                    if i.id.starts_with(TEMP_PREFIX) || i.cluster_id.is_some() {
                        continue;
                    }
                    if let Some(m) = policy.membership(ResourceKind::RdsInstance, &i.id, &i.tags) {
                        members.entry(m.component).or_default().push(Member {
                            id: i.id,
                            arn: i.arn,
                            engine: i.engine,
                        });
                    }
                }
            }
            Err(e) => found.unread_kind(
                policy,
                ResourceKind::RdsInstance,
                false,
                &e.about("*").to_string(),
            ),
        }
    }
    if wanted(ResourceKind::AuroraCluster) {
        match rds::clusters(&c.rds).await {
            Ok(list) => {
                for cl in list {
                    if cl.id.starts_with(TEMP_PREFIX) {
                        continue;
                    }
                    if let Some(m) =
                        policy.membership(ResourceKind::AuroraCluster, &cl.id, &cl.tags)
                    {
                        members.entry(m.component).or_default().push(Member {
                            id: cl.id,
                            arn: cl.arn,
                            engine: cl.engine,
                        });
                    }
                }
            }
            Err(e) => found.unread_kind(
                policy,
                ResourceKind::AuroraCluster,
                false,
                &e.about("*").to_string(),
            ),
        }
    }
    if wanted(ResourceKind::Elasticache) {
        // Tags only matter for components that select by tag.
        let needs_tags = policy
            .components
            .iter()
            .any(|comp| comp.kind == ResourceKind::Elasticache && !comp.tags.is_empty());
        match elasticache::replication_groups(&c.elasticache).await {
            Ok(groups) => {
                for g in groups {
                    if g.id.starts_with(TEMP_PREFIX) {
                        continue;
                    }
                    let tags = if needs_tags && !g.arn.is_empty() {
                        elasticache::tags(&c.elasticache, &g.arn)
                            .await
                            .unwrap_or_else(|e| {
                                // Its membership is unknown: every tag-selected component may
                                // be missing it.
                                found.unread_kind(
                                    policy,
                                    ResourceKind::Elasticache,
                                    true,
                                    &e.about(&g.arn).to_string(),
                                );
                                BTreeMap::new()
                            })
                    } else {
                        BTreeMap::new()
                    };
                    if let Some(m) = policy.membership(ResourceKind::Elasticache, &g.id, &tags) {
                        members.entry(m.component).or_default().push(Member {
                            id: g.id,
                            arn: g.arn,
                            engine: "redis".into(),
                        });
                    }
                }
            }
            Err(e) => found.unread_kind(
                policy,
                ResourceKind::Elasticache,
                false,
                &e.about("*").to_string(),
            ),
        }
    }
    for comp in &policy.components {
        let Some(v) = &comp.verify else { continue };
        let list = out.entry(comp.name.clone()).or_default();
        for m in members.get(&comp.name).map(Vec::as_slice).unwrap_or(&[]) {
            let listed = match (v.source, comp.kind) {
                (BackupSource::AwsBackup, _) => recovery_points(c, m).await,
                (BackupSource::Snapshot, ResourceKind::RdsInstance) => db_snapshots(c, m).await,
                (BackupSource::Snapshot, ResourceKind::AuroraCluster) => {
                    cluster_snapshots(c, m).await
                }
                (BackupSource::Snapshot, ResourceKind::Elasticache) => cache_snapshots(c, m).await,
            };
            match listed {
                Ok(mut b) => list.append(&mut b),
                Err(e) => {
                    found.unread.entry(comp.name.clone()).or_insert(e);
                }
            }
        }
    }
    found.by_component = out;
    found
}

/// A snapshot that can be restored: available, with a creation time (from the API, else the
/// period tag snapshot-export set: some APIs and emulators omit the time).
pub(crate) fn restorable(s: Snapshot, m: &Member) -> Option<Backup> {
    if !s.available() {
        return None;
    }
    Some(Backup {
        origin: if s.lifeboat_named() {
            Origin::Lifeboat
        } else {
            Origin::Snapshot
        },
        created_at: s.created_at.or_else(|| period_of(&s.tags))?,
        source_id: m.id.clone(),
        engine: s.engine.unwrap_or_else(|| m.engine.clone()),
        arn: s.arn,
        id: s.id,
    })
}

pub(crate) fn of(m: &Member) -> SnapshotFilter<'_> {
    SnapshotFilter {
        of: Some(&m.id),
        manual_only: false,
    }
}

pub(crate) async fn db_snapshots(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let list = rds::db_snapshots(&c.rds, &region(c), of(m))
        .await
        .map_err(|e| e.about(&m.id))?;
    Ok(list.into_iter().filter_map(|s| restorable(s, m)).collect())
}

pub(crate) async fn cluster_snapshots(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let list = rds::cluster_snapshots(&c.rds, &region(c), of(m))
        .await
        .map_err(|e| e.about(&m.id))?;
    Ok(list.into_iter().filter_map(|s| restorable(s, m)).collect())
}

pub(crate) async fn cache_snapshots(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let list = elasticache::snapshots(&c.elasticache, &region(c), Some(&m.id))
        .await
        .map_err(|e| e.about(&m.id))?;
    let mut out = Vec::new();
    for mut s in list {
        if !s.available() {
            continue;
        }
        // Only when the API gave no time: the tag snapshot-export set.
        if s.created_at.is_none() {
            s.tags = elasticache::tags(&c.elasticache, &s.arn)
                .await
                .unwrap_or_default();
        }
        out.extend(restorable(s, m));
    }
    Ok(out)
}

pub(crate) async fn recovery_points(c: &Clients, m: &Member) -> Result<Vec<Backup>, String> {
    let points = aws_backup::recovery_points(&c.backup, &m.arn)
        .await
        .map_err(|e| e.about(&m.arn))?;
    Ok(points
        .into_iter()
        .filter(|p| p.usable())
        .filter_map(|p| {
            Some(Backup {
                id: p.arn.clone(),
                created_at: p.created_at?,
                arn: p.arn,
                origin: Origin::RecoveryPoint,
                source_id: m.id.clone(),
                engine: m.engine.clone(),
            })
        })
        .collect())
}

pub(crate) async fn group_tags(c: &Clients, arn: &str) -> Result<BTreeMap<String, String>, String> {
    elasticache::tags(&c.elasticache, arn)
        .await
        .map_err(|e| e.about(arn))
}

pub(crate) async fn find_instance(
    c: &Clients,
    id: &str,
) -> Result<Option<rds::DbInstance>, String> {
    rds::find_instance(&c.rds, id)
        .await
        .map_err(|e| e.about(id))
}

pub(crate) async fn find_cluster(c: &Clients, id: &str) -> Result<Option<rds::DbCluster>, String> {
    rds::find_cluster(&c.rds, id).await.map_err(|e| e.about(id))
}

pub(crate) async fn find_group(
    c: &Clients,
    id: &str,
) -> Result<Option<elasticache::ReplicationGroup>, String> {
    elasticache::find_group(&c.elasticache, id)
        .await
        .map_err(|e| e.about(id))
}

/// Every resource named like a temporary restore resource, with its tags (the janitor decides).
pub async fn scan_temp(c: &Clients) -> Result<Vec<TempResource>, String> {
    let mut out = Vec::new();
    let instances = rds::instances(&c.rds).await.map_err(|e| e.about("*"))?;
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in instances {
        if !i.id.starts_with(TEMP_PREFIX) {
            continue;
        }
        if let Some(cl) = i.cluster_id {
            members.entry(cl).or_default().push(i.id);
            continue;
        }
        out.push(TempResource {
            kind: TempKind::DbInstance,
            id: i.id,
            tags: i.tags,
            members: Vec::new(),
            status: i.status,
        });
    }
    for cl in rds::clusters(&c.rds).await.map_err(|e| e.about("*"))? {
        if !cl.id.starts_with(TEMP_PREFIX) {
            continue;
        }
        out.push(TempResource {
            kind: TempKind::DbCluster,
            members: members.remove(&cl.id).unwrap_or_default(),
            id: cl.id,
            tags: cl.tags,
            status: cl.status,
        });
    }
    let groups = elasticache::replication_groups(&c.elasticache)
        .await
        .map_err(|e| e.about("*"))?;
    for g in groups {
        if !g.id.starts_with(TEMP_PREFIX) {
            continue;
        }
        out.push(TempResource {
            kind: TempKind::ReplicationGroup,
            tags: group_tags(c, &g.arn).await?,
            id: g.id,
            members: Vec::new(),
            status: g.status,
        });
    }
    Ok(out)
}
