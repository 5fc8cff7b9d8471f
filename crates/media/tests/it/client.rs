//! A scripted WebRTC client that behaves, on the wire, like twilio-video.js does towards
//! Twilio's media server: it offers first, with one sending video m-line whose `a=msid` names
//! its signalled track id, answers the server's offers, and matches each incoming m-line to a
//! publisher's track by the last token of its `a=msid` (the SDK's TrackMatcher), read from the
//! offer text, not from the library.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use videoroom_media::Sfu;

/// How often a publishing client writes a video frame (30 fps).
const FRAME_INTERVAL: Duration = Duration::from_millis(33);

/// How often a client with a microphone writes an Opus frame (20 ms, as browsers do).
const AUDIO_FRAME_INTERVAL: Duration = Duration::from_millis(20);

/// The start of a VP8 key frame (frame tag with P=0, start code, 320x240): every frame the
/// clients write is a key frame, so a receiver can always decode from the first one it gets.
const VP8_KEY_FRAME_HEADER: [u8; 10] = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];

/// An Annex B start code and the header of an IDR slice (NAL type 5): every H.264 frame the
/// clients write is a key frame too.
const H264_IDR_HEADER: [u8; 5] = [0x00, 0x00, 0x00, 0x01, 0x65];

pub struct Client {
    /// The participant id the media server knows this client by.
    pub id: String,
    /// The room it joins.
    pub room: String,
    /// The id of the track this client publishes (what twilio-video.js signals in
    /// `participant.tracks[].id` and writes into its `a=msid`).
    pub track_id: String,
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    publish_mid: Option<Mid>,
    /// The id of the audio track this client publishes too, if any, and its m-line.
    microphone: Option<(String, Option<Mid>)>,
    audio_frames_written: u64,
    last_audio_frame: Option<Instant>,
    pending: Option<SdpPendingOffer>,
    /// mid → publisher track id, from the `a=msid` of the server's offers.
    remote_tracks: HashMap<Mid, String>,
    /// Frames received, as (publisher track id named by the m-line, payload).
    pub received: Vec<(Option<String>, Vec<u8>)>,
    /// When each received frame arrived, in the order of `received` (the benchmark's latency).
    pub received_at: Vec<Instant>,
    /// After `time_arrivals`: when the kernel queued the datagram that completed each received
    /// frame on this client's socket, in the order of `received`. Unlike `received_at`, it
    /// leaves out the time this client's thread waited for a CPU before reading it, so a
    /// benchmark whose clients yield the CPU to the media server still times the server's
    /// share.
    pub received_on_wire: Vec<Instant>,
    /// Read each datagram with the kernel's arrival time (see `time_arrivals`).
    wire_times: bool,
    /// The kernel's arrival time of the datagram last handed to str0m.
    last_arrival: Option<Instant>,
    /// When each video frame left, by frame number (the number follows the tag): the first
    /// datagram sent after the frame was written, so that a thread descheduled between
    /// writing and sending does not count against the media server.
    pub written_at: Vec<Instant>,
    /// A frame was written and its first datagram is not sent yet.
    frame_unsent: bool,
    /// When each video frame's last datagram left (the RTP marker bit on the video payload
    /// type), by frame number: from then on, the frame's delay is the media server's.
    pub sent_whole_at: Vec<Instant>,
    /// The payload type of the video frames this client writes, and whether the last one
    /// written still has its marked datagram to send.
    video_pt: Option<u8>,
    frame_unmarked: bool,
    /// Bytes of padding after each video frame's number, so a benchmark can send frames of a
    /// realistic size (0 in tests).
    pub video_padding: usize,
    /// Bytes of padding after each audio frame's number (0 in tests; a benchmark sends the 80
    /// bytes of 32 kbit/s Opus every 20 ms).
    pub audio_padding: usize,
    /// No frame is written before this instant, so a benchmark can spread its publishers'
    /// frames over the frame interval as independent browsers do (None: from the connection).
    pub frames_from: Option<Instant>,
    /// Keep received payloads (tests read them); a benchmark keeps only arrival times.
    pub keep_payloads: bool,
    /// Keyframe requests the server sent for this client's own track.
    pub keyframe_requests: Vec<KeyframeRequestKind>,
    connected: bool,
    frames_written: u64,
    /// The slot of the last video frame on this client's frame clock (see [`slot`]), not when
    /// it was written.
    last_frame: Option<Instant>,
    /// When str0m next needs time, as the last `step` was told.
    next_timeout: Option<Instant>,
    /// The one server candidate this client keeps from the server's descriptions, as a
    /// browser that can reach only that address; `None` keeps them all.
    reaching: Option<SocketAddr>,
    /// Every address the server's datagrams came from.
    server_addresses: Vec<SocketAddr>,
    /// The simulcast layers (rids) the camera is offered with; empty: no simulcast.
    simulcast: Vec<String>,
    /// The layers it writes frames on now, each with the padding that makes its frames bigger
    /// (a higher layer is a bigger picture).
    pub sending_layers: Vec<(String, usize)>,
}

