//! Savings: recommendations only (this function changes nothing), each with its USD a month,
//! the evidence read from the account and the exact change — a lifecycle rule with the command
//! that applies it, a policy line, or the aws CLI commands.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lifeboat_shared::policy::cost::Class;
use lifeboat_shared::policy::{Policy, ResourceKind};
use serde::Serialize;

use super::{usd, Item};
use crate::objects::{Breakdown, Tally, GB};

/// A snapshot as the savings see it.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotFact {
    pub kind: ResourceKind,
    /// Automated / Lifeboat / unmanaged / DR copy / cluster / cache.
    pub item: Item,
    pub id: String,
    pub region: String,
    pub component: String,
    pub source_id: String,
    /// The instance, cluster or replication group still exists.
    pub source_exists: bool,
    pub gb: f64,
    pub created: Option<DateTime<Utc>>,
}

/// What a bucket's lifecycle configuration does, as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    pub rules: usize,
    /// The smallest `Days` of an enabled transition out of STANDARD, and the rule's id.
    pub transition: Option<(u32, String, String)>,
    pub noncurrent_expiry: bool,
    pub abort_uploads: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BucketFact {
    pub name: String,
    pub region: String,
    pub versioned: bool,
    /// `Err`: could not be read (the recommendations that need it are not made, and say so).
    pub lifecycle: Result<Lifecycle, String>,
    /// From an inventory report or a listing; `None`: neither (a large bucket without a report,
    /// or see `breakdown_error`).
    pub breakdown: Option<Breakdown>,
    /// Why the named inventory report or the listing could not be read.
    pub breakdown_error: Option<String>,
    /// Incomplete multipart uploads: count, bytes of the sized ones, not_sized.
    pub uploads: Option<(usize, u64, usize)>,
    /// Group → component.
    pub groups: BTreeMap<String, String>,
}

/// Everything the savings read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub snapshots: Vec<SnapshotFact>,
    pub buckets: Vec<BucketFact>,
    /// Region → the share of RDS snapshot bytes billed (beyond the free allocation).
    pub rds_billed_share: BTreeMap<String, f64>,
    /// Days of the month evaluated (a month's saving is the monthly price).
    pub now: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Saving {
    pub kind: &'static str,
    pub title: String,
    pub monthly_usd: f64,
    pub evidence: String,
    pub change: String,
    /// Another recommendation this one is an alternative to (take one of them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternative_to: Option<String>,
}

/// Commands listed per recommendation; the rest are counted.
const COMMANDS: usize = 10;

