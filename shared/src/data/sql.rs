//! Data checks on a restored database, PostgreSQL or MySQL/MariaDB: row counts and primary-key
//! checksums against the fingerprint taken at snapshot time, orphaned rows for every foreign key
//! (discovered from the catalog, no hand-written list), null primary keys, freshness of a
//! timestamp column, and named checks with expected results.
//!

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

/// Where and as whom to connect. `password` comes from Secrets Manager and is never logged.
#[derive(Clone)]
pub struct Endpoint {
    pub engine: Engine,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: String,
    /// Encrypt and verify the server against `LIFEBOAT_DB_CA_BUNDLE` (RDS); off only for the
    /// local servers of local runs.
    pub tls: bool,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}://{}@{}:{}/{} (password hidden)",
            self.engine, self.user, self.host, self.port, self.database
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    Mysql,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub primary_key: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub table: String,
    pub columns: Vec<String>,
    pub references: String,
    pub referenced_columns: Vec<String>,
}

pub use crate::backup::{Fingerprint, TableFingerprint};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: String,
    pub subject: String,
    pub verdict: Verdict,
    pub detail: String,
}

pub use crate::policy::NamedCheck;

/// What to check beyond the catalog-driven checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    /// Row-count difference allowed, in percent of the fingerprint's count.
    pub tolerance_percent: f64,
    /// (table, timestamp column, largest allowed lag behind the snapshot time).
    pub freshness: Option<(String, String, chrono::Duration)>,
    pub named: Vec<NamedCheck>,
}

pub enum Db {
    Postgres(tokio_postgres::Client),
    Mysql(mysql_async::Conn),
}

fn quote(engine: Engine, ident: &str) -> String {
    match engine {
        Engine::Postgres => format!("\"{}\"", ident.replace('"', "\"\"")),
        Engine::Mysql => format!("`{}`", ident.replace('`', "``")),
    }
}

impl Db {
    /// Connects with TLS verified against the CA bundle in `LIFEBOAT_DB_CA_BUNDLE` (the RDS
    /// global bundle) when `ep.tls`; in the clear otherwise (the local servers of local runs).
    pub async fn connect(ep: &Endpoint) -> Result<Db, String> {
        let bundle = if ep.tls {
            Some(std::env::var(CA_BUNDLE_VAR).map_err(|_| {
                format!("{CA_BUNDLE_VAR} is not set: TLS to {ep:?} needs the RDS CA bundle (global-bundle.pem from truststore.pki.rds.amazonaws.com) as a PEM file, or database.tls: false")
            })?)
        } else {
            None
        };
        match ep.engine {
            Engine::Postgres => {
                let mut cfg = tokio_postgres::Config::new();
                cfg.host(&ep.host)
                    .port(ep.port)
                    .dbname(&ep.database)
                    .user(&ep.user)
                    .password(&ep.password)
                    .connect_timeout(std::time::Duration::from_secs(10));
                let client = match &bundle {
                    Some(path) => {
                        cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
                        let tls =
                            tokio_postgres_rustls::MakeRustlsConnect::new(rustls_config(path)?);
                        let (client, conn) = cfg
                            .connect(tls)
                            .await
                            .map_err(|e| format!("connecting to {ep:?}: {e}"))?;
                        tokio::spawn(async move {
                            if let Err(e) = conn.await {
                                tracing::warn!(error = %e, "postgres connection ended");
                            }
                        });
                        client
                    }
                    None => {
                        let (client, conn) = cfg
                            .connect(tokio_postgres::NoTls)
                            .await
                            .map_err(|e| format!("connecting to {ep:?}: {e}"))?;
                        tokio::spawn(async move {
                            if let Err(e) = conn.await {
                                tracing::warn!(error = %e, "postgres connection ended");
                            }
                        });
                        client
                    }
                };
                Ok(Db::Postgres(client))
            }
            Engine::Mysql => {
                let mut opts = mysql_async::OptsBuilder::default()
                    .ip_or_hostname(ep.host.clone())
                    .tcp_port(ep.port)
                    .db_name(Some(ep.database.clone()))
                    .user(Some(ep.user.clone()))
                    .pass(Some(ep.password.clone()));
                if let Some(path) = &bundle {
                    opts = opts.ssl_opts(Some(
                        mysql_async::SslOpts::default()
                            .with_root_certs(vec![std::path::PathBuf::from(path).into()]),
                    ));
                }
                let conn = mysql_async::Conn::new(opts)
                    .await
                    .map_err(|e| format!("connecting to {ep:?}: {e}"))?;
                Ok(Db::Mysql(conn))
            }
        }
    }

