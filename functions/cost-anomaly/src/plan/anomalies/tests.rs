#![allow(clippy::unwrap_used)]
use super::*;
use crate::plan::{Basis, Gap, Item, Line, DAY_SCHEMA};
use lifeboat_shared::policy::cost::{AboveAverage, Class, Growth, Limit};
use lifeboat_shared::policy::Span;

/// A day whose components cost the given USD, one STANDARD line each.
pub(crate) fn day_of(date: NaiveDate, costs: &[(&str, f64)]) -> Day {
    Day {
        schema: DAY_SCHEMA.into(),
        date,
        source: "model".into(),
        lines: costs
            .iter()
            .map(|(c, v)| line(c, Item::Objects, Class::Standard, *v, &[]))
            .collect(),
        gaps: Vec::new(),
        prices_taken: "2026-11-01".into(),
        written_by: "test".into(),
        actual: None,
        actual_error: None,
    }
}

pub(crate) fn line(component: &str, item: Item, class: Class, usd: f64, ids: &[&str]) -> Line {
    Line {
        key: Key {
            component: component.into(),
            region: "us-east-1".into(),
            item,
            class,
            at: String::new(),
        },
        gb: usd * 31.0 / 0.095,
        stored_gb: usd * 31.0 / 0.095,
        usd_day: usd,
        basis: Basis::Measured,
        count: ids.len() as u64,
        ids: ids.iter().map(|s| s.to_string()).collect(),
    }
}

fn d(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap() + Duration::days(day as i64 - 1)
}

/// Days 1..=n of a series (index 0 is the first day), ending on `d(n)`.
fn series(values: &[f64]) -> BTreeMap<NaiveDate, Day> {
    let start = d(60) - Duration::days(values.len() as i64 - 1);
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let date = start + Duration::days(i as i64);
            (date, day_of(date, &[("orders-db", *v)]))
        })
        .collect()
}

fn only(rules: Anomalies) -> Anomalies {
    rules
}

fn none() -> Anomalies {
    Anomalies {
        limits: vec![],
        growth: vec![],
        above_average: vec![],
        baseline: Default::default(),
    }
}

fn state(j: &Judged, key: &str) -> Option<CostLevel> {
    j.checks.iter().find(|c| c.key == key).map(|c| c.state)
}

#[test]
fn each_seed_rule_fires_and_stays_quiet_when_it_should() {
    let flat = |n: usize, v: f64| vec![v; n];
    let with_last = |mut v: Vec<f64>, last: &[f64]| {
        v.extend_from_slice(last);
        v
    };
    let day_limit = only(Anomalies {
        limits: vec![Limit {
            usd: 25.0,
            per: Per::Day,
            component: None,
        }],
        ..none()
    });
    let month_limit = only(Anomalies {
        limits: vec![Limit {
            usd: 600.0,
            per: Per::Month,
            component: None,
        }],
        ..none()
    });
    let wow = only(Anomalies {
        growth: vec![Growth {
            percent: 20.0,
            period: Span::days(7),
            component: None,
        }],
        ..none()
    });
    let avg = only(Anomalies {
        above_average: vec![AboveAverage {
            percent: 120.0,
            period: Span::days(7),
            component: None,
        }],
        ..none()
    });
    // (rules, series ending on day 60 = Jan 29 2027, check key, expected)
    let cases: Vec<(&str, &Anomalies, Vec<f64>, &str, CostLevel)> = vec![
        (
            "a day above $25",
            &day_limit,
            flat(3, 26.0),
            "limit-day-25:total",
            CostLevel::Warning,
        ),
        (
            "a day at $24",
            &day_limit,
            flat(3, 24.0),
            "limit-day-25:total",
            CostLevel::Ok,
        ),
        (
            "a month past $600 so far",
            &month_limit,
            flat(29, 21.0),
            "limit-month-600:total",
            CostLevel::Critical,
        ),
        (
            "a month forecast past $600",
            &month_limit,
            flat(29, 19.9),
            "limit-month-600:total",
            CostLevel::Warning,
        ),
        (
            "a month well within",
            &month_limit,
            flat(29, 10.0),
            "limit-month-600:total",
            CostLevel::Ok,
        ),
        (
            "+25% week over week",
            &wow,
            with_last(flat(7, 10.0), &flat(7, 12.5)),
            "growth-7d:total",
            CostLevel::Warning,
        ),
        (
            "+15% week over week",
            &wow,
            with_last(flat(7, 10.0), &flat(7, 11.5)),
            "growth-7d:total",
            CostLevel::Ok,
        ),
        (
            "+25% but under $0.50/day",
            &wow,
            with_last(flat(7, 1.0), &flat(7, 1.25)),
            "growth-7d:total",
            CostLevel::Ok,
        ),
        (
            "125% of the 7-day average",
            &avg,
            with_last(flat(7, 10.0), &[12.5]),
            "above-average-7d:total",
            CostLevel::Warning,
        ),
        (
            "115% of the 7-day average",
            &avg,
            with_last(flat(7, 10.0), &[11.5]),
            "above-average-7d:total",
            CostLevel::Ok,
        ),
    ];
    for (what, rules, values, key, want) in cases {
        let days = series(&values);
        let date = *days.keys().last().unwrap();
        let j = judge(rules, &days, date);
        assert_eq!(state(&j, key), Some(want), "{what}: {:#?}", j.checks);
        let c = j.checks.iter().find(|c| c.key == key).unwrap();
        if want > CostLevel::NoData {
            assert!(!c.contributors.is_empty(), "{what}: contributors named");
        }
    }
}

