//! Test tooling shared by the workspace's integration tests.
//!
//! Tests here use real things: a real PostgreSQL and the real binaries. This crate makes that
//! cheap and leak-free:
//!
//! - [`pg_cluster`]: [`PgCluster`], a throwaway PostgreSQL cluster in a temporary directory, on a
//!   free loopback port, stopped and deleted on drop. Works when the tests run as root (as CI
//!   does) by running the PostgreSQL tools as an unprivileged user. [`PgCluster::start_tls`]
//!   makes one that serves TLS with a certificate from a throwaway CA ([`pg_tls`]).
//! - [`pg_bin`]: finds the PostgreSQL server binaries (`initdb`, `pg_ctl`, ...).
//! - [`os_user`]: which OS user the PostgreSQL tools run as.
//! - [`child`]: [`ChildGuard`], which kills a spawned process when the test ends, and shows its
//!   output when the test failed.
//! - [`http`]: a minimal blocking HTTP/1.0 client: [`http_get`], [`wait_for_http`].
//! - [`net`]: a free loopback port, [`free_port`].
//! - [`fake_kube`]: [`FakeKube`], a fake Kubernetes API server on loopback whose pods run the
//!   real `pod-agent` (pods CRUD, watch, `Status` errors, scripted phases and faults, and
//!   `pods/exec` over the v4/v5 channel WebSocket protocols), for the bridge's kube runtime.
//! - [`host`]: [`Host`], the two hosts of the REST components (api-host and the real Spin CLI),
//!   and [`spin_find`], which finds the real Spin (`SPIN_BIN` or `PATH`, 4.1 or later).
//! - [`paths`]: [`workspace_root`], [`target_dir`], [`binary`], [`wasm_component`] and
//!   [`spin_manifest`], the locations of built artifacts.

pub mod child;
pub mod fake_kube;
pub mod host;
pub mod http;
pub mod net;
pub mod os_user;
pub mod paths;
pub mod pg_bin;
pub mod pg_cluster;
pub mod pg_tls;
pub mod spin_find;

pub use child::ChildGuard;
pub use fake_kube::{FakeKube, Fate};
pub use host::{Host, HostProcess};
pub use http::{HttpResponse, http_get, wait_for_http};
pub use net::free_port;
pub use paths::{binary, spin_manifest, target_dir, wasm_component, workspace_root};
pub use pg_cluster::PgCluster;
pub use pg_tls::TlsFiles;
/// One test per host: see the `test-support-macros` crate.
pub use test_support_macros::each_host;
