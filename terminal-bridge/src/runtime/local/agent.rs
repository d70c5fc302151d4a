//! Is the sandbox's agent answering? A connection to its socket plus the protocol's hello.

use std::path::Path;
use std::time::Duration;

use agent_protocol::{FrameReader, FrameWriter, client_handshake};
use tokio::net::UnixStream;

/// How long one hello may take.
const HELLO_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects to `socket` and completes the hello; the error says what failed.
pub async fn probe(socket: &Path) -> Result<(), String> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|err| format!("cannot connect to the agent's socket: {err}"))?;
    let (read, write) = stream.into_split();
    let mut reader = FrameReader::new(read);
    let mut writer = FrameWriter::new(write);
    match tokio::time::timeout(
        HELLO_TIMEOUT,
        client_handshake(&mut reader, &mut writer, "terminal-bridge/runtime-probe"),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(format!("the agent's hello failed: {err}")),
        Err(_) => Err("the agent did not answer the hello".into()),
    }
}
