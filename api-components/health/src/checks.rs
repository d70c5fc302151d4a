//! The dependency checks of `/api/health/detailed`. Each runs under a deadline, so a
//! dependency that hangs turns into an `unhealthy` entry instead of a hung request.

use futures::FutureExt;
use serde::Serialize;
use serde_json::{Value, json};
use spin_sdk::pg::{Connection, DbValue};
use std::future::Future;
use std::time::{Duration, Instant};

/// Highest applied migration and the server's version, in one round trip.
const DATABASE_PROBE: &str = "select current_setting('server_version') as server_version, \
     (select max(version) from refinery_schema_history) as migration_version";

#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Unhealthy,
}

/// One dependency's verdict.
#[derive(Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    /// Wall time the check took, in milliseconds.
    pub latency_ms: f64,
    /// What was learned (versions) or, when unhealthy, why.
    pub details: Value,
}

/// Runs `probe` for at most `budget`; its `Err` or the timeout make the check unhealthy.
async fn timed<F>(name: &'static str, budget: Duration, probe: F) -> Check
where
    F: Future<Output = Result<Value, String>>,
{
    let started = Instant::now();
    let outcome = futures::select_biased! {
        result = probe.fuse() => result,
        _ = spin_sdk::time::sleep(budget).fuse() => {
            Err(format!("no answer within {} ms", budget.as_millis()))
        }
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(details) => Check {
            name,
            status: Status::Healthy,
            latency_ms,
            details,
        },
        Err(error) => Check {
            name,
            status: Status::Unhealthy,
            latency_ms,
            details: json!({ "error": error }),
        },
    }
}

pub async fn database(budget: Duration) -> Check {
    timed("database", budget, async {
        let url = spin_sdk::variables::get("database_url")
            .await
            .map_err(|e| format!("variable database_url: {e}"))?;
        let db = Connection::open(url)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let round_trip = Instant::now();
        let rows = db
            .query(DATABASE_PROBE, [])
            .await
            .map_err(|e| format!("query: {e}"))?
            .collect()
            .await
            .map_err(|e| format!("query: {e}"))?;
        let round_trip_ms = round_trip.elapsed().as_secs_f64() * 1000.0;
        let row = rows.first().ok_or("probe returned no row")?;
        let server_version = row.get::<String>("server_version");
        let migration_version = match &row[1] {
            DbValue::Int32(v) => Some(i64::from(*v)),
            DbValue::Int64(v) => Some(*v),
            _ => None,
        };
        Ok(json!({
            "server_version": server_version,
            "migration_version": migration_version,
            "round_trip_ms": round_trip_ms,
        }))
    })
    .await
}

pub async fn terminal_bridge(budget: Duration) -> Check {
    timed("terminal_bridge", budget, async {
        let base = spin_sdk::variables::get("terminal_bridge_url")
            .await
            .map_err(|e| format!("variable terminal_bridge_url: {e}"))?;
        let url = format!("{}/healthz", base.trim_end_matches('/'));
        let response = spin_sdk::http::get(&url)
            .await
            .map_err(|e| format!("GET {url}: {e:?}"))?;
        let status = response.status();
        if status.is_success() {
            Ok(json!({ "url": url, "http_status": status.as_u16() }))
        } else {
            Err(format!("GET {url} answered {status}"))
        }
    })
    .await
}
