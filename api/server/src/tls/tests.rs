//! Certificate authorities and client certificates for tests here and in other modules.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;

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

pub(crate) fn leaf(ca: &TestCa, common_name: &str, usage: ExtendedKeyUsagePurpose) -> CertificateDer<'static> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![usage];
    params.signed_by(&key, &ca.issuer).unwrap().der().clone()
}

pub(crate) fn client(ca: &TestCa, common_name: &str) -> CertificateDer<'static> {
    leaf(ca, common_name, ExtendedKeyUsagePurpose::ClientAuth)
}
