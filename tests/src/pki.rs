//! The control plane's certificates and keys (ECDSA P-256, generated instantly with rcgen) as
//! PEM files for kube-apiserver, and client certificates minted on demand for any user.
//!
//! Three separate CAs, each for one purpose, so that a certificate used in the wrong place
//! fails loudly instead of working by accident:
//! - the server CA signs kube-apiserver's serving certificate (127.0.0.1 and localhost);
//! - the client CA signs users' client certificates (`--client-ca-file`);
//! - the front-proxy CA signs `front-proxy-client`, the certificate kube-apiserver presents
//!   when it proxies to an aggregated API server (`--requestheader-client-ca-file`).
//!
//! [`TestCa`] is a CA of a test's own: for an aggregated API server's serving certificate, a
//! rotated front-proxy CA, or a foreign CA whose certificates must be refused.

use std::{
    fmt,
    fs::{self, OpenOptions},
    io::Write as _,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SigningKey as _,
};

use crate::{
    error::{Error, IoContext as _, Result},
    user::User,
};

/// The CN kube-apiserver's `--requestheader-allowed-names` accepts from the front proxy.
pub const FRONT_PROXY_CLIENT: &str = "front-proxy-client";

/// X.509 `organizationName`, the attribute Kubernetes reads a user's groups from.
const ORGANIZATION_NAME: &[u64] = &[2, 5, 4, 10];
/// X.509 `commonName`, the attribute Kubernetes reads the user name from.
const COMMON_NAME: &[u64] = &[2, 5, 4, 3];

/// Certificates and keys in a directory; see the module documentation for what each CA is for.
pub struct Pki {
    dir: PathBuf,
    server_ca: TestCa,
    client_ca: TestCa,
    admin: ClientIdentity,
    front_proxy: ClientIdentity,
}

/// A certificate and its private key, both PEM: a client certificate, or a serving one from
/// [`TestCa::serving_identity`].
#[derive(Clone)]
pub struct ClientIdentity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Pki {
    /// Generates every CA, the serving and front-proxy certificates, the admin certificate
    /// and the service-account key pair, and writes them into `dir` (created if missing).
    pub fn generate(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))?;
        let write = |name: &str, contents: &str| write_file(&dir.join(name), contents);

        let server_ca = TestCa::new("mirrord-usage-test-server-ca")?;
        let client_ca = TestCa::new("mirrord-usage-test-client-ca")?;
        let front_proxy_ca = TestCa::new("mirrord-usage-test-front-proxy-ca")?;

        let server = server_ca.serving_certificate("kube-apiserver", &["127.0.0.1", "localhost"])?;
        let admin = client_ca.client_identity(&User::admin())?;
        let front_proxy = front_proxy_ca.client_identity(&User::named(FRONT_PROXY_CLIENT))?;

        // kube-apiserver's --service-account-key-file rejects a PKCS#8 private key, so the
        // public half goes into a file of its own; the signing-key flag accepts PKCS#8.
        let service_account = KeyPair::generate()?;

        write("server-ca.crt", server_ca.cert_pem())?;
        write("client-ca.crt", client_ca.cert_pem())?;
        write("front-proxy-ca.crt", front_proxy_ca.cert_pem())?;
        write("apiserver.crt", &server.cert_pem)?;
        write("apiserver.key", &server.key_pem)?;
        write("admin.crt", &admin.cert_pem)?;
        write("admin.key", &admin.key_pem)?;
        write("front-proxy-client.crt", &front_proxy.cert_pem)?;
        write("front-proxy-client.key", &front_proxy.key_pem)?;
        write("sa.pub", &service_account.public_key_pem())?;
        write("sa.key", &service_account.serialize_pem())?;

        Ok(Self {
            dir: dir.to_owned(),
            server_ca,
            client_ca,
            admin,
            front_proxy,
        })
    }

    /// Mints a client certificate for `user`, signed by the client CA: CN is the user name,
    /// one O attribute per group.
    pub fn client_identity(&self, user: &User) -> Result<ClientIdentity> {
        self.client_ca.client_identity(user)
    }

    /// The identity in `admin.crt` and `admin.key`.
    pub fn admin_identity(&self) -> &ClientIdentity {
        &self.admin
    }

    /// The certificate kube-apiserver presents to aggregated API servers (CN
    /// [`FRONT_PROXY_CLIENT`], signed by the front-proxy CA), e.g. for a test that calls an
    /// aggregated server directly the way kube-apiserver does.
    pub fn front_proxy_identity(&self) -> &ClientIdentity {
        &self.front_proxy
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server CA certificate as PEM (what a kubeconfig's `certificate-authority` holds).
    pub fn server_ca_pem(&self) -> &str {
        self.server_ca.cert_pem()
    }

    /// The server CA certificate as DER (what `kube::Config::root_cert` holds).
    pub fn server_ca_der(&self) -> &[u8] {
        self.server_ca.cert_der()
    }

    /// The CA that signed kube-apiserver's serving certificate.
    pub fn server_ca_cert(&self) -> PathBuf {
        self.dir.join("server-ca.crt")
    }

    /// The CA kube-apiserver trusts for client certificates (`--client-ca-file`).
    pub fn client_ca_cert(&self) -> PathBuf {
        self.dir.join("client-ca.crt")
    }

    /// The CA of the front proxy (`--requestheader-client-ca-file`): an aggregated API server
    /// trusts requests that kube-apiserver forwards with a certificate signed by it.
    pub fn front_proxy_ca_cert(&self) -> PathBuf {
        self.dir.join("front-proxy-ca.crt")
    }

    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("apiserver.crt")
    }

    pub fn server_key(&self) -> PathBuf {
        self.dir.join("apiserver.key")
    }

    /// The admin's client certificate (CN=admin, O=system:masters), e.g. for `curl --cert`.
    pub fn admin_cert(&self) -> PathBuf {
        self.dir.join("admin.crt")
    }

    pub fn admin_key(&self) -> PathBuf {
        self.dir.join("admin.key")
    }

    /// The certificate kube-apiserver presents to aggregated API servers (`--proxy-client-cert-file`).
    pub fn front_proxy_client_cert(&self) -> PathBuf {
        self.dir.join("front-proxy-client.crt")
    }

    pub fn front_proxy_client_key(&self) -> PathBuf {
        self.dir.join("front-proxy-client.key")
    }

    /// The public key that verifies service-account tokens (`--service-account-key-file`).
    pub fn service_account_public_key(&self) -> PathBuf {
        self.dir.join("sa.pub")
    }

    /// The private key that signs service-account tokens (`--service-account-signing-key-file`).
    pub fn service_account_signing_key(&self) -> PathBuf {
        self.dir.join("sa.key")
    }
}