impl Client {
    /// A client in the room most tests use.
    pub fn new(name: &str) -> Client {
        Client::in_room(name, "RMroom")
    }

    pub fn in_room(name: &str, room: &str) -> Client {
        Client::build(name, room, true)
    }

    /// A client whose browser offers H.264 and not VP8 (as Safari may).
    pub fn h264_only(name: &str) -> Client {
        Client::build(name, "RMroom", false)
    }

    fn build(name: &str, room: &str, vp8: bool) -> Client {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a free UDP port on loopback");
        socket
            .set_nonblocking(true)
            .expect("a UDP socket can be made non-blocking");
        // As large a receive buffer as the media server's, so that a benchmark's loss is the
        // server's drops, not a scripted client's whose thread waited for a CPU.
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(1 << 20);
        let local = socket.local_addr().expect("a bound socket has an address");
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(vp8)
            .enable_h264(true)
            .build(Instant::now());
        let candidate = Candidate::host(local, "udp").expect("loopback is a valid host candidate");
        rtc.add_local_candidate(candidate)
            .expect("the candidate is accepted");
        Client {
            id: format!("PA{name}"),
            room: room.to_owned(),
            track_id: format!("{name}-camera"),
            rtc,
            socket,
            local,
            publish_mid: None,
            microphone: None,
            audio_frames_written: 0,
            last_audio_frame: None,
            pending: None,
            remote_tracks: HashMap::new(),
            received: Vec::new(),
            received_at: Vec::new(),
            received_on_wire: Vec::new(),
            wire_times: false,
            last_arrival: None,
            written_at: Vec::new(),
            frame_unsent: false,
            sent_whole_at: Vec::new(),
            video_pt: None,
            frame_unmarked: false,
            video_padding: 0,
            audio_padding: 0,
            frames_from: None,
            keep_payloads: true,
            keyframe_requests: Vec::new(),
            connected: false,
            frames_written: 0,
            last_frame: None,
            next_timeout: None,
            reaching: None,
            server_addresses: Vec::new(),
            simulcast: Vec::new(),
            sending_layers: Vec::new(),
        }
    }

    /// Offers the camera in simulcast with these layers, given as (rid, padding bytes), and
    /// writes every frame on each of them; each frame says its layer (`layer=<rid>;`).
    pub fn with_simulcast(mut self, layers: &[(&str, usize)]) -> Client {
        self.simulcast = layers.iter().map(|(rid, _)| (*rid).to_owned()).collect();
        self.sending_layers = layers
            .iter()
            .map(|(rid, padding)| ((*rid).to_owned(), *padding))
            .collect();
        self
    }

    /// Received frames that say they are of layer `rid`.
    pub fn frames_of_layer(&self, rid: &str) -> usize {
        let marker = format!("layer={rid};").into_bytes();
        self.received
            .iter()
            .filter(|(_, payload)| contains(payload, &marker))
            .count()
    }

    /// Keeps only the server's candidate on `addr`, as a device that can reach the media
    /// server only there.
    pub fn reaching(mut self, addr: SocketAddr) -> Client {
        self.reaching = Some(addr);
        self
    }

