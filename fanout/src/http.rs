//! Market data routes: `GET /v1/instruments`, `GET /v1/snapshot` and the WebSocket,
//! `GET /v1/ws`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use engine::TickKind;
use engine::fixed::write_scaled;
use engine::json::{error_body, write_str};

use crate::encode::write_tick;
use crate::hub::Hub;

/// Most instruments one snapshot request may name.
pub const MAX_SNAPSHOT_INSTRUMENTS: usize = 1000;

/// The fanout's routes, to be merged into the engine's router.
pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/v1/instruments", get(instruments))
        .route("/v1/snapshot", get(snapshot))
        .route("/v1/ws", get(crate::ws::upgrade))
        .with_state(hub)
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json(status, error_body(code, message))
}

/// Every instrument with its venue, symbol, last trade price and last update (ns).
async fn instruments(State(hub): State<Arc<Hub>>) -> Response {
    let mut out = String::from("[");
    for (i, instrument) in hub.registry().all().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"id\":");
        write_str(&mut out, &instrument.name);
        out.push_str(",\"venue\":");
        write_str(&mut out, instrument.venue());
        out.push_str(",\"symbol\":");
        write_str(&mut out, instrument.symbol());
        let trade = hub.latest().trade(instrument.id);
        let quote = hub.latest().quote(instrument.id);
        out.push_str(",\"last\":");
        match trade.and_then(|t| t.as_trade()) {
            Some(t) => {
                out.push('"');
                let _ = write_scaled(t.price.units(), &mut out);
                out.push('"');
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"last_update\":");
        match trade.iter().chain(quote.iter()).map(|t| t.ts_recv).max() {
            Some(ts) => {
                let _ = write!(out, "{ts}");
            }
            None => out.push_str("null"),
        }
        out.push('}');
    }
    out.push(']');
    json(StatusCode::OK, out)
}

/// `?instruments=A,B`: each one's latest trade and quote (null where none yet).
async fn snapshot(
    State(hub): State<Arc<Hub>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(list) = query.get("instruments").filter(|l| !l.trim().is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing_parameter",
            "instruments=VENUE:SYMBOL[,...] is required",
        );
    };
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    if names.len() > MAX_SNAPSHOT_INSTRUMENTS {
        return error(
            StatusCode::BAD_REQUEST,
            "too_many_instruments",
            &format!("at most {MAX_SNAPSHOT_INSTRUMENTS} instruments per request"),
        );
    }
    let mut out = String::from("{");
    for (i, name) in names.iter().enumerate() {
        let Some(id) = hub.registry().id(name) else {
            return error(
                StatusCode::NOT_FOUND,
                "unknown_instrument",
                &format!("unknown instrument {name:?}"),
            );
        };
        if i > 0 {
            out.push(',');
        }
        write_str(&mut out, name);
        out.push(':');
        out.push('{');
        for (j, kind) in [TickKind::Trade, TickKind::Quote].into_iter().enumerate() {
            let (key, latest) = match kind {
                TickKind::Trade => ("trade", hub.latest().trade(id)),
                TickKind::Quote => ("quote", hub.latest().quote(id)),
            };
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"{key}\":");
            match latest {
                Some(tick) => write_tick(&mut out, name, &tick, true),
                None => out.push_str("null"),
            }
        }
        out.push('}');
    }
    out.push('}');
    json(StatusCode::OK, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latest::LatestTable;
    use axum::body::Body;
    use axum::http::Request;
    use engine::{Price, Qty, Registry, Side, Tick, Trade};
    use tower::ServiceExt;

    async fn get_json(state: &Arc<Hub>, uri: &str) -> (StatusCode, serde_json::Value) {
        let response = router(state.clone())
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn state() -> Arc<Hub> {
        let registry = Arc::new(Registry::new());
        let latest = Arc::new(LatestTable::new());
        let a = registry.intern("SIM:AAA").unwrap();
        registry.intern("SIM:AAB").unwrap();
        let mut tick = Tick::trade(
            a,
            10,
            20,
            Trade {
                price: "101.25".parse::<Price>().unwrap(),
                size: "3".parse::<Qty>().unwrap(),
                side: Side::Buy,
                id: 1,
            },
        );
        tick.seq = 7;
        latest.apply(&tick);
        Arc::new(Hub::new(registry, latest, crate::FanoutConfig::default()))
    }

    #[tokio::test]
    async fn instruments_lists_every_instrument_with_its_last_price() {
        let (status, body) = get_json(&state(), "/v1/instruments").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            serde_json::json!([
                {"id": "SIM:AAA", "venue": "SIM", "symbol": "AAA", "last": "101.25", "last_update": 20},
                {"id": "SIM:AAB", "venue": "SIM", "symbol": "AAB", "last": null, "last_update": null}
            ])
        );
    }

    #[tokio::test]
    async fn snapshot_gives_latest_trade_and_quote() {
        let (status, body) = get_json(&state(), "/v1/snapshot?instruments=SIM:AAA,SIM:AAB").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["SIM:AAA"]["trade"]["price"], "101.25");
        assert_eq!(body["SIM:AAA"]["trade"]["seq"], 7);
        assert_eq!(body["SIM:AAA"]["trade"]["snapshot"], true);
        assert_eq!(body["SIM:AAA"]["trade"]["type"], "snapshot");
        assert_eq!(body["SIM:AAA"]["quote"], serde_json::Value::Null);
        assert_eq!(
            body["SIM:AAB"],
            serde_json::json!({"trade": null, "quote": null})
        );
    }

    #[tokio::test]
    async fn snapshot_errors_are_json() {
        let state = state();
        let (status, body) = get_json(&state, "/v1/snapshot").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "missing_parameter");
        let (status, body) = get_json(&state, "/v1/snapshot?instruments=SIM:NOPE").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "unknown_instrument");
        let many = vec!["SIM:AAA"; MAX_SNAPSHOT_INSTRUMENTS + 1].join(",");
        let (status, body) = get_json(&state, &format!("/v1/snapshot?instruments={many}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "too_many_instruments");
    }
}
