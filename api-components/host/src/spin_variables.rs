//! tmp
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "api-host:spin/variables",
        imports: { default: tracing },
    });
}
