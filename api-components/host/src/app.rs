//! Loading an application: the manifest, its variables, the compiled and
//! pre-instantiated components, and the route table that points at them.

use crate::cache::load_component;
use crate::config::Config;
use crate::instances::{ComponentInstances, InstanceLimits};
use crate::manifest::{Manifest, RouteDecl};
use crate::outbound::AllowedHosts;
use crate::postgres::{PgPools, PgTls};
use crate::routes::{Route, Router};
use crate::runtime_config::RuntimeConfig;
use crate::state::HostState;
use crate::variables::AppVariables;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime_wasi_http::handler::{ProxyHandler, ProxyPre};
use wasmtime_wasi_http::p3::bindings::ServicePre;

/// How often the engine's epoch advances: the granularity of yielding for guests that
/// compute without awaiting.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// A loaded application, ready to serve.
pub struct App {
    pub name: String,
    pub router: Router,
    /// Indexed by `Route::component`.
    pub components: Vec<ProxyHandler<ComponentInstances>>,
}

pub fn engine() -> Result<Engine> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.wasm_component_model_async(true);
    config.epoch_interruption(true);
    let engine = Engine::new(&config)?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(engine)
}

fn linker(engine: &Engine) -> Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    // Rust's std in a wasm32-wasip2 component imports WASI 0.2 (cli, io, random,
    // clocks); spin-sdk 7 imports WASI 0.3 and `wasi:http@0.3.0`.
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    crate::postgres::add_to_linker(&mut linker)?;
    crate::spin_variables::add_to_linker(&mut linker)?;
    Ok(linker)
}

impl App {
    pub fn load(config: &Config, env: impl Fn(&str) -> Option<String>) -> Result<App> {
        let manifest = Manifest::load(&config.manifest)?;
        let manifest_dir = config.manifest.parent().unwrap_or(Path::new("."));
        let variables = AppVariables::resolve(&manifest, env)?;
        let engine = engine()?;
        let linker = linker(&engine)?;
        let pg_tls = pg_tls(config.runtime_config_file.as_deref(), &manifest)?;
        let pg_pools = Arc::new(
            PgPools::new(config.pg_pool_size, config.pg_connect_timeout)
                .with_session_reset(config.pg_reset_sessions)
                .with_pool_wait(config.pg_pool_wait)
                .with_tls(pg_tls),
        );
        let limits = InstanceLimits {
            memory_bytes: config.memory_limit_mib * 1024 * 1024,
            request_timeout: config.request_timeout,
            max_reuse: config.max_instance_reuse.max(1),
            max_concurrency: config.max_instance_concurrency.max(1),
            idle_timeout: config.idle_instance_timeout,
            outbound_timeout: config.outbound_timeout,
        };
        let cache_dir = config.cache_dir();
        let http_pool = crate::state::pooled_http(config.outbound_timeout);

        let mut index = BTreeMap::new();
        let mut components = Vec::new();
        for (id, decl) in &manifest.component {
            let wasm = decl.source.local_path(manifest_dir)?;
            let component = load_component(&engine, &wasm, &cache_dir)
                .with_context(|| format!("component {id:?}"))?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("component {id:?} imports something this host does not provide")
                })?;
            let pre = ServicePre::new(pre).map_err(anyhow::Error::from).with_context(|| {
                format!("component {id:?} does not export wasi:http/handler@0.3.0 (build it with spin-sdk 7)")
            })?;
            let allowed: Vec<String> = decl
                .allowed_outbound_hosts
                .iter()
                .map(|h| variables.render(h))
                .collect::<Result<_>>()
                .with_context(|| format!("allowed_outbound_hosts of component {id:?}"))?;
            let instances = ComponentInstances {
                id: id.clone(),
                engine: engine.clone(),
                pre: ProxyPre::P3(pre),
                variables: Arc::new(
                    variables
                        .component_values(&decl.variables)
                        .with_context(|| format!("variables of component {id:?}"))?,
                ),
                allowed: Arc::new(
                    AllowedHosts::parse(&allowed).with_context(|| format!("component {id:?}"))?,
                ),
                pg_pools: pg_pools.clone(),
                http_pool: http_pool.clone(),
                limits: limits.clone(),
            };
            index.insert(id.clone(), components.len());
            components.push(ProxyHandler::new(instances));
            tracing::info!(component = %id, source = %wasm.display(), "component ready");
        }

        let mut routes = Vec::new();
        for trigger in &manifest.trigger.http {
            let component = index[&trigger.component];
            match &trigger.route {
                RouteDecl::Path(path) => routes.push(Route::parse(path, component)?),
                // Private routes are reachable only from inside the application
                // (service chaining), never from the listener.
                RouteDecl::Private { .. } => {}
            }
        }
        Ok(App {
            name: manifest.application.name,
            router: Router::new(routes)?,
            components,
        })
    }
}

/// The `[[client_tls]]` rules of the runtime configuration file, if one is given; a rule for
/// a component the manifest does not have is accepted (as Spin does) with a warning.
fn pg_tls(runtime_config: Option<&Path>, manifest: &Manifest) -> Result<PgTls> {
    let Some(path) = runtime_config else {
        return Ok(PgTls::default());
    };
    let runtime_config = RuntimeConfig::load(path)?;
    let tls = PgTls::new(runtime_config.client_tls)
        .with_context(|| format!("runtime config {}", path.display()))?;
    for id in tls.components() {
        if !manifest.component.contains_key(id) {
            tracing::warn!(
                component = id,
                "[[client_tls]] names a component the manifest does not have"
            );
        }
    }
    Ok(tls)
}
