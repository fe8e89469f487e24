//! The one error type of the harness: every failure says what was being done and, for the
//! control plane's processes, ends with the last lines of their logs.

use std::{io, path::PathBuf, process::ExitStatus, time::Duration};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action}: {source}")]
    Io {
        action: String,
        #[source]
        source: io::Error,
    },

    #[error("{script} failed ({status}); its progress lines above say why (it needs Go >= 1.26 on PATH)")]
    Build { script: PathBuf, status: ExitStatus },

    #[error("{script} printed no {variable}=<path> line; it printed:\n{stdout}")]
    BuildOutput {
        script: PathBuf,
        variable: &'static str,
        stdout: String,
    },

    #[error("generating the test PKI: {0}")]
    Pki(#[from] rcgen::Error),

    #[error("reading a certificate rcgen wrote: {0}")]
    Asn1(#[from] yasna::ASN1Error),

    #[error("{name} exited during start-up ({status})\n{logs}")]
    Exited {
        name: &'static str,
        status: ExitStatus,
        logs: String,
    },

    #[error("kube-apiserver at {url} was not ready after {timeout:?} (last answer: {last})\n{logs}")]
    NotReady {
        url: String,
        timeout: Duration,
        last: String,
        logs: String,
    },

    #[error(
        "the work directory {dir} is not empty; give start_in a new or empty directory so that nothing of value is removed when the control plane stops"
    )]
    DirNotEmpty { dir: PathBuf },

    #[error(
        "the etcd socket path {path} is {len} bytes, longer than the 107 a unix socket allows; use a shorter directory"
    )]
    SocketPathTooLong { path: PathBuf, len: usize },

    #[error("the CustomResourceDefinition has no metadata.name; set it (kube's CustomResource derive does)")]
    UnnamedCrd,

    #[error("a ClusterRole to apply has no metadata.name; set it")]
    UnnamedClusterRole,

    #[error("CustomResourceDefinition {name} was not Established after {timeout:?}")]
    CrdNotEstablished { name: String, timeout: Duration },

    #[error("waiting for CustomResourceDefinition {name}: {source}")]
    CrdWait {
        name: String,
        #[source]
        source: kube::runtime::wait::Error,
    },

    #[error("a serving certificate from the CA {ca} needs at least one DNS name or IP address")]
    NoServingNames { ca: String },

    #[error(
        "APIService {name} was not Available after {timeout:?}: {reason}: {message} (kube-apiserver's check is a GET of /apis/<group>/<version> at the address above, which must answer 2xx)"
    )]
    ApiServiceNotAvailable {
        name: String,
        timeout: Duration,
        reason: String,
        message: String,
    },

    #[error(
        "APIService {name} is Available but kube-apiserver did not proxy GET {path} to its server within {timeout:?} (last answer: {last}); the server's certificate must name <service>.<namespace>.svc and be signed by the caBundle"
    )]
    ApiServiceNotProxied {
        name: String,
        path: String,
        timeout: Duration,
        last: String,
    },

    #[error("waiting for APIService {name}: {source}")]
    ApiServiceWait {
        name: String,
        #[source]
        source: kube::runtime::wait::Error,
    },

    #[error("the TokenRequest for service account {namespace}/{name} came back without a token")]
    NoToken { namespace: String, name: String },

    #[error("{command} failed ({status}):\n{stderr}")]
    Helm {
        command: String,
        status: ExitStatus,
        stderr: String,
    },

    #[error("what helm rendered is not YAML: {0}")]
    RenderedYaml(#[source] serde_yaml_ng::Error),

    #[error("the rendered {kind} {name} does not parse as one: {source}")]
    RenderedObject {
        kind: &'static str,
        name: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("the chart rendered no {kind} named {name}")]
    NotRendered { kind: &'static str, name: String },

    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds what was being done to an I/O error, so that a failure names the file or program.
pub(crate) trait IoContext<T> {
    fn context(self, action: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, action: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            action: action(),
            source,
        })
    }
}
