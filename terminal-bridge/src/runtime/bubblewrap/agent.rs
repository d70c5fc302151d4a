//! Is the sandbox's agent answering? A connection to its socket plus the protocol's hello.

use std::path::Path;
use std::time::Duration;

use agent_protocol::{FrameReader, FrameWriter, client_handshake};
use tokio::net::UnixStream;

/// How long one hello may take.
const HELLO_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a probe failed.
#[derive(Debug)]
pub enum ProbeError {
    /// Nothing listens on the socket (yet, or any more).
    NotListening(std::io::Error),
    /// Something accepted the connection but the hello failed or took too long: the agent
    /// may be busy, so a running sandbox is not replaced for this.
    NoAnswer(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::NotListening(err) => write!(f, "cannot connect to the agent: {err}"),
            ProbeError::NoAnswer(why) => write!(f, "the agent does not answer: {why}"),
        }
    }
}

/// Connects to `socket` and completes the hello.
pub async fn probe(socket: &Path) -> Result<(), ProbeError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(ProbeError::NotListening)?;
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
        Ok(Err(err)) => Err(ProbeError::NoAnswer(err.to_string())),
        Err(_) => Err(ProbeError::NoAnswer(format!(
            "no hello within {} s",
            HELLO_TIMEOUT.as_secs()
        ))),
    }
}
