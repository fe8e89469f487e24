//! Kubeconfig files for kubectl (and anything else that reads `KUBECONFIG`). Certificates are
//! inline, so a kubeconfig keeps working when copied elsewhere.

use base64::Engine as _;

use crate::{pki::ClientIdentity, user::User};

/// The cluster's name in every kubeconfig the harness writes.
pub const CLUSTER: &str = "mirrord-usage-test";

/// A kubeconfig whose current context is `user` on the server at `server_url`.
pub fn render(server_url: &str, server_ca_pem: &str, user: &User, identity: &ClientIdentity) -> String {
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    // A JSON string is a valid YAML double-quoted scalar, which takes care of escaping
    // whatever characters a user name has.
    let quoted = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let user_name = quoted(user.name());
    let context = quoted(&format!("{}@{CLUSTER}", user.name()));
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CLUSTER}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user_name}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: {context}
  context:
    cluster: {CLUSTER}
    user: {user_name}
current-context: {context}
",
        server = quoted(server_url),
        ca = b64(server_ca_pem),
        cert = b64(&identity.cert_pem),
        key = b64(&identity.key_pem),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_reads_what_render_writes() {
        let identity = ClientIdentity {
            cert_pem: "CERT".to_owned(),
            key_pem: "KEY".to_owned(),
        };
        let user = User::named("system:serviceaccount:ns:\"odd\" name");
        let text = render("https://127.0.0.1:6443", "CA", &user, &identity);
        let config = kube::config::Kubeconfig::from_yaml(&text).unwrap();

        let context = config.current_context.as_deref().unwrap();
        assert_eq!(context, format!("{}@{CLUSTER}", user.name()));
        let named_user = &config.auth_infos[0];
        assert_eq!(named_user.name, user.name());
        let auth = named_user.auth_info.as_ref().unwrap();
        assert_eq!(
            auth.client_certificate_data.as_deref(),
            Some(base64::engine::general_purpose::STANDARD.encode("CERT").as_str())
        );
        let cluster = config.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
    }
}
