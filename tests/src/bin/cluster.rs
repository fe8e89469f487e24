//! `mirrord-usage-cluster`: a control plane for trying things by hand.
//!
//! `up` starts it detached (it re-runs itself as `serve` in its own process group, with its
//! output in the state directory) and prints `export KUBECONFIG=…` for the admin and one
//! `export KUBECONFIG_<USER>=…` per user bound to a shipped role (and one for a user without);
//! `down` stops it and removes what `up` wrote. With `--controller`, the controller serves the
//! aggregated analytics API over TLS, registered with kube-apiserver as an APIService.

use std::{
    fs::{self, OpenOptions},
    io::{ErrorKind, Write as _},
    net::SocketAddr,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use std::os::unix::process::CommandExt as _;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use kube::{
    Client, Config, CustomResourceExt,
    config::{KubeConfigOptions, Kubeconfig},
};
use mirrord_usage_crds::operator::MirrordOperator;
use mirrord_usage_crds::rbac::{ANALYST_ROLE, AUDITOR_ROLE, VIEWER_ROLE, cluster_roles};
use mirrord_usage_crds::session_record::MirrordClusterSession;
use mirrord_usage_crds::usage_report::MirrordUsageReport;
use mirrord_usage_crds::{ANALYTICS_GROUP, ANALYTICS_VERSION};
use mirrord_usage_tests::{
    ApiServiceRegistration, Binaries, BindingSubject, ControlPlane, TestCa, User,
    api_service::{self, AVAILABLE_TIMEOUT},
    is_running,
};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    signal::unix::{SignalKind, signal},
};

/// Everything `up` and `serve` put in the state directory; `down` removes exactly these.
const SERVE_PID: &str = "serve.pid";
const SERVE_LOG: &str = "serve.log";
const ETCD_PID: &str = "etcd.pid";
const KUBE_APISERVER_PID: &str = "kube-apiserver.pid";
const KUBECONFIG: &str = "kubeconfig";
const CONTROL_PLANE: &str = "control-plane";
const CONTROLLER_PID: &str = "controller.pid";
const CONTROLLER_LOG: &str = "controller.log";
const SIMULATOR_PID: &str = "simulator.pid";
const SIMULATOR_LOG: &str = "simulator.log";
const DATABASE: &str = "usage.db";
const KUBECONFIG_VIEWER: &str = "kubeconfig-viewer";
const KUBECONFIG_ANALYST: &str = "kubeconfig-analyst";
const KUBECONFIG_AUDITOR: &str = "kubeconfig-auditor";
const KUBECONFIG_NOBODY: &str = "kubeconfig-nobody";
const CONTROLLER_CA: &str = "controller-ca.crt";
const CONTROLLER_CERT: &str = "controller.crt";
const CONTROLLER_KEY: &str = "controller.key";
const STATE_ENTRIES: [&str; 21] = [
    SERVE_PID,
    SERVE_LOG,
    ETCD_PID,
    KUBE_APISERVER_PID,
    KUBECONFIG,
    CONTROL_PLANE,
    CONTROLLER_PID,
    CONTROLLER_LOG,
    SIMULATOR_PID,
    SIMULATOR_LOG,
    DATABASE,
    "usage.db-wal",
    "usage.db-shm",
    "usage.db.lock",
    KUBECONFIG_VIEWER,
    KUBECONFIG_ANALYST,
    KUBECONFIG_AUDITOR,
    KUBECONFIG_NOBODY,
    CONTROLLER_CA,
    CONTROLLER_CERT,
    CONTROLLER_KEY,
];

/// A user `up` writes a kubeconfig for, bound to one of the shipped roles (or to none).
struct Person {
    user: &'static str,
    role: Option<&'static str>,
    kubeconfig: &'static str,
    /// The variable `up` exports the kubeconfig's path as.
    variable: &'static str,
}

const PEOPLE: [Person; 4] = [
    Person {
        user: "viewer",
        role: Some(VIEWER_ROLE),
        kubeconfig: KUBECONFIG_VIEWER,
        variable: "KUBECONFIG_VIEWER",
    },
    Person {
        user: "analyst",
        role: Some(ANALYST_ROLE),
        kubeconfig: KUBECONFIG_ANALYST,
        variable: "KUBECONFIG_ANALYST",
    },
    Person {
        user: "auditor",
        role: Some(AUDITOR_ROLE),
        kubeconfig: KUBECONFIG_AUDITOR,
        variable: "KUBECONFIG_AUDITOR",
    },
    Person {
        user: "nobody",
        role: None,
        kubeconfig: KUBECONFIG_NOBODY,
        variable: "KUBECONFIG_NOBODY",
    },
];

