//! HTTPS serving for the aggregated API server role: the serving certificate (from files that are
//! reloaded when they change, or self-signed), optional client certificates, and their verification.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError, RwLock, TryLockError};
use std::time::{Duration, Instant};

use axum::Router;
use chrono::{Datelike, Days, NaiveDate, Utc};
use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::connections;

/// How long a client may take to complete the TLS handshake before it is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often, at most, certificate files are read to see whether they changed.
const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// How long a self-signed certificate is valid, counted from the day before it was made.
const SELF_SIGNED_VALIDITY: Days = Days::new(366);

/// Where the serving certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSource {
    /// PEM files (e.g. a mounted Secret), reloaded when they change.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed pair generated at start for these DNS names / IP addresses.
    SelfSigned { names: Vec<String> },
}

/// What can go wrong setting up TLS or verifying a client certificate.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },

    #[error("{origin} holds no certificate: expected one or more -----BEGIN CERTIFICATE----- blocks")]
    NoCertificates { origin: String },

    #[error("{origin} holds a malformed certificate: {reason}")]
    MalformedCertificate { origin: String, reason: String },

    #[error(
        "{} holds no usable private key (expected a PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block): {reason}",
        path.display()
    )]
    PrivateKey { path: PathBuf, reason: String },

    #[error(
        "the private key in {} does not belong to the certificate in {}; give the key the certificate was issued for",
        key.display(),
        cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },

    #[error("a self-signed certificate needs at least one DNS name or IP address to be valid for")]
    NoNames,

    #[error("could not generate a self-signed certificate for {names:?}: {source}")]
    SelfSigned { names: Vec<String>, source: rcgen::Error },

    #[error("could not set up TLS: {0}")]
    Setup(rustls::Error),

    #[error("no client certificate was presented")]
    NoClientCertificate,

    #[error("no trusted client CA is configured, so no client certificate can be verified")]
    NoTrustedCa,

    #[error("the trusted CA certificates cannot be used to verify client certificates: {reason}")]
    UnusableTrustedCa { reason: String },

    #[error("the client certificate is malformed: {reason}")]
    MalformedClientCertificate { reason: String },

    #[error("the client certificate ({subject}) is not signed by a trusted CA: {reason}")]
    UntrustedClientCertificate { subject: String, reason: String },

    #[error("the client certificate ({subject}) was rejected: {reason}")]
    ClientCertificateRejected { subject: String, reason: String },

    #[error("the client certificate ({subject}) has no common name (CN), which names the user")]
    NoCommonName { subject: String },
}

/// The serving certificate, shared by all connections; cheap to clone.
#[derive(Clone)]
pub struct ServingCertificate {
    resolver: Arc<Resolver>,
    config: Arc<ServerConfig>,
}

impl fmt::Debug for ServingCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServingCertificate")
            .field("source", &self.resolver.source)
            .finish_non_exhaustive()
    }
}

impl ServingCertificate {
    /// Reads or generates the certificate and its key; fails if they are unusable.
    pub fn load(source: CertificateSource) -> Result<Self, TlsError> {
        let provider = provider();
        let (served, files) = match &source {
            CertificateSource::Files { cert, key } => {
                let cert_pem = read(cert)?;
                let key_pem = read(key)?;
                let served = certified_key_from_files(&provider, cert, &cert_pem, key, &key_pem)?;
                let watch = FileWatch {
                    cert: cert.clone(),
                    key: key.clone(),
                    checked: Instant::now(),
                    seen: (cert_pem, key_pem),
                    failure: None,
                };
                (served, Some(Mutex::new(watch)))
            }
            CertificateSource::SelfSigned { names } => (self_signed(&provider, names)?, None),
        };
        let resolver = Arc::new(Resolver {
            source,
            provider: provider.clone(),
            served: RwLock::new(Arc::new(served)),
            files,
        });
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_client_cert_verifier(Arc::new(AnyClientCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServingCertificate {
            resolver,
            config: Arc::new(config),
        })
    }

    /// PEM of the certificate currently served (for a self-signed pair this is also its CA bundle).
    pub fn certificate_pem(&self) -> String {
        self.resolver.current().pem.clone()
    }
}

/// The certificate chain a client presented in the TLS handshake, in each request's extensions.
#[derive(Clone, Debug)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

/// Serves `router` over HTTPS (HTTP/1.1 and HTTP/2 by ALPN) until `shutdown` completes, then
/// finishes in-flight requests (graceful).
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    certificate: ServingCertificate,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(certificate.config.clone());
    connections::serve(listener, router, shutdown, move |stream, remote| {
        handshake(acceptor.clone(), stream, remote)
    })
    .await
}

