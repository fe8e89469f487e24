//! The ClusterRoles mirrord-usage ships, as values: who may read reports, per-user usage and the
//! session audit log, and who may send session events. Each role includes everything of the one
//! before it (viewer, analyst, auditor), so granting a person one role is enough.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::rbac::v1::{ClusterRole, PolicyRule},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

use crate::analytics::resources::{
    DASHBOARD, MIRRORD_SESSIONS, MIRRORD_USERS, SESSION_EVENTS, USAGE_REPORT_SUMMARY, USAGE_REPORT_TRENDS,
    USAGE_REPORTS,
};
use crate::{ANALYTICS_GROUP, USAGE_GROUP, usage_report::MirrordUsageReport};

/// Reads reports, trends and the dashboard: no per-user rows, no sessions.
pub const VIEWER_ROLE: &str = "mirrord-usage-viewer";
/// A viewer who may also read per-user usage.
pub const ANALYST_ROLE: &str = "mirrord-usage-analyst";
/// An analyst who may also read the session audit log.
pub const AUDITOR_ROLE: &str = "mirrord-usage-auditor";
/// Sends session events (the mirrord operator's service account).
pub const INGEST_ROLE: &str = "mirrord-usage-ingest";

/// Label every shipped role carries, so `kubectl get clusterroles -l` finds them all.
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
/// Value of [`PART_OF_LABEL`].
pub const PART_OF: &str = "mirrord-usage";
/// Label that makes Kubernetes add a role's rules to the built-in `view` role.
pub const AGGREGATE_TO_VIEW_LABEL: &str = "rbac.authorization.k8s.io/aggregate-to-view";

/// The viewer, analyst, auditor and ingest roles.
///
/// With `aggregate_to_view`, everyone bound to the built-in `view` role may also read reports
/// (as a viewer); without it only explicit bindings grant anything.
pub fn cluster_roles(aggregate_to_view: bool) -> Vec<ClusterRole> {
    let viewer_labels: &[(&str, &str)] = if aggregate_to_view {
        &[(AGGREGATE_TO_VIEW_LABEL, "true")]
    } else {
        &[]
    };
    vec![
        cluster_role(VIEWER_ROLE, viewer_labels, viewer_rules()),
        cluster_role(ANALYST_ROLE, &[], analyst_rules()),
        cluster_role(AUDITOR_ROLE, &[], auditor_rules()),
        cluster_role(
            INGEST_ROLE,
            &[],
            vec![rule(ANALYTICS_GROUP, &[SESSION_EVENTS], &["create"])],
        ),
    ]
}

fn viewer_rules() -> Vec<PolicyRule> {
    let usage_reports = <MirrordUsageReport as kube::Resource>::plural(&());
    vec![
        // `watch` so that `kubectl get mirrordusagereports -w` works.
        rule(USAGE_GROUP, &[&usage_reports], &["get", "list", "watch"]),
        rule(
            ANALYTICS_GROUP,
            &[USAGE_REPORTS, USAGE_REPORT_TRENDS, USAGE_REPORT_SUMMARY],
            &["get"],
        ),
        // `dashboard/` is a collection request (`list`), `dashboard/<file>` a named one (`get`).
        // RBAC has no `dashboard/*` wildcard for deeper paths, so the dashboard's files are all
        // one segment below it.
        rule(ANALYTICS_GROUP, &[DASHBOARD], &["get", "list"]),
    ]
}

fn analyst_rules() -> Vec<PolicyRule> {
    let mut rules = viewer_rules();
    rules.push(rule(ANALYTICS_GROUP, &[MIRRORD_USERS], &["get", "list"]));
    rules
}

fn auditor_rules() -> Vec<PolicyRule> {
    let mut rules = analyst_rules();
    rules.push(rule(ANALYTICS_GROUP, &[MIRRORD_SESSIONS], &["get", "list"]));
    rules
}