/// Where the chart installs mirrord-usage; the APIService points at this Service, and the
/// controller's certificate names `<service>.<namespace>.svc`.
const NAMESPACE: &str = "mirrord-usage";
const SERVICE: &str = "mirrord-usage";

/// What `serve` prints on stdout, followed by the server URL, once the control plane is ready.
const READY: &str = "ready";
/// How long `up` waits for `serve` (binaries are already built by then).
const SERVE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `down` waits for `serve` to stop the control plane after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Parser)]
#[command(
    name = "mirrord-usage-cluster",
    about = "A local kube-apiserver and etcd (no kubelet, no controller-manager) for trying mirrord-usage by hand"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the control plane in the background (with the CRDs and the mirrord-usage roles
    /// installed) and print `export KUBECONFIG=<path>` and one `export KUBECONFIG_<USER>=<path>`
    /// each for the users viewer, analyst, auditor (bound to those roles) and nobody.
    Up(UpArgs),
    /// Stop the control plane started by `up` and remove its state.
    Down(State),
    /// Run the control plane in the foreground until SIGTERM or SIGINT (what `up` starts).
    #[command(hide = true)]
    Serve(State),
    /// Keep a simulated mirrord operator's running sessions changing (what `up --simulate` starts).
    #[command(hide = true)]
    SimulateOperator(State),
}

#[derive(Debug, Args)]
struct UpArgs {
    #[command(flatten)]
    state: State,
    /// Also run this mirrord-usage binary as `controller` against the control plane, serving
    /// the analytics API over TLS and registered as an APIService.
    #[arg(long, value_name = "PATH")]
    controller: Option<PathBuf>,
    /// Address the controller serves on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: String,
    /// Keep sessions coming from a simulated mirrord operator.
    #[arg(long)]
    simulate: bool,
}

#[derive(Debug, Args)]
struct State {
    /// Directory for the pid files, logs, kubeconfig, PKI and etcd data.
    #[arg(long, env = "MIRRORD_USAGE_CLUSTER_STATE_DIR")]
    state_dir: PathBuf,
}

impl State {
    fn dir(&self) -> anyhow::Result<PathBuf> {
        std::path::absolute(&self.state_dir).with_context(|| format!("resolving {}", self.state_dir.display()))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up(args) => {
            let state = args.state.dir()?;
            if !up(&state).await? {
                return Ok(());
            }
            if let Some(binary) = &args.controller {
                start_controller(&state, binary, &args.listen).await?;
            }
            if args.simulate {
                start_simulator(&state)?;
            }
            Ok(())
        }
        Command::Down(state) => down(&state.dir()?),
        Command::Serve(state) => serve(&state.dir()?).await,
        Command::SimulateOperator(state) => {
            mirrord_usage_tests::operator_simulation::run(&state.dir()?.join(KUBECONFIG)).await
        }
    }
}

/// Starts the control plane; `false` when one was already running there.
async fn up(state: &Path) -> anyhow::Result<bool> {
    fs::create_dir_all(state).with_context(|| format!("creating {}", state.display()))?;
    if let Some(pid) = read_pid(&state.join(SERVE_PID))?
        && runs_in(pid, state)
        && state.join(KUBECONFIG).exists()
    {
        eprintln!("already running (pid {pid}); `down` stops it");
        print_exports(state);
        return Ok(false);
    }
    // Leftovers of a control plane that did not stop cleanly.
    remove_state_entries(state)?;
    if let Some(entry) = fs::read_dir(state)?.next() {
        bail!(
            "{} holds {} and other files that are not from a control plane; give --state-dir a new or empty directory",
            state.display(),
            entry?.file_name().to_string_lossy()
        );
    }

    // In the foreground, so that a first build shows its progress here.
    Binaries::locate().await?;

    let log = fs::File::create(state.join(SERVE_LOG))?;
    let mut serve = tokio::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .arg("--state-dir")
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        // Its own process group: a Ctrl-C in this terminal must not stop it.
        .process_group(0)
        .spawn()
        .context("starting `mirrord-usage-cluster serve`")?;
    let pid = serve.id().context("serve exited at once")?;
    fs::write(state.join(SERVE_PID), format!("{pid}\n"))?;

    let mut stdout = BufReader::new(serve.stdout.take().expect("stdout is piped")).lines();
    let first_line = tokio::time::timeout(SERVE_TIMEOUT, stdout.next_line()).await;
    match first_line {
        Ok(Ok(Some(line))) if line.starts_with(READY) => {
            let url = line[READY.len()..].trim();
            eprintln!(
                "kube-apiserver is ready at {url}; logs are in {}; `mirrord-usage-cluster down --state-dir {}` stops it",
                state.display(),
                state.display()
            );
            print_exports(state);
            Ok(true)
        }
        Ok(_) => {
            let status = serve.wait().await?;
            bail!(
                "the control plane did not start ({status}); {}:\n{}",
                state.join(SERVE_LOG).display(),
                fs::read_to_string(state.join(SERVE_LOG)).unwrap_or_default()
            )
        }
        Err(_) => {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            bail!(
                "the control plane was not ready after {SERVE_TIMEOUT:?}; see {} (run `down` to clean up)",
                state.join(SERVE_LOG).display()
            )
        }
    }
}