    /// The addresses the server's datagrams came from, each once, in order of arrival.
    pub fn server_addresses_seen(&self) -> Vec<SocketAddr> {
        self.server_addresses.clone()
    }

    /// The server's description with only the candidate this client can reach.
    fn reachable(&self, sdp: &str) -> String {
        let Some(addr) = self.reaching else {
            return sdp.to_owned();
        };
        let keep = format!(" {} {} typ ", addr.ip(), addr.port());
        sdp.split_inclusive("\r\n")
            .filter(|line| !line.starts_with("a=candidate:") || line.contains(&keep))
            .collect()
    }

    /// Publishes an audio track as well, named `track_id`.
    pub fn with_microphone(mut self, track_id: &str) -> Client {
        self.microphone = Some((track_id.to_owned(), None));
        self
    }

    /// The first offer: one sending video m-line for this client's camera, after an audio
    /// one for its microphone if it has one (browsers put audio first).
    pub fn publish_offer(&mut self) -> String {
        let mut change = self.rtc.sdp_api();
        if let Some((track_id, mid)) = &mut self.microphone {
            *mid = Some(change.add_media(
                MediaKind::Audio,
                Direction::SendRecv,
                Some("-".to_owned()),
                Some(track_id.clone()),
                None,
            ));
        }
        let simulcast = (!self.simulcast.is_empty()).then(|| {
            let mut simulcast = str0m::media::Simulcast::new();
            for rid in &self.simulcast {
                simulcast.add_send_layer(str0m::media::SimulcastLayer::new(rid));
            }
            simulcast
        });
        let mid = change.add_media(
            MediaKind::Video,
            Direction::SendRecv,
            Some("-".to_owned()),
            Some(self.track_id.clone()),
            simulcast,
        );
        let (offer, pending) = change.apply().expect("adding a track is a change");
        self.publish_mid = Some(mid);
        self.pending = Some(pending);
        offer.to_sdp_string()
    }

    /// A re-offer that publishes one more video track (no frames are written on it).
    pub fn add_track_offer(&mut self, track_id: &str) -> String {
        let mut change = self.rtc.sdp_api();
        change.add_media(
            MediaKind::Video,
            Direction::SendRecv,
            Some("-".to_owned()),
            Some(track_id.to_owned()),
            None,
        );
        let (offer, pending) = change.apply().expect("adding a track is a change");
        self.pending = Some(pending);
        offer.to_sdp_string()
    }

    /// A re-offer that stops (`false`) or resumes (`true`) sending the camera, as a browser
    /// does on unpublish and publish: the m-line stays and only its direction changes.
    pub fn camera_offer(&mut self, sending: bool) -> String {
        let mid = self.publish_mid.expect("the camera was published");
        let direction = if sending {
            Direction::SendRecv
        } else {
            Direction::RecvOnly
        };
        let mut change = self.rtc.sdp_api();
        change.set_direction(mid, direction);
        let (offer, pending) = change.apply().expect("a new direction is a change");
        self.pending = Some(pending);
        offer.to_sdp_string()
    }

    pub fn accept_answer(&mut self, answer: &str) {
        let pending = self.pending.take().expect("an offer was made");
        let answer = self.reachable(answer);
        let answer = SdpAnswer::from_sdp_string(&answer).expect("the server's answer parses");
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("the server's answer is accepted");
    }

    /// Answers a server offer, first reading which m-line carries which track.
    pub fn accept_offer(&mut self, offer: &str) -> String {
        for (mid, track) in msid_tracks(offer) {
            match track {
                Some(track) => self.remote_tracks.insert(mid, track),
                None => self.remote_tracks.remove(&mid),
            };
        }
        let offer = self.reachable(offer);
        let offer = SdpOffer::from_sdp_string(&offer).expect("the server's offer parses");
        self.rtc
            .sdp_api()
            .accept_offer(offer)
            .expect("the server's offer is accepted")
            .to_sdp_string()
    }

