//! What the API group says about itself: discovery documents (which resources exist, with which
//! verbs) and the OpenAPI v3 document `kubectl explain` reads.

use mirrord_usage_crds::analytics::{
    MirrordSession, MirrordUser, ObjectList, UsageReportObject, api_version, resources,
};
use mirrord_usage_crds::report::{TrendReport, UsageSummary};
use mirrord_usage_crds::{ANALYTICS_GROUP, ANALYTICS_VERSION};
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

/// `GET /apis/analytics.mirrord.metalbear.co/v1alpha1`.
pub fn resource_list() -> Value {
    let resource = |name: &str, kind: &str, verbs: &[&str]| json!({"name": name, "singularName": "", "namespaced": false, "kind": kind, "verbs": verbs});
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": api_version(),
        "resources": [
            resource(resources::USAGE_REPORTS, UsageReportObject::KIND, &["get"]),
            resource(resources::USAGE_REPORT_TRENDS, "TrendReport", &["get"]),
            resource(resources::USAGE_REPORT_SUMMARY, "UsageSummary", &["get"]),
            resource(resources::MIRRORD_USERS, MirrordUser::KIND, &["list"]),
            resource(resources::MIRRORD_SESSIONS, MirrordSession::KIND, &["list"]),
        ],
    })
}

fn group() -> Value {
    let version = json!({"groupVersion": api_version(), "version": ANALYTICS_VERSION});
    json!({"name": ANALYTICS_GROUP, "versions": [version], "preferredVersion": version})
}

/// `GET /apis/analytics.mirrord.metalbear.co`.
pub fn api_group() -> Value {
    let mut group = group();
    group["kind"] = json!("APIGroup");
    group["apiVersion"] = json!("v1");
    group
}

/// `GET /apis`: the one group this server serves.
pub fn api_group_list() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group()]})
}

/// Path of the group version's OpenAPI v3 document, relative to `/openapi/v3/`.
pub fn openapi_path() -> String {
    format!("apis/{ANALYTICS_GROUP}/{ANALYTICS_VERSION}")
}

/// `GET /openapi/v3`: where the group version's document is.
pub fn openapi_index() -> Value {
    let path = openapi_path();
    json!({"paths": {path.clone(): {"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", openapi_hash())}}})
}

/// Changes whenever the document does, so kube-apiserver refetches it after an upgrade.
fn openapi_hash() -> String {
    use std::hash::{DefaultHasher, Hash as _, Hasher as _};
    let mut hasher = DefaultHasher::new();
    openapi_document().to_string().hash(&mut hasher);
    format!("{:016X}", hasher.finish())
}

