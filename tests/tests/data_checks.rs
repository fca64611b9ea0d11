//! restore-verification's data checks against real local database servers (PostgreSQL and
//! MariaDB, started by `scripts/tools.sh databases`): a seeded e-commerce schema, a fingerprint
//! taken from the source, and restores that are clean or carry deliberate damage the checks must
//! catch. (Restores themselves are not wired yet: each "restore" here is a database built from
//! the same rows, with or without damage.)
// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use lifeboat_shared::data::sql::{CheckResult, Db, Engine, NamedCheck, Spec, Verdict};
use lifeboat_tests::shop::{build, drop_db, endpoint, unique, Damage};

fn spec() -> Spec {
    Spec {
        tolerance_percent: 0.0,
        freshness: Some(("orders".into(), "created_at".into(), Duration::minutes(15))),
        named: vec![
            NamedCheck { name: "Negative Order Totals".into(), sql: "SELECT count(*) FROM orders WHERE total_cents < 0".into(), expect: 0 },
            NamedCheck { name: "Invalid Email Formats".into(), sql: "SELECT count(*) FROM customers WHERE email NOT LIKE '%_@_%._%'".into(), expect: 0 },
            NamedCheck {
                name: "Order total = sum of items".into(),
                sql: "SELECT count(*) FROM orders o WHERE o.total_cents <> (SELECT coalesce(sum(i.quantity * i.price_cents), 0) FROM order_items i WHERE i.order_id = o.id)".into(),
                expect: 0,
            },
        ],
    }
}

fn failed(results: &[CheckResult]) -> Vec<(String, String)> {
    results
        .iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .map(|r| (r.check.clone(), r.subject.clone()))
        .collect()
}

async fn scenario(engine: Engine) {
    let tag = if engine == Engine::Postgres {
        "pg"
    } else {
        "my"
    };
    let source = unique(&format!("{tag}_src"));
    build(engine, &source, Damage::None).await;
    let mut src = Db::connect(&endpoint(engine, &source)).await.unwrap();
    let fp = src.fingerprint(Utc::now()).await.unwrap();
    assert_eq!(fp.tables["orders"].rows, 200);
    assert_eq!(fp.tables.len(), 4);

    let cases = [
        (Damage::None, vec![]),
        (
            Damage::OrphanedItems,
            vec![
                ("orphaned-rows", "order_items -> orders"),
                ("pk-checksum", "order_items"),
                ("row-count", "order_items"),
            ],
        ),
        (
            Damage::LostRecentOrders,
            vec![
                ("freshness", "orders.created_at"),
                ("pk-checksum", "order_items"),
                ("pk-checksum", "orders"),
                ("row-count", "order_items"),
                ("row-count", "orders"),
            ],
        ),
        (
            Damage::BadValues,
            vec![
                ("named", "Invalid Email Formats"),
                ("named", "Negative Order Totals"),
                ("named", "Order total = sum of items"),
            ],
        ),
    ];
    for (damage, want) in cases {
        let restored = unique(&format!("{tag}_rst"));
        build(engine, &restored, damage).await;
        let mut db = Db::connect(&endpoint(engine, &restored)).await.unwrap();
        let results = db.verify(Some(&fp), None, &spec()).await.unwrap();
        let mut got = failed(&results);
        got.sort();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want, "{tag}: {:#?}", results);
        if !want.is_empty() {
            assert_eq!(
                results[0].verdict,
                Verdict::Fail,
                "failing checks come first"
            );
        } else {
            // A clean restore: every catalog foreign key was checked.
            assert_eq!(
                results
                    .iter()
                    .filter(|r| r.check == "orphaned-rows")
                    .count(),
                3
            );
        }
        drop(db);
        drop_db(engine, &restored).await;
    }
    drop(src);
    drop_db(engine, &source).await;
}