/// A certificate authority that lives in memory: it mints client and serving certificates.
pub struct TestCa {
    name: String,
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new self-signed CA (ECDSA P-256) whose certificate's CN is `name`.
    pub fn new(name: &str) -> Result<Self> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = common_name(name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key)?;
        Ok(Self {
            name: name.to_owned(),
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
        })
    }

    /// The CA certificate as PEM (what an APIService's `caBundle` or `--requestheader-client-ca-file` holds).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate as DER (what a rustls root store takes).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// A client certificate for `user` signed by this CA: CN is the user name, one O attribute
    /// per group.
    pub fn client_identity(&self, user: &User) -> Result<ClientIdentity> {
        client_certificate(&self.issuer, user)
    }

    /// A serving certificate for `names` (DNS names or IP addresses, the first also its CN)
    /// signed by this CA. An aggregated API server's must name `<service>.<namespace>.svc`:
    /// kube-apiserver verifies that name whatever address it dials.
    pub fn serving_identity(&self, names: &[&str]) -> Result<ClientIdentity> {
        let first = names
            .first()
            .ok_or_else(|| Error::NoServingNames { ca: self.name.clone() })?;
        self.serving_certificate(first, names)
    }

    fn serving_certificate(&self, common: &str, names: &[&str]) -> Result<ClientIdentity> {
        let key = KeyPair::generate()?;
        // rcgen makes an IP address SAN of every name that parses as one, a DNS name otherwise.
        let mut params = CertificateParams::new(names.iter().map(|&name| name.to_owned()).collect::<Vec<_>>())?;
        params.distinguished_name = common_name(common);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(ClientIdentity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// A client certificate for `user` signed by `ca`.
///
/// Kubernetes takes one group from each O attribute of the subject, but rcgen keeps one value
/// per attribute type. So rcgen writes the certificate (extensions, serial, validity) with a
/// CN-only subject, and the subject is then replaced by `O=<group>…, CN=<user>` and the
/// to-be-signed part signed again with the CA key.
fn client_certificate(ca: &Issuer<'static, KeyPair>, user: &User) -> Result<ClientIdentity> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = common_name(user.name());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let drafted = params.signed_by(&key, ca)?;

    let subject = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            let groups = user.groups().iter().map(|g| (ORGANIZATION_NAME, g.as_str()));
            for (oid, value) in groups.chain([(COMMON_NAME, user.name())]) {
                w.next().write_set(|w| {
                    w.next().write_sequence(|w| {
                        w.next().write_oid(&yasna::models::ObjectIdentifier::from_slice(oid));
                        w.next().write_utf8_string(value);
                    })
                })
            }
        })
    });
    let der = with_subject(drafted.der(), &subject, ca.key())?;
    Ok(ClientIdentity {
        cert_pem: pem("CERTIFICATE", &der),
        key_pem: key.serialize_pem(),
    })
}