pub fn savings(policy: &Policy, facts: &Facts) -> (Vec<Saving>, Vec<String>) {
    let prices = &policy.prices;
    let cfg = &policy.cost.savings;
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for b in &facts.buckets {
        let std = prices.of(Class::Standard, &b.region);
        let lc = match &b.lifecycle {
            Ok(l) => l,
            Err(e) => {
                notes.push(format!(
                    "s3://{}: lifecycle not read ({e}): no lifecycle recommendation",
                    b.name
                ));
                continue;
            }
        };
        let Some(bd) = &b.breakdown else {
            if let Some(err) = &b.breakdown_error {
                notes.push(format!(
                    "s3://{}: its objects could not be read ({err}): no lifecycle recommendation",
                    b.name
                ));
                if let Some(s) = uploads(b, lc, std) {
                    out.push(s);
                }
                continue;
            }
            notes.push(format!(
                "s3://{}: too many objects to list and no inventory report named (cost.inventories): ages and versions unknown, no lifecycle recommendation",
                b.name
            ));
            if let Some(s) = uploads(b, lc, std) {
                out.push(s);
            }
            continue;
        };
        // 1. STANDARD past N days.
        let mut aged = Tally::default();
        let mut eligible = Tally::default();
        let mut by_component: BTreeMap<&str, f64> = BTreeMap::new();
        for (group, a) in &bd.aged_standard {
            aged.merge(a.all);
            eligible.merge(a.it_eligible);
            let c = b.groups.get(group).map(String::as_str).unwrap_or(group);
            *by_component.entry(c).or_default() += a.all.gb();
        }
        let target = cfg.target();
        let tp = prices.of(target, &b.region);
        let after = cfg.standard_after_days;
        // IA and Glacier IR bill objects under 128 KiB as 128 KiB: only larger ones gain.
        // Glacier and Deep Archive add 40 KiB per object (32 at their price, 8 at STANDARD's).
        let lifecycle_monthly = match target {
            Class::StandardIa | Class::OnezoneIa | Class::GlacierIr => eligible.gb() * (std - tp),
            Class::Glacier | Class::DeepArchive => {
                aged.gb() * (std - tp)
                    - aged.objects as f64 * (32.0 * 1024.0 * tp + 8.0 * 1024.0 * std) / GB
            }
            _ => aged.gb() * (std - tp),
        };
        let lifecycle_title = format!(
            "s3://{}: move backup objects older than {after} days from STANDARD to {target}",
            b.name
        );
        if lifecycle_monthly >= cfg.min_monthly_usd {
            let mut comps: Vec<(&str, f64)> = by_component.into_iter().collect();
            comps.sort_by(|a, b| b.1.total_cmp(&a.1));
            let shown: Vec<String> = comps
                .iter()
                .take(4)
                .map(|(c, gb)| format!("{c} {gb:.1} GB"))
                .collect();
            let stopped = lc.transition.as_ref().map(|(days, id, class)| {
                format!(
                    "; the bucket's rule {id:?} moves objects to {class} after {days} days, yet these are still in STANDARD: its filter does not match them or it is disabled"
                )
            });
            out.push(Saving {
                kind: "lifecycle",
                title: lifecycle_title.clone(),
                monthly_usd: lifecycle_monthly,
                evidence: format!(
                    "{:.1} GB in {} objects in STANDARD older than {after} days ({}) at {}/GB-month against {} in {target}{}",
                    aged.gb(),
                    aged.objects,
                    shown.join(", "),
                    usd(std),
                    usd(tp),
                    stopped.unwrap_or_default()
                ),
                change: lifecycle_change(
                    &b.name,
                    lc,
                    &format!(
                        r#"{{"ID":"lifeboat-backups-to-{}","Status":"Enabled","Filter":{{"Prefix":"backups/"}},"Transitions":[{{"Days":{after},"StorageClass":"{target}"}}]}}"#,
                        target.name().to_ascii_lowercase().replace('_', "-")
                    ),
                ),
                alternative_to: None,
            });
        }
        // 2. Intelligent-Tiering for the same objects: IA tier after 30 days, less its fee.
        let ia = prices.of(Class::ItInfrequent, &b.region);
        let fee = eligible.objects as f64 * prices.it_monitoring_per_1000() / 1000.0;
        let it_monthly = eligible.gb() * (std - ia) - fee;
        if it_monthly >= cfg.min_monthly_usd {
            out.push(Saving {
                kind: "intelligent-tiering",
                title: format!(
                    "s3://{}: Intelligent-Tiering for backup objects older than {after} days",
                    b.name
                ),
                monthly_usd: it_monthly,
                evidence: format!(
                    "{:.1} GB in {} objects of 128 KiB or more in STANDARD older than {after} days: {}/GB-month less in the infrequent tier, less the monitoring fee {} ({} per 1,000 objects)",
                    eligible.gb(),
                    eligible.objects,
                    usd(std - ia),
                    usd(fee),
                    usd(prices.it_monitoring_per_1000())
                ),
                change: lifecycle_change(
                    &b.name,
                    lc,
                    &format!(
                        r#"{{"ID":"lifeboat-backups-to-intelligent-tiering","Status":"Enabled","Filter":{{"Prefix":"backups/"}},"Transitions":[{{"Days":{after},"StorageClass":"INTELLIGENT_TIERING"}}]}}"#
                    ),
                ),
                alternative_to: (lifecycle_monthly >= cfg.min_monthly_usd)
                    .then(|| lifecycle_title.clone()),
            });
        } else if eligible.objects > 0 {
            notes.push(format!(
                "s3://{}: Intelligent-Tiering would not pay: {} less its monitoring fee {} a month",
                b.name,
                usd(eligible.gb() * (std - ia)),
                usd(fee)
            ));
        }
        // 3. Noncurrent versions without expiry.
        if b.versioned && !lc.noncurrent_expiry {
            let mut monthly = 0.0;
            let mut t = Tally::default();
            for classes in bd.noncurrent.values() {
                for (class, tally) in classes {
                    let c = Class::of_s3(class).unwrap_or(Class::Standard);
                    monthly += tally.gb() * prices.of(c, &b.region);
                    t.merge(*tally);
                }
            }
            if monthly >= cfg.min_monthly_usd {
                out.push(Saving {
                    kind: "noncurrent-versions",
                    title: format!("s3://{}: expire noncurrent versions after 30 days", b.name),
                    monthly_usd: monthly,
                    evidence: format!(
                        "versioning is on and no rule expires noncurrent versions: {} noncurrent versions hold {:.1} GB",
                        t.objects,
                        t.gb()
                    ),
                    change: lifecycle_change(
                        &b.name,
                        lc,
                        r#"{"ID":"lifeboat-expire-noncurrent","Status":"Enabled","Filter":{},"NoncurrentVersionExpiration":{"NoncurrentDays":30}}"#,
                    ),
                    alternative_to: None,
                });
            }
        }
        if let Some(s) = uploads(b, lc, std) {
            if s.monthly_usd >= cfg.min_monthly_usd {
                out.push(s);
            }
        }
    }
    snapshots(policy, facts, &mut out);
    out.retain(|s| s.monthly_usd >= cfg.min_monthly_usd);
    out.sort_by(|a, b| {
        b.monthly_usd
            .total_cmp(&a.monthly_usd)
            .then(a.title.cmp(&b.title))
    });
    (out, notes)
}

