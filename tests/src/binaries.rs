//! Where the kube-apiserver, kubectl, etcd and helm binaries are: `tests/controlplane/build.sh`
//! and `tests/helm/build.sh` build them from source into a per-user cache (or find them there)
//! and print their paths.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::Stdio,
};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};

use crate::error::{Error, IoContext as _, Result};

/// The script that builds or finds the control plane; its stdout is `NAME=<path>` lines.
pub fn build_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("controlplane/build.sh")
}

/// The script that builds or finds helm; its stdout is a `HELM=<path>` line.
pub fn helm_build_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("helm/build.sh")
}

/// Lines of the build scripts that mean nothing is being built right now.
const QUIET_LINES: [&str; 2] = ["using cached", "another build.sh is running"];

/// Paths of the control plane's executables.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub kube_apiserver: PathBuf,
    pub kubectl: PathBuf,
    pub etcd: PathBuf,
}

impl Binaries {
    /// Runs `build.sh`: instant when the binaries are cached, many minutes on a first build.
    pub async fn locate() -> Result<Self> {
        let script = build_script();
        let out = run_build_script(&script).await?;
        Ok(Self {
            kube_apiserver: path_in_output(&script, &out, "KUBE_APISERVER")?,
            kubectl: path_in_output(&script, &out, "KUBECTL")?,
            etcd: path_in_output(&script, &out, "ETCD")?,
        })
    }
}

/// Runs `helm/build.sh` and returns the path of helm: instant when it is cached, a minute or
/// two on a first build.
pub async fn locate_helm() -> Result<PathBuf> {
    let script = helm_build_script();
    let out = run_build_script(&script).await?;
    path_in_output(&script, &out, "HELM")
}

/// Runs a build script and returns its stdout.
///
/// Its "using cached …" and "waiting for another build" lines go through `eprintln!`, so a
/// test shows them only when it fails; every other line (a build in progress) goes straight
/// to the real stderr, so a first build is visible while it happens even under `cargo test`'s
/// output capture.
async fn run_build_script(script: &Path) -> Result<String> {
    let mut child = tokio::process::Command::new(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context(|| format!("running {}", script.display()))?;

    let mut stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let forward = async {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if QUIET_LINES.iter().any(|quiet| line.contains(quiet)) {
                eprintln!("{line}");
            } else {
                // Bypasses libtest's capture on purpose: see the doc comment.
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    };
    let mut out = String::new();
    let read = stdout.read_to_string(&mut out);
    let (read, ()) = tokio::join!(read, forward);
    read.context(|| format!("reading the output of {}", script.display()))?;
    let status = child
        .wait()
        .await
        .context(|| format!("waiting for {}", script.display()))?;
    if !status.success() {
        return Err(Error::Build {
            script: script.to_owned(),
            status,
        });
    }
    Ok(out)
}

/// The path on the script's `<variable>=<path>` line.
fn path_in_output(script: &Path, out: &str, variable: &'static str) -> Result<PathBuf> {
    out.lines()
        .find_map(|line| line.strip_prefix(variable)?.strip_prefix('='))
        .map(|value| PathBuf::from(unquote(value)))
        .ok_or_else(|| Error::BuildOutput {
            script: script.to_owned(),
            variable,
            stdout: out.to_owned(),
        })
}

/// Undoes bash's `printf %q` for the forms it uses on paths: plain words, and backslashes
/// before special characters. (`$'…'` only appears for control characters, which a cache
/// path does not have.)
fn unquote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unquote;

    #[test]
    fn plain_paths_are_unchanged() {
        assert_eq!(
            unquote("/root/.cache/mirrord-usage/controlplane/etcd-v3.6.16/etcd"),
            "/root/.cache/mirrord-usage/controlplane/etcd-v3.6.16/etcd"
        );
    }

    #[test]
    fn backslash_escapes_are_removed() {
        assert_eq!(unquote(r"/home/a\ b/\$x\\y"), r"/home/a b/$x\y");
    }
}
