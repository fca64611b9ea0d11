//! The runbook as data: one declarative document every function reads.
//!
//! Loaded from a file path or an `s3://bucket/key` URI (`LIFEBOAT_POLICY`), in YAML or JSON, and
//! validated before anything else happens. Every error names the field, e.g.
//! `invalid policy: components[1].rpo: a duration like "5m", "1h", "30d" or "2w", got "5 minutes"`.
//!
//! Each concern has its own file: `types` (resource kinds, durations, retention), `components`,
//! `verify` (restore verification and integrity sweeps), `account` (DR, buckets, export, limits,
//! thresholds, prices, automation) and `validate` (what serde cannot check), all used as
//! `policy::Name`.

mod account;
mod components;
mod types;
mod validate;
mod verify;

pub use account::{Automation, Buckets, Dr, Export, Limits, Prices, Thresholds};
pub use components::{Component, DatabaseAccess, Settings, SettingsInput, Tag};
pub use types::{ResourceKind, Retention, Span};
pub use verify::{
    BackupSource, Freshness, Location, NamedCheck, RestoreTarget, Selection, Sweep, SweepCompare,
    Verification, Verify,
};

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub version: u32,
    /// Resources carrying this tag are backed up with `defaults` unless a component names them.
    #[serde(default = "default_opt_in")]
    pub opt_in_tag: Tag,
    #[serde(default)]
    pub dr: Option<Dr>,
    pub buckets: Buckets,
    #[serde(default)]
    pub export: Option<Export>,
    #[serde(default)]
    pub defaults: SettingsInput,
    #[serde(default)]
    pub components: Vec<Component>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub prices: Prices,
    #[serde(default)]
    pub automation: Automation,
    #[serde(default)]
    pub verification: Verification,
}

fn default_opt_in() -> Tag {
    Tag {
        key: "lifeboat:backup".into(),
        value: "true".into(),
    }
}

/// Which component a resource belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership<'a> {
    /// The component's name; for a resource opted in by tag alone, its own id.
    pub component: String,
    pub settings: Settings,
    pub named: Option<&'a Component>,
}