fn lifecycle_change(bucket: &str, lc: &Lifecycle, rule: &str) -> String {
    let keep = if lc.rules > 0 {
        format!(
            " — put-bucket-lifecycle-configuration replaces the whole configuration: include the bucket's {} existing rule(s) (aws s3api get-bucket-lifecycle-configuration --bucket {bucket}) in Rules beside this one",
            lc.rules
        )
    } else {
        String::new()
    };
    format!(
        "aws s3api put-bucket-lifecycle-configuration --bucket {bucket} --lifecycle-configuration '{{\"Rules\":[{rule}]}}'{keep}"
    )
}

fn uploads(b: &BucketFact, lc: &Lifecycle, std: f64) -> Option<Saving> {
    let (count, bytes, not_sized) = b.uploads?;
    if count == 0 || lc.abort_uploads {
        return None;
    }
    let gb = bytes as f64 / GB;
    Some(Saving {
        kind: "incomplete-uploads",
        title: format!(
            "s3://{}: abort incomplete multipart uploads after 7 days",
            b.name
        ),
        monthly_usd: gb * std,
        evidence: format!(
            "{count} multipart uploads never completed nor aborted hold {gb:.2} GB of parts{} billed as STANDARD; no rule aborts them",
            if not_sized > 0 {
                format!(" (and {not_sized} more not sized)")
            } else {
                String::new()
            }
        ),
        change: lifecycle_change(
            &b.name,
            lc,
            r#"{"ID":"lifeboat-abort-incomplete-uploads","Status":"Enabled","Filter":{},"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":7}}"#,
        ),
        alternative_to: None,
    })
}

fn delete_command(s: &SnapshotFact) -> String {
    match s.kind {
        ResourceKind::RdsInstance => format!(
            "aws rds delete-db-snapshot --region {} --db-snapshot-identifier {}",
            s.region, s.id
        ),
        ResourceKind::AuroraCluster => format!(
            "aws rds delete-db-cluster-snapshot --region {} --db-cluster-snapshot-identifier {}",
            s.region, s.id
        ),
        ResourceKind::Elasticache => format!(
            "aws elasticache delete-snapshot --region {} --snapshot-name {}",
            s.region, s.id
        ),
    }
}

fn class_of(s: &SnapshotFact) -> Class {
    match s.kind {
        ResourceKind::RdsInstance => Class::RdsSnapshot,
        ResourceKind::AuroraCluster => Class::AuroraBackup,
        ResourceKind::Elasticache => Class::ElasticacheSnapshot,
    }
}

/// USD a month a snapshot's deletion saves: its size at its class's price, times the share of
/// RDS snapshot bytes billed in its region (RDS's free allocation).
fn monthly_of(policy: &Policy, facts: &Facts, s: &SnapshotFact) -> f64 {
    let share = if s.kind == ResourceKind::RdsInstance {
        facts
            .rds_billed_share
            .get(&s.region)
            .copied()
            .unwrap_or(1.0)
    } else {
        1.0
    };
    s.gb * share * policy.prices.of(class_of(s), &s.region)
}

