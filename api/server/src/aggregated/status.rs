//! Errors as Kubernetes clients expect them on an API group's paths: `meta.k8s.io/v1` `Status`
//! objects, so `kubectl` prints the message instead of a decoding error.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{self as meta, StatusCause, StatusDetails};

use crate::error::ApiError;

/// An [`ApiError`] answered as a `Status`, optionally naming the object it is about.
#[derive(Debug)]
pub struct Status {
    pub error: ApiError,
    pub details: Option<StatusDetails>,
}

impl Status {
    /// About the object `name` of `resource` (e.g. a report that does not exist).
    pub fn about(error: ApiError, resource: &str, name: &str) -> Self {
        Status {
            error,
            details: Some(StatusDetails {
                name: Some(name.to_owned()),
                group: Some(mirrord_usage_crds::ANALYTICS_GROUP.to_owned()),
                kind: Some(resource.to_owned()),
                ..Default::default()
            }),
        }
    }

    /// The `reason` Kubernetes clients switch on for this HTTP status.
    fn reason(status: StatusCode) -> &'static str {
        match status {
            StatusCode::BAD_REQUEST => "BadRequest",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
            StatusCode::NOT_ACCEPTABLE => "NotAcceptable",
            StatusCode::CONFLICT => "Conflict",
            StatusCode::GONE => "Expired",
            StatusCode::PAYLOAD_TOO_LARGE => "RequestEntityTooLarge",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
            StatusCode::UNPROCESSABLE_ENTITY => "Invalid",
            StatusCode::TOO_MANY_REQUESTS => "TooManyRequests",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
            StatusCode::GATEWAY_TIMEOUT => "Timeout",
            _ => "InternalError",
        }
    }

    pub fn body(&self) -> meta::Status {
        let mut details = self.details.clone().unwrap_or_default();
        if !self.error.details.is_empty() {
            details.causes = Some(
                self.error
                    .details
                    .iter()
                    .map(|detail| StatusCause {
                        message: Some(detail.to_string()),
                        ..Default::default()
                    })
                    .collect(),
            );
        }
        meta::Status {
            status: Some("Failure".to_owned()),
            message: Some(self.error.message.clone()),
            reason: Some(Self::reason(self.error.status).to_owned()),
            code: Some(self.error.status.as_u16().into()),
            // Left out when it would be empty, as kube-apiserver does.
            details: (details != StatusDetails::default()).then_some(details),
            ..Default::default()
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        Status { error, details: None }
    }
}

impl IntoResponse for Status {
    fn into_response(self) -> Response {
        (self.error.status, Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_missing_report_is_a_not_found_status_naming_it() {
        let status = Status::about(ApiError::not_found("no such report"), "usagereports", "nope");
        let body = serde_json::to_value(status.body()).unwrap();
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["reason"], "NotFound");
        assert_eq!(body["code"], 404);
        assert_eq!(body["details"]["name"], "nope");
        assert_eq!(body["details"]["kind"], "usagereports");
    }

    #[test]
    fn a_status_reads_as_kube_apiserver_writes_one() {
        let error = ApiError::invalid_parameter("bad range").with_details(vec![json!({"field": "from"})]);
        assert_eq!(
            serde_json::to_value(Status::about(error.clone(), "usagereports", "nope").body()).unwrap(),
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "bad range",
                "reason": "BadRequest",
                "code": 400,
                "details": {
                    "name": "nope",
                    "group": "analytics.mirrord.metalbear.co",
                    "kind": "usagereports",
                    "causes": [{"message": r#"{"field":"from"}"#}],
                },
            })
        );
        let body = serde_json::to_value(Status::from(error).body()).unwrap();
        assert_eq!(body["details"], json!({"causes": [{"message": r#"{"field":"from"}"#}]}));
    }

    #[test]
    fn statuses_without_details_leave_them_out() {
        let body = serde_json::to_value(Status::from(ApiError::forbidden("no")).body()).unwrap();
        assert_eq!(body["reason"], "Forbidden");
        assert!(body.get("details").is_none());
    }
}
