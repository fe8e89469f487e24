//! `meta.k8s.io` `Table` answers, what `kubectl get` asks for to print columns chosen by the
//! server.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;
use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use mirrord_usage_crds::analytics::{MirrordSession, MirrordUser};
use serde_json::{Value, json};

use crate::human;

/// A column of a table; priority 0 is always shown, 1 only with `-o wide`.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: u8,
}

const fn column(name: &'static str, kind: &'static str, description: &'static str, priority: u8) -> Column {
    Column {
        name,
        kind,
        format: "",
        description,
        priority,
    }
}

/// The `Table` version a request asks for, if it asks for a table at all.
pub fn requested_version(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get_all(ACCEPT).iter().filter_map(|value| value.to_str().ok());
    for media_type in accept.flat_map(|value| value.split(',')) {
        let mut params = media_type.split(';').map(str::trim);
        if params.next() != Some("application/json") {
            continue;
        }
        let (mut table, mut group, mut version) = (false, false, None);
        for param in params {
            match param.split_once('=') {
                Some(("as", "Table")) => table = true,
                Some(("g", "meta.k8s.io")) => group = true,
                Some(("v", "v1")) => version = Some("v1"),
                Some(("v", "v1beta1")) => version = Some("v1beta1"),
                _ => {}
            }
        }
        if table && group && version.is_some() {
            return version;
        }
    }
    None
}

/// One row: its cells, and the name and creation time of the object it shows.
#[derive(Debug, Clone)]
pub struct Row {
    pub cells: Vec<Value>,
    pub name: String,
    pub created: Option<DateTime<Utc>>,
}

/// A table of `rows` under `columns`, `continue_token` leading to the next page.
pub fn table(version: &str, columns: &[Column], rows: Vec<Row>, continue_token: Option<String>) -> Value {
    let metadata = ListMeta {
        continue_: continue_token,
        ..ListMeta::default()
    };
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": metadata,
        "columnDefinitions": columns.iter().map(|column| json!({
            "name": column.name,
            "type": column.kind,
            "format": column.format,
            "description": column.description,
            "priority": column.priority,
        })).collect::<Vec<_>>(),
        "rows": rows.into_iter().map(|row| {
            let metadata = ObjectMeta {
                name: Some(row.name),
                creation_timestamp: row.created.and_then(object_time),
                ..ObjectMeta::default()
            };
            json!({
                "cells": row.cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": metadata},
            })
        }).collect::<Vec<_>>(),
    })
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Kubernetes' timestamps are whole seconds. `None` only beyond the year 9999.
fn object_time(at: DateTime<Utc>) -> Option<Time> {
    Timestamp::from_second(at.timestamp()).ok().map(Time)
}

fn text(value: &Option<String>) -> Value {
    json!(value.as_deref().unwrap_or("-"))
}

pub const SESSION_COLUMNS: &[Column] = &[
    Column {
        format: "name",
        ..column("Name", "string", "Session id.", 0)
    },
    column(
        "User",
        "string",
        "Kubernetes user, else the client's user, else its machine id.",
        0,
    ),
    column(
        "Target",
        "string",
        "What the session targeted, kind/name (targetless: -).",
        0,
    ),
    column("Namespace", "string", "Namespace of the target.", 0),
    column("Started", "string", "When the session started (UTC).", 0),
    column("Duration", "string", "How long it ran, or has run so far.", 0),
    column(
        "CI",
        "string",
        "CI pipeline (else provider), when the session ran in CI.",
        0,
    ),
    column(
        "Closed",
        "string",
        "Why the session closed, as the operator reported it.",
        0,
    ),
    column("CLI", "string", "mirrord CLI version.", 0),
    column("Machine", "string", "The client's machine id.", 1),
    column("Hostname", "string", "Hostname of the developer's machine.", 1),
    column("Ended", "string", "When the session ended (UTC).", 1),
    column(
        "Parent",
        "string",
        "Multi-cluster sessions: the parent session on the primary cluster.",
        1,
    ),
];

