//! ElastiCache (Redis OSS / Valkey): replication groups, global datastores and snapshots as plain
//! records, every list read to its last page; tags read per resource (a call each, so only where
//! needed).

use std::collections::BTreeMap;

use aws_sdk_elasticache::Client;

use super::errors::{not_found, AwsError};
use crate::aws_time as time;
use crate::backup::Snapshot;
use crate::policy::ResourceKind;

/// An ElastiCache replication group.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationGroup {
    pub id: String,
    pub arn: String,
    /// `redis` when AWS does not say.
    pub engine: String,
    pub status: String,
    /// Encrypted at rest.
    pub encrypted: bool,
    /// In-transit encryption: (enabled — TLS is offered; required — plain connections are
    /// refused, i.e. enabled and not in `preferred` mode, which accepts both).
    pub in_transit: (bool, bool),
    /// Where clients connect: the first shard's primary, else the configuration endpoint;
    /// once AWS reports an address and a port.
    pub endpoint: Option<(String, u16)>,
    /// The global datastore it belongs to, if any: (its id, this group's role in it, `primary`
    /// or `secondary` as AWS spells it).
    pub global_datastore: Option<(String, String)>,
    /// Its cache clusters (one per node: the `CacheClusterId` its node metrics are published
    /// under).
    pub member_clusters: Vec<String>,
}

/// An ElastiCache global datastore (global replication group) with its members.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalDatastore {
    pub id: String,
    /// As ElastiCache reports it (`available`, `creating`, `modifying`, `deleting`, ...).
    pub status: String,
    pub members: Vec<GlobalDatastoreMember>,
}

/// A replication group of a global datastore.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalDatastoreMember {
    pub group_id: String,
    pub region: String,
    /// `PRIMARY` or `SECONDARY`.
    pub role: String,
    /// The status of its membership (`associated` when healthy, `associating`, ...), when
    /// ElastiCache reports it.
    pub status: Option<String>,
}

impl GlobalDatastore {
    /// `None` for a global datastore without an identifier.
    pub fn from_sdk(
        g: &aws_sdk_elasticache::types::GlobalReplicationGroup,
    ) -> Option<GlobalDatastore> {
        Some(GlobalDatastore {
            id: g.global_replication_group_id()?.to_string(),
            status: g.status().unwrap_or_default().to_string(),
            members: g
                .members()
                .iter()
                .filter_map(|m| {
                    Some(GlobalDatastoreMember {
                        group_id: m.replication_group_id()?.to_string(),
                        region: m.replication_group_region().unwrap_or_default().to_string(),
                        role: m.role().unwrap_or_default().to_string(),
                        status: m.status().map(str::to_string),
                    })
                })
                .collect(),
        })
    }
}

impl ReplicationGroup {
    /// `None` for a group without an identifier.
    pub fn from_sdk(g: &aws_sdk_elasticache::types::ReplicationGroup) -> Option<ReplicationGroup> {
        Some(ReplicationGroup {
            id: g.replication_group_id()?.to_string(),
            arn: g.arn().unwrap_or_default().to_string(),
            engine: g.engine().unwrap_or("redis").to_string(),
            status: g.status().unwrap_or_default().to_string(),
            encrypted: g.at_rest_encryption_enabled().unwrap_or(false),
            in_transit: {
                let on = g.transit_encryption_enabled().unwrap_or(false);
                let preferred = g.transit_encryption_mode()
                    == Some(&aws_sdk_elasticache::types::TransitEncryptionMode::Preferred);
                (on, on && !preferred)
            },
            endpoint: g
                .node_groups()
                .first()
                .and_then(|n| n.primary_endpoint())
                .or(g.configuration_endpoint())
                .and_then(|e| Some((e.address()?.to_string(), e.port()? as u16))),
            global_datastore: g.global_replication_group_info().and_then(|i| {
                Some((
                    i.global_replication_group_id()?.to_string(),
                    i.global_replication_group_member_role()
                        .unwrap_or_default()
                        .to_string(),
                ))
            }),
            member_clusters: g.member_clusters().to_vec(),
        })
    }
}

/// A tag map as ElastiCache takes it.
pub fn tag_list(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_elasticache::types::Tag> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_elasticache::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
        })
        .collect()
}

