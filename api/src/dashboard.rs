//! The dashboard's static files, embedded in the binary at build time.

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "$MIRRORD_USAGE_UI_DIR"]
struct Assets;

/// Whether the real dashboard (not the "not built" page) is embedded.
pub fn is_built() -> bool {
    Assets::iter().any(|path| path.starts_with("assets/"))
}

/// Serves a file of the dashboard; paths that name no file get `index.html`, so the app's own
/// URLs work when opened directly.
pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if let Some(response) = file(path) {
        return response;
    }
    let looks_like_file = path.rsplit('/').next().is_some_and(|last| last.contains('.'));
    if looks_like_file {
        return (StatusCode::NOT_FOUND, format!("no file /{path}")).into_response();
    }
    file("index.html").unwrap_or_else(|| (StatusCode::NOT_FOUND, "dashboard not built").into_response())
}

fn file(path: &str) -> Option<Response> {
    let path = if path.is_empty() { "index.html" } else { path };
    let asset = Assets::get(path)?;
    // Hashed build outputs never change; the page that names them must always be fetched anew.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Some(
        (
            [
                (header::CONTENT_TYPE, asset.metadata.mimetype().to_owned()),
                (header::CACHE_CONTROL, cache.to_owned()),
            ],
            asset.data.into_owned(),
        )
            .into_response(),
    )
}