/// `GET /openapi/v3/apis/analytics.mirrord.metalbear.co/v1alpha1`.
pub fn openapi_document() -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let report = generator.subschema_for::<UsageReportObject>();
    let trends = generator.subschema_for::<TrendReport>();
    let summary = generator.subschema_for::<UsageSummary>();
    let users = generator.subschema_for::<ObjectList<MirrordUser>>();
    let sessions = generator.subschema_for::<ObjectList<MirrordSession>>();
    let mut schemas = serde_json::Map::new();
    for (name, schema) in generator.take_definitions(true) {
        schemas.insert(name, schema);
    }
    // `kubectl explain` finds a kind's schema by this extension.
    for (schema, kind) in [
        ("UsageReportObject", UsageReportObject::KIND),
        ("MirrordUser", MirrordUser::KIND),
        ("MirrordSession", MirrordSession::KIND),
    ] {
        if let Some(schema) = schemas.get_mut(schema) {
            schema["x-kubernetes-group-version-kind"] =
                json!([{"group": ANALYTICS_GROUP, "version": ANALYTICS_VERSION, "kind": kind}]);
        }
    }
    let prefix = format!("/apis/{ANALYTICS_GROUP}/{ANALYTICS_VERSION}");
    let time = |name: &str, description: &str| json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "format": "date-time"}});
    let text = |name: &str, description: &str| json!({"name": name, "in": "query", "description": description, "schema": {"type": "string"}});
    let range = vec![
        time("from", "Start of the range (RFC 3339); default: the report's period."),
        time("to", "End of the range (RFC 3339); default: the report's period."),
        text(
            "primaryKey",
            "machineId, kubernetesUsername, clientUsername or clientHostname.",
        ),
    ];
    let name = json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}});
    let ok = |schema: schemars::Schema| json!({"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}});
    let mut report_parameters = range.clone();
    report_parameters.push(name.clone());
    let mut session_parameters = vec![
        time("from", "Sessions running at or after this time."),
        time("to", "Sessions started before this time; default: now."),
        text("user", "Kubernetes user, client user or machine id."),
        text("namespace", "Namespace of the target."),
        text("ci", "true: only CI sessions; false: none."),
        json!({"name": "limit", "in": "query", "schema": {"type": "integer"}}),
        text("continue", "Token from the previous page's metadata.continue."),
    ];
    session_parameters.push(text(
        "fieldSelector",
        "user=, namespace= and ci= terms, comma separated.",
    ));
    // Operations carry the kind they answer with: `kubectl explain` finds a resource's schema
    // through the path of the resource.
    let operation = |id: &str, description: &str, kind: &str, parameters: Vec<Value>, schema: schemars::Schema| {
        json!({"get": {
            "description": description, "operationId": id, "parameters": parameters, "responses": ok(schema),
            "x-kubernetes-group-version-kind": {"group": ANALYTICS_GROUP, "version": ANALYTICS_VERSION, "kind": kind},
        }})
    };
    json!({
        "openapi": "3.0.0",
        "info": {"title": "mirrord-usage analytics", "version": ANALYTICS_VERSION},
        "paths": {
            format!("{prefix}/usagereports/{{name}}"): operation("readUsageReport",
                "The usage report of the MirrordUsageReport of this name.",
                UsageReportObject::KIND, report_parameters.clone(), report),
            format!("{prefix}/usagereports/{{name}}/trends"): operation("readUsageReportTrends",
                "Usage trends over the report's period.", "TrendReport", report_parameters.clone(), trends),
            format!("{prefix}/usagereports/{{name}}/summary"): operation("readUsageReportSummary",
                "The headline figures of the report's period, without per-user rows.", "UsageSummary", report_parameters, summary),
            format!("{prefix}/mirrordusers"): operation("listMirrordUsers",
                "Per-user usage over a range.", MirrordUser::KIND, range, users),
            format!("{prefix}/mirrordsessions"): operation("listMirrordSessions",
                "The session audit log, newest first.", MirrordSession::KIND, session_parameters, sessions),
        },
        "components": {"schemas": schemas},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_in_discovery_has_an_explainable_schema() {
        let document = openapi_document();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for resource in resource_list()["resources"].as_array().unwrap() {
            let kind = resource["kind"].as_str().unwrap();
            // Subresources (trends, summary) answer plain JSON, not objects `kubectl explain` shows.
            if resource["name"].as_str().unwrap().contains('/') {
                continue;
            }
            let operation = document["paths"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(path, _)| {
                    path.ends_with(&format!("/{}", resource["name"].as_str().unwrap()))
                        || path.ends_with(&format!("/{}/{{name}}", resource["name"].as_str().unwrap()))
                })
                .map(|(_, operation)| &operation["get"])
                .unwrap_or_else(|| panic!("no path for {kind}"));
            assert_eq!(operation["x-kubernetes-group-version-kind"]["kind"], kind);
            assert!(
                schemas
                    .values()
                    .any(|schema| schema["x-kubernetes-group-version-kind"][0]["kind"] == kind),
                "no schema for {kind}"
            );
        }
    }

    #[test]
    fn the_index_points_at_the_group_version_document() {
        let index = openapi_index();
        let url = index["paths"][openapi_path()]["serverRelativeURL"].as_str().unwrap();
        assert!(url.starts_with("/openapi/v3/apis/analytics.mirrord.metalbear.co/v1alpha1?hash="));
    }
}