/// `export KUBECONFIG=…` for the admin, then one line per [`PEOPLE`] entry.
fn print_exports(state: &Path) {
    println!("export KUBECONFIG={}", state.join(KUBECONFIG).display());
    for person in &PEOPLE {
        println!("export {}={}", person.variable, state.join(person.kubeconfig).display());
    }
}

async fn serve(state: &Path) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;

    let control_plane = ControlPlane::start_in(state.join(CONTROL_PLANE)).await?;
    control_plane.install_crd(&MirrordUsageReport::crd()).await?;
    control_plane.install_crd(&MirrordOperator::crd()).await?;
    control_plane.install_crd(&MirrordClusterSession::crd()).await?;
    control_plane.apply_cluster_roles(&cluster_roles(false)).await?;
    for person in &PEOPLE {
        if let Some(role) = person.role {
            let binding = format!("{role}:{}", person.user);
            control_plane
                .bind_cluster_role(&binding, role, &BindingSubject::user(person.user))
                .await?;
        }
        let kubeconfig = control_plane.kubeconfig_path(&User::named(person.user))?;
        fs::copy(&kubeconfig, state.join(person.kubeconfig))
            .with_context(|| format!("copying {} into {}", kubeconfig.display(), state.display()))?;
    }
    fs::copy(control_plane.admin_kubeconfig_path(), state.join(KUBECONFIG))?;
    fs::write(state.join(ETCD_PID), format!("{}\n", control_plane.etcd_pid()))?;
    fs::write(
        state.join(KUBE_APISERVER_PID),
        format!("{}\n", control_plane.kube_apiserver_pid()),
    )?;
    eprintln!(
        "control plane ready at {} after {:?}",
        control_plane.server_url(),
        control_plane.start_duration()
    );
    // The only line ever written to stdout: `up` reads it and then goes away.
    println!("{READY} {}", control_plane.server_url());

    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
        _ = hangup.recv() => {}
    }
    eprintln!("stopping");
    drop(control_plane);
    Ok(())
}

/// Starts `binary controller` against the control plane with a serving certificate of its
/// own, registers the analytics API it serves and waits until kube-apiserver proxies to it.
async fn start_controller(state: &Path, binary: &Path, listen: &str) -> anyhow::Result<()> {
    let mut bytes = [0_u8; 16];
    std::io::Read::read_exact(&mut fs::File::open("/dev/urandom")?, &mut bytes)?;
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();

    // kube-apiserver verifies the Service's name; a browser and curl the loopback address.
    let ca = TestCa::new("mirrord-usage-cluster-controller-ca")?;
    let service_name = format!("{SERVICE}.{NAMESPACE}.svc");
    let serving = ca.serving_identity(&[&service_name, "localhost", "127.0.0.1"])?;
    write_private(&state.join(CONTROLLER_CA), ca.cert_pem())?;
    write_private(&state.join(CONTROLLER_CERT), &serving.cert_pem)?;
    write_private(&state.join(CONTROLLER_KEY), &serving.key_pem)?;

    let log = fs::File::create(state.join(CONTROLLER_LOG))?;
    let mut controller = tokio::process::Command::new(binary)
        .args([
            "controller",
            "--listen",
            listen,
            "--license-key",
            &key,
            "--licenses",
            "50",
        ])
        .args(["--cluster-name", "local", "--db"])
        .arg(state.join(DATABASE))
        .arg("--tls-cert-file")
        .arg(state.join(CONTROLLER_CERT))
        .arg("--tls-private-key-file")
        .arg(state.join(CONTROLLER_KEY))
        .env("KUBECONFIG", state.join(KUBECONFIG))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {} controller", binary.display()))?;
    let pid = controller.id().context("the controller exited at once")?;
    fs::write(state.join(CONTROLLER_PID), format!("{pid}\n"))?;
    let controller_log = || {
        format!(
            "{}:\n{}",
            state.join(CONTROLLER_LOG).display(),
            fs::read_to_string(state.join(CONTROLLER_LOG)).unwrap_or_default()
        )
    };
    let mut stdout = BufReader::new(controller.stdout.take().expect("stdout is piped")).lines();
    let line = match tokio::time::timeout(SERVE_TIMEOUT, stdout.next_line()).await {
        Ok(Ok(Some(line))) => line,
        _ => bail!("the controller did not start; {}", controller_log()),
    };
    let Some(address) = line.strip_prefix("listening on https://") else {
        bail!(
            "the controller printed {line:?} instead of `listening on https://<address>`; {}",
            controller_log()
        );
    };
    let address: SocketAddr = address
        .trim()
        .parse()
        .with_context(|| format!("the controller printed {line:?}, whose address is not <ip>:<port>"))?;

    let registration = ApiServiceRegistration {
        group: ANALYTICS_GROUP.to_owned(),
        version: ANALYTICS_VERSION.to_owned(),
        namespace: NAMESPACE.to_owned(),
        service: SERVICE.to_owned(),
        port: address.port(),
        ca_bundle_pem: ca.cert_pem().to_owned(),
    };
    let client = admin_client(state).await?;
    api_service::register_api_service(&client, &registration).await?;
    if let Err(e) = api_service::wait_for_api_service_available(&client, &registration.name(), AVAILABLE_TIMEOUT).await
    {
        bail!("{e}\n{}", controller_log());
    }
    eprintln!(
        "mirrord-usage controller is serving at https://{address}/?key={key} (log: {}; its CA: {}); kube-apiserver serves its API at /apis/{ANALYTICS_GROUP}/{ANALYTICS_VERSION}",
        state.join(CONTROLLER_LOG).display(),
        state.join(CONTROLLER_CA).display()
    );
    Ok(())
}

