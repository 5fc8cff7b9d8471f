//! `videoroom-emulator`: the Twilio Video emulator on its own port.
//!
//! It serves the emulator's REST API (`/v1`), control routes and inspector (`/emulator`) and
//! whatever else [`Emulator::configure`] mounts, with the credentials of `EmulatorSettings`
//! (the seeded public test account unless the environment names one). Once listening it prints
//! `listening on http://<host>:<port>` (the real port, also with `--port 0`), then the base URL
//! and credentials to point a client at it. It stops gracefully on SIGINT or SIGTERM.
//!
//! It deliberately does not serve tokens or the workshop page: that is `videoroom`, which can
//! also mount this same emulator on its own port.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::ExitCode;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use clap::Parser;
use secrecy::ExposeSecret;
use videoroom_emulator::limits::{self, ConnectionLimits, PerClient};
use videoroom_emulator::settings::api_key_is_seeded;
use videoroom_emulator::telemetry::{self, LogFormat, LOG_FORMAT_VAR};
use videoroom_emulator::{ApiError, Emulator, EmulatorSettings};

/// A local emulator of Twilio Video (REST API, status callbacks, signaling).
#[derive(Debug, Parser)]
#[command(name = "videoroom-emulator", version, about)]
struct Cli {
    /// Port to listen on; 0 picks a free one (the line "listening on …" tells which).
    #[arg(long, env = "EMULATOR_PORT", default_value_t = 3001)]
    port: u16,
    /// Address to listen on. Keep the loopback address unless others must reach it.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Log line format on standard error, as `videoroom`'s (level: RUST_LOG)
    #[arg(long, env = LOG_FORMAT_VAR, value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    /// HTTP requests in progress one client address may hold at once (429 beyond), as
    /// `videoroom`'s `limits.http_per_client`
    #[arg(long, env = "VIDEOROOM_HTTP_PER_CLIENT", default_value_t = ConnectionLimits::default().http_per_client as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    http_per_client: u64,
    /// /signaling WebSockets one client address may hold open (429 beyond), as `videoroom`'s
    /// `limits.signaling_per_client`
    #[arg(long, env = "VIDEOROOM_SIGNALING_PER_CLIENT", default_value_t = ConnectionLimits::default().signaling_per_client as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    signaling_per_client: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    telemetry::install_panic_hook();
    // Before listening: every socket is a descriptor, and the usual soft limit of 1,024 is
    // exhausted by a thousand idle or slow clients.
    limits::raise_open_file_limit();
    let settings = match EmulatorSettings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("videoroom-emulator: {err}");
            return ExitCode::from(2);
        }
    };
    match actix_web::rt::System::new().block_on(run(cli, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("videoroom-emulator: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, settings: EmulatorSettings) -> anyhow::Result<()> {
    let listener = TcpListener::bind((cli.host, cli.port)).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {}:{}: {e}; choose another port with --port (0 picks a free one)",
            cli.host,
            cli.port
        )
    })?;
    let addr = listener.local_addr()?;
    let emulator = Emulator::new(settings);
    emulator.start();
    let app = emulator.clone();
    // One set of counters for every worker: a client's connections are counted wherever
    // they land.
    let per_client = PerClient::new(ConnectionLimits {
        http_per_client: cli.http_per_client as usize,
        signaling_per_client: cli.signaling_per_client as usize,
    });
    let server = HttpServer::new(move || {
        let app = app.clone();
        App::new()
            .app_data(per_client.clone())
            .wrap(from_fn(limits::limit_per_client))
            // One log line per request, as `videoroom` logs them: method and path (never the
            // query string), status and time; headers, and so credentials, are never logged.
            .wrap(from_fn(telemetry::echo_request_id))
            .wrap(telemetry::request_logging())
            .configure(move |cfg| app.configure(cfg))
            .default_service(web::to(not_found))
    })
    .listen(listener)?
    .shutdown_timeout(5)
    .run();

    let host = match addr.ip() {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    let base = format!("http://{host}:{}", addr.port());
    println!("listening on {base}");
    print!("{}", banner(&base, emulator.settings()));
    server.await?;
    Ok(())
}

/// What a user needs to point a client at the emulator. Seeded test values are public and
/// printed in clear; configured secrets are never printed.
fn banner(base: &str, settings: &EmulatorSettings) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "  REST base URL     {base}  (Video API under {base}/v1)\n"
    ));
    out.push_str(&format!("  Inspector         {base}/emulator\n"));
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
    out
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::not_found(req.path()))
}
