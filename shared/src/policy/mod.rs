//! The runbook as data: one declarative document every function reads.
//!
//! Loaded from a file path or an `s3://bucket/key` URI (`LIFEBOAT_POLICY`), in YAML or JSON, and
//! validated before anything else happens. Every error names the field, e.g.
//! `invalid policy: components[1].rpo: a duration like "5m", "1h", "30d" or "2w", got "5 minutes"`.
//!
//! Each concern has its own file: `types` (resource kinds, durations, retention), `regions` (AWS
//! region names by partition), `components`,
//! `verify` (restore verification and integrity sweeps), `monitoring` (replication pairs,
//! artifact sets, metric rules), `account` (DR, buckets, export, limits,
//! thresholds, prices, automation) and `validate` (what serde cannot check), all used as
//! `policy::Name`.

mod account;
mod components;
pub mod cost;
pub mod failover;
mod monitoring;
mod regions;
mod types;
mod validate;
mod verify;

pub use account::{Automation, Buckets, Dr, Export, Limits, Thresholds};
pub use components::{Component, DatabaseAccess, Settings, SettingsInput, Tag};
pub use cost::{Cost, Prices};
pub use monitoring::{
    ArtifactSet, Canary, Levels, MetricRule, Monitoring, ReplicationPair, RuleSeverity, Statistic,
    CANARY_FOLDER,
};
pub use regions::{partition_of, PARTITIONS, REGION_EXPECTED};
pub use types::{ResourceKind, Retention, Span};
pub(crate) use validate::is_bucket_name;
pub use verify::{
    BackupSource, Freshness, Location, NamedCheck, RestoreTarget, Selection, Sweep, SweepCompare,
    Verification, Verify,
};

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::trigger::{field_path, plain_serde};

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
    /// What replication-lag-check watches beyond the components' RPOs.
    #[serde(default)]
    pub monitoring: Monitoring,
    /// The DR runbook as plans of steps (failover-orchestrator).
    #[serde(default)]
    pub failover: failover::Failover,
    /// What backups cost, anomalies and savings (cost-anomaly).
    #[serde(default)]
    pub cost: Cost,
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
    ///
    /// A document that does not parse at all is `policy: the policy is not valid YAML/JSON:
    /// <reason> at line L column C`; one that parses but holds the wrong shape names the field
    /// path (`components[0].rpo: ...`). Either quotes at most a short excerpt of the text.
    pub fn parse(text: &str) -> Result<Policy> {
        // The document itself first: a syntax error is no field's fault, and serde would name
        // whatever it was reading when the text stopped making sense (`?`).
        match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
            Err(e) => {
                let mut reason = plain_serde(&e.to_string(), "a mapping of fields");
                if let (Some(at), false) = (e.location(), reason.contains(" at line ")) {
                    reason.push_str(&format!(" at line {} column {}", at.line(), at.column()));
                }
                return Err(Error::policy(
                    "policy",
                    format!("the policy is not valid YAML/JSON: {reason}"),
                ));
            }
            Ok(serde_yaml_ng::Value::Null) => return Err(Error::policy(
                "policy",
                "a YAML or JSON document with at least version and buckets, got an empty document",
            )),
            Ok(_) => {}
        }
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
            let field = field_path("", e.path());
            let field = field.trim_start_matches('.');
            Error::policy(
                if field.is_empty() { "policy" } else { field },
                plain_serde(&msg, "a mapping of fields"),
            )
        })?;
        policy.validate()?;
        let mut policy = policy;
        let names = policy.components.iter().map(|c| c.name.as_str()).collect();
        policy.failover.plans =
            failover::resolve(&policy.failover.written, &names, &policy.buckets)?;
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
                    settings: self.resolve(&c.settings()).for_kind(kind),
                    named: Some(c),
                });
            }
        }
        if tags.get(&self.opt_in_tag.key) == Some(&self.opt_in_tag.value) {
            return Some(Membership {
                component: id.to_string(),
                settings: self.resolve(&SettingsInput::default()).for_kind(kind),
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
            .map(|c| self.resolve(&c.settings()).for_kind(c.kind))
            .unwrap_or_else(|| self.resolve(&SettingsInput::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "version: 1\nbuckets: {backup: lifeboat-backups}\n";

    /// The error a policy document is rejected with (for the tests of every section).
    pub(crate) fn err(text: &str) -> String {
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
    fn a_document_that_does_not_parse_says_so_with_line_and_column() {
        // Given documents that are not YAML or JSON at all
        for text in [
            "{{{",
            "version: 1\nbuckets: [a",
            "\tversion: 1\n",
            "{\"version\": 1,\n \"buckets\": {\"backup\": \"b-1\"}",
        ] {
            // When parsed
            let e = err(text);
            // Then the error says the document does not parse, and where
            assert!(
                e.starts_with("invalid policy: policy: the policy is not valid YAML/JSON: "),
                "{text:?}: {e}"
            );
            assert!(e.contains("line "), "{text:?}: {e}");
            assert!(
                !e.contains("?:") && !e.contains("invalid type"),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn a_value_of_the_wrong_shape_names_its_field_path_in_plain_words() {
        // Given documents that parse but hold the wrong shape somewhere
        for (text, expected) in [
            ("{a: 1}: b\nversion: 1\n", "invalid policy: policy: "),
            (
                "version: 1\nbuckets: {backup: b-1}\ndr: {[x]: y}\n",
                "invalid policy: dr: ",
            ),
            ("version: 1\nbuckets: [a]\n", "invalid policy: buckets: "),
            (
                "version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - a\n",
                "invalid policy: components[0]: ",
            ),
            ("- a\n- b\n", "invalid policy: policy: "),
            ("version: x\n", "invalid policy: version: "),
            (
                "version: 1\nbuckets: {backup: b-1}\nlimits: {max_copies_in_flight: -1}\n",
                "invalid policy: limits.max_copies_in_flight: ",
            ),
            (
                "version: 1\nbuckets: {backup: b-1}\nthresholds: {mismatch_rate_percent: x}\n",
                "invalid policy: thresholds.mismatch_rate_percent: ",
            ),
            ("", "invalid policy: policy: "),
        ] {
            // When parsed
            let e = err(text);
            // Then the error names the field path, never `?`, and no Rust type
            assert!(e.starts_with(expected), "{text:?}: {e}");
            for internal in [
                "?",
                "struct",
                "u32",
                "f64",
                "i64",
                "field identifier",
                "unit value",
            ] {
                assert!(!e.contains(internal), "{text:?}: {internal}: {e}");
            }
        }
        // And where the line is known it is still said
        let e = err("version: 1\nbuckets: {backup: b-1}\nlimits: {max_copies_in_flight: -1}\n");
        assert!(e.ends_with("at line 3 column 32"), "{e}");
    }

    #[test]
    fn errors_quote_at_most_a_short_excerpt_of_the_policy() {
        // Given policies carrying half a megabyte where a short value belongs
        let huge = "x".repeat(500_000);
        for text in [
            format!("version: 1\nbuckets: {{backup: {huge}}}\n"),
            format!("version: 1\nbuckets: {{backup: b-1}}\ndr: {{region: {huge}}}\n"),
            format!("version: 1\nbuckets: {{backup: b-1}}\n{huge}: 1\n"),
            format!("version: 1\nbuckets: {{backup: b-1}}\ndefaults: {{rpo: '{huge}'}}\n"),
            format!("version: 1\nbuckets: {{backup: b-1}}\ncomponents:\n  - {{name: a, kind: '{huge}'}}\n"),
            format!("version: 1\nbuckets: {{backup: b-1}}\ncomponents:\n  - {{name: '{huge}', kind: elasticache, ids: [a]}}\n"),
            format!("version: 1\nbuckets: {{backup: b-1}}\ncomponents:\n  - {{name: a, kind: elasticache, ids: ['{huge}']}}\n"),
            format!("version: 1\nbuckets: {{backup: b-1}}\ncomponents:\n  - {{name: a, kind: elasticache, ids: [a], tags: {{'{huge}': [1]}}}}\n"),
            format!("version: 1\nbuckets: {{backup: b-1}}\nversion: '{huge}'\n"),
            format!("version: 1\nbuckets: {{backup: b-1}}\nexport: {{iam_role_arn: '{huge}', kms_key_id: alias/x}}\n"),
            format!("version: 1\nbuckets: {{backup: '{huge}\n"),
        ] {
            // When parsed
            let e = err(&text);
            // Then the error is short
            assert!(e.len() < 400, "{} bytes: {}", e.len(), crate::trigger::bounded(&e, 300));
        }
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
