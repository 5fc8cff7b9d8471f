//! `videoroom`: the binary. It parses the command line, reads the settings and hands over to
//! the library; it holds no logic of its own.

use std::process::ExitCode;

use clap::FromArgMatches as _;
use videoroom_server::cli::{self, Cli, Command};
use videoroom_server::messages::{self, Message};
use videoroom_server::settings::{BackendKind, Sources};
use videoroom_server::{banner, telemetry, Application, Settings};
use videoroom_twilio_adapter::TwilioAdapter;

fn main() -> ExitCode {
    let cli = Cli::from_arg_matches(&cli::command().get_matches()).unwrap_or_else(|e| e.exit());
    let sources =
        Sources::from_process(cli.settings.config.clone(), cli.settings.overrides.clone());
    let settings = match sources.load() {
        Ok(settings) => settings,
        Err(e) => {
            // `config` still shows what is set and where, with what is missing, so that the
            // person can see which layer to fix.
            if let Some(Command::Config) = cli.command {
                print!("{}", sources.describe_unchecked());
            }
            eprintln!(
                "{}",
                messages::with_detail(Message::StartupRefused, &format!("videoroom: {e}"))
            );
            return ExitCode::from(2);
        }
    };
    for warning in &settings.warnings {
        eprintln!("videoroom: warning: {warning}");
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Token { identity } => match cli::token(&settings, &identity) {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("videoroom token: {e}");
                ExitCode::from(2)
            }
        },
        Command::Config => {
            print!("{}", settings.describe());
            ExitCode::SUCCESS
        }
        Command::Decode { token, server } => match decode_clock(server.as_deref())
            .and_then(|clock| cli::decode(&settings, token.as_deref(), &clock))
        {
            Ok(decoded) => {
                print!("{}", decoded.text);
                let verdict = if decoded.verified {
                    Message::DecodeValid
                } else {
                    Message::DecodeRefused
                };
                println!("\n{}", messages::bilingual(verdict));
                if decoded.verified {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!(
                    "{}",
                    messages::with_detail(Message::DecodeError, &format!("videoroom decode: {e}"))
                );
                ExitCode::from(2)
            }
        },
        Command::Check => check(settings),
        Command::Sdk { action } => {
            match videoroom_server::workshop::run_sdk_command(action, &settings.sdk) {
                true => ExitCode::SUCCESS,
                false => ExitCode::from(1),
            }
        }
        Command::Workshop { action } => videoroom_server::workshop::run_workshop_command(action),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

fn serve(settings: Settings) -> ExitCode {
    telemetry::init(settings.log_format);
    telemetry::install_panic_hook();
    // Before listening: every socket is a descriptor, and the usual soft limit of 1,024 is
    // exhausted by a thousand idle or slow clients.
    videoroom_emulator::limits::raise_open_file_limit();
    let result = runtime().map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(async {
            let app = Application::build(settings.clone()).await?;
            println!(
                "{}",
                banner::banner_for(&settings, app.port(), app.listening(), app.media_addrs())
            );
            app.run_until_stopped().await?;
            Ok::<_, anyhow::Error>(())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "{}",
                messages::with_detail(Message::StartupFailed, &format!("videoroom: {e:#}"))
            );
            ExitCode::from(1)
        }
    }
}

/// The clock `decode` checks against: the emulator's at `server`, else this computer's.
fn decode_clock(server: Option<&str>) -> Result<cli::Clock, String> {
    match server {
        None => Ok(cli::Clock::Local),
        Some(url) => runtime()
            .map_err(|e| e.to_string())?
            .block_on(cli::Clock::of_emulator(url)),
    }
}

fn check(settings: Settings) -> ExitCode {
    match settings.backend {
        BackendKind::Emulator => {
            println!(
                "{}",
                messages::bilingual(Message::CheckEmulator {
                    seeded: settings.credentials.seeded
                })
            );
            ExitCode::SUCCESS
        }
        BackendKind::Twilio => {
            let outcome = runtime().map_err(|e| e.to_string()).and_then(|rt| {
                rt.block_on(async {
                    let config = settings.twilio_config()?;
                    let adapter = TwilioAdapter::new(config).map_err(|e| e.to_string())?;
                    adapter.check().await.map_err(|e| e.to_string())
                })
            });
            match outcome {
                Ok(report) => {
                    println!(
                        "{}",
                        messages::with_detail(Message::CheckOk, &format!("ok: {report}"))
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!(
                        "{}",
                        messages::with_detail(
                            Message::CheckFailed,
                            &format!("videoroom check: {e}")
                        )
                    );
                    ExitCode::from(1)
                }
            }
        }
    }
}
