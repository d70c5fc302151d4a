//! `spin:postgres/postgres@4.2.0`: PostgreSQL for components, on tokio-postgres with
//! one connection pool per address.
//!
//! - `mod.rs` (here): the bindings, the per-store context and the host functions.
//! - `pool`: pools, the `allowed_outbound_hosts` check, connection reset on return.
//! - `tls`: TLS as Spin does it (system roots, `set-ca-root`, `[[client_tls]]`).
//! - `statement`: prepare (cached), bind, execute, error mapping.
//! - `rows`: the row stream of `query-async`.
//! - `convert`: values between WIT and PostgreSQL, with Spin's rules (see there).
//! - `codecs`: the binary codecs no crate provides (interval, NULL, raw values).
//!
//! The asynchronous functions (`open-async`, `query-async`, `execute-async`,
//! `build-async`), which spin-sdk 7 calls, take an [`Accessor`]: they copy what they
//! need out of the store, then do their I/O without holding it, so other requests
//! served by the same instance keep running meanwhile. The synchronous ones (`open`,
//! `query`, `execute`, `build`) exist because a linker must satisfy every import; they
//! hold the store while they wait, as a synchronous call does.
//!
//! Database problems never trap the guest: they come back as `error` values. Only a
//! host-side inconsistency (a handle missing from the resource table) traps.
//!
//! Wiring, for the store data `T` of the host:
//! ```ignore
//! impl PgView for HostState {
//!     fn pg(&mut self) -> (&mut PgCtx, &mut ResourceTable) { (&mut self.pg, &mut self.table) }
//! }
//! postgres::add_to_linker(&mut linker)?;
//! ```

// The WIT `error` variant is large; it is the interface's own result type.
#![allow(clippy::result_large_err)]

mod codecs;
mod convert;
#[cfg(test)]
mod db_tests;
mod pool;
mod rows;
mod statement;
mod tls;

pub use pool::{HostCheck, PgPools};
pub use tls::PgTls;

use pool::PooledClient;
use std::sync::Arc;
use wasmtime::component::{
    Accessor, FutureReader, HasData, Linker, Resource, ResourceTable, StreamReader,
};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "api-host:spin/postgres",
        imports: {
            // Synchronous in WIT, but they do I/O: Rust-async, holding the store.
            "spin:postgres/postgres.[static]connection.open": async | trappable,
            "spin:postgres/postgres.[method]connection.query": async | trappable,
            "spin:postgres/postgres.[method]connection.execute": async | trappable,
            "spin:postgres/postgres.[method]connection-builder.build": async | trappable,
            // WIT `async` functions get `async | store` (an `Accessor`) implicitly.
            default: trappable,
        },
        with: {
            "spin:postgres/postgres.connection": crate::postgres::PgConnection,
            "spin:postgres/postgres.connection-builder": crate::postgres::PgConnectionBuilder,
        },
    });
}

use bindings::spin::postgres::postgres as wit;
use wit::{Column, Error, ParameterValue, Row, RowSet};

/// The PostgreSQL state of one store.
#[derive(Clone)]
pub struct PgCtx {
    /// Shared by every store of the host.
    pub pools: Arc<PgPools>,
    /// The component's `allowed_outbound_hosts`, checked on every connect.
    pub allowed: HostCheck,
    /// The component's id, which picks its `[[client_tls]]` rules.
    pub component: Arc<str>,
}

impl PgCtx {
    pub fn new(pools: Arc<PgPools>, allowed: HostCheck, component: &str) -> PgCtx {
        PgCtx {
            pools,
            allowed,
            component: component.into(),
        }
    }
}

/// Implemented by the store data: where its [`PgCtx`] and resource table are.
pub trait PgView: Send {
    fn pg(&mut self) -> (&mut PgCtx, &mut ResourceTable);
}

/// Adds `spin:postgres/postgres@4.2.0` to `linker`.
pub fn add_to_linker<T: PgView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, Pg>(linker, |data| {
        let (ctx, table) = data.pg();
        PgCtxView { ctx, table }
    })
}

/// A `connection` resource: a pooled connection, shared with the row streams still
/// reading from it, so it goes back to its pool when the last of them is done.
pub struct PgConnection {
    client: Arc<PooledClient>,
}

/// A `connection-builder` resource.
pub struct PgConnectionBuilder {
    address: String,
    /// The root certificate given with `set-ca-root`, trusted besides the usual ones.
    root: Option<tls::GuestRoot>,
}

/// What the host functions see of a store.
struct PgCtxView<'a> {
    ctx: &'a mut PgCtx,
    table: &'a mut ResourceTable,
}

/// Selects [`PgCtxView`] as the bindings' view of the store.
struct Pg;

impl HasData for Pg {
    type Data<'a> = PgCtxView<'a>;
}

type WitResult<T> = wasmtime::Result<Result<T, Error>>;

/// Traps where Spin's host panics on the parameters (see [`convert::traps_in_spin`]).
fn trap_like_spin(params: &[ParameterValue]) -> wasmtime::Result<()> {
    match convert::traps_in_spin(params) {
        Some(ty) => Err(wasmtime::format_err!(
            "an {ty} bound at the maximum of its type cannot be normalised \
             (Spin's host panics on it)"
        )),
        None => Ok(()),
    }
}

