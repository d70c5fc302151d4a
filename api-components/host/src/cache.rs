//! Compiled-component cache: compiling a component takes seconds (more in debug builds),
//! so the native code is kept on disk keyed by the `.wasm`'s SHA-256 and the engine's
//! compatibility hash, and reused while both are unchanged.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

pub fn load_component(engine: &Engine, wasm_path: &Path, cache_dir: &Path) -> Result<Component> {
    let bytes = std::fs::read(wasm_path).with_context(|| {
        format!(
            "reading component {} (did you build the components?)",
            wasm_path.display()
        )
    })?;
    let entry = entry_path(engine, &bytes, cache_dir);
    if entry.exists() {
        // SAFETY: the cache directory holds only files this function wrote with
        // `Engine::precompile_component` for an engine with the same compatibility hash.
        match unsafe { Component::deserialize_file(engine, &entry) } {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(path = %entry.display(), "ignoring unusable cache entry: {e:#}")
            }
        }
    }
    let compiled = engine
        .precompile_component(&bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("compiling {}", wasm_path.display()))?;
    if let Err(e) = store(&entry, &compiled) {
        tracing::warn!(path = %entry.display(), "could not cache compiled component: {e:#}");
    }
    // SAFETY: `compiled` was produced just now by `precompile_component` of this engine.
    Ok(unsafe { Component::deserialize(engine, &compiled) }?)
}

fn entry_path(engine: &Engine, wasm: &[u8], cache_dir: &Path) -> PathBuf {
    let mut engine_hash = DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = hex::encode(Sha256::digest(wasm));
    cache_dir.join(format!("{digest}-{:016x}.cwasm", engine_hash.finish()))
}

fn store(entry: &Path, compiled: &[u8]) -> Result<()> {
    std::fs::create_dir_all(entry.parent().context("cache entry has no parent")?)?;
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, compiled)?;
    std::fs::rename(&tmp, entry)?;
    Ok(())
}
