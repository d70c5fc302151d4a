//! Offline checks of the Kubernetes manifests in `k8s/`; the crate holds no product code, only
//! what its tests share (`tests/` holds the checks themselves).
//!
//! - [`manifests`]: finds the YAML files of `k8s/` and parses their documents.
//! - [`pod`]: reaches the pod template of any workload (Pod, Deployment, StatefulSet, Job, ...)
//!   and its containers, with the pod-level security settings they inherit.
//! - [`validator`]: runs the pinned `kubernetes-validate` (Python, installed by
//!   `scripts/lib.sh` into `.local/venv`) over manifests and checks that every resource passed
//!   for every Kubernetes version, and validates the SpinApp against
//!   `schemas/spinapp-v1alpha1.json`.

pub mod manifests;
pub mod pod;
pub mod validator;

pub use manifests::{Manifest, Resource};