    /// Joins the media server and answers its first offer, if it has one.
    pub fn join(&mut self, sfu: &Sfu) {
        let offer = self.publish_offer();
        let answer = sfu
            .join(&self.room, &self.id, &offer)
            .expect("the media server answers");
        self.accept_answer(&answer);
        self.renegotiate(sfu);
    }

    /// Takes the server's pending offer, answers it, and returns the offer's text.
    pub fn renegotiate(&mut self, sfu: &Sfu) -> Option<String> {
        let offer = sfu
            .pending_offer(&self.id)
            .expect("the participant is on the media server")?;
        let answer = self.accept_offer(&offer);
        sfu.answer(&self.id, &answer)
            .expect("the media server accepts the answer");
        Some(offer)
    }

    /// The m-line on which the server's offers named `track_id`, while it is not stopped.
    pub fn mid_of(&self, track_id: &str) -> Option<Mid> {
        self.remote_tracks
            .iter()
            .find_map(|(mid, track)| (track == track_id).then_some(*mid))
    }

    /// Frames received on an m-line named for `track_id` that carry that track's payload.
    pub fn frames_of(&self, track_id: &str) -> usize {
        let tag = frame_tag(track_id);
        self.received
            .iter()
            .filter(|(named, data)| named.as_deref() == Some(track_id) && contains(data, &tag))
            .count()
    }

    /// Frames whose payload belongs to another track than the one their m-line names.
    pub fn misrouted_frames(&self) -> usize {
        self.received
            .iter()
            .filter(|(named, data)| {
                named
                    .as_deref()
                    .is_none_or(|track| !contains(data, &frame_tag(track)))
            })
            .count()
    }

    /// Asks the publisher of `track_id` for a keyframe, as a browser does with PLI or FIR.
    pub fn request_keyframe(&mut self, track_id: &str, kind: KeyframeRequestKind) {
        let mid = self.mid_of(track_id).expect("the track was offered");
        self.rtc
            .writer(mid)
            .expect("the m-line exists")
            .request_keyframe(None, kind)
            .expect("the track is being received");
    }

    /// Dates each datagram by the kernel's arrival time (SO_TIMESTAMPNS) and hands each frame
    /// over as soon as the datagram that completes it is read, for `received_on_wire` (Linux
    /// only; a benchmark's; tests do not need it).
    #[allow(dead_code)]
    #[cfg(target_os = "linux")]
    pub fn time_arrivals(&mut self) {
        nix::sys::socket::setsockopt(
            &self.socket,
            nix::sys::socket::sockopt::ReceiveTimestampns,
            &true,
        )
        .expect("a UDP socket on Linux can time its datagrams");
        self.wire_times = true;
    }

    /// Reads what arrived, keeps time, sends what is due and writes a frame when one is due.
    pub fn step(&mut self, now: Instant) {
        let mut buf = [0u8; 2000];
        loop {
            match self.receive(&mut buf) {
                Ok((n, source)) => {
                    if !self.server_addresses.contains(&source) {
                        self.server_addresses.push(source);
                    }
                    let contents = buf[..n].try_into().expect("the media server sends WebRTC");
                    // The time of this read, not of the step: a benchmark's latency starts here.
                    let input = Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: self.local,
                            contents,
                        },
                    );
                    self.rtc
                        .handle_input(input)
                        .expect("the client accepts the datagram");
                    if self.wire_times {
                        // The frame this datagram completes is handed over now, so that it
                        // is dated by this datagram's arrival, not by the last one read.
                        self.drain_output();
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{} cannot read its socket: {e}", self.id),
            }
        }
        self.rtc
            .handle_input(Input::Timeout(now))
            .expect("time advances");
        let frames_due = self.connected && self.frames_from.is_none_or(|from| now >= from);
        if frames_due && self.last_frame.is_none_or(|at| now - at >= FRAME_INTERVAL) {
            self.write_frame(now);
        }
        if frames_due
            && self
                .last_audio_frame
                .is_none_or(|at| now - at >= AUDIO_FRAME_INTERVAL)
        {
            self.write_audio_frame(now);
        }
        self.drain_output();
    }

