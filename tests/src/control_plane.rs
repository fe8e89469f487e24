//! A real kube-apiserver and etcd on loopback with their own PKI, in a directory that is removed
//! (and with processes that are stopped) when the `ControlPlane` is dropped; clients,
//! kubeconfigs and kubectl for any user.

use std::{
    collections::HashMap,
    ffi::OsStr,
    fs,
    net::{Ipv4Addr, TcpListener},
    os::unix::ffi::OsStrExt as _,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use base64::Engine as _;
use k8s_openapi::{
    api::{core::v1::Namespace, rbac::v1::ClusterRole},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    kube_aggregator::pkg::apis::apiregistration::v1::APIService,
};
use kube::{Api, Client, Config, api::ListParams, config::AuthInfo};
use tempfile::TempDir;

use crate::{
    access::{self, BindingSubject},
    api_service::{self, ApiServiceRegistration},
    binaries::Binaries,
    crd,
    error::{Error, IoContext as _, Result},
    kubeconfig,
    pki::{self, ClientIdentity, Pki},
    process::Supervised,
    user::User,
};

/// How long kube-apiserver may take to answer `/readyz` with `ok`; it usually takes 2–4 s.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How often readiness is polled.
const READY_POLL: Duration = Duration::from_millis(100);
/// How long one `/readyz` request may take: while kube-apiserver starts, its port accepts
/// connections it does not answer yet.
const READYZ_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// SIGTERM to exit: kube-apiserver takes about 1.1 s, etcd about 10 ms.
const KUBE_APISERVER_GRACE: Duration = Duration::from_secs(5);
const ETCD_GRACE: Duration = Duration::from_secs(2);
/// The port is picked free and then released, so another process may take it before
/// kube-apiserver binds it; then it is started again on another port.
const PORT_ATTEMPTS: usize = 5;
/// Log lines shown when start-up fails.
const LOG_TAIL_LINES: usize = 40;
/// `sun_path` is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// A running control plane: etcd, kube-apiserver with RBAC, and the PKI they use.
///
/// Nothing else runs (no controller-manager, scheduler or kubelet): namespaces are not
/// finalised when deleted and nothing is garbage collected, so tests use fresh names.
///
/// Dropping it stops both processes (SIGTERM, then SIGKILL after a grace period; this blocks
/// for about a second) and removes its directory, also when a test panics. If the test process
/// itself is killed, watchdogs stop the processes (see [`crate::process`]); the directory then
/// stays behind in the temp dir.
#[derive(Debug)]
pub struct ControlPlane {
    // Drop order is declaration order: both processes stop before the directory goes.
    kube_apiserver: Supervised,
    etcd: Supervised,
    pki: Pki,
    binaries: Binaries,
    server_url: String,
    admin_kubeconfig: PathBuf,
    kubeconfigs: Mutex<HashMap<User, PathBuf>>,
    start_duration: Duration,
    dir: WorkDir,
}

impl ControlPlane {
    /// Starts a control plane in a new temporary directory.
    pub async fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mirrord-usage-cp.")
            .tempdir()
            .context(|| "creating a temporary directory".to_owned())?;
        Self::start_with(WorkDir::Temp(dir)).await
    }

    /// Starts a control plane in `dir`, which must be new or empty; it is removed on drop.
    pub async fn start_in(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = std::path::absolute(dir.into()).context(|| "finding the current directory".to_owned())?;
        fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
        let mut entries = fs::read_dir(&dir).context(|| format!("reading {}", dir.display()))?;
        if entries.next().is_some() {
            return Err(Error::DirNotEmpty { dir });
        }
        Self::start_with(WorkDir::Given(dir)).await
    }

    async fn start_with(dir: WorkDir) -> Result<Self> {
        let started = Instant::now();
        let binaries = Binaries::locate().await?;
        let root = dir.path().to_owned();
        let pki = Pki::generate(&root.join("pki"))?;

        let socket = root.join("etcd.sock");
        let socket_len = socket.as_os_str().as_bytes().len();
        if socket_len > MAX_SOCKET_PATH {
            return Err(Error::SocketPathTooLong {
                path: socket,
                len: socket_len,
            });
        }
        let mut etcd = Supervised::spawn(
            "etcd",
            etcd_command(&binaries.etcd, &root, &socket),
            &root.join("etcd.log"),
            ETCD_GRACE,
        )?;

        let admin = pki.admin_identity();
        let mut attempt = 1;
        let (kube_apiserver, server_url) = loop {
            let port = free_port()?;
            let server_url = format!("https://127.0.0.1:{port}");
            let mut kube_apiserver = Supervised::spawn(
                "kube-apiserver",
                kube_apiserver_command(&binaries.kube_apiserver, &root, &pki, &socket, port),
                &root.join("kube-apiserver.log"),
                KUBE_APISERVER_GRACE,
            )?;
            let client = client_for(&server_url, &pki, admin)?;
            match wait_until_ready(&mut etcd, &mut kube_apiserver, &client, &server_url).await? {
                Readiness::Ready => {
                    // /readyz answers anonymous requests too; listing namespaces proves that
                    // the admin's client certificate is accepted.
                    Api::<Namespace>::all(client)
                        .list(&ListParams::default().limit(1))
                        .await?;
                    break (kube_apiserver, server_url);
                }
                Readiness::PortTaken if attempt < PORT_ATTEMPTS => attempt += 1,
                Readiness::PortTaken => {
                    let status = kube_apiserver
                        .exit_status()?
                        .expect("a taken port means kube-apiserver exited");
                    return Err(Error::Exited {
                        name: kube_apiserver.name(),
                        status,
                        logs: kube_apiserver.log_tail(LOG_TAIL_LINES),
                    });
                }
            }
        };

        let admin_kubeconfig = root.join("admin.kubeconfig");
        pki::write_file(
            &admin_kubeconfig,
            &kubeconfig::render(&server_url, pki.server_ca_pem(), &User::admin(), admin),
        )?;
        Ok(Self {
            kube_apiserver,
            etcd,
            pki,
            binaries,
            server_url,
            kubeconfigs: Mutex::new(HashMap::from([(User::admin(), admin_kubeconfig.clone())])),
            admin_kubeconfig,
            start_duration: started.elapsed(),
            dir,
        })
    }

    /// A client that is allowed everything (`admin` in `system:masters`).
    ///
    /// Like every client method, it must be called inside a Tokio runtime, and panics only if
    /// the harness's own certificates are unusable.
    pub fn admin_client(&self) -> Client {
        self.client(&User::admin())
    }

    /// A client authenticated as `name` in `groups`, with no RBAC bindings of its own.
    pub fn user_client(&self, name: &str, groups: &[&str]) -> Client {
        self.client(&User::named(name).with_groups(groups.iter().copied()))
    }

    /// A client authenticated as `user` by a freshly minted client certificate.
    pub fn client(&self, user: &User) -> Client {
        self.pki
            .client_identity(user)
            .and_then(|identity| client_for(&self.server_url, &self.pki, &identity))
            .unwrap_or_else(|e| panic!("building a Kubernetes client for {user}: {e}"))
    }

    /// A client that authenticates with a bearer token, e.g. from [`Self::service_account_token`].
    pub fn token_client(&self, token: &str) -> Client {
        let auth_info = AuthInfo {
            token: Some(token.to_owned().into()),
            ..AuthInfo::default()
        };
        client_with(&self.server_url, &self.pki, auth_info)
            .unwrap_or_else(|e| panic!("building a Kubernetes client with a bearer token: {e}"))
    }

    /// A kubeconfig file for `user` (written on first use, then reused).
    pub fn kubeconfig_path(&self, user: &User) -> Result<PathBuf> {
        let mut kubeconfigs = self.kubeconfigs.lock().expect("kubeconfig map poisoned");
        if let Some(path) = kubeconfigs.get(user) {
            return Ok(path.clone());
        }
        let dir = self.dir.path().join("kubeconfigs");
        fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{}.kubeconfig", user.file_stem()));
        let identity = self.pki.client_identity(user)?;
        pki::write_file(
            &path,
            &kubeconfig::render(&self.server_url, self.pki.server_ca_pem(), user, &identity),
        )?;
        kubeconfigs.insert(user.clone(), path.clone());
        Ok(path)
    }

    /// The admin's kubeconfig (`admin.kubeconfig` in [`Self::dir`]).
    pub fn admin_kubeconfig_path(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// Runs the built kubectl as `user` and returns what it printed and its exit status
    /// (a failing kubectl is an `Ok` with a non-zero status, so tests can check failures).
    pub async fn kubectl<I, S>(&self, user: &User, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let kubeconfig = self.kubeconfig_path(user)?;
        tokio::process::Command::new(&self.binaries.kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .context(|| format!("running {}", self.binaries.kubectl.display()))
    }

    /// Installs `crd` as the admin and waits until it is Established.
    pub async fn install_crd(&self, crd: &CustomResourceDefinition) -> Result<CustomResourceDefinition> {
        crd::install_crd(&self.admin_client(), crd).await
    }

    /// Registers an aggregated API server listening on `localhost:<port>` (see
    /// [`crate::api_service`]); call it again to change the port or the CA.
    pub async fn register_api_service(&self, registration: &ApiServiceRegistration) -> Result<()> {
        api_service::register_api_service(&self.admin_client(), registration).await
    }

    /// Waits until the APIService `name` (`<version>.<group>`) is Available and kube-apiserver
    /// proxies to its server; on timeout the error says why (see
    /// [`api_service::wait_for_api_service_available`]).
    pub async fn wait_for_api_service_available(&self, name: &str, timeout: Duration) -> Result<APIService> {
        api_service::wait_for_api_service_available(&self.admin_client(), name, timeout).await
    }

    /// A token for the service account `namespace/name` (both created if missing).
    pub async fn service_account_token(&self, namespace: &str, name: &str) -> Result<String> {
        access::service_account_token(&self.admin_client(), namespace, name).await
    }

    /// Applies the ClusterRoleBinding `binding_name` granting the ClusterRole `role` to `subject`.
    pub async fn bind_cluster_role(&self, binding_name: &str, role: &str, subject: &BindingSubject) -> Result<()> {
        access::bind_cluster_role(&self.admin_client(), binding_name, role, subject).await
    }

    /// Applies `roles`, e.g. `mirrord_usage_crds::rbac::cluster_roles(false)`.
    pub async fn apply_cluster_roles(&self, roles: &[ClusterRole]) -> Result<()> {
        access::apply_cluster_roles(&self.admin_client(), roles).await
    }

    /// `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The directory with the PKI, logs, kubeconfigs and etcd's data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every certificate and key; see [`Pki`].
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The CA that signed kube-apiserver's serving certificate.
    pub fn server_ca_cert_path(&self) -> PathBuf {
        self.pki.server_ca_cert()
    }

    /// The CA kube-apiserver trusts for client certificates.
    pub fn client_ca_cert_path(&self) -> PathBuf {
        self.pki.client_ca_cert()
    }

    /// The CA an aggregated API server must trust for requests kube-apiserver forwards.
    pub fn front_proxy_ca_cert_path(&self) -> PathBuf {
        self.pki.front_proxy_ca_cert()
    }

    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    pub fn kube_apiserver_pid(&self) -> u32 {
        self.kube_apiserver.id()
    }

    pub fn etcd_pid(&self) -> u32 {
        self.etcd.id()
    }

    /// From the call to `start` until ready, including `build.sh` and the PKI.
    pub fn start_duration(&self) -> Duration {
        self.start_duration
    }

    /// The last `lines` lines of both logs, for a failing test to print.
    pub fn log_tails(&self, lines: usize) -> String {
        format!("{}\n{}", self.kube_apiserver.log_tail(lines), self.etcd.log_tail(lines))
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // kube-apiserver first: it shuts down cleanly only while etcd is still there.
        self.kube_apiserver.stop();
        self.etcd.stop();
    }
}

/// Where a control plane keeps its files; removed on drop.
#[derive(Debug)]
enum WorkDir {
    Temp(TempDir),
    Given(PathBuf),
}

impl WorkDir {
    fn path(&self) -> &Path {
        match self {
            Self::Temp(dir) => dir.path(),
            Self::Given(dir) => dir,
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Self::Given(dir) = self {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// etcd with clients on a unix socket (no port to pick) and peers on port 0. Its advertised
/// client URL must be `host:port` even though nothing uses it, so it names a dummy port.
fn etcd_command(etcd: &Path, root: &Path, socket: &Path) -> Command {
    let mut command = Command::new(etcd);
    command
        .arg("--name=default")
        .arg(flag("--data-dir", root.join("etcd")))
        .arg(flag("--listen-client-urls=unix://", socket))
        .arg("--advertise-client-urls=http://127.0.0.1:0")
        .arg("--listen-peer-urls=http://127.0.0.1:0")
        .arg("--log-level=warn")
        // Tests never need the data to survive a power cut.
        .arg("--unsafe-no-fsync");
    // etcd reads every ETCD_* variable as a flag.
    for (key, _) in std::env::vars_os() {
        if key.as_bytes().starts_with(b"ETCD_") {
            command.env_remove(key);
        }
    }
    command
}

fn kube_apiserver_command(kube_apiserver: &Path, root: &Path, pki: &Pki, socket: &Path, port: u16) -> Command {
    let mut command = Command::new(kube_apiserver);
    command
        .arg(flag("--etcd-servers=unix://", socket))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={port}"))
        .arg("--advertise-address=127.0.0.1")
        // The default endpoint reconciler rejects a loopback advertise address.
        .arg("--endpoint-reconciler-type=none")
        .arg(flag("--tls-cert-file", pki.server_cert()))
        .arg(flag("--tls-private-key-file", pki.server_key()))
        .arg(flag("--client-ca-file", pki.client_ca_cert()))
        .arg("--authorization-mode=RBAC")
        .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
        .arg(flag("--service-account-key-file", pki.service_account_public_key()))
        .arg(flag(
            "--service-account-signing-key-file",
            pki.service_account_signing_key(),
        ))
        .arg("--service-cluster-ip-range=10.96.0.0/12")
        .arg(flag("--requestheader-client-ca-file", pki.front_proxy_ca_cert()))
        .arg(format!("--requestheader-allowed-names={}", pki::FRONT_PROXY_CLIENT))
        .arg("--requestheader-username-headers=X-Remote-User")
        .arg("--requestheader-group-headers=X-Remote-Group")
        .arg("--requestheader-extra-headers-prefix=X-Remote-Extra-")
        .arg(flag("--proxy-client-cert-file", pki.front_proxy_client_cert()))
        .arg(flag("--proxy-client-key-file", pki.front_proxy_client_key()))
        // Without it kube-apiserver would write a self-signed certificate to /var/run/kubernetes.
        .arg(flag("--cert-dir", root.join("apiserver-certs")));
    command
}

/// `--name=value` for a path value (`name` may already end in `=` or `=scheme://`).
fn flag(name: &str, value: impl AsRef<Path>) -> std::ffi::OsString {
    let mut flag = std::ffi::OsString::from(name);
    if !name.contains('=') {
        flag.push("=");
    }
    flag.push(value.as_ref());
    flag
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .context(|| "finding a free loopback port".to_owned())
}

fn client_for(server_url: &str, pki: &Pki, identity: &ClientIdentity) -> Result<Client> {
    let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    let auth_info = AuthInfo {
        client_certificate_data: Some(b64(&identity.cert_pem)),
        client_key_data: Some(b64(&identity.key_pem).into()),
        ..AuthInfo::default()
    };
    client_with(server_url, pki, auth_info)
}

fn client_with(server_url: &str, pki: &Pki, auth_info: AuthInfo) -> Result<Client> {
    let mut config = Config::new(server_url.parse().expect("https://127.0.0.1:<port> is a valid URI"));
    config.root_cert = Some(vec![pki.server_ca_der().to_vec()]);
    config.auth_info = auth_info;
    // kube retries a 429, 503 or 504 up to 15 times with a backoff that adds up to minutes; a
    // test must see such an answer (e.g. from an aggregated API server that is down) at once.
    config.default_retry = false;
    Ok(Client::try_from(config)?)
}

enum Readiness {
    Ready,
    /// kube-apiserver exited because another process had taken its port.
    PortTaken,
}

/// Polls `/readyz` until it says `ok`, failing early (with both logs) if a process exits.
async fn wait_until_ready(
    etcd: &mut Supervised,
    kube_apiserver: &mut Supervised,
    client: &Client,
    url: &str,
) -> Result<Readiness> {
    let logs = |etcd: &Supervised, kube_apiserver: &Supervised| {
        format!(
            "{}\n{}",
            kube_apiserver.log_tail(LOG_TAIL_LINES),
            etcd.log_tail(LOG_TAIL_LINES)
        )
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = etcd.exit_status()? {
            return Err(Error::Exited {
                name: etcd.name(),
                status,
                logs: logs(etcd, kube_apiserver),
            });
        }
        if let Some(status) = kube_apiserver.exit_status()? {
            let log = fs::read_to_string(kube_apiserver.log()).unwrap_or_default();
            if log.contains("address already in use") {
                return Ok(Readiness::PortTaken);
            }
            return Err(Error::Exited {
                name: kube_apiserver.name(),
                status,
                logs: logs(etcd, kube_apiserver),
            });
        }
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .expect("a GET without headers is a valid request");
        let last = match tokio::time::timeout(READYZ_REQUEST_TIMEOUT, client.request_text(request)).await {
            Ok(Ok(body)) if body.trim() == "ok" => return Ok(Readiness::Ready),
            Ok(Ok(body)) => body,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {READYZ_REQUEST_TIMEOUT:?}"),
        };
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                url: url.to_owned(),
                timeout: READY_TIMEOUT,
                last,
                logs: logs(etcd, kube_apiserver),
            });
        }
        tokio::time::sleep(READY_POLL).await;
    }
}
