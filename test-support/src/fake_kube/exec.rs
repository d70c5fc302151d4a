//! `pods/{name}/exec` over a WebSocket with the Kubernetes channel protocol: binary
//! messages whose first byte is the channel (0 stdin, 1 stdout, 2 stderr, 3 the exit
//! `Status`, 4 resize; with v5 also 255 close, `[255, 0]` ending stdin).
//!
//! Only `pod-agent` is "in the image": it runs as the real binary, with the pod's paths
//! (`/run/pod-agent/...`, `/workspace/...`) mapped to the pod's directory. Any other command
//! fails as a missing executable would.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use super::Shared;
use super::routes::error;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const CLOSE: u8 = 255;

/// How long a process may outlive its client before it is killed.
const ORPHAN_GRACE: Duration = Duration::from_secs(5);

pub async fn handle(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let command: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let flag = |key: &str| {
        pairs
            .iter()
            .any(|(k, v)| k == key && (v == "true" || v == "1"))
    };
    let container = pairs
        .iter()
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.clone());
    let (dir, protocols) = {
        let store = shared.lock();
        let Some(entry) = store.pods.get(&(ns.clone(), name.clone())) else {
            return error(404, &format!("pods \"{name}\" not found"), Some(&name));
        };
        let object = &entry.object;
        let ready = object["status"]["phase"] == "Running" && entry.agent.is_some();
        if !ready || object["metadata"]["deletionTimestamp"].is_string() {
            return error(
                400,
                &format!(
                    "pod {name} is not running (phase {})",
                    object["status"]["phase"]
                ),
                Some(&name),
            );
        }
        let names: Vec<&str> = object["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        if let Some(container) = &container
            && !names.contains(&container.as_str())
        {
            return error(
                400,
                &format!("container {container} is not valid for pod {name}"),
                Some(&name),
            );
        }
        (entry.dir.clone(), store.exec_protocols.clone())
    };
    if command.is_empty() {
        return error(400, "you must specify at least 1 command", Some(&name));
    }
    if !flag("stdout") && !flag("stderr") && !flag("stdin") {
        return error(
            400,
            "you must specify at least one of stdin, stdout, stderr",
            Some(&name),
        );
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let agent = shared.agent.clone();
    let stdin = flag("stdin");
    upgrade
        .protocols(protocols)
        .on_upgrade(move |socket| async move {
            let v5 = socket
                .protocol()
                .is_some_and(|p| p.as_bytes() == b"v5.channel.k8s.io");
            let program = map_command(&command, &agent, &dir);
            run(socket, v5, program, stdin).await;
        })
}

/// The host command for a command in the pod, or `None` if the "image" lacks it.
fn map_command(
    command: &[String],
    agent: &std::path::Path,
    dir: &std::path::Path,
) -> Option<Vec<String>> {
    if command.first().map(String::as_str) != Some("pod-agent") {
        return None;
    }
    let mut out = vec![agent.display().to_string()];
    for arg in &command[1..] {
        let mapped = if let Some(rest) = arg.strip_prefix("/run/pod-agent/") {
            dir.join("run").join(rest).display().to_string()
        } else if let Some(rest) = arg.strip_prefix("/workspace") {
            format!("{}{rest}", dir.join("workspace").display())
        } else {
            arg.clone()
        };
        out.push(mapped);
    }
    Some(out)
}

/// Runs the process and relays the channels until it exits, then sends its `Status`.
async fn run(socket: WebSocket, v5: bool, program: Option<Vec<String>>, stdin: bool) {
    let (mut sink, stream) = socket.split();
    // Like the real server: one empty message per channel at the start.
    for channel in [STDOUT, STDERR, STATUS] {
        let _ = sink.send(Message::Binary(vec![channel].into())).await;
    }
    let Some(program) = program else {
        let status = json!({
            "metadata": {}, "status": "Failure", "reason": "InternalError",
            "message": "exec: executable file not found in $PATH",
        });
        send_status(&mut sink, status).await;
        return;
    };
    let spawned = tokio::process::Command::new(&program[0])
        .args(&program[1..])
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            let status = json!({"metadata": {}, "status": "Failure", "reason": "InternalError",
                                "message": format!("starting the command: {err}")});
            send_status(&mut sink, status).await;
            return;
        }
    };
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(16);
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(pump(stdout, STDOUT, out_tx.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(pump(stderr, STDERR, out_tx.clone()));
    }
    drop(out_tx);
    let mut inbound = tokio::spawn(inbound(stream, child.stdin.take(), v5));
    let mut inbound_done = false;
    let mut kill_at: Option<tokio::time::Instant> = None;
    loop {
        let kill_sleep = async {
            match kill_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(message) => {
                    if sink.send(Message::Binary(message.into())).await.is_err() {
                        kill_at.get_or_insert_with(|| tokio::time::Instant::now() + ORPHAN_GRACE);
                    }
                }
                None => break,
            },
            _ = &mut inbound, if !inbound_done => {
                inbound_done = true;
                kill_at = Some(tokio::time::Instant::now() + ORPHAN_GRACE);
            }
            _ = kill_sleep => {
                let _ = child.start_kill();
                kill_at = None;
            }
        }
    }
    let status = exit_status(&mut child).await;
    send_status(&mut sink, status).await;
    let _ = sink.close().await;
    inbound.abort();
}

/// Copies a pipe into channel messages.
async fn pump(mut from: impl AsyncRead + Unpin, channel: u8, to: mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut message = Vec::with_capacity(n + 1);
                message.push(channel);
                message.extend_from_slice(&buf[..n]);
                if to.send(message).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Feeds stdin from the client until it closes stdin (v5) or the WebSocket.
async fn inbound(
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    mut stdin: Option<ChildStdin>,
    v5: bool,
) {
    while let Some(Ok(message)) = stream.next().await {
        let Message::Binary(data) = message else {
            if matches!(message, Message::Close(_)) {
                break;
            }
            continue;
        };
        match data.first() {
            Some(&STDIN) => {
                if let Some(pipe) = stdin.as_mut()
                    && pipe.write_all(&data[1..]).await.is_err()
                {
                    stdin = None;
                }
            }
            Some(&CLOSE) if v5 && data.get(1) == Some(&STDIN) => stdin = None,
            _ => {}
        }
    }
}

async fn exit_status(child: &mut Child) -> serde_json::Value {
    match child.wait().await {
        Ok(status) if status.success() => json!({"metadata": {}, "status": "Success"}),
        Ok(status) => {
            let code = status.code().unwrap_or(128 + 9);
            json!({
                "metadata": {}, "status": "Failure",
                "message": format!("command terminated with non-zero exit code: exit status {code}"),
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            })
        }
        Err(err) => json!({"metadata": {}, "status": "Failure", "reason": "InternalError",
                           "message": format!("waiting for the command: {err}")}),
    }
}

async fn send_status(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    status: serde_json::Value,
) {
    let mut message = vec![STATUS];
    message.extend(serde_json::to_vec(&status).expect("JSON"));
    let _ = sink.send(Message::Binary(message.into())).await;
}
