//! Integration tests of the REST API live in `tests/`: each starts a throwaway PostgreSQL
//! cluster migrated by the real `terminal-bridge migrate`, and the real `api-host` serving the
//! repository's `spin.toml` with the real `.wasm` components. This library is empty on purpose.
