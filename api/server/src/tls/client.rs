//! Client certificates: any chain is taken in the handshake, and verified per request against the
//! CA trusted at that moment.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::{TlsError, provider};

/// Verifies a client certificate chain against trusted CA certificates (PEM bundle parsed by the
/// caller or by [`parse_pem_certificates`](super::parse_pem_certificates)) for client authentication, and returns the leaf's
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

/// Asks for a client certificate and takes any chain, checking only that the client holds the
/// leaf's private key (the handshake signature).
///
/// Which CA is trusted changes at run time (it comes from a ConfigMap), and a certificate from an
/// untrusted CA has to be answered with HTTP 401 by the application, not with a failed handshake
/// the client cannot make sense of. So the chain is verified per request, with
/// [`verify_client_certificate`].
#[derive(Debug)]
pub(super) struct AnyClientCertificate {
    pub(super) algorithms: WebPkiSupportedAlgorithms,
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
mod tests {
    use rcgen::ExtendedKeyUsagePurpose;

    use super::*;
    use crate::tls::tests::{ca, client, leaf};

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
}
