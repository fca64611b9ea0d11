// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

//! Every page is read: restore-verification restores a component's newest snapshot when RDS
//! lists it on the last page of DescribeDBSnapshots (a reader of the first page alone would
//! choose from the oldest 100).
//!
//! moto 5.2.5 answers DescribeDBSnapshots with every snapshot in one reply: it ignores
//! MaxRecords and Marker (checked against 5.2.5 with 130 snapshots). So restore-verification's
//! RDS client gets a named test stand-in, [`RdsPages`]: an interceptor that cuts moto's reply
//! into the pages RDS sends (100 snapshots and a Marker; the request's Marker picks the page).
//! Everything else is the emulator.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_rds::operation::describe_db_snapshots::{
    DescribeDbSnapshotsInput, DescribeDbSnapshotsOutput,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use chrono::{Duration, Utc};
use lifeboat_tests::{Scenario, PRIMARY};
use serde_json::json;

use crate::util;

/// DescribeDBSnapshots' page size on RDS (MaxRecords defaults to 100).
const RDS_PAGE: usize = 100;

/// Test stand-in for RDS's paging, which moto does not do: DescribeDBSnapshots replies cut into
/// pages of [`RDS_PAGE`] with a Marker naming the first snapshot of the next page.
#[derive(Debug, Clone, Default)]
struct RdsPages {
    served: Arc<AtomicUsize>,
}

impl RdsPages {
    /// DescribeDBSnapshots pages answered so far.
    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

/// Where the page a request asks for starts (its Marker).
#[derive(Debug, Clone)]
struct PageStart(usize);

impl Storable for PageStart {
    type Storer = StoreReplace<Self>;
}

impl Intercept for RdsPages {
    fn name(&self) -> &'static str {
        "RdsPages (test stand-in for RDS paging)"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(input) = context.input().downcast_ref::<DescribeDbSnapshotsInput>() {
            let start = input.marker().map(str::parse).transpose()?.unwrap_or(0);
            cfg.interceptor_state().store_put(PageStart(start));
        }
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(PageStart(start)) = cfg.load::<PageStart>().cloned() else {
            return Ok(());
        };
        let Some(Ok(output)) = context.output_or_error_mut() else {
            return Ok(());
        };
        let Some(out) = output.downcast_mut::<DescribeDbSnapshotsOutput>() else {
            return Ok(());
        };
        let all = out.db_snapshots.take().unwrap_or_default();
        let end = (start + RDS_PAGE).min(all.len());
        out.marker = (end < all.len()).then(|| end.to_string());
        out.db_snapshots = Some(all.into_iter().skip(start).take(RDS_PAGE).collect());
        self.served.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn the_newest_snapshot_on_the_last_page_is_the_one_restored() {
    // Given restore-verification whose RDS replies come in RDS's pages of 100
    let pages = RdsPages::default();
    let pager = pages.clone();
    let f = util::world()
        .scenario(Scenario {
            full: false,
            ..Scenario::default()
        })
        .dir("lifeboat-pagination-test")
        .build(move |parts| {
            let conf = aws_sdk_rds::config::Builder::from(parts.aws.config())
                .interceptor(pager)
                .build();
            let mut app = parts.restore_verification();
            app.cloud.rds = aws_sdk_rds::Client::from_conf(conf);
            app
        })
        .await;
    // And orders-db (ecommerce-prod-db) with 250 snapshots: the seeded ones (with the automated
    // one taken when the instance was created), then hourly ones, the last made now: the newest,
    // and the last RDS lists, on the third page
    let rds = aws_sdk_rds::Client::new(&f.emu.config(PRIMARY).await);
    let listed = |rds: aws_sdk_rds::Client| async move {
        rds.describe_db_snapshots()
            .db_instance_identifier("ecommerce-prod-db")
            .send()
            .await
            .unwrap()
            .db_snapshots()
            .len()
    };
    let seeded = listed(rds.clone()).await;
    let hourly = 250 - seeded;
    for i in 0..hourly {
        f.emu.shift_clock(-Duration::hours((hourly - 1 - i) as i64));
        rds.create_db_snapshot()
            .db_instance_identifier("ecommerce-prod-db")
            .db_snapshot_identifier(format!("ecommerce-prod-db-hourly-{i:03}"))
            .send()
            .await
            .unwrap();
    }
    f.emu.reset_clock();
    assert_eq!(
        listed(rds).await,
        250,
        "moto lists all of them in one reply"
    );
    let newest = format!("ecommerce-prod-db-hourly-{:03}", hourly - 1);

    // When a dry run plans the restore of orders-db
    let out = restore_verification::invoke(
        &f.app,
        &json!({"action": "restore", "dry_run": true, "only": ["orders-db"]}),
        "rv-pages",
        Utc::now(),
        None,
    )
    .await
    .unwrap();
    let r = out.report().expect("a dry run reports its plan");
    let text = r.render_text();

    // Then the snapshots were read over all three pages, and the backup it would restore is
    // the newest, from the last page
    assert_eq!(pages.served(), 3, "pages of 100, 100 and 50: {text}");
    assert_eq!(
        r.details["restores"][0]["backup"]["id"],
        json!(newest),
        "{text}"
    );
    let restore = r.actions.iter().find(|a| a.kind == "restore").unwrap();
    assert!(
        restore
            .reason
            .starts_with(&format!("orders-db: {newest} taken")),
        "{}",
        restore.reason
    );
}
