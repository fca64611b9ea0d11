//! Preflight (`{"action": "preflight"}`): before the first scheduled run, each function reads,
//! on the real account and with the clients its runs use, every bucket, key, secret, subnet
//! group, replication configuration and endpoint its policy names, and reports what is missing.
//!
//! Every check ends with a [`Verdict`]: `OK`, `MISSING` (the resource is absent: it and the
//! policy field naming it are said), `DENIED` (AccessDenied: the IAM action the role lacks is
//! said), `UNREACHABLE` (no answer from the network, with the error) or `COULD NOT CHECK` (any
//! other AWS error, quoted). Preflight never writes: no lease, no state, no canary, no snapshot.
//! The only write is its own report, delivered as every run's report is (archived under
//! `reports/<function>/`, where the function's runs archive theirs, and emailed).
//!
//! This module holds the kit: the item and its verdicts, the classification of AWS errors (the
//! codes live in [`crate::aws::errors`]), the IAM action of each call, the probes every function
//! shares (an S3 read of an absent key, a TCP connection, the CA bundle) and the report. Each
//! function lists its own checks in `functions/<name>/src/preflight.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

use crate::aws::errors::{self, AwsError};
use crate::error::Result;
use crate::notify::Outbox;
use crate::policy::{Component, Policy, ResourceKind};
use crate::report::{Decision, Report, Severity, Verdict as ReportVerdict};
use crate::run::{Invocation, Response};
use crate::trigger::bounded;

/// The manual action every function accepts: `{"action": "preflight"}`.
pub const ACTION: &str = "preflight";

/// A preflight checks everything the policy names: a manual command's `only` is refused.
pub fn refuse_only(only: &[String]) -> Result<()> {
    if only.is_empty() {
        Ok(())
    } else {
        Err(crate::Error::event(
            "event.only",
            "no only for preflight: it checks everything the policy names",
        ))
    }
}

/// How long a TCP connection to a database endpoint may take before it is UNREACHABLE.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Verdict {
    #[serde(rename = "OK")]
    Ok,
    /// The resource is absent.
    #[serde(rename = "MISSING")]
    Missing,
    /// AWS answered AccessDenied: the role lacks the action.
    #[serde(rename = "DENIED")]
    Denied,
    /// No answer from the network (a timeout, a refused connection, no route).
    #[serde(rename = "UNREACHABLE")]
    Unreachable,
    /// Any other error: the check could not conclude.
    #[serde(rename = "COULD NOT CHECK")]
    CouldNotCheck,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Missing => "MISSING",
            Verdict::Denied => "DENIED",
            Verdict::Unreachable => "UNREACHABLE",
            Verdict::CouldNotCheck => "COULD NOT CHECK",
        }
    }
}

/// One check: what was read, with which call, and what it found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// What was checked, e.g. `s3://ecommerce-backups` or `DB subnet group lifeboat-restore`.
    pub subject: String,
    /// The policy field (or environment variable) that names it, e.g. `buckets.backup`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The call, as `service:Operation` (`s3:HeadBucket`), or `tcp`, `file`.
    pub call: String,
    pub verdict: Verdict,
    /// For `DENIED`: the IAM action the role lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    pub detail: String,
}

/// The IAM action a call is authorized as. Most AWS APIs are authorized under their own name
/// (`rds:DescribeDBInstances`); S3's are not (`HeadBucket` and `ListObjectsV2` are
/// `s3:ListBucket`, `HeadObject` is `s3:GetObject`, `GetBucketReplication` is
/// `s3:GetReplicationConfiguration`). `call` is `service:Operation`.
pub fn iam_action(call: &str) -> String {
    let s3 = match call {
        "s3:HeadBucket" | "s3:ListObjectsV2" | "s3:ListObjects" => Some("s3:ListBucket"),
        "s3:GetObject" | "s3:HeadObject" => Some("s3:GetObject"),
        "s3:GetBucketReplication" => Some("s3:GetReplicationConfiguration"),
        "s3:GetBucketEncryption" => Some("s3:GetEncryptionConfiguration"),
        "s3:ListObjectVersions" => Some("s3:ListBucketVersions"),
        _ => None,
    };
    s3.map(str::to_string).unwrap_or_else(|| call.to_string())
}

/// The verdict of an AWS error code: AccessDenied is `DENIED`, a code that says the resource
/// does not exist is `MISSING`, no reply at all (`Unknown`: a timeout, a refused connection) is
/// `UNREACHABLE`, anything else `COULD NOT CHECK` (a bare `HTTP 404` too: an endpoint without
/// that API says so, not the resource).
pub fn classify(code: &str) -> Verdict {
    if errors::access_denied(code) {
        Verdict::Denied
    } else if errors::not_found(code) || absent(code) {
        Verdict::Missing
    } else if code == "Unknown" {
        Verdict::Unreachable
    } else {
        Verdict::CouldNotCheck
    }
}

