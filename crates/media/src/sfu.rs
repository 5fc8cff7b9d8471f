//! The I/O shell around [`crate::forward`]: one UDP socket per advertised address, one thread
//! per socket that reads it and keeps time, and the calls the signaling makes.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::forward::Core;
use crate::MediaError;

/// The longest the I/O thread sleeps in a read. Calls from the signaling change what the
/// connections need (an answer starts DTLS), and this bounds how late the thread notices.
const MAX_READ_WAIT: Duration = Duration::from_millis(10);

/// The largest datagram read; WebRTC stays under the path MTU (str0m targets 1150 bytes).
const MAX_DATAGRAM: usize = 2000;

/// A media server for group rooms: one UDP socket per advertised address, one connection per
/// participant.
///
/// Every call returns at once; media flows on threads of their own (one per socket) that stop
/// when the `Sfu` is dropped. Participant ids are opaque here (the signaling uses participant
/// SIDs).
///
/// After any call that changes tracks (`join`, `offer`, `answer`, `leave`), the signaling asks
/// every participant of the room for [`Sfu::pending_offer`] and sends the offers it gets.
pub struct Sfu {
    shared: Arc<Shared>,
    locals: Vec<SocketAddr>,
    io: Vec<JoinHandle<()>>,
}

struct Shared {
    core: Mutex<Core>,
    /// Each bound to exactly the address it advertises, in the order advertised.
    sockets: Vec<(SocketAddr, UdpSocket)>,
    stop: AtomicBool,
}

impl Shared {
    /// Runs one change under the lock and sends what it caused at once, so that an answer's
    /// effects (a keyframe request, a DTLS flight) do not wait for the I/O thread.
    fn with_core<T>(&self, change: impl FnOnce(&mut Core, Instant) -> T) -> T {
        let mut core = self.core.lock();
        let now = Instant::now();
        let result = change(&mut core, now);
        core.drive(now, &mut |from, to, bytes| self.send(from, to, bytes));
        result
    }

    /// Sends from the socket bound to `from` (the local candidate the connection uses).
    fn send(&self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let Some((_, socket)) = self.sockets.iter().find(|(local, _)| *local == from) else {
            tracing::debug!(%from, %to, "media server: no socket for this local address; datagram dropped");
            return;
        };
        if let Err(e) = socket.send_to(bytes, to) {
            tracing::debug!(%to, error = %e, "media server: cannot send a datagram");
        }
    }

    fn run(&self, index: usize) {
        let (local, socket) = &self.sockets[index];
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut next = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let wait = next
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), MAX_READ_WAIT);
            if let Err(e) = socket.set_read_timeout(Some(wait)) {
                tracing::error!(error = %e, %local, "media server: cannot set the socket's read timeout; media stops");
                return;
            }
            let received = match socket.recv_from(&mut buf) {
                Ok((n, source)) => Some((n, source)),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    None
                }
                Err(e) => {
                    tracing::debug!(error = %e, %local, "media server: read failed");
                    None
                }
            };
            let mut core = self.core.lock();
            let now = Instant::now();
            if let Some((n, source)) = received {
                core.receive(now, source, *local, &buf[..n]);
            }
            next = core.drive(now, &mut |from, to, bytes| self.send(from, to, bytes));
        }
    }
}

impl Sfu {
    /// Binds the media server's UDP socket to `addr`, the exact address it will advertise as
    /// its ICE candidate (port 0 picks a free port), and starts its I/O thread.
    pub fn bind(addr: SocketAddr) -> Result<Sfu, MediaError> {
        Sfu::bind_all(&[addr.ip()], addr.port())
    }

