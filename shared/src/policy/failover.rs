//! `failover.plans[]`: the DR runbook as data. Each plan names its primary and DR regions, its
//! RTO and RPO, and steps that form a graph (`depends_on`; independent branches run in
//! parallel), each with its kind, parameters and own RTO.
//!
//! The document holds the plans as written ([`PlanInput`]); [`resolve`] turns them into typed
//! [`Plan`]s (each step's parameters parsed for its kind, the graph checked for unknown
//! dependencies and cycles, named `a → b → a`) before any AWS call, every error naming its field.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::validate::{
    check_bucket, check_identifier, check_parameter_name, check_region, validate_name,
};
use super::Buckets;
use super::Span;
use crate::error::{Error, Result};
use crate::trigger::{excerpt_str, field_path, plain_serde};

/// The `failover` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failover {
    /// The plans as written; [`Failover::plans`] holds them typed once the policy is validated.
    #[serde(default, rename = "plans")]
    pub written: Vec<PlanInput>,
    #[serde(skip)]
    pub plans: Vec<Plan>,
}

impl Failover {
    pub fn plan(&self, name: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.name == name)
    }
}

/// One plan as written in the policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    pub name: String,
    pub primary_region: String,
    pub dr_region: String,
    pub rto: Span,
    pub rpo: Span,
    /// Execute may go ahead with a replica lagging past the RPO, or fail an Aurora global
    /// database over (not switch it over) while its primary is unhealthy.
    #[serde(default)]
    pub allow_data_loss: bool,
    /// CloudWatch alarms (primary region) that speak for the primary's health and may start it.
    #[serde(default)]
    pub alarms: Vec<String>,
    /// Route 53 health checks of the primary.
    #[serde(default)]
    pub health_checks: Vec<String>,
    /// With `automation.auto_failover`: how long an alarm must have been in ALARM.
    #[serde(default = "default_alarm_for")]
    pub alarm_for: Span,
    pub steps: Vec<StepInput>,
}

fn default_alarm_for() -> Span {
    Span::minutes(5)
}

/// One step as written: its parameters are read for its kind by [`resolve`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub params: serde_json::Value,
    #[serde(default)]
    pub depends_on: Vec<String>,
    pub rto: Option<Span>,
}

/// A validated plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub name: String,
    pub primary_region: String,
    pub dr_region: String,
    pub rto: Span,
    pub rpo: Span,
    pub allow_data_loss: bool,
    pub alarms: Vec<String>,
    pub health_checks: Vec<String>,
    pub alarm_for: Span,
    /// In the order written; every step but the assessment depends (at least) on it.
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub action: Action,
    pub depends_on: Vec<String>,
    pub rto: Span,
}

/// The step kinds and their parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "params", rename_all = "kebab-case")]
pub enum Action {
    /// Primary health, DR readiness, expected data loss. Every mode starts with it.
    Assess,
    PromoteRdsReplica(PromoteRdsReplica),
    AuroraGlobal(AuroraGlobal),
    RestoreRdsFromSnapshot(RestoreRds),
    RestoreRedis(RestoreRedis),
    UpdateSecret(UpdateSecret),
    Route53Switch(Route53Switch),
    SwitchBackupTarget(SwitchBackupTarget),
    FenceOldPrimary(FenceOldPrimary),
    Approval(Approval),
    Verify(VerifyStep),
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Assess => "assess",
            Action::PromoteRdsReplica(_) => "promote-rds-replica",
            Action::AuroraGlobal(_) => "aurora-global",
            Action::RestoreRdsFromSnapshot(_) => "restore-rds-from-snapshot",
            Action::RestoreRedis(_) => "restore-redis",
            Action::UpdateSecret(_) => "update-secret",
            Action::Route53Switch(_) => "route53-switch",
            Action::SwitchBackupTarget(_) => "switch-backup-target",
            Action::FenceOldPrimary(_) => "fence-old-primary",
            Action::Approval(_) => "approval",
            Action::Verify(_) => "verify",
        }
    }

    /// The step whose new endpoint this step uses, if any.
    pub fn endpoint_from(&self) -> Option<&str> {
        match self {
            Action::UpdateSecret(u) => Some(&u.endpoint_from),
            Action::Verify(v) => Some(&v.endpoint_from),
            Action::Route53Switch(r) => r.records.iter().find_map(|x| x.endpoint_from.as_deref()),
            _ => None,
        }
    }
}