/// Codes of the describes only preflight makes that say "there is no such resource" (the
/// functions' own rules for creates and deletes are in [`crate::aws::errors`]).
const ABSENT: &[&str] = &[
    "NoSuchBucket",
    // Secrets Manager, AWS Backup
    "ResourceNotFoundException",
    // KMS
    "NotFoundException",
    "DBSubnetGroupNotFoundFault",
    "CacheSubnetGroupNotFoundFault",
    // S3 GetBucketReplication on a bucket without a replication configuration
    "ReplicationConfigurationNotFoundError",
];

fn absent(code: &str) -> bool {
    ABSENT.contains(&code)
}

/// The checks of one preflight, in the order they were made, and what it does not check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preflight {
    pub items: Vec<Item>,
    /// What preflight cannot prove without writing or without a grant it should not need
    /// (e.g. `iam:PassRole`, a canary's PutObject): said in the report, never silent.
    pub notes: Vec<String>,
}

fn field(f: Option<&str>) -> Option<String> {
    f.map(str::to_string)
}

impl Preflight {
    pub fn new() -> Preflight {
        Preflight::default()
    }

    fn push(
        &mut self,
        subject: &str,
        f: Option<&str>,
        call: &str,
        verdict: Verdict,
        detail: String,
    ) {
        let action = (verdict == Verdict::Denied).then(|| iam_action(call));
        self.items.push(Item {
            subject: subject.to_string(),
            field: field(f),
            call: call.to_string(),
            verdict,
            action,
            detail,
        });
    }

    pub fn ok(&mut self, subject: &str, f: Option<&str>, call: &str, detail: impl Into<String>) {
        self.push(subject, f, call, Verdict::Ok, detail.into());
    }

    /// A resource the policy names is not there (found absent in a listing that worked).
    pub fn missing(
        &mut self,
        subject: &str,
        f: Option<&str>,
        call: &str,
        detail: impl Into<String>,
    ) {
        let detail = detail.into();
        let detail = match f {
            Some(f) => format!("{detail} ({f} names it)"),
            None => detail,
        };
        self.push(subject, f, call, Verdict::Missing, detail);
    }

    /// A check that could not conclude for a reason other than an AWS error (e.g. a required
    /// environment variable is unset).
    pub fn could_not_check(
        &mut self,
        subject: &str,
        f: Option<&str>,
        call: &str,
        detail: impl Into<String>,
    ) {
        self.push(subject, f, call, Verdict::CouldNotCheck, detail.into());
    }

    /// A failed AWS call, classified by its code. `call` is `service:Operation`.
    pub fn failed(&mut self, subject: &str, f: Option<&str>, call: &str, e: &AwsError) {
        let verdict = classify(&e.code);
        let error = bounded(&e.to_string(), 200);
        let detail = match verdict {
            Verdict::Denied => format!(
                "the role lacks {} ({call} answered {error})",
                iam_action(call)
            ),
            Verdict::Missing => match f {
                Some(f) => format!("does not exist ({f} names it): {call}: {error}"),
                None => format!("does not exist: {call}: {error}"),
            },
            Verdict::Unreachable => format!("{call}: no answer: {error}"),
            _ => format!("{call}: {error}"),
        };
        self.push(subject, f, call, verdict, detail);
    }

