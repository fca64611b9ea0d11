//! The selected sources of every component — listed the way snapshot-export lists them — with
//! their backups (snapshots in the primary and the DR region, AWS Backup recovery points) and
//! their replicas (read replicas, Aurora readers, global database and datastore secondaries).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use lifeboat_shared::aws::elasticache::{GlobalDatastore, ReplicationGroup};
use lifeboat_shared::aws::rds::{DbCluster, DbInstance, GlobalCluster, SnapshotFilter};
use lifeboat_shared::aws::{backup, elasticache, rds};
use lifeboat_shared::backup::Snapshot;
use lifeboat_shared::policy::{Policy, ResourceKind};

use super::{text, Clients, GlobalLink, Observations, ReplicaKind, ReplicaObs, SourceObs};

/// A selected source: component, kind, id, ARN, (latest restorable time, creation time).
type Selected = (
    String,
    ResourceKind,
    String,
    String,
    (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
);

/// Every kind's listing in the primary region, and the DR region's instances (for cross-region
/// read replicas).
struct Listings {
    instances: Result<Vec<DbInstance>, String>,
    clusters: Result<Vec<DbCluster>, String>,
    groups: Result<Vec<ReplicationGroup>, String>,
    dr_instances: Option<Result<Vec<DbInstance>, String>>,
}

/// What the listings select: the sources, and those that belong to a global database or
/// datastore (their secondaries are read after).
#[derive(Default)]
struct Selection<'a> {
    sources: Vec<Selected>,
    aurora_globals: Vec<(String, &'a DbCluster)>,
    cache_globals: Vec<(String, &'a ReplicationGroup)>,
}

/// Who is asked for: the policy and the run's `only`.
#[derive(Clone, Copy)]
struct Asked<'a> {
    policy: &'a Policy,
    wanted: &'a dyn Fn(&str) -> bool,
}

impl Asked<'_> {
    /// The component `id` belongs to, when this run checks it (by component or by resource).
    fn selects(
        &self,
        kind: ResourceKind,
        id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Option<String> {
        let m = self.policy.membership(kind, id, tags)?;
        ((self.wanted)(&m.component) || (self.wanted)(id)).then_some(m.component)
    }

    /// Marks the components of `kind` (only those selecting by tag when `tagged_only`) unread.
    fn unread(self, kind: ResourceKind, tagged_only: bool, e: &str, obs: &mut Observations) {
        for comp in self
            .policy
            .components
            .iter()
            .filter(|c| c.kind == kind && (!tagged_only || !c.tags.is_empty()))
        {
            if (self.wanted)(&comp.name) {
                obs.unread_components
                    .entry(comp.name.clone())
                    .or_insert_with(|| e.to_string());
            }
        }
        // Resources the opt-in tag selects are components too: their absence is said as well.
        let opted = format!(
            "{} tagged {}={}",
            kind.as_str(),
            self.policy.opt_in_tag.key,
            self.policy.opt_in_tag.value
        );
        if (self.wanted)(&opted) {
            obs.unread_components
                .entry(opted)
                .or_insert_with(|| e.to_string());
        }
    }
}

/// The selected sources of every component, their backups, and their replicas.
pub(crate) async fn observe_sources(
    c: &Clients,
    policy: &Policy,
    wanted: &dyn Fn(&str) -> bool,
    obs: &mut Observations,
) {
    let asked = Asked { policy, wanted };
    let l = list(c).await;
    let mut sel = Selection::default();
    select_instances(c, asked, &l, &mut sel, obs);
    select_clusters(c, asked, &l, &mut sel, obs);
    select_groups(c, asked, &l, &mut sel, obs).await;
    // The secondaries of their global databases and datastores (one read each, only when a
    // selected source belongs to one).
    let (aurora, cache) = tokio::join!(
        global_database_replicas(c, &sel.aurora_globals),
        global_datastore_replicas(c, &sel.cache_globals),
    );
    for (replicas, unread) in [aurora, cache] {
        obs.replicas.extend(replicas);
        obs.unread_globals.extend(unread);
    }
    missing(asked, &l, obs);
    // Backups of each selected source, side by side (bounded by the number of sources).
    let backups = join_all(
        sel.sources
            .iter()
            .map(|(_, kind, id, arn, _)| backups_of(c, *kind, id, arn)),
    )
    .await;
    for (
        (component, kind, id, arn, (latest_restorable, created_at)),
        (snapshots, dr_snapshots, point),
    ) in sel.sources.into_iter().zip(backups)
    {
        obs.sources.push(SourceObs {
            component,
            kind,
            id,
            arn,
            latest_restorable,
            created_at,
            snapshots,
            dr_snapshots,
            recovery_point: point,
        });
    }
}

/// Every kind is listed (free calls), as snapshot-export does: a resource carrying the opt-in
/// tag is backed up, and so checked, even when no component names its kind.
async fn list(c: &Clients) -> Listings {
    let (instances, clusters, groups) = tokio::join!(
        async { rds::instances(&c.rds).await.map_err(text) },
        async { rds::clusters(&c.rds).await.map_err(text) },
        async {
            elasticache::replication_groups(&c.elasticache)
                .await
                .map_err(text)
        },
    );
    // The DR region's instances, for cross-region read replicas.
    let dr_instances = match &c.rds_dr {
        Some(rds_dr) => Some(rds::instances(rds_dr).await.map_err(text)),
        None => None,
    };
    Listings {
        instances,
        clusters,
        groups,
        dr_instances,
    }
}

/// RDS instances (not Aurora members, not read replicas: those are checked as their source's
/// replicas) and their read replicas.
fn select_instances(
    c: &Clients,
    asked: Asked<'_>,
    l: &Listings,
    sel: &mut Selection<'_>,
    obs: &mut Observations,
) {
    let all: &[DbInstance] = match &l.instances {
        Ok(list) => list,
        Err(e) => {
            asked.unread(ResourceKind::RdsInstance, false, e, obs);
            &[]
        }
    };
    for db in all.iter().filter(|d| d.cluster_id.is_none()) {
        if db.replica_source.is_some() {
            continue;
        }
        let Some(component) = asked.selects(ResourceKind::RdsInstance, &db.id, &db.tags) else {
            continue;
        };
        sel.sources.push((
            component.clone(),
            ResourceKind::RdsInstance,
            db.id.clone(),
            db.arn.clone(),
            (db.latest_restorable, db.created_at),
        ));
        for r in &db.replicas {
            obs.replicas.push(read_replica(
                &component,
                r,
                &c.primary_region,
                all,
                c.dr_region.as_deref().zip(l.dr_instances.as_ref()),
            ));
        }
    }
}

/// Aurora clusters, their readers, and those in a global database.
fn select_clusters<'a>(
    c: &Clients,
    asked: Asked<'_>,
    l: &'a Listings,
    sel: &mut Selection<'a>,
    obs: &mut Observations,
) {
    let all: &[DbCluster] = match &l.clusters {
        Ok(list) => list,
        Err(e) => {
            asked.unread(ResourceKind::AuroraCluster, false, e, obs);
            &[]
        }
    };
    let instances: &[DbInstance] = l.instances.as_deref().unwrap_or_default();
    for cl in all.iter().filter(|c| c.engine.starts_with("aurora")) {
        let Some(component) = asked.selects(ResourceKind::AuroraCluster, &cl.id, &cl.tags) else {
            continue;
        };
        sel.sources.push((
            component.clone(),
            ResourceKind::AuroraCluster,
            cl.id.clone(),
            cl.arn.clone(),
            (cl.latest_restorable, cl.created_at),
        ));
        for reader in &cl.readers {
            let found = instances.iter().find(|i| &i.id == reader);
            obs.replicas.push(ReplicaObs {
                component: component.clone(),
                id: reader.clone(),
                region: c.primary_region.clone(),
                kind: ReplicaKind::AuroraReader,
                status: found.map(|i| i.status.clone()),
                replication: None,
                global: None,
                unread: l
                    .instances
                    .as_ref()
                    .err()
                    .map(|e| format!("the DB instances could not be listed ({e})")),
            });
        }
        if cl.global_cluster.is_some() {
            sel.aurora_globals.push((component.clone(), cl));
        }
    }
}