/// PromoteReadReplica in the DR region; the primary (in the primary region) is what the
/// assessment judges and what fencing and failback act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteRdsReplica {
    /// The read replica in the DR region.
    pub replica: String,
    /// Its source in the primary region.
    pub primary: String,
}

/// SwitchoverGlobalCluster when the primary is healthy, FailoverGlobalCluster only when it is
/// not and the plan allows data loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuroraGlobal {
    pub global_cluster: String,
    /// The DR-region member cluster to become the writer.
    pub target_cluster: String,
}

/// A new instance in the DR region from the newest DR copy snapshot-export's manifests name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRds {
    /// The policy component whose DR copies to restore.
    pub component: String,
    /// The new instance's identifier.
    pub target: String,
    pub instance_class: String,
    pub subnet_group: String,
    #[serde(default)]
    pub security_groups: Vec<String>,
}

/// A replication group in the DR region from the newest snapshot there of `source_group`, or
/// the failover of an ElastiCache global datastore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRedis {
    /// The replication group to create (or, with `global_datastore`, the DR member to promote).
    pub target: String,
    /// The primary-region group whose snapshots (in the DR region) to restore.
    #[serde(default)]
    pub source_group: Option<String>,
    #[serde(default)]
    pub node_type: Option<String>,
    #[serde(default)]
    pub subnet_group: Option<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    #[serde(default)]
    pub global_datastore: Option<String>,
}

/// PutSecretValue of host/port in the DR region's secret, other fields kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSecret {
    /// Name or ARN, in the DR region.
    pub secret: String,
    /// The step whose new endpoint goes in.
    pub endpoint_from: String,
    #[serde(default = "default_host_field")]
    pub host_field: String,
    #[serde(default = "default_port_field")]
    pub port_field: String,
}

fn default_host_field() -> String {
    "host".into()
}

fn default_port_field() -> String {
    "port".into()
}

/// UPSERT of the plan's records, waited for until INSYNC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Switch {
    pub hosted_zone_id: String,
    pub records: Vec<Record>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Fully qualified, e.g. `db.shop.example.com.`.
    pub name: String,
    #[serde(rename = "type", default = "default_record_type")]
    pub r#type: String,
    #[serde(default = "default_ttl")]
    pub ttl: i64,
    /// The new value, or
    #[serde(default)]
    pub value: Option<String>,
    /// the new endpoint of this step (a CNAME to it).
    #[serde(default)]
    pub endpoint_from: Option<String>,
}

fn default_record_type() -> String {
    "CNAME".into()
}

fn default_ttl() -> i64 {
    60
}

/// Seed 000: the SSM parameter backup jobs read for their target bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchBackupTarget {
    /// The parameter's name, in the primary region (e.g. `/lifeboat/backup-target`).
    pub parameter: String,
    pub primary_bucket: String,
    pub secondary_bucket: String,
}

/// Rename and tag the old primary so that it cannot take writes when it comes back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FenceOldPrimary {
    /// The old primary DB instance, in the primary region.
    pub instance: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// What the person approving is asked.
    #[serde(default)]
    pub prompt: Option<String>,
}

/// The data checks of `component`'s verify section, on the new endpoint of `endpoint_from`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyStep {
    pub component: String,
    pub endpoint_from: String,
    /// A secret in the DR region with `username` and `password` to connect with (the component's
    /// database secret, in the primary region, may be out of reach in a region failure); the
    /// component's own secret when unset, and always on failback.
    #[serde(default)]
    pub secret: Option<String>,
}

/// The step kinds, as written.
pub const KINDS: [&str; 11] = [
    "assess",
    "promote-rds-replica",
    "aurora-global",
    "restore-rds-from-snapshot",
    "restore-redis",
    "update-secret",
    "route53-switch",
    "switch-backup-target",
    "fence-old-primary",
    "approval",
    "verify",
];