/// Rows of `kubectl get mirrordsessions`.
pub fn session_rows(sessions: &[MirrordSession]) -> Vec<Row> {
    sessions
        .iter()
        .map(|session| {
            let user = session
                .kubernetes_username
                .clone()
                .or_else(|| session.client_username.clone())
                .or_else(|| session.machine_id.clone());
            let target = session
                .target
                .as_ref()
                .map(|target| format!("{}/{}", target.kind, target.name));
            let duration = human::duration(session.duration_seconds);
            Row {
                cells: vec![
                    json!(session.session_id),
                    text(&user),
                    text(&target),
                    text(&session.namespace),
                    json!(time(session.start)),
                    json!(if session.running {
                        format!("{duration} (running)")
                    } else {
                        duration
                    }),
                    text(&session.ci.as_ref().map(|ci| {
                        ci.pipeline
                            .clone()
                            .or_else(|| ci.provider.clone())
                            .unwrap_or_else(|| "yes".to_owned())
                    })),
                    text(&session.close_reason),
                    text(&session.cli_version),
                    text(&session.machine_id),
                    text(&session.client_hostname),
                    text(&session.end.map(time)),
                    text(&session.multi_cluster_parent),
                ],
                name: session.metadata.name.clone(),
                created: Some(session.start),
            }
        })
        .collect()
}

pub const USER_COLUMNS: &[Column] = &[
    Column {
        format: "name",
        ..column("Name", "string", "The user's primary key value.", 0)
    },
    column("Sessions", "integer", "User sessions in the range.", 0),
    column("Total Time", "string", "Time in user sessions in the range.", 0),
    column("Avg Duration", "string", "Average session duration.", 0),
    column("Last Session", "string", "Latest session start in the range (UTC).", 0),
    column("Active Since", "string", "First user session ever (UTC).", 0),
    column("Kubernetes User", "string", "Kubernetes user.", 1),
    column("Client User", "string", "User on the developer's machine.", 1),
    column("Hostname", "string", "Hostname of the developer's machine.", 1),
];

/// Rows of `kubectl get mirrordusers`.
pub fn user_rows(users: &[MirrordUser]) -> Vec<Row> {
    users
        .iter()
        .map(|user| {
            let usage = &user.usage;
            Row {
                cells: vec![
                    json!(user.metadata.name),
                    json!(usage.session_count),
                    json!(human::duration(usage.total_session_time_seconds)),
                    json!(human::duration(usage.avg_session_duration_seconds)),
                    json!(time(usage.last_session)),
                    json!(time(usage.active_since)),
                    text(&usage.kubernetes_username),
                    text(&usage.client_username),
                    text(&usage.client_hostname),
                ],
                name: user.metadata.name.clone(),
                created: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn kubectl_get_asks_for_a_v1_table() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(requested_version(&accept(kubectl)), Some("v1"));
        assert_eq!(
            requested_version(&accept("application/json;as=Table;v=v1beta1;g=meta.k8s.io")),
            Some("v1beta1")
        );
    }

    #[test]
    fn plain_json_and_other_tables_are_not_tables() {
        assert_eq!(requested_version(&accept("application/json")), None);
        assert_eq!(requested_version(&HeaderMap::new()), None);
        assert_eq!(
            requested_version(&accept("application/json;as=Table;v=v1;g=other.io")),
            None
        );
    }

    #[test]
    fn a_table_carries_columns_rows_and_the_continue_token() {
        let rows = vec![Row {
            cells: vec![json!("a"), json!(1)],
            name: "a".to_owned(),
            created: None,
        }];
        let columns = &USER_COLUMNS[..2];
        let table = table("v1", columns, rows, Some("next".to_owned()));
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(table["metadata"]["continue"], "next");
        assert_eq!(table["columnDefinitions"][0]["format"], "name");
        assert_eq!(table["rows"][0]["cells"][1], 1);
        assert_eq!(table["rows"][0]["object"]["metadata"]["name"], "a");
    }

    #[test]
    fn rows_name_their_object_and_when_it_began_to_the_second() {
        let created = DateTime::parse_from_rfc3339("2026-11-05T09:00:00.250Z")
            .unwrap()
            .to_utc();
        let rows = vec![
            Row {
                cells: vec![json!("s1")],
                name: "s1".to_owned(),
                created: Some(created),
            },
            Row {
                cells: vec![json!("s2")],
                name: "s2".to_owned(),
                created: None,
            },
        ];
        let table = table("v1beta1", &SESSION_COLUMNS[..1], rows, None);
        assert_eq!(table["metadata"], json!({}));
        assert_eq!(
            table["rows"][0]["object"],
            json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1beta1",
                "metadata": {"name": "s1", "creationTimestamp": "2026-11-05T09:00:00Z"},
            })
        );
        assert_eq!(table["rows"][1]["object"]["metadata"], json!({"name": "s2"}));
    }
}