    /// The answer of one AWS call: its output, or `None` with the failure recorded. An `Ok`
    /// records nothing: the caller says what it found.
    pub fn attempt<T, E>(
        &mut self,
        subject: &str,
        f: Option<&str>,
        call: &'static str,
        result: Result<T, SdkError<E, HttpResponse>>,
    ) -> Option<T>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                let op = call.split_once(':').map(|(_, op)| op).unwrap_or(call);
                self.failed(subject, f, call, &AwsError::new(op, &e));
                None
            }
        }
    }

    /// A call whose success is the whole check (a listing that proves the permission).
    pub fn call<T, E>(
        &mut self,
        subject: &str,
        f: Option<&str>,
        call: &'static str,
        result: Result<T, SdkError<E, HttpResponse>>,
        ok: &str,
    ) -> Option<T>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let out = self.attempt(subject, f, call, result);
        if out.is_some() {
            self.ok(subject, f, call, ok);
        }
        out
    }

    /// A read of a key the function may read before it exists (a lease, a status, a journal, a
    /// manifest). S3 answers 404 for an absent key only when the role has `s3:ListBucket` on
    /// the bucket; without it, 403 AccessDenied, which the function's run would take for a
    /// failure. `call` is `s3:GetObject` or `s3:HeadObject`.
    pub fn absent_key<T, E>(
        &mut self,
        bucket: &str,
        key: &str,
        f: Option<&str>,
        call: &'static str,
        result: Result<T, SdkError<E, HttpResponse>>,
    ) where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let subject = format!("s3://{bucket}/{key}");
        match result {
            Ok(_) => self.ok(&subject, f, call, "readable (the object exists)"),
            Err(e) => {
                let op = call.split_once(':').map(|(_, op)| op).unwrap_or(call);
                let e = AwsError::new(op, &e);
                if errors::head_not_found(&e.code) {
                    self.ok(
                        &subject,
                        f,
                        call,
                        "absent, answered 404 as it must (s3:ListBucket on the bucket is in place)",
                    );
                } else if errors::access_denied(&e.code) {
                    self.items.push(Item {
                        subject,
                        field: field(f),
                        call: call.to_string(),
                        verdict: Verdict::Denied,
                        action: Some("s3:ListBucket".into()),
                        detail: format!(
                            "s3:ListBucket is missing on arn:aws:s3:::{bucket}: S3 answered {call} of this key {} instead of 404, so every read of a key not written yet fails",
                            e.code
                        ),
                    });
                } else {
                    self.failed(&subject, f, call, &e);
                }
            }
        }
    }

    /// A TCP connection to `host:port` within [`CONNECT_TIMEOUT`] (the database a fingerprint
    /// or a check connects to; no bytes are sent).
    pub async fn tcp(&mut self, subject: &str, f: Option<&str>, host: &str, port: u16) {
        let addr = format!("{host}:{port}");
        let connect = tokio::net::TcpStream::connect(addr.clone());
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(_)) => self.ok(subject, f, "tcp", format!("{addr} accepts connections")),
            Ok(Err(e)) => self.push(
                subject,
                f,
                "tcp",
                Verdict::Unreachable,
                format!("{addr}: {e}"),
            ),
            Err(_) => self.push(
                subject,
                f,
                "tcp",
                Verdict::Unreachable,
                format!(
                    "{addr}: no connection within {} s (the function's subnets, security group or routes)",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ),
        }
    }

    /// Something preflight does not check, and why.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn count(&self, verdict: Verdict) -> usize {
        self.items.iter().filter(|i| i.verdict == verdict).count()
    }

    /// `preflight: N missing, M denied`, then the unreachable and the unchecked when there are
    /// any, and the number of checks.
    pub fn headline(&self) -> String {
        let mut h = format!(
            "preflight: {} missing, {} denied",
            self.count(Verdict::Missing),
            self.count(Verdict::Denied)
        );
        for (v, word) in [
            (Verdict::Unreachable, "unreachable"),
            (Verdict::CouldNotCheck, "could not be checked"),
        ] {
            let n = self.count(v);
            if n > 0 {
                h.push_str(&format!(", {n} {word}"));
            }
        }
        h.push_str(&format!(
            " ({} of {} checks OK)",
            self.count(Verdict::Ok),
            self.items.len()
        ));
        h
    }

    /// Writes the checks into the report: each problem a finding (critical for missing, denied
    /// and unreachable, a warning for could not check: problems first in the email), each OK a
    /// PASS decision, the notes as info, the items as JSON in `details.preflight`.
    pub fn into_report(self, report: &mut Report) {
        report.headline = self.headline();
        let mut problems: Vec<&Item> = self
            .items
            .iter()
            .filter(|i| i.verdict != Verdict::Ok)
            .collect();
        problems.sort_by_key(|i| i.verdict);
        for i in problems {
            let severity = if i.verdict == Verdict::CouldNotCheck {
                Severity::Warning
            } else {
                Severity::Critical
            };
            report.finding(
                severity,
                Some(&i.subject),
                format!("{}: {}", i.verdict.label(), i.detail),
            );
        }
        for i in self.items.iter().filter(|i| i.verdict == Verdict::Ok) {
            let named = i
                .field
                .as_deref()
                .map(|f| format!(" [{f}]"))
                .unwrap_or_default();
            report.decisions.push(Decision::new(
                &i.subject,
                ReportVerdict::Pass,
                format!("OK: {}: {}{named}", i.call, i.detail),
            ));
        }
        for n in &self.notes {
            report.finding(Severity::Info, None, format!("not checked: {n}"));
        }
        report.details = serde_json::json!({ "preflight": self.items, "not_checked": self.notes });
    }
}

/// A manifest key no backup has (`backups/<kind>/lifeboat-preflight/lifeboat-preflight-<run id>/
/// manifest.json`): read to prove an absent manifest answers 404, under the same grant as the
/// real manifests.
pub fn absent_manifest_key(run_id: &str) -> String {
    crate::backup::manifest_key(
        ResourceKind::RdsInstance,
        "lifeboat-preflight",
        &format!("lifeboat-preflight-{run_id}"),
    )
}

/// A resource a listing returned: its id and tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub id: String,
    pub tags: BTreeMap<String, String>,
}

/// Every component of `kind` that `wanted` keeps finds its resources in a listing that worked
/// (`call`, in `region`): each id it names is there (`components[i].ids[j]`), and a component
/// that selects by tags matches at least one resource (`components[i].tags`).
pub fn components_found(
    p: &mut Preflight,
    policy: &Policy,
    kind: ResourceKind,
    listed: &[Listed],
    wanted: impl Fn(&Component) -> bool,
    call: &str,
    region: &str,
) {
    for (i, c) in policy.components.iter().enumerate() {
        if c.kind != kind || !wanted(c) {
            continue;
        }
        for (j, id) in c.ids.iter().enumerate() {
            let subject = format!("{kind} {id} ({})", c.name);
            let f = format!("components[{i}].ids[{j}]");
            if listed.iter().any(|l| &l.id == id) {
                p.ok(&subject, Some(&f), call, format!("found in {region}"));
            } else {
                p.missing(
                    &subject,
                    Some(&f),
                    call,
                    format!("no {kind} {id} in {region}"),
                );
            }
        }
        if !c.tags.is_empty() {
            let tags: Vec<String> = c.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let subject = format!("{kind} tagged {} ({})", tags.join(","), c.name);
            let f = format!("components[{i}].tags");
            let n = listed
                .iter()
                .filter(|l| c.tags.iter().all(|(k, v)| l.tags.get(k) == Some(v)))
                .count();
            if n > 0 {
                p.ok(&subject, Some(&f), call, format!("{n} found in {region}"));
            } else {
                p.missing(
                    &subject,
                    Some(&f),
                    call,
                    format!("no {kind} in {region} carries every tag"),
                );
            }
        }
    }
}

