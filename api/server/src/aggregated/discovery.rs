//! What the API group says about itself: discovery documents (which resources exist, with which
//! verbs) and the OpenAPI v3 document `kubectl explain` reads.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, GroupVersionForDiscovery,
};
use mirrord_usage_crds::analytics::{
    MirrordSession, MirrordUser, ObjectList, UsageReportObject, api_version, resources,
};
use mirrord_usage_crds::report::{TrendReport, UsageSummary};
use mirrord_usage_crds::{ANALYTICS_GROUP, ANALYTICS_VERSION};
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

/// `GET /apis/analytics.mirrord.metalbear.co/v1alpha1`.
pub fn resource_list() -> APIResourceList {
    let resource = |name: &str, kind: &str, verb: &str| APIResource {
        name: name.to_owned(),
        kind: kind.to_owned(),
        verbs: vec![verb.to_owned()],
        ..Default::default()
    };
    APIResourceList {
        group_version: api_version(),
        resources: vec![
            resource(resources::USAGE_REPORTS, UsageReportObject::KIND, "get"),
            resource(resources::USAGE_REPORT_TRENDS, "TrendReport", "get"),
            resource(resources::USAGE_REPORT_SUMMARY, "UsageSummary", "get"),
            resource(resources::MIRRORD_USERS, MirrordUser::KIND, "list"),
            resource(resources::MIRRORD_SESSIONS, MirrordSession::KIND, "list"),
        ],
    }
}

/// `GET /apis/analytics.mirrord.metalbear.co`.
pub fn api_group() -> APIGroup {
    let version = GroupVersionForDiscovery {
        group_version: api_version(),
        version: ANALYTICS_VERSION.to_owned(),
    };
    APIGroup {
        name: ANALYTICS_GROUP.to_owned(),
        versions: vec![version.clone()],
        preferred_version: Some(version),
        ..Default::default()
    }
}

/// `GET /apis`: the one group this server serves.
pub fn api_group_list() -> APIGroupList {
    APIGroupList {
        groups: vec![api_group()],
    }
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
        let resources = serde_json::to_value(resource_list()).unwrap();
        for resource in resources["resources"].as_array().unwrap() {
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
    fn discovery_documents_read_as_kube_apiserver_writes_them() {
        let resource = |name: &str, kind: &str, verb: &str| json!({"name": name, "singularName": "", "namespaced": false, "kind": kind, "verbs": [verb]});
        assert_eq!(
            serde_json::to_value(resource_list()).unwrap(),
            json!({
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": "analytics.mirrord.metalbear.co/v1alpha1",
                "resources": [
                    resource("usagereports", "UsageReport", "get"),
                    resource("usagereports/trends", "TrendReport", "get"),
                    resource("usagereports/summary", "UsageSummary", "get"),
                    resource("mirrordusers", "MirrordUser", "list"),
                    resource("mirrordsessions", "MirrordSession", "list"),
                ],
            })
        );
        let version = json!({"groupVersion": "analytics.mirrord.metalbear.co/v1alpha1", "version": "v1alpha1"});
        let group = json!({
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": "analytics.mirrord.metalbear.co",
            "versions": [version],
            "preferredVersion": version,
        });
        assert_eq!(serde_json::to_value(api_group()).unwrap(), group);
        let list = serde_json::to_value(api_group_list()).unwrap();
        assert_eq!(
            (&list["kind"], &list["apiVersion"]),
            (&json!("APIGroupList"), &json!("v1"))
        );
        // Each listed group also names its kind, as k8s-openapi writes every APIGroup; clients
        // decode the list's groups without looking at it.
        assert_eq!(list["groups"], json!([group]));
    }

    #[test]
    fn the_index_points_at_the_group_version_document() {
        let index = openapi_index();
        let url = index["paths"][openapi_path()]["serverRelativeURL"].as_str().unwrap();
        assert!(url.starts_with("/openapi/v3/apis/analytics.mirrord.metalbear.co/v1alpha1?hash="));
    }
}