    pub fn engine(&self) -> Engine {
        match self {
            Db::Postgres(_) => Engine::Postgres,
            Db::Mysql(_) => Engine::Mysql,
        }
    }

    /// Rows of text columns (NULL as None).
    async fn rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        match self {
            Db::Postgres(c) => {
                // simple_query returns every value as text.
                let msgs = c
                    .simple_query(sql)
                    .await
                    .map_err(|e| format!("{e}: {sql}"))?;
                Ok(msgs
                    .into_iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => {
                            Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                        }
                        _ => None,
                    })
                    .collect())
            }
            Db::Mysql(c) => {
                let rows: Vec<mysql_async::Row> =
                    c.query(sql).await.map_err(|e| format!("{e}: {sql}"))?;
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| match r.as_ref(i) {
                                None | Some(mysql_async::Value::NULL) => None,
                                Some(mysql_async::Value::Bytes(b)) => {
                                    Some(String::from_utf8_lossy(b).to_string())
                                }
                                Some(v) => Some(v.as_sql(true).trim_matches('\'').to_string()),
                            })
                            .collect()
                    })
                    .collect())
            }
        }
    }

    async fn number(&mut self, sql: &str) -> Result<i64, String> {
        let rows = self.rows(sql).await?;
        let cell = rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .flatten()
            .unwrap_or_else(|| "0".into());
        cell.trim()
            .parse::<f64>()
            .map(|f| f as i64)
            .map_err(|_| format!("expected a number from {sql}, got {cell:?}"))
    }

    /// Base tables of the connected database (schema `public` on PostgreSQL) with their primary keys.
    pub async fn tables(&mut self) -> Result<Vec<Table>, String> {
        let sql = match self.engine() {
            Engine::Postgres => "SELECT t.table_name, kcu.column_name FROM information_schema.tables t \
                LEFT JOIN information_schema.table_constraints tc ON tc.table_schema = t.table_schema AND tc.table_name = t.table_name AND tc.constraint_type = 'PRIMARY KEY' \
                LEFT JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name \
                WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' ORDER BY t.table_name, kcu.ordinal_position",
            Engine::Mysql => "SELECT t.TABLE_NAME, k.COLUMN_NAME FROM information_schema.TABLES t \
                LEFT JOIN information_schema.KEY_COLUMN_USAGE k ON k.TABLE_SCHEMA = t.TABLE_SCHEMA AND k.TABLE_NAME = t.TABLE_NAME AND k.CONSTRAINT_NAME = 'PRIMARY' \
                WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE' ORDER BY t.TABLE_NAME, k.ORDINAL_POSITION",
        };
        let mut tables: Vec<Table> = Vec::new();
        for r in self.rows(sql).await? {
            let name = r[0].clone().unwrap_or_default();
            if tables.last().map(|t| t.name != name).unwrap_or(true) {
                tables.push(Table {
                    name: name.clone(),
                    primary_key: Vec::new(),
                });
            }
            if let (Some(col), Some(t)) = (r[1].clone(), tables.last_mut()) {
                t.primary_key.push(col);
            }
        }
        Ok(tables)
    }

    /// Every foreign key, from the catalog.
    pub async fn foreign_keys(&mut self) -> Result<Vec<ForeignKey>, String> {
        let sql = match self.engine() {
            Engine::Postgres => "SELECT con.conname, cl.relname, a.attname, rcl.relname, ra.attname \
                FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace \
                JOIN pg_class rcl ON rcl.oid = con.confrelid \
                JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(col, rcol, ord) ON true \
                JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.col \
                JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.rcol \
                WHERE con.contype = 'f' AND n.nspname = 'public' ORDER BY cl.relname, con.conname, k.ord",
            Engine::Mysql => "SELECT CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
                FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
                ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
        };
        let mut fks: Vec<ForeignKey> = Vec::new();
        for r in self.rows(sql).await? {
            let v = |i: usize| r[i].clone().unwrap_or_default();
            let (name, table) = (v(0), v(1));
            match fks.last_mut() {
                Some(fk) if fk.name == name && fk.table == table => {
                    fk.columns.push(v(2));
                    fk.referenced_columns.push(v(4));
                }
                _ => fks.push(ForeignKey {
                    name,
                    table,
                    columns: vec![v(2)],
                    references: v(3),
                    referenced_columns: vec![v(4)],
                }),
            }
        }
        Ok(fks)
    }

    /// Row count and primary-key checksum of every table.
    pub async fn fingerprint(&mut self, at: DateTime<Utc>) -> Result<Fingerprint, String> {
        let e = self.engine();
        let mut fp = Fingerprint {
            taken_at: Some(at),
            tables: BTreeMap::new(),
        };
        for t in self.tables().await? {
            let q = quote(e, &t.name);
            let key = if t.primary_key.is_empty() {
                None
            } else {
                let cols: Vec<String> = t.primary_key.iter().map(|c| quote(e, c)).collect();
                Some(match e {
                    Engine::Postgres => format!("concat_ws('|', {})", cols.join(", ")),
                    Engine::Mysql => format!("CONCAT_WS('|', {})", cols.join(", ")),
                })
            };
            let sql = match (e, &key) {
                (Engine::Postgres, Some(k)) => {
                    format!("SELECT count(*), coalesce(sum(hashtext({k})::bigint), 0) FROM {q}")
                }
                (Engine::Mysql, Some(k)) => {
                    format!("SELECT COUNT(*), COALESCE(SUM(CRC32({k})), 0) FROM {q}")
                }
                (_, None) => format!("SELECT count(*), 0 FROM {q}"),
            };
            let row = self.rows(&sql).await?;
            let cell = |i: usize| {
                row.first()
                    .and_then(|r| r.get(i))
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| "0".into())
            };
            fp.tables.insert(
                t.name.clone(),
                TableFingerprint {
                    rows: cell(0).parse().unwrap_or(0),
                    pk_checksum: cell(1),
                },
            );
        }
        Ok(fp)
    }

    /// Every check on the restored database. `expected`: the fingerprint recorded at snapshot
    /// time (none: the count and checksum checks are skipped and say so); `snapshot_at`: when
    /// the backup was taken (freshness is measured against it, else the fingerprint's time).
    pub async fn verify(
        &mut self,
        expected: Option<&Fingerprint>,
        snapshot_at: Option<DateTime<Utc>>,
        spec: &Spec,
    ) -> Result<Vec<CheckResult>, String> {
        let e = self.engine();
        let mut out = Vec::new();
        let result = |check: &str, subject: &str, ok: bool, detail: String| CheckResult {
            check: check.to_string(),
            subject: subject.to_string(),
            verdict: if ok { Verdict::Pass } else { Verdict::Fail },
            detail,
        };
        let now_fp = self.fingerprint(Utc::now()).await?;
        match expected {
            Some(fp) => {
                for (table, want) in &fp.tables {
                    let Some(got) = now_fp.tables.get(table) else {
                        out.push(result(
                            "row-count",
                            table,
                            false,
                            "table missing from the restore".into(),
                        ));
                        continue;
                    };
                    let allowed =
                        (want.rows as f64 * spec.tolerance_percent / 100.0).floor() as i64;
                    let diff = (got.rows - want.rows).abs();
                    out.push(result(
                        "row-count",
                        table,
                        diff <= allowed,
                        format!(
                            "{} rows restored, {} at snapshot time (tolerance {}%)",
                            got.rows, want.rows, spec.tolerance_percent
                        ),
                    ));
                    if spec.tolerance_percent == 0.0 {
                        out.push(result(
                            "pk-checksum",
                            table,
                            got.pk_checksum == want.pk_checksum,
                            format!(
                                "primary-key checksum {} restored, {} at snapshot time",
                                got.pk_checksum, want.pk_checksum
                            ),
                        ));
                    }
                }
            }
            None => out.push(result(
                "row-count",
                "*",
                true,
                "no fingerprint recorded at snapshot time: counts not compared".into(),
            )),
        }
        for t in self.tables().await? {
            if t.primary_key.is_empty() {
                continue;
            }
            let cond: Vec<String> = t
                .primary_key
                .iter()
                .map(|c| format!("{} IS NULL", quote(e, c)))
                .collect();
            let n = self
                .number(&format!(
                    "SELECT count(*) FROM {} WHERE {}",
                    quote(e, &t.name),
                    cond.join(" OR ")
                ))
                .await?;
            out.push(result(
                "null-primary-key",
                &t.name,
                n == 0,
                format!("{n} rows with a null primary key"),
            ));
        }
        for fk in self.foreign_keys().await? {
            let join: Vec<String> = fk
                .columns
                .iter()
                .zip(&fk.referenced_columns)
                .map(|(c, r)| format!("p.{} = c.{}", quote(e, r), quote(e, c)))
                .collect();
            let present: Vec<String> = fk
                .columns
                .iter()
                .map(|c| format!("c.{} IS NOT NULL", quote(e, c)))
                .collect();
            let sql = format!(
                "SELECT count(*) FROM {} c LEFT JOIN {} p ON {} WHERE {} AND p.{} IS NULL",
                quote(e, &fk.table),
                quote(e, &fk.references),
                join.join(" AND "),
                present.join(" AND "),
                quote(e, &fk.referenced_columns[0])
            );
            let n = self.number(&sql).await?;
            out.push(result(
                "orphaned-rows",
                &format!("{} -> {}", fk.table, fk.references),
                n == 0,
                format!(
                    "{n} rows of {} reference no {} ({})",
                    fk.table, fk.references, fk.name
                ),
            ));
        }
        if let Some((table, column, max_lag)) = &spec.freshness {
            let rows = self
                .rows(&format!(
                    "SELECT max({}) FROM {}",
                    quote(e, column),
                    quote(e, table)
                ))
                .await?;
            let newest = rows.first().and_then(|r| r.first()).cloned().flatten();
            let snapshot_at = snapshot_at.or(expected.and_then(|f| f.taken_at));
            let parsed = newest.as_deref().and_then(parse_db_time);
            let (ok, detail) = match (parsed, snapshot_at) {
                (Some(n), Some(s)) => (s - n <= *max_lag, format!("newest {table}.{column} is {n}, {} min before the snapshot (allowed {} min)", (s - n).num_minutes(), max_lag.num_minutes())),
                (None, _) => (false, format!("{table}.{column} has no value")),
                (Some(n), None) => (true, format!("newest {table}.{column} is {n}; no snapshot time to compare with")),
            };
            out.push(result(
                "freshness",
                &format!("{table}.{column}"),
                ok,
                detail,
            ));
        }
        for c in &spec.named {
            match self.number(&c.sql).await {
                Ok(n) => out.push(result(
                    "named",
                    &c.name,
                    n == c.expect,
                    format!("{n} (expected {})", c.expect),
                )),
                Err(err) => out.push(result(
                    "named",
                    &c.name,
                    false,
                    format!("query failed: {err}"),
                )),
            }
        }
        // Failing checks first.
        out.sort_by_key(|r| r.verdict == Verdict::Pass);
        Ok(out)
    }
}