/// The admin's client, from the kubeconfig `serve` wrote.
async fn admin_client(state: &Path) -> anyhow::Result<Client> {
    let path = state.join(KUBECONFIG);
    let kubeconfig = Kubeconfig::read_from(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    // Waiting for the APIService must see kube-apiserver's 503s, not retry them for minutes.
    config.default_retry = false;
    Ok(Client::try_from(config)?)
}

/// Writes a file only its owner may read: the controller's private key among them.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}

/// Starts the simulated operator in the background.
fn start_simulator(state: &Path) -> anyhow::Result<()> {
    let log = fs::File::create(state.join(SIMULATOR_LOG))?;
    let simulator = std::process::Command::new(std::env::current_exe()?)
        .arg("simulate-operator")
        .arg("--state-dir")
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting the simulated operator")?;
    fs::write(state.join(SIMULATOR_PID), format!("{}\n", simulator.id()))?;
    eprintln!(
        "a simulated mirrord operator keeps sessions coming (log: {})",
        state.join(SIMULATOR_LOG).display()
    );
    Ok(())
}

fn down(state: &Path) -> anyhow::Result<()> {
    if !state.exists() {
        eprintln!("{} does not exist; nothing to stop", state.display());
        return Ok(());
    }
    for name in [SIMULATOR_PID, CONTROLLER_PID] {
        if let Some(pid) = read_pid(&state.join(name))?
            && runs_in(pid, state)
        {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            if !wait_for_exit(pid, STOP_TIMEOUT) {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
    }
    match read_pid(&state.join(SERVE_PID))? {
        Some(pid) if runs_in(pid, state) => {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
            if !wait_for_exit(pid, STOP_TIMEOUT) {
                eprintln!("serve (pid {pid}) did not stop within {STOP_TIMEOUT:?}; killing it");
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
        _ => eprintln!("no control plane was running"),
    }
    // If serve died without stopping them, its watchdogs have already sent SIGTERM; make sure.
    for name in [KUBE_APISERVER_PID, ETCD_PID] {
        if let Some(pid) = read_pid(&state.join(name))?
            && runs_in(pid, state)
        {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            wait_for_exit(pid, STOP_TIMEOUT);
        }
    }
    remove_state_entries(state)?;
    match fs::remove_dir(state) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => {
            eprintln!("kept {}: it holds other files", state.display());
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("removing {}", state.display())),
    }
}

/// Whether `pid` is a live process started for this state directory (its arguments name it),
/// so that a stale pid file never gets an unrelated process signalled.
fn runs_in(pid: u32, state: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let state = state.as_os_str().as_encoded_bytes();
    is_running(pid)
        && cmdline
            .split(|&b| b == 0)
            .any(|arg| arg.windows(state.len()).any(|window| window == state))
}

fn wait_for_exit(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while is_running(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(STOP_POLL);
    }
    true
}

fn read_pid(path: &Path) -> anyhow::Result<Option<u32>> {
    match fs::read_to_string(path) {
        Ok(text) => {
            Ok(Some(text.trim().parse().with_context(|| {
                format!("{} does not hold a process id", path.display())
            })?))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn remove_state_entries(state: &Path) -> anyhow::Result<()> {
    for name in STATE_ENTRIES {
        let path = state.join(name);
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match removed {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", path.display()));
            }
            _ => {}
        }
    }
    Ok(())
}
