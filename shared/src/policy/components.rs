//! Components: the resources backed up together, and the settings they share or override.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ResourceKind, Retention, Span, Verify};

/// Settings a component may set; anything unset comes from `defaults`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    pub rpo: Option<Span>,
    pub rto: Option<Span>,
    /// How often a manual snapshot is taken: one per period of this length.
    pub frequency: Option<Span>,
    pub retention: Option<Retention>,
    pub copy_to_dr: Option<bool>,
    pub export: Option<bool>,
    /// Deletion needs an available DR copy (default: whenever `copy_to_dr`). A DR copy serves
    /// recovery inside retention: a snapshot first seen outside retention without one is not
    /// copied to earn this proof; it goes once the other proofs required (its export) hold.
    pub require_dr_copy: Option<bool>,
    /// Deletion needs a completed export (default: whenever `export`).
    pub require_export: Option<bool>,
}

/// Fully resolved settings of one component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub rpo: Span,
    pub rto: Span,
    pub frequency: Span,
    pub retention: Retention,
    pub copy_to_dr: bool,
    pub export: bool,
    pub require_dr_copy: bool,
    pub require_export: bool,
}

impl Settings {
    /// The settings as the kind allows them: ElastiCache snapshots are never copied to the DR
    /// region (AWS has no cross-region copy of them; their export to S3 is their DR path), so
    /// neither `copy_to_dr` nor `require_dr_copy` holds for them, whatever `defaults` say —
    /// retention must not claim the policy's proof rule for a copy that is never made.
    pub fn for_kind(mut self, kind: ResourceKind) -> Settings {
        if kind == ResourceKind::Elasticache {
            self.copy_to_dr = false;
            self.require_dr_copy = false;
        }
        self
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub name: String,
    pub kind: ResourceKind,
    /// Resource identifiers (DB instance id, cluster id, replication group id).
    #[serde(default)]
    pub ids: Vec<String>,
    /// Every tag here must be on the resource.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub rpo: Option<Span>,
    pub rto: Option<Span>,
    pub frequency: Option<Span>,
    pub retention: Option<Retention>,
    pub copy_to_dr: Option<bool>,
    pub export: Option<bool>,
    pub require_dr_copy: Option<bool>,
    pub require_export: Option<bool>,
    /// How Lifeboat reaches the data: for snapshot-time fingerprints (snapshot-export) and the
    /// checks on a restored copy (restore-verification).
    #[serde(default)]
    pub database: Option<DatabaseAccess>,
    /// Restore verification of this component's backups (none: not restored).
    #[serde(default)]
    pub verify: Option<Verify>,
}

/// Credentials and database of a component. The secret is the RDS-style JSON
/// (`username`, `password`; ElastiCache: `password` as the AUTH token) and is read from Secrets
/// Manager at run time; it is never logged nor reported.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseAccess {
    /// Database (schema on MySQL) to fingerprint and check; not used for Redis.
    #[serde(default)]
    pub name: Option<String>,
    pub secret_arn: String,
    /// Encrypt and verify the connection (RDS CA bundle; `LIFEBOAT_DB_CA_BUNDLE`). Only the
    /// local endpoint mapping of local runs connects in the clear.
    #[serde(default = "yes")]
    pub tls: bool,
}

fn yes() -> bool {
    true
}

impl Component {
    /// The component's own settings (unset ones come from `defaults`).
    pub fn settings(&self) -> SettingsInput {
        SettingsInput {
            rpo: self.rpo,
            rto: self.rto,
            frequency: self.frequency,
            retention: self.retention,
            copy_to_dr: self.copy_to_dr,
            export: self.export,
            require_dr_copy: self.require_dr_copy,
            require_export: self.require_export,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    pub value: String,
}
