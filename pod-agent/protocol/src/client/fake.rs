//! A scripted fake agent for tests of clients (feature `test-util`): it answers the hello with
//! one protocol version, then hands its ends of an in-memory stream to a script.

use std::future::Future;

use tokio::io::{DuplexStream, ReadHalf, WriteHalf};
use tokio::task::JoinHandle;

use crate::{Frame, FrameReader, FrameWriter};

/// The fake agent's reading end.
pub type AgentReader = FrameReader<ReadHalf<DuplexStream>>;
/// The fake agent's writing end.
pub type AgentWriter = FrameWriter<WriteHalf<DuplexStream>>;

/// Bytes the in-memory stream buffers in each direction.
const BUFFER: usize = 1 << 20;

/// Starts an agent that reads the client's `Hello`, answers it with `version` (as both its
/// minimum and maximum), then runs `script`. Returns the client's end of the stream and the
/// agent's task (which panics if the first frame is not a `Hello`).
pub fn fake_agent<F, Fut>(version: u16, script: F) -> (DuplexStream, JoinHandle<()>)
where
    F: FnOnce(AgentReader, AgentWriter) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (ours, theirs) = tokio::io::duplex(BUFFER);
    let agent = tokio::spawn(async move {
        let (r, w) = tokio::io::split(theirs);
        let (mut r, mut w) = (FrameReader::new(r), FrameWriter::new(w));
        let Ok(Some(Frame::Hello { .. })) = r.read_frame().await else {
            panic!("the client did not say hello")
        };
        w.send(&Frame::Hello {
            min_version: version,
            max_version: version,
            software: "fake".into(),
        })
        .await
        .expect("answering the hello");
        script(r, w).await;
    });
    (ours, agent)
}
