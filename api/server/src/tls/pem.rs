//! PEM bundles of certificates, checked to be X.509 where they are read so that errors name where
//! they came from.

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::TlsError;

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

pub(super) fn certificates_from_pem(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::tests::ca;

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
}
