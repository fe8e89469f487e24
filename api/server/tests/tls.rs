//! HTTPS on a real server on a free port: the served certificate, client certificates handed to
//! handlers, certificates reloaded from files, and what the accept loop survives.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Router};
use mirrord_usage_server::tls::{
    self, CertificateSource, PeerCertificates, ServingCertificate, TlsError, parse_pem_certificates,
    verify_client_certificate,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use reqwest::tls::TlsInfo;
use reqwest::{Certificate, Identity, Version};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Longest any awaited change may take; the server rereads files every 2 seconds.
const DEADLINE: Duration = Duration::from_secs(20);
/// Pause between attempts while waiting for a change.
const POLL: Duration = Duration::from_millis(50);

/// What the test handlers share.
#[derive(Clone)]
struct Handlers {
    trusted_client_ca: Vec<CertificateDer<'static>>,
    /// Lets a test hold a request in its handler.
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

fn router(trusted_client_ca: Vec<CertificateDer<'static>>) -> (Router, Handlers) {
    let handlers = Handlers {
        trusted_client_ca,
        entered: Arc::new(Notify::new()),
        release: Arc::new(Notify::new()),
    };
    let router = Router::new()
        .route("/whoami", get(whoami))
        .route("/verified", get(verified))
        .route("/slow", get(slow))
        .with_state(handlers.clone());
    (router, handlers)
}

/// The CN of the presented leaf, unverified, or "none".
async fn whoami(peer: Option<Extension<PeerCertificates>>) -> String {
    match peer {
        None => "none".to_owned(),
        Some(Extension(PeerCertificates(chain))) => {
            let (_, leaf) = X509Certificate::from_der(&chain[0]).expect("a parsable client certificate");
            let name = leaf.subject().iter_common_name().next().expect("a CN");
            name.as_str().unwrap().to_owned()
        }
    }
}

/// The CN of a client certificate verified against the trusted CA, or 401.
async fn verified(State(handlers): State<Handlers>, peer: Option<Extension<PeerCertificates>>) -> (StatusCode, String) {
    let chain = peer
        .map(|Extension(PeerCertificates(chain))| chain.to_vec())
        .unwrap_or_default();
    match verify_client_certificate(&chain, &handlers.trusted_client_ca) {
        Ok(name) => (StatusCode::OK, name),
        Err(error) => (StatusCode::UNAUTHORIZED, error.to_string()),
    }
}

async fn slow(State(handlers): State<Handlers>) -> &'static str {
    handlers.entered.notify_one();
    handlers.release.notified().await;
    "finished"
}

/// A running HTTPS server.
struct Server {
    addr: SocketAddr,
    handlers: Handlers,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(certificate: ServingCertificate, trusted_client_ca: Vec<CertificateDer<'static>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (router, handlers) = router(trusted_client_ca);
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(tls::serve_tls(listener, router, certificate, shutdown));
        Server {
            addr,
            handlers,
            stop,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// A client that trusts exactly `roots` (PEM), presenting `identity` if given.
fn client(roots: &[&str], identity: Option<&Identity>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .tls_info(true)
        .timeout(Duration::from_secs(5));
    for root in roots {
        builder = builder.add_root_certificate(Certificate::from_pem(root.as_bytes()).unwrap());
    }
    if let Some(identity) = identity {
        builder = builder.identity(identity.clone());
    }
    builder.build().unwrap()
}

async fn get_text(client: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let response = client.get(url).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The DER of the certificate the server presents to a new connection.
async fn presented(server: &Server, roots: &[&str]) -> Vec<u8> {
    let response = client(roots, None).get(server.url("/whoami")).send().await.unwrap();
    let info = response.extensions().get::<TlsInfo>().expect("TLS info");
    info.peer_certificate().expect("a server certificate").to_vec()
}

fn self_signed(names: &[&str]) -> ServingCertificate {
    let names = names.iter().map(|name| name.to_string()).collect();
    ServingCertificate::load(CertificateSource::SelfSigned { names }).unwrap()
}

/// A certificate and its key as PEM files would hold them.
struct Pair {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn pair(names: &[&str]) -> Pair {
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let generated = rcgen::generate_simple_self_signed(names).unwrap();
    Pair {
        cert_pem: generated.cert.pem(),
        key_pem: generated.signing_key.serialize_pem(),
        der: generated.cert.der().to_vec(),
    }
}

struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
}

fn ca(name: &str) -> TestCa {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let certificate = params.self_signed(&key).unwrap();
    TestCa {
        issuer: Issuer::new(params, key),
        der: certificate.der().clone(),
    }
}

/// A client identity (certificate and key, PEM) with CN `name`, signed by `ca`.
fn identity(ca: &TestCa, name: &str) -> Identity {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let certificate = params.signed_by(&key, &ca.issuer).unwrap();
    Identity::from_pem(format!("{}{}", certificate.pem(), key.serialize_pem()).as_bytes()).unwrap()
}

struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        Files { _dir: dir, cert, key }
    }

    fn write(&self, cert_pem: &str, key_pem: &str) {
        write(&self.cert, cert_pem);
        write(&self.key, key_pem);
    }

    fn source(&self) -> CertificateSource {
        CertificateSource::Files {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap();
}

/// Polls `check` until it returns true, failing the test after [`DEADLINE`].
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < DEADLINE, "{what} did not happen within {DEADLINE:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// The log lines written while it is installed (on this thread).
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_client_that_trusts_the_self_signed_certificate_reaches_the_server_over_http1_and_http2() {
    let certificate = self_signed(&["localhost", "127.0.0.1"]);
    let server = Server::start(certificate.clone(), vec![]).await;
    let roots = [certificate.certificate_pem()];
    let roots = [roots[0].as_str()];

    let response = client(&roots, None).get(server.url("/whoami")).send().await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2, "h2 is offered by ALPN");
    assert_eq!(response.text().await.unwrap(), "none");

    let http1 = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(Certificate::from_pem(roots[0].as_bytes()).unwrap())
        .http1_only()
        .build()
        .unwrap();
    let response = http1.get(server.url("/whoami")).send().await.unwrap();
    assert_eq!(response.version(), Version::HTTP_11);
    assert_eq!(response.text().await.unwrap(), "none");

    let by_name = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(Certificate::from_pem(roots[0].as_bytes()).unwrap())
        .resolve("localhost", server.addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/whoami", server.addr.port());
    assert_eq!(get_text(&by_name, &url).await, (StatusCode::OK, "none".to_owned()));

    let other = self_signed(&["localhost", "127.0.0.1"]).certificate_pem();
    let distrustful = client(&[&other], None);
    assert!(
        distrustful.get(server.url("/whoami")).send().await.is_err(),
        "a client that does not trust the certificate must not get through"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_handler_sees_the_client_certificate_when_one_is_presented_and_none_otherwise() {
    let certificate = self_signed(&["127.0.0.1"]);
    let client_ca = ca("client-ca");
    let server = Server::start(certificate.clone(), vec![client_ca.der.clone()]).await;
    let roots = certificate.certificate_pem();

    let alice = client(&[&roots], Some(&identity(&client_ca, "alice")));
    assert_eq!(
        get_text(&alice, &server.url("/whoami")).await,
        (StatusCode::OK, "alice".into())
    );
    assert_eq!(
        get_text(&alice, &server.url("/verified")).await,
        (StatusCode::OK, "alice".into())
    );

    let anonymous = client(&[&roots], None);
    assert_eq!(
        get_text(&anonymous, &server.url("/whoami")).await,
        (StatusCode::OK, "none".into())
    );
    let (status, message) = get_text(&anonymous, &server.url("/verified")).await;
    assert_eq!(
        (status, message.as_str()),
        (StatusCode::UNAUTHORIZED, "no client certificate was presented")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_client_certificate_from_an_untrusted_ca_completes_the_handshake_and_gets_401() {
    let certificate = self_signed(&["127.0.0.1"]);
    let client_ca = ca("client-ca");
    let server = Server::start(certificate.clone(), vec![client_ca.der.clone()]).await;

    let impostor = client(
        &[&certificate.certificate_pem()],
        Some(&identity(&ca("client-ca"), "alice")),
    );
    assert_eq!(
        get_text(&impostor, &server.url("/whoami")).await,
        (StatusCode::OK, "alice".into())
    );
    let (status, message) = get_text(&impostor, &server.url("/verified")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(message.contains("not signed by a trusted CA"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn failed_handshakes_and_idle_clients_do_not_stop_the_server() {
    let certificate = self_signed(&["127.0.0.1"]);
    let server = Server::start(certificate.clone(), vec![]).await;
    let roots = certificate.certificate_pem();

    // While a client sits in the handshake, others are served.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    let anonymous = client(&[&roots], None);
    assert_eq!(
        get_text(&anonymous, &server.url("/whoami")).await,
        (StatusCode::OK, "none".into())
    );

    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(DEADLINE, plain.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "a connection that speaks no TLS should be closed");
    assert!(!answer.starts_with(b"HTTP/"), "plain HTTP must not be answered");
    let fresh = client(&[&roots], None);
    assert_eq!(
        get_text(&fresh, &server.url("/whoami")).await,
        (StatusCode::OK, "none".into())
    );

    // The idle client is dropped when the handshake timeout runs out.
    let mut buffer = [0; 1];
    let read = tokio::time::timeout(DEADLINE, idle.read(&mut buffer)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the idle connection should have been closed: {read:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish_and_accepts_no_more() {
    let certificate = self_signed(&["127.0.0.1"]);
    let server = Server::start(certificate.clone(), vec![]).await;
    let roots = certificate.certificate_pem();
    let url = server.url("/slow");
    let in_flight = tokio::spawn({
        let client = client(&[&roots], None);
        async move { get_text(&client, &url).await }
    });
    tokio::time::timeout(DEADLINE, server.handlers.entered.notified())
        .await
        .expect("the request reaching its handler");

    let (addr, release) = (server.addr, server.handlers.release.clone());
    let stopping = tokio::spawn(server.stop());
    // Not in any hurry: the listener closes at once, the request is let finish whenever.
    eventually("the listener closing", || async {
        TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert!(!stopping.is_finished(), "shutdown must wait for the request in flight");

    release.notify_one();
    assert_eq!(in_flight.await.unwrap(), (StatusCode::OK, "finished".into()));
    stopping.await.unwrap();
}

#[tokio::test]
async fn replaced_certificate_files_are_served_to_new_connections() {
    let files = Files::new();
    let (old, new) = (pair(&["127.0.0.1", "old.test"]), pair(&["127.0.0.1", "new.test"]));
    files.write(&old.cert_pem, &old.key_pem);
    let certificate = ServingCertificate::load(files.source()).unwrap();
    let server = Server::start(certificate.clone(), vec![]).await;
    let roots = [old.cert_pem.as_str(), new.cert_pem.as_str()];
    assert_eq!(presented(&server, &roots).await, old.der);

    files.write(&new.cert_pem, &new.key_pem);
    eventually("the new certificate being served", || async {
        presented(&server, &roots).await == new.der
    })
    .await;
    assert_eq!(certificate.certificate_pem(), new.cert_pem);
    server.stop().await;
}

#[tokio::test]
async fn broken_files_after_start_keep_the_previous_certificate_until_a_good_pair_arrives() {
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_ansi(false)
        .finish();
    // This test runs on one thread, server included, so the subscriber sees the server's logs.
    let _logging = tracing::subscriber::set_default(subscriber);

    let files = Files::new();
    let (old, new) = (pair(&["127.0.0.1"]), pair(&["127.0.0.1"]));
    files.write(&old.cert_pem, &old.key_pem);
    let certificate = ServingCertificate::load(files.source()).unwrap();
    let server = Server::start(certificate.clone(), vec![]).await;
    let roots = [old.cert_pem.as_str(), new.cert_pem.as_str()];

    // A certificate file caught half-written.
    write(&files.cert, &new.cert_pem[..new.cert_pem.len() / 2]);
    eventually("a failed reload of the half-written file", || async {
        assert_eq!(presented(&server, &roots).await, old.der);
        logs.text().contains("could not reload the serving certificate")
    })
    .await;
    assert!(
        logs.text().contains(&files.cert.display().to_string()),
        "{}",
        logs.text()
    );

    // The new certificate in place, its key not yet.
    write(&files.cert, &new.cert_pem);
    eventually("a failed reload of the mismatched pair", || async {
        assert_eq!(presented(&server, &roots).await, old.der);
        logs.text().contains("does not belong to the certificate")
    })
    .await;
    assert_eq!(certificate.certificate_pem(), old.cert_pem);

    write(&files.key, &new.key_pem);
    eventually("the new certificate being served", || async {
        presented(&server, &roots).await == new.der
    })
    .await;
    server.stop().await;
}

#[test]
fn unusable_files_at_start_are_refused_naming_the_file() {
    let files = Files::new();
    let (one, other) = (pair(&["127.0.0.1"]), pair(&["127.0.0.1"]));
    let load_error = |cert_pem: &str, key_pem: &str| {
        files.write(cert_pem, key_pem);
        ServingCertificate::load(files.source()).unwrap_err()
    };
    let (cert, key) = (files.cert.display().to_string(), files.key.display().to_string());

    let error = load_error(&one.cert_pem, &other.key_pem);
    assert!(matches!(error, TlsError::KeyMismatch { .. }), "{error:?}");
    assert!(error.to_string().contains(&key), "{error}");

    let error = load_error(&one.cert_pem, "not a key");
    assert!(matches!(error, TlsError::PrivateKey { .. }), "{error:?}");
    assert!(error.to_string().contains(&key), "{error}");

    let error = load_error("not a certificate", &one.key_pem);
    assert!(matches!(error, TlsError::NoCertificates { .. }), "{error:?}");
    assert!(error.to_string().contains(&cert), "{error}");

    let missing = files.cert.with_file_name("missing.crt");
    let error = ServingCertificate::load(CertificateSource::Files {
        cert: missing.clone(),
        key: files.key.clone(),
    })
    .unwrap_err();
    assert!(matches!(error, TlsError::Read { .. }), "{error:?}");
    assert!(error.to_string().contains(&missing.display().to_string()), "{error}");
}

#[test]
fn the_served_pem_parses_back_to_one_certificate() {
    let certificate = self_signed(&["127.0.0.1"]);
    assert_eq!(parse_pem_certificates(&certificate.certificate_pem()).unwrap().len(), 1);
}
