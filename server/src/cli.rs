//! The `ferry-server` command line: `serve`, `user add|list|remove`, `key create|list|revoke`.

use std::future::IntoFuture;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::{app, db, tus, users, AppError, AppState, Config};

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
        /// An origin (`https://photos.example.org`) whose pages may call the API; repeat for
        /// more. Default: none, same-origin only.
        #[arg(
            long = "cors-origin",
            env = "FERRY_CORS_ORIGINS",
            value_delimiter = ',',
            value_name = "ORIGIN"
        )]
        cors_origins: Vec<String>,
        /// An unfinished upload is deleted this many seconds after its last write.
        #[arg(long, env = "FERRY_UPLOAD_EXPIRY_SECS", default_value_t = 24 * 60 * 60)]
        upload_expiry_secs: u64,
        /// The largest upload accepted, in bytes (advertised as Tus-Max-Size).
        #[arg(long, env = "FERRY_MAX_UPLOAD_BYTES", default_value_t = 64 << 30)]
        max_upload_bytes: u64,
        /// Deleted assets stay in the trash this many days, then are purged for good.
        #[arg(long, env = "FERRY_TRASH_DAYS", default_value_t = 30)]
        trash_days: u32,
        /// On SIGTERM/SIGINT, stop accepting and give requests in flight this many seconds
        /// to finish; uploads still streaming then keep (fsynced) what arrived and get 503.
        #[arg(long, env = "FERRY_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
        shutdown_grace_secs: u64,
        /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
        #[arg(long, env = "FERRY_TLS_CERT", value_name = "PEM", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, env = "FERRY_TLS_KEY", value_name = "PEM", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints the new API key as the last line of stdout.
    Add {
        name: String,
        /// Storage quota in bytes (unlimited if absent).
        #[arg(long)]
        quota: Option<u64>,
        /// Read a password (for POST /api/auth/login) from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users: name, id, bytes used, quota, assets, API keys, created.
    List,
    /// Remove a user with their API keys, sessions, assets and uploads; blobs nobody else
    /// references are deleted.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create another API key for a user; prints the key as the last line of stdout.
    Create {
        user: String,
        /// A label to tell keys apart in `key list`.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke an API key by its id (from `key list`); it stops working at once.
    Revoke { key_id: String },
    /// List a user's API keys: id, name, created (never the keys themselves).
    List { user: String },
}

/// Runs the command line; errors go to stderr and a non-zero exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let data = cli.data.as_path();
    let result = match cli.command {
        Command::Serve {
            listen,
            www,
            cors_origins,
            upload_expiry_secs,
            max_upload_bytes,
            trash_days,
            shutdown_grace_secs,
            tls_cert,
            tls_key,
        } => match cors_origins
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| normalize_origin(o))
            .collect()
        {
            Ok(cors_origins) => {
                let config = Config {
                    cors_origins,
                    upload_expiry: Duration::from_secs(upload_expiry_secs),
                    max_upload_bytes,
                    trash_retention: Duration::from_secs(u64::from(trash_days) * 24 * 60 * 60),
                };
                let options = ServeOptions {
                    listen,
                    www,
                    shutdown_grace: Duration::from_secs(shutdown_grace_secs),
                    tls: tls_cert.zip(tls_key),
                };
                serve(data, options, config).await
            }
            Err(e) => Err(e),
        },
        Command::User(UserCommand::Add {
            name,
            quota,
            password_stdin,
        }) => add_user(data, &name, quota, password_stdin).await,
        Command::User(UserCommand::List) => list_users(data).await,
        Command::User(UserCommand::Remove { name }) => remove_user(data, &name).await,
        Command::Key(KeyCommand::Create { user, name }) => create_key(data, &user, &name).await,
        Command::Key(KeyCommand::Revoke { key_id }) => revoke_key(data, &key_id).await,
        Command::Key(KeyCommand::List { user }) => list_keys(data, &user).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `https://Example.org/` → `https://example.org`; anything but `scheme://host[:port]` is
/// refused, since browsers send exactly that in `Origin`.
pub fn normalize_origin(origin: &str) -> Result<String, AppError> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let bad = || {
        AppError::bad_request(format!(
            "--cors-origin {origin:?}: expected scheme://host[:port], e.g. https://photos.example.org"
        ))
    };
    let (scheme, host) = origin.split_once("://").ok_or_else(bad)?;
    if !matches!(scheme, "http" | "https")
        || host.is_empty()
        || host.contains(['/', '?', '#', '@', ' ', '*'])
    {
        return Err(bad());
    }
    Ok(origin)
}

struct ServeOptions {
    listen: String,
    www: PathBuf,
    shutdown_grace: Duration,
    /// `(certificate chain, private key)`, both PEM.
    tls: Option<(PathBuf, PathBuf)>,
}

