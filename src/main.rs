//! `roost` — parse the command line and config, initialise logging, run.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use roost::config::Config;

#[derive(Parser)]
#[command(
    name = "roost",
    version,
    about = "Identity and access server speaking the FeathersJS protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve REST and Socket.IO (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage administrators.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user holding the `admin` role (full access).
    Create {
        #[arg(long)]
        email: String,
        /// A file whose first line is the password (keeps it out of shell history).
        #[arg(long)]
        password_file: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The log format is a setting: the configuration is read first. An invalid one is
    // reported through a text logger, as any other start-up error.
    let config = match Config::load() {
        Ok(config) => config,
        Err(e) => {
            init_tracing(false);
            tracing::error!("{}", describe(&e));
            return std::process::ExitCode::FAILURE;
        }
    };
    init_tracing(config.log.is_json());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roost: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{}", describe(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: many errors repeat their cause's text in
/// their own (`Connection Error: x` caused by `x`), which `{:#}` prints twice.
fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let server = roost::app::start(config).await?;
            shutdown_signal().await;
            let grace = std::time::Duration::from_secs(server.app.config.http.shutdown_grace_secs);
            tokio::select! {
                _ = server.shutdown(grace) => {}
                () = shutdown_signal() => tracing::warn!("second signal: stopping at once"),
            }
            Ok(())
        }
        Command::Migrate => {
            roost::app::connect(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password_file,
                },
        } => {
            let password = std::fs::read_to_string(&password_file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", password_file.display()))?;
            let password = password.lines().next().unwrap_or_default().to_string();
            let app = roost::app::build(config, |_, _| {}).await?;
            let user = roost::bootstrap::create_admin(app.as_ref(), &email, &password)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create the admin: {}", e.message))?;
            tracing::info!(user_id = %user["id"], "admin created");
            Ok(())
        }
    }
}

/// Logs to stderr, filtered by `ROOST_LOG`: text lines, or with `json` one JSON object
/// per line carrying the fields of its spans (the request's `request_id` included).
fn init_tracing(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("ROOST_LOG").unwrap_or_else(|_| EnvFilter::new("roost=info,warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
