//! tmp
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "api-host:spin/postgres",
        imports: { default: tracing | trappable },
    });
}
