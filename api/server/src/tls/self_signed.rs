//! Self-signed serving certificates, generated at start when no files are given.

use std::sync::Arc;

use chrono::{Datelike, Days, NaiveDate, Utc};
use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::TlsError;
use super::serving::Served;

/// How long a self-signed certificate is valid, counted from the day before it was made.
const SELF_SIGNED_VALIDITY: Days = Days::new(366);

/// A self-signed certificate for `names`. It is not marked as a CA: webpki refuses a CA
/// certificate as a server's own, and Go (kube-apiserver) trusts any certificate that is itself in
/// its root pool, so the certificate serves as its own CA bundle without it.
pub(super) fn self_signed(provider: &CryptoProvider, names: &[String]) -> Result<Served, TlsError> {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::RootCertStore;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls_pki_types::{ServerName, UnixTime};
    use x509_parser::certificate::X509Certificate;
    use x509_parser::prelude::FromDer;

    use crate::tls::{CertificateSource, ServingCertificate, TlsError, parse_pem_certificates, provider};

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