impl Policy {
    /// Parses and validates a policy document (YAML or JSON).
    pub fn parse(text: &str) -> Result<Policy> {
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let policy: Policy = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let mut msg = e.inner().to_string();
            // serde_yaml_ng may start its message with the path too; say it once. Its
            // " at line L column C" stays: it helps the reader.
            if let Some((head, rest)) = msg.split_once(": ") {
                if !head.is_empty() && path.starts_with(head) {
                    msg = rest.to_string();
                }
            }
            Error::policy(if path == "." { "policy".into() } else { path }, msg)
        })?;
        policy.validate()?;
        Ok(policy)
    }

    /// Settings with `defaults` and then built-in defaults filled in.
    pub fn resolve(&self, s: &SettingsInput) -> Settings {
        let d = &self.defaults;
        let copy_to_dr = s.copy_to_dr.or(d.copy_to_dr).unwrap_or(self.dr.is_some());
        let export = s.export.or(d.export).unwrap_or(false);
        Settings {
            rpo: s.rpo.or(d.rpo).unwrap_or(Span::hours(24)),
            rto: s.rto.or(d.rto).unwrap_or(Span::hours(1)),
            frequency: s.frequency.or(d.frequency).unwrap_or(Span::days(1)),
            retention: s.retention.or(d.retention).unwrap_or_default(),
            copy_to_dr,
            export,
            require_dr_copy: s
                .require_dr_copy
                .or(d.require_dr_copy)
                .unwrap_or(copy_to_dr),
            require_export: s.require_export.or(d.require_export).unwrap_or(export),
        }
    }

    /// The component a resource belongs to: the first component naming it (by id or by all its
    /// tags), else the opt-in tag with `defaults`, else none.
    pub fn membership<'a>(
        &'a self,
        kind: ResourceKind,
        id: &str,
        tags: &BTreeMap<String, String>,
    ) -> Option<Membership<'a>> {
        for c in &self.components {
            if c.kind != kind {
                continue;
            }
            let by_id = c.ids.iter().any(|i| i == id);
            let by_tags = !c.tags.is_empty() && c.tags.iter().all(|(k, v)| tags.get(k) == Some(v));
            if by_id || by_tags {
                return Some(Membership {
                    component: c.name.clone(),
                    settings: self.resolve(&c.settings()),
                    named: Some(c),
                });
            }
        }
        if tags.get(&self.opt_in_tag.key) == Some(&self.opt_in_tag.value) {
            return Some(Membership {
                component: id.to_string(),
                settings: self.resolve(&SettingsInput::default()),
                named: None,
            });
        }
        None
    }

    /// Settings for a component by name (for backups whose source is gone or was re-tagged),
    /// falling back to `defaults`.
    pub fn settings_by_name(&self, component: &str) -> Settings {
        self.components
            .iter()
            .find(|c| c.name == component)
            .map(|c| self.resolve(&c.settings()))
            .unwrap_or_else(|| self.resolve(&SettingsInput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "version: 1\nbuckets: {backup: lifeboat-backups}\n";

    /// The error a policy document is rejected with (for the tests of every section).
    pub(super) fn err(text: &str) -> String {
        Policy::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_policy_gets_safe_defaults() {
        let p = Policy::parse(MINIMAL).unwrap();
        let s = p.resolve(&SettingsInput::default());
        assert_eq!(s.frequency, Span::days(1));
        assert!(!s.copy_to_dr, "no DR region: no copies");
        assert!(p.automation.delete_expired_snapshots);
        assert!(
            !p.automation.auto_failover,
            "auto-failover is off unless armed"
        );
        assert_eq!(p.opt_in_tag.key, "lifeboat:backup");
    }

    #[test]
    fn the_example_policy_in_infra_is_valid() {
        let p = Policy::parse(include_str!("../../../infra/policy.example.yaml")).unwrap();
        assert!(p.components.len() >= 3);
    }

    #[test]
    fn durations_are_named_by_field() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: db, kind: rds-instance, ids: [db], rpo: 5 minutes}\n");
        assert!(
            e.starts_with("invalid policy: components[0].rpo: a duration like"),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = err("version: 1\nbuckets: {backup: b-1}\nretension: {daily: 3}\n");
        assert!(e.contains("unknown field `retension`"), "{e}");
    }

    #[test]
    fn missing_bucket_is_named() {
        let e = err("version: 1\n");
        assert!(e.contains("missing field `buckets`"), "{e}");
    }

    #[test]
    fn membership_by_id_then_tags_then_opt_in() {
        let p = Policy::parse("version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: orders, kind: rds-instance, ids: [orders-db], frequency: 12h}\n  - {name: tagged, kind: rds-instance, tags: {app: shop}}\n").unwrap();
        let none = BTreeMap::new();
        let m = p
            .membership(ResourceKind::RdsInstance, "orders-db", &none)
            .unwrap();
        assert_eq!(
            (m.component.as_str(), m.settings.frequency),
            ("orders", Span::hours(12))
        );
        let shop = BTreeMap::from([("app".to_string(), "shop".to_string())]);
        assert_eq!(
            p.membership(ResourceKind::RdsInstance, "x", &shop)
                .unwrap()
                .component,
            "tagged"
        );
        assert!(
            p.membership(ResourceKind::AuroraCluster, "orders-db", &none)
                .is_none(),
            "kind must match"
        );
        let opted = BTreeMap::from([("lifeboat:backup".to_string(), "true".to_string())]);
        assert_eq!(
            p.membership(ResourceKind::Elasticache, "cache", &opted)
                .unwrap()
                .component,
            "cache"
        );
        assert!(p
            .membership(ResourceKind::Elasticache, "cache", &none)
            .is_none());
    }
}
