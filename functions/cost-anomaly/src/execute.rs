//! The only writes: the day's history record and the alert states, both conditional and both
//! recognising their own earlier attempt (the journal compares what is stored with what it
//! sent). It changes nothing in the account.
//!
//! History: one object per day, `cost/history/YYYY/MM/DD.json` in the report bucket, holding a
//! record per component, region, item and storage class. A day is written once
//! (`If-None-Match: *`); a rerun of the same day finds it and keeps it — unless the stored
//! record has sources without data that this run read, when it replaces it (`If-Match`). Either
//! way a day is one record: never counted twice.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use futures::stream::{self, StreamExt};
use lifeboat_shared::alerts::Stored;
use lifeboat_shared::journal::Journal;
use lifeboat_shared::{Error, Result};

use crate::plan::anomalies::CostLevel;
use crate::plan::{Day, DAY_SCHEMA};

pub const HISTORY: &str = "cost/history";
pub const ALERTS_KEY: &str = "state/cost-anomaly/alerts.json";

pub fn day_key(d: NaiveDate) -> String {
    format!(
        "{HISTORY}/{:04}/{:02}/{:02}.json",
        d.year(),
        d.month(),
        d.day()
    )
}

/// The stored days in `[from, to]` (absent days are left out). A day that cannot be read or is
/// not a day record fails the load: anomalies are then not judged, never judged on a hole.
pub async fn load_days(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(BTreeMap<NaiveDate, Day>, u32)> {
    let mut dates = Vec::new();
    let mut d = from;
    while d <= to {
        dates.push(d);
        d += Duration::days(1);
    }
    let requests = dates.len() as u32;
    let read: Vec<Result<Option<Day>>> = stream::iter(dates)
        .map(|d| async move {
            let got = Journal::<Day>::load(s3, bucket, &day_key(d)).await?;
            match got {
                Some(j) if j.state.schema == DAY_SCHEMA && j.state.date == d => Ok(Some(j.state)),
                Some(_) => Err(Error::Internal(format!(
                    "s3://{bucket}/{} is not a {DAY_SCHEMA} record of {d}",
                    day_key(d)
                ))),
                None => Ok(None),
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut out = BTreeMap::new();
    for r in read {
        if let Some(day) = r? {
            out.insert(day.date, day);
        }
    }
    Ok((out, requests))
}

/// What became of the day's record.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    Written,
    /// A record by an earlier run of the same day, kept (its figures are the day's).
    Kept {
        by: String,
    },
    /// An earlier record with sources it could not read, replaced by this run's.
    Replaced {
        by: String,
        gaps_before: usize,
    },
}

impl Recorded {
    pub fn sentence(&self, d: NaiveDate) -> String {
        match self {
            Recorded::Written => format!("history: {d} recorded"),
            Recorded::Kept { by } => format!(
                "history: {d} was already recorded by run {by}; kept (a day is one record, never counted twice)"
            ),
            Recorded::Replaced { by, gaps_before } => format!(
                "history: {d} recorded by run {by} with {gaps_before} source(s) without data; replaced by this run's"
            ),
        }
    }
}

/// Records `day`; returns what is stored afterwards (the day the anomalies judge).
pub async fn record(s3: &aws_sdk_s3::Client, bucket: &str, day: Day) -> Result<(Recorded, Day)> {
    let key = day_key(day.date);
    for _ in 0..3 {
        match Journal::<Day>::load(s3, bucket, &key).await? {
            None => {
                let mut j = Journal::new(&key, day.clone());
                match j.save(s3, bucket).await {
                    Ok(()) => return Ok((Recorded::Written, day)),
                    // another run recorded the day in between: look again
                    Err(Error::Internal(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
            Some(mut j) => {
                if j.state.written_by == day.written_by {
                    return Ok((Recorded::Written, j.state));
                }
                let better = (!j.state.gaps.is_empty() && day.gaps.len() < j.state.gaps.len())
                    || (j.state.actual_error.is_some() && day.actual.is_some());
                if !better {
                    let by = j.state.written_by.clone();
                    return Ok((Recorded::Kept { by }, j.state));
                }
                let by = j.state.written_by.clone();
                let gaps_before = j.state.gaps.len();
                j.state = day.clone();
                match j.save(s3, bucket).await {
                    Ok(()) => return Ok((Recorded::Replaced { by, gaps_before }, day)),
                    Err(Error::Internal(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Err(Error::Internal(format!(
        "s3://{bucket}/{key} kept changing under this run: three attempts"
    )))
}

/// Backfilled days (Cost Explorer) for dates with no record: written only where absent.
pub async fn backfill(s3: &aws_sdk_s3::Client, bucket: &str, days: &[Day]) -> Result<usize> {
    let mut written = 0;
    for d in days {
        let mut j = Journal::new(&day_key(d.date), d.clone());
        match j.save(s3, bucket).await {
            Ok(()) => written += 1,
            Err(Error::Internal(_)) => {} // a record exists: it wins
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// Adds Cost Explorer's actual cost to a stored model day that lacks it (a day not yet
/// published when it was recorded, or recorded before Cost Explorer was enabled). A record
/// changed meanwhile by another run is left to it.
pub async fn fill_actual(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    date: NaiveDate,
    lines: &[crate::plan::Line],
) -> Result<bool> {
    let Some(mut j) = Journal::<Day>::load(s3, bucket, &day_key(date)).await? else {
        return Ok(false);
    };
    if j.state.actual.is_some() {
        return Ok(false);
    }
    j.state.actual = Some(lines.to_vec());
    j.state.actual_error = None;
    match j.save(s3, bucket).await {
        Ok(()) => Ok(true),
        Err(Error::Internal(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub type Alerts = Journal<Stored<CostLevel>>;

pub async fn load_alerts(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Alerts> {
    Ok(Journal::load(s3, bucket, ALERTS_KEY)
        .await?
        .unwrap_or_else(|| Journal::new(ALERTS_KEY, Stored::default())))
}
