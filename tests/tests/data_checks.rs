//! restore-verification's data checks against real local database servers (PostgreSQL and
//! MariaDB, started by `scripts/tools.sh databases`): a seeded e-commerce schema, a fingerprint
//! taken from the source, and restores that are clean or carry deliberate damage the checks must
//! catch. (Restores themselves are not wired yet: each "restore" here is a database built from
//! the same rows, with or without damage.)
// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use lifeboat_shared::data::sql::{CheckResult, Db, Endpoint, Engine, NamedCheck, Spec, Verdict};
use mysql_async::prelude::Queryable;

#[derive(Clone, Copy, PartialEq)]
enum Damage {
    None,
    /// order_items rows pointing at an order that does not exist.
    OrphanedItems,
    /// The newest orders (and their items) lost: rows missing and a stale newest order.
    LostRecentOrders,
    /// A negative order total and an invalid email.
    BadValues,
}

fn unique(prefix: &str) -> String {
    format!(
        "lb_{prefix}_{}_{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or(0) % 1_000_000_000
    )
}

fn endpoint(engine: Engine, database: &str) -> Endpoint {
    match engine {
        Engine::Postgres => Endpoint {
            engine,
            host: "127.0.0.1".into(),
            port: 5432,
            database: database.into(),
            user: "postgres".into(),
            password: String::new(),
            tls: false,
        },
        Engine::Mysql => Endpoint {
            engine,
            host: "127.0.0.1".into(),
            port: 3306,
            database: database.into(),
            user: "root".into(),
            password: String::new(),
            tls: false,
        },
    }
}

/// The statements that build the shop, with `damage` applied. Foreign keys are added last, the
/// way a restore of a damaged source would carry them (PostgreSQL: NOT VALID; MariaDB: checks off).
fn shop(engine: Engine, damage: Damage) -> Vec<String> {
    let ts = if engine == Engine::Postgres {
        "TIMESTAMP"
    } else {
        "DATETIME"
    };
    let mut sql = vec![
        "CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(200) NOT NULL)".to_string(),
        "CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(200) NOT NULL, price_cents INT NOT NULL)".to_string(),
        format!("CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, total_cents INT NOT NULL, created_at {ts} NOT NULL)"),
        "CREATE TABLE order_items (order_id INT NOT NULL, line INT NOT NULL, product_id INT, quantity INT NOT NULL, price_cents INT NOT NULL, PRIMARY KEY (order_id, line))".to_string(),
    ];
    if engine == Engine::Mysql {
        sql.push("SET FOREIGN_KEY_CHECKS = 0".into());
    }
    let now = Utc::now();
    for c in 1..=50 {
        let email = if damage == Damage::BadValues && c == 7 {
            "not-an-email".to_string()
        } else {
            format!("customer{c}@example.com")
        };
        sql.push(format!("INSERT INTO customers VALUES ({c}, '{email}')"));
    }
    for p in 1..=20 {
        sql.push(format!(
            "INSERT INTO products VALUES ({p}, 'product {p}', {})",
            100 * p
        ));
    }
    for o in 1..=200 {
        // Order 200 is one minute old, order 1 about 200 hours old.
        let at = now - Duration::minutes(1 + (200 - o) as i64 * 60);
        if damage == Damage::LostRecentOrders && o > 195 {
            continue;
        }
        let lines = 1 + o % 3;
        let mut total = 0;
        for l in 1..=lines {
            let product = 1 + (o * l) % 20;
            let qty = 1 + l % 2;
            total += qty * 100 * product;
            sql.push(format!(
                "INSERT INTO order_items VALUES ({o}, {l}, {product}, {qty}, {})",
                100 * product
            ));
        }
        if damage == Damage::BadValues && o == 3 {
            total = -total;
        }
        sql.push(format!(
            "INSERT INTO orders VALUES ({o}, {}, {total}, '{}')",
            1 + o % 50,
            at.format("%Y-%m-%d %H:%M:%S")
        ));
    }
    if damage == Damage::OrphanedItems {
        sql.push("INSERT INTO order_items VALUES (99999, 1, 1, 1, 100)".into());
        sql.push("INSERT INTO order_items VALUES (99999, 2, 2, 1, 200)".into());
    }
    let not_valid = if engine == Engine::Postgres {
        " NOT VALID"
    } else {
        ""
    };
    sql.push(format!("ALTER TABLE orders ADD CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id){not_valid}"));
    sql.push(format!("ALTER TABLE order_items ADD CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id){not_valid}"));
    sql.push(format!("ALTER TABLE order_items ADD CONSTRAINT fk_items_product FOREIGN KEY (product_id) REFERENCES products (id){not_valid}"));
    sql
}

/// Creates a database named `name` holding the shop with `damage`.
async fn build(engine: Engine, name: &str, damage: Damage) {
    match engine {
        Engine::Postgres => {
            let Db::Postgres(admin) = Db::connect(&endpoint(engine, "postgres")).await.unwrap()
            else {
                unreachable!()
            };
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let Db::Postgres(c) = Db::connect(&endpoint(engine, name)).await.unwrap() else {
                unreachable!()
            };
            c.batch_execute(&shop(engine, damage).join(";\n"))
                .await
                .unwrap();
        }
        Engine::Mysql => {
            let Db::Mysql(mut admin) = Db::connect(&endpoint(engine, "mysql")).await.unwrap()
            else {
                unreachable!()
            };
            admin
                .query_drop(format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let Db::Mysql(mut c) = Db::connect(&endpoint(engine, name)).await.unwrap() else {
                unreachable!()
            };
            for stmt in shop(engine, damage) {
                c.query_drop(stmt).await.unwrap();
            }
        }
    }
}

async fn drop_db(engine: Engine, name: &str) {
    match Db::connect(&endpoint(
        engine,
        if engine == Engine::Postgres {
            "postgres"
        } else {
            "mysql"
        },
    ))
    .await
    .unwrap()
    {
        Db::Postgres(c) => {
            let _ = c
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
        Db::Mysql(mut c) => {
            let _ = c
                .query_drop(format!("DROP DATABASE IF EXISTS {name}"))
                .await;
        }
    }
}

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
    let fp = cache::fingerprint(url, Utc::now()).await.unwrap();
    assert!(
        fp.keys >= 600,
        "{} keys (other databases on the server count too)",
        fp.keys
    );
    let clean = cache::verify(url, Some(&fp), 1.0, 50).await.unwrap();
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
    let lossy = cache::verify(url, Some(&fp), 1.0, 50).await.unwrap();
    assert_eq!(lossy[0].check, "key-count");
    assert_eq!(lossy[0].verdict, Verdict::Fail, "{lossy:#?}");
    redis::cmd("FLUSHDB")
        .query_async::<()>(&mut c)
        .await
        .unwrap();
}