    /// Binds one UDP socket per address in `ips`, each to exactly that address and all on
    /// `port` (0: a free port chosen for the first address and reused for the others), and
    /// offers each as a host candidate. Browsers pick whichever they reach: loopback for a tab
    /// on this machine, a LAN address for a phone.
    pub fn bind_all(ips: &[IpAddr], port: u16) -> Result<Sfu, MediaError> {
        if ips.is_empty() {
            return Err(MediaError::NoAddress);
        }
        let mut port = port;
        let mut sockets = Vec::with_capacity(ips.len());
        for &ip in ips {
            let addr = SocketAddr::new(ip, port);
            if ip.is_unspecified() {
                return Err(MediaError::UnspecifiedAddress(addr));
            }
            if sockets
                .iter()
                .any(|(local, _): &(SocketAddr, UdpSocket)| local.ip() == ip)
            {
                continue;
            }
            let socket =
                UdpSocket::bind(addr).map_err(|source| MediaError::Bind { addr, source })?;
            let local = socket
                .local_addr()
                .map_err(|source| MediaError::Bind { addr, source })?;
            // The first socket's port, picked by the system when 0 was asked for, is every
            // other socket's: one port to open in a firewall.
            port = local.port();
            sockets.push((local, socket));
        }
        let locals: Vec<SocketAddr> = sockets.iter().map(|(local, _)| *local).collect();
        let shared = Arc::new(Shared {
            core: Mutex::new(Core::new(locals.clone())),
            sockets,
            stop: AtomicBool::new(false),
        });
        let mut io = Vec::with_capacity(locals.len());
        for (index, local) in locals.iter().enumerate() {
            let shared = shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("media-server {local}"))
                .spawn(move || shared.run(index))
                .map_err(|source| MediaError::Bind {
                    addr: *local,
                    source,
                })?;
            io.push(thread);
        }
        Ok(Sfu { shared, locals, io })
    }

    /// The first address a socket is bound to and advertised on.
    pub fn local_addr(&self) -> SocketAddr {
        self.locals[0]
    }

    /// Every address a socket is bound to and advertised on, in the order given to
    /// [`Sfu::bind_all`], all on one port.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.locals
    }

    /// Connects a participant of `room_id` from its first offer and returns the answer. Its
    /// tracks (the sending m-lines that name one in `a=msid`) are offered to everyone else in
    /// that room, and it is offered theirs; rooms share the socket, never media. Participant
    /// ids are unique across rooms (participant SIDs), so the other calls need no room.
    pub fn join(
        &self,
        room_id: &str,
        participant_id: &str,
        offer_sdp: &str,
    ) -> Result<String, MediaError> {
        self.shared
            .with_core(|core, now| core.join(room_id, participant_id, offer_sdp, now))
    }

    /// Answers a participant's later offer (a track published or unpublished, an ICE
    /// restart). Refused with [`MediaError::OfferCollision`] while a server offer waits.
    pub fn offer(&self, participant_id: &str, offer_sdp: &str) -> Result<String, MediaError> {
        self.shared
            .with_core(|core, _| core.offer(participant_id, offer_sdp))
    }

    /// The server's next offer for this participant: other participants' tracks to add or
    /// remove. `None` when nothing changed or an earlier offer still waits for its answer.
    pub fn pending_offer(&self, participant_id: &str) -> Result<Option<String>, MediaError> {
        self.shared
            .with_core(|core, _| core.pending_offer(participant_id))
    }

    /// Sets which of the other participants' tracks this participant receives (a new
    /// participant receives all of them). Frames of tracks it no longer admits stop at once;
    /// its m-lines follow in its next [`Sfu::pending_offer`].
    pub fn subscribe(
        &self,
        participant_id: &str,
        subscriptions: crate::Subscriptions,
    ) -> Result<(), MediaError> {
        self.shared
            .with_core(|core, _| core.subscribe(participant_id, subscriptions))
    }

    /// Applies the participant's answer to the offer [`Sfu::pending_offer`] gave it.
    pub fn answer(&self, participant_id: &str, answer_sdp: &str) -> Result<(), MediaError> {
        self.shared
            .with_core(|core, _| core.answer(participant_id, answer_sdp))
    }

    /// Every participant's published and received tracks, with packet, byte and bitrate
    /// counts (str0m reports them every [`crate::forward::STATS_INTERVAL`]).
    pub fn stats(&self) -> Vec<crate::forward::ParticipantStats> {
        self.shared.core.lock().stats()
    }

    /// Drops the participant's connection. Its tracks leave the others' next offers.
    pub fn leave(&self, participant_id: &str) -> Result<(), MediaError> {
        self.shared.with_core(|core, _| core.leave(participant_id))
    }
}

impl std::fmt::Debug for Sfu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sfu")
            .field("local_addrs", &self.locals)
            .finish_non_exhaustive()
    }
}

impl Drop for Sfu {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for io in self.io.drain(..) {
            // Each thread wakes within MAX_READ_WAIT; a panic in one has been reported already.
            let _ = io.join();
        }
    }
}
