//! Prometheus metrics of the bridge, served as text at `GET /metrics`.
//!
//! Hand-rolled: a handful of atomics and a few labelled counters do not justify a metrics
//! framework. To add a metric: add a field to [`Metrics`] (an [`AtomicU64`] for a counter, an
//! [`AtomicI64`] for a gauge, a [`LabelledCounter`] for a counter by label), document it, and
//! add one `counter`/`gauge`/`render` line to [`Metrics::render`] — the section marked
//! "workspaces" is the place for sandbox counts and file-sync lag.
//!
//! Labelled counters are counted through typed methods ([`Metrics::client_error`],
//! [`Metrics::auth_failure`]; the session layer's `Stats` for reconcile and sync failures)
//! that take the error itself and label it with its `metric_label()`, so the label values are
//! the error enums' small, fixed sets and never a string typed at a call site.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::ws::ClientError;
use crate::ws::auth::AuthError;

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
    /// Errors sent to WebSocket clients (an `error` message, an error close frame or an HTTP
    /// refusal before the upgrade), by [`ClientError::metric_label`].
    errors: LabelledCounter,
    /// Refused authentications, by [`AuthError::metric_label`].
    auth_failures: LabelledCounter,
}

impl Metrics {
    /// Counts one error sent to a client (see [`ClientError::record`], which calls this).
    pub fn client_error(&self, error: &ClientError) {
        self.errors.inc(error.metric_label());
    }

    /// Counts one refused authentication.
    pub fn auth_failure(&self, error: &AuthError) {
        self.auth_failures.inc(error.metric_label());
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
        // The name predates the error enum and is what dashboards and the README know.
        self.errors.render(
            &mut out,
            "bridge_ws_errors_total",
            "Errors sent to WebSocket clients, by code.",
            "code",
        );
        self.auth_failures.render(
            &mut out,
            "bridge_auth_failures_total",
            "Refused WebSocket authentications, by reason.",
            "reason",
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

/// A counter by one label, e.g. errors by code. Label values are `&'static str`: they come
/// from an error enum's `metric_label()`, so their number is small and fixed.
#[derive(Debug, Default)]
pub struct LabelledCounter {
    values: Mutex<BTreeMap<&'static str, u64>>,
}

impl LabelledCounter {
    /// Adds one to `label`'s count.
    pub fn inc(&self, label: &'static str) {
        *lock(&self.values).entry(label).or_default() += 1;
    }

    /// The count of `label` (0 if never counted).
    pub fn get(&self, label: &str) -> u64 {
        lock(&self.values).get(label).copied().unwrap_or_default()
    }

    /// Appends the counter in the exposition format: `name{label="value"} count` per value.
    pub fn render(&self, out: &mut String, name: &str, help: &str, label: &str) {
        header(out, name, help, "counter");
        for (key, value) in lock(&self.values).iter() {
            let _ = writeln!(out, "{name}{{{label}=\"{key}\"}} {value}");
        }
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
        let forbidden = ClientError::Forbidden("viewers cannot type".into());
        metrics.client_error(&forbidden);
        metrics.client_error(&forbidden);
        metrics.auth_failure(&AuthError::Invalid);
        let text = metrics.render();
        assert!(text.contains("\nbridge_ws_connections 2\n"), "{text}");
        assert!(text.contains("\nbridge_terminal_input_bytes_total 5\n"));
        assert!(text.contains("bridge_ws_errors_total{code=\"forbidden\"} 2\n"));
        assert!(text.contains("bridge_auth_failures_total{reason=\"invalid\"} 1\n"));
        assert!(text.contains("# TYPE bridge_ws_errors_total counter\n"));
    }
}
