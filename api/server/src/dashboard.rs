//! The dashboard's static files, embedded in the binary at build time.
//!
//! The build is flat (every file directly in `ui/dist`): behind kube-apiserver, RBAC can grant
//! `dashboard/<file>` but nothing deeper, which would be a subresource.

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "$MIRRORD_USAGE_UI_DIR"]
struct Assets;

/// The page that names the build's other files; the only one whose content changes under the
/// same name.
const INDEX: &str = "index.html";

/// Whether the real dashboard is embedded: the "not built" placeholder is a lone `index.html`,
/// the app has at least one script.
pub fn is_built() -> bool {
    Assets::iter().any(|path| path.ends_with(".js"))
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
    file(INDEX).unwrap_or_else(|| (StatusCode::NOT_FOUND, "dashboard not built").into_response())
}

/// Every file but the page carries a content hash in its name (the UI has no `public/` folder of
/// fixed names), so it never changes; the page that names them must always be fetched anew.
fn cache_control(path: &str) -> &'static str {
    if path == INDEX {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    }
}

fn file(path: &str) -> Option<Response> {
    let path = if path.is_empty() { INDEX } else { path };
    let asset = Assets::get(path)?;
    let cache = cache_control(path);
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

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    async fn get(path: &str) -> Response {
        serve(path.parse().unwrap()).await
    }

    #[test]
    fn only_the_page_is_fetched_anew_and_every_hashed_file_is_cached_for_good() {
        assert_eq!(cache_control("index.html"), "no-cache");
        for path in ["index-C0x9DWoH.js", "index-C1qSNIcm.css", "inter-Bx81a2.woff2"] {
            assert_eq!(cache_control(path), "public, max-age=31536000, immutable", "{path}");
        }
    }

    #[test]
    fn every_embedded_file_sits_at_the_top_level() {
        let nested: Vec<_> = Assets::iter().filter(|path| path.contains('/')).collect();
        assert!(
            nested.is_empty(),
            "RBAC cannot grant files below dashboard/<dir>/: {nested:?}"
        );
    }

    #[test]
    fn the_dashboard_counts_as_built_exactly_when_a_script_is_embedded() {
        let scripts = Assets::iter().filter(|path| path.ends_with(".js")).count();
        assert_eq!(is_built(), scripts > 0);
        assert!(
            Assets::get(INDEX).is_some(),
            "the page or the placeholder is always embedded"
        );
    }

    #[tokio::test]
    async fn the_page_is_served_at_the_root_and_for_app_urls_but_not_for_missing_files() {
        let root = get("/").await;
        assert_eq!(root.status(), StatusCode::OK);
        assert_eq!(root.headers()[header::CACHE_CONTROL], "no-cache");
        let page = to_bytes(root.into_body(), usize::MAX).await.unwrap();

        let view = get("/some/view").await;
        assert_eq!(view.status(), StatusCode::OK);
        assert_eq!(view.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(to_bytes(view.into_body(), usize::MAX).await.unwrap(), page);

        assert_eq!(get("/missing.js").await.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn built_files_are_served_with_their_type_and_cached_for_good() {
        for path in Assets::iter().filter(|path| path.as_ref() != INDEX) {
            let response = get(&format!("/{path}")).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(
                response.headers()[header::CACHE_CONTROL],
                "public, max-age=31536000, immutable",
                "{path}"
            );
            if path.ends_with(".js") {
                assert!(
                    response.headers()[header::CONTENT_TYPE]
                        .to_str()
                        .unwrap()
                        .contains("javascript"),
                    "{path}"
                );
            }
        }
    }
}