/// Steps with a new endpoint another step can use.
const ENDPOINT_KINDS: [&str; 4] = [
    "promote-rds-replica",
    "aurora-global",
    "restore-rds-from-snapshot",
    "restore-redis",
];

/// At most this many steps in a plan.
pub const MAX_STEPS: usize = 50;

/// Typed plans from the written ones; `components` are the policy's component names.
pub fn resolve(
    written: &[PlanInput],
    components: &BTreeSet<&str>,
    buckets: &Buckets,
) -> Result<Vec<Plan>> {
    let mut names = BTreeSet::new();
    let mut plans = Vec::with_capacity(written.len());
    for (i, p) in written.iter().enumerate() {
        let at = format!("failover.plans[{i}]");
        validate_name(&at, &p.name)?;
        if !names.insert(p.name.as_str()) {
            return Err(Error::policy(
                format!("{at}.name"),
                format!(
                    "a name no other plan has, got {} twice",
                    excerpt_str(&p.name)
                ),
            ));
        }
        plans.push(resolve_plan(&at, p, components, buckets)?);
    }
    Ok(plans)
}

fn resolve_plan(
    at: &str,
    p: &PlanInput,
    components: &BTreeSet<&str>,
    buckets: &Buckets,
) -> Result<Plan> {
    check_region(&format!("{at}.primary_region"), &p.primary_region)?;
    check_region(&format!("{at}.dr_region"), &p.dr_region)?;
    if p.primary_region == p.dr_region {
        return Err(Error::policy(
            format!("{at}.dr_region"),
            format!(
                "a region other than primary_region ({}), got the same",
                p.primary_region
            ),
        ));
    }
    for (field, span) in [("rto", p.rto), ("rpo", p.rpo), ("alarm_for", p.alarm_for)] {
        if span.0 <= chrono::Duration::zero() {
            return Err(Error::policy(
                format!("{at}.{field}"),
                format!("a duration above zero, got {span}"),
            ));
        }
    }
    for (j, a) in p.alarms.iter().enumerate() {
        if a.is_empty() || a.len() > 255 {
            return Err(Error::policy(
                format!("{at}.alarms[{j}]"),
                format!(
                    "a CloudWatch alarm name (1-255 characters), got {}",
                    excerpt_str(a)
                ),
            ));
        }
    }
    for (j, h) in p.health_checks.iter().enumerate() {
        if h.is_empty()
            || h.len() > 64
            || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(Error::policy(
                format!("{at}.health_checks[{j}]"),
                format!("a Route 53 health check id, got {}", excerpt_str(h)),
            ));
        }
    }
    if p.steps.is_empty() || p.steps.len() > MAX_STEPS {
        return Err(Error::policy(
            format!("{at}.steps"),
            format!("1 to {MAX_STEPS} steps, got {}", p.steps.len()),
        ));
    }
    // Names first: a dependency may name a later step.
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (j, s) in p.steps.iter().enumerate() {
        let sat = format!("{at}.steps[{j}]");
        validate_name(&sat, &s.name)?;
        if index.insert(s.name.as_str(), j).is_some() {
            return Err(Error::policy(
                format!("{sat}.name"),
                format!(
                    "a name no other step of the plan has, got {} twice",
                    excerpt_str(&s.name)
                ),
            ));
        }
        if !KINDS.contains(&s.kind.as_str()) {
            return Err(Error::policy(
                format!("{sat}.kind"),
                format!("one of {}, got {}", KINDS.join(", "), excerpt_str(&s.kind)),
            ));
        }
    }
    let assess: Vec<&StepInput> = p.steps.iter().filter(|s| s.kind == "assess").collect();
    let assess_name = match assess.as_slice() {
        [one] => one.name.clone(),
        [] => {
            return Err(Error::policy(
                format!("{at}.steps"),
                "an assess step (every mode starts with it), got none",
            ))
        }
        _ => {
            return Err(Error::policy(
                format!("{at}.steps"),
                "one assess step, got several",
            ))
        }
    };
    let mut steps = Vec::with_capacity(p.steps.len());
    for (j, s) in p.steps.iter().enumerate() {
        let sat = format!("{at}.steps[{j}]");
        for (k, d) in s.depends_on.iter().enumerate() {
            if !index.contains_key(d.as_str()) {
                return Err(Error::policy(
                    format!("{sat}.depends_on[{k}]"),
                    format!(
                        "the name of a step of this plan ({}), got {}",
                        index.keys().copied().collect::<Vec<_>>().join(", "),
                        excerpt_str(d)
                    ),
                ));
            }
            if *d == s.name {
                return Err(Error::policy(
                    format!("{sat}.depends_on[{k}]"),
                    format!(
                        "another step, got the step itself ({} → {})",
                        s.name, s.name
                    ),
                ));
            }
        }
        if s.kind == "assess" && !s.depends_on.is_empty() {
            return Err(Error::policy(
                format!("{sat}.depends_on"),
                "nothing: the assessment comes first",
            ));
        }
        let action = action(&sat, s, components, buckets)?;
        let rto = match (s.rto, &action) {
            (Some(r), _) if r.0 > chrono::Duration::zero() => r,
            (Some(r), _) => {
                return Err(Error::policy(
                    format!("{sat}.rto"),
                    format!("a duration above zero, got {r}"),
                ))
            }
            (None, Action::Assess | Action::Approval(_)) => Span::minutes(5),
            (None, _) => {
                return Err(Error::policy(
                    format!("{sat}.rto"),
                    "the step's RTO, a duration like \"5m\"",
                ))
            }
        };
        let mut depends_on = s.depends_on.clone();
        if depends_on.is_empty() && s.kind != "assess" {
            depends_on.push(assess_name.clone());
        }
        if let Some(from) = action.endpoint_from() {
            let Some(&k) = index.get(from) else {
                return Err(Error::policy(
                    format!("{sat}.params.endpoint_from"),
                    format!("the name of a step of this plan, got {}", excerpt_str(from)),
                ));
            };
            if !ENDPOINT_KINDS.contains(&p.steps[k].kind.as_str()) {
                return Err(Error::policy(
                    format!("{sat}.params.endpoint_from"),
                    format!(
                        "a step with a new endpoint ({}), got {} ({})",
                        ENDPOINT_KINDS.join(", "),
                        from,
                        p.steps[k].kind
                    ),
                ));
            }
        }
        steps.push(Step {
            name: s.name.clone(),
            action,
            depends_on,
            rto,
        });
    }
    if let Some(cycle) = find_cycle(&steps) {
        return Err(Error::policy(
            format!("{at}.steps"),
            format!(
                "steps without a cycle in depends_on, got {}",
                cycle.join(" → ")
            ),
        ));
    }
    // A step using another's endpoint must come after it.
    for (j, s) in steps.iter().enumerate() {
        if let Some(from) = s.action.endpoint_from() {
            if !ancestors(&steps, &s.name).contains(from) {
                return Err(Error::policy(
                    format!("{at}.steps[{j}].depends_on"),
                    format!("to include {from} (directly or through another step): it uses its endpoint"),
                ));
            }
        }
    }
    Ok(Plan {
        name: p.name.clone(),
        primary_region: p.primary_region.clone(),
        dr_region: p.dr_region.clone(),
        rto: p.rto,
        rpo: p.rpo,
        allow_data_loss: p.allow_data_loss,
        alarms: p.alarms.clone(),
        health_checks: p.health_checks.clone(),
        alarm_for: p.alarm_for,
        steps,
    })
}

