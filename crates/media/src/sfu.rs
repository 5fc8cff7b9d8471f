//! The I/O shell around [`crate::forward`]: one UDP socket per advertised address, one thread
//! per socket that reads it and keeps time, and the calls the signaling makes.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::forward::Core;
use crate::profile::{LoopProfile, TurnCounts};
use crate::record::{Recorder, RecordingProgress, RecordingSummary};
use crate::MediaError;

/// The longest the I/O thread sleeps in a read. Calls from the signaling change what the
/// connections need (an answer starts DTLS), and this bounds how late the thread notices.
const MAX_READ_WAIT: Duration = Duration::from_millis(10);

/// The most datagrams one turn of the I/O loop reads before it forwards them: at 16
/// participants about 35 ms of input, so that timers still run when the socket never empties.
const MAX_BATCH: usize = 64;

/// The largest datagram read; WebRTC stays under the path MTU (str0m targets 1150 bytes).
const MAX_DATAGRAM: usize = 2000;

/// The socket's receive buffer asked of the kernel (which caps it at net.core.rmem_max). The
/// default, about 208 KiB, holds some 90 datagrams: at 16 participants about 50 ms of input, less
/// than the I/O thread may wait for a CPU on a busy 2-core machine (the benchmark measured 30%
/// of its time and more runnable but not running, and lost up to a quarter of the frames). 1 MiB
/// holds about 250 ms at 16 participants; more would trade that loss for seconds of queue when
/// the machine stays overloaded (4 MiB measured 1.9 s of latency in such a run), and media that
/// late is no better than lost.
const RECEIVE_BUFFER: usize = 1 << 20;

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
        core.touch_all();
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

    /// Hands the connections every datagram already queued on the socket (up to
    /// [`MAX_BATCH`]), so that one drive forwards them all. Driving after each datagram polled
    /// every subscriber once per frame; after a wait for a CPU, with several frames queued,
    /// that repeated work is what kept the later frames waiting.
    fn drain(&self, socket: &UdpSocket, local: SocketAddr, buf: &mut [u8], core: &mut Core) {
        if let Err(e) = socket.set_nonblocking(true) {
            tracing::debug!(error = %e, %local, "media server: cannot make the socket non-blocking; one datagram a turn");
            return;
        }
        for _ in 1..MAX_BATCH {
            match socket.recv_from(buf) {
                Ok((n, source)) => {
                    core.counts.reads += 1;
                    core.receive(Instant::now(), source, local, &buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, %local, "media server: read failed");
                    break;
                }
            }
        }
        if let Err(e) = socket.set_nonblocking(false) {
            // The loop would spin on a non-blocking socket instead of sleeping in its reads.
            tracing::error!(error = %e, %local, "media server: cannot make the socket blocking again");
        }
    }

    fn run(&self, index: usize) {
        let (local, socket) = &self.sockets[index];
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut next = Instant::now();
        let mut read_timeout = None;
        let mut profile = LoopProfile::from_env();
        while !self.stop.load(Ordering::Relaxed) {
            // Whole milliseconds, set only when they change: under load this loop turns once a
            // datagram, and a system call each turn to set the same timeout is wasted.
            let wait = next
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), MAX_READ_WAIT);
            let wait = Duration::from_millis(wait.as_millis().max(1) as u64);
            if read_timeout != Some(wait) {
                if let Err(e) = socket.set_read_timeout(Some(wait)) {
                    tracing::error!(error = %e, %local, "media server: cannot set the socket's read timeout; media stops");
                    return;
                }
                read_timeout = Some(wait);
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
            let delay_before = profile.as_ref().map(|_| crate::profile::run_delay());
            let mut core = self.core.lock();
            let started = Instant::now();
            core.counts = TurnCounts::default();
            if let Some((n, source)) = received {
                core.counts.reads += 1;
                core.receive(started, source, *local, &buf[..n]);
                self.drain(socket, *local, &mut buf, &mut core);
            }
            let now = Instant::now();
            let mut sends = 0;
            let mut send_time = Duration::ZERO;
            let timed = profile.is_some();
            next = core.drive(now, &mut |from, to, bytes| {
                if timed {
                    sends += 1;
                    let t = Instant::now();
                    self.send(from, to, bytes);
                    send_time += t.elapsed();
                } else {
                    self.send(from, to, bytes);
                }
            });
            if let Some(profile) = &mut profile {
                let waited =
                    crate::profile::run_delay().saturating_sub(delay_before.unwrap_or_default());
                let counts = TurnCounts {
                    sends,
                    waited_us: waited.as_micros() as u32,
                    send_us: send_time.as_micros() as u32,
                    ..core.counts
                };
                profile.record(started.elapsed(), counts);
            }
        }
        if let Some(profile) = profile {
            eprint!("{}", profile.summary(&format!("media server {local}")));
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
            // A smaller buffer than asked is not an error: the media still flows, with less
            // slack.
            if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(RECEIVE_BUFFER) {
                tracing::debug!(%local, error = %e, "media server: cannot enlarge the socket's receive buffer");
            }
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

    /// Records the frames `publisher` sends on its track `track_id` into a new Matroska file
    /// at `path` (Opus → `.mka`, VP8 → `.mkv`; the caller picks the name), until
    /// [`Sfu::stop_recording`]. The track need not be published yet. Video is written from
    /// its next key frame, which is asked for now.
    pub fn record(&self, publisher: &str, track_id: &str, path: &Path) -> Result<(), MediaError> {
        if self
            .shared
            .core
            .lock()
            .recorders
            .contains(publisher, track_id)
        {
            return Err(MediaError::AlreadyRecording {
                participant: publisher.to_owned(),
                track: track_id.to_owned(),
            });
        }
        // The file is created outside the lock: media keeps flowing meanwhile.
        let recorder = Recorder::create(path).map_err(|source| MediaError::RecordingFile {
            path: path.to_owned(),
            source,
        })?;
        self.shared.with_core(|core, now| {
            core.recorders.insert(publisher, track_id, recorder);
            core.request_keyframe_of(publisher, track_id, now);
        });
        Ok(())
    }

    /// How far the recording of a track got; `None` if it is not recorded.
    pub fn recording_progress(&self, publisher: &str, track_id: &str) -> Option<RecordingProgress> {
        self.shared
            .core
            .lock()
            .recorders
            .get(publisher, track_id)
            .map(Recorder::progress)
    }

    /// Ends the recording of a track and finishes its file; `None` if it was not recorded.
    /// A participant leaving does not end its recordings: the caller stops them (it knows
    /// why a track ended), and until then they simply get no frames.
    pub fn stop_recording(&self, publisher: &str, track_id: &str) -> Option<RecordingSummary> {
        let recorder = self
            .shared
            .core
            .lock()
            .recorders
            .remove(publisher, track_id)?;
        Some(recorder.finish())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One turn reads every datagram already queued, up to [`MAX_BATCH`], and leaves the
    /// socket blocking, so that the loop still sleeps in its next read.
    #[test]
    fn a_turn_reads_what_is_queued_and_the_socket_blocks_again() {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback port");
        let local = socket.local_addr().expect("a bound socket has an address");
        let shared = Shared {
            core: Mutex::new(Core::new(vec![local])),
            sockets: Vec::new(),
            stop: AtomicBool::new(false),
        };
        let peer = UdpSocket::bind("127.0.0.1:0").expect("a loopback port");
        let mut buf = vec![0u8; MAX_DATAGRAM];
        for (queued, read) in [(5, 5), (MAX_BATCH + 6, MAX_BATCH - 1)] {
            for _ in 0..queued {
                peer.send_to(b"not WebRTC", local)
                    .expect("loopback takes a datagram");
            }
            // Loopback queues a datagram before send_to returns; the wait is for a slow CI.
            std::thread::sleep(Duration::from_millis(20));
            let mut core = shared.core.lock();
            core.counts = crate::profile::TurnCounts::default();
            shared.drain(&socket, local, &mut buf, &mut core);
            assert_eq!(core.counts.reads, read as u32, "{queued} datagrams queued");
            // What is left stays queued for the next turn.
            socket.set_nonblocking(true).expect("non-blocking");
            while socket.recv_from(&mut buf).is_ok() {}
            socket.set_nonblocking(false).expect("blocking");
        }
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("a read timeout");
        let started = Instant::now();
        shared.drain(&socket, local, &mut buf, &mut shared.core.lock());
        assert!(socket.recv_from(&mut buf).is_err(), "nothing was sent");
        assert!(
            started.elapsed() >= Duration::from_millis(40),
            "the read returned at once: the socket was left non-blocking"
        );
    }

    /// The receive buffer is enlarged as far as the kernel allows (Linux reports twice what it
    /// granted, and grants at most net.core.rmem_max).
    #[cfg(target_os = "linux")]
    #[test]
    fn every_socket_gets_a_large_receive_buffer() {
        let loopbacks = [IpAddr::from([127, 0, 0, 1]), IpAddr::from([127, 0, 0, 2])];
        let sfu = Sfu::bind_all(&loopbacks, 0).expect("two loopback addresses, one port");
        let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .expect("Linux has net.core.rmem_max")
            .trim()
            .parse()
            .expect("rmem_max is a number");
        assert_eq!(sfu.shared.sockets.len(), 2);
        for (local, socket) in &sfu.shared.sockets {
            let granted = socket2::SockRef::from(socket)
                .recv_buffer_size()
                .expect("SO_RCVBUF can be read");
            assert!(
                granted >= 2 * RECEIVE_BUFFER.min(rmem_max),
                "{local}: receive buffer {granted} bytes, rmem_max {rmem_max}"
            );
        }
    }
}
