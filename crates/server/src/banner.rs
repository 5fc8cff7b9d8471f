//! The start-up banner: what is running and the URLs a person needs, printed once listening.
//!
//! Its last line is exactly `listening on http://127.0.0.1:<port>` (the real port, also after
//! `--port 0`), which test harnesses parse.

use std::fmt::Write as _;
use std::net::IpAddr;

use secrecy::ExposeSecret;
use videoroom_core::credentials::{
    ENV_ACCOUNT_SID, ENV_API_KEY_SECRET, ENV_API_KEY_SID, ENV_AUTH_TOKEN,
};

use crate::settings::{BackendKind, Settings};

/// The banner for `settings` served on `port`.
pub fn banner(settings: &Settings, port: u16) -> String {
    // Loopback and "all interfaces" are reached as localhost; a specific address as itself.
    let base = match settings.host {
        IpAddr::V4(ip) if ip.is_loopback() || ip.is_unspecified() => {
            format!("http://localhost:{port}")
        }
        IpAddr::V6(ip) if ip.is_loopback() || ip.is_unspecified() => {
            format!("http://localhost:{port}")
        }
        IpAddr::V4(ip) => format!("http://{ip}:{port}"),
        IpAddr::V6(ip) => format!("http://[{ip}]:{port}"),
    };
    let mut out = String::new();
    let mode = match settings.backend {
        BackendKind::Emulator => "emulator (offline, built in: no Twilio account needed)",
        BackendKind::Twilio => "twilio (real Twilio Video)",
    };
    let _ = writeln!(
        out,
        "videoroom {} — backend: {mode}",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "  Workshop page    {base}/index.html");
    let _ = writeln!(out, "  Access token     {base}/video-token?identity=alice");
    let room = &settings.room;
    let choice = if room.allow_param {
        "; ?room=NAME picks another"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "  Room             {} (type {}){choice}",
        room.name, room.room_type
    );
    match settings.backend {
        BackendKind::Emulator => {
            // Client libraries append `/v1/...` themselves: their base URL is the server root.
            let _ = writeln!(out, "  Emulator REST    {base}/v1/Rooms");
            let _ = writeln!(
                out,
                "  Client libraries video base URL = {base}  (twilio-node: client.video.baseUrl)"
            );
            let _ = writeln!(out, "  Inspector        {base}/emulator");
        }
        BackendKind::Twilio => {
            let _ = writeln!(out, "  Twilio REST      {}", settings.twilio.base_url);
        }
    }
    let _ = writeln!(out, "  Health           {base}/healthz");
    let _ = writeln!(out, "  Decode a token   videoroom decode <TOKEN>");
    let _ = writeln!(out);
    let creds = &settings.credentials;
    if creds.seeded {
        // The seeded values are public test credentials, printed so that a person can point
        // an official client library at the emulator; real secrets are never printed.
        let _ = writeln!(out, "  Seeded test credentials (public, emulator only):");
        let _ = writeln!(out, "    {}={}", ENV_ACCOUNT_SID[0], creds.account_sid);
        if let Some(token) = &creds.auth_token {
            let _ = writeln!(out, "    {}={}", ENV_AUTH_TOKEN[0], token.expose_secret());
        }
        let _ = writeln!(out, "    {}={}", ENV_API_KEY_SID[0], creds.api_key_sid);
        let _ = writeln!(
            out,
            "    {}={}",
            ENV_API_KEY_SECRET[0],
            creds.api_key_secret.expose_secret()
        );
    } else {
        let _ = writeln!(
            out,
            "  Credentials      account {}, API key {} (secrets not shown)",
            creds.account_sid, creds.api_key_sid
        );
    }
    let _ = writeln!(out);
    let shown_host = match settings.host {
        // 0.0.0.0 includes the loopback interface, so the usual address is the one to show.
        IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    };
    if settings.host.is_unspecified() {
        let _ = writeln!(
            out,
            "  Bound to {}: other computers on the network can connect too.",
            settings.host
        );
    }
    let _ = write!(out, "listening on http://{shown_host}:{port}");
    out
}