fn listed(
    policy: &Policy,
    facts: &Facts,
    kind: &'static str,
    title: String,
    why: String,
    snaps: &[&SnapshotFact],
    out: &mut Vec<Saving>,
) {
    if snaps.is_empty() {
        return;
    }
    let monthly: f64 = snaps.iter().map(|s| monthly_of(policy, facts, s)).sum();
    let gb: f64 = snaps.iter().map(|s| s.gb).sum();
    let mut cmds: Vec<String> = snaps
        .iter()
        .take(COMMANDS)
        .map(|s| delete_command(s))
        .collect();
    if snaps.len() > COMMANDS {
        cmds.push(format!(
            "# … and {} more like these",
            snaps.len() - COMMANDS
        ));
    }
    let oldest = snaps.iter().filter_map(|s| s.created).min();
    out.push(Saving {
        kind,
        title,
        monthly_usd: monthly,
        evidence: format!(
            "{} snapshot(s), {gb:.0} GB{}{}: {why}",
            snaps.len(),
            if snaps.iter().any(|s| s.kind == ResourceKind::RdsInstance) {
                " allocated (an estimate: RDS snapshots are incremental)"
            } else {
                ""
            },
            oldest
                .map(|t| format!(", the oldest from {}", t.date_naive()))
                .unwrap_or_default()
        ),
        change: cmds.join("\n"),
        alternative_to: None,
    });
}

fn snapshots(policy: &Policy, facts: &Facts, out: &mut Vec<Saving>) {
    // Orphans: manual snapshots whose source is gone (not Lifeboat's: its retention keeps the
    // last backups of a removed database on purpose).
    let mut by: BTreeMap<(&str, &str), Vec<&SnapshotFact>> = BTreeMap::new();
    for s in &facts.snapshots {
        if !s.source_exists
            && matches!(
                s.item,
                Item::UnmanagedSnapshots | Item::ClusterSnapshots | Item::CacheSnapshots
            )
        {
            by.entry(("orphaned", &s.source_id)).or_default().push(s);
        } else if s.item == Item::UnmanagedSnapshots {
            by.entry(("unmanaged", &s.component)).or_default().push(s);
        }
    }
    for ((kind, of), mut snaps) in by {
        snaps.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        if kind == "orphaned" {
            listed(
                policy,
                facts,
                "orphaned-snapshots",
                format!("delete snapshots of {of}, which no longer exists"),
                format!(
                    "their source {of} is gone; keep one only if it is a deliberate final backup"
                ),
                &snaps,
                out,
            );
        } else {
            listed(
                policy,
                facts,
                "unmanaged-snapshots",
                format!("{of}: manual snapshots no retention governs"),
                "manual snapshots not made by Lifeboat: no retention will ever delete them; delete them, or name them in a component so a retention governs them".to_string(),
                &snaps,
                out,
            );
        }
    }
    // Retention: Lifeboat's snapshots (and DR copies) beyond what the component's retention
    // keeps: snapshot-export deletes them once it has proof of a safe copy; still here means
    // deletion is off or unproven.
    let mut kept: BTreeMap<(&str, &str, Item), Vec<&SnapshotFact>> = BTreeMap::new();
    for s in &facts.snapshots {
        if matches!(s.item, Item::LifeboatSnapshots | Item::DrCopies) {
            kept.entry((&s.component, &s.source_id, s.item))
                .or_default()
                .push(s);
        }
    }
    let Some(now) = facts.now else {
        return;
    };
    for ((component, source, item), snaps) in kept {
        let r = policy.settings_by_name(component).retention;
        let times: Vec<(String, DateTime<Utc>)> = snaps
            .iter()
            .filter_map(|s| s.created.map(|t| (s.id.clone(), t)))
            .collect();
        let keep = lifeboat_shared::backup::gfs_keep(&times, r, now);
        let mut extra: Vec<&SnapshotFact> = snaps
            .iter()
            .copied()
            .filter(|s| s.created.is_some() && !keep.contains_key(&s.id))
            .collect();
        if extra.is_empty() {
            continue;
        }
        extra.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        let keeps = keep.len();
        let what = if item == Item::DrCopies {
            "DR copies"
        } else {
            "snapshots"
        };
        let why = if policy.automation.delete_expired_snapshots {
            format!("the retention ({} hourly, {} daily, {} weekly, {} monthly: the newest in each of the last N hours, days, ISO weeks, months) keeps {keeps} of these {}: snapshot-export deletes the rest once it proves a safe copy — its report says what blocks it", r.hourly, r.daily, r.weekly, r.monthly, snaps.len())
        } else {
            format!("the retention keeps {keeps} of these {}; the rest are held because automation.delete_expired_snapshots is false (policy line: automation: {{delete_expired_snapshots: true}})", snaps.len())
        };
        listed(
            policy,
            facts,
            if item == Item::DrCopies {
                "dr-copies"
            } else {
                "retention"
            },
            format!("{component}: {what} of {source} beyond the retention"),
            why,
            &extra,
            out,
        );
    }
}

#[cfg(test)]
mod tests;
