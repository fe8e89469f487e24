//! The chart through helm (built from source by `tests/helm/build.sh`): `helm template` into
//! documents, `helm lint`, and any helm command against a control plane. Helm gets configuration,
//! cache and data directories of its own, so nothing of the user's helm setup is read or written.

use std::{
    ffi::{OsStr, OsString},
    path::{Path, PathBuf},
    process::{Output, Stdio},
};

use serde::de::DeserializeOwned;
use serde_json::Value;
use tempfile::TempDir;

use crate::{
    binaries,
    error::{Error, IoContext as _, Result},
};

/// The repository's root directory.
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the repository")
        .to_owned()
}

/// `charts/mirrord-usage`.
pub fn chart_dir() -> PathBuf {
    repo_dir().join("charts/mirrord-usage")
}

/// Values given on the command line, in order (a later one wins, as in helm).
#[derive(Clone, Debug, Default)]
pub struct Values {
    args: Vec<OsString>,
}

impl Values {
    pub fn new() -> Self {
        Self::default()
    }

    /// `--set key=value`: helm parses the value (numbers, booleans, `{a,b}` lists).
    pub fn set(self, key: &str, value: &str) -> Self {
        self.flag("--set", format!("{key}={value}"))
    }

    /// `--set-string key=value`.
    pub fn set_string(self, key: &str, value: &str) -> Self {
        self.flag("--set-string", format!("{key}={value}"))
    }

    /// `--set-file key=path`: the file's content as a string.
    pub fn set_file(self, key: &str, path: &Path) -> Self {
        let mut pair = OsString::from(format!("{key}="));
        pair.push(path);
        self.flag("--set-file", pair)
    }

    fn flag(mut self, flag: &str, value: impl Into<OsString>) -> Self {
        self.args.push(flag.into());
        self.args.push(value.into());
        self
    }

    pub fn args(&self) -> &[OsString] {
        &self.args
    }
}

/// The helm binary and the directories it may write.
#[derive(Debug)]
pub struct Helm {
    binary: PathBuf,
    home: TempDir,
}

impl Helm {
    /// Builds helm on first use (a minute or two), else finds it in the cache.
    pub async fn locate() -> Result<Self> {
        let binary = binaries::locate_helm().await?;
        let home = tempfile::Builder::new()
            .prefix("mirrord-usage-helm.")
            .tempdir()
            .context(|| "creating a temporary directory for helm".to_owned())?;
        Ok(Self { binary, home })
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The environment helm runs with: its own directories under a temporary one.
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        ["HELM_CONFIG_HOME", "HELM_CACHE_HOME", "HELM_DATA_HOME"]
            .into_iter()
            .map(|name| (name, self.home.path().join(name.to_lowercase())))
            .collect()
    }

