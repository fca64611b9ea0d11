//! The `defaults` and `components` sections: names, selectors, settings and database access.

use std::collections::BTreeSet;

use chrono::Duration;

use super::fields::{check_arn, check_identifier};
use crate::error::{Error, Result};
use crate::policy::{Component, DatabaseAccess, Policy, ResourceKind, SettingsInput};
use crate::trigger::{excerpt_str, ONLY_MAX_LEN};

impl Policy {
    pub(super) fn validate_components(&self) -> Result<()> {
        let mut seen = BTreeSet::new();
        for (i, c) in self.components.iter().enumerate() {
            let at = format!("components[{i}]");
            validate_name(&at, &c.name)?;
            if !seen.insert(c.name.as_str()) {
                return Err(Error::policy(
                    format!("{at}.name"),
                    format!(
                        "a name used once, but {} appears again",
                        excerpt_str(&c.name)
                    ),
                ));
            }
            self.validate_component(&at, c)?;
        }
        Ok(())
    }

    /// One component at `at` (`components[i]`), once its name is known to be good.
    fn validate_component(&self, at: &str, c: &Component) -> Result<()> {
        if c.ids.is_empty() && c.tags.is_empty() {
            return Err(Error::policy(
                at.to_string(),
                "resources selected by `ids` or `tags` (neither is set)",
            ));
        }
        for (j, id) in c.ids.iter().enumerate() {
            check_identifier(&format!("{at}.ids[{j}]"), id)?;
        }
        self.check_settings(at, &c.settings(), Some(c.kind))?;
        if let Some(db) = &c.database {
            validate_database(at, db, c.kind)?;
        }
        if let Some(v) = &c.verify {
            self.check_verify(&format!("{at}.verify"), v, c)?;
        }
        Ok(())
    }

    /// Settings at `at` (`defaults` or `components[i]`): each on its own, then as resolved, that
    /// what they turn on has what it needs.
    pub(super) fn check_settings(
        &self,
        at: &str,
        s: &SettingsInput,
        kind: Option<ResourceKind>,
    ) -> Result<()> {
        if let Some(f) = s.frequency {
            if f.0 < Duration::hours(1) {
                return Err(Error::policy(
                    format!("{at}.frequency"),
                    format!("at least 1h (manual snapshots are not a minutes-RPO mechanism: point-in-time recovery is), got {f}"),
                ));
            }
        }
        if let Some(r) = s.retention {
            if r.hourly + r.daily + r.weekly + r.monthly == 0 {
                return Err(Error::policy(
                    format!("{at}.retention"),
                    "at least one of hourly, daily, weekly, monthly above 0",
                ));
            }
        }
        for (field, v) in [("rpo", s.rpo), ("rto", s.rto)] {
            if let Some(v) = v {
                if v.0 <= Duration::zero() {
                    return Err(Error::policy(format!("{at}.{field}"), "a duration above 0"));
                }
            }
        }
        if kind == Some(ResourceKind::Elasticache) {
            for (field, v) in [
                ("copy_to_dr", s.copy_to_dr),
                ("require_dr_copy", s.require_dr_copy),
            ] {
                if v == Some(true) {
                    return Err(Error::policy(
                        format!("{at}.{field}"),
                        "false or absent for elasticache: its snapshots are not copied to the DR region (its export to S3, export and require_export, is its DR path)",
                    ));
                }
            }
        }
        let resolved = self.resolve(s);
        if resolved.copy_to_dr && self.dr.is_none() && kind != Some(ResourceKind::Elasticache) {
            return Err(Error::policy(
                format!("{at}.copy_to_dr"),
                "a `dr` section with the DR region (copy_to_dr is on)",
            ));
        }
        if resolved.export && self.export.is_none() && kind != Some(ResourceKind::Elasticache) {
            return Err(Error::policy(
                format!("{at}.export"),
                "an `export` section with iam_role_arn and kms_key_id (export is on)",
            ));
        }
        if resolved.require_dr_copy && !resolved.copy_to_dr {
            return Err(Error::policy(
                format!("{at}.require_dr_copy"),
                "copy_to_dr on as well (a DR copy that is never made can never be proof)",
            ));
        }
        if resolved.require_export && !resolved.export {
            return Err(Error::policy(
                format!("{at}.require_export"),
                "export on as well (an export that is never made can never be proof)",
            ));
        }
        Ok(())
    }
}