    /// One datagram from the socket, without waiting; with `wire_times`, the kernel's arrival
    /// time of it goes into `last_arrival`.
    fn receive(&mut self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        #[cfg(target_os = "linux")]
        if self.wire_times {
            return self.receive_timed(buf);
        }
        self.socket.recv_from(buf)
    }

    #[cfg(target_os = "linux")]
    fn receive_timed(&mut self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn};
        use std::os::fd::AsRawFd;
        use std::time::{SystemTime, UNIX_EPOCH};
        let mut space = nix::cmsg_space!(nix::sys::time::TimeSpec);
        let mut iov = [std::io::IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrIn>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(std::io::Error::from)?;
        let read_at = Instant::now();
        let source = SocketAddr::from(
            msg.address
                .expect("a datagram on a bound UDP socket has a source"),
        );
        let stamped = msg.cmsgs().ok().and_then(|mut c| {
            c.find_map(|m| match m {
                ControlMessageOwned::ScmTimestampns(ts) => Some(ts),
                _ => None,
            })
        });
        // The kernel dates datagrams on the wall clock: how long ago that was, on the
        // monotonic one (a wall clock step during the run would show as one odd sample).
        let arrived = stamped.and_then(|ts| {
            let at = Duration::new(u64::try_from(ts.tv_sec()).ok()?, ts.tv_nsec() as u32);
            let age = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()?
                .saturating_sub(at);
            read_at.checked_sub(age)
        });
        self.last_arrival = Some(arrived.unwrap_or(read_at));
        Ok((msg.bytes, source))
    }

    /// Sends what str0m has to send and takes its events, until it asks for time.
    fn drain_output(&mut self) {
        loop {
            match self.rtc.poll_output().expect("the client keeps running") {
                Output::Timeout(at) => {
                    self.next_timeout = Some(at);
                    break;
                }
                Output::Transmit(t) => {
                    if self.frame_unsent {
                        self.frame_unsent = false;
                        self.written_at.push(Instant::now());
                    }
                    // SRTP leaves the RTP header in the clear: version 2, then the marker bit
                    // and the payload type.
                    if self.frame_unmarked
                        && t.contents.len() >= 12
                        && t.contents[0] >> 6 == 2
                        && t.contents[1] & 0x80 != 0
                        && Some(t.contents[1] & 0x7f) == self.video_pt
                    {
                        // Before the send: the media server may take this thread's CPU as soon as
                        // the datagram wakes it.
                        self.frame_unmarked = false;
                        self.sent_whole_at.push(Instant::now());
                    }
                    self.socket
                        .send_to(&t.contents, t.destination)
                        .expect("loopback takes the datagram");
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::MediaData(data)) => {
                    let named = self.remote_tracks.get(&data.mid).cloned();
                    let payload = if self.keep_payloads {
                        data.data.to_vec()
                    } else {
                        frame_number_of(&data.data)
                            .map(|n| n.to_be_bytes().to_vec())
                            .unwrap_or_default()
                    };
                    self.received.push((named, payload));
                    // Now, not the step's start: the frames of one step arrive one by one.
                    let at = Instant::now();
                    self.received_at.push(at);
                    if self.wire_times {
                        self.received_on_wire.push(self.last_arrival.unwrap_or(at));
                    }
                }
                Output::Event(Event::KeyframeRequest(request)) => {
                    self.keyframe_requests.push(request.kind);
                }
                Output::Event(_) => {}
            }
        }
    }

    fn write_audio_frame(&mut self, now: Instant) {
        let Some((track_id, Some(mid))) = &self.microphone else {
            return;
        };
        let writer = self.rtc.writer(*mid).expect("the published m-line exists");
        let pt = writer
            .payload_params()
            .find(|p| p.spec().codec == Codec::Opus)
            .expect("Opus was negotiated")
            .pt();
        let mut payload = frame_tag(track_id);
        payload.extend_from_slice(&self.audio_frames_written.to_be_bytes());
        payload.resize(payload.len() + self.audio_padding, 0);
        writer
            .write(
                pt,
                now,
                MediaTime::new(self.audio_frames_written * 960, Frequency::FORTY_EIGHT_KHZ),
                payload,
            )
            .expect("an audio frame can be written");
        self.audio_frames_written += 1;
        self.last_audio_frame = Some(slot(
            self.last_audio_frame,
            self.frames_from,
            AUDIO_FRAME_INTERVAL,
            now,
        ));
    }

