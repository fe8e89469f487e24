//! The serving certificate: read from PEM files and reread when they change, or self-signed, and
//! handed to every handshake.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, TryLockError};
use std::time::{Duration, Instant};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use super::client::AnyClientCertificate;
use super::pem::certificates_from_pem;
use super::self_signed::self_signed;
use super::{CertificateSource, TlsError, provider};

/// How often, at most, certificate files are read to see whether they changed.
const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The serving certificate, shared by all connections; cheap to clone.
#[derive(Clone)]
pub struct ServingCertificate {
    pub(super) resolver: Arc<Resolver>,
    pub(super) config: Arc<ServerConfig>,
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

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A certificate with its key, ready for handshakes, and the PEM it came from.
pub(super) struct Served {
    pub(super) key: Arc<CertifiedKey>,
    pub(super) pem: String,
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

/// Hands every handshake the current certificate, first rereading the files if they are due.
///
/// The files are looked at during handshakes rather than by a background task: nothing needs to
/// own or stop a task, `load` needs no runtime, nothing is read while nobody connects, and a
/// certificate is never presented more than [`RELOAD_INTERVAL`] after it was replaced. The cost is
/// reading two small files on a handshake at most once per interval.
pub(super) struct Resolver {
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
    pub(super) fn current(&self) -> Arc<Served> {
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