/// Opens a connection with what [`PgCtx`] holds, without touching the store.
async fn connect(
    ctx: PgCtx,
    address: &str,
    root: Option<&tls::GuestRoot>,
) -> Result<PgConnection, Error> {
    let client = ctx
        .pools
        .connect(address, &ctx.allowed, &ctx.component, root)
        .await?;
    Ok(PgConnection {
        client: Arc::new(client),
    })
}

impl PgCtxView<'_> {
    async fn open(
        &mut self,
        address: &str,
        root: Option<&tls::GuestRoot>,
    ) -> WitResult<Resource<PgConnection>> {
        match connect(self.ctx.clone(), address, root).await {
            Ok(conn) => Ok(Ok(self.table.push(conn)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    fn client(&self, conn: &Resource<PgConnection>) -> wasmtime::Result<Arc<PooledClient>> {
        Ok(self.table.get(conn)?.client.clone())
    }
}

impl wit::Host for PgCtxView<'_> {}

impl wit::HostConnection for PgCtxView<'_> {
    async fn open(&mut self, address: String) -> WitResult<Resource<PgConnection>> {
        PgCtxView::open(self, &address, None).await
    }

    async fn query(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> WitResult<RowSet> {
        trap_like_spin(&params)?;
        let client = self.client(&conn)?;
        Ok(statement::query_all(&client, &statement, &params).await)
    }

    async fn execute(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> WitResult<u64> {
        trap_like_spin(&params)?;
        let client = self.client(&conn)?;
        Ok(statement::execute(&client, &statement, &params).await)
    }

    fn drop(&mut self, conn: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

impl wit::HostConnectionBuilder for PgCtxView<'_> {
    fn new(&mut self, address: String) -> wasmtime::Result<Resource<PgConnectionBuilder>> {
        Ok(self.table.push(PgConnectionBuilder {
            address,
            root: None,
        })?)
    }

    /// Trusts `certificate` (PEM) for the connection built, besides the usual roots, as
    /// Spin does.
    fn set_ca_root(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
        certificate: String,
    ) -> WitResult<()> {
        let builder = self.table.get_mut(&builder)?;
        match tls::GuestRoot::parse(&certificate) {
            Ok(root) => {
                builder.root = Some(root);
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(Error::Other(e))),
        }
    }

    async fn build(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
    ) -> WitResult<Resource<PgConnection>> {
        let builder = self.table.get(&builder)?;
        let (address, root) = (builder.address.clone(), builder.root.clone());
        PgCtxView::open(self, &address, root.as_ref()).await
    }

    fn drop(&mut self, builder: Resource<PgConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

/// The store's [`PgCtx`], cloned out so no borrow outlives the call.
fn shared<T>(accessor: &Accessor<T, Pg>) -> PgCtx {
    accessor.with(|mut access| access.get().ctx.clone())
}

async fn open_with<T>(
    accessor: &Accessor<T, Pg>,
    address: &str,
    root: Option<&tls::GuestRoot>,
) -> WitResult<Resource<PgConnection>> {
    match connect(shared(accessor), address, root).await {
        Ok(conn) => Ok(Ok(
            accessor.with(|mut access| access.get().table.push(conn))?
        )),
        Err(e) => Ok(Err(e)),
    }
}

fn client_of<T>(
    accessor: &Accessor<T, Pg>,
    conn: &Resource<PgConnection>,
) -> wasmtime::Result<Arc<PooledClient>> {
    accessor.with(|mut access| access.get().client(conn))
}

impl<T: Send> wit::HostConnectionWithStore<T> for Pg {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> WitResult<Resource<PgConnection>> {
        open_with(accessor, &address, None).await
    }

    async fn query_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> WitResult<(
        Vec<Column>,
        StreamReader<Row>,
        FutureReader<Result<(), Error>>,
    )> {
        trap_like_spin(&params)?;
        let client = client_of(accessor, &conn)?;
        let started = match statement::query(&client, &statement, &params).await {
            Ok(started) => started,
            Err(e) => return Ok(Err(e)),
        };
        let columns = started.columns;
        let (producer, outcome) = rows::RowProducer::new(started.first, started.rest, client);
        accessor.with(|mut access| {
            let rows = StreamReader::new(&mut access, producer)?;
            let outcome = FutureReader::new(&mut access, async move {
                // Dropped unsent only if the producer never ran to the end: treat as done.
                Ok::<_, wasmtime::Error>(outcome.await.unwrap_or(Ok(())))
            })?;
            Ok(Ok((columns, rows, outcome)))
        })
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> WitResult<u64> {
        trap_like_spin(&params)?;
        let client = client_of(accessor, &conn)?;
        Ok(statement::execute(&client, &statement, &params).await)
    }
}

impl<T: Send> wit::HostConnectionBuilderWithStore<T> for Pg {
    async fn build_async(
        accessor: &Accessor<T, Self>,
        builder: Resource<PgConnectionBuilder>,
    ) -> WitResult<Resource<PgConnection>> {
        let (address, root) = accessor.with(|mut access| -> wasmtime::Result<_> {
            let builder = access.get().table.get(&builder)?;
            Ok((builder.address.clone(), builder.root.clone()))
        })?;
        open_with(accessor, &address, root.as_ref()).await
    }
}