#[tokio::test]
async fn postgres_checks_catch_every_seeded_damage_and_pass_a_clean_restore() {
    scenario(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_checks_catch_every_seeded_damage_and_pass_a_clean_restore() {
    scenario(Engine::Mysql).await;
}

#[tokio::test]
async fn redis_key_count_and_sample_against_the_local_server() {
    use lifeboat_shared::data::redis as cache;
    // A database of its own on the local server (db 13), emptied first.
    let url = "redis://127.0.0.1:6379/13";
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("FLUSHDB")
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    for i in 0..300 {
        redis::cmd("SET")
            .arg(format!("session:{i}"))
            .arg(format!("cart-{i}"))
            .query_async::<()>(&mut c)
            .await
            .unwrap();
        redis::cmd("HSET")
            .arg(format!("cart:{i}"))
            .arg("sku")
            .arg(i)
            .query_async::<()>(&mut c)
            .await
            .unwrap();
    }
    let ep = cache::RedisEndpoint {
        host: "127.0.0.1".into(),
        port: 6379,
        db: 13,
        username: String::new(),
        password: String::new(),
        tls: false,
        ca_bundle: None,
    };
    let fp = cache::fingerprint(&ep, Utc::now()).await.unwrap();
    assert!(
        fp.keys >= 600,
        "{} keys (other databases on the server count too)",
        fp.keys
    );
    let clean = cache::verify(&ep, Some(&fp), 1.0, 50).await.unwrap();
    assert!(
        clean.iter().all(|r| r.verdict == Verdict::Pass),
        "{clean:#?}"
    );
    assert!(clean.iter().any(|r| r.detail == "50 sampled keys read"));
    // A restore missing 10% of the keys fails the count.
    for i in 0..60 {
        redis::cmd("DEL")
            .arg(format!("session:{i}"))
            .query_async::<()>(&mut c)
            .await
            .unwrap();
    }
    let lossy = cache::verify(&ep, Some(&fp), 1.0, 50).await.unwrap();
    assert_eq!(lossy[0].check, "key-count");
    assert_eq!(lossy[0].verdict, Verdict::Fail, "{lossy:#?}");
    redis::cmd("FLUSHDB")
        .query_async::<()>(&mut c)
        .await
        .unwrap();
}

/// What a secret held, in the tests below: none of it may appear in an error.
const SECRET_PASSWORD: &str = "Tr0ub4dor-and-3-horses";
const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-orders-AbCdEf";

#[tokio::test]
async fn secret_errors_name_the_secret_and_the_shape_never_its_body() {
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_smithy_mocks::{mock, mock_client};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use lifeboat_shared::data;

    let reply = |status: u16, body: String| {
        move || {
            HttpResponse::new(
                StatusCode::try_from(status).unwrap(),
                SdkBody::from(body.clone()),
            )
        }
    };
    let inner = format!("{{\"username\":\"orders_app\",\"password\":\"{SECRET_PASSWORD}\"}}");
    // Replies the SDK cannot read: a truncated 200 (the secret in it), a 500 without an error
    // code whose body echoes it (a proxy), and a 200 whose JSON is of the wrong shape.
    let truncated = format!(
        "{{\"ARN\":\"{ARN}\",\"SecretString\":{}",
        serde_json::to_string(&inner).unwrap()
    );
    let echoed = format!("upstream said: {inner}");
    let mut errors = Vec::new();
    for (status, body) in [(200, truncated), (500, echoed)] {
        let rule = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .then_http_response(reply(status, body));
        let sm = mock_client!(aws_sdk_secretsmanager, [&rule]);
        errors.push(data::credentials(&sm, ARN).await.unwrap_err());
    }
    // Secret strings of the wrong shape.
    for text in [
        format!("password={SECRET_PASSWORD}"),
        format!("[\"{SECRET_PASSWORD}\"]"),
        format!("{{\"username\": \"{SECRET_PASSWORD}\", \"password\": 97531}}"),
        format!("{{\"user\": \"orders_app\", \"pass\": \"{SECRET_PASSWORD}\"}}"),
        format!("{{\"username\":\"orders_app\",\"password\":\"{SECRET_PASSWORD}\""),
    ] {
        let rule = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_output(move || {
            GetSecretValueOutput::builder()
                .arn(ARN)
                .secret_string(text.clone())
                .build()
        });
        let sm = mock_client!(aws_sdk_secretsmanager, [&rule]);
        errors.push(data::credentials(&sm, ARN).await.unwrap_err());
    }
    for e in &errors {
        assert!(e.contains(ARN), "names the secret: {e}");
        for piece in [
            SECRET_PASSWORD,
            "Tr0ub4dor",
            "horses",
            "orders_app",
            "97531",
        ] {
            assert!(!e.contains(piece), "quotes {piece:?} of the secret: {e}");
        }
    }
    assert!(errors[0].contains("HTTP 200"), "{}", errors[0]);
    assert!(errors[1].contains("HTTP 500"), "{}", errors[1]);
    assert!(
        errors[4].contains("\"password\" is not a string"),
        "{}",
        errors[4]
    );
    assert!(errors[5].contains("no \"password\" field"), "{}", errors[5]);
}
