//! Interning: every text a session carries (users, targets, versions) is stored once and
//! referred to by id; the ids are loaded at open and extended by each batch.

use std::borrow::Cow;

use mirrord_usage_crds::event::SessionStart;
use rusqlite::Connection;

use crate::calendar::{self};
use crate::error::Result;
use crate::model::{ABSENT, CiKey, DimId, Dimensions, Identity, IdentityKey, TargetKey};

use super::ingest::StartRecord;

pub(super) fn load_dimensions(conn: &Connection) -> Result<Dimensions> {
    let mut dims = Dimensions::default();
    let mut strings = conn.prepare("SELECT id, value FROM strings ORDER BY id")?;
    let mut rows = strings.query([])?;
    while let Some(row) = rows.next()? {
        dims.restore_string(row.get(0)?, &row.get::<_, String>(1)?);
    }
    let mut identities = conn.prepare(
        "SELECT id, machine_id, kubernetes_username, client_username, client_hostname, \
         first_user_start_us, last_user_start_us FROM identities ORDER BY id",
    )?;
    let mut rows = identities.query([])?;
    while let Some(row) = rows.next()? {
        let key = IdentityKey {
            machine_id: row.get(1)?,
            kubernetes_username: row.get(2)?,
            client_username: row.get(3)?,
            client_hostname: row.get(4)?,
        };
        dims.restore_identity(
            row.get(0)?,
            Identity {
                key,
                first_user_start: row.get(5)?,
                last_user_start: row.get(6)?,
            },
        );
    }
    let mut targets = conn.prepare("SELECT id, kind, name, container FROM targets ORDER BY id")?;
    let mut rows = targets.query([])?;
    while let Some(row) = rows.next()? {
        dims.restore_target(
            row.get(0)?,
            TargetKey {
                kind: row.get(1)?,
                name: row.get(2)?,
                container: row.get(3)?,
            },
        );
    }
    let mut contexts =
        conn.prepare("SELECT id, provider, pipeline, environment, triggered_by FROM ci_contexts ORDER BY id")?;
    let mut rows = contexts.query([])?;
    while let Some(row) = rows.next()? {
        dims.restore_ci(
            row.get(0)?,
            CiKey {
                provider: row.get(1)?,
                pipeline: row.get(2)?,
                environment: row.get(3)?,
                triggered_by: row.get(4)?,
            },
        );
    }
    Ok(dims)
}

pub(super) fn intern_string(dims: &mut Cow<'_, Dimensions>, value: Option<&str>) -> DimId {
    match value {
        None => ABSENT,
        Some(value) => match dims.string_id(value) {
            Some(id) => id,
            None => dims.to_mut().intern_string(value),
        },
    }
}

pub(super) fn resolve_start(dims: &mut Cow<'_, Dimensions>, start: &SessionStart) -> StartRecord {
    let identity = IdentityKey {
        machine_id: intern_string(dims, Some(&start.machine_id)),
        kubernetes_username: intern_string(dims, start.kubernetes_username.as_deref()),
        client_username: intern_string(dims, start.client_username.as_deref()),
        client_hostname: intern_string(dims, start.client_hostname.as_deref()),
    };
    let identity = match dims.identity_id(&identity) {
        Some(id) => id,
        None => dims.to_mut().intern_identity(identity),
    };
    let target = match &start.target {
        None => ABSENT,
        Some(target) => {
            let key = TargetKey {
                kind: intern_string(dims, Some(&target.kind)),
                name: intern_string(dims, Some(&target.name)),
                container: intern_string(dims, target.container.as_deref()),
            };
            match dims.target_id(&key) {
                Some(id) => id,
                None => dims.to_mut().intern_target(key),
            }
        }
    };
    let ci = start.ci.as_ref().map(|ci| {
        let key = CiKey {
            provider: intern_string(dims, ci.provider.as_deref()),
            pipeline: intern_string(dims, ci.pipeline.as_deref()),
            environment: intern_string(dims, ci.environment.as_deref()),
            triggered_by: intern_string(dims, ci.triggered_by.as_deref()),
        };
        match dims.ci_id(&key) {
            Some(id) => id,
            None => dims.to_mut().intern_ci(key),
        }
    });
    StartRecord {
        start: calendar::to_micros(start.timestamp),
        identity,
        target,
        namespace: intern_string(dims, start.namespace.as_deref()),
        ci,
        cli_version: intern_string(dims, start.cli_version.as_deref()),
        operator_version: intern_string(dims, start.operator_version.as_deref()),
        multi_cluster_parent: intern_string(dims, start.multi_cluster_parent.as_deref()),
        estimated: start.estimated,
    }
}
