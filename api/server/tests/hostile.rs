//! What hostile or careless clients send, through a real server over a real SQLite file:
//! formulas in exported names, bodies that are cut short, rejections that must all be counted.

mod common;

use common::{KEY, TestServer, end, start};
use serde_json::json;

const NOW: &str = "2026-11-20T12:00:00Z";

#[tokio::test]
async fn names_that_look_like_formulas_are_exported_as_text() {
    use calamine::{Reader, Xlsx};

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("usage.db"), NOW).await;
    let names = [
        "=HYPERLINK(\"http://evil\",\"x\")",
        "+cmd|' /C calc'!A0",
        "@SUM(A1:A9)",
        "-1+1",
    ];
    let mut events = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let id = format!("s{index}");
        events.push(start(&id, "2026-11-02T09:00:00Z", name));
        events.push(end(&id, "2026-11-02T10:00:00Z"));
    }
    let (status, _) = server.post_events(json!(events)).await;
    assert_eq!(status, 200);
    let range = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";

    let (status, _, body) = server
        .get_bytes(&format!("/api/v1/reports/usage?format=csv&{range}"))
        .await;
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(body.as_slice());
    for row in reader.records() {
        let row = row.unwrap();
        for cell in row.iter().take(4) {
            assert!(cell.starts_with('\''), "a formula left as is in the CSV: {cell}");
        }
    }

    let (status, _, body) = server
        .get_bytes(&format!("/api/v1/reports/usage?format=xlsx&{range}"))
        .await;
    assert_eq!(status, 200);
    let mut workbook: Xlsx<_> = Xlsx::new(std::io::Cursor::new(body)).unwrap();
    let users = workbook.worksheet_range("Users").unwrap();
    assert_eq!(users.rows().count(), names.len() + 1);
    for row in users.rows().skip(1) {
        for cell in &row[..4] {
            assert!(
                cell.to_string().starts_with('\''),
                "a formula left as is in the XLSX: {cell}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_body_cut_short_is_a_bad_request_and_every_rejection_is_counted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("usage.db"), NOW).await;
    let address = server.base.trim_start_matches("http://").to_owned();

    // Announces 1000 bytes, sends 10 and stops sending.
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nhost: x\r\nx-license-key: {KEY}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"events\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let bad_bodies = [
        "not json".to_owned(),
        "{\"events\":[{\"type\":\"sessionEnd\",\"sessionId\":\"a\",\"timestamp\":\"2026-1-1T0:0:0Z\"}]}".to_owned(),
    ];
    for body in &bad_bodies {
        let response = server
            .client
            .post(format!("{}/api/v1/events", server.base))
            .header("x-license-key", KEY)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
    }
    // And one the store refuses.
    let (status, _) = server
        .post_events(json!([
            start("a", "2026-11-02T09:00:00Z", "m"),
            end("a", "2026-11-02T08:00:00Z")
        ]))
        .await;
    assert_eq!(status, 400);

    let metrics = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    let text = metrics.text().await.unwrap();
    assert!(text.contains("mirrord_usage_ingest_batches_rejected_total 4"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn clients_that_send_headers_slowly_are_closed_while_others_are_served() {
    use mirrord_usage_server::connections::HEADER_TIMEOUT;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("usage.db"), NOW).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        slow.push(stream);
    }
    let started = std::time::Instant::now();
    let health = server
        .client
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // Every slow client is closed once its time to send headers is up.
    for mut stream in slow {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(HEADER_TIMEOUT * 2, stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "a slow client was kept past {HEADER_TIMEOUT:?}");
    }
    println!("200 slow clients closed after {:?}", started.elapsed());
    server.stop().await;
}

#[tokio::test]
async fn a_damaged_database_is_refused_with_how_to_restore() {
    use mirrord_usage_store::Error;
    use mirrord_usage_store::{SqliteStore, UsageStore};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.db");
    let server = TestServer::start(&path, NOW).await;
    let events: Vec<_> = (0..300)
        .flat_map(|index| {
            let id = format!("session-{index}");
            [
                start(&id, "2026-11-02T09:00:00Z", &format!("machine-{index}")),
                end(&id, "2026-11-02T10:00:00Z"),
            ]
        })
        .collect();
    assert_eq!(server.post_events(json!(events)).await.0, 200);
    let ready = server
        .client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    server.stop().await;

    // Everything is in the file once the last connection closes; then one page is zeroed.
    SqliteStore::open(&path).unwrap().close().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() >= 8 * 4096, "{} bytes", bytes.len());
    bytes[4 * 4096..5 * 4096].fill(0);
    std::fs::write(&path, bytes).unwrap();

    let error = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(error, Error::Damaged { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("restore the latest backup") && message.contains("operations.md"),
        "{message}"
    );
}
