//! The JSON shape every HTTP error takes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mirrord_usage_store::Error;
use serde::Serialize;

/// An HTTP error: `{"error": code, "message": sentence, "details": [...]}`.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
    pub details: Vec<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Vec<serde_json::Value>) -> Self {
        self.details = details;
        self
    }

    pub fn bad_request(error: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error, message)
    }

    /// A query parameter that cannot be used; `message` names it and its value.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        ApiError::bad_request("invalid_parameter", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the server could not answer: {error}"),
        )
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::internal(&error)
    }
}

impl From<crate::usage::Error> for ApiError {
    fn from(error: crate::usage::Error) -> Self {
        match error {
            crate::usage::Error::Store(error) => ApiError::internal(&error),
            too_many @ crate::usage::Error::TooManyBuckets { .. } => {
                ApiError::bad_request("too_many_buckets", too_many.to_string())
            }
        }
    }
}

impl From<crate::export::ExportError> for ApiError {
    fn from(error: crate::export::ExportError) -> Self {
        ApiError::internal(&error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}
