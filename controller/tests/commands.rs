//! The `mirrord-usage` binary as a person runs it: what it refuses and what it prints.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_mirrord-usage");

#[test]
fn serve_without_a_license_key_refuses_to_start_and_says_how_to_set_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("usage.db"))
        .env_remove("MIRRORD_USAGE_LICENSE_KEY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--license-key") && stderr.contains("MIRRORD_USAGE_LICENSE_KEY"),
        "{stderr}"
    );
}

#[test]
fn a_second_server_on_the_same_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let mut first = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--license-key", "k", "--db"])
        .arg(&db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    let second = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--license-key", "k", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another mirrord-usage process is using"), "{stderr}");
}

#[test]
fn the_demo_prints_a_dashboard_address_and_a_curl_line_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Command::new(BINARY)
        .args(["demo", "--listen", "127.0.0.1:0", "--seed", "1", "--db"])
        .arg(dir.path().join("demo.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(demo.stderr.take().unwrap()).lines();
    let started = Instant::now();
    let mut url = None;
    let mut curl = None;
    for line in stderr.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("Open the dashboard:") {
            url = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("Or ask the API:") {
            curl = Some(rest.trim().to_owned());
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the demo did not start");
    }
    // Keep reading what it says, as a terminal would.
    std::thread::spawn(move || stderr.for_each(drop));
    let url = url.expect("an address to open");
    let curl = curl.expect("a curl line");
    assert!(url.contains("/?key="), "{url}");
    // The curl line is run as printed.
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{curl} --silent --fail"))
        .output()
        .unwrap();
    demo.kill().unwrap();
    demo.wait().unwrap();
    assert!(
        output.status.success(),
        "{curl}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["generalMetrics"]["tier"], "Enterprise");
    assert!(
        report["allTimeMetrics"]["totalSessionCount"].as_u64().unwrap() > 10_000,
        "{}",
        report["allTimeMetrics"]
    );
    assert!(report["generalMetrics"]["activeUsers"].as_u64().unwrap() > 50);
}

#[test]
fn a_retention_is_shown_in_the_metrics_and_a_wrong_one_is_refused_saying_how_to_write_it() {
    use std::io::{Read, Write};

    let dir = tempfile::tempdir().unwrap();
    let wrong = Command::new(BINARY)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--license-key",
            "k",
            "--retention",
            "3 months",
        ])
        .arg("--db")
        .arg(dir.path().join("usage.db"))
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("e.g. 400d"), "{stderr}");

    let mut server = Command::new(BINARY)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--license-key",
            "k",
            "--retention",
            "400d",
            "--db",
        ])
        .arg(dir.path().join("usage.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line.trim().strip_prefix("listening on http://").unwrap().to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(answer.contains("mirrord_usage_retention_seconds 34560000"), "{answer}");
    assert!(answer.contains("mirrord_usage_sessions_archived_total 0"), "{answer}");
}
