//! The `ferry-server` command line: `serve`, `user add|list|remove`, `key create|list|revoke`.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
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
    /// Keep the catalog in PostgreSQL (`postgres://user:password@host:5432/ferry`) instead
    /// of `ferry.sqlite` in the data directory; several instances may share it.
    #[arg(long, global = true, env = "FERRY_DATABASE")]
    pub database: Option<String>,
    /// Keep blobs, thumbnails and unfinished uploads in an S3-compatible bucket
    /// (`s3://bucket?endpoint=https://s3.example.org&region=eu-west-1`; credentials from
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) instead of the data directory; several
    /// instances may share it.
    #[arg(long, global = true, env = "FERRY_BLOBS")]
    pub blobs: Option<String>,
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
        /// Unfinished uploads one user may have open at once; one more answers 429
        /// `too-many-open-uploads` until some finish, are cancelled or expire.
        #[arg(long, env = "FERRY_MAX_OPEN_UPLOADS", default_value_t = 100,
              value_parser = clap::value_parser!(u64).range(1..))]
        max_open_uploads: u64,
        /// Failed sign-ins allowed per user name and per client address in 15 minutes; then
        /// POST /api/auth/login answers 429 with Retry-After until the 15 minutes are over.
        #[arg(long, env = "FERRY_LOGIN_ATTEMPTS", default_value_t = 10,
              value_parser = clap::value_parser!(u32).range(1..))]
        login_attempts: u32,
        /// Behind a proxy: the header that carries the client's address (the last entry
        /// counts), e.g. x-forwarded-for or x-real-ip. Default: the TCP peer.
        #[arg(long, env = "FERRY_CLIENT_IP_HEADER", value_name = "HEADER")]
        client_ip_header: Option<String>,
        /// A connection must send a request's whole header within this many seconds, or it
        /// is closed (slowloris). Request bodies are not limited: a chunk may stream for as
        /// long as it keeps flowing.
        #[arg(long, env = "FERRY_HEADER_READ_TIMEOUT_SECS", default_value_t = 30,
              value_parser = clap::value_parser!(u64).range(1..))]
        header_read_timeout_secs: u64,
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
    /// Set a user's password (for POST /api/auth/login), read from the first line of stdin;
    /// ends every session signed in with the old one.
    Password { name: String },
    /// End every session of a user: each browser signed in with their password must sign
    /// in again. API keys keep working; `key revoke` ends those.
    SignOut { name: String },
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
    let base = Config {
        database: cli.database.clone(),
        blobs: cli.blobs.clone(),
        ..Config::default()
    };
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
            max_open_uploads,
            login_attempts,
            client_ip_header,
            header_read_timeout_secs,
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
                    max_open_uploads,
                    max_login_failures: login_attempts,
                    client_ip_header: client_ip_header
                        .map(|h| h.trim().to_ascii_lowercase())
                        .filter(|h| !h.is_empty()),
                    ..base.clone()
                };
                let options = ServeOptions {
                    listen,
                    www,
                    shutdown_grace: Duration::from_secs(shutdown_grace_secs),
                    header_read_timeout: Duration::from_secs(header_read_timeout_secs),
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
        }) => add_user(data, &base, &name, quota, password_stdin).await,
        Command::User(UserCommand::Password { name }) => set_password(data, &base, &name).await,
        Command::User(UserCommand::SignOut { name }) => sign_out(data, &base, &name).await,
        Command::User(UserCommand::List) => list_users(data, &base).await,
        Command::User(UserCommand::Remove { name }) => remove_user(data, &base, &name).await,
        Command::Key(KeyCommand::Create { user, name }) => {
            create_key(data, &base, &user, &name).await
        }
        Command::Key(KeyCommand::Revoke { key_id }) => revoke_key(data, &base, &key_id).await,
        Command::Key(KeyCommand::List { user }) => list_keys(data, &base, &user).await,
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
    header_read_timeout: Duration,
    /// `(certificate chain, private key)`, both PEM.
    tls: Option<(PathBuf, PathBuf)>,
}

