//! HTTPS serving for the aggregated API server role: the serving certificate (from files that are
//! reloaded when they change, or self-signed), optional client certificates, and their verification.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use rustls::crypto::CryptoProvider;
use rustls_pki_types::CertificateDer;

mod accept;
mod client;
mod pem;
mod self_signed;
mod serving;
#[cfg(test)]
pub(crate) mod tests;

pub use accept::serve_tls;
pub use client::verify_client_certificate;
pub use pem::parse_pem_certificates;
pub use serving::ServingCertificate;

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

/// The certificate chain a client presented in the TLS handshake, in each request's extensions.
#[derive(Clone, Debug)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> =
        LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}
