//! Installing a CustomResourceDefinition and waiting until the API server serves it.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
    runtime::wait::{await_condition, conditions},
};

use crate::error::{Error, Result};

/// The field manager of what the harness applies.
pub const FIELD_MANAGER: &str = "mirrord-usage-tests";

/// How long a CRD may take to become Established; on an idle control plane it takes well
/// under a second.
pub const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(30);

/// Applies `crd` (server-side, so installing the same CRD twice is fine) and waits, with a
/// watch, until its `Established` condition is true. Returns the CRD as the server has it.
pub async fn install_crd(client: &Client, crd: &CustomResourceDefinition) -> Result<CustomResourceDefinition> {
    let name = crd.metadata.name.clone().ok_or(Error::UnnamedCrd)?;
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(crd))
        .await?;
    let established = tokio::time::timeout(
        ESTABLISHED_TIMEOUT,
        await_condition(api, &name, conditions::is_crd_established()),
    )
    .await
    .map_err(|_| Error::CrdNotEstablished {
        name: name.clone(),
        timeout: ESTABLISHED_TIMEOUT,
    })?
    .map_err(|source| Error::CrdWait {
        name: name.clone(),
        source,
    })?;
    // The condition only holds for an object that exists, so `None` cannot happen here.
    established.ok_or(Error::CrdNotEstablished {
        name,
        timeout: ESTABLISHED_TIMEOUT,
    })
}
