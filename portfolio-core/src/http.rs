//! Portfolio routes under `/v1/portfolios`, to be merged into the engine's router.
//!
//! | route | success | errors |
//! |---|---|---|
//! | `POST /v1/portfolios` | 201 portfolio | 400 |
//! | `GET /v1/portfolios` | 200 `{"portfolios":[...]}` | |
//! | `GET /v1/portfolios/{id}` | 200 portfolio | 404 |
//! | `PATCH /v1/portfolios/{id}` `{"name"}` | 200 portfolio | 400, 404 |
//! | `DELETE /v1/portfolios/{id}` | 204 | 404 |
//! | `POST /v1/portfolios/{id}/transactions` | 201 transaction | 400, 404, 409, 422 |
//! | `GET /v1/portfolios/{id}/transactions` | 200 `{"transactions":[...]}` in (ts, id) order | 404 |
//! | `DELETE /v1/portfolios/{id}/transactions/{tx_id}` | 204 | 404, 409 |
//! | `GET /v1/portfolios/{id}/valuation` | 200 valuation | 404, 503 |
//!
//! Errors are `{"error":{"code","message"}}` with the codes of [`Error::code`]; bodies above
//! [`MAX_BODY_BYTES`] are 413 `payload_too_large`. Database work runs in `spawn_blocking`.
//! The caller's principal comes from one place, the [`Principal`] extractor.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use engine::json::error_body;

use crate::error::{Error, Result};
use crate::json::{
    portfolio_json, portfolios_json, transaction_json, transactions_json, valuation_json,
};
use crate::model::{LOCAL_PRINCIPAL, PortfolioId, PriceHistory};
use crate::request::{parse_new_portfolio, parse_new_transaction, parse_rename};
use crate::risk::{RiskParams, portfolio_risk};
use crate::service::Portfolios;

/// Largest request body accepted by default (`server.max_body_bytes`).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The principal a request acts for: the [`Identity`](engine::access::Identity) an auth layer
/// set as a request extension; without one (auth off) every request is [`LOCAL_PRINCIPAL`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(Principal(
            parts
                .extensions
                .get::<engine::access::Identity>()
                .map_or(LOCAL_PRINCIPAL, |identity| &identity.principal)
                .to_owned(),
        ))
    }
}

/// `GET /v1/portfolios/{id}/risk?window=&benchmark=&risk_free=`: risk figures from daily
/// closes (see `risk`), with the closes served by `history`.
pub fn risk_router(service: Arc<Portfolios>, history: Arc<dyn PriceHistory>) -> Router {
    Router::new()
        .route("/v1/portfolios/{id}/risk", get(risk))
        .with_state((service, history))
}

type RiskState = State<(Arc<Portfolios>, Arc<dyn PriceHistory>)>;

/// The risk query's parameters; the error is the message of a 400 `bad_parameter`.
fn risk_params(query: &HashMap<String, String>) -> std::result::Result<RiskParams, String> {
    let mut params = RiskParams::default();
    for (key, value) in query {
        match key.as_str() {
            "window" => {
                params.window = value
                    .parse()
                    .map_err(|_| format!("bad window {value:?}: expected a count of days"))?;
            }
            "benchmark" => params.benchmark = Some(value.clone()),
            "risk_free" => {
                params.risk_free = value
                    .parse()
                    .map_err(|_| format!("bad risk_free {value:?}: expected a daily rate"))?;
            }
            other => {
                return Err(format!(
                    "unknown parameter {other:?}; expected window, benchmark or risk_free"
                ));
            }
        }
    }
    Ok(params)
}

fn option(out: &mut String, key: &str, value: Option<f64>) {
    use std::fmt::Write as _;
    match value.filter(|v| v.is_finite()) {
        Some(v) => {
            let _ = write!(out, ",\"{key}\":{v}");
        }
        None => {
            let _ = write!(out, ",\"{key}\":null");
        }
    }
}