/// A step's parameters for its kind, errors naming `params.<field>`.
fn action(
    at: &str,
    s: &StepInput,
    components: &BTreeSet<&str>,
    buckets: &Buckets,
) -> Result<Action> {
    let params = |what: &str| -> Result<&serde_json::Value> {
        match &s.params {
            serde_json::Value::Null => Err(Error::policy(
                format!("{at}.params"),
                format!("the parameters of a {} step: {what}", s.kind),
            )),
            v => Ok(v),
        }
    };
    let pat = format!("{at}.params");
    Ok(match s.kind.as_str() {
        "assess" => {
            no_params(&pat, &s.params)?;
            Action::Assess
        }
        "promote-rds-replica" => {
            let x: PromoteRdsReplica = typed(&pat, params("replica, primary")?)?;
            check_identifier(&format!("{pat}.replica"), &x.replica)?;
            check_identifier(&format!("{pat}.primary"), &x.primary)?;
            Action::PromoteRdsReplica(x)
        }
        "aurora-global" => {
            let x: AuroraGlobal = typed(&pat, params("global_cluster, target_cluster")?)?;
            check_identifier(&format!("{pat}.global_cluster"), &x.global_cluster)?;
            check_identifier(&format!("{pat}.target_cluster"), &x.target_cluster)?;
            Action::AuroraGlobal(x)
        }
        "restore-rds-from-snapshot" => {
            let x: RestoreRds = typed(
                &pat,
                params("component, target, instance_class, subnet_group")?,
            )?;
            known_component(&format!("{pat}.component"), &x.component, components)?;
            check_identifier(&format!("{pat}.target"), &x.target)?;
            nonempty(
                &format!("{pat}.instance_class"),
                &x.instance_class,
                "an instance class like db.t3.micro",
            )?;
            nonempty(
                &format!("{pat}.subnet_group"),
                &x.subnet_group,
                "a DB subnet group name in the DR region",
            )?;
            Action::RestoreRdsFromSnapshot(x)
        }
        "restore-redis" => {
            let x: RestoreRedis =
                typed(&pat, params("target and source_group or global_datastore")?)?;
            check_identifier(&format!("{pat}.target"), &x.target)?;
            match (&x.source_group, &x.global_datastore) {
                (Some(g), None) => {
                    check_identifier(&format!("{pat}.source_group"), g)?;
                    if x.node_type.as_deref().unwrap_or("").is_empty() {
                        return Err(Error::policy(
                            format!("{pat}.node_type"),
                            "the node type of the restored group, like cache.t3.micro",
                        ));
                    }
                }
                (None, Some(g)) => nonempty(&format!("{pat}.global_datastore"), g, "a global datastore id")?,
                _ => {
                    return Err(Error::policy(
                        pat.clone(),
                        "exactly one of source_group (restore from its newest snapshot) or global_datastore (fail it over)",
                    ))
                }
            }
            Action::RestoreRedis(x)
        }
        "update-secret" => {
            let x: UpdateSecret = typed(&pat, params("secret, endpoint_from")?)?;
            nonempty(
                &format!("{pat}.secret"),
                &x.secret,
                "a secret name or ARN in the DR region",
            )?;
            nonempty(
                &format!("{pat}.host_field"),
                &x.host_field,
                "a JSON field name",
            )?;
            nonempty(
                &format!("{pat}.port_field"),
                &x.port_field,
                "a JSON field name",
            )?;
            Action::UpdateSecret(x)
        }
        "route53-switch" => {
            let x: Route53Switch = typed(&pat, params("hosted_zone_id, records")?)?;
            let z = &x.hosted_zone_id;
            if z.is_empty() || z.len() > 32 || !z.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(Error::policy(
                    format!("{pat}.hosted_zone_id"),
                    format!(
                        "a hosted zone id like Z0123456789ABCDEFGHIJ, got {}",
                        excerpt_str(z)
                    ),
                ));
            }
            if x.records.is_empty() {
                return Err(Error::policy(
                    format!("{pat}.records"),
                    "at least one record",
                ));
            }
            for (k, r) in x.records.iter().enumerate() {
                let rat = format!("{pat}.records[{k}]");
                if r.name.is_empty() || r.name.len() > 253 || r.name.contains(char::is_whitespace) {
                    return Err(Error::policy(
                        format!("{rat}.name"),
                        format!(
                            "a DNS name like db.shop.example.com., got {}",
                            excerpt_str(&r.name)
                        ),
                    ));
                }
                if !["A", "AAAA", "CNAME", "TXT"].contains(&r.r#type.as_str()) {
                    return Err(Error::policy(
                        format!("{rat}.type"),
                        format!("A, AAAA, CNAME or TXT, got {}", excerpt_str(&r.r#type)),
                    ));
                }
                if !(0..=604_800).contains(&r.ttl) {
                    return Err(Error::policy(
                        format!("{rat}.ttl"),
                        format!("seconds from 0 to 604800, got {}", r.ttl),
                    ));
                }
                match (&r.value, &r.endpoint_from) {
                    (Some(v), None) if !v.is_empty() => {}
                    (None, Some(_)) if r.r#type == "CNAME" => {}
                    (None, Some(_)) => {
                        return Err(Error::policy(
                            format!("{rat}.type"),
                            "CNAME for a record that points at a step's endpoint",
                        ))
                    }
                    _ => return Err(Error::policy(rat, "exactly one of value or endpoint_from")),
                }
            }
            let froms: BTreeSet<_> = x
                .records
                .iter()
                .filter_map(|r| r.endpoint_from.as_deref())
                .collect();
            if froms.len() > 1 {
                return Err(Error::policy(
                    format!("{pat}.records"),
                    "records pointing at one step's endpoint (split the switch into one step per endpoint)",
                ));
            }
            Action::Route53Switch(x)
        }
        "switch-backup-target" => {
            let x: SwitchBackupTarget =
                typed(&pat, params("parameter, primary_bucket, secondary_bucket")?)?;
            check_parameter_name(&format!("{pat}.parameter"), &x.parameter)?;
            // The parameter Lifeboat's own writers honour (buckets.target_parameter) is this
            // one, switched between the policy's two backup buckets: anything else would move
            // the team's backup jobs and leave Lifeboat's behind, or the other way round.
            if let Some(target) = &buckets.target_parameter {
                if *target != x.parameter {
                    return Err(Error::policy(
                        format!("{pat}.parameter"),
                        format!("buckets.target_parameter ({target}), the parameter Lifeboat's writers read, got {}", excerpt_str(&x.parameter)),
                    ));
                }
                if x.primary_bucket != buckets.backup {
                    return Err(Error::policy(
                        format!("{pat}.primary_bucket"),
                        format!(
                            "buckets.backup ({}), got {}",
                            buckets.backup,
                            excerpt_str(&x.primary_bucket)
                        ),
                    ));
                }
                if buckets.dr_backup.as_deref() != Some(x.secondary_bucket.as_str()) {
                    return Err(Error::policy(
                        format!("{pat}.secondary_bucket"),
                        format!(
                            "buckets.dr_backup ({}), got {}",
                            buckets.dr_backup.as_deref().unwrap_or("unset"),
                            excerpt_str(&x.secondary_bucket)
                        ),
                    ));
                }
            }
            check_bucket(&format!("{pat}.primary_bucket"), &x.primary_bucket)?;
            check_bucket(&format!("{pat}.secondary_bucket"), &x.secondary_bucket)?;
            if x.primary_bucket == x.secondary_bucket {
                return Err(Error::policy(
                    format!("{pat}.secondary_bucket"),
                    "a bucket other than primary_bucket",
                ));
            }
            Action::SwitchBackupTarget(x)
        }
        "fence-old-primary" => {
            let x: FenceOldPrimary = typed(&pat, params("instance")?)?;
            check_identifier(&format!("{pat}.instance"), &x.instance)?;
            Action::FenceOldPrimary(x)
        }
        "approval" => {
            let x: Approval = match &s.params {
                serde_json::Value::Null => Approval::default(),
                v => typed(&pat, v)?,
            };
            Action::Approval(x)
        }
        "verify" => {
            let x: VerifyStep = typed(&pat, params("component, endpoint_from")?)?;
            known_component(&format!("{pat}.component"), &x.component, components)?;
            if let Some(secret) = &x.secret {
                nonempty(
                    &format!("{pat}.secret"),
                    secret,
                    "a secret name or ARN in the DR region",
                )?;
            }
            Action::Verify(x)
        }
        other => {
            return Err(Error::policy(
                format!("{at}.kind"),
                format!("one of {}, got {}", KINDS.join(", "), excerpt_str(other)),
            ))
        }
    })
}

fn no_params(at: &str, v: &serde_json::Value) -> Result<()> {
    match v {
        serde_json::Value::Null => Ok(()),
        serde_json::Value::Object(m) if m.is_empty() => Ok(()),
        _ => Err(Error::policy(
            at,
            "no parameters (the assessment reads the plan's alarms, health checks and steps)",
        )),
    }
}

fn nonempty(at: &str, v: &str, what: &str) -> Result<()> {
    if v.is_empty() || v.len() > 2048 {
        return Err(Error::policy(at, format!("{what}, got {}", excerpt_str(v))));
    }
    Ok(())
}

fn known_component(at: &str, name: &str, components: &BTreeSet<&str>) -> Result<()> {
    if components.contains(name) {
        return Ok(());
    }
    Err(Error::policy(
        at,
        format!(
            "the name of a policy component ({}), got {}",
            components.iter().copied().collect::<Vec<_>>().join(", "),
            excerpt_str(name)
        ),
    ))
}

fn typed<T: serde::de::DeserializeOwned>(at: &str, v: &serde_json::Value) -> Result<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let sub = field_path("", e.path());
        let field = format!(
            "{at}{}{}",
            if sub.starts_with('[') || sub.is_empty() {
                ""
            } else {
                "."
            },
            sub.trim_start_matches('.')
        );
        Error::policy(
            field,
            plain_serde(&e.inner().to_string(), "a mapping of parameters"),
        )
    })
}