    fn write_frame(&mut self, now: Instant) {
        let Some(mid) = self.publish_mid else { return };
        let layers: Vec<Option<(String, usize)>> = if self.simulcast.is_empty() {
            vec![None]
        } else {
            self.sending_layers.iter().cloned().map(Some).collect()
        };
        for layer in layers {
            let writer = self.rtc.writer(mid).expect("the published m-line exists");
            // VP8 if it was negotiated (browsers list it first), otherwise H.264.
            let (pt, header) = match writer
                .payload_params()
                .find(|p| p.spec().codec == Codec::Vp8)
            {
                Some(vp8) => (vp8.pt(), &VP8_KEY_FRAME_HEADER[..]),
                None => (
                    writer
                        .payload_params()
                        .find(|p| p.spec().codec == Codec::H264)
                        .expect("VP8 or H.264 was negotiated")
                        .pt(),
                    &H264_IDR_HEADER[..],
                ),
            };
            self.video_pt = Some(*pt);
            let mut payload = header.to_vec();
            payload.extend_from_slice(&frame_tag(&self.track_id));
            payload.extend_from_slice(&self.frames_written.to_be_bytes());
            let writer = match &layer {
                Some((rid, padding)) => {
                    payload.extend_from_slice(format!("layer={rid};").as_bytes());
                    payload.resize(payload.len() + padding, 0);
                    writer.rid(str0m::media::Rid::from(rid.as_str()))
                }
                None => writer,
            };
            payload.resize(payload.len() + self.video_padding, 0);
            writer
                .write(
                    pt,
                    now,
                    MediaTime::from_90khz(self.frames_written * 3000),
                    payload,
                )
                .expect("a frame can be written");
        }
        // The previous frame left with nothing sent, or no marked datagram, in between (it
        // cannot, as every write is followed by a drain and str0m marks a frame's last
        // packet, but the numbering must stay whole).
        if self.frame_unsent {
            self.written_at.push(Instant::now());
        }
        if self.frame_unmarked {
            self.sent_whole_at.push(Instant::now());
        }
        self.frames_written += 1;
        self.last_frame = Some(slot(self.last_frame, self.frames_from, FRAME_INTERVAL, now));
        // The frame leaves in this step's output, right after this; dated by its first send,
        // and by its last.
        self.frame_unsent = true;
        self.frame_unmarked = true;
    }

    /// When this client next has something to do without input: str0m's timer, or its next
    /// video or audio frame.
    #[allow(dead_code)]
    pub fn next_due(&self, now: Instant) -> Instant {
        let mut due = self.next_timeout.unwrap_or(now);
        if self.connected {
            let from = self.frames_from.unwrap_or(now);
            let video = self
                .last_frame
                .map_or(from, |at| at + FRAME_INTERVAL)
                .max(from);
            due = due.min(video);
            if self.microphone.is_some() {
                let audio = self
                    .last_audio_frame
                    .map_or(from, |at| at + AUDIO_FRAME_INTERVAL)
                    .max(from);
                due = due.min(audio);
            }
        }
        due
    }

    /// Sleeps until a datagram arrives or `until`, whichever is first (a benchmark's client
    /// threads wait here instead of spinning on the cores the media server needs).
    #[allow(dead_code)]
    pub fn wait_for_input(&self, until: Instant) {
        let Some(wait) = until.checked_duration_since(Instant::now()) else {
            return;
        };
        if wait.is_zero() {
            return;
        }
        self.socket
            .set_nonblocking(false)
            .expect("a UDP socket can be made blocking");
        self.socket
            .set_read_timeout(Some(wait))
            .expect("a non-zero read timeout is accepted");
        // Peeking leaves the datagram for `step`; a timeout is the other way out.
        let _ = self.socket.peek_from(&mut [0u8; 1]);
        self.socket
            .set_nonblocking(true)
            .expect("a UDP socket can be made non-blocking");
    }

