//! An actix app, or a whole emulator, served on a free loopback port for the length of a test.

use std::sync::mpsc;

use actix_web::dev::ServerHandle;
use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, App, HttpServer};
use videoroom_emulator::guard::{self, AccessPolicy};
use videoroom_emulator::limits::{limit_per_client, ConnectionLimits, PerClient};
use videoroom_emulator::{Emulator, EmulatorSettings};

/// An app served on `127.0.0.1:<port>`; it stops accepting when dropped.
pub struct Served {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub port: u16,
    handle: ServerHandle,
}

impl Served {
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Stops the server (gracefully: after the requests in flight); resolves once it stopped.
    pub fn stop(&self, graceful: bool) -> impl std::future::Future<Output = ()> {
        self.handle.stop(graceful)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // The stop command is sent at once; the runtime ends with the test anyway.
        drop(self.handle.stop(false));
    }
}

/// Serves the routes `configure` registers on a port the OS chooses, with `workers` worker
/// threads, without signal handlers (a test's process is not a server's). Call it inside a
/// tokio runtime (`#[tokio::test]` or `#[actix_web::test]`): the server runs as a task of it.
pub fn serve<F>(workers: usize, configure: F) -> Served
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    serve_app!(workers, move || {
        let configure = configure.clone();
        App::new().configure(move |cfg| configure(cfg))
    })
}

/// Binds `HttpServer::new(factory)` to a free loopback port and runs it as a task of the
/// current runtime. A macro, because each app's middleware gives it a type of its own.
macro_rules! serve_app {
    ($workers:expr, $factory:expr) => {{
        let server = HttpServer::new($factory)
            .workers($workers)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .expect("bind a free loopback port");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Served {
            base: format!("http://127.0.0.1:{port}"),
            port,
            handle,
        }
    }};
}
use serve_app;

/// An emulator with its background tasks started, serving its REST API, signaling and control
/// routes on a loopback port.
pub struct ServedEmulator {
    pub emulator: Emulator,
    pub served: Served,
}

impl ServedEmulator {
    /// `http://127.0.0.1:<port>`
    pub fn base(&self) -> &str {
        &self.served.base
    }
}

/// Starts an emulator with `settings` on a free loopback port (see [`serve`]).
pub fn emulator(settings: EmulatorSettings, workers: usize) -> ServedEmulator {
    emulator_behind(settings, workers, Front::default())
}

/// What the binaries put in front of the emulator's routes: the Host/Origin guard and the
/// per-client connection caps. Each is off (every request passes) unless given.
#[derive(Debug, Clone, Default)]
pub struct Front {
    pub access: Option<AccessPolicy>,
    pub limits: Option<ConnectionLimits>,
}

/// Starts an emulator behind `front`, mounted as both binaries mount it.
pub fn emulator_behind(settings: EmulatorSettings, workers: usize, front: Front) -> ServedEmulator {
    let emulator = Emulator::new(settings);
    emulator.start();
    let app = emulator.clone();
    let Front { access, limits } = front;
    let per_client = limits.map(PerClient::new);
    let served = serve_app!(workers, move || {
        let app = app.clone();
        let guarded = access.clone();
        // Without counters in the app's data, the caps let every request through.
        let mut router = App::new();
        if let Some(per_client) = &per_client {
            router = router.app_data(per_client.clone());
        }
        router
            .configure(move |cfg| {
                if let Some(policy) = guarded {
                    cfg.app_data(web::Data::new(policy));
                }
            })
            .wrap(Condition::new(access.is_some(), from_fn(guard::check)))
            .wrap(from_fn(limit_per_client))
            .configure(move |cfg| app.configure(cfg))
    });
    ServedEmulator { emulator, served }
}

/// Starts an emulator on its own thread, under its own actix system, serving until the test
/// process ends, and returns its base URL. For a suite whose cases each run on their own
/// runtime but share one emulator: a server tied to one case's runtime would stop with it.
pub fn emulator_on_own_thread(settings: EmulatorSettings, workers: usize) -> String {
    let (base_tx, base_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("emulator".into())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let served = emulator(settings, workers);
                base_tx
                    .send(served.base().to_owned())
                    .expect("the test waits for the base URL");
                // Serve until the process ends; `served` stops the server if this ever returns.
                std::future::pending::<()>().await;
                drop(served);
            });
        })
        .expect("spawn the emulator thread");
    base_rx.recv().expect("the emulator reports its base URL")
}
