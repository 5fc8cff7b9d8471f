//! `videoroom-emulator`: the Twilio Video emulator on its own port.
//!
//! It serves the emulator's REST API (`/v1`), control routes and inspector (`/emulator`) and
//! whatever else [`Emulator::configure`] mounts, with the credentials of `EmulatorSettings`
//! (the seeded public test account unless the environment or a `.env` file in the working
//! directory names one: the same variables, read by the same reader, as `videoroom`'s). Once
//! listening it prints
//! `listening on http://<host>:<port>` (the real port, also with `--port 0`), then the base URL
//! and credentials to point a client at it. It stops gracefully on SIGINT or SIGTERM. It also
//! answers `GET /healthz` (the same body as `videoroom`'s), creates the rooms of a `--seed`
//! file at start and after every reset, and, as `videoroom-emulator exec -- COMMAND…`, runs one
//! command against a fresh emulator on a free port (the CI pattern of the Firebase emulators'
//! `emulators:exec`). Every option also has an environment variable.
//!
//! It deliberately does not serve tokens or the workshop page: that is `videoroom`, which can
//! also mount this same emulator on its own port.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use clap::Parser;
use secrecy::ExposeSecret;
use videoroom_core::credentials::first_set;
use videoroom_emulator::faults::FaultPlan;
use videoroom_emulator::guard::{self, AccessPolicy};
use videoroom_emulator::limits::{self, ConnectionLimits, PerClient};
use videoroom_emulator::media::{MediaMode, MediaSettings};
use videoroom_emulator::seed::{SeedFile, SEED_VAR};
use videoroom_emulator::settings::{api_key_is_seeded, did_you_mean, read_dotenv, CallbackHosts};
use videoroom_emulator::settings::{
    ENV_ACCOUNT_SID, ENV_API_KEY_SECRET, ENV_API_KEY_SID, ENV_AUTH_TOKEN,
};
use videoroom_emulator::telemetry::{self, CapturedLog, LogFormat, LOG_FORMAT_VAR};
use videoroom_emulator::{health, ApiError, Emulator, EmulatorSettings};

/// The variable behind `--port`.
const PORT_VAR: &str = "EMULATOR_PORT";

/// A local emulator of Twilio Video (REST API, status callbacks, signaling).
///
/// Credentials: ACCOUNT_SID, AUTH_TOKEN, API_KEY, API_SECRET (or their TWILIO_ names) from the
/// environment or a .env file in the working directory; the seeded test account otherwise.
#[derive(Debug, Parser)]
#[command(name = "videoroom-emulator", version, about)]
struct Cli {
    /// Port to listen on; 0 picks a free one (the line "listening on …" tells which)
    /// [env: EMULATOR_PORT] [default: 3001]
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on. Keep the loopback address unless others must reach it.
    #[arg(long, env = "EMULATOR_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Log line format on standard error, as `videoroom`'s (level: RUST_LOG)
    /// [env: VIDEOROOM_LOG_FORMAT] [default: pretty]
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Host names this server answers to besides localhost names and IP addresses, comma
    /// separated (a leading dot allows subdomains); other `Host` headers get 403
    #[arg(
        long,
        env = "VIDEOROOM_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "NAMES"
    )]
    allowed_hosts: Vec<String>,
    /// Web origins (http://host:port) whose pages may call /v1 and /signaling, comma separated;
    /// pages from other origins are refused
    #[arg(
        long,
        env = "VIDEOROOM_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGINS"
    )]
    allowed_origins: Vec<String>,
    /// Hosts status callbacks may go to besides localhost, 127.0.0.0/8 and ::1, comma separated;
    /// * allows any host
    #[arg(
        long,
        env = "VIDEOROOM_CALLBACK_HOSTS",
        value_delimiter = ',',
        value_name = "HOSTS"
    )]
    callback_hosts: Vec<String>,
    /// HTTP requests in progress one client address may hold at once (429 beyond), as
    /// `videoroom`'s `limits.http_per_client`
    #[arg(long, env = "VIDEOROOM_HTTP_PER_CLIENT", default_value_t = ConnectionLimits::default().http_per_client as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    http_per_client: u64,
    /// /signaling WebSockets one client address may hold open (429 beyond), as `videoroom`'s
    /// `limits.signaling_per_client`
    #[arg(long, env = "VIDEOROOM_SIGNALING_PER_CLIENT", default_value_t = ConnectionLimits::default().signaling_per_client as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    signaling_per_client: u64,
    /// Seed file (.toml or .json): the account, more API keys, more accounts ([[accounts]]),
    /// rooms, simulated participants and their tracks, created at start and again after every
    /// POST /emulator/reset
    #[arg(long, env = SEED_VAR, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Seconds an ended room (with its participants) is kept after it ended, on the
    /// emulator's clock; then it is forgotten (20404), so memory stays bounded
    #[arg(long, env = "EMULATOR_RETENTION_SECONDS", value_name = "SECONDS", default_value_t = videoroom_emulator_adapter::DEFAULT_RETENTION.as_secs(), value_parser = clap::value_parser!(u64).range(1..=10 * 365 * 24 * 3600))]
    retention_seconds: u64,
    /// Faults to inject on /v1 from the start, e.g. 'Rate503=0.2&Rate429=0.1&LatencyMs=50'
    /// (names as for POST /emulator/faults; `,` may separate them too)
    #[arg(long, env = videoroom_emulator::faults::FAULTS_VAR, value_name = "PLAN")]
    faults: Option<String>,
    /// How group rooms carry media: sfu (through the emulator's media server, as Twilio does)
    /// or mesh (browser to browser, like peer-to-peer rooms), as `videoroom`'s `media.mode`
    #[arg(long, env = "VIDEOROOM_MEDIA_MODE", default_value = "sfu", value_parser = MediaMode::parse)]
    media_mode: MediaMode,
    /// UDP port of the media server; 0 picks a free one, as `videoroom`'s `media.udp_port`
    #[arg(long, env = "VIDEOROOM_MEDIA_UDP_PORT", default_value_t = 0)]
    media_udp_port: u16,
    /// The addresses the media server binds and advertises to browsers, comma-separated, one
    /// UDP socket each on the one port (default: --host when it is a concrete address, else
    /// 127.0.0.1), as `videoroom`'s `media.advertise`
    #[arg(
        long,
        env = "VIDEOROOM_MEDIA_ADVERTISE",
        value_name = "IP[,IP...]",
        value_delimiter = ','
    )]
    media_advertise: Vec<IpAddr>,
    /// Folder for the recordings of group rooms' tracks (default: a temporary folder removed
    /// when the emulator stops), as `videoroom`'s `media.recordings_dir`
    #[arg(long, env = "VIDEOROOM_MEDIA_RECORDINGS_DIR", value_name = "DIR")]
    media_recordings_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Subcommand>,
}