/// The tags of one ElastiCache resource (replication group or snapshot) by ARN.
pub async fn tags(ec: &Client, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let out = ec
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| AwsError::new("ListTagsForResource", &e))?;
    Ok(out
        .tag_list()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

/// Every replication group in the client's region.
pub async fn replication_groups(ec: &Client) -> Result<Vec<ReplicationGroup>, AwsError> {
    let mut out = Vec::new();
    let mut pages = ec.describe_replication_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeReplicationGroups", &e))?;
        out.extend(
            page.replication_groups()
                .iter()
                .filter_map(ReplicationGroup::from_sdk),
        );
    }
    Ok(out)
}

/// Every global datastore of the account, with its members (`ShowMemberInfo`).
pub async fn global_datastores(ec: &Client) -> Result<Vec<GlobalDatastore>, AwsError> {
    let mut out = Vec::new();
    let mut pages = ec
        .describe_global_replication_groups()
        .show_member_info(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeGlobalReplicationGroups", &e))?;
        out.extend(
            page.global_replication_groups()
                .iter()
                .filter_map(GlobalDatastore::from_sdk),
        );
    }
    Ok(out)
}

/// One replication group; `None` when there is none of that name.
pub async fn find_group(ec: &Client, id: &str) -> Result<Option<ReplicationGroup>, AwsError> {
    match ec
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
    {
        Ok(o) => Ok(o
            .replication_groups()
            .iter()
            .find_map(ReplicationGroup::from_sdk)),
        Err(e) => {
            let e = AwsError::new("DescribeReplicationGroups", &e);
            if not_found(&e.code) {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Snapshots in `region` (the client's), of one replication group or all. Tags are left empty:
/// read them with [`tags`] for the snapshots that need them.
pub async fn snapshots(
    ec: &Client,
    region: &str,
    of_group: Option<&str>,
) -> Result<Vec<Snapshot>, AwsError> {
    Ok(snapshots_sized(ec, region, of_group)
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .collect())
}

/// The bytes of a snapshot: the sum of its nodes' `CacheSize` ("6 MB", "1.5 GB"), `None` when
/// a node reports none or a size this reader cannot parse.
pub fn snapshot_bytes(s: &aws_sdk_elasticache::types::Snapshot) -> Option<u64> {
    let nodes = s.node_snapshots();
    if nodes.is_empty() {
        return None;
    }
    let mut total = 0u64;
    for n in nodes {
        total += cache_size(n.cache_size()?)?;
    }
    Some(total)
}

/// "6 MB" → bytes (binary units, as ElastiCache reports memory).
pub fn cache_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let mult = match unit.trim().to_ascii_uppercase().as_str() {
        "B" | "BYTES" => 1.0,
        "KB" | "KIB" => 1024.0,
        "MB" | "MIB" => 1024.0 * 1024.0,
        "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        "TB" | "TIB" => 1024.0_f64.powi(4),
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then(|| (n * mult).round() as u64)
}

/// [`snapshots`] with each snapshot's bytes ([`snapshot_bytes`]).
pub async fn snapshots_sized(
    ec: &Client,
    region: &str,
    of_group: Option<&str>,
) -> Result<Vec<(Snapshot, Option<u64>)>, AwsError> {
    let mut out = Vec::new();
    let mut pages = ec
        .describe_snapshots()
        .set_replication_group_id(of_group.map(str::to_string))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("DescribeSnapshots", &e))?;
        for s in page.snapshots() {
            let Some(name) = s.snapshot_name() else {
                continue;
            };
            out.push((
                Snapshot {
                    kind: ResourceKind::Elasticache,
                    id: name.to_string(),
                    arn: s.arn().unwrap_or_default().to_string(),
                    // ElastiCache snapshots are not copied across regions.
                    source_snapshot_arn: None,
                    source_id: s
                        .replication_group_id()
                        .or(s.cache_cluster_id())
                        .unwrap_or_default()
                        .to_string(),
                    region: region.to_string(),
                    // One time per shard: the earliest is the age of the backup.
                    created_at: s
                        .node_snapshots()
                        .iter()
                        .filter_map(|n| time(n.snapshot_create_time()))
                        .min(),
                    status: s.snapshot_status().unwrap_or_default().to_string(),
                    manual: s.snapshot_source() == Some("manual"),
                    encrypted: s.kms_key_id().is_some(),
                    kms_key_id: s.kms_key_id().map(str::to_string),
                    size_gb: None,
                    engine: s.engine().map(str::to_string),
                    tags: BTreeMap::new(),
                },
                snapshot_bytes(s),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::aws::test_page;
    use aws_sdk_elasticache::operation as op;
    use aws_sdk_elasticache::types;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    /// 2026-11-21T00:00:00Z plus `minutes`.
    fn at(minutes: usize) -> aws_smithy_types::DateTime {
        aws_smithy_types::DateTime::from_secs(1_795_219_200 + 60 * minutes as i64)
    }

    #[tokio::test]
    async fn snapshots_are_read_to_the_last_page_where_the_newest_is() {
        // Given 120 snapshots of one group, 50 to a page as ElastiCache pages them, oldest
        // first, each with two shards snapshotted a minute apart
        let rule = mock!(Client::describe_snapshots)
            .match_requests(|r| r.replication_group_id() == Some("sessions"))
            .then_compute_output(|r| {
                let (items, next) = test_page(120, 50, r.marker());
                op::describe_snapshots::DescribeSnapshotsOutput::builder()
                    .set_snapshots(Some(
                        items
                            .map(|i| {
                                types::Snapshot::builder()
                                    .snapshot_name(format!("lifeboat-sessions-{i:03}"))
                                    .arn(format!("arn:aws:elasticache:us-east-1:1:snapshot:s-{i}"))
                                    .replication_group_id("sessions")
                                    .snapshot_status("available")
                                    .snapshot_source("manual")
                                    .node_snapshots(
                                        types::NodeSnapshot::builder()
                                            .snapshot_create_time(at(10 * i + 1))
                                            .build(),
                                    )
                                    .node_snapshots(
                                        types::NodeSnapshot::builder()
                                            .snapshot_create_time(at(10 * i))
                                            .build(),
                                    )
                                    .build()
                            })
                            .collect(),
                    ))
                    .set_marker(next)
                    .build()
            });
        let ec = mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, [&rule]);
        // When they are read
        let snaps = snapshots(&ec, "us-east-1", Some("sessions")).await.unwrap();
        // Then all three pages were read, and the newest is dated by its earliest shard
        assert_eq!(rule.num_calls(), 3);
        assert_eq!(snaps.len(), 120);
        let newest = snaps.iter().max_by_key(|s| s.created_at).unwrap();
        assert_eq!(newest.id, "lifeboat-sessions-119");
        assert_eq!(newest.created_at, crate::aws_time(Some(&at(1190))));
        assert!(newest.lifeboat_named() && newest.tags.is_empty());
        assert_eq!(newest.source_id, "sessions");
    }

    #[tokio::test]
    async fn replication_groups_are_read_to_the_last_page() {
        // Given 3 pages of replication groups
        let rule = mock!(Client::describe_replication_groups).then_compute_output(|r| {
            let (items, next) = test_page(5, 2, r.marker());
            op::describe_replication_groups::DescribeReplicationGroupsOutput::builder()
                .set_replication_groups(Some(
                    items
                        .map(|i| {
                            types::ReplicationGroup::builder()
                                .replication_group_id(format!("rg-{i}"))
                                .status("available")
                                .node_groups(
                                    types::NodeGroup::builder()
                                        .primary_endpoint(
                                            types::Endpoint::builder()
                                                .address(format!("rg-{i}.example"))
                                                .port(6379)
                                                .build(),
                                        )
                                        .build(),
                                )
                                .build()
                        })
                        .collect(),
                ))
                .set_marker(next)
                .build()
        });
        let ec = mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, [&rule]);
        // When they are read
        let groups = replication_groups(&ec).await.unwrap();
        // Then every page was read, engine defaulting to redis, endpoint from the first shard
        assert_eq!(rule.num_calls(), 3);
        assert_eq!(groups.len(), 5);
        assert_eq!(groups[4].id, "rg-4");
        assert_eq!(groups[4].engine, "redis");
        assert_eq!(groups[4].endpoint, Some(("rg-4.example".into(), 6379)));
    }

    #[tokio::test]
    async fn global_datastores_are_read_with_their_members_to_the_last_page() {
        // Given 3 global datastores, 2 to a page, members shown only when asked for
        let rule = mock!(Client::describe_global_replication_groups)
            .match_requests(|r| r.show_member_info() == Some(true))
            .then_compute_output(|r| {
                let (items, next) = test_page(3, 2, r.marker());
                op::describe_global_replication_groups::DescribeGlobalReplicationGroupsOutput::builder()
                    .set_global_replication_groups(Some(
                        items
                            .map(|i| {
                                types::GlobalReplicationGroup::builder()
                                    .global_replication_group_id(format!("ldgnf-sessions-{i}"))
                                    .status("available")
                                    .members(
                                        types::GlobalReplicationGroupMember::builder()
                                            .replication_group_id(format!("sessions-{i}"))
                                            .replication_group_region("us-east-1")
                                            .role("PRIMARY")
                                            .status("associated")
                                            .build(),
                                    )
                                    .members(
                                        types::GlobalReplicationGroupMember::builder()
                                            .replication_group_id(format!("sessions-{i}-dr"))
                                            .replication_group_region("us-west-2")
                                            .role("SECONDARY")
                                            .status("associating")
                                            .build(),
                                    )
                                    .build()
                            })
                            .collect(),
                    ))
                    .set_marker(next)
                    .build()
            });
        let ec = mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, [&rule]);
        // When they are read
        let globals = global_datastores(&ec).await.unwrap();
        // Then both pages were read, each member converted
        assert_eq!(rule.num_calls(), 2);
        assert_eq!(globals.len(), 3);
        assert_eq!(globals[2].id, "ldgnf-sessions-2");
        assert_eq!(
            globals[2].members[1],
            GlobalDatastoreMember {
                group_id: "sessions-2-dr".into(),
                region: "us-west-2".into(),
                role: "SECONDARY".into(),
                status: Some("associating".into()),
            }
        );
    }

    #[tokio::test]
    async fn a_global_datastore_read_that_fails_is_an_error_and_a_group_says_its_datastore() {
        // Given DescribeGlobalReplicationGroups throttled, and a group that is a secondary
        let throttled = mock!(Client::describe_global_replication_groups).then_error(|| {
            op::describe_global_replication_groups::DescribeGlobalReplicationGroupsError::generic(
                ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        });
        let ec = mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, [&throttled]);
        let e = global_datastores(&ec).await.unwrap_err();
        assert_eq!(
            e.about("global datastores"),
            "DescribeGlobalReplicationGroups global datastores: Throttling: Rate exceeded"
        );
        let g = ReplicationGroup::from_sdk(
            &types::ReplicationGroup::builder()
                .replication_group_id("sessions-dr")
                .global_replication_group_info(
                    types::GlobalReplicationGroupInfo::builder()
                        .global_replication_group_id("ldgnf-sessions")
                        .global_replication_group_member_role("secondary")
                        .build(),
                )
                .member_clusters("sessions-dr-001")
                .member_clusters("sessions-dr-002")
                .build(),
        )
        .unwrap();
        assert_eq!(
            g.global_datastore,
            Some(("ldgnf-sessions".into(), "secondary".into()))
        );
        assert_eq!(g.member_clusters, ["sessions-dr-001", "sessions-dr-002"]);
    }

    #[tokio::test]
    async fn a_group_not_found_is_absent_and_tags_are_a_map() {
        // Given a describe answered "not found", and a resource with tags
        let gone = mock!(Client::describe_replication_groups).then_error(|| {
            op::describe_replication_groups::DescribeReplicationGroupsError::ReplicationGroupNotFoundFault(
                types::error::ReplicationGroupNotFoundFault::builder()
                    .meta(
                        ErrorMetadata::builder()
                            .code("ReplicationGroupNotFoundFault")
                            .build(),
                    )
                    .build(),
            )
        });
        let tagged = mock!(Client::list_tags_for_resource).then_output(|| {
            op::list_tags_for_resource::ListTagsForResourceOutput::builder()
                .tag_list(
                    types::Tag::builder()
                        .key("lifeboat:managed")
                        .value("true")
                        .build(),
                )
                .tag_list(types::Tag::builder().value("no key").build())
                .build()
        });
        let ec = mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, [&gone, &tagged]);
        // Then the group is absent and the tags read as a map
        assert_eq!(find_group(&ec, "lifeboat-verify-0badc0de").await, Ok(None));
        let t = tags(&ec, "arn:aws:elasticache:us-east-1:1:snapshot:s")
            .await
            .unwrap();
        assert_eq!(
            t,
            BTreeMap::from([("lifeboat:managed".to_string(), "true".to_string())])
        );
        assert_eq!(tag_list(&t).len(), 1);
    }
}