/// ElastiCache replication groups (tags read only for a group no component names by id) and
/// those in a global datastore.
async fn select_groups<'a>(
    c: &Clients,
    asked: Asked<'_>,
    l: &'a Listings,
    sel: &mut Selection<'a>,
    obs: &mut Observations,
) {
    let list = match &l.groups {
        Ok(list) => list,
        Err(e) => return asked.unread(ResourceKind::Elasticache, false, e, obs),
    };
    for g in list {
        // Tags only matter when no component names the group by id (a tag-selected component,
        // the opt-in tag): one read per group then.
        let named = asked
            .policy
            .components
            .iter()
            .any(|c| c.kind == ResourceKind::Elasticache && c.ids.contains(&g.id));
        let tags = if !named && !g.arn.is_empty() {
            match elasticache::tags(&c.elasticache, &g.arn).await {
                Ok(t) => t,
                Err(e) => {
                    // Its membership is unknown: every tag-selected component may miss it.
                    let e = e.about(&g.arn).to_string();
                    asked.unread(ResourceKind::Elasticache, true, &e, obs);
                    BTreeMap::new()
                }
            }
        } else {
            BTreeMap::new()
        };
        if let Some(component) = asked.selects(ResourceKind::Elasticache, &g.id, &tags) {
            sel.sources.push((
                component.clone(),
                ResourceKind::Elasticache,
                g.id.clone(),
                g.arn.clone(),
                (None, None),
            ));
            if g.global_datastore.is_some() {
                sel.cache_globals.push((component.clone(), g));
            }
        }
    }
}