#[derive(Debug, clap::Subcommand)]
enum Subcommand {
    /// Runs a command against a fresh emulator on a free port, then stops it: the command gets
    /// TWILIO_VIDEO_BASE_URL (and VIDEOROOM_EMULATOR_URL), ACCOUNT_SID, AUTH_TOKEN, API_KEY,
    /// API_SECRET and their TWILIO_ names; the emulator's request log is printed if it fails,
    /// and the exit status is the command's. Example: videoroom-emulator exec -- npm test
    Exec {
        /// The command and its arguments (after `--`)
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<OsString>,
    },
}

/// What the command line, the environment and `.env` say, with every value checked.
struct Options {
    host: IpAddr,
    port: u16,
    log_format: LogFormat,
    settings: EmulatorSettings,
    access: AccessPolicy,
    limits: ConnectionLimits,
    faults: FaultPlan,
}

/// Reads the layers as `videoroom` does: flags over the environment over `.env`; an empty
/// variable counts as unset (so `EMULATOR_PORT=` is the default port, not an error).
fn options(cli: Cli, env: impl Fn(&str) -> Option<String>) -> Result<Options, String> {
    let dotenv = read_dotenv(Path::new(".env")).map_err(|e| e.to_string())?;
    let var = |name: &'static str| {
        first_set(&[name], &env)
            .map(|found| (found.value, name.to_owned()))
            .or_else(|| {
                first_set(&[name], |n| dotenv.get(n).cloned())
                    .map(|found| (found.value, format!("{name} (in .env)")))
            })
    };
    let port = match (cli.port, var(PORT_VAR)) {
        (Some(port), _) => port,
        (None, Some((text, name))) => text
            .parse::<u16>()
            .map_err(|_| format!("{name}: must be a port number from 0 to 65535 (got '{text}')"))?,
        (None, None) => 3001,
    };
    let log_format = match (cli.log_format, var(LOG_FORMAT_VAR)) {
        (Some(format), _) => format,
        (None, Some((text, name))) => match text.to_ascii_lowercase().as_str() {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            _ => {
                let hint = did_you_mean(&text, ["pretty", "json"])
                    .map(|c| format!("; did you mean '{c}'?"))
                    .unwrap_or_default();
                return Err(format!(
                    "{name}: must be pretty or json (got '{text}'){hint}"
                ));
            }
        },
        (None, None) => LogFormat::Pretty,
    };
    let mut settings = EmulatorSettings::from_layers(env, &dotenv).map_err(|e| e.to_string())?;
    let listed = |values: &[String]| -> Vec<String> {
        values
            .iter()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let access = AccessPolicy::new(listed(&cli.allowed_hosts), listed(&cli.allowed_origins))
        .map_err(|err| format!("--allowed-hosts / --allowed-origins: {err}"))?;
    let callback_hosts = listed(&cli.callback_hosts);
    settings.callbacks.hosts = CallbackHosts::parse(callback_hosts.iter().map(String::as_str))
        .map_err(|err| format!("--callback-hosts (VIDEOROOM_CALLBACK_HOSTS): {err}"))?;
    settings.retention = Duration::from_secs(cli.retention_seconds);
    if let Some(path) = &cli.seed {
        SeedFile::read(path)
            .and_then(|seed| seed.apply_to(path, &mut settings))
            .map_err(|err| err.to_string())?;
    }
    let faults = FaultPlan::parse(cli.faults.as_deref().unwrap_or_default()).map_err(|err| {
        format!(
            "--faults ({}): {err}",
            videoroom_emulator::faults::FAULTS_VAR
        )
    })?;
    settings.media = MediaSettings {
        mode: cli.media_mode,
        udp_port: cli.media_udp_port,
        advertise: cli.media_advertise,
        recordings_dir: cli.media_recordings_dir,
    }
    .for_host(cli.host);
    Ok(Options {
        faults,
        host: cli.host,
        port,
        log_format,
        settings,
        access,
        limits: ConnectionLimits {
            http_per_client: cli.http_per_client as usize,
            signaling_per_client: cli.signaling_per_client as usize,
        },
    })
}