/// The TLS handshake of a new connection, bounded in time, and the certificates its client
/// presented.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    remote: SocketAddr,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, Option<PeerCertificates>)> {
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        // Debug only: port scanners and probes that speak no TLS are no reason to alarm anyone.
        Ok(Err(error)) => {
            tracing::debug!(%remote, %error, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!(%remote, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake did not complete in time");
            return None;
        }
    };
    let peer = stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|chain| PeerCertificates(Arc::new(chain.to_vec())));
    Some((stream, peer))
}

/// Verifies a client certificate chain against trusted CA certificates (PEM bundle parsed by the
/// caller or by [`parse_pem_certificates`]) for client authentication, and returns the leaf's
/// subject common name.
///
/// A leaf without an extended key usage extension is accepted, as kube-apiserver accepts it; one
/// whose extended key usages leave out client authentication is not.
pub fn verify_client_certificate(
    chain: &[CertificateDer<'_>],
    trusted: &[CertificateDer<'static>],
) -> Result<String, TlsError> {
    let (leaf, intermediates) = chain.split_first().ok_or(TlsError::NoClientCertificate)?;
    let parsed = X509Certificate::from_der(leaf)
        .map_err(|error| TlsError::MalformedClientCertificate {
            reason: error.to_string(),
        })?
        .1;
    let subject = parsed.subject().to_string();
    if trusted.is_empty() {
        return Err(TlsError::NoTrustedCa);
    }
    let mut roots = RootCertStore::empty();
    for (index, ca) in trusted.iter().enumerate() {
        roots.add(ca.clone()).map_err(|error| TlsError::UnusableTrustedCa {
            reason: format!("certificate #{index}: {error}"),
        })?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|error| TlsError::UnusableTrustedCa {
            reason: error.to_string(),
        })?;
    verifier
        .verify_client_cert(leaf, intermediates, UnixTime::now())
        .map_err(|error| match error {
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                TlsError::UntrustedClientCertificate {
                    subject: subject.clone(),
                    reason: format!(
                        "its issuer {} is none of the {} trusted CA certificate(s), and no chain to one was presented",
                        parsed.issuer(),
                        trusted.len()
                    ),
                }
            }
            rustls::Error::InvalidCertificate(CertificateError::BadSignature) => TlsError::UntrustedClientCertificate {
                subject: subject.clone(),
                reason: format!(
                    "its issuer {} has the name of a trusted CA certificate, but that CA's key did not sign it",
                    parsed.issuer()
                ),
            },
            other => TlsError::ClientCertificateRejected {
                subject: subject.clone(),
                reason: other.to_string(),
            },
        })?;
    // Go's crypto/x509, and so kube-apiserver, takes the last one when there are several.
    parsed
        .subject()
        .iter_common_name()
        .filter_map(|name| name.as_str().ok())
        .last()
        .map(str::to_owned)
        .ok_or(TlsError::NoCommonName { subject })
}

/// Parses every certificate in a PEM bundle; error if none or malformed.
pub fn parse_pem_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certificates_from_pem(pem.as_bytes(), &describe_pem(pem))
}

/// Names a PEM text in errors by its first line, which is a header, never key material.
fn describe_pem(pem: &str) -> String {
    match pem.lines().map(str::trim).find(|line| !line.is_empty()) {
        None => "the PEM text (empty)".to_owned(),
        Some(line) => format!("the PEM text starting {:?}", line.chars().take(64).collect::<String>()),
    }
}