/// A resource the policy names by id that its listing does not have is said, not skipped (a
/// listing that failed is already "could not be listed").
fn missing(asked: Asked<'_>, l: &Listings, obs: &mut Observations) {
    for comp in &asked.policy.components {
        let listed: Vec<&str> = match (comp.kind, &l.instances, &l.clusters, &l.groups) {
            (ResourceKind::RdsInstance, Ok(l), _, _) => l.iter().map(|i| i.id.as_str()).collect(),
            (ResourceKind::AuroraCluster, _, Ok(l), _) => l.iter().map(|c| c.id.as_str()).collect(),
            (ResourceKind::Elasticache, _, _, Ok(l)) => l.iter().map(|g| g.id.as_str()).collect(),
            _ => continue,
        };
        for id in &comp.ids {
            if ((asked.wanted)(&comp.name) || (asked.wanted)(id)) && !listed.contains(&id.as_str())
            {
                obs.missing.push((comp.name.clone(), id.clone()));
            }
        }
    }
}

/// A source's snapshots (any type), its DR-region snapshots (manual: Lifeboat's DR copies) and
/// its newest usable AWS Backup recovery point.
type Backups = (
    Result<Vec<Snapshot>, String>,
    Option<Result<Vec<Snapshot>, String>>,
    Result<Option<DateTime<Utc>>, String>,
);

async fn backups_of(c: &Clients, kind: ResourceKind, id: &str, arn: &str) -> Backups {
    let filter = |manual_only| SnapshotFilter {
        of: Some(id),
        manual_only,
    };
    let snaps = match kind {
        ResourceKind::RdsInstance => rds::db_snapshots(&c.rds, &c.primary_region, filter(false))
            .await
            .map_err(text),
        ResourceKind::AuroraCluster => {
            rds::cluster_snapshots(&c.rds, &c.primary_region, filter(false))
                .await
                .map_err(text)
        }
        ResourceKind::Elasticache => {
            elasticache::snapshots(&c.elasticache, &c.primary_region, Some(id))
                .await
                .map_err(text)
        }
    };
    let dr = match (&c.rds_dr, &c.dr_region, kind) {
        (Some(rds_dr), Some(region), ResourceKind::RdsInstance) => Some(
            rds::db_snapshots(rds_dr, region, filter(true))
                .await
                .map_err(text),
        ),
        (Some(rds_dr), Some(region), ResourceKind::AuroraCluster) => Some(
            rds::cluster_snapshots(rds_dr, region, filter(true))
                .await
                .map_err(text),
        ),
        _ => None,
    };
    let point = if arn.is_empty() {
        Ok(None)
    } else {
        backup::recovery_points(&c.backup, arn)
            .await
            .map(|pts| {
                pts.iter()
                    .filter(|p| p.usable())
                    .filter_map(|p| p.created_at)
                    .max()
            })
            .map_err(text)
    };
    (snaps, dr, point)
}

/// A read replica named by its source: an id in the same region, or an ARN in another.
pub(crate) fn read_replica(
    component: &str,
    name: &str,
    primary_region: &str,
    primary: &[DbInstance],
    dr: Option<(&str, &Result<Vec<DbInstance>, String>)>,
) -> ReplicaObs {
    let (region, id) = match name.strip_prefix("arn:") {
        Some(_) => {
            let parts: Vec<&str> = name.split(':').collect();
            (
                parts.get(3).copied().unwrap_or(primary_region).to_string(),
                parts.last().copied().unwrap_or(name).to_string(),
            )
        }
        None => (primary_region.to_string(), name.to_string()),
    };
    // Looked up in its own region's listing only: a failed listing, or a region without one,
    // is "could not be read".
    let (found, unread) = if region == primary_region {
        (primary.iter().find(|i| i.id == id).cloned(), None)
    } else {
        match dr.filter(|(r, _)| *r == region) {
            Some((_, Ok(list))) => (list.iter().find(|i| i.id == id).cloned(), None),
            Some((_, Err(e))) => (
                None,
                Some(format!("the DB instances in {region} could not be listed ({e})")),
            ),
            None => (
                None,
                Some(format!(
                    "it is in {region}, a region the policy names neither as primary nor as dr.region (no client there)"
                )),
            ),
        }
    };
    ReplicaObs {
        component: component.to_string(),
        id,
        region,
        kind: ReplicaKind::ReadReplica,
        status: found.as_ref().map(|i| i.status.clone()),
        replication: found.and_then(|i| i.replication),
        global: None,
        unread,
    }
}