async fn serve(data: &Path, options: ServeOptions, config: Config) -> Result<(), AppError> {
    let ServeOptions {
        listen,
        www,
        shutdown_grace,
        tls,
    } = options;
    #[cfg(feature = "tls")]
    let tls = tls
        .map(|(cert, key)| crate::tls::server_config(&cert, &key))
        .transpose()?;
    #[cfg(not(feature = "tls"))]
    if tls.is_some() {
        return Err(AppError::bad_request(
            "this ferry-server was built without the `tls` feature; use a TLS-terminating proxy",
        ));
    }
    let mut state = AppState::open(data, www).await?;
    state.config = config;
    let state = Arc::new(state);
    if db::count_users(&state.pool).await? == 0 {
        let created = users::create_user(&state.pool, "admin", None, None).await?;
        println!(
            "First start: created user \"admin\". API key: {}",
            created.api_key
        );
        println!("Sign in with this API key; it is shown only once.");
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%address, %scheme, data = %data.display(), "listening");
    if !state.config.cors_origins.is_empty() {
        tracing::info!(origins = ?state.config.cors_origins, "CORS allowed");
    }
    tokio::spawn(tus::sweep_forever(
        Arc::clone(&state),
        Duration::from_secs(60),
    ));
    println!("ferry is ready at {scheme}://{address}/");
    #[cfg(feature = "tls")]
    if let Some(tls) = tls {
        let listener = crate::tls::TlsListener::new(listener, tls)?;
        return run_until_shutdown(listener, state, shutdown_grace).await;
    }
    run_until_shutdown(listener, state, shutdown_grace).await
}

/// Serves until SIGTERM/SIGINT; then stops accepting and lets requests in flight finish for
/// up to `grace`. Uploads still streaming after that are cut cleanly: they stop reading,
/// fsync and record what arrived, and answer 503 (`AppState::cut_uploads`). No acknowledged
/// offset ever covers bytes that are not on disk, so nothing is torn even if a request is
/// still running when the process exits.
async fn run_until_shutdown<L>(
    listener: L,
    state: Arc<AppState>,
    grace: Duration,
) -> Result<(), AppError>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let signalled = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&signalled);
    let server = axum::serve(listener, app(Arc::clone(&state)))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            notify.notify_one();
        })
        .into_future();
    let mut server = std::pin::pin!(server);
    tokio::select! {
        result = &mut server => return Ok(result?),
        () = signalled.notified() => {}
    }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "no longer accepting; finishing requests in flight"
    );
    if let Ok(result) = tokio::time::timeout(grace, &mut server).await {
        tracing::info!("all requests finished");
        return Ok(result?);
    }
    tracing::warn!("grace period over: cutting uploads still streaming");
    state.cut_uploads.send_replace(true);
    match tokio::time::timeout(Duration::from_secs(5), &mut server).await {
        Ok(result) => result?,
        Err(_) => tracing::warn!("requests still running; exiting anyway"),
    }
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

async fn list_users(data: &Path) -> Result<(), AppError> {
    let state = AppState::open(data, PathBuf::new()).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "name\tid\tused_bytes\tquota_bytes\tassets\tapi_keys\tcreated_at"
    )?;
    for u in db::list_users(&state.pool).await? {
        let quota = u
            .quota_size_in_bytes
            .map_or_else(|| "unlimited".to_owned(), |q| q.to_string());
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            u.name, u.id, u.quota_usage_in_bytes, quota, u.assets, u.api_keys, u.created_at
        )?;
    }
    Ok(())
}

async fn remove_user(data: &Path, name: &str) -> Result<(), AppError> {
    let state = AppState::open(data, PathBuf::new()).await?;
    let blobs = users::remove_user(&state, name).await?;
    println!(
        "Removed user \"{name}\" with its API keys, sessions, assets and uploads; \
         deleted {blobs} stored files no other user has."
    );
    Ok(())
}

async fn create_key(data: &Path, user: &str, name: &str) -> Result<(), AppError> {
    let state = AppState::open(data, PathBuf::new()).await?;
    let (row, key) = users::create_api_key(&state.pool, user, name).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Created API key \"{}\" ({}) for user \"{user}\".",
        row.name, row.id
    )?;
    writeln!(out, "{key}")?;
    Ok(())
}

async fn revoke_key(data: &Path, key_id: &str) -> Result<(), AppError> {
    let state = AppState::open(data, PathBuf::new()).await?;
    if !db::delete_api_key(&state.pool, key_id.trim()).await? {
        return Err(AppError::NotFoundNamed(format!(
            "there is no API key with id {key_id:?} (see `key list USER`)"
        )));
    }
    println!("Revoked API key {key_id}.");
    Ok(())
}

async fn list_keys(data: &Path, user: &str) -> Result<(), AppError> {
    let state = AppState::open(data, PathBuf::new()).await?;
    let user = db::user_by_name(&state.pool, user)
        .await?
        .ok_or_else(|| users::no_such_user(user))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "id\tname\tcreated_at")?;
    for key in db::list_api_keys(&state.pool, &user.id).await? {
        writeln!(out, "{}\t{}\t{}", key.id, key.name, key.created_at)?;
    }
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