fn certificates_from_pem(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::MalformedCertificate {
            origin: origin.to_owned(),
            reason: error.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificates {
            origin: origin.to_owned(),
        });
    }
    // The PEM layer only checks base64; a certificate nobody can parse would otherwise fail later,
    // far from where it came from.
    for (index, certificate) in certificates.iter().enumerate() {
        if let Err(error) = X509Certificate::from_der(certificate) {
            return Err(TlsError::MalformedCertificate {
                origin: origin.to_owned(),
                reason: format!("certificate #{index} is not X.509: {error}"),
            });
        }
    }
    Ok(certificates)
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> =
        LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A certificate with its key, ready for handshakes, and the PEM it came from.
struct Served {
    key: Arc<CertifiedKey>,
    pem: String,
}

fn certified_key_from_files(
    provider: &CryptoProvider,
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<Served, TlsError> {
    let chain = certificates_from_pem(cert_pem, &cert_path.display().to_string())?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|error| TlsError::PrivateKey {
        path: key_path.to_owned(),
        reason: error.to_string(),
    })?;
    let key = CertifiedKey::from_der(chain, key, provider).map_err(|error| match error {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
        },
        other => TlsError::PrivateKey {
            path: key_path.to_owned(),
            reason: other.to_string(),
        },
    })?;
    Ok(Served {
        key: Arc::new(key),
        pem: String::from_utf8_lossy(cert_pem).into_owned(),
    })
}

/// A self-signed certificate for `names`. It is not marked as a CA: webpki refuses a CA
/// certificate as a server's own, and Go (kube-apiserver) trusts any certificate that is itself in
/// its root pool, so the certificate serves as its own CA bundle without it.
fn self_signed(provider: &CryptoProvider, names: &[String]) -> Result<Served, TlsError> {
    let first = names.first().ok_or(TlsError::NoNames)?;
    let failed = |source| TlsError::SelfSigned {
        names: names.to_vec(),
        source,
    };
    let mut params = CertificateParams::new(names.to_vec()).map_err(failed)?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, first.as_str());
    params.distinguished_name = subject;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // From yesterday, for clients whose clock is a little behind.
    let yesterday = Utc::now().date_naive() - Days::new(1);
    // Month and day always fit: 1..=12 and 1..=31.
    let date = |day: NaiveDate| rcgen::date_time_ymd(day.year(), day.month() as u8, day.day() as u8);
    params.not_before = date(yesterday);
    params.not_after = date(yesterday + SELF_SIGNED_VALIDITY);
    let key_pair = KeyPair::generate().map_err(failed)?;
    let certificate = params.self_signed(&key_pair).map_err(failed)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let key = CertifiedKey::from_der(vec![certificate.der().clone()], key, provider).map_err(TlsError::Setup)?;
    Ok(Served {
        key: Arc::new(key),
        pem: certificate.pem(),
    })
}

/// Hands every handshake the current certificate, first rereading the files if they are due.
///
/// The files are looked at during handshakes rather than by a background task: nothing needs to
/// own or stop a task, `load` needs no runtime, nothing is read while nobody connects, and a
/// certificate is never presented more than [`RELOAD_INTERVAL`] after it was replaced. The cost is
/// reading two small files on a handshake at most once per interval.
struct Resolver {
    source: CertificateSource,
    provider: Arc<CryptoProvider>,
    served: RwLock<Arc<Served>>,
    files: Option<Mutex<FileWatch>>,
}

/// The certificate files and what was last read from them.
struct FileWatch {
    cert: PathBuf,
    key: PathBuf,
    checked: Instant,
    /// Contents rather than modification times are compared: a rewrite within the file system's
    /// timestamp resolution, or a Secret's symlink swap to files with older times, still shows.
    seen: (Vec<u8>, Vec<u8>),
    /// The last failure logged, so a lasting problem is logged once, not every interval.
    failure: Option<String>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current().key.clone())
    }
}

