//! Redis over TLS against a real server: a second `redis-server` with `--tls-port` on a free
//! loopback port, its certificate made here by `openssl` from a throwaway CA. The AUTH token
//! crosses only a verified TLS connection; a client trusting another CA, or talking in the
//! clear, gets nothing. And Redis errors that echo a key name do not reach a report.
// Test code: a failed setup step should stop the test where it happened.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use lifeboat_shared::data::redis::{self as cache, RedisEndpoint};
use lifeboat_shared::data::{Credentials, Target};

const TOKEN: &str = "lifeboat-test-auth-token-0123456789";

/// A redis-server this test started; stopped (by its own process id) when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>.crt`, `<name>.key`) of its own.
fn ca(dir: &Path, name: &str) -> PathBuf {
    let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "1",
            "-subj",
            &format!("/CN=Lifeboat test {name}"),
        ],
    );
    dir.join(crt)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TLS-only Redis (plain port off) with a certificate for `localhost` signed by `ca`, AUTH
/// required; `extra` are more configuration directives.
fn tls_server(extra: &[&str]) -> (Server, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "lifeboat-redis-tls-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let trusted = ca(&dir, "ca");
    let other = ca(&dir, "other-ca");
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
    let port = free_port();
    let port_s = port.to_string();
    let mut args: Vec<&str> = vec![
        "--port",
        "0",
        "--tls-port",
        &port_s,
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        "server.crt",
        "--tls-key-file",
        "server.key",
        "--tls-ca-cert-file",
        "ca.crt",
        "--tls-auth-clients",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--requirepass",
        TOKEN,
    ];
    args.extend_from_slice(extra);
    let child = Command::new("redis-server")
        .args(&args)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs (scripts/tools.sh databases installs it)");
    let server = Server { child, port, dir };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, trusted, other);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("redis-server with --tls-port {port} did not start");
}

fn endpoint(port: u16, tls: bool, ca_bundle: Option<PathBuf>) -> RedisEndpoint {
    RedisEndpoint {
        host: "localhost".into(),
        port,
        db: 0,
        username: String::new(),
        password: TOKEN.into(),
        tls,
        ca_bundle,
    }
}

#[tokio::test]
async fn a_verified_tls_connection_works_and_a_wrong_ca_or_the_clear_gets_nothing() {
    let (server, trusted, other) = tls_server(&[]);

    // Verified against the CA that signed the server's certificate: connected, authenticated.
    let fp = cache::fingerprint(
        &endpoint(server.port, true, Some(trusted.clone())),
        Utc::now(),
    )
    .await
    .expect("a verified TLS connection");
    assert_eq!(fp.keys, 0);

    // Another CA: the handshake is refused, and the error says it is the certificate.
    let e = cache::fingerprint(&endpoint(server.port, true, Some(other)), Utc::now())
        .await
        .unwrap_err();
    assert!(
        e.to_lowercase().contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );
    assert!(!e.contains(TOKEN), "{e}");

    // The system's roots do not know the throwaway CA either.
    let e = cache::fingerprint(&endpoint(server.port, true, None), Utc::now())
        .await
        .unwrap_err();
    assert!(!e.contains(TOKEN), "{e}");

    // In the clear, to the TLS port: nothing.
    let e = cache::fingerprint(&endpoint(server.port, false, None), Utc::now())
        .await
        .unwrap_err();
    assert!(!e.contains(TOKEN), "{e}");

    // The endpoint built as the functions build it: TLS unless the server is mapped locally.
    let creds = Credentials {
        username: String::new(),
        password: TOKEN.into(),
    };
    let aws = Target {
        host: "localhost".into(),
        port: server.port,
        mapped: false,
    };
    let ep = RedisEndpoint::new(&aws, &creds, true);
    assert!(ep.tls, "database.tls (default true) means TLS");
    assert!(format!("{ep:?}").starts_with("rediss://"));
    assert!(!format!("{ep:?}").contains(TOKEN));
    assert!(!RedisEndpoint::new(&aws, &creds, false).tls);
    let mapped = Target {
        mapped: true,
        ..aws
    };
    assert!(!RedisEndpoint::new(&mapped, &creds, true).tls);
    drop(server);
}

#[tokio::test]
async fn redis_errors_and_check_lines_carry_no_key_names() {
    // Given a server that refuses DUMP (Redis then echoes the command's first arguments: the
    // key name), holding keys named after customers
    let (server, trusted, _) = tls_server(&["--rename-command", "DUMP", ""]);
    let ep = endpoint(server.port, true, Some(trusted));
    let client = redis::Client::build_with_tls(
        format!("rediss://:{TOKEN}@localhost:{}/0", server.port).as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(ep.ca_bundle.as_ref().unwrap()).unwrap()),
        },
    )
    .unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    for who in ["alice@example.com", "bob@example.com"] {
        redis::cmd("SET")
            .arg(format!("session:{who}"))
            .arg("cart")
            .query_async::<()>(&mut c)
            .await
            .unwrap();
    }
    // When a restored copy is verified
    let e = cache::verify(&ep, None, 0.0, 10).await.unwrap_err();
    // Then the error says which step failed, never which key
    assert!(e.starts_with("DUMP of sampled key 1 of 2"), "{e}");
    assert!(!e.contains("example.com") && !e.contains("session:"), "{e}");
}