/// A preflight's report, delivered as every run's report is: archived under
/// `reports/<function>/`, emailed, its EMF line written. The invocation is a dry run: nothing
/// else is written.
pub async fn deliver(outbox: &Outbox<'_>, inv: &Invocation, p: Preflight) -> Result<Response> {
    let mut report = inv.report();
    p.into_report(&mut report);
    crate::run::deliver(outbox, report).await
}

/// A source a component selects, as its listing showed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The index of its component in `components`.
    pub component: usize,
    pub kind: ResourceKind,
    pub id: String,
    pub arn: String,
    pub engine: String,
    pub endpoint: Option<(String, u16)>,
    /// Its replicas: an instance's read replicas (ids, or ARNs in other regions), a cluster's
    /// readers.
    pub replicas: Vec<String>,
    /// The Aurora global database or ElastiCache global datastore it belongs to.
    pub global: Option<String>,
    /// An ElastiCache group's in-transit encryption, (offered, required); None for RDS.
    pub in_transit: Option<(bool, bool)>,
}

/// One page of each snapshot listing the runs read in `region`, for the kinds `wanted` says:
/// DescribeDBSnapshots, DescribeDBClusterSnapshots, ElastiCache DescribeSnapshots.
#[cfg(all(feature = "rds", feature = "elasticache"))]
pub async fn snapshot_listings(
    p: &mut Preflight,
    rds: &aws_sdk_rds::Client,
    ec: &aws_sdk_elasticache::Client,
    region: &str,
    wanted: impl Fn(ResourceKind) -> bool,
) {
    let here = format!("snapshots in {region}");
    if wanted(ResourceKind::RdsInstance) {
        p.call(
            &here,
            None,
            "rds:DescribeDBSnapshots",
            rds.describe_db_snapshots().max_records(20).send().await,
            "listable",
        );
    }
    if wanted(ResourceKind::AuroraCluster) {
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
    if wanted(ResourceKind::Elasticache) {
        p.call(
            &here,
            None,
            "elasticache:DescribeSnapshots",
            ec.describe_snapshots().max_records(20).send().await,
            "listable",
        );
    }
}

/// Lists the sources of every component `wanted` keeps, with the same readers and calls the
/// runs make (DescribeDBInstances, DescribeDBClusters, DescribeReplicationGroups and, for
/// components selecting replication groups by tag, ListTagsForResource), says each component's
/// ids and tags found or MISSING, and returns the sources found.
#[cfg(all(feature = "rds", feature = "elasticache"))]
pub async fn sources(
    p: &mut Preflight,
    policy: &Policy,
    rds: &aws_sdk_rds::Client,
    ec: &aws_sdk_elasticache::Client,
    region: &str,
    wanted: impl Fn(&Component) -> bool,
) -> Vec<Source> {
    use crate::aws::{elasticache, rds as rds_read};
    let wants = |k: ResourceKind| policy.components.iter().any(|c| c.kind == k && wanted(c));
    let index = |name: &str| policy.components.iter().position(|c| c.name == name);
    let mut out = Vec::new();
    let mut keep = |kind: ResourceKind,
                    l: &Listed,
                    arn: &str,
                    engine: &str,
                    ep: &Option<(String, u16)>,
                    replicas: &[String],
                    global: Option<String>| {
        let m = policy.membership(kind, &l.id, &l.tags);
        if let Some(i) = m
            .and_then(|m| m.named.map(|c| c.name.clone()))
            .and_then(|n| index(&n))
        {
            if wanted(&policy.components[i]) {
                out.push(Source {
                    component: i,
                    kind,
                    id: l.id.clone(),
                    arn: arn.to_string(),
                    engine: engine.to_string(),
                    endpoint: ep.clone(),
                    replicas: replicas.to_vec(),
                    global,
                    in_transit: None,
                });
            }
        }
    };
    let listing = format!("every source in {region}");
    if wants(ResourceKind::RdsInstance) {
        let call = "rds:DescribeDBInstances";
        match rds_read::instances(rds).await {
            Ok(list) => {
                p.ok(
                    &listing,
                    None,
                    call,
                    format!("{} DB instances listed", list.len()),
                );
                let listed: Vec<Listed> = list
                    .iter()
                    .filter(|i| i.cluster_id.is_none())
                    .map(|i| Listed {
                        id: i.id.clone(),
                        tags: i.tags.clone(),
                    })
                    .collect();
                components_found(
                    p,
                    policy,
                    ResourceKind::RdsInstance,
                    &listed,
                    &wanted,
                    call,
                    region,
                );
                for (l, i) in listed
                    .iter()
                    .zip(list.iter().filter(|i| i.cluster_id.is_none()))
                {
                    keep(
                        ResourceKind::RdsInstance,
                        l,
                        &i.arn,
                        &i.engine,
                        &i.endpoint,
                        &i.replicas,
                        None,
                    );
                }
            }
            Err(e) => p.failed(&listing, None, call, &e),
        }
    }
    if wants(ResourceKind::AuroraCluster) {
        let call = "rds:DescribeDBClusters";
        match rds_read::clusters(rds).await {
            Ok(list) => {
                p.ok(
                    &listing,
                    None,
                    call,
                    format!("{} DB clusters listed", list.len()),
                );
                let aurora: Vec<_> = list
                    .iter()
                    .filter(|c| c.engine.starts_with("aurora"))
                    .collect();
                let listed: Vec<Listed> = aurora
                    .iter()
                    .map(|c| Listed {
                        id: c.id.clone(),
                        tags: c.tags.clone(),
                    })
                    .collect();
                components_found(
                    p,
                    policy,
                    ResourceKind::AuroraCluster,
                    &listed,
                    &wanted,
                    call,
                    region,
                );
                for (l, c) in listed.iter().zip(aurora) {
                    keep(
                        ResourceKind::AuroraCluster,
                        l,
                        &c.arn,
                        &c.engine,
                        &c.endpoint,
                        &c.readers,
                        c.global_cluster.clone(),
                    );
                }
            }
            Err(e) => p.failed(&listing, None, call, &e),
        }
    }
    if wants(ResourceKind::Elasticache) {
        let call = "elasticache:DescribeReplicationGroups";
        match elasticache::replication_groups(ec).await {
            Ok(groups) => {
                p.ok(
                    &listing,
                    None,
                    call,
                    format!("{} replication groups listed", groups.len()),
                );
                let by_tag = policy.components.iter().any(|c| {
                    c.kind == ResourceKind::Elasticache && wanted(c) && !c.tags.is_empty()
                });
                let mut listed = Vec::new();
                for g in &groups {
                    let tags = if by_tag && !g.arn.is_empty() {
                        match elasticache::tags(ec, &g.arn).await {
                            Ok(t) => t,
                            Err(e) => {
                                p.failed(
                                    &format!("tags of {}", g.id),
                                    None,
                                    "elasticache:ListTagsForResource",
                                    &e,
                                );
                                BTreeMap::new()
                            }
                        }
                    } else {
                        BTreeMap::new()
                    };
                    listed.push(Listed {
                        id: g.id.clone(),
                        tags,
                    });
                }
                components_found(
                    p,
                    policy,
                    ResourceKind::Elasticache,
                    &listed,
                    &wanted,
                    call,
                    region,
                );
                for (l, g) in listed.iter().zip(&groups) {
                    keep(
                        ResourceKind::Elasticache,
                        l,
                        &g.arn,
                        &g.engine,
                        &g.endpoint,
                        &[],
                        g.global_datastore.as_ref().map(|(id, _)| id.clone()),
                    );
                }
                for s in out
                    .iter_mut()
                    .filter(|s| s.kind == ResourceKind::Elasticache)
                {
                    s.in_transit = groups.iter().find(|g| g.id == s.id).map(|g| g.in_transit);
                }
            }
            Err(e) => p.failed(&listing, None, call, &e),
        }
    }
    out
}

/// Each database secret of a component `wanted` keeps exists: `DescribeSecret` (never
/// GetSecretValue: preflight does not read a secret's value, so the secret's shape and the
/// role's `secretsmanager:GetSecretValue` are proven only by the first run that reads it).
#[cfg(feature = "data")]
pub async fn secrets(
    p: &mut Preflight,
    policy: &Policy,
    sm: &aws_sdk_secretsmanager::Client,
    wanted: impl Fn(&Component) -> bool,
) {
    for (i, c) in policy.components.iter().enumerate() {
        let Some(access) = c.database.as_ref().filter(|_| wanted(c)) else {
            continue;
        };
        let subject = format!("secret {} ({})", access.secret_arn, c.name);
        let f = format!("components[{i}].database.secret_arn");
        let call = "secretsmanager:DescribeSecret";
        let out = p.attempt(
            &subject,
            Some(&f),
            call,
            sm.describe_secret()
                .secret_id(&access.secret_arn)
                .send()
                .await,
        );
        if let Some(d) = out {
            if d.deleted_date().is_some() {
                p.missing(
                    &subject,
                    Some(&f),
                    call,
                    "scheduled for deletion (DeletedDate set)",
                );
            } else {
                p.ok(&subject, Some(&f), call, "exists");
            }
        }
    }
}

/// The database endpoints a run connects to (the local mapping of `LIFEBOAT_LOCAL_ENDPOINTS`
/// applied, as the runs apply it): a TCP connection to each source of a component with
/// `database`, and the CA bundle when one of them is reached over TLS.
#[cfg(feature = "data")]
pub async fn endpoints(
    p: &mut Preflight,
    policy: &Policy,
    found: &[Source],
    local: &BTreeMap<String, (String, u16)>,
    why: &str,
) {
    use crate::data::{target, Family};
    let mut tls = Vec::new();
    for s in found {
        let c = &policy.components[s.component];
        let Some(access) = &c.database else { continue };
        let subject = format!("{} {} endpoint ({why})", s.kind, s.id);
        let f = format!("components[{}].database", s.component);
        let Some(family) = Family::of(&s.engine) else {
            p.could_not_check(
                &subject,
                Some(&f),
                "tcp",
                format!("engine {:?} has no client in Lifeboat", s.engine),
            );
            continue;
        };
        let Some((host, port)) = &s.endpoint else {
            p.could_not_check(
                &subject,
                Some(&f),
                "tcp",
                format!("{} reports no endpoint (status not available?)", s.id),
            );
            continue;
        };
        let to = target(local, family, host, *port);
        // A cache's TLS is its in-transit encryption: `database.tls` must say the same, or
        // every connection fails (rediss:// to a plain port, or plain to a TLS-only one).
        if let (Some((offered, required)), false) = (s.in_transit, to.mapped) {
            let wrong = if access.tls && !offered {
                Some(format!("tls is on but {} has no in-transit encryption: every connection would fail (set database.tls: false, or enable in-transit encryption)", s.id))
            } else if !access.tls && required {
                Some(format!("tls is off but {} requires in-transit encryption: every connection would fail (set database.tls: true)", s.id))
            } else {
                None
            };
            if let Some(why) = wrong {
                p.missing(
                    &subject,
                    Some(&format!("{f}.tls")),
                    "elasticache:DescribeReplicationGroups",
                    why,
                );
            }
        }
        // Redis verifies against the system's roots (or LIFEBOAT_REDIS_CA_BUNDLE); SQL needs
        // the RDS bundle.
        if access.tls && !to.mapped && family != Family::Redis {
            tls.push(s.id.clone());
        }
        p.tcp(&subject, Some(&f), &to.host, to.port).await;
    }
    if !tls.is_empty() {
        ca_bundle(p, &tls.join(", "));
    }
}

/// The CA bundle TLS connections to databases are verified against
/// (`LIFEBOAT_DB_CA_BUNDLE`, see [`crate::data::sql`]): set, readable, and holding at least one
/// certificate, when any database the function connects to has `tls` on.
#[cfg(feature = "data")]
pub fn ca_bundle(p: &mut Preflight, needed_by: &str) {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let var = crate::data::sql::CA_BUNDLE_VAR;
    let subject = format!("CA bundle ({var})");
    let Ok(path) = std::env::var(var) else {
        p.missing(
            &subject,
            Some(var),
            "file",
            format!("{var} is not set: TLS to {needed_by} needs the RDS CA bundle (the stack's DatabaseCaBundleLayerArn sets it)"),
        );
        return;
    };
    // Loaded as the runs load it: one block that does not parse, or a certificate rustls
    // refuses, fails every SQL connection, so it fails here too.
    match crate::data::sql::rustls_config(&path) {
        Ok(_) => {
            let n = CertificateDer::pem_file_iter(&path).map_or(0, |it| it.count());
            p.ok(
                &subject,
                Some(var),
                "file",
                format!("{path}: {n} certificates, every one loaded"),
            )
        }
        Err(e) => p.missing(&subject, Some(var), "file", e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn aws(code: &str) -> AwsError {
        AwsError {
            operation: "X",
            code: code.into(),
            message: "m".into(),
        }
    }

    #[tokio::test]
    async fn an_absent_key_answered_403_says_s3_list_bucket_is_missing() {
        use aws_smithy_mocks::{mock, mock_client};
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        // Given S3 answering 403 AccessDenied for an absent key (no s3:ListBucket), then 404
        let reply = |status: u16, code: &'static str| {
            move || {
                HttpResponse::new(
                    StatusCode::try_from(status).unwrap(),
                    SdkBody::from(format!(
                        "<Error><Code>{code}</Code><Message>m</Message></Error>"
                    )),
                )
            }
        };
        let denied =
            mock!(aws_sdk_s3::Client::get_object).then_http_response(reply(403, "AccessDenied"));
        let absent =
            mock!(aws_sdk_s3::Client::get_object).then_http_response(reply(404, "NoSuchKey"));
        let s3 = mock_client!(aws_sdk_s3, [&denied, &absent]);
        let mut p = Preflight::new();
        // When the same absent key is read twice
        for _ in 0..2 {
            let r = s3
                .get_object()
                .bucket("reports")
                .key("runs/x.json")
                .send()
                .await;
            p.absent_key("reports", "runs/x.json", None, "s3:GetObject", r);
        }
        // Then the 403 is DENIED naming s3:ListBucket on the bucket, the 404 is OK
        assert_eq!(p.items[0].verdict, Verdict::Denied);
        assert_eq!(p.items[0].action.as_deref(), Some("s3:ListBucket"));
        assert!(
            p.items[0]
                .detail
                .starts_with("s3:ListBucket is missing on arn:aws:s3:::reports"),
            "{}",
            p.items[0].detail
        );
        assert_eq!(p.items[1].verdict, Verdict::Ok);
    }

    #[test]
    fn a_component_whose_ids_or_tags_match_nothing_is_missing_by_field() {
        // Given a policy naming an instance by id and a cluster by tags, and listings that have
        // the instance but no cluster with those tags
        let policy = Policy::parse("version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: orders, kind: rds-instance, ids: [orders-db, orders-db-2]}\n  - {name: catalog, kind: aurora-cluster, tags: {app: catalog}}\n").unwrap();
        let listed = |id: &str, tags: &[(&str, &str)]| Listed {
            id: id.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let mut p = Preflight::new();
        // When each kind's listing is compared with the components
        components_found(
            &mut p,
            &policy,
            ResourceKind::RdsInstance,
            &[listed("orders-db", &[])],
            |_| true,
            "rds:DescribeDBInstances",
            "us-east-1",
        );
        components_found(
            &mut p,
            &policy,
            ResourceKind::AuroraCluster,
            &[listed("catalog", &[("app", "shop")])],
            |_| true,
            "rds:DescribeDBClusters",
            "us-east-1",
        );
        // Then the listed id is OK, the other id and the tag selection MISSING by field
        let v: Vec<(Option<&str>, Verdict)> = p
            .items
            .iter()
            .map(|i| (i.field.as_deref(), i.verdict))
            .collect();
        assert_eq!(
            v,
            vec![
                (Some("components[0].ids[0]"), Verdict::Ok),
                (Some("components[0].ids[1]"), Verdict::Missing),
                (Some("components[1].tags"), Verdict::Missing),
            ]
        );
        assert!(
            p.items[1]
                .detail
                .contains("no rds-instance orders-db-2 in us-east-1"),
            "{}",
            p.items[1].detail
        );
    }

    #[cfg(feature = "data")]
    #[tokio::test]
    async fn a_cache_whose_tls_disagrees_with_database_tls_is_missing_by_field() {
        // Given ElastiCache sources with and without in-transit encryption, and the policy's
        // database.tls on (the default) or off
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let source = |in_transit| Source {
            component: 0,
            kind: ResourceKind::Elasticache,
            id: "sessions".into(),
            arn: "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:sessions".into(),
            engine: "redis".into(),
            endpoint: Some(("127.0.0.1".into(), closed)),
            replicas: vec![],
            global: None,
            in_transit: Some(in_transit),
        };
        let policy = |tls: bool| {
            Policy::parse(&format!("version: 1\nbuckets: {{backup: b-1}}\ncomponents:\n  - {{name: s, kind: elasticache, ids: [sessions], database: {{secret_arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf', tls: {tls}}}}}\n")).unwrap()
        };
        let tls_items = |tls: bool, in_transit: (bool, bool)| {
            let policy = policy(tls);
            async move {
                let mut p = Preflight::new();
                endpoints(
                    &mut p,
                    &policy,
                    &[source(in_transit)],
                    &BTreeMap::new(),
                    "fingerprints",
                )
                .await;
                p.items
                    .into_iter()
                    .filter(|i| i.field.as_deref() == Some("components[0].database.tls"))
                    .map(|i| (i.verdict, i.detail))
                    .collect::<Vec<_>>()
            }
        };
        // When preflight checks the endpoints
        // Then tls on against a cache without in-transit encryption is MISSING, naming the field
        let on_plain = tls_items(true, (false, false)).await;
        assert_eq!(on_plain.len(), 1, "{on_plain:?}");
        assert_eq!(on_plain[0].0, Verdict::Missing);
        assert!(
            on_plain[0]
                .1
                .starts_with("tls is on but sessions has no in-transit encryption"),
            "{}",
            on_plain[0].1
        );
        // tls off against a cache that requires TLS is MISSING too
        let off_required = tls_items(false, (true, true)).await;
        assert_eq!(off_required.len(), 1, "{off_required:?}");
        // and agreement, or a `preferred` cache accepting both, is no finding
        assert!(tls_items(true, (true, true)).await.is_empty());
        assert!(tls_items(false, (true, false)).await.is_empty());
    }

    #[cfg(feature = "data")]
    #[test]
    fn a_ca_bundle_with_a_certificate_the_runs_refuse_is_missing() {
        // Given a bundle with a real certificate (the system's first) and a PEM block whose
        // contents are not a certificate (valid base64, not DER): the runs fail to load it
        let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt")
            .expect("the system's CA certificates (Debian's ca-certificates)");
        let first = &system[..system.find("-----END CERTIFICATE-----").unwrap() + 25];
        let dir = std::env::temp_dir().join(format!("lifeboat-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.pem");
        let bad = dir.join("bad.pem");
        std::fs::write(&good, format!("{first}\n")).unwrap();
        std::fs::write(
            &bad,
            format!("{first}\n-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n"),
        )
        .unwrap();
        let verdict = |path: &std::path::Path| {
            let mut p = Preflight::new();
            std::env::set_var(crate::data::sql::CA_BUNDLE_VAR, path);
            ca_bundle(&mut p, "orders");
            std::env::remove_var(crate::data::sql::CA_BUNDLE_VAR);
            (p.items[0].verdict, p.items[0].detail.clone())
        };
        // When preflight checks each
        let (ok, _) = verdict(&good);
        let (refused, why) = verdict(&bad);
        let _ = std::fs::remove_dir_all(&dir);
        // Then the good one is OK and the other MISSING, saying why
        assert_eq!(ok, Verdict::Ok);
        assert_eq!(refused, Verdict::Missing, "{why}");
        assert!(why.starts_with("LIFEBOAT_DB_CA_BUNDLE "), "{why}");
    }

    #[tokio::test]
    async fn a_database_port_nothing_listens_on_is_unreachable_with_the_error() {
        // Given a loopback port with no listener (bound, then released)
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut p = Preflight::new();
        // When preflight connects to it
        p.tcp(
            "rds-instance orders endpoint",
            Some("components[0].database"),
            "127.0.0.1",
            port,
        )
        .await;
        // Then it is UNREACHABLE, the address and the error said
        assert_eq!(p.items[0].verdict, Verdict::Unreachable);
        assert!(
            p.items[0]
                .detail
                .starts_with(&format!("127.0.0.1:{port}: ")),
            "{}",
            p.items[0].detail
        );
        assert!(p.headline().contains(", 1 unreachable"), "{}", p.headline());
    }

    #[test]
    fn s3_calls_are_named_by_the_action_iam_authorizes_them_as() {
        for (call, action) in [
            ("s3:HeadBucket", "s3:ListBucket"),
            ("s3:ListObjectsV2", "s3:ListBucket"),
            ("s3:HeadObject", "s3:GetObject"),
            ("s3:GetBucketReplication", "s3:GetReplicationConfiguration"),
            ("s3:GetBucketVersioning", "s3:GetBucketVersioning"),
            ("rds:DescribeDBSubnetGroups", "rds:DescribeDBSubnetGroups"),
            (
                "secretsmanager:DescribeSecret",
                "secretsmanager:DescribeSecret",
            ),
        ] {
            assert_eq!(iam_action(call), action, "{call}");
        }
    }

    #[test]
    fn every_error_ends_in_one_verdict() {
        for (code, v) in [
            ("AccessDenied", Verdict::Denied),
            ("AccessDeniedException", Verdict::Denied),
            ("NoSuchBucket", Verdict::Missing),
            ("NotFound", Verdict::Missing),
            ("ResourceNotFoundException", Verdict::Missing),
            ("DBSubnetGroupNotFoundFault", Verdict::Missing),
            ("Unknown", Verdict::Unreachable),
            ("Throttling", Verdict::CouldNotCheck),
        ] {
            assert_eq!(classify(code), v, "{code}");
        }
    }

    #[test]
    fn a_denied_call_names_the_action_and_a_missing_one_its_field() {
        // Given a denied HeadBucket and a missing secret
        let mut p = Preflight::new();
        p.failed(
            "s3://b-1",
            Some("buckets.backup"),
            "s3:HeadBucket",
            &aws("AccessDenied"),
        );
        p.failed(
            "secret s",
            Some("components[0].database.secret_arn"),
            "secretsmanager:DescribeSecret",
            &aws("ResourceNotFoundException"),
        );
        // Then the denial names s3:ListBucket and the absence the field
        assert_eq!(p.items[0].action.as_deref(), Some("s3:ListBucket"));
        assert!(p.items[0]
            .detail
            .starts_with("the role lacks s3:ListBucket"));
        assert!(p.items[1]
            .detail
            .contains("(components[0].database.secret_arn names it)"));
        assert_eq!(
            p.headline(),
            "preflight: 1 missing, 1 denied (0 of 2 checks OK)"
        );
    }

    #[test]
    fn the_report_puts_problems_first_and_is_critical() {
        // Given one OK check, one missing, a note
        let mut p = Preflight::new();
        p.ok(
            "s3://b-1",
            Some("buckets.backup"),
            "s3:HeadBucket",
            "exists",
        );
        p.missing(
            "DB subnet group x",
            Some("verification.restore.db_subnet_group"),
            "rds:DescribeDBSubnetGroups",
            "no such group",
        );
        p.note("iam:PassRole");
        let mut r = Report::new(
            "f",
            "r",
            "us-east-1",
            "manual".into(),
            true,
            chrono::Utc::now(),
        );
        // When written into a report
        p.into_report(&mut r);
        r.finish(r.started_at);
        // Then it is critical, the problem a finding, the OK a PASS
        assert_eq!(r.status, crate::report::Status::Critical);
        assert_eq!(
            r.headline,
            "preflight: 1 missing, 0 denied (1 of 2 checks OK)"
        );
        let text = r.render_text();
        assert!(
            text.find("MISSING").unwrap() < text.find("OK: s3:HeadBucket").unwrap(),
            "{text}"
        );
        assert_eq!(r.details["preflight"][1]["verdict"], "MISSING");
    }
}