impl Resolver {
    fn current(&self) -> Arc<Served> {
        if let Some(files) = &self.files {
            // One handshake rereads the files; the others go on with what is served meanwhile.
            let watch = match files.try_lock() {
                Ok(watch) => Some(watch),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(mut watch) = watch
                && watch.checked.elapsed() >= RELOAD_INTERVAL
            {
                watch.checked = Instant::now();
                self.reload(&mut watch);
            }
        }
        self.served.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn reload(&self, watch: &mut FileWatch) {
        let (cert, key) = (watch.cert.clone(), watch.key.clone());
        let loaded = read(&cert).and_then(|cert_pem| Ok((cert_pem, read(&key)?)));
        let result = loaded.and_then(|(cert_pem, key_pem)| {
            if (&cert_pem, &key_pem) == (&watch.seen.0, &watch.seen.1) {
                return Ok(None);
            }
            let served = certified_key_from_files(&self.provider, &cert, &cert_pem, &key, &key_pem);
            // Remembered even when unusable, so that a broken pair is not parsed again and again;
            // the next write to either file is looked at.
            watch.seen = (cert_pem, key_pem);
            served.map(Some)
        });
        match result {
            Ok(None) => {}
            Ok(Some(served)) => {
                *self.served.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(served);
                watch.failure = None;
                tracing::info!(cert = %cert.display(), key = %key.display(), "serving certificate reloaded");
            }
            Err(error) => {
                let message = error.to_string();
                if watch.failure.as_ref() != Some(&message) {
                    tracing::warn!(
                        cert = %cert.display(),
                        key = %key.display(),
                        %error,
                        "could not reload the serving certificate; still serving the previous one"
                    );
                    watch.failure = Some(message);
                }
            }
        }
    }
}

/// Asks for a client certificate and takes any chain, checking only that the client holds the
/// leaf's private key (the handshake signature).
///
/// Which CA is trusted changes at run time (it comes from a ConfigMap), and a certificate from an
/// untrusted CA has to be answered with HTTP 401 by the application, not with a failed handshake
/// the client cannot make sense of. So the chain is verified per request, with
/// [`verify_client_certificate`].
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use rcgen::{BasicConstraints, IsCa, Issuer};
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls_pki_types::ServerName;

    use super::*;

    /// A CA for tests here and in other modules.
    pub(crate) struct TestCa {
        issuer: Issuer<'static, KeyPair>,
        pub(crate) der: CertificateDer<'static>,
        pub(crate) pem: String,
    }

    pub(crate) fn ca(name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let certificate = params.self_signed(&key).unwrap();
        TestCa {
            issuer: Issuer::new(params, key),
            der: certificate.der().clone(),
            pem: certificate.pem(),
        }
    }

    fn leaf(ca: &TestCa, common_name: &str, usage: ExtendedKeyUsagePurpose) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        params.signed_by(&key, &ca.issuer).unwrap().der().clone()
    }

