//! The seeded e-commerce shop (customers, orders, order_items, products) on the local
//! PostgreSQL and MariaDB servers, with the deliberate damage restore checks must catch. Shared
//! by the data-check and restore tests and by the demo.
// Harness code: a failed setup step should stop where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use lifeboat_shared::data::sql::{Db, Endpoint, Engine};
use mysql_async::prelude::Queryable;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Damage {
    None,
    /// order_items rows pointing at an order that does not exist.
    OrphanedItems,
    /// The newest orders (and their items) lost: rows missing and a stale newest order.
    LostRecentOrders,
    /// A negative order total and an invalid email.
    BadValues,
}

pub fn unique(prefix: &str) -> String {
    format!(
        "lb_{prefix}_{}_{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or(0) % 1_000_000_000
    )
}

pub fn endpoint(engine: Engine, database: &str) -> Endpoint {
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
pub fn shop(engine: Engine, damage: Damage) -> Vec<String> {
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
pub async fn build(engine: Engine, name: &str, damage: Damage) {
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

pub async fn drop_db(engine: Engine, name: &str) {
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

/// Applies `damage` to an existing clean shop, as if it happened after the snapshot-time
/// fingerprint (the restored copy then differs from what the backup should hold).
pub async fn damage_in_place(engine: Engine, name: &str, damage: Damage) {
    let stmts: Vec<&str> = match damage {
        Damage::None => vec![],
        Damage::OrphanedItems => vec![
            "INSERT INTO order_items VALUES (99999, 1, 1, 1, 100)",
            "INSERT INTO order_items VALUES (99999, 2, 2, 1, 200)",
        ],
        Damage::LostRecentOrders => vec![
            "DELETE FROM order_items WHERE order_id > 195",
            "DELETE FROM orders WHERE id > 195",
        ],
        Damage::BadValues => vec![
            "UPDATE orders SET total_cents = -total_cents WHERE id = 3",
            "UPDATE customers SET email = 'not-an-email' WHERE id = 7",
        ],
    };
    match Db::connect(&endpoint(engine, name)).await.unwrap() {
        Db::Postgres(c) => {
            // Foreign keys are enforced by triggers: off for this session, as a bad restore would.
            let mut all = vec!["SET session_replication_role = replica"];
            all.extend(stmts);
            c.batch_execute(&all.join(";\n")).await.unwrap();
        }
        Db::Mysql(mut c) => {
            c.query_drop("SET FOREIGN_KEY_CHECKS = 0").await.unwrap();
            for st in stmts {
                c.query_drop(st).await.unwrap();
            }
        }
    }
}
