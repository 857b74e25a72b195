//! The web console (`orrery-server/console`), built by `build.rs` and embedded in the binary.
//!
//! Hashed files under `assets/` are cached for a year; everything else (pages, `theme.js`) is
//! revalidated on each use through its ETag. Any other GET outside `/api` answers the app's
//! `index.html`, so that deep links work on reload; `/docs` is the bundled API reference. Pages
//! keep the strict CSP: scripts, styles and connections from this origin only. Built with
//! `ORRERY_SKIP_CONSOLE=1`, the console is absent and pages say how to get it.
//!
//! With `google_client_id` set, `index.html` carries the id (in a `<meta>`, never a script) and
//! its CSP also allows Google Identity Services, which has to come from Google.

use std::borrow::Cow;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};

use crate::http::AppState;
use crate::http::error::ApiError;

/// The policy of the console's pages: nothing from elsewhere, no inline script or style.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// What Google Identity Services needs beside [`CSP`], when Google sign-in is configured.
const GOOGLE_CSP: &str = "default-src 'self'; script-src 'self' https://accounts.google.com/gsi/client; \
     style-src 'self' https://accounts.google.com/gsi/style; img-src 'self' data: blob:; font-src 'self'; \
     connect-src 'self' https://accounts.google.com/gsi/; frame-src https://accounts.google.com/gsi/; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The placeholder in `index.html` that carries the Google client id.
const GOOGLE_META: &str = r#"<meta name="orrery-google-client-id" content="" />"#;

/// The API reference's policy: RapiDoc's templates carry inline styles.
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[derive(rust_embed::Embed)]
#[folder = "$OUT_DIR/console"]
struct Files;

/// The router's fallback: the console for GETs outside `/api`, the API's 404 problem otherwise.
pub async fn fallback(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if !(method == Method::GET || method == Method::HEAD)
        || path == "/api"
        || path.starts_with("/api/")
    {
        return ApiError::NotFound("route").into_response();
    }
    let if_none_match = headers.get(header::IF_NONE_MATCH);
    let name = path.trim_start_matches('/');
    if name == "docs" || name == "docs/" {
        return page("docs.html", DOCS_CSP, None, if_none_match);
    }
    if !name.is_empty() && name != "index.html" && name != "docs.html" {
        if let Some(file) = Files::get(name) {
            let cache = if name.starts_with("assets/") {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            let hash = file.metadata.sha256_hash();
            return respond(
                file.data,
                hash,
                content_type(name),
                cache,
                None,
                if_none_match,
            );
        }
        // A missing hashed file is a 404, not the app: a browser asked for a script or style.
        if name.starts_with("assets/") {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
    }
    let google = state.settings.google_client_id.trim();
    if google.is_empty() {
        page("index.html", CSP, None, if_none_match)
    } else {
        page("index.html", GOOGLE_CSP, Some(google), if_none_match)
    }
}

/// One of the console's HTML pages, or how to get the console when it was not built.
fn page(
    name: &str,
    csp: &'static str,
    google: Option<&str>,
    if_none_match: Option<&HeaderValue>,
) -> Response {
    match Files::get(name) {
        Some(file) => {
            let mut hash = file.metadata.sha256_hash();
            let mut data = file.data;
            if let Some(id) = google {
                let html = String::from_utf8_lossy(&data).replace(
                    GOOGLE_META,
                    &format!(
                        r#"<meta name="orrery-google-client-id" content="{}" />"#,
                        escape(id)
                    ),
                );
                data = Cow::Owned(html.into_bytes());
                // The ETag changes with the id.
                for (i, b) in id.bytes().enumerate() {
                    hash[i % 32] ^= b;
                }
            }
            respond(
                data,
                hash,
                "text/html; charset=utf-8",
                "no-cache",
                Some(csp),
                if_none_match,
            )
        }
        None => ([(header::CACHE_CONTROL, "no-cache")], Html(NOT_BUILT)).into_response(),
    }
}

fn respond(
    data: Cow<'static, [u8]>,
    hash: [u8; 32],
    content_type: &'static str,
    cache: &'static str,
    csp: Option<&'static str>,
    if_none_match: Option<&HeaderValue>,
) -> Response {
    let etag = format!("\"{}\"", hex(&hash[..16]));
    let fresh = if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], data).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    if let Some(csp) = csp {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    response
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Escapes text for an HTML attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Orrery</title></head>
<body>
<h1>Orrery is running, without its web console</h1>
<p>This binary was built with <code>ORRERY_SKIP_CONSOLE=1</code>, so it has no web console and no
API reference page. The API works: its OpenAPI document is at <a href="/openapi.json">/openapi.json</a>.</p>
<p>To get the console, install Node.js 20.19 or later with npm, then build again without that
variable: <code>cargo build --release -p orrery-server</code>.</p>
</body></html>
"#;
