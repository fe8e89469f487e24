//! Errors as Kubernetes clients expect them on an API group's paths: `meta.k8s.io/v1` `Status`
//! objects, so `kubectl` prints the message instead of a decoding error.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;

/// An [`ApiError`] answered as a `Status`, optionally naming the object it is about.
#[derive(Debug)]
pub struct Status {
    pub error: ApiError,
    pub details: Option<Value>,
}

impl Status {
    /// About the object `name` of `resource` (e.g. a report that does not exist).
    pub fn about(error: ApiError, resource: &str, name: &str) -> Self {
        Status {
            error,
            details: Some(json!({"name": name, "group": mirrord_usage_crds::ANALYTICS_GROUP, "kind": resource})),
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

    pub fn body(&self) -> Value {
        let mut body = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.error.message,
            "reason": Self::reason(self.error.status),
            "code": self.error.status.as_u16(),
        });
        let mut details = self.details.clone().unwrap_or_else(|| json!({}));
        if !self.error.details.is_empty() {
            details["causes"] = self
                .error
                .details
                .iter()
                .map(|detail| json!({"message": detail.to_string()}))
                .collect();
        }
        if details.as_object().is_some_and(|map| !map.is_empty()) {
            body["details"] = details;
        }
        body
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
    use super::*;

    #[test]
    fn a_missing_report_is_a_not_found_status_naming_it() {
        let status = Status::about(ApiError::not_found("no such report"), "usagereports", "nope");
        let body = status.body();
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["reason"], "NotFound");
        assert_eq!(body["code"], 404);
        assert_eq!(body["details"]["name"], "nope");
        assert_eq!(body["details"]["kind"], "usagereports");
    }

    #[test]
    fn statuses_without_details_leave_them_out() {
        let body = Status::from(ApiError::forbidden("no")).body();
        assert_eq!(body["reason"], "Forbidden");
        assert!(body.get("details").is_none());
    }
}
