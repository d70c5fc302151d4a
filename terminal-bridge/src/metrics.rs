//! Prometheus metrics of the bridge, served as text at `GET /metrics`.
//!
//! Hand-rolled: a handful of atomics and two labelled counters do not justify a metrics
//! framework. To add a metric: add a field to [`Metrics`] (an [`AtomicU64`] for a counter, an
//! [`AtomicI64`] for a gauge), document it, and add one `counter`/`gauge` line to
//! [`Metrics::render`] — the section marked "workspaces" is the place for sandbox counts and
//! file-sync lag.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Every metric of the process. Shared as `Arc<Metrics>`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// WebSocket connections open right now (`/ws` and the raw endpoint).
    pub ws_connections: AtomicI64,
    /// WebSocket connections accepted since start.
    pub ws_connections_total: AtomicU64,
    /// Terminal attachments open right now (one per client per terminal).
    pub terminals_attached: AtomicI64,
    /// Connections to pod-agents open right now (one per active session).
    pub agent_connections: AtomicI64,
    /// Terminal input bytes sent by clients to shells.
    pub terminal_bytes_in: AtomicU64,
    /// Terminal output bytes delivered to clients.
    pub terminal_bytes_out: AtomicU64,
    /// Protocol errors sent to clients, by error code (`forbidden`, `rate_limited`, ...).
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Refused authentications, by reason (`missing`, `invalid`, `timeout`).
    auth_failures: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts one error sent to a client.
    pub fn error(&self, code: &'static str) {
        *lock(&self.errors).entry(code).or_default() += 1;
    }

    /// Counts one refused authentication.
    pub fn auth_failure(&self, reason: &'static str) {
        *lock(&self.auth_failures).entry(reason).or_default() += 1;
    }

    /// The Prometheus text exposition format (version 0.0.4).
    ///
    /// The session layer's figures (sandboxes, sync lag, ...) come from
    /// [`crate::workspaces::Workspaces::stats`] and are appended by [`render_pairs`].
    pub fn render(&self) -> String {
        let mut out = String::new();
        let g = |a: &AtomicI64| a.load(Relaxed) as f64;
        let c = |a: &AtomicU64| a.load(Relaxed) as f64;
        // WebSockets and terminals.
        gauge(
            &mut out,
            "bridge_ws_connections",
            "WebSocket connections open now.",
            g(&self.ws_connections),
        );
        counter(
            &mut out,
            "bridge_ws_connections_total",
            "WebSocket connections accepted since start.",
            c(&self.ws_connections_total),
        );
        gauge(
            &mut out,
            "bridge_terminals_attached",
            "Terminal attachments (client x terminal) open now.",
            g(&self.terminals_attached),
        );
        gauge(
            &mut out,
            "bridge_agent_connections",
            "Connections to pod-agents open now.",
            g(&self.agent_connections),
        );
        counter(
            &mut out,
            "bridge_terminal_input_bytes_total",
            "Terminal input bytes forwarded to shells.",
            c(&self.terminal_bytes_in),
        );
        counter(
            &mut out,
            "bridge_terminal_output_bytes_total",
            "Terminal output bytes delivered to clients.",
            c(&self.terminal_bytes_out),
        );
        labelled(
            &mut out,
            "bridge_ws_errors_total",
            "Errors sent to WebSocket clients, by code.",
            "code",
            &lock(&self.errors),
        );
        labelled(
            &mut out,
            "bridge_auth_failures_total",
            "Refused WebSocket authentications, by reason.",
            "reason",
            &lock(&self.auth_failures),
        );
        // Workspaces: sandbox counts and sync lag go here.
        out
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    header(out, name, help, "gauge");
    let _ = writeln!(out, "{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: f64) {
    header(out, name, help, "counter");
    let _ = writeln!(out, "{name} {value}");
}

fn labelled(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: &BTreeMap<&'static str, u64>,
) {
    header(out, name, help, "counter");
    for (key, value) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{key}\"}} {value}");
    }
}

/// `(name, value)` pairs in the exposition format: names ending in `_total` are counters, the
/// others gauges.
pub fn render_pairs(pairs: &[(&'static str, f64)]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (name, value) in pairs {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_labels() {
        let metrics = Metrics::default();
        metrics.ws_connections.fetch_add(2, Relaxed);
        metrics.terminal_bytes_in.fetch_add(5, Relaxed);
        metrics.error("forbidden");
        metrics.error("forbidden");
        metrics.auth_failure("invalid");
        let text = metrics.render();
        assert!(text.contains("\nbridge_ws_connections 2\n"), "{text}");
        assert!(text.contains("\nbridge_terminal_input_bytes_total 5\n"));
        assert!(text.contains("bridge_ws_errors_total{code=\"forbidden\"} 2\n"));
        assert!(text.contains("bridge_auth_failures_total{reason=\"invalid\"} 1\n"));
        assert!(text.contains("# TYPE bridge_ws_errors_total counter\n"));
    }
}