    /// Video frames written so far (the benchmark's window).
    #[allow(dead_code)]
    pub fn frames_written(&self) -> u64 {
        self.frames_written
    }
}

/// The slot a frame written at `now` takes on a client's frame clock: the latest instant, not
/// after `now`, of the grid that runs every `interval` from the previous frame's slot (from
/// `frames_from` for the first frame, or from `now` when neither is set). A camera and a
/// microphone keep their own clock: a frame written late does not move the next one, and slots
/// missed altogether are skipped, not sent in a burst. Dating a frame by when it was written
/// instead let every delay of a client's thread shift its phase for good: under load the
/// publishers' phases, spread over the interval by the benchmark, drifted together, and
/// their frames reached the media server in bursts of nearly all of them at once.
pub fn slot(
    previous: Option<Instant>,
    frames_from: Option<Instant>,
    interval: Duration,
    now: Instant,
) -> Instant {
    let Some(origin) = previous.map(|at| at + interval).or(frames_from) else {
        return now;
    };
    if now < origin {
        return now;
    }
    let missed = (now - origin).as_nanos() / interval.as_nanos();
    origin + interval * u32::try_from(missed).unwrap_or(u32::MAX)
}

/// The frame number a video or audio payload carries right after its `track=…;` tag.
pub fn frame_number_of(payload: &[u8]) -> Option<u64> {
    let start = payload.windows(6).position(|w| w == b"track=")?;
    let end = start + payload[start..].iter().position(|b| *b == b';')? + 1;
    let bytes: [u8; 8] = payload.get(end..end + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// Drives the clients (the media server runs on its own thread) until `done` holds, or fails
/// the test after a bound, with `what` in the message.
pub fn pump(clients: &mut [&mut Client], what: &str, done: impl Fn(&[&mut Client]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = Instant::now();
        for client in clients.iter_mut() {
            client.step(now);
        }
        if done(clients) {
            return;
        }
        assert!(now < deadline, "timed out waiting for: {what}");
        // Pacing only, so the loop does not spin; the condition above decides the outcome.
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Each audio/video m-line's mid and the track its `a=msid` names (None when the m-line is
/// rejected with port 0 or names no track).
pub fn msid_tracks(sdp: &str) -> Vec<(Mid, Option<String>)> {
    sections(sdp)
        .into_iter()
        .filter_map(|s| {
            let mid = s.mid.clone()?;
            let track = (!s.rejected).then(|| s.msid_track.clone()).flatten();
            Some((Mid::from(mid.as_str()), track))
        })
        .collect()
}

/// One m-section of an SDP, read as the SDK reads it.
#[derive(Debug, Clone)]
pub struct Section {
    pub mid: Option<String>,
    pub msid_track: Option<String>,
    pub rejected: bool,
    pub direction: Option<String>,
}

pub fn sections(sdp: &str) -> Vec<Section> {
    sdp.split("\r\nm=")
        .skip(1)
        .filter(|s| s.starts_with("audio") || s.starts_with("video"))
        .map(|s| {
            let mut lines = s.split("\r\n");
            let media = lines.next().unwrap_or_default();
            let mut section = Section {
                mid: None,
                msid_track: None,
                rejected: media.split(' ').nth(1) == Some("0"),
                direction: None,
            };
            for line in lines {
                if let Some(mid) = line.strip_prefix("a=mid:") {
                    section.mid = Some(mid.to_owned());
                } else if let Some(msid) = line.strip_prefix("a=msid:") {
                    section.msid_track = msid.split(' ').next_back().map(str::to_owned);
                } else if ["a=sendonly", "a=recvonly", "a=sendrecv", "a=inactive"].contains(&line) {
                    section.direction = Some(line[2..].to_owned());
                }
            }
            section
        })
        .collect()
}

fn frame_tag(track_id: &str) -> Vec<u8> {
    format!("track={track_id};").into_bytes()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
