//! AWS Backup: the recovery points of a resource as plain records, read to the last page.

use chrono::{DateTime, Utc};

use super::errors::AwsError;
use crate::aws_time as time;

/// An AWS Backup recovery point of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryPoint {
    pub arn: String,
    /// As AWS Backup reports it: `COMPLETED`, `AVAILABLE`, `PARTIAL`, `CREATING`, `DELETING`,
    /// `EXPIRED`, `STOPPED`.
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// The statuses of a recovery point that can be restored: AWS Backup documents `AVAILABLE` as
/// "the backup was successfully created ... ready for use", and `COMPLETED` as finished.
/// `PARTIAL` (a composite missing nested points), `CREATING`, `DELETING`, `EXPIRED` and
/// `STOPPED` are not a whole, usable backup.
pub const USABLE: [&str; 2] = ["COMPLETED", "AVAILABLE"];

impl RecoveryPoint {
    /// A point that can be restored (see [`USABLE`]).
    pub fn usable(&self) -> bool {
        USABLE.contains(&self.status.as_str())
    }

    /// `None` for a recovery point without an ARN.
    pub fn from_sdk(p: &aws_sdk_backup::types::RecoveryPointByResource) -> Option<RecoveryPoint> {
        Some(RecoveryPoint {
            arn: p.recovery_point_arn()?.to_string(),
            status: p
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            created_at: time(p.creation_date()),
        })
    }
}

/// Every recovery point of the resource `resource_arn`.
pub async fn recovery_points(
    backup: &aws_sdk_backup::Client,
    resource_arn: &str,
) -> Result<Vec<RecoveryPoint>, AwsError> {
    let mut out = Vec::new();
    let mut pages = backup
        .list_recovery_points_by_resource()
        .resource_arn(resource_arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("ListRecoveryPointsByResource", &e))?;
        out.extend(
            page.recovery_points()
                .iter()
                .filter_map(RecoveryPoint::from_sdk),
        );
    }
    Ok(out)
}

/// A recovery point as its vault lists it: what AWS Backup stores and bills.
#[derive(Debug, Clone, PartialEq)]
pub struct VaultPoint {
    pub arn: String,
    pub resource_arn: String,
    /// `RDS`, `Aurora`, `EFS`, `DynamoDB`, `EBS`, `S3`, ...
    pub resource_type: String,
    pub bytes: Option<i64>,
    /// When AWS Backup moves (or moved) it to cold storage (`CalculatedLifecycle`); never
    /// when `None`. Cold once this time has passed.
    pub cold_from: Option<DateTime<Utc>>,
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
}

/// Every recovery point in `vault` (ListRecoveryPointsByBackupVault, every page).
pub async fn vault_points(
    backup: &aws_sdk_backup::Client,
    vault: &str,
) -> Result<Vec<VaultPoint>, AwsError> {
    let mut out = Vec::new();
    let mut pages = backup
        .list_recovery_points_by_backup_vault()
        .backup_vault_name(vault)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::new("ListRecoveryPointsByBackupVault", &e))?;
        for p in page.recovery_points() {
            let Some(arn) = p.recovery_point_arn() else {
                continue;
            };
            out.push(VaultPoint {
                arn: arn.to_string(),
                resource_arn: p.resource_arn().unwrap_or_default().to_string(),
                resource_type: p.resource_type().unwrap_or_default().to_string(),
                bytes: p.backup_size_in_bytes(),
                cold_from: p
                    .calculated_lifecycle()
                    .and_then(|l| time(l.move_to_cold_storage_at())),
                status: p
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                created_at: time(p.creation_date()),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::aws::test_page;
    use aws_sdk_backup::operation::list_recovery_points_by_resource::ListRecoveryPointsByResourceOutput;
    use aws_sdk_backup::types::{RecoveryPointByResource, RecoveryPointStatus};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    #[tokio::test]
    async fn recovery_points_are_read_to_the_last_page() {
        // Given 3 pages of recovery points of one resource, the newest on the last
        const DB: &str = "arn:aws:rds:us-east-1:123456789012:db:orders";
        let rule = mock!(aws_sdk_backup::Client::list_recovery_points_by_resource)
            .match_requests(|r| r.resource_arn() == Some(DB))
            .then_compute_output(|r| {
                let (items, next) = test_page(7, 3, r.next_token());
                ListRecoveryPointsByResourceOutput::builder()
                    .set_recovery_points(Some(
                        items
                            .map(|i| {
                                RecoveryPointByResource::builder()
                                    .recovery_point_arn(format!("{DB}:rp-{i}"))
                                    .status(RecoveryPointStatus::Completed)
                                    .creation_date(aws_smithy_types::DateTime::from_secs(
                                        1_795_219_200 + 3600 * i as i64,
                                    ))
                                    .build()
                            })
                            .collect(),
                    ))
                    .set_next_token(next)
                    .build()
            });
        let backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&rule]);
        // When they are read
        let points = recovery_points(&backup, DB).await.unwrap();
        // Then every page was asked for and the newest is there
        assert_eq!(rule.num_calls(), 3);
        assert_eq!(points.len(), 7);
        let newest = points.iter().max_by_key(|p| p.created_at).unwrap();
        assert_eq!(newest.arn, format!("{DB}:rp-6"));
        assert_eq!(newest.status, "COMPLETED");
    }

    #[test]
    fn completed_and_available_points_are_usable_the_others_not() {
        let point = |status: &str| RecoveryPoint {
            arn: "arn:aws:backup:us-east-1:123456789012:recovery-point:x".into(),
            status: status.into(),
            created_at: None,
        };
        for (status, usable) in [
            ("COMPLETED", true),
            ("AVAILABLE", true),
            ("PARTIAL", false),
            ("CREATING", false),
            ("EXPIRED", false),
            ("STOPPED", false),
            ("DELETING", false),
        ] {
            assert_eq!(point(status).usable(), usable, "{status}");
        }
    }
}
