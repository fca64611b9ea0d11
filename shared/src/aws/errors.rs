//! When an AWS error is not a failure: "already exists" and "not found" count as done for the
//! idempotent calls (deterministic names: the resource is there, or already gone, because an
//! earlier attempt got that far), and "invalid state" means "not yet". Every error code Lifeboat
//! treats specially is named here, once; a call site chooses the rule that fits its call.

use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::aws_error_parts;

/// A create with a deterministic name found its resource there: an earlier attempt made it.
const ALREADY_EXISTS: &[&str] = &[
    // RDS
    "DBSnapshotAlreadyExists",
    "DBClusterSnapshotAlreadyExistsFault",
    "ExportTaskAlreadyExists",
    "ExportTaskAlreadyExistsFault",
    "DBInstanceAlreadyExists",
    "DBClusterAlreadyExistsFault",
    // ElastiCache
    "SnapshotAlreadyExistsFault",
    "ReplicationGroupAlreadyExists",
];

/// A describe or delete found nothing of that name: absent, or already deleted.
const NOT_FOUND: &[&str] = &[
    // RDS
    "DBSnapshotNotFound",
    "DBSnapshotNotFoundFault",
    "DBClusterSnapshotNotFoundFault",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "DBClusterNotFoundFault",
    // ElastiCache
    "SnapshotNotFoundFault",
    "ReplicationGroupNotFoundFault",
    // S3: GetObject and DeleteObject answer `NoSuchKey`; a HeadObject 404 has no body, and the
    // SDK names it `NotFound`.
    "NoSuchKey",
    "NotFound",
];

/// S3 conditional writes and deletes (`If-Match`, `If-None-Match`): 412 `PreconditionFailed`
/// when the condition does not hold, 409 `ConditionalRequestConflict` when another conditional
/// write to the same key is in flight. Either way the object is not what the caller expected.
const PRECONDITION_FAILED: &[&str] = &["PreconditionFailed", "ConditionalRequestConflict"];

/// The caller's role lacks the action (every service's spelling; a HEAD reply has no body, so a
/// 403 there has no code but its status). Preflight names the missing IAM action on these.
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
    "UnauthorizedOperation",
    "Forbidden",
    "HTTP 403",
];

/// The resource is busy (a cluster still has members being deleted, a group is changing):
/// try again on a later pass.
const INVALID_STATE: &[&str] = &["InvalidDBClusterStateFault", "InvalidReplicationGroupState"];

/// The resource this create names exists already: the create counts as done.
pub fn already_exists(code: &str) -> bool {
    ALREADY_EXISTS.contains(&code)
}

/// There is no resource of this name: a describe finds it absent, a delete counts as done.
pub fn not_found(code: &str) -> bool {
    NOT_FOUND.contains(&code)
}

/// A HeadObject found no object: [`not_found`], or a bare 404 whose reply carried no error
/// code (`HTTP 404`, see [`aws_error_parts`]; HEAD replies have no body, and an S3-compatible
/// endpoint or a proxy may not send one the SDK names). Only for HeadObject: elsewhere a reply
/// without a code is not read as "absent".
pub fn head_not_found(code: &str) -> bool {
    not_found(code) || code == "HTTP 404"
}

/// A conditional S3 write or delete did not apply: the object is not the one the caller
/// expected (another writer, or the caller's own earlier attempt whose answer was lost).
pub fn precondition_failed(code: &str) -> bool {
    PRECONDITION_FAILED.contains(&code)
}

/// The resource cannot take this call in its current state: wait and try again.
pub fn invalid_state(code: &str) -> bool {
    INVALID_STATE.contains(&code)
}

/// AWS refused the call for want of a permission.
pub fn access_denied(code: &str) -> bool {
    ACCESS_DENIED.contains(&code)
}

/// No error counts as done (plain writes such as PutObject and AddTagsToResource).
pub fn never(_code: &str) -> bool {
    false
}