async fn serve(data: &Path, options: ServeOptions, config: Config) -> Result<(), AppError> {
    let ServeOptions {
        listen,
        www,
        shutdown_grace,
        header_read_timeout,
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
    if let Some(header) = &config.client_ip_header {
        axum::http::HeaderName::try_from(header.as_str()).map_err(|_| {
            AppError::bad_request(format!(
                "--client-ip-header {header:?} is not a header name"
            ))
        })?;
    }
    let state = Arc::new(AppState::open_with(data, www, config).await?);
    crate::auth::warm_up().await;
    if db::count_users(&state.pool).await? == 0 {
        // Instances started together on one PostgreSQL: one of them creates "admin".
        let created = match users::create_user(&state.pool, "admin", None, None).await {
            Err(AppError::Conflict(_)) => None,
            created => Some(created?),
        };
        if let Some(created) = created {
            println!(
                "First start: created user \"admin\". API key: {}",
                created.api_key
            );
            println!("Sign in with this API key; it is shown only once.");
        }
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
        return run_until_shutdown(listener, state, shutdown_grace, header_read_timeout).await;
    }
    run_until_shutdown(listener, state, shutdown_grace, header_read_timeout).await
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
    header_read_timeout: Duration,
) -> Result<(), AppError>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let signalled = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&signalled);
    let server = serve_connections(
        listener,
        app(Arc::clone(&state)),
        header_read_timeout,
        async move {
            shutdown_signal().await;
            notify.notify_one();
        },
    );
    let mut server = std::pin::pin!(server);
    tokio::select! {
        () = &mut server => return Ok(()),
        () = signalled.notified() => {}
    }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "no longer accepting; finishing requests in flight"
    );
    if tokio::time::timeout(grace, &mut server).await.is_ok() {
        tracing::info!("all requests finished");
        return Ok(());
    }
    tracing::warn!("grace period over: cutting uploads still streaming");
    state.cut_uploads.send_replace(true);
    if tokio::time::timeout(Duration::from_secs(5), &mut server)
        .await
        .is_err()
    {
        tracing::warn!("requests still running; exiting anyway");
    }
    Ok(())
}

/// Serves HTTP/1.1 connections from `listener` until `shutdown` resolves, then stops
/// accepting and waits for the connections to finish (idle ones close at once, busy ones
/// after their request). This replaces `axum::serve`, which sets no timer and so has no
/// header read timeout: here a connection that has not sent a request's whole header within
/// `header_read_timeout` of starting it is closed, however slowly it dribbles. Bodies have
/// no such limit. Each request carries `ConnectInfo<SocketAddr>` (the sign-in rate limit).
async fn serve_connections<L>(
    mut listener: L,
    router: axum::Router,
    header_read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                router.clone().oneshot(request.map(axum::body::Body::new))
            },
        );
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .serve_connection(TokioIo::new(io), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn add_user(
    data: &Path,
    config: &Config,
    name: &str,
    quota: Option<u64>,
    password_stdin: bool,
) -> Result<(), AppError> {
    let quota = quota
        .map(|q| i64::try_from(q).map_err(|_| AppError::bad_request("quota is too large")))
        .transpose()?;
    let password = if password_stdin {
        Some(password_from_stdin()?)
    } else {
        None
    };
    let state = AppState::open_with(data, PathBuf::new(), config.clone()).await?;
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

/// The first line of stdin, without its line ending.
fn password_from_stdin() -> Result<String, AppError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn set_password(data: &Path, config: &Config, name: &str) -> Result<(), AppError> {
    let password = password_from_stdin()?;
    let state = AppState::open_with(data, PathBuf::new(), config.clone()).await?;
    let ended = users::set_password(&state.pool, name, &password).await?;
    println!("Set the password of user \"{name}\"; ended {ended} sessions signed in before.");
    Ok(())
}

async fn sign_out(data: &Path, config: &Config, name: &str) -> Result<(), AppError> {
    let state = AppState::open_with(data, PathBuf::new(), config.clone()).await?;
    let ended = users::sign_out_everywhere(&state.pool, name).await?;
    println!("Ended {ended} sessions of user \"{name}\"; their API keys still work.");
    Ok(())
}

async fn list_users(data: &Path, config: &Config) -> Result<(), AppError> {
    let state = AppState::open_with(data, PathBuf::new(), config.clone()).await?;
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

async fn remove_user(data: &Path, config: &Config, name: &str) -> Result<(), AppError> {
    let state = AppState::open_with(data, PathBuf::new(), config.clone()).await?;
    let blobs = users::remove_user(&state, name).await?;
    println!(
        "Removed user \"{name}\" with its API keys, sessions, assets and uploads; \
         deleted {blobs} stored files no other user has."
    );
    Ok(())
}

async fn create_key(data: &Path, config: &Config, user: &str, name: &str) -> Result<(), AppError> {
    let state = AppState::open_with(data, PathBuf::new(), config.clone()).await?;
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

async fn revoke_key(data: &Path, config: &Config, key_id: &str) -> Result<(), AppError> {
    let state = AppState::open_with(data, PathBuf::new(), config.clone()).await?;
    if !db::delete_api_key(&state.pool, key_id.trim()).await? {
        return Err(AppError::NotFoundNamed(format!(
            "there is no API key with id {key_id:?} (see `key list USER`)"
        )));
    }
    println!("Revoked API key {key_id}.");
    Ok(())
}

async fn list_keys(data: &Path, config: &Config, user: &str) -> Result<(), AppError> {
    let state = AppState::open_with(data, PathBuf::new(), config.clone()).await?;
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
