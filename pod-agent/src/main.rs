use clap::{Parser, Subcommand};
use pod_agent::config::{ConnectConfig, DaemonConfig};

/// The agent inside each sandbox.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Own the terminals and the workspace files, serving the agent protocol on a unix socket.
    Daemon(DaemonConfig),
    /// Relay stdin/stdout to the daemon's socket (what the bridge execs in a pod).
    Connect(ConnectConfig),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Daemon(config) => {
            pod_agent::init_tracing();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(pod_agent::server::run(
                config,
                pod_agent::server::shutdown_signal(),
            ))
        }
        Command::Connect(config) => std::process::exit(pod_agent::connect::run(&config)?),
    }
}