/// A component or sweep name: what a manual command's `only` can name (`trigger::could_be_named`).
pub(crate) fn validate_name(at: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > ONLY_MAX_LEN
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::policy(
            format!("{at}.name"),
            format!(
                "1 to {ONLY_MAX_LEN} lower-case letters, digits and hyphens, got {}",
                excerpt_str(name)
            ),
        ));
    }
    Ok(())
}

fn validate_database(at: &str, db: &DatabaseAccess, kind: ResourceKind) -> Result<()> {
    check_arn(
        &format!("{at}.database.secret_arn"),
        &db.secret_arn,
        "secretsmanager",
    )?;
    match (&db.name, kind) {
        (None, ResourceKind::RdsInstance | ResourceKind::AuroraCluster) => Err(Error::policy(
            format!("{at}.database.name"),
            "the database (MySQL: schema) to fingerprint and check",
        )),
        (Some(n), _) if n.is_empty() || n.len() > 63 => Err(Error::policy(
            format!("{at}.database.name"),
            format!("a database name of 1-63 characters, got {}", excerpt_str(n)),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::tests::err;

    #[test]
    fn copy_needs_dr_region() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ndefaults: {copy_to_dr: true}\n");
        assert!(e.starts_with("invalid policy: defaults.copy_to_dr"), "{e}");
    }

    #[test]
    fn export_needs_role_and_key() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: db, kind: rds-instance, ids: [db], export: true}\n");
        assert!(e.starts_with("invalid policy: components[0].export"), "{e}");
    }

    #[test]
    fn proof_requirement_needs_the_mechanism() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ndefaults: {require_export: true}\n");
        assert!(
            e.starts_with("invalid policy: defaults.require_export"),
            "{e}"
        );
    }

    #[test]
    fn sub_hourly_frequency_is_refused() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ndefaults: {frequency: 5m}\n");
        assert!(
            e.starts_with("invalid policy: defaults.frequency: at least 1h"),
            "{e}"
        );
    }

    #[test]
    fn elasticache_refuses_a_dr_copy_it_can_never_have() {
        // Given a DR region, an ElastiCache component asking for DR copies (none is ever made:
        // its export to S3 is its DR path)
        for field in ["copy_to_dr", "require_dr_copy"] {
            let e = err(&format!("version: 1\nbuckets: {{backup: b-1}}\ndr: {{region: us-west-2}}\ncomponents:\n  - {{name: s, kind: elasticache, ids: [s], {field}: true}}\n"));
            // Then the field is refused by name
            assert!(
                e.starts_with(&format!(
                    "invalid policy: components[0].{field}: false or absent"
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn elasticache_never_requires_a_dr_copy_by_default() {
        // Given a DR region (copy_to_dr and require_dr_copy then default to on) and an
        // ElastiCache component that says nothing of them
        let p = crate::policy::Policy::parse("version: 1\nbuckets: {backup: b-1}\ndr: {region: us-west-2}\ndefaults: {copy_to_dr: true, require_dr_copy: true}\ncomponents:\n  - {name: s, kind: elasticache, ids: [s]}\n  - {name: d, kind: rds-instance, ids: [d]}\n").unwrap();
        // Then its resolved settings ask for no DR copy (retention then does not claim the
        // policy's proof rule while never making the copy), and an RDS component's still do
        let ec = p
            .membership(
                crate::policy::ResourceKind::Elasticache,
                "s",
                &Default::default(),
            )
            .unwrap();
        assert!(
            !ec.settings.copy_to_dr && !ec.settings.require_dr_copy,
            "{ec:?}"
        );
        assert!(!p.settings_by_name("s").require_dr_copy);
        let db = p
            .membership(
                crate::policy::ResourceKind::RdsInstance,
                "d",
                &Default::default(),
            )
            .unwrap();
        assert!(db.settings.copy_to_dr && db.settings.require_dr_copy);
    }

    #[test]
    fn duplicate_component_names() {
        let e = err("version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: a, kind: elasticache, ids: [x]}\n  - {name: a, kind: elasticache, ids: [y]}\n");
        assert!(e.starts_with("invalid policy: components[1].name"), "{e}");
    }

    #[test]
    fn component_without_selector() {
        let e = err(
            "version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: a, kind: elasticache}\n",
        );
        assert!(
            e.starts_with("invalid policy: components[0]: resources selected by"),
            "{e}"
        );
    }
}
