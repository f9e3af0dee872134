//! The HTTP front door: API-key authentication, role checks, request ids and request logs.
//!
//! Every request passes [`layer`]:
//! - it gets a request id: the client's `X-Request-Id` when it is sane (1 to 64 printable
//!   characters), else a new one; the response carries it back in `X-Request-Id`;
//! - with auth on, `/health` and `/ready` stay open; every other path needs a key, presented
//!   as `Authorization: Bearer KEY` (or `?token=KEY` on `/v1/ws`, since browsers cannot set
//!   headers on a WebSocket). No key, or an unknown, malformed or revoked one: 401. A role
//!   below the path's: 403 (see [`needed_role`]);
//! - the caller's [`Identity`] goes on as a request extension, which the portfolio routes and
//!   the WebSocket hub read; with auth off it is [`Identity::local`];
//! - one log line per request when it is answered: method, path, status, duration, request
//!   id and principal (`debug` for `/health`, `/ready` and `/metrics`, `info` otherwise).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engine::access::{Identity, Role};
use engine::json::error_body;

use crate::keys::KeyStore;

/// The response and request header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// What the front door checks against.
#[derive(Debug)]
pub struct AuthState {
    /// The key table; `None` with auth off.
    keys: Option<KeyStore>,
    /// Prefix of generated request ids (random per process), then a counter.
    id_prefix: String,
    next_id: AtomicU64,
}

impl AuthState {
    /// Auth on, checking `keys`; or off with `None`.
    pub fn new(keys: Option<KeyStore>) -> AuthState {
        let id_prefix = format!("{:08x}", (engine::clock::now_ns() as u64 >> 10) as u32);
        AuthState {
            keys,
            id_prefix,
            next_id: AtomicU64::new(1),
        }
    }

    fn request_id(&self, request: &Request) -> String {
        request
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
            .map_or_else(
                || {
                    let n = self.next_id.fetch_add(1, Ordering::Relaxed);
                    format!("{}-{n}", self.id_prefix)
                },
                str::to_owned,
            )
    }
}

/// The role a path needs, or `None` for the open ones.
pub fn needed_role(path: &str) -> Option<Role> {
    match path {
        "/health" | "/ready" => None,
        "/metrics" | "/v1/latency" | "/v1/feeds" => Some(Role::Admin),
        p if p == "/v1/portfolios" || p.starts_with("/v1/portfolios/") => Some(Role::Trader),
        // Market data, the WebSocket (whose portfolio channels check the role themselves) and
        // unknown paths, which answer 404 to a caller with a key and 401 to one without.
        _ => Some(Role::Viewer),
    }
}

/// The middleware.
pub async fn layer(
    State(auth): State<Arc<AuthState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = auth.request_id(&request);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let identity = match authorize(&auth, &request, &path) {
        Ok(identity) => identity,
        Err(refusal) => {
            let response = refusal.into_response();
            return finish(response, &request_id, &method, &path, None, started);
        }
    };
    let principal = identity.principal.clone();
    request.extensions_mut().insert(identity);
    let response = next.run(request).await;
    finish(
        response,
        &request_id,
        &method,
        &path,
        Some(&principal),
        started,
    )
}

fn finish(
    mut response: Response,
    request_id: &str,
    method: &axum::http::Method,
    path: &str,
    principal: Option<&str>,
    started: Instant,
) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    let duration_us = started.elapsed().as_micros() as u64;
    let principal = principal.unwrap_or("-");
    if matches!(path, "/health" | "/ready" | "/metrics") {
        tracing::debug!(request_id, %method, path, status, duration_us, principal, "request");
    } else {
        tracing::info!(request_id, %method, path, status, duration_us, principal, "request");
    }
    response
}

/// Why a request was refused.
enum Refusal {
    Unauthorized(&'static str, &'static str),
    Forbidden(String),
    Unavailable,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let json = [(header::CONTENT_TYPE, "application/json")];
        match self {
            Refusal::Unauthorized(code, message) => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                json,
                error_body(code, message),
            )
                .into_response(),
            Refusal::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                json,
                error_body("forbidden", &message),
            )
                .into_response(),
            Refusal::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json,
                error_body("unavailable", "the key store cannot be read; see the log"),
            )
                .into_response(),
        }
    }
}

fn authorize(auth: &AuthState, request: &Request, path: &str) -> Result<Identity, Refusal> {
    let Some(keys) = &auth.keys else {
        return Ok(Identity::local());
    };
    let Some(needed) = needed_role(path) else {
        return Ok(Identity::local());
    };
    let Some(key) = presented_key(request, path) else {
        return Err(Refusal::Unauthorized(
            "missing_key",
            "an API key is required: Authorization: Bearer KEY (or ?token=KEY on /v1/ws)",
        ));
    };
    let identity = match keys.check(key) {
        Ok(Some(identity)) => identity,
        Ok(None) => {
            return Err(Refusal::Unauthorized(
                "invalid_key",
                "the API key is unknown or revoked",
            ));
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "cannot check an API key");
            return Err(Refusal::Unavailable);
        }
    };
    if !identity.role.allows(needed) {
        return Err(Refusal::Forbidden(format!(
            "{} {path} needs the {needed} role; this key is a {}",
            request.method(),
            identity.role
        )));
    }
    Ok(identity)
}

/// The key in `Authorization: Bearer KEY`, or in `token=` of the query on `/v1/ws`.
fn presented_key<'r>(request: &'r Request, path: &str) -> Option<&'r str> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, key) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| key.trim())
            .filter(|k| !k.is_empty());
    }
    if path == "/v1/ws" {
        return request
            .uri()
            .query()?
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .filter(|k| !k.is_empty());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_need_their_roles() {
        assert_eq!(needed_role("/health"), None);
        assert_eq!(needed_role("/ready"), None);
        assert_eq!(needed_role("/metrics"), Some(Role::Admin));
        assert_eq!(needed_role("/v1/feeds"), Some(Role::Admin));
        assert_eq!(needed_role("/v1/latency"), Some(Role::Admin));
        assert_eq!(needed_role("/v1/portfolios"), Some(Role::Trader));
        assert_eq!(needed_role("/v1/portfolios/3/risk"), Some(Role::Trader));
        assert_eq!(needed_role("/v1/portfoliosx"), Some(Role::Viewer));
        assert_eq!(needed_role("/v1/bars"), Some(Role::Viewer));
        assert_eq!(needed_role("/v1/ws"), Some(Role::Viewer));
    }
}
