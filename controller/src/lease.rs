//! One controller per cluster: a `coordination.k8s.io` Lease names the controller that writes
//! report status and reads the operator. Another one waits until the Lease is released or
//! expires, and a holder that loses it stops.

use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use mirrord_usage_crds::FIELD_MANAGER;

/// Name of the Lease.
pub const LEASE_NAME: &str = "mirrord-usage-controller";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not read or write Lease {namespace}/{LEASE_NAME}: {source}")]
    Kube { namespace: String, source: kube::Error },
    #[error("Lease {namespace}/{LEASE_NAME} is now held by {holder}")]
    Lost { namespace: String, holder: String },
}

/// Who holds the Lease, and for how long each renewal lasts.
#[derive(Debug, Clone)]
pub struct LeaderLease {
    api: Api<Lease>,
    namespace: String,
    holder: String,
    duration: Duration,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::from_microsecond(Utc::now().timestamp_micros()).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn micros(time: &MicroTime) -> i64 {
    time.0.as_microsecond()
}

impl LeaderLease {
    pub fn new(client: kube::Client, namespace: &str, holder: String, duration: Duration) -> Self {
        LeaderLease {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            holder,
            duration,
        }
    }

    fn error(&self, source: kube::Error) -> Error {
        Error::Kube {
            namespace: self.namespace.clone(),
            source,
        }
    }

    fn spec(&self, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.holder.clone()),
            lease_duration_seconds: Some(self.duration.as_secs().max(1) as i32),
            acquire_time: Some(now()),
            renew_time: Some(now()),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Takes the Lease, waiting while another live holder has it.
    pub async fn acquire(&self) -> Result<(), Error> {
        let mut waiting_for: Option<String> = None;
        loop {
            match self.api.get_opt(LEASE_NAME).await.map_err(|e| self.error(e))? {
                None => {
                    let lease = Lease {
                        metadata: ObjectMeta {
                            name: Some(LEASE_NAME.into()),
                            ..ObjectMeta::default()
                        },
                        spec: Some(self.spec(0)),
                    };
                    let params = PostParams {
                        field_manager: Some(FIELD_MANAGER.into()),
                        ..PostParams::default()
                    };
                    match self.api.create(&params, &lease).await {
                        Ok(_) => return Ok(()),
                        Err(kube::Error::Api(response)) if response.code == 409 => continue,
                        Err(error) => return Err(self.error(error)),
                    }
                }
                Some(lease) => {
                    let spec = lease.spec.clone().unwrap_or_default();
                    let holder = spec.holder_identity.clone().unwrap_or_default();
                    let lasts = i64::from(spec.lease_duration_seconds.unwrap_or(0)) * 1_000_000;
                    let expired = spec
                        .renew_time
                        .as_ref()
                        .is_none_or(|renewed| micros(renewed) + lasts < micros(&now()));
                    if holder.is_empty() || holder == self.holder || expired {
                        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(holder != self.holder);
                        let mut taken = lease.clone();
                        taken.spec = Some(self.spec(transitions));
                        // The resource version makes this fail if someone else took it meanwhile.
                        match self.api.replace(LEASE_NAME, &PostParams::default(), &taken).await {
                            Ok(_) => {
                                tracing::info!(holder = %self.holder, "holding the controller lease");
                                return Ok(());
                            }
                            Err(kube::Error::Api(response)) if response.code == 409 => continue,
                            Err(error) => return Err(self.error(error)),
                        }
                    }
                    if waiting_for.as_deref() != Some(holder.as_str()) {
                        tracing::info!(%holder, "another controller holds the lease; waiting until it lets go");
                        waiting_for = Some(holder);
                    }
                    tokio::time::sleep(self.duration / 3).await;
                }
            }
        }
    }

    /// Renews the Lease until it is lost (then returns why) or the task is dropped.
    pub async fn keep(&self) -> Error {
        loop {
            tokio::time::sleep(self.duration / 3).await;
            let lease = match self.api.get(LEASE_NAME).await {
                Ok(lease) => lease,
                Err(error) => {
                    tracing::warn!(%error, "could not renew the controller lease; trying again");
                    continue;
                }
            };
            let holder = lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.clone())
                .unwrap_or_default();
            if holder != self.holder {
                return Error::Lost {
                    namespace: self.namespace.clone(),
                    holder,
                };
            }
            let mut renewed = lease;
            if let Some(spec) = renewed.spec.as_mut() {
                spec.renew_time = Some(now());
            }
            match self.api.replace(LEASE_NAME, &PostParams::default(), &renewed).await {
                Ok(_) => {}
                Err(kube::Error::Api(response)) if response.code == 409 => {}
                Err(error) => tracing::warn!(%error, "could not renew the controller lease; trying again"),
            }
        }
    }

    /// Lets go of the Lease, so a waiting controller takes over at once.
    pub async fn release(&self) {
        if let Ok(mut lease) = self.api.get(LEASE_NAME).await
            && lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(self.holder.as_str())
        {
            if let Some(spec) = lease.spec.as_mut() {
                spec.holder_identity = None;
                spec.renew_time = None;
            }
            let _ = self.api.replace(LEASE_NAME, &PostParams::default(), &lease).await;
        }
    }
}

/// Identity of this process as a Lease holder.
pub fn holder_identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "mirrord-usage".to_owned());
    format!("{host}_{}_{:08x}", std::process::id(), rand::random::<u32>())
}
