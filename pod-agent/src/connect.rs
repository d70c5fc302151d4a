//! `pod-agent connect`: relays stdin to the daemon's socket and the socket to stdout, byte for
//! byte, so the bridge can reach the agent through a Kubernetes exec stream.
//!
//! Plain threads and unbuffered descriptors: no byte waits in a buffer (a prompt without a
//! newline must get through at once), and no runtime has to be torn down around a blocking
//! read of stdin. When stdin ends, the socket's write side is shut down and the relay goes on
//! until the daemon closes the connection; when the daemon closes it (or stdout fails), the
//! process exits at once.

use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::net::Shutdown;
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;

use crate::config::ConnectConfig;

/// Relays until the daemon side closes; returns the process exit code.
pub fn run(config: &ConnectConfig) -> anyhow::Result<i32> {
    let socket = UnixStream::connect(&config.socket)
        .map_err(|e| anyhow::anyhow!("connect {}: {e}", config.socket.display()))?;
    let mut from_daemon = socket.try_clone()?;
    let mut to_daemon = socket;
    std::thread::spawn(move || {
        // SAFETY: fd 0 stays open for the life of the process; ManuallyDrop never closes it.
        let mut stdin = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
        let _ = pump(&mut *stdin, &mut to_daemon);
        let _ = to_daemon.shutdown(Shutdown::Write);
    });
    // SAFETY: as above, for fd 1.
    let mut stdout = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    match pump(&mut from_daemon, &mut *stdout) {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("pod-agent connect: {e}");
            Ok(1)
        }
    }
}

/// Copies until end of input, writing each read through before the next.
fn pump(from: &mut impl Read, to: &mut impl Write) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
    }
}
