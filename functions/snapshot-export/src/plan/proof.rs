//! Proof: which DR-region snapshot is Lifeboat's copy of which primary snapshot, and which
//! export task is which snapshot's. A name proves nothing: a snapshot in the DR region named
//! like one of ours may be a copy of another database, or of another period.

use super::*;

/// The tags Lifeboat puts on a snapshot when it makes it, and that `CopyTags` carries to its
/// DR copy unchanged. ([`TAG_MANIFEST`] is set on the primary later, so it is not compared.)
const IDENTITY_TAGS: [&str; 5] = [TAG_MANAGED, TAG_COMPONENT, TAG_SOURCE, TAG_PERIOD, TAG_RUN];

/// `Ok` when `dr` is Lifeboat's copy of `primary`: both Lifeboat's, of the same kind, name and
/// source database, with the same identity tags, and copied from the primary's ARN where AWS
/// reports the source. Otherwise why not, for the report.
pub(super) fn copy_of(dr: &Snapshot, primary: &Snapshot) -> Result<(), String> {
    if dr.kind != primary.kind || dr.id != primary.id {
        return Err(format!("it is {} {}", dr.kind, dr.id));
    }
    if !primary.managed() {
        return Err(format!(
            "{} in {} is not a Lifeboat snapshot",
            primary.id, primary.region
        ));
    }
    if dr.source_id != primary.source_id {
        return Err(format!(
            "it is a snapshot of {}, not of {}",
            dr.source_id, primary.source_id
        ));
    }
    if !dr.managed() {
        return Err(format!("it does not carry Lifeboat's {TAG_MANAGED} tag"));
    }
    for key in IDENTITY_TAGS {
        let (theirs, mine) = (dr.tags.get(key), primary.tags.get(key));
        if theirs != mine {
            let show = |v: Option<&String>| v.map_or("missing".to_string(), |v| format!("{v:?}"));
            return Err(format!(
                "its {key} tag is {} where the primary's is {}",
                show(theirs),
                show(mine)
            ));
        }
    }
    if let Some(from) = &dr.source_snapshot_arn {
        if primary.arn.is_empty() || *from != primary.arn {
            return Err(format!(
                "it was copied from {from}, not from {:?}",
                primary.arn
            ));
        }
    }
    Ok(())
}

/// The export tasks of `snap`: their source is its ARN. A snapshot whose ARN AWS did not
/// report has none (an empty ARN matches nothing).
pub(super) fn exports_of<'a>(
    inv: &'a Inventory,
    snap: &'a Snapshot,
) -> impl Iterator<Item = &'a ExportTask> + 'a {
    inv.exports
        .iter()
        .filter(move |t| !snap.arn.is_empty() && t.source_arn == snap.arn)
}

/// What the DR region holds under a primary snapshot's name.
#[derive(Debug, Clone, Copy)]
pub(super) enum DrState<'a> {
    /// The DR-region read failed: nothing is known.
    Unknown,
    /// No snapshot of that name.
    Missing,
    /// Lifeboat's copy of it.
    Copy(&'a Snapshot),
    /// A snapshot of that name that is not its copy, with why not.
    LookAlike(&'a Snapshot),
}

/// The DR region as the plan sees it, with the primary-region snapshots its copies came from.
pub(super) struct DrView<'a> {
    dr: BTreeMap<(ResourceKind, &'a str), &'a Snapshot>,
    primaries: BTreeMap<(ResourceKind, &'a str), &'a Snapshot>,
    unread: bool,
    inv: &'a Inventory,
}

impl<'a> DrView<'a> {
    pub(super) fn new(inv: &'a Inventory) -> DrView<'a> {
        DrView {
            dr: inv
                .dr_snapshots
                .iter()
                .map(|s| ((s.kind, s.id.as_str()), s))
                .collect(),
            primaries: inv
                .snapshots
                .iter()
                .map(|s| ((s.kind, s.id.as_str()), s))
                .collect(),
            unread: inv.unread(Read::DrSnapshots),
            inv,
        }
    }

    /// The DR region's snapshot under `primary`'s name, and whether it is its copy.
    pub(super) fn of(&self, primary: &Snapshot) -> DrState<'a> {
        if self.unread {
            return DrState::Unknown;
        }
        match self.dr.get(&(primary.kind, primary.id.as_str())) {
            None => DrState::Missing,
            Some(d) if copy_of(d, primary).is_ok() => DrState::Copy(d),
            Some(d) => DrState::LookAlike(d),
        }
    }

    /// The primary-region snapshot of the same kind and name as a DR-region one.
    pub(super) fn primary_of(&self, dr: &Snapshot) -> Option<&'a Snapshot> {
        self.primaries.get(&(dr.kind, dr.id.as_str())).copied()
    }

    /// The primary region's snapshots of this kind could not be read: a primary's absence
    /// proves nothing.
    pub(super) fn primaries_unread(&self, kind: ResourceKind) -> bool {
        self.inv.unread(Read::Snapshots(kind))
    }
}