#[test]
fn the_baseline_is_robust_weekday_aware_and_says_when_history_is_short() {
    // Given 28 days around $10 with one $40 outlier, and weekends at $6
    let mut values: Vec<f64> = (0..28)
        .map(|i| {
            if i % 7 >= 5 {
                6.0
            } else {
                10.0 + (i % 3) as f64 * 0.1
            }
        })
        .collect();
    values[10] = 40.0;
    let rules = none();
    for (today, want) in [(13.0, CostLevel::Warning), (10.3, CostLevel::Ok)] {
        let mut v = values.clone();
        v.push(today);
        let days = series(&v);
        let date = *days.keys().last().unwrap();
        let j = judge(&rules, &days, date);
        let c = j.checks.iter().find(|c| c.key == "baseline:total").unwrap();
        assert_eq!(c.state, want, "{today}: {}", c.detail);
        // the period and threshold are stated
        assert!(
            c.detail.contains("median") && c.detail.contains("threshold"),
            "{}",
            c.detail
        );
    }
    // Too little history: said, not judged
    let days = series(&[10.0, 10.0, 10.0, 30.0]);
    let date = *days.keys().last().unwrap();
    let j = judge(&rules, &days, date);
    assert!(j.checks.iter().all(|c| !c.key.starts_with("baseline")));
    assert!(
        j.notes
            .iter()
            .any(|n| n.contains("baseline has 3 of the 14 days of history it needs")),
        "{:?}",
        j.notes
    );
}

#[test]
fn no_data_is_never_ok_nor_zero() {
    let mut days = series(&[10.0; 15]);
    let date = *days.keys().last().unwrap();
    let today = days.get_mut(&date).unwrap();
    today.lines.clear();
    today.gaps.push(Gap {
        component: "orders-db".into(),
        source: "CloudWatch".into(),
        error: "Throttling: Rate exceeded".into(),
    });
    let j = judge(&Anomalies::default(), &days, date);
    let total: Vec<&CostCheck> = j
        .checks
        .iter()
        .filter(|c| c.key.ends_with(":total"))
        .collect();
    assert!(!total.is_empty());
    for c in total {
        assert_eq!(c.state, CostLevel::NoData, "{}", c.key);
        assert!(c.detail.contains("Throttling"), "{}", c.detail);
        assert!(!c.detail.contains("$0.00 on"), "{}", c.detail);
    }
}

#[test]
fn contributors_are_ranked_by_dollar_impact_with_new_resources_named() {
    let mut days = BTreeMap::new();
    for i in 0..7 {
        let date = d(1) + Duration::days(i);
        let mut day = day_of(date, &[("orders-db", 10.0)]);
        day.lines.push(line(
            "orders-db",
            Item::UnmanagedSnapshots,
            Class::RdsSnapshot,
            0.5,
            &["old-1"],
        ));
        days.insert(date, day);
    }
    let date = d(8);
    let mut day = day_of(date, &[("orders-db", 11.0)]);
    day.lines.push(line(
        "orders-db",
        Item::UnmanagedSnapshots,
        Class::RdsSnapshot,
        6.0,
        &["old-1", "manual-a", "manual-b", "manual-c", "manual-d"],
    ));
    days.insert(date, day);
    let c = contributors(
        &days,
        &Scope::Total,
        &[date],
        &dates(date - Duration::days(1), 7),
    );
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].key.item, Item::UnmanagedSnapshots);
    assert!((c[0].delta - 5.5).abs() < 1e-9);
    assert!(
        c[0].detail.starts_with("4 snapshots new since 2026-12-01, not made by Lifeboat (manual-a, manual-b, manual-c, …)"),
        "{}",
        c[0].detail
    );
    assert!((c[1].delta - 1.0).abs() < 1e-9);
    assert!(
        c[0].sentence().starts_with(
            "orders-db manual snapshots not made by Lifeboat (rds-snapshot, us-east-1) +$5.50/day"
        ),
        "{}",
        c[0].sentence()
    );
}