    /// A command that runs helm with [`Self::env`] and without the caller's `HELM_*` and
    /// `KUBECONFIG`, in the repository's root (so `charts/mirrord-usage` is the chart).
    pub fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .current_dir(repo_dir())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("HELM_") {
                command.env_remove(name);
            }
        }
        command.envs(self.env());
        command
    }

    /// Runs helm with `args` and returns what it printed and its exit status (a failing helm is
    /// an `Ok` with a non-zero status, so tests can check failures).
    pub async fn run<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command()
            .args(args)
            .output()
            .await
            .context(|| format!("running {}", self.binary.display()))
    }

    /// `helm template <release> charts/mirrord-usage --namespace <namespace> --include-crds`
    /// with `values`; a failing helm is [`Error::Helm`], with what it printed.
    pub async fn template(&self, release: &str, namespace: &str, values: &Values) -> Result<Rendered> {
        let mut args: Vec<OsString> = vec![
            "template".into(),
            release.into(),
            chart_dir().into(),
            "--namespace".into(),
            namespace.into(),
            "--include-crds".into(),
        ];
        args.extend(values.args().iter().cloned());
        let output = self.run(&args).await?;
        if !output.status.success() {
            return Err(helm_error(&args, &output));
        }
        Rendered::parse(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `helm lint --strict charts/mirrord-usage` with `values`.
    pub async fn lint(&self, values: &Values) -> Result<Output> {
        let mut args: Vec<OsString> = vec!["lint".into(), "--strict".into(), chart_dir().into()];
        args.extend(values.args().iter().cloned());
        self.run(&args).await
    }
}

fn helm_error(args: &[OsString], output: &Output) -> Error {
    Error::Helm {
        command: args
            .iter()
            .map(|arg| arg.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// What `helm template` printed, as YAML and as one JSON value per document.
#[derive(Clone, Debug)]
pub struct Rendered {
    yaml: String,
    documents: Vec<Value>,
}

impl Rendered {
    /// Splits multi-document YAML; empty documents are left out.
    pub fn parse(yaml: String) -> Result<Self> {
        let mut documents = Vec::new();
        for document in serde_yaml_ng::Deserializer::from_str(&yaml) {
            let value = <Value as serde::Deserialize>::deserialize(document).map_err(Error::RenderedYaml)?;
            if !value.is_null() {
                documents.push(value);
            }
        }
        Ok(Self { yaml, documents })
    }

    pub fn yaml(&self) -> &str {
        &self.yaml
    }

    pub fn documents(&self) -> &[Value] {
        &self.documents
    }

    /// Every document of `kind` (any API version).
    pub fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Value> + 'a {
        let kind = kind.to_owned();
        self.documents
            .iter()
            .filter(move |document| document["kind"] == kind.as_str())
    }

    /// The document of `kind` named `name`.
    pub fn get(&self, kind: &str, name: &str) -> Option<&Value> {
        self.of_kind(kind).find(|document| document["metadata"]["name"] == name)
    }

    /// Every document of `K`'s API version and kind, as `K`.
    pub fn objects<K>(&self) -> Result<Vec<K>>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        self.documents
            .iter()
            .filter(|document| document["apiVersion"] == K::API_VERSION && document["kind"] == K::KIND)
            .map(|document| {
                serde_json::from_value(document.clone()).map_err(|source| Error::RenderedObject {
                    kind: K::KIND,
                    name: document["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
                    source,
                })
            })
            .collect()
    }

    /// The one object of `K`'s kind named `name`.
    pub fn object<K>(&self, name: &str) -> Result<K>
    where
        K: k8s_openapi::Resource
            + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>
            + DeserializeOwned,
    {
        self.objects::<K>()?
            .into_iter()
            .find(|object| object.metadata().name.as_deref() == Some(name))
            .ok_or_else(|| Error::NotRendered {
                kind: K::KIND,
                name: name.to_owned(),
            })
    }

    /// The documents as YAML, without those `skip` returns true for.
    pub fn yaml_without(&self, skip: impl Fn(&Value) -> bool) -> String {
        self.documents
            .iter()
            .filter(|document| !skip(document))
            .map(|document| {
                format!(
                    "---\n{}",
                    serde_yaml_ng::to_string(document).expect("JSON values are YAML")
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_and_empty_ones_left_out() {
        let rendered = Rendered::parse(
            "---\n# Source: a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n"
                .to_owned(),
        )
        .unwrap();
        assert_eq!(rendered.documents().len(), 2);
        assert!(rendered.get("ConfigMap", "a").is_some());
        assert!(rendered.get("Secret", "a").is_none());
        let secrets = rendered.objects::<k8s_openapi::api::core::v1::Secret>().unwrap();
        assert_eq!(secrets[0].metadata.name.as_deref(), Some("b"));
    }

    #[test]
    fn values_keep_their_order_as_helm_flags() {
        let values = Values::new()
            .set("a.b", "1")
            .set_string("c", "2")
            .set_file("d", Path::new("/x"));
        let args: Vec<_> = values.args().iter().map(|arg| arg.to_str().unwrap()).collect();
        assert_eq!(args, ["--set", "a.b=1", "--set-string", "c=2", "--set-file", "d=/x"]);
    }
}
