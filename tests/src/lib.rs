//! Test harness of mirrord-usage: a real kube-apiserver (v1.34) and etcd (v3.6), built from
//! source by `tests/controlplane/build.sh`, started on loopback with their own PKI; and helm,
//! built from source by `tests/helm/build.sh`, to render and install the chart.
//!
//! ```no_run
//! use k8s_openapi::api::core::v1::Namespace;
//! use kube::{Api, api::ListParams};
//! use mirrord_usage_tests::ControlPlane;
//!
//! # async fn example() -> mirrord_usage_tests::Result<()> {
//! let control_plane = ControlPlane::start().await?;
//! let namespaces = Api::<Namespace>::all(control_plane.admin_client())
//!     .list(&ListParams::default())
//!     .await?;
//! assert!(!namespaces.items.is_empty());
//! # Ok(())
//! # }
//! ```

pub mod access;
pub mod api_service;
pub mod binaries;
pub mod cert_manager;
pub mod control_plane;
pub mod crd;
pub mod error;
pub mod helm;
pub mod kubeconfig;
pub mod operator_simulation;
pub mod pki;
pub mod process;
pub mod user;
pub mod wait;

pub use access::BindingSubject;
pub use api_service::ApiServiceRegistration;
pub use binaries::Binaries;
pub use control_plane::ControlPlane;
pub use crd::install_crd;
pub use error::{Error, Result};
pub use helm::{Helm, Rendered, Values};
pub use pki::{ClientIdentity, Pki, TestCa};
pub use process::is_running;
pub use user::User;
pub use wait::eventually;
