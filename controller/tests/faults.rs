//! The `mirrord-usage` binary under the faults an unlucky week brings: killed with `kill -9` in
//! the middle of ingest, backed up while it writes, stopped cleanly and copied file by file,
//! restored from a backup.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mirrord_usage_store::{SqliteStore, UsageStore};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const BINARY: &str = env!("CARGO_BIN_EXE_mirrord-usage");
const KEY: &str = "faults-key";
/// Sessions per batch (each a start and an end).
const BATCH: usize = 100;

/// A server over `db`, and the address it listens on.
fn serve(db: &Path) -> (Child, String) {
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--license-key", KEY, "--db"])
        .arg(db)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    (child, address)
}

fn session_ids(batch: usize) -> Vec<String> {
    (0..BATCH).map(|index| format!("b{batch}-s{index}")).collect()
}

fn batch_body(batch: usize) -> String {
    let events: Vec<serde_json::Value> = session_ids(batch)
        .into_iter()
        .enumerate()
        .flat_map(|(index, id)| {
            let minute = (batch * BATCH + index) % (24 * 60);
            let (hour, minute) = (minute / 60, minute % 60);
            [
                serde_json::json!({
                    "type": "sessionStart", "sessionId": id, "machineId": format!("m{}", index % 13),
                    "timestamp": format!("2025-03-01T{hour:02}:{minute:02}:00Z"),
                    "target": {"kind": "Deployment", "name": "api"}, "namespace": "shop",
                }),
                serde_json::json!({
                    "type": "sessionEnd", "sessionId": id,
                    "timestamp": format!("2025-03-02T{hour:02}:{minute:02}:00Z"),
                }),
            ]
        })
        .collect();
    serde_json::json!({ "events": events }).to_string()
}

/// Posts a body; `None` if the server went away before answering.
fn post(address: &str, body: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nhost: {address}\r\nx-license-key: {KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// How many sessions of `batch` are stored whole (start and end).
fn stored(store: &SqliteStore, batch: usize) -> usize {
    let known = store.known_sessions(&session_ids(batch)).unwrap();
    assert!(
        known.values().all(|state| state.start.is_some() && state.end.is_some()),
        "batch {batch} is stored in part"
    );
    known.len()
}

#[test]
fn kill_9_in_the_middle_of_ingest_loses_no_acknowledged_batch_and_leaves_no_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let mut rng = SmallRng::seed_from_u64(9);
    let mut next_batch = 0;
    let mut acknowledged = Vec::new();
    for round in 0..6 {
        let (mut child, address) = serve(&db);
        let sent = Arc::new(Mutex::new((next_batch, Vec::new())));
        let poster = {
            let sent = sent.clone();
            std::thread::spawn(move || {
                loop {
                    let batch = sent.lock().unwrap().0;
                    match post(&address, &batch_body(batch)) {
                        Some(200) => {
                            let mut sent = sent.lock().unwrap();
                            sent.1.push(batch);
                            sent.0 += 1;
                        }
                        Some(status) => panic!("batch {batch} answered {status}"),
                        None => return,
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(rng.random_range(100..600)));
        child.kill().unwrap();
        child.wait().unwrap();
        poster.join().unwrap();
        let (in_flight, acked) = std::mem::take(&mut *sent.lock().unwrap());
        acknowledged.extend(acked);
        next_batch = in_flight + 1;

        // Opening checks the file's integrity.
        let store = SqliteStore::open(&db).unwrap();
        for &batch in &acknowledged {
            assert_eq!(
                stored(&store, batch),
                BATCH,
                "round {round}: acknowledged batch {batch} is missing"
            );
        }
        let last = stored(&store, in_flight);
        assert!(
            last == 0 || last == BATCH,
            "round {round}: batch {in_flight} is stored in part"
        );
        println!(
            "round {round}: {} batches acknowledged, batch {in_flight} in flight: {last} stored",
            acknowledged.len()
        );
    }
    assert!(
        acknowledged.len() >= 6,
        "too few batches were acknowledged to prove anything"
    );
}

#[test]
fn a_backup_taken_while_batches_arrive_is_whole_restores_and_a_clean_stop_leaves_everything_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("usage.db");
    let (mut child, address) = serve(&db);
    for batch in 0..5 {
        assert_eq!(post(&address, &batch_body(batch)), Some(200));
    }
    let writer = {
        let address = address.clone();
        std::thread::spawn(move || {
            for batch in 5..25 {
                assert_eq!(post(&address, &batch_body(batch)), Some(200));
            }
        })
    };
    let backup = dir.path().join("backup.db");
    let started = Instant::now();
    let output = Command::new(BINARY)
        .args(["backup", "--db"])
        .arg(&db)
        .arg(&backup)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("wrote "), "{stdout}");
    println!("backup in {:?}: {stdout}", started.elapsed());
    writer.join().unwrap();

    let copy = SqliteStore::open(&backup).unwrap();
    let whole: Vec<usize> = (0..25).map(|batch| stored(&copy, batch)).collect();
    assert!(whole[..5].iter().all(|&count| count == BATCH), "{whole:?}");
    assert!(whole.iter().all(|&count| count == 0 || count == BATCH), "{whole:?}");
    drop(copy);

    // SIGTERM: a clean stop moves the write-ahead log into the file, so the file alone is enough.
    let status = Command::new("kill").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let copied = dir.path().join("copied.db");
    std::fs::copy(&db, &copied).unwrap();
    let copy = SqliteStore::open(&copied).unwrap();
    for batch in 0..25 {
        assert_eq!(
            stored(&copy, batch),
            BATCH,
            "batch {batch} is not in the file after a clean stop"
        );
    }
    drop(copy);

    // Restoring over a database a server uses is refused; once it stopped, the backup replaces it.
    let (mut child, _) = serve(&db);
    let refused = Command::new(BINARY)
        .args(["restore", "--db"])
        .arg(&db)
        .arg(&backup)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("another mirrord-usage process"), "{stderr}");
    child.kill().unwrap();
    child.wait().unwrap();
    let restored = Command::new(BINARY)
        .args(["restore", "--db"])
        .arg(&db)
        .arg(&backup)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&restored.stdout);
    assert!(
        restored.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(stdout.starts_with("restored "), "{stdout}");
    assert!(
        !dir.path().join("usage.db-wal").exists(),
        "the replaced file's WAL is gone"
    );
    let store = SqliteStore::open(&db).unwrap();
    let now: Vec<usize> = (0..25).map(|batch| stored(&store, batch)).collect();
    assert_eq!(now, whole, "the database holds what the backup held");
}