/// The PEM file of CA certificates database servers are verified against.
pub const CA_BUNDLE_VAR: &str = "LIFEBOAT_DB_CA_BUNDLE";

/// The TLS configuration of SQL connections: every certificate of the bundle loaded, or an
/// error naming the file (preflight checks the bundle with this very function).
pub(crate) fn rustls_config(path: &str) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(path).map_err(|e| format!("{CA_BUNDLE_VAR} {path}: {e}"))?
    {
        let cert = cert.map_err(|e| format!("{CA_BUNDLE_VAR} {path}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("{CA_BUNDLE_VAR} {path}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{CA_BUNDLE_VAR} {path}: no certificates in it"));
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn parse_db_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z")
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_times_in_both_engines_formats() {
        for s in [
            "2026-11-21 03:00:00+00",
            "2026-11-21 03:00:00.123456+00",
            "2026-11-21 03:00:00",
            "2026-11-21T03:00:00Z",
        ] {
            assert_eq!(
                parse_db_time(s).map(|t| t.format("%Y-%m-%d %H:%M").to_string()),
                Some("2026-11-21 03:00".into()),
                "{s}"
            );
        }
    }

    #[test]
    fn identifiers_are_quoted_per_engine() {
        assert_eq!(
            quote(Engine::Postgres, "order\"items"),
            "\"order\"\"items\""
        );
        assert_eq!(quote(Engine::Mysql, "order`items"), "`order``items`");
    }

    #[test]
    fn endpoint_debug_hides_the_password() {
        let ep = Endpoint {
            engine: Engine::Postgres,
            host: "h".into(),
            port: 5432,
            database: "d".into(),
            user: "u".into(),
            password: "s3cret".into(),
            tls: false,
        };
        assert!(!format!("{ep:?}").contains("s3cret"));
    }
}
