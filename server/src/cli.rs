//! The `ferry-server` command line: `serve` and `user add`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::{app, db, users, AppError, AppState};

#[derive(Debug, Parser)]
#[command(
    name = "ferry-server",
    version,
    about = "ferry's reference backup server"
)]
pub struct Cli {
    /// Data directory: ferry.sqlite, uploads/, blobs/.
    #[arg(long, global = true, env = "FERRY_DATA", default_value = "./data")]
    pub data: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API under /api and the PWA at /.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "FERRY_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Directory served as static files at /.
        #[arg(long, env = "FERRY_WWW", default_value = "./www")]
        www: PathBuf,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints the new API key as the last line of stdout.
    Add {
        name: String,
        /// Storage quota in bytes (unlimited if absent).
        #[arg(long)]
        quota: Option<u64>,
        /// Read a password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Runs the command line; errors go to stderr and a non-zero exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve { listen, www } => serve(&cli.data, &listen, www).await,
        Command::User(UserCommand::Add {
            name,
            quota,
            password_stdin,
        }) => add_user(&cli.data, &name, quota, password_stdin).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(data: &Path, listen: &str, www: PathBuf) -> Result<(), AppError> {
    let state = Arc::new(AppState::open(data, www).await?);
    if db::count_users(&state.pool).await? == 0 {
        let created = users::create_user(&state.pool, "admin", None, None).await?;
        println!(
            "First start: created user \"admin\". API key: {}",
            created.api_key
        );
        println!("Sign in with this API key; it is shown only once.");
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, data = %data.display(), "listening");
    println!("ferry is ready at http://{address}/");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

async fn add_user(
    data: &Path,
    name: &str,
    quota: Option<u64>,
    password_stdin: bool,
) -> Result<(), AppError> {
    let quota = quota
        .map(|q| i64::try_from(q).map_err(|_| AppError::bad_request("quota is too large")))
        .transpose()?;
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Some(line.trim_end_matches(['\r', '\n']).to_owned())
    } else {
        None
    };
    let state = AppState::open(data, PathBuf::new()).await?;
    let created = users::create_user(&state.pool, name, quota, password.as_deref()).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Created user \"{}\" ({}).",
        created.user.name, created.user.id
    )?;
    writeln!(out, "{}", created.api_key)?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