async fn risk(
    State((service, history)): RiskState,
    principal: Principal,
    path: IdPath,
    Query(query): Query<HashMap<String, String>>,
) -> Reply {
    let id = portfolio_id(path)?;
    let params = risk_params(&query)
        .map_err(|message| error_response(StatusCode::BAD_REQUEST, "bad_parameter", &message))?;
    Ok(blocking(move || {
        let portfolio = service.get(&principal.0, id)?;
        let transactions = service.transactions(&principal.0, id)?;
        if let Some(benchmark) = &params.benchmark
            && !service.is_known(benchmark)
        {
            return Ok(error_response(
                StatusCode::BAD_REQUEST,
                "unknown_instrument",
                &format!("unknown benchmark instrument {benchmark:?}"),
            ));
        }
        let now = engine::clock::now_ns();
        let result = portfolio_risk(&portfolio, &transactions, service.currency_config(), history.as_ref(), now, &params);
        let figures = match result {
            Ok(figures) => figures,
            Err(e) => {
                let status = match e.code() {
                    "history_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
                    "out_of_range" => StatusCode::UNPROCESSABLE_ENTITY,
                    _ => StatusCode::BAD_REQUEST,
                };
                return Ok(error_response(status, e.code(), &e.to_string()));
            }
        };
        use std::fmt::Write as _;
        let m = &figures.metrics;
        let mut out = format!(
            "{{\"portfolio\":{id},\"window\":{},\"start\":\"{}\",\"end\":\"{}\",\"observations\":{}",
            figures.window,
            engine::time::format_date(figures.base_day),
            engine::time::format_date(figures.last_day),
            m.observations
        );
        option(&mut out, "annual_return", m.annual_return);
        option(&mut out, "annual_volatility", m.annual_volatility);
        option(&mut out, "sharpe", m.sharpe);
        option(&mut out, "sortino", m.sortino);
        option(&mut out, "max_drawdown", m.max_drawdown);
        option(&mut out, "var_95", m.var_95);
        option(&mut out, "cvar_95", m.cvar_95);
        option(&mut out, "beta", m.beta);
        out.push_str(",\"benchmark\":");
        match &figures.benchmark {
            Some(b) => engine::json::write_str(&mut out, b),
            None => out.push_str("null"),
        }
        // The first few days that could not be valued, and how many there were.
        let _ = write!(
            out,
            ",\"benchmark_observations\":{},\"skipped_days\":{},\"skipped\":[",
            figures.benchmark_observations,
            figures.skipped.len()
        );
        for (i, day) in figures.skipped.iter().take(10).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"day\":\"{}\",\"instrument\":", engine::time::format_date(day.day));
            engine::json::write_str(&mut out, &day.instrument);
            out.push('}');
        }
        out.push_str("]}");
        Ok(respond(StatusCode::OK, out))
    })
    .await)
}

/// The portfolio routes, with request bodies up to [`MAX_BODY_BYTES`].
pub fn router(service: Arc<Portfolios>) -> Router {
    router_with_body_limit(service, MAX_BODY_BYTES)
}

/// The portfolio routes, with request bodies up to `max_body` bytes (larger: 413
/// `payload_too_large`).
pub fn router_with_body_limit(service: Arc<Portfolios>, max_body: usize) -> Router {
    Router::new()
        .route("/v1/portfolios", get(list).post(create))
        .route(
            "/v1/portfolios/{id}",
            get(get_one).patch(rename).delete(remove),
        )
        .route(
            "/v1/portfolios/{id}/transactions",
            get(list_transactions).post(add_transaction),
        )
        .route(
            "/v1/portfolios/{id}/transactions/{tx_id}",
            delete(remove_transaction),
        )
        .route("/v1/portfolios/{id}/valuation", get(valuation))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(service)
}

type Svc = State<Arc<Portfolios>>;
/// The `{id}` of a portfolio route, as text (see [`portfolio_id`]).
type IdPath = std::result::Result<Path<String>, PathRejection>;
/// A request body, or why it was refused (see [`body_rejection`]).
type Body = std::result::Result<Bytes, BytesRejection>;
/// A handler's answer; `Err` is a request refused before any database work.
type Reply = std::result::Result<Response, Response>;

fn respond(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    respond(status, error_body(code, message))
}

fn service_error(e: &Error) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(error = %e, "portfolio request failed");
        return error_response(status, e.code(), "the request failed; see the server log");
    }
    error_response(status, e.code(), &e.to_string())
}

fn body_rejection(rejection: BytesRejection) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )
    } else {
        error_response(StatusCode::BAD_REQUEST, "bad_body", &rejection.body_text())
    }
}

/// A path id; `Err` holds the text when it is not one (it names no portfolio).
fn parse_id(text: &str) -> std::result::Result<PortfolioId, String> {
    text.parse().map_err(|_| text.to_owned())
}

/// The portfolio id of the path.
fn portfolio_id(path: IdPath) -> std::result::Result<PortfolioId, NoPortfolio> {
    parse_id(&path.map(|Path(p)| p).unwrap_or_default()).map_err(NoPortfolio)
}

/// A path id that is not a number (its text): it names no portfolio, 404.
#[derive(Debug)]
struct NoPortfolio(String);

impl From<NoPortfolio> for Response {
    fn from(NoPortfolio(text): NoPortfolio) -> Response {
        no_portfolio(&text)
    }
}

/// 404 for a path id that is not a number.
fn no_portfolio(text: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "unknown_portfolio",
        &format!("no portfolio {text:?}"),
    )
}