/// Index of `subject` in a TBSCertificate: version, serialNumber, signature, issuer,
/// validity, subject (RFC 5280, section 4.1).
const SUBJECT_FIELD: usize = 5;

/// `certificate` with its subject replaced by `subject` (DER of a Name), re-signed by `key`
/// with the algorithm the certificate already names.
fn with_subject(certificate: &[u8], subject: &[u8], key: &KeyPair) -> Result<Vec<u8>> {
    let (tbs, algorithm) = yasna::parse_der(certificate, |r| {
        r.read_sequence(|r| {
            let tbs = r.next().read_der()?;
            let algorithm = r.next().read_der()?;
            r.next().read_bitvec_bytes()?;
            Ok((tbs, algorithm))
        })
    })?;
    let mut fields = yasna::parse_der(&tbs, |r| {
        r.read_sequence(|r| {
            let mut fields = Vec::new();
            while let Some(field) = r.read_optional(|r| r.read_der())? {
                fields.push(field);
            }
            Ok(fields)
        })
    })?;
    assert!(
        fields.len() > SUBJECT_FIELD,
        "rcgen wrote a TBSCertificate with only {} fields",
        fields.len()
    );
    fields[SUBJECT_FIELD] = subject.to_vec();
    let tbs = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for field in &fields {
                w.next().write_der(field);
            }
        })
    });
    let signature = key.sign(&tbs)?;
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&tbs);
            w.next().write_der(&algorithm);
            w.next().write_bitvec_bytes(&signature, signature.len() * 8);
        })
    }))
}

/// PEM with 64-character lines, as RFC 7468 asks.
fn pem(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Writes a file readable by its owner only: several of them hold private keys.
pub(crate) fn write_file(path: &Path, contents: &str) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The subject's attributes as (OID, value) pairs, read back from a certificate's PEM.
    fn subject_of(cert_pem: &str) -> Vec<(Vec<u64>, String)> {
        let body: String = cert_pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
        let tbs = yasna::parse_der(&der, |r| {
            r.read_sequence(|r| {
                let tbs = r.next().read_der()?;
                r.next().read_der()?;
                r.next().read_der()?;
                Ok(tbs)
            })
        })
        .unwrap();
        let subject = yasna::parse_der(&tbs, |r| {
            r.read_sequence(|r| {
                for _ in 0..SUBJECT_FIELD {
                    r.next().read_der()?;
                }
                let subject = r.next().read_der()?;
                while r.read_optional(|r| r.read_der())?.is_some() {}
                Ok(subject)
            })
        })
        .unwrap();
        yasna::parse_der(&subject, |r| {
            r.collect_sequence_of(|r| {
                let mut attribute = None;
                r.read_set_of(|r| {
                    attribute = Some(r.read_sequence(|r| {
                        let oid = r.next().read_oid()?;
                        let value = r.next().read_utf8string()?;
                        Ok((oid.components().clone(), value))
                    })?);
                    Ok(())
                })?;
                Ok(attribute.expect("one attribute per RDN"))
            })
        })
        .unwrap()
    }

    #[test]
    fn client_certificates_carry_one_organization_per_group_and_the_user_as_common_name() {
        let ca = TestCa::new("test-ca").unwrap();
        let user = User::named("alice").with_groups(["dev", "ops", "qa"]);
        let identity = ca.client_identity(&user).unwrap();
        let o = ORGANIZATION_NAME.to_vec();
        let cn = COMMON_NAME.to_vec();
        assert_eq!(
            subject_of(&identity.cert_pem),
            [
                (o.clone(), "dev".to_owned()),
                (o.clone(), "ops".to_owned()),
                (o, "qa".to_owned()),
                (cn, "alice".to_owned()),
            ]
        );
    }

    #[test]
    fn a_serving_certificate_without_names_is_refused_naming_the_ca() {
        let ca = TestCa::new("aggregated-server-ca").unwrap();
        let error = ca.serving_identity(&[]).unwrap_err();
        assert!(error.to_string().contains("aggregated-server-ca"), "{error}");
    }

    #[test]
    fn pem_lines_are_at_most_64_characters() {
        let text = pem("CERTIFICATE", &[0u8; 200]);
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(text.ends_with("-----END CERTIFICATE-----\n"));
        assert!(text.lines().all(|line| line.len() <= 64 || line.starts_with("-----")));
    }
}