/// How much of the request log `exec` keeps to print when the command fails.
const EXEC_LOG_BYTES: usize = 1024 * 1024;

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let exec = cli
        .command
        .take()
        .map(|Subcommand::Exec { command }| command);
    let options = match options(cli, |name| std::env::var(name).ok()) {
        Ok(options) => options,
        Err(err) => {
            eprintln!("videoroom-emulator: {err}");
            return ExitCode::from(2);
        }
    };
    // `exec` keeps the log for when the command fails, so that a passing run's output is the
    // command's alone.
    let captured = exec.as_ref().map(|_| CapturedLog::new(EXEC_LOG_BYTES));
    match &captured {
        Some(log) => telemetry::init_with_writer(options.log_format, log.clone()),
        None => telemetry::init(options.log_format),
    }
    telemetry::install_panic_hook();
    // Before listening: every socket is a descriptor, and the usual soft limit of 1,024 is
    // exhausted by a thousand idle or slow clients.
    limits::raise_open_file_limit();
    let system = actix_web::rt::System::new();
    let outcome = match (exec, captured) {
        (Some(command), Some(log)) => system.block_on(exec_command(options, command, log)),
        _ => system.block_on(run(options)).map(|()| ExitCode::SUCCESS),
    };
    outcome.unwrap_or_else(|err| {
        eprintln!("videoroom-emulator: {err:#}");
        ExitCode::FAILURE
    })
}

async fn run(options: Options) -> anyhow::Result<()> {
    let (server, base, emulator, media) = serve(options)?;
    println!("listening on {base}");
    print!("{}", banner(&base, emulator.settings(), &media));
    server.await?;
    Ok(())
}

/// `videoroom-emulator exec -- COMMAND…`: a fresh emulator on a free port for one command.
async fn exec_command(
    mut options: Options,
    command: Vec<OsString>,
    log: CapturedLog,
) -> anyhow::Result<ExitCode> {
    options.port = 0;
    let (server, base, emulator, _media) = serve(options)?;
    let handle = server.handle();
    let serving = actix_web::rt::spawn(server);
    let (program, args) = command
        .split_first()
        .expect("clap requires at least the command's name");
    let shown = command
        .iter()
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let settings = emulator.settings();
    let key = settings
        .api_keys
        .first()
        .expect("the settings always hold the configured or seeded API key");
    let mut child = tokio::process::Command::new(program);
    child
        .args(args)
        .env("TWILIO_VIDEO_BASE_URL", &base)
        .env("VIDEOROOM_EMULATOR_URL", &base);
    for name in ENV_ACCOUNT_SID {
        child.env(name, settings.account_sid.as_str());
    }
    for name in ENV_AUTH_TOKEN {
        child.env(name, settings.auth_token.expose_secret());
    }
    for name in ENV_API_KEY_SID {
        child.env(name, key.sid.as_str());
    }
    for name in ENV_API_KEY_SECRET {
        child.env(name, key.secret.expose_secret());
    }
    let status = match child.status().await {
        Ok(status) => Some(status),
        Err(err) => {
            eprintln!(
                "videoroom-emulator: cannot run `{}`: {err}; check the command's name and PATH",
                program.to_string_lossy()
            );
            None
        }
    };
    handle.stop(true).await;
    let _ = serving.await;
    let code = match status {
        // A shell's convention: 127 for a command that could not be run.
        None => 127,
        Some(status) => exit_code(status),
    };
    if code != 0 {
        eprintln!(
            "videoroom-emulator: `{shown}` exited with status {code}; the emulator's log ({base}):"
        );
        eprint!("{}", log.contents());
    }
    Ok(ExitCode::from(code))
}