/// The first cycle in `depends_on`, as step names from one step back to itself.
pub fn find_cycle(steps: &[Step]) -> Option<Vec<String>> {
    let deps: BTreeMap<&str, &[String]> = steps
        .iter()
        .map(|s| (s.name.as_str(), s.depends_on.as_slice()))
        .collect();
    // 0 unvisited, 1 on the path, 2 done.
    let mut mark: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        n: &'a str,
        deps: &BTreeMap<&'a str, &'a [String]>,
        mark: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match mark.get(n) {
            Some(2) => return None,
            Some(1) => {
                let from = path.iter().position(|p| *p == n).unwrap_or(0);
                let mut c: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
                c.push(n.to_string());
                return Some(c);
            }
            _ => {}
        }
        mark.insert(n, 1);
        path.push(n);
        for d in deps.get(n).copied().unwrap_or_default() {
            if let Some(c) = visit(d.as_str(), deps, mark, path) {
                return Some(c);
            }
        }
        path.pop();
        mark.insert(n, 2);
        None
    }
    for s in steps {
        let mut path = Vec::new();
        if let Some(c) = visit(&s.name, &deps, &mut mark, &mut path) {
            return Some(c);
        }
    }
    None
}

/// Every step `name` depends on, directly or not.
pub fn ancestors(steps: &[Step], name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![name.to_string()];
    while let Some(n) = todo.pop() {
        if let Some(s) = steps.iter().find(|s| s.name == n) {
            for d in &s.depends_on {
                if out.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Policy;

    const BASE: &str = "version: 1\nbuckets: {backup: shop-backups}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [orders-db]}\n";

    fn plan(steps: &str) -> String {
        format!(
            "{BASE}failover:\n  plans:\n    - name: region-failover\n      primary_region: us-east-1\n      dr_region: us-west-2\n      rto: 1h\n      rpo: 15m\n      steps:\n{steps}"
        )
    }

    fn err(text: &str) -> String {
        Policy::parse(text).unwrap_err().to_string()
    }

    const GOOD: &str = "        - {name: assess, kind: assess}\n        - {name: promote, kind: promote-rds-replica, rto: 5m, params: {replica: orders-db-replica, primary: orders-db}}\n        - {name: secret, kind: update-secret, rto: 1m, depends_on: [promote], params: {secret: orders-db-credentials, endpoint_from: promote}}\n";

    #[test]
    fn given_a_good_plan_when_parsed_then_steps_are_typed_and_hang_off_the_assessment() {
        let p = Policy::parse(&plan(GOOD)).unwrap();
        let plan = &p.failover.plans[0];
        assert_eq!(plan.steps.len(), 3);
        assert_eq!(plan.steps[1].depends_on, vec!["assess".to_string()]);
        assert_eq!(plan.steps[1].action.kind(), "promote-rds-replica");
        assert_eq!(plan.steps[0].rto.to_string(), "5m");
    }

    #[test]
    fn given_a_cycle_when_parsed_then_it_is_named() {
        let e = err(&plan("        - {name: assess, kind: assess}\n        - {name: a, kind: approval, depends_on: [b]}\n        - {name: b, kind: approval, depends_on: [a]}\n"));
        assert!(e.contains("failover.plans[0].steps"), "{e}");
        assert!(e.contains("a → b → a"), "{e}");
    }

    #[test]
    fn given_faults_when_parsed_then_each_names_its_field() {
        for (steps, field, words) in [
            ("        - {name: assess, kind: assess}\n        - {name: x, kind: teleport, rto: 1m}\n", "failover.plans[0].steps[1].kind", "one of assess"),
            ("        - {name: assess, kind: assess}\n        - {name: x, kind: approval, depends_on: [nowhere]}\n", "failover.plans[0].steps[1].depends_on[0]", "nowhere"),
            ("        - {name: assess, kind: assess}\n        - {name: p, kind: promote-rds-replica, rto: 5m}\n", "failover.plans[0].steps[1].params", "replica, primary"),
            ("        - {name: assess, kind: assess}\n        - {name: p, kind: promote-rds-replica, rto: 5m, params: {replica: r}}\n", "failover.plans[0].steps[1].params", "primary"),
            ("        - {name: assess, kind: assess}\n        - {name: p, kind: promote-rds-replica, params: {replica: r, primary: q}}\n", "failover.plans[0].steps[1].rto", "RTO"),
            ("        - {name: p, kind: approval}\n", "failover.plans[0].steps", "assess"),
            ("        - {name: assess, kind: assess}\n        - {name: s, kind: update-secret, rto: 1m, params: {secret: x, endpoint_from: assess}}\n", "failover.plans[0].steps[1].params.endpoint_from", "new endpoint"),
            ("        - {name: assess, kind: assess}\n        - {name: v, kind: verify, rto: 1m, params: {component: nope, endpoint_from: assess}}\n", "failover.plans[0].steps[1].params.component", "orders-db"),
        ] {
            let e = err(&plan(steps));
            assert!(e.contains(field), "{field}: {e}");
            assert!(e.contains(words), "{words}: {e}");
        }
        let e = err(&plan(GOOD).replace("us-west-2", "us-moon-1"));
        assert!(e.contains("failover.plans[0].dr_region"), "{e}");
    }

    #[test]
    fn given_a_target_parameter_when_the_switch_names_another_then_refused() {
        let text = plan("        - {name: assess, kind: assess}\n        - {name: t, kind: switch-backup-target, rto: 1m, params: {parameter: /other/target, primary_bucket: shop-backups, secondary_bucket: shop-backups-dr}}\n")
            .replace("buckets: {backup: shop-backups}", "buckets: {backup: shop-backups, dr_backup: shop-backups-dr, target_parameter: /lifeboat/backup-target}");
        let e = err(&text);
        assert!(
            e.contains("failover.plans[0].steps[1].params.parameter")
                && e.contains("buckets.target_parameter"),
            "{e}"
        );
        let e = err(&text
            .replace("/other/target", "/lifeboat/backup-target")
            .replace(
                "secondary_bucket: shop-backups-dr",
                "secondary_bucket: elsewhere",
            ));
        assert!(
            e.contains("params.secondary_bucket") && e.contains("buckets.dr_backup"),
            "{e}"
        );
        assert!(Policy::parse(&text.replace("/other/target", "/lifeboat/backup-target")).is_ok());
    }

    #[test]
    fn given_a_step_using_an_endpoint_when_it_does_not_depend_on_its_step_then_refused() {
        let e = err(&plan("        - {name: assess, kind: assess}\n        - {name: promote, kind: promote-rds-replica, rto: 5m, params: {replica: orders-db-replica, primary: orders-db}}\n        - {name: secret, kind: update-secret, rto: 1m, params: {secret: s, endpoint_from: promote}}\n"));
        assert!(e.contains("failover.plans[0].steps[2].depends_on"), "{e}");
    }
}