/// Runs `work` on the blocking pool and turns its error into a JSON error response.
async fn blocking(work: impl FnOnce() -> Result<Response> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => service_error(&e),
        Err(join) => {
            tracing::error!(error = %join, "portfolio request task failed");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the request failed; see the server log",
            )
        }
    }
}

async fn list(State(s): Svc, principal: Principal) -> Reply {
    Ok(blocking(move || {
        Ok(respond(
            StatusCode::OK,
            portfolios_json(&s.list(&principal.0)?),
        ))
    })
    .await)
}

async fn create(State(s): Svc, principal: Principal, body: Body) -> Reply {
    let body = body.map_err(body_rejection)?;
    Ok(blocking(move || {
        let portfolio = s.create(&principal.0, parse_new_portfolio(&body)?)?;
        let mut response = respond(StatusCode::CREATED, portfolio_json(&portfolio));
        if let Ok(location) = HeaderValue::from_str(&format!("/v1/portfolios/{}", portfolio.id)) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Ok(response)
    })
    .await)
}

async fn get_one(State(s): Svc, principal: Principal, path: IdPath) -> Reply {
    let id = portfolio_id(path)?;
    Ok(blocking(move || {
        let portfolio = s.get(&principal.0, id)?;
        Ok(respond(StatusCode::OK, portfolio_json(&portfolio)))
    })
    .await)
}

async fn rename(State(s): Svc, principal: Principal, path: IdPath, body: Body) -> Reply {
    let body = body.map_err(body_rejection)?;
    let id = portfolio_id(path)?;
    Ok(blocking(move || {
        // An unknown portfolio is 404 whatever the body holds.
        s.get(&principal.0, id)?;
        let portfolio = s.rename(&principal.0, id, &parse_rename(&body)?)?;
        Ok(respond(StatusCode::OK, portfolio_json(&portfolio)))
    })
    .await)
}

async fn remove(State(s): Svc, principal: Principal, path: IdPath) -> Reply {
    let id = portfolio_id(path)?;
    Ok(blocking(move || {
        s.delete(&principal.0, id)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await)
}

async fn list_transactions(State(s): Svc, principal: Principal, path: IdPath) -> Reply {
    let id = portfolio_id(path)?;
    Ok(blocking(move || {
        let txs = s.transactions(&principal.0, id)?;
        Ok(respond(StatusCode::OK, transactions_json(id, &txs)))
    })
    .await)
}

async fn add_transaction(State(s): Svc, principal: Principal, path: IdPath, body: Body) -> Reply {
    let body = body.map_err(body_rejection)?;
    let id = portfolio_id(path)?;
    Ok(blocking(move || {
        // An unknown portfolio is 404 whatever the body holds.
        s.get(&principal.0, id)?;
        let tx = s.add_transaction(&principal.0, id, parse_new_transaction(&body)?)?;
        Ok(respond(StatusCode::CREATED, transaction_json(id, &tx)))
    })
    .await)
}

async fn remove_transaction(
    State(s): Svc,
    principal: Principal,
    path: std::result::Result<Path<(String, String)>, PathRejection>,
) -> Reply {
    let (id, tx) = path.map(|Path(p)| p).unwrap_or_default();
    let id = parse_id(&id).map_err(NoPortfolio)?;
    Ok(blocking(move || {
        // Checked first, so another owner's portfolio is 404 `unknown_portfolio` whatever
        // the transaction id.
        s.get(&principal.0, id)?;
        let Ok(tx_id) = tx.parse::<u64>() else {
            return Ok(error_response(
                StatusCode::NOT_FOUND,
                "unknown_transaction",
                &format!("no transaction {tx:?} in portfolio {id}"),
            ));
        };
        s.delete_transaction(&principal.0, id, tx_id)?;
        Ok(StatusCode::NO_CONTENT.into_response())
    })
    .await)
}

async fn valuation(State(s): Svc, principal: Principal, path: IdPath) -> Reply {
    let id = portfolio_id(path)?;
    Ok(blocking(move || {
        Ok(match s.valuation(&principal.0, id)? {
            Some(v) => respond(StatusCode::OK, valuation_json(&v)),
            None => error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "valuation_unavailable",
                &format!("portfolio {id} has no live valuation yet"),
            ),
        })
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_that_are_not_numbers_name_no_portfolio() {
        assert_eq!(portfolio_id(Ok(Path("12".into()))).ok(), Some(12));
        for bad in ["x", "-1", "", "18446744073709551616"] {
            assert_eq!(parse_id(bad), Err(bad.to_owned()));
        }
        assert_eq!(no_portfolio("x").status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn server_errors_hide_their_details() {
        let e = Error::Db(crate::db::DbError::IdRange(u64::MAX));
        let response = service_error(&e);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