fn cluster_role(name: &str, extra_labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
    let labels = [(PART_OF_LABEL, PART_OF)]
        .iter()
        .chain(extra_labels)
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect::<BTreeMap<_, _>>();
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        rules: Some(rules),
        ..ClusterRole::default()
    }
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let owned = |values: &[&str]| values.iter().map(|&value| value.to_owned()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(owned(resources)),
        verbs: owned(verbs),
        ..PolicyRule::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// What a role allows, as (group, resource, verb) triples, however its rules are split.
    fn grants(role: &ClusterRole) -> BTreeSet<(String, String, String)> {
        let mut grants = BTreeSet::new();
        for rule in role.rules.iter().flatten() {
            for group in rule.api_groups.iter().flatten() {
                for resource in rule.resources.iter().flatten() {
                    for verb in &rule.verbs {
                        grants.insert((group.clone(), resource.clone(), verb.clone()));
                    }
                }
            }
        }
        grants
    }

    fn role(name: &str) -> ClusterRole {
        cluster_roles(false)
            .into_iter()
            .find(|role| role.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no role named {name}"))
    }

    fn grant(group: &str, resource: &str, verb: &str) -> (String, String, String) {
        (group.to_owned(), resource.to_owned(), verb.to_owned())
    }

    fn allows(role_name: &str, resource: &str, verb: &str) -> bool {
        grants(&role(role_name)).contains(&grant(ANALYTICS_GROUP, resource, verb))
    }

    #[test]
    fn the_viewer_reads_reports_trends_and_the_dashboard_and_nothing_per_user() {
        let viewer = grants(&role(VIEWER_ROLE));
        let expected = [
            grant(USAGE_GROUP, "mirrordusagereports", "get"),
            grant(USAGE_GROUP, "mirrordusagereports", "list"),
            grant(USAGE_GROUP, "mirrordusagereports", "watch"),
            grant(ANALYTICS_GROUP, USAGE_REPORTS, "get"),
            grant(ANALYTICS_GROUP, USAGE_REPORT_TRENDS, "get"),
            grant(ANALYTICS_GROUP, USAGE_REPORT_SUMMARY, "get"),
            grant(ANALYTICS_GROUP, DASHBOARD, "get"),
            grant(ANALYTICS_GROUP, DASHBOARD, "list"),
        ];
        assert_eq!(viewer, BTreeSet::from(expected));
    }

    #[test]
    fn each_role_includes_everything_of_the_one_before_and_one_thing_more() {
        let viewer = grants(&role(VIEWER_ROLE));
        let analyst = grants(&role(ANALYST_ROLE));
        let auditor = grants(&role(AUDITOR_ROLE));
        assert!(analyst.is_superset(&viewer), "{:?}", viewer.difference(&analyst));
        assert!(auditor.is_superset(&analyst), "{:?}", analyst.difference(&auditor));

        assert!(!allows(VIEWER_ROLE, MIRRORD_USERS, "get"));
        assert!(allows(ANALYST_ROLE, MIRRORD_USERS, "get"));
        assert!(allows(ANALYST_ROLE, MIRRORD_USERS, "list"));
        assert!(!allows(ANALYST_ROLE, MIRRORD_SESSIONS, "get"));
        assert!(allows(AUDITOR_ROLE, MIRRORD_SESSIONS, "get"));
        assert!(allows(AUDITOR_ROLE, MIRRORD_SESSIONS, "list"));
    }

    #[test]
    fn only_the_ingest_role_may_send_session_events_and_it_may_do_nothing_else() {
        assert_eq!(
            grants(&role(INGEST_ROLE)),
            BTreeSet::from([grant(ANALYTICS_GROUP, SESSION_EVENTS, "create")])
        );
        for reader in [VIEWER_ROLE, ANALYST_ROLE, AUDITOR_ROLE] {
            assert!(!allows(reader, SESSION_EVENTS, "create"), "{reader}");
        }
    }

    #[test]
    fn no_role_may_change_anything_it_reads() {
        let writes = ["create", "update", "patch", "delete", "deletecollection", "*"];
        for reader in [VIEWER_ROLE, ANALYST_ROLE, AUDITOR_ROLE] {
            for (_, resource, verb) in grants(&role(reader)) {
                assert!(!writes.contains(&verb.as_str()), "{reader} may {verb} {resource}");
            }
        }
    }

    #[test]
    fn every_role_is_labelled_part_of_mirrord_usage_and_has_its_own_name() {
        let roles = cluster_roles(true);
        let names: BTreeSet<_> = roles.iter().map(|role| role.metadata.name.clone().unwrap()).collect();
        assert_eq!(names.len(), roles.len(), "{names:?}");
        for role in &roles {
            let labels = role.metadata.labels.as_ref().unwrap();
            assert_eq!(
                labels.get(PART_OF_LABEL).map(String::as_str),
                Some(PART_OF),
                "{names:?}"
            );
        }
    }

    #[test]
    fn only_the_viewer_aggregates_to_view_and_only_when_asked() {
        let aggregating = |aggregate_to_view| {
            cluster_roles(aggregate_to_view)
                .into_iter()
                .filter(|role| {
                    let labels = role.metadata.labels.as_ref().unwrap();
                    labels.get(AGGREGATE_TO_VIEW_LABEL).map(String::as_str) == Some("true")
                })
                .map(|role| role.metadata.name.unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(aggregating(true), [VIEWER_ROLE]);
        assert!(aggregating(false).is_empty());
    }
}
