//! A runtime that passes every call through to another one but hands out its agent streams
//! through a hook, so a test can stand between the bridge and the agent (delay the end of a
//! stream, act when a given frame goes by).

use std::sync::Arc;

use terminal_bridge::runtime::{AgentStream, Runtime, RuntimeError, Sandbox};
use uuid::Uuid;

/// What the hook does to each stream `connect` returns.
pub type Hook = Box<dyn Fn(AgentStream) -> AgentStream + Send + Sync>;

/// See the module documentation.
pub struct Hooked {
    pub inner: Arc<dyn Runtime>,
    pub hook: Hook,
}

impl Hooked {
    pub fn runtime(
        inner: Arc<dyn Runtime>,
        hook: impl Fn(AgentStream) -> AgentStream + Send + Sync + 'static,
    ) -> Arc<dyn Runtime> {
        Arc::new(Hooked {
            inner,
            hook: Box::new(hook),
        })
    }
}

#[async_trait::async_trait]
impl Runtime for Hooked {
    fn name(&self) -> &'static str {
        "hooked"
    }
    async fn ensure(&self, session: Uuid) -> Result<Sandbox, RuntimeError> {
        self.inner.ensure(session).await
    }
    async fn connect(&self, session: Uuid) -> Result<AgentStream, RuntimeError> {
        Ok((self.hook)(self.inner.connect(session).await?))
    }
    async fn stop(&self, session: Uuid) -> Result<(), RuntimeError> {
        self.inner.stop(session).await
    }
    async fn list(&self) -> Result<Vec<Sandbox>, RuntimeError> {
        self.inner.list().await
    }
}