/// The region and the resource name of an ARN (`arn:<partition>:<service>:<region>:...:<name>`).
fn arn_region_name(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.split(':');
    if parts.next()? != "arn" {
        return None;
    }
    let region = parts.nth(2)?;
    let name = arn.rsplit(':').next()?;
    Some((region.to_string(), name.to_string()))
}

/// What the global reads found: the secondaries as replicas, and the global databases or
/// datastores that could not be read ([`Observations::unread_globals`]).
type GlobalReads = (Vec<ReplicaObs>, Vec<(String, String, String)>);

/// The secondaries of the selected Aurora clusters' global databases (one DescribeGlobalClusters
/// read for all of them).
async fn global_database_replicas(c: &Clients, sources: &[(String, &DbCluster)]) -> GlobalReads {
    let mut out: GlobalReads = Default::default();
    if sources.is_empty() {
        return out;
    }
    let globals = rds::global_clusters(&c.rds)
        .await
        .map_err(|e| format!("{}: {e}", e.operation));
    for (component, cl) in sources {
        match aurora_secondaries(component, cl, &globals, &c.primary_region) {
            Ok(replicas) => out.0.extend(replicas),
            Err((id, why)) => out.1.push((component.clone(), id, why)),
        }
    }
    out
}

/// The replicas a selected Aurora cluster's global database gives its component: the
/// secondaries when the cluster is the writer (none: nothing to check), the cluster itself when
/// it is a secondary. `Err((global id, why))` when the global database could not be read or
/// does not list the cluster.
fn aurora_secondaries(
    component: &str,
    source: &DbCluster,
    globals: &Result<Vec<GlobalCluster>, String>,
    primary_region: &str,
) -> Result<Vec<ReplicaObs>, (String, String)> {
    let Some(id) = &source.global_cluster else {
        return Ok(Vec::new());
    };
    let fail = |why: String| Err((id.clone(), why));
    let g = match globals {
        Err(e) => return fail(e.clone()),
        Ok(list) => match list.iter().find(|g| &g.id == id) {
            Some(g) => g,
            None => return fail("DescribeGlobalClusters does not list it".into()),
        },
    };
    let is_source = |arn: &str| {
        arn == source.arn
            || arn_region_name(arn).is_some_and(|(r, n)| r == primary_region && n == source.id)
    };
    let Some(me) = g.members.iter().find(|m| is_source(&m.cluster_arn)) else {
        return fail(format!("it does not list {} among its members", source.id));
    };
    let writer = g.members.iter().find(|m| m.writer);
    let primary = writer.and_then(|w| arn_region_name(&w.cluster_arn).map(|(r, n)| (n, r)));
    let status = if g.status.is_empty() {
        "available".to_string()
    } else {
        g.status.clone()
    };
    let replica =
        |arn: &str, member: Option<&lifeboat_shared::aws::rds::GlobalMember>, selected| {
            let (region, name) = arn_region_name(arn)
                .unwrap_or_else(|| (primary_region.to_string(), arn.to_string()));
            ReplicaObs {
                component: component.to_string(),
                id: name,
                region,
                kind: ReplicaKind::GlobalSecondary,
                status: member.map(|_| status.clone()),
                replication: member.and_then(|m| m.synchronization.clone()).map(|s| {
                    let normal = s == "connected";
                    (s, normal, None)
                }),
                unread: None,
                global: Some(GlobalLink {
                    id: id.clone(),
                    primary: primary.clone(),
                    selected,
                    cache_clusters: None,
                }),
            }
        };
    if !me.writer {
        return Ok(vec![replica(&me.cluster_arn, Some(me), true)]);
    }
    // The secondaries: the members that are not the writer, and any the writer names that the
    // global database does not list as a member (gone: "does not exist").
    let mut arns: Vec<&str> = g
        .members
        .iter()
        .filter(|m| !m.writer)
        .map(|m| m.cluster_arn.as_str())
        .collect();
    for r in &me.readers {
        if !arns.contains(&r.as_str()) {
            arns.push(r);
        }
    }
    Ok(arns
        .into_iter()
        .map(|arn| {
            let member = g.members.iter().find(|m| m.cluster_arn == arn);
            replica(arn, member, false)
        })
        .collect())
}