    pub(crate) fn client(ca: &TestCa, common_name: &str) -> CertificateDer<'static> {
        leaf(ca, common_name, ExtendedKeyUsagePurpose::ClientAuth)
    }

    #[test]
    fn a_client_certificate_from_the_trusted_ca_yields_its_common_name() {
        let trusted = ca("front-proxy-ca");
        let chain = [client(&trusted, "front-proxy-client")];
        let name = verify_client_certificate(&chain, std::slice::from_ref(&trusted.der)).unwrap();
        assert_eq!(name, "front-proxy-client");
    }

    #[test]
    fn a_client_certificate_from_another_ca_of_the_same_name_is_untrusted() {
        let trusted = ca("front-proxy-ca");
        let impostor = ca("front-proxy-ca");
        let chain = [client(&impostor, "front-proxy-client")];
        let error = verify_client_certificate(&chain, std::slice::from_ref(&trusted.der)).unwrap_err();
        assert!(
            matches!(error, TlsError::UntrustedClientCertificate { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("not signed by a trusted CA") && message.contains("CN=front-proxy-client"),
            "{message}"
        );
    }

    #[test]
    fn a_client_certificate_from_an_unknown_ca_is_untrusted_and_the_message_names_its_issuer() {
        let trusted = ca("front-proxy-ca");
        let chain = [client(&ca("someone-else-ca"), "front-proxy-client")];
        let error = verify_client_certificate(&chain, std::slice::from_ref(&trusted.der)).unwrap_err();
        assert!(
            matches!(error, TlsError::UntrustedClientCertificate { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("CN=someone-else-ca"), "{error}");
    }

    #[test]
    fn a_certificate_meant_only_for_servers_is_refused_for_client_authentication() {
        let trusted = ca("client-ca");
        let chain = [leaf(&trusted, "alice", ExtendedKeyUsagePurpose::ServerAuth)];
        let error = verify_client_certificate(&chain, std::slice::from_ref(&trusted.der)).unwrap_err();
        assert!(matches!(error, TlsError::ClientCertificateRejected { .. }), "{error:?}");
    }

    #[test]
    fn no_chain_or_no_trusted_ca_verifies_nothing() {
        let trusted = ca("client-ca");
        let chain = [client(&trusted, "alice")];
        assert!(matches!(
            verify_client_certificate(&[], std::slice::from_ref(&trusted.der)),
            Err(TlsError::NoClientCertificate)
        ));
        assert!(matches!(
            verify_client_certificate(&chain, &[]),
            Err(TlsError::NoTrustedCa)
        ));
    }

    #[test]
    fn a_pem_bundle_yields_every_certificate_in_order() {
        let (first, second) = (ca("first"), ca("second"));
        let bundle = format!("{}\n{}", first.pem, second.pem);
        assert_eq!(parse_pem_certificates(&bundle).unwrap(), vec![first.der, second.der]);
    }

    #[test]
    fn garbage_is_no_pem_bundle() {
        let error = parse_pem_certificates("not a certificate at all").unwrap_err();
        assert!(matches!(error, TlsError::NoCertificates { .. }), "{error:?}");
        assert!(error.to_string().contains("not a certificate at all"), "{error}");
        assert!(matches!(
            parse_pem_certificates(""),
            Err(TlsError::NoCertificates { .. })
        ));
    }

    #[test]
    fn a_certificate_block_that_is_not_x509_is_malformed() {
        let bad_base64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let not_x509 = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        for pem in [bad_base64, not_x509] {
            let error = parse_pem_certificates(pem).unwrap_err();
            assert!(matches!(error, TlsError::MalformedCertificate { .. }), "{error:?}");
        }
    }

    #[test]
    fn a_self_signed_certificate_is_its_own_ca_bundle_for_each_of_its_names() {
        let names = vec!["mirrord-usage.mirrord.svc".to_owned(), "10.96.0.12".to_owned()];
        let certificate = ServingCertificate::load(CertificateSource::SelfSigned { names }).unwrap();
        let mut roots = RootCertStore::empty();
        for root in parse_pem_certificates(&certificate.certificate_pem()).unwrap() {
            roots.add(root).unwrap();
        }
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .unwrap();
        let served = certificate.resolver.current().key.cert.clone();
        let verify = |name: &str| {
            verifier.verify_server_cert(
                &served[0],
                &served[1..],
                &ServerName::try_from(name.to_owned()).unwrap(),
                &[],
                UnixTime::now(),
            )
        };
        verify("mirrord-usage.mirrord.svc").unwrap();
        verify("10.96.0.12").unwrap();
        assert!(verify("mirrord-usage.other.svc").is_err());
        assert!(verify("10.96.0.13").is_err());
    }

    #[test]
    fn a_self_signed_certificate_is_named_after_its_first_name_and_lasts_about_a_year() {
        let names = vec!["first.example".to_owned(), "second.example".to_owned()];
        let certificate = ServingCertificate::load(CertificateSource::SelfSigned { names }).unwrap();
        let der = parse_pem_certificates(&certificate.certificate_pem())
            .unwrap()
            .remove(0);
        let (_, parsed) = X509Certificate::from_der(&der).unwrap();
        let common_names: Vec<_> = parsed
            .subject()
            .iter_common_name()
            .map(|name| name.as_str().unwrap())
            .collect();
        assert_eq!(common_names, ["first.example"]);
        let validity = parsed.validity();
        let days = (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400;
        assert!((365..=367).contains(&days), "valid for {days} days");
        assert!(validity.is_valid(), "{validity:?}");
    }

    #[test]
    fn a_self_signed_certificate_needs_a_name() {
        let error = ServingCertificate::load(CertificateSource::SelfSigned { names: vec![] }).unwrap_err();
        assert!(matches!(error, TlsError::NoNames), "{error:?}");
    }
}