/// A failed AWS call: the operation, the service's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// As AWS names it, e.g. `DescribeDBSnapshots`.
    pub operation: &'static str,
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, message) = aws_error_parts(err);
        AwsError {
            operation,
            code,
            message,
        }
    }

    /// `<operation> <resource>: <code>: <message>`.
    pub fn about(&self, resource: &str) -> String {
        format!("{} {resource}: {self}", self.operation)
    }
}

/// `<code>: <message>`.
impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for AwsError {}

/// The AWS error code of an SDK error (see [`aws_error_parts`] for replies without one).
pub fn code<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    aws_error_parts(err).0
}

/// How an idempotent call ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Done,
    /// An error the call's rule counts as done (the resource exists, or is already gone).
    Already,
}

/// The result of one call under its rule: `counts_as_done` is [`already_exists`] for creates,
/// [`not_found`] for deletes, [`never`] for plain writes.
pub fn settle<T, E>(
    operation: &'static str,
    result: Result<T, SdkError<E, HttpResponse>>,
    counts_as_done: fn(&str) -> bool,
) -> Result<Settled, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(Settled::Done),
        Err(e) => {
            let e = AwsError::new(operation, &e);
            if counts_as_done(&e.code) {
                Ok(Settled::Already)
            } else {
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_has_one_meaning() {
        // Given every code a rule names
        let all: Vec<&str> = ALREADY_EXISTS
            .iter()
            .chain(NOT_FOUND)
            .chain(INVALID_STATE)
            .chain(PRECONDITION_FAILED)
            .chain(ACCESS_DENIED)
            .copied()
            .collect();
        // Then no code counts under two rules, and an unknown code under none
        for code in &all {
            let rules = [
                already_exists(code),
                not_found(code),
                invalid_state(code),
                precondition_failed(code),
                access_denied(code),
            ];
            assert_eq!(rules.iter().filter(|r| **r).count(), 1, "{code}");
        }
        for other in [
            "Throttling",
            "InvalidDBInstanceState",
            "HTTP 404",
            "HTTP 412",
            "",
        ] {
            assert!(!access_denied(other));
            assert!(!already_exists(other) && !not_found(other) && !invalid_state(other));
            assert!(!precondition_failed(other));
            assert!(!never(other));
        }
    }

    #[test]
    fn a_head_reads_a_bare_404_as_absent_and_nothing_else_does() {
        // Given the codes a HeadObject of a missing object can carry
        for code in ["NotFound", "NoSuchKey", "HTTP 404"] {
            // Then the HeadObject rule reads each as absent
            assert!(head_not_found(code), "{code}");
        }
        // And the general rule does not read a reply without a code as absent
        assert!(!not_found("HTTP 404"));
        assert!(!head_not_found("AccessDenied") && !head_not_found("HTTP 403"));
    }
}

/// Every code the functions treat specially, as the SDK hands it over from a reply
/// (`then_error` with the modeled error and its code), through the rule its call site uses.
#[cfg(all(test, feature = "rds", feature = "elasticache"))]
mod mocked {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_elasticache::operation as ec_op;
    use aws_sdk_elasticache::types::error as ec_err;
    use aws_sdk_rds::operation as rds_op;
    use aws_sdk_rds::types::error as rds_err;
    use aws_smithy_mocks::{mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    /// The error metadata AWS's reply carries: the code and a message.
    fn meta(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(code)
            .message(format!("{code} (mocked reply)"))
            .build()
    }

    /// A modeled fault of `$ty` with the reply's `$code`.
    macro_rules! fault {
        ($ty:ty, $code:literal) => {
            <$ty>::builder().meta(meta($code)).build()
        };
    }

    /// One call answered by `$error`, settled under `$rule`.
    macro_rules! settle_with {
        ($sdk:ident, $method:ident, $error:expr, |$c:ident| $call:expr, $op:literal, $rule:expr) => {{
            let rule = mock!($sdk::Client::$method).then_error($error);
            let $c = mock_client!($sdk, [&rule]);
            let out = settle($op, $call.await, $rule);
            assert_eq!(rule.num_calls(), 1, "{} answered once, not retried", $op);
            out
        }};
    }

    const SNAP: &str = "lifeboat-orders-20261121-0000";

    #[tokio::test]
    async fn a_create_whose_resource_exists_counts_as_already_done() {
        // Given each create Lifeboat makes with a deterministic name, answered "already exists"
        let results = [
            settle_with!(
                aws_sdk_rds,
                create_db_snapshot,
                || rds_op::create_db_snapshot::CreateDBSnapshotError::DbSnapshotAlreadyExistsFault(
                    fault!(
                        rds_err::DbSnapshotAlreadyExistsFault,
                        "DBSnapshotAlreadyExists"
                    )
                ),
                |c| c
                    .create_db_snapshot()
                    .db_instance_identifier("orders")
                    .db_snapshot_identifier(SNAP)
                    .send(),
                "CreateDBSnapshot",
                already_exists
            ),
            settle_with!(
                aws_sdk_rds,
                create_db_cluster_snapshot,
                || {
                    rds_op::create_db_cluster_snapshot::CreateDBClusterSnapshotError::DbClusterSnapshotAlreadyExistsFault(
                    fault!(rds_err::DbClusterSnapshotAlreadyExistsFault, "DBClusterSnapshotAlreadyExistsFault")
                )
                },
                |c| c
                    .create_db_cluster_snapshot()
                    .db_cluster_identifier("catalog")
                    .db_cluster_snapshot_identifier(SNAP)
                    .send(),
                "CreateDBClusterSnapshot",
                already_exists
            ),
            settle_with!(
                aws_sdk_rds,
                copy_db_snapshot,
                || rds_op::copy_db_snapshot::CopyDBSnapshotError::DbSnapshotAlreadyExistsFault(
                    fault!(
                        rds_err::DbSnapshotAlreadyExistsFault,
                        "DBSnapshotAlreadyExists"
                    )
                ),
                |c| c
                    .copy_db_snapshot()
                    .source_db_snapshot_identifier(format!(
                        "arn:aws:rds:us-east-1:123456789012:snapshot:{SNAP}"
                    ))
                    .target_db_snapshot_identifier(SNAP)
                    .send(),
                "CopyDBSnapshot",
                already_exists
            ),
            settle_with!(
                aws_sdk_rds,
                copy_db_cluster_snapshot,
                || {
                    rds_op::copy_db_cluster_snapshot::CopyDBClusterSnapshotError::DbClusterSnapshotAlreadyExistsFault(
                    fault!(rds_err::DbClusterSnapshotAlreadyExistsFault, "DBClusterSnapshotAlreadyExistsFault")
                )
                },
                |c| c
                    .copy_db_cluster_snapshot()
                    .source_db_cluster_snapshot_identifier("arn")
                    .target_db_cluster_snapshot_identifier(SNAP)
                    .send(),
                "CopyDBClusterSnapshot",
                already_exists
            ),
            settle_with!(
                aws_sdk_rds,
                start_export_task,
                || rds_op::start_export_task::StartExportTaskError::ExportTaskAlreadyExistsFault(
                    fault!(
                        rds_err::ExportTaskAlreadyExistsFault,
                        "ExportTaskAlreadyExists"
                    )
                ),
                |c| c.start_export_task().export_task_identifier(SNAP).send(),
                "StartExportTask",
                already_exists
            ),
            // The same fault under its shape name, as some emulators send it.
            settle_with!(
                aws_sdk_rds,
                start_export_task,
                || rds_op::start_export_task::StartExportTaskError::generic(meta(
                    "ExportTaskAlreadyExistsFault"
                )),
                |c| c.start_export_task().export_task_identifier(SNAP).send(),
                "StartExportTask",
                already_exists
            ),
            settle_with!(
                aws_sdk_rds,
                restore_db_instance_from_db_snapshot,
                || {
                    rds_op::restore_db_instance_from_db_snapshot::RestoreDBInstanceFromDBSnapshotError::DbInstanceAlreadyExistsFault(
                    fault!(rds_err::DbInstanceAlreadyExistsFault, "DBInstanceAlreadyExists")
                )
                },
                |c| c
                    .restore_db_instance_from_db_snapshot()
                    .db_instance_identifier("lifeboat-verify-0badc0de")
                    .db_snapshot_identifier(SNAP)
                    .send(),
                "RestoreDBInstanceFromDBSnapshot",
                already_exists
            ),
            settle_with!(
                aws_sdk_rds,
                create_db_instance,
                || rds_op::create_db_instance::CreateDBInstanceError::DbInstanceAlreadyExistsFault(
                    fault!(
                        rds_err::DbInstanceAlreadyExistsFault,
                        "DBInstanceAlreadyExists"
                    )
                ),
                |c| c
                    .create_db_instance()
                    .db_instance_identifier("lifeboat-verify-0badc0de-i1")
                    .send(),
                "CreateDBInstance",
                already_exists
            ),
            settle_with!(
                aws_sdk_rds,
                restore_db_cluster_from_snapshot,
                || {
                    rds_op::restore_db_cluster_from_snapshot::RestoreDBClusterFromSnapshotError::DbClusterAlreadyExistsFault(
                    fault!(rds_err::DbClusterAlreadyExistsFault, "DBClusterAlreadyExistsFault")
                )
                },
                |c| c
                    .restore_db_cluster_from_snapshot()
                    .db_cluster_identifier("lifeboat-verify-0badc0de")
                    .snapshot_identifier(SNAP)
                    .send(),
                "RestoreDBClusterFromSnapshot",
                already_exists
            ),
            settle_with!(
                aws_sdk_elasticache,
                create_snapshot,
                || ec_op::create_snapshot::CreateSnapshotError::SnapshotAlreadyExistsFault(fault!(
                    ec_err::SnapshotAlreadyExistsFault,
                    "SnapshotAlreadyExistsFault"
                )),
                |c| c
                    .create_snapshot()
                    .replication_group_id("sessions")
                    .snapshot_name(SNAP)
                    .send(),
                "CreateSnapshot",
                already_exists
            ),
            settle_with!(
                aws_sdk_elasticache,
                copy_snapshot,
                || ec_op::copy_snapshot::CopySnapshotError::SnapshotAlreadyExistsFault(fault!(
                    ec_err::SnapshotAlreadyExistsFault,
                    "SnapshotAlreadyExistsFault"
                )),
                |c| c
                    .copy_snapshot()
                    .source_snapshot_name(SNAP)
                    .target_snapshot_name(SNAP)
                    .target_bucket("backups")
                    .send(),
                "CopySnapshot",
                already_exists
            ),
            settle_with!(
                aws_sdk_elasticache,
                create_replication_group,
                || {
                    ec_op::create_replication_group::CreateReplicationGroupError::ReplicationGroupAlreadyExistsFault(
                    fault!(ec_err::ReplicationGroupAlreadyExistsFault, "ReplicationGroupAlreadyExists")
                )
                },
                |c| c
                    .create_replication_group()
                    .replication_group_id("lifeboat-verify-0badc0de")
                    .replication_group_description("restore check")
                    .send(),
                "CreateReplicationGroup",
                already_exists
            ),
        ];
        // Then every one is already done, not failed
        for (i, r) in results.into_iter().enumerate() {
            assert_eq!(r, Ok(Settled::Already), "case {i}");
        }
    }

    #[tokio::test]
    async fn a_delete_of_what_is_gone_counts_as_already_done() {
        // Given each delete Lifeboat makes, answered "not found"
        let results = [
            settle_with!(
                aws_sdk_rds,
                delete_db_snapshot,
                || rds_op::delete_db_snapshot::DeleteDBSnapshotError::DbSnapshotNotFoundFault(
                    fault!(rds_err::DbSnapshotNotFoundFault, "DBSnapshotNotFound")
                ),
                |c| c.delete_db_snapshot().db_snapshot_identifier(SNAP).send(),
                "DeleteDBSnapshot",
                not_found
            ),
            settle_with!(
                aws_sdk_rds,
                delete_db_snapshot,
                || rds_op::delete_db_snapshot::DeleteDBSnapshotError::generic(meta(
                    "DBSnapshotNotFoundFault"
                )),
                |c| c.delete_db_snapshot().db_snapshot_identifier(SNAP).send(),
                "DeleteDBSnapshot",
                not_found
            ),
            settle_with!(
                aws_sdk_rds,
                delete_db_cluster_snapshot,
                || {
                    rds_op::delete_db_cluster_snapshot::DeleteDBClusterSnapshotError::DbClusterSnapshotNotFoundFault(
                    fault!(rds_err::DbClusterSnapshotNotFoundFault, "DBClusterSnapshotNotFoundFault")
                )
                },
                |c| c
                    .delete_db_cluster_snapshot()
                    .db_cluster_snapshot_identifier(SNAP)
                    .send(),
                "DeleteDBClusterSnapshot",
                not_found
            ),
            settle_with!(
                aws_sdk_rds,
                delete_db_instance,
                || rds_op::delete_db_instance::DeleteDBInstanceError::DbInstanceNotFoundFault(
                    fault!(rds_err::DbInstanceNotFoundFault, "DBInstanceNotFound")
                ),
                |c| c
                    .delete_db_instance()
                    .db_instance_identifier("lifeboat-verify-0badc0de")
                    .send(),
                "DeleteDBInstance",
                not_found
            ),
            settle_with!(
                aws_sdk_rds,
                delete_db_instance,
                || rds_op::delete_db_instance::DeleteDBInstanceError::generic(meta(
                    "DBInstanceNotFoundFault"
                )),
                |c| c
                    .delete_db_instance()
                    .db_instance_identifier("lifeboat-verify-0badc0de")
                    .send(),
                "DeleteDBInstance",
                not_found
            ),
            settle_with!(
                aws_sdk_rds,
                delete_db_cluster,
                || rds_op::delete_db_cluster::DeleteDBClusterError::DbClusterNotFoundFault(fault!(
                    rds_err::DbClusterNotFoundFault,
                    "DBClusterNotFoundFault"
                )),
                |c| c
                    .delete_db_cluster()
                    .db_cluster_identifier("lifeboat-verify-0badc0de")
                    .send(),
                "DeleteDBCluster",
                not_found
            ),
            settle_with!(
                aws_sdk_elasticache,
                delete_snapshot,
                || ec_op::delete_snapshot::DeleteSnapshotError::SnapshotNotFoundFault(fault!(
                    ec_err::SnapshotNotFoundFault,
                    "SnapshotNotFoundFault"
                )),
                |c| c.delete_snapshot().snapshot_name(SNAP).send(),
                "DeleteSnapshot",
                not_found
            ),
            settle_with!(
                aws_sdk_elasticache,
                delete_replication_group,
                || {
                    ec_op::delete_replication_group::DeleteReplicationGroupError::ReplicationGroupNotFoundFault(
                    fault!(ec_err::ReplicationGroupNotFoundFault, "ReplicationGroupNotFoundFault")
                )
                },
                |c| c
                    .delete_replication_group()
                    .replication_group_id("lifeboat-verify-0badc0de")
                    .send(),
                "DeleteReplicationGroup",
                not_found
            ),
        ];
        // Then every one is already done
        for (i, r) in results.into_iter().enumerate() {
            assert_eq!(r, Ok(Settled::Already), "case {i}");
        }
    }

    #[tokio::test]
    async fn a_busy_resource_is_invalid_state_not_gone() {
        // Given deletes answered "invalid state" (a cluster with members still going)
        let cluster = settle_with!(
            aws_sdk_rds,
            delete_db_cluster,
            || rds_op::delete_db_cluster::DeleteDBClusterError::InvalidDbClusterStateFault(fault!(
                rds_err::InvalidDbClusterStateFault,
                "InvalidDBClusterStateFault"
            )),
            |c| c
                .delete_db_cluster()
                .db_cluster_identifier("lifeboat-verify-0badc0de")
                .send(),
            "DeleteDBCluster",
            not_found
        );
        let group = settle_with!(
            aws_sdk_elasticache,
            delete_replication_group,
            || {
                ec_op::delete_replication_group::DeleteReplicationGroupError::InvalidReplicationGroupStateFault(
                fault!(ec_err::InvalidReplicationGroupStateFault, "InvalidReplicationGroupState")
            )
            },
            |c| c
                .delete_replication_group()
                .replication_group_id("lifeboat-verify-0badc0de")
                .send(),
            "DeleteReplicationGroup",
            not_found
        );
        // Then the delete is not done, and its code reads as "try again later"
        for (e, code) in [
            (cluster.unwrap_err(), "InvalidDBClusterStateFault"),
            (group.unwrap_err(), "InvalidReplicationGroupState"),
        ] {
            assert_eq!(e.code, code);
            assert!(invalid_state(&e.code) && !not_found(&e.code));
        }
    }

    #[tokio::test]
    async fn any_other_error_fails_the_call_with_its_code_and_message() {
        // Given a snapshot of a stopped instance (invalid state, not a rule of any call site)
        // and a manifest write that fails
        let snapshot = settle_with!(
            aws_sdk_rds,
            create_db_snapshot,
            || rds_op::create_db_snapshot::CreateDBSnapshotError::InvalidDbInstanceStateFault(
                fault!(
                    rds_err::InvalidDbInstanceStateFault,
                    "InvalidDBInstanceState"
                )
            ),
            |c| c
                .create_db_snapshot()
                .db_instance_identifier("orders")
                .db_snapshot_identifier(SNAP)
                .send(),
            "CreateDBSnapshot",
            already_exists
        );
        let delete = settle_with!(
            aws_sdk_rds,
            delete_db_snapshot,
            || rds_op::delete_db_snapshot::DeleteDBSnapshotError::InvalidDbSnapshotStateFault(
                fault!(
                    rds_err::InvalidDbSnapshotStateFault,
                    "InvalidDBSnapshotState"
                )
            ),
            |c| c.delete_db_snapshot().db_snapshot_identifier(SNAP).send(),
            "DeleteDBSnapshot",
            not_found
        );
        let tag = settle_with!(
            aws_sdk_rds,
            add_tags_to_resource,
            || rds_op::add_tags_to_resource::AddTagsToResourceError::generic(meta(
                "DBSnapshotNotFound"
            )),
            |c| c.add_tags_to_resource().resource_name("arn").send(),
            "AddTagsToResource",
            never
        );
        // Then each fails, reading `code: message`, with the operation kept for context
        let e = snapshot.unwrap_err();
        assert_eq!(
            e.to_string(),
            "InvalidDBInstanceState: InvalidDBInstanceState (mocked reply)"
        );
        assert_eq!(
            e.about("orders"),
            "CreateDBSnapshot orders: InvalidDBInstanceState: InvalidDBInstanceState (mocked reply)"
        );
        assert_eq!(delete.unwrap_err().code, "InvalidDBSnapshotState");
        assert_eq!(tag.unwrap_err().code, "DBSnapshotNotFound");
    }

    #[tokio::test]
    async fn a_call_that_succeeds_is_done() {
        // Given a create AWS accepts
        let rule = mock!(aws_sdk_rds::Client::create_db_snapshot)
            .then_output(|| rds_op::create_db_snapshot::CreateDbSnapshotOutput::builder().build());
        let c = mock_client!(aws_sdk_rds, [&rule]);
        // When it is settled under "already exists"
        let r = settle(
            "CreateDBSnapshot",
            c.create_db_snapshot()
                .db_instance_identifier("orders")
                .send()
                .await,
            already_exists,
        );
        // Then it is done (not "already")
        assert_eq!(r, Ok(Settled::Done));
    }
}

/// S3's replies as the SDK parses them from the wire (`then_http_response`), through the rules
/// the journal and the sweeps use.
#[cfg(test)]
mod mocked_s3 {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_smithy_mocks::{mock, mock_client};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn reply(status: u16, body: impl Into<String>) -> impl Fn() -> HttpResponse {
        let body: String = body.into();
        move || {
            HttpResponse::new(
                StatusCode::try_from(status).unwrap(),
                SdkBody::from(body.clone()),
            )
        }
    }

    fn xml(code: &str) -> String {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{code} (mocked reply)</Message></Error>")
    }

    #[tokio::test]
    async fn a_conditional_write_refused_reads_as_precondition_failed() {
        // Given a conditional PutObject answered 412 PreconditionFailed, then 409
        // ConditionalRequestConflict
        let r412 = mock!(aws_sdk_s3::Client::put_object)
            .then_http_response(reply(412, xml("PreconditionFailed")));
        let r409 = mock!(aws_sdk_s3::Client::put_object)
            .then_http_response(reply(409, xml("ConditionalRequestConflict")));
        let s3 = mock_client!(aws_sdk_s3, [&r412, &r409]);
        for want in ["PreconditionFailed", "ConditionalRequestConflict"] {
            // When the write is sent
            let e = s3
                .put_object()
                .bucket("b")
                .key("k")
                .if_none_match("*")
                .send()
                .await
                .unwrap_err();
            // Then its code is S3's, and it reads as "precondition failed", not as absent
            let c = code(&e);
            assert_eq!(c, want);
            assert!(precondition_failed(&c) && !not_found(&c));
        }
        assert_eq!((r412.num_calls(), r409.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_missing_object_reads_as_not_found() {
        // Given GetObject answered 404 NoSuchKey, and HeadObject answered a bare 404
        let get =
            mock!(aws_sdk_s3::Client::get_object).then_http_response(reply(404, xml("NoSuchKey")));
        let head = mock!(aws_sdk_s3::Client::head_object).then_http_response(reply(404, ""));
        let s3 = mock_client!(aws_sdk_s3, [&get, &head]);
        // When each is sent
        let g = code(
            &s3.get_object()
                .bucket("b")
                .key("k")
                .send()
                .await
                .unwrap_err(),
        );
        let h = code(
            &s3.head_object()
                .bucket("b")
                .key("k")
                .send()
                .await
                .unwrap_err(),
        );
        // Then each reads as not found
        assert_eq!((g.as_str(), h.as_str()), ("NoSuchKey", "NotFound"));
        assert!(not_found(&g) && not_found(&h) && head_not_found(&h));
        assert!(!precondition_failed(&g) && !precondition_failed(&h));
    }

    #[tokio::test]
    async fn a_403_reads_as_access_denied_with_or_without_a_body() {
        // Given GetObject answered 403 AccessDenied, and HeadBucket a bare 403 (HEAD: no body)
        let get = mock!(aws_sdk_s3::Client::get_object)
            .then_http_response(reply(403, xml("AccessDenied")));
        let head = mock!(aws_sdk_s3::Client::head_bucket).then_http_response(reply(403, ""));
        let s3 = mock_client!(aws_sdk_s3, [&get, &head]);
        // When each is sent
        let g = code(
            &s3.get_object()
                .bucket("b")
                .key("k")
                .send()
                .await
                .unwrap_err(),
        );
        let h = code(&s3.head_bucket().bucket("b").send().await.unwrap_err());
        // Then both read as access denied, and neither as absent
        assert!(access_denied(&g) && access_denied(&h), "{g} / {h}");
        assert!(!head_not_found(&g) && !head_not_found(&h));
    }

    #[tokio::test]
    async fn a_head_404_without_a_code_reads_as_absent_only_to_the_head_rule() {
        // Given HeadObject answered 404 with a body that names no code (a proxy's page)
        let head = mock!(aws_sdk_s3::Client::head_object)
            .then_http_response(reply(404, "<html><title>Not Found</title></html>"));
        let s3 = mock_client!(aws_sdk_s3, [&head]);
        // When it is sent
        let e = s3
            .head_object()
            .bucket("b")
            .key("k")
            .send()
            .await
            .unwrap_err();
        // Then its code is the bare status, absent to HeadObject's rule only
        let c = code(&e);
        assert_eq!(c, "HTTP 404");
        assert!(head_not_found(&c) && !not_found(&c));
    }
}