/// The secondaries of the selected replication groups' global datastores (one
/// DescribeGlobalReplicationGroups read for all of them), with their cache clusters.
async fn global_datastore_replicas(
    c: &Clients,
    sources: &[(String, &ReplicationGroup)],
) -> GlobalReads {
    let mut out: GlobalReads = Default::default();
    if sources.is_empty() {
        return out;
    }
    let globals = elasticache::global_datastores(&c.elasticache)
        .await
        .map_err(|e| format!("{}: {e}", e.operation));
    for (component, g) in sources {
        match datastore_secondaries(component, g, &globals, &c.primary_region) {
            Ok(replicas) => {
                for mut r in replicas {
                    if let Some(link) = r.global.as_mut().filter(|l| l.cache_clusters.is_none()) {
                        link.cache_clusters = Some(secondary_clusters(c, &r.id, &r.region).await);
                    }
                    out.0.push(r);
                }
            }
            Err((id, why)) => out.1.push((component.clone(), id, why)),
        }
    }
    out
}

/// The replicas a selected replication group's global datastore gives its component: the
/// SECONDARY members when the group is the PRIMARY (their cache clusters left to read, `None`),
/// the group itself when it is a secondary. `Err((global id, why))` when the datastore could not
/// be read or does not list the group.
fn datastore_secondaries(
    component: &str,
    source: &ReplicationGroup,
    globals: &Result<Vec<GlobalDatastore>, String>,
    primary_region: &str,
) -> Result<Vec<ReplicaObs>, (String, String)> {
    let Some((id, _)) = &source.global_datastore else {
        return Ok(Vec::new());
    };
    let fail = |why: String| Err((id.clone(), why));
    let d = match globals {
        Err(e) => return fail(e.clone()),
        Ok(list) => match list.iter().find(|d| &d.id == id) {
            Some(d) => d,
            None => return fail("DescribeGlobalReplicationGroups does not list it".into()),
        },
    };
    let Some(me) = d
        .members
        .iter()
        .find(|m| m.group_id == source.id && m.region == primary_region)
    else {
        return fail(format!("it does not list {} among its members", source.id));
    };
    let primary = d
        .members
        .iter()
        .find(|m| m.role.eq_ignore_ascii_case("primary"))
        .map(|m| (m.group_id.clone(), m.region.clone()));
    let status = if d.status.is_empty() {
        "available".to_string()
    } else {
        d.status.clone()
    };
    let replica =
        |m: &lifeboat_shared::aws::elasticache::GlobalDatastoreMember, selected| ReplicaObs {
            component: component.to_string(),
            id: m.group_id.clone(),
            region: m.region.clone(),
            kind: ReplicaKind::GlobalDatastoreSecondary,
            status: Some(status.clone()),
            replication: m.status.clone().map(|s| {
                let normal = s == "associated";
                (s, normal, None)
            }),
            unread: None,
            global: Some(GlobalLink {
                id: id.clone(),
                primary: primary.clone(),
                selected,
                cache_clusters: selected.then(|| Ok(source.member_clusters.clone())),
            }),
        };
    if !me.role.eq_ignore_ascii_case("primary") {
        return Ok(vec![replica(me, true)]);
    }
    Ok(d.members
        .iter()
        .filter(|m| m.role.eq_ignore_ascii_case("secondary"))
        .map(|m| replica(m, false))
        .collect())
}

/// The cache clusters of a global datastore secondary, read in its region (the primary and
/// the DR region have clients; another region's are not read).
async fn secondary_clusters(c: &Clients, id: &str, region: &str) -> Result<Vec<String>, String> {
    let client = if region == c.primary_region {
        Some(&c.elasticache)
    } else if c.dr_region.as_deref() == Some(region) {
        c.elasticache_dr.as_ref()
    } else {
        None
    };
    let Some(ec) = client else {
        return Err(format!(
            "no ElastiCache client for {region} (a region the policy does not name)"
        ));
    };
    match elasticache::find_group(ec, id).await {
        Ok(Some(g)) => Ok(g.member_clusters),
        Ok(None) => Err(format!("{id} was not found in {region}")),
        Err(e) => Err(e.about(id)),
    }
}