/// The status to exit with for a finished command: its own code, or 128 + the signal that
/// ended it (as a shell reports it).
fn exit_code(status: std::process::ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code).unwrap_or(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return u8::try_from(128 + signal).unwrap_or(1);
        }
    }
    1
}

/// Binds, seeds and assembles the server; it runs once awaited. Returns it with its base URL,
/// the emulator it serves and the banner's media line.
fn serve(options: Options) -> anyhow::Result<(actix_web::dev::Server, String, Emulator, String)> {
    let Options {
        host,
        port,
        settings,
        access,
        limits,
        faults,
        ..
    } = options;
    let listener = TcpListener::bind((host, port)).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {host}:{port}: {e}; choose another port with --port (0 picks a free one)"
        )
    })?;
    let addr = listener.local_addr()?;
    let emulator = Emulator::new(settings);
    emulator.apply_seed()?;
    if faults != FaultPlan::default() {
        tracing::warn!(
            ?faults,
            "injecting faults on /v1 (see GET /emulator/faults)"
        );
    }
    emulator.faults().set(faults);
    emulator.start();
    let app = emulator.clone();
    let access = web::Data::new(access);
    // One set of counters for every worker: a client's connections are counted wherever
    // they land.
    let per_client = PerClient::new(limits);
    let server = HttpServer::new(move || {
        let app = app.clone();
        App::new()
            // Host and Origin checks before anything else runs (see `guard`); the request log
            // below still records what was refused.
            .app_data(access.clone())
            .app_data(per_client.clone())
            .wrap(from_fn(guard::check))
            .wrap(from_fn(limits::limit_per_client))
            // One log line per request, as `videoroom` logs them: method and path (never the
            // query string), status and time; headers, and so credentials, are never logged.
            .wrap(from_fn(telemetry::echo_request_id))
            .wrap(telemetry::request_logging())
            .configure(health::configure)
            .configure(move |cfg| app.configure(cfg))
            .default_service(web::to(not_found))
    })
    .on_connect(videoroom_emulator::signaling::on_connect)
    .listen(listener)?
    .shutdown_timeout(5)
    .run();

    let host = match addr.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    let base = format!("http://{host}:{}", addr.port());
    // A media server that cannot bind stops the start-up here, with the settings to change.
    let media = media_line(&emulator)?;
    Ok((server, base, emulator, media))
}

/// What a user needs to point a client at the emulator. Seeded test values are public and
/// printed in clear; configured secrets are never printed.
fn banner(base: &str, settings: &EmulatorSettings, media: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "  REST base URL     {base}  (Video API under {base}/v1)\n"
    ));
    out.push_str(&format!("  Inspector         {base}/emulator\n"));
    out.push_str(&format!("  Health            {base}/healthz\n"));
    if let Some(source) = &settings.seed.source {
        out.push_str(&format!("  Seed              {}\n", source.display()));
    }
    out.push_str(media);
    out.push('\n');
    out.push_str(&format!("  Account SID       {}\n", settings.account_sid));
    let token = if settings.auth_token_is_seeded() {
        format!(
            "{}  (seeded test value, public)",
            settings.auth_token.expose_secret()
        )
    } else {
        "[configured, not shown]".to_owned()
    };
    out.push_str(&format!("  Auth token        {token}\n"));
    for key in &settings.api_keys {
        let secret = if api_key_is_seeded(key) {
            format!(
                "{}  (seeded test value, public)",
                key.secret.expose_secret()
            )
        } else {
            "[configured, not shown]".to_owned()
        };
        out.push_str(&format!("  API key SID       {}\n", key.sid));
        out.push_str(&format!("  API key secret    {secret}\n"));
    }
    // The seed's further accounts by SID only: their tokens and secrets are in the seed file.
    for account in settings.seed.accounts() {
        out.push_str(&format!(
            "  More account      {}  (credentials: the seed file)\n",
            account.sid
        ));
    }
    out
}

/// The banner's media server line: where browsers send media in group rooms. A media server
/// that cannot bind stops the start-up here, with the settings to change.
fn media_line(emulator: &Emulator) -> anyhow::Result<String> {
    match emulator.media_addrs() {
        None => Ok("  Media             mesh (group rooms browser to browser)".to_owned()),
        Some(Ok(addrs)) => Ok(format!(
            "  Media server      {}  (group rooms; ICE-lite, these addresses only)",
            addrs
                .iter()
                .map(|addr| format!("udp://{addr}"))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        Some(Err(err)) => Err(anyhow::anyhow!(
            "{err}; set --media-advertise / --media-udp-port, or --media-mode mesh"
        )),
    }
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::not_found(req.path()))
}
