//! The LAN workshop (issue 10): one laptop serves the page, the SDK, the token endpoint and the
//! emulator's signaling to every attendee's device over HTTPS.
//!
//! [`certificate`] reads or makes the certificate the settings ask for (see `crate::tls`);
//! [`Listening`] is what the banner needs to tell attendees where to go (every LAN URL, the
//! certificate's fingerprint) and runs the optional plain-HTTP redirect beside the server, so a
//! URL typed without `https://` still lands. The emulator's signaling needs nothing of its own:
//! it is served by the same `App`, so over `wss://` on the HTTPS port, and the page's shim
//! follows the page's scheme.

use std::net::{IpAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{http::header, web, App, HttpRequest, HttpResponse, HttpServer};
use videoroom_emulator::guard::{self, AccessPolicy};

use crate::settings::Settings;
use crate::tls::{self, CertSource, Served};

/// The certificate to serve with, when the settings turn HTTPS on: the given files, else the
/// self-signed certificate for this machine's names and addresses (cached, see `crate::tls`).
pub fn certificate(settings: &Settings) -> anyhow::Result<Option<Served>> {
    let tls_settings = &settings.tls;
    if !tls_settings.https {
        return Ok(None);
    }
    let served = match (&tls_settings.cert, &tls_settings.key) {
        (Some(cert), Some(key)) => tls::from_files(cert, key)?,
        // The settings refuse a certificate without its key and the other way round.
        _ => {
            let hosts = host_names(&crate::settings::machine_names(), &settings.allowed_hosts);
            let names = tls::subject_names(&hosts, &tls::machine_addresses());
            tls::self_signed(&tls::default_cache_dir(), &names)?
        }
    };
    Ok(Some(served))
}

/// The host names a generated certificate names: this machine's, and the names the server is
/// configured to answer to (`server.allowed_hosts`), so that a page opened under one of them
/// gets a certificate for it; `.example.test` (every subdomain) becomes `*.example.test`.
fn host_names(machine: &[String], allowed: &[String]) -> Vec<String> {
    machine
        .iter()
        .cloned()
        .chain(allowed.iter().map(|host| match host.strip_prefix('.') {
            Some(domain) => format!("*.{domain}"),
            None => host.clone(),
        }))
        .collect()
}

/// `HttpServer::on_connect` for both plain and TLS connections: the emulator's socket option
/// (clients that stop reading are dropped) applies to the TCP stream under the TLS one too.
pub fn on_connect(connection: &dyn std::any::Any, data: &mut actix_web::dev::Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    match connection.downcast_ref::<Tls>() {
        Some(stream) => videoroom_emulator::signaling::on_connect(stream.get_ref().0, data),
        None => videoroom_emulator::signaling::on_connect(connection, data),
    }
}

/// How the server is reached, for the banner, and the plain-HTTP redirect server if any.
pub struct Listening {
    /// The SHA-256 fingerprint of the certificate, when serving HTTPS.
    pub fingerprint: Option<String>,
    /// Where the certificate came from, when serving HTTPS.
    pub source: Option<CertSource>,
    /// The addresses other devices can use: this machine's LAN addresses when bound to all
    /// interfaces, the bound address when it is a LAN one, none on loopback.
    pub addresses: Vec<IpAddr>,
    /// The plain-HTTP port that redirects to HTTPS (the real one, also after port 0).
    pub redirect_port: Option<u16>,
    redirect: Option<Server>,
}

impl Listening {
    /// Plain HTTP on loopback: nothing for the LAN part of the banner to say.
    pub fn plain() -> Self {
        Self {
            fingerprint: None,
            source: None,
            addresses: Vec::new(),
            redirect_port: None,
            redirect: None,
        }
    }

    /// Starts the redirect (if asked for) to the HTTPS server on `https_port`, with the same
    /// Host checks as the server itself, so it redirects only to names this server answers to.
    pub fn start(
        settings: &Settings,
        https_port: u16,
        tls: Option<Served>,
        access: web::Data<AccessPolicy>,
    ) -> anyhow::Result<Self> {
        let addresses = if settings.host.is_unspecified() {
            tls::machine_addresses()
        } else if settings.host.is_loopback() {
            Vec::new()
        } else {
            vec![settings.host]
        };
        let (mut redirect, mut redirect_port) = (None, None);
        if let (Some(port), true) = (settings.tls.http_redirect_port, tls.is_some()) {
            let listener = TcpListener::bind((settings.host, port)).map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen for the HTTP redirect on {}:{port}: {e}; choose another port with {} (0 picks a free one)",
                    settings.host,
                    settings.name_of("tls.http_redirect_port")
                )
            })?;
            redirect_port = Some(listener.local_addr()?.port());
            let target = web::Data::new(HttpsPort(https_port));
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(access.clone())
                    .app_data(target.clone())
                    .wrap(from_fn(guard::check))
                    .default_service(web::to(to_https))
            })
            // A redirect per request is all it does: one worker is plenty, and the main
            // server's signal handling stops it (see `run_beside`).
            .workers(1)
            .disable_signals()
            .shutdown_timeout(1)
            .listen(listener)?
            .run();
            redirect = Some(server);
        }
        Ok(Self {
            fingerprint: tls.as_ref().map(|t| t.fingerprint.clone()),
            source: tls.map(|t| t.source),
            addresses,
            redirect_port,
            redirect,
        })
    }

    /// Runs `server` until it stops, with the redirect beside it, stopped with it.
    pub async fn run_beside(self, server: Server) -> std::io::Result<()> {
        let Some(redirect) = self.redirect else {
            return server.await;
        };
        let handle = redirect.handle();
        // Both are driven by this one task (the binary's runtime is tokio's, where actix's
        // local spawn is not available); the redirect stops when the main server has.
        let main = async {
            let result = server.await;
            handle.stop(true).await;
            result
        };
        // The redirect's own outcome does not matter once the main server has stopped.
        let (result, _) = futures::future::join(main, redirect).await;
        result
    }
}

struct HttpsPort(u16);

/// `307` to the same host, path and query on the HTTPS port. Temporary, so that a browser does
/// not remember it for a port that serves something else at the next event.
async fn to_https(req: HttpRequest, port: web::Data<HttpsPort>) -> HttpResponse {
    let info = req.connection_info();
    // `host` without its port: `laptop.local`, `192.168.1.5`, `[fd00::5]`.
    let host = url::Url::parse(&format!("http://{}", info.host()))
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned));
    let Some(host) = host else {
        return HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body("this port redirects to HTTPS and needs a Host header naming this server\n");
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    HttpResponse::TemporaryRedirect()
        .insert_header((header::LOCATION, format!("https://{host}:{}{path}", port.0)))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_names_the_allowed_hosts_too() {
        let names = host_names(
            &["laptop.local".into(), "laptop".into()],
            &["workshop.test".into(), ".class.test".into()],
        );
        assert_eq!(
            names,
            ["laptop.local", "laptop", "workshop.test", "*.class.test"]
        );
    }
}
