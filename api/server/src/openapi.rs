//! The OpenAPI 3.1 document of the plain HTTP API, served at `/openapi.json`. Schemas come from
//! the wire types themselves, so the document cannot drift from what the server sends.

use mirrord_usage_crds::analytics::{MirrordSession, ObjectList};
use mirrord_usage_crds::event::{EventBatch, IngestResponse};
use mirrord_usage_crds::report::{TrendReport, UsageReport, UsageSummary};
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

fn time_parameter(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
           "schema": {"type": "string", "format": "date-time"}})
}

fn primary_key_parameter() -> Value {
    json!({"name": "primaryKey", "in": "query", "required": false,
           "description": "Which identity a user is (default machineId).",
           "schema": {"type": "string", "enum": ["machineId", "kubernetesUsername", "clientUsername", "clientHostname"]}})
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The document.
pub(crate) fn document() -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let batch = generator.subschema_for::<EventBatch>();
    let accepted = generator.subschema_for::<IngestResponse>();
    let report = generator.subschema_for::<UsageReport>();
    let trends = generator.subschema_for::<TrendReport>();
    let summary = generator.subschema_for::<UsageSummary>();
    let sessions = generator.subschema_for::<ObjectList<MirrordSession>>();
    let mut schemas = serde_json::Map::new();
    for (name, schema) in generator.take_definitions(true) {
        schemas.insert(name, schema);
    }
    schemas.insert(
        "Error".to_owned(),
        json!({"type": "object", "required": ["error", "message", "details"], "properties": {
            "error": {"type": "string", "description": "Machine-readable code."},
            "message": {"type": "string", "description": "What was wrong, naming the offending value."},
            "details": {"type": "array", "items": {}, "description": "Per-item problems, e.g. every rejected event with its index."}
        }}),
    );
    let range = [
        time_parameter(
            "from",
            "Start of the range (inclusive, RFC 3339). Default: the first session ever.",
        ),
        time_parameter("to", "End of the range (exclusive, RFC 3339). Default: now."),
        primary_key_parameter(),
    ];
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mirrord-usage",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Usage of mirrord in this cluster: session ingest and usage reports."
        },
        "components": {
            "securitySchemes": {"licenseKey": {"type": "apiKey", "in": "header", "name": "x-license-key"}},
            "schemas": schemas
        },
        "security": [{"licenseKey": []}],
        "paths": {
            "/api/v1/events": {"post": {
                "summary": "Store session events",
                "description": "Stores a batch of at most 10,000 events (16 MiB) whole or not at all. Repeats of stored events are counted as duplicates; events contradicting stored ones are conflicts.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": batch}}},
                "responses": {
                    "200": {"description": "Stored.", "content": {"application/json": {"schema": accepted}}},
                    "400": error_response("Some events are invalid; details lists each by index."),
                    "401": error_response("Missing or wrong credentials."),
                    "409": error_response("Some events contradict stored sessions; details lists each by index."),
                    "413": error_response("More than 10,000 events or 16 MiB.")
                }
            }},
            "/api/v1/reports/usage": {"get": {
                "summary": "The usage report",
                "parameters": [
                    {"name": "format", "in": "query", "required": false, "schema": {"type": "string", "enum": ["json", "csv", "xlsx"], "default": "json"},
                     "description": "json: the full report; csv: the per-user table; xlsx: general and per-user sheets."},
                    range[0], range[1], range[2],
                    {"name": "inactiveDays", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 3650},
                     "description": "Only the users without a session in the last N days of the range, longest idle first (inactive seats, with primaryKey=machineId and the range running to now)."}
                ],
                "responses": {
                    "200": {"description": "The report.", "content": {
                        "application/json": {"schema": report},
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}}
                    }},
                    "400": error_response("A malformed parameter, or from not before to."),
                    "401": error_response("Missing or wrong credentials.")
                }
            }},
            "/api/v1/reports/usage/trends": {"get": {
                "summary": "Usage per day, week or month",
                "parameters": [
                    {"name": "interval", "in": "query", "required": false, "schema": {"type": "string", "enum": ["day", "week", "month"], "default": "day"},
                     "description": "Bucket width; buckets are UTC and weeks start on Monday."},
                    range[0], range[1], range[2]
                ],
                "responses": {
                    "200": {"description": "Every bucket intersecting the range.", "content": {"application/json": {"schema": trends}}},
                    "400": error_response("A malformed parameter, from not before to, or more than 10,000 buckets."),
                    "401": error_response("Missing or wrong credentials.")
                }
            }},
            "/api/v1/reports/usage/summary": {"get": {
                "summary": "The headline figures of a range, without per-user rows",
                "description": "What the dashboard compares with the previous period of equal length; the same numbers as the usage report's.",
                "parameters": range.clone(),
                "responses": {
                    "200": {"description": "The range's figures.", "content": {"application/json": {"schema": summary}}},
                    "400": error_response("A malformed parameter, or from not before to."),
                    "401": error_response("Missing or wrong credentials.")
                }
            }},
            "/api/v1/reports/usage/sessions": {"get": {
                "summary": "The session audit log, newest first, a page at a time",
                "description": "The same list as the aggregated API's mirrordsessions: sessions running at some point of [from, to).",
                "parameters": [
                    time_parameter("from", "Sessions running at or after this time (RFC 3339)."),
                    time_parameter("to", "Sessions started before this time (RFC 3339). Default: now."),
                    {"name": "user", "in": "query", "required": false, "schema": {"type": "string"}, "description": "Exact Kubernetes user, client user or machine id."},
                    {"name": "namespace", "in": "query", "required": false, "schema": {"type": "string"}, "description": "Exact namespace of the target."},
                    {"name": "ci", "in": "query", "required": false, "schema": {"type": "string", "enum": ["true", "false"]}, "description": "true: only CI sessions; false: none."},
                    {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "default": 500, "maximum": 5000}, "description": "Sessions per page."},
                    {"name": "continue", "in": "query", "required": false, "schema": {"type": "string"}, "description": "metadata.continue of the previous page."}
                ],
                "responses": {
                    "200": {"description": "One page; metadata.continue is set when more sessions match.", "content": {"application/json": {"schema": sessions}}},
                    "400": error_response("A malformed parameter."),
                    "401": error_response("Missing or wrong credentials."),
                    "403": error_response("The caller may not list mirrordsessions."),
                    "410": error_response("A continue token that is not (or no longer) valid.")
                }
            }}
        }
    })
}
