//! The media plane of group rooms: the settings of the media server ([`videoroom_media::Sfu`])
//! and the one, lazily bound, server an emulator shares between its rooms.
//!
//! Twilio serves `group` and `group-small` rooms through its media servers; with
//! [`MediaMode::Sfu`] (the default) the emulator does the same: each participant keeps one peer
//! connection, to this server. `peer-to-peer` and `go` rooms always stay a browser mesh, and
//! [`MediaMode::Mesh`] forces the mesh for group rooms too (a fallback, and the comparison
//! point of the benchmark).
//!
//! The server binds one UDP socket per address it advertises, each to exactly that address and
//! offered as a host candidate, all on one port (ICE-lite: the browser makes the checks, no
//! STUN or TURN server is contacted, and nothing is contacted to discover addresses). It is
//! bound when first needed (a banner asks for its addresses at start-up; a test emulator that
//! never sees a group room never binds it).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use videoroom_core::RoomType;
use videoroom_media::Sfu;

/// Which topology group rooms get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaMode {
    /// Group rooms go through the emulator's media server, as Twilio's do.
    #[default]
    Sfu,
    /// Group rooms are a browser mesh, like peer-to-peer rooms.
    Mesh,
}

impl MediaMode {
    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaMode::Sfu => "sfu",
            MediaMode::Mesh => "mesh",
        }
    }

    /// Parses `sfu` or `mesh` (any case); the error says what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "sfu" => Ok(MediaMode::Sfu),
            "mesh" => Ok(MediaMode::Mesh),
            _ => {
                let hint = crate::settings::did_you_mean(text.trim(), ["sfu", "mesh"])
                    .map(|c| format!("; did you mean '{c}'?"))
                    .unwrap_or_default();
                Err(format!(
                    "must be sfu or mesh (got '{}'){hint}",
                    crate::signaling::protocol::shown(text, 32)
                ))
            }
        }
    }
}

/// The media server's settings (`media.*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaSettings {
    pub mode: MediaMode,
    /// The UDP port every client reaches the media server on; 0 picks a free one.
    pub udp_port: u16,
    /// The addresses the media server binds and advertises as its ICE candidates, one socket
    /// each. Empty: the HTTP listener's address when it is a concrete IP, else 127.0.0.1 (see
    /// [`MediaSettings::advertised`]).
    pub advertise: Vec<IpAddr>,
    /// Where recordings of group rooms' tracks are written (`media.recordings_dir`). `None`:
    /// a temporary folder made at the first recording and removed when the emulator stops.
    pub recordings_dir: Option<std::path::PathBuf>,
}

impl MediaSettings {
    /// The addresses to advertise for an HTTP listener on `http_host`: the configured ones,
    /// else that host when clients can reach it there, else loopback. 0.0.0.0 or :: is no
    /// address a browser can send to (`videoroom` lists the LAN addresses itself for that case).
    pub fn advertised(&self, http_host: IpAddr) -> Vec<IpAddr> {
        if !self.advertise.is_empty() {
            return self.advertise.clone();
        }
        vec![if http_host.is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            http_host
        }]
    }

    /// The same settings with the advertised addresses fixed for `http_host`.
    pub fn for_host(&self, http_host: IpAddr) -> Self {
        Self {
            advertise: self.advertised(http_host),
            ..self.clone()
        }
    }
}

/// Whether rooms of `room_type` go through the media server.
pub fn uses_media_server(room_type: RoomType) -> bool {
    matches!(room_type, RoomType::Group | RoomType::GroupSmall)
}

/// The media server of one emulator, bound on first use.
#[derive(Debug)]
pub struct MediaPlane {
    ips: Vec<IpAddr>,
    port: u16,
    sfu: OnceLock<Result<Arc<Sfu>, String>>,
}

impl MediaPlane {
    /// A media plane that will bind `addr` when first needed.
    pub fn new(addr: SocketAddr) -> Self {
        Self::on_addresses(vec![addr.ip()], addr.port())
    }

    /// A media plane that will bind one socket per address in `ips`, all on `port` (0: a free
    /// one, chosen for the first and reused), when first needed.
    pub fn on_addresses(ips: Vec<IpAddr>, port: u16) -> Self {
        Self {
            ips,
            port,
            sfu: OnceLock::new(),
        }
    }

    /// The plane [`MediaSettings`] asks for, or `None` in mesh mode.
    pub fn for_settings(settings: &MediaSettings) -> Option<Arc<Self>> {
        match settings.mode {
            MediaMode::Mesh => None,
            MediaMode::Sfu => Some(Arc::new(Self::on_addresses(
                if settings.advertise.is_empty() {
                    vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
                } else {
                    settings.advertise.clone()
                },
                settings.udp_port,
            ))),
        }
    }

    /// The media server, bound now if it was not yet. A failed bind is remembered: the error
    /// names the address and the setting to change, and every later call gives it again.
    pub fn sfu(&self) -> Result<&Sfu, String> {
        match self.sfu.get_or_init(|| {
            Sfu::bind_all(&self.ips, self.port)
                .map(Arc::new)
                .map_err(|e| {
                    format!("{e} (settings media.advertise and media.udp_port choose the address)")
                })
        }) {
            Ok(sfu) => Ok(sfu),
            Err(e) => Err(e.clone()),
        }
    }

    /// The (first) address the media server listens and is advertised on, binding it if
    /// needed.
    pub fn local_addr(&self) -> Result<SocketAddr, String> {
        self.sfu().map(Sfu::local_addr)
    }

    /// Every address the media server listens and is advertised on, binding them if needed.
    pub fn local_addrs(&self) -> Result<Vec<SocketAddr>, String> {
        self.sfu().map(|sfu| sfu.local_addrs().to_vec())
    }

    /// The media server if it has been bound already (the inspector shows nothing otherwise).
    pub fn bound(&self) -> Option<&Sfu> {
        self.sfu.get().and_then(|r| r.as_ref().ok()).map(|s| &**s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advertised_address_is_the_setting_else_a_concrete_http_host_else_loopback() {
        let lan: IpAddr = "192.0.2.7".parse().expect("an IP");
        let any: IpAddr = "0.0.0.0".parse().expect("an IP");
        let default = MediaSettings::default();
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(default.advertised(lan), [lan]);
        assert_eq!(default.advertised(any), [loopback]);
        assert_eq!(default.advertised("::".parse().expect("an IP")), [loopback]);
        let set = MediaSettings {
            advertise: vec![lan, loopback],
            ..MediaSettings::default()
        };
        assert_eq!(set.advertised(any), [lan, loopback]);
        assert_eq!(set.for_host(any).advertise, [lan, loopback]);
    }

    #[test]
    fn the_mode_parses_sfu_and_mesh_and_suggests_a_near_miss() {
        assert_eq!(MediaMode::parse(" SFU "), Ok(MediaMode::Sfu));
        assert_eq!(MediaMode::parse("mesh"), Ok(MediaMode::Mesh));
        let err = MediaMode::parse("msh").expect_err("not a mode");
        assert!(err.contains("did you mean 'mesh'"), "{err}");
    }

    #[test]
    fn mesh_mode_has_no_media_server_and_a_bad_address_is_a_clear_error() {
        let mesh = MediaSettings {
            mode: MediaMode::Mesh,
            ..MediaSettings::default()
        };
        assert!(MediaPlane::for_settings(&mesh).is_none());
        // 192.0.2.0/24 is documentation space: no interface of this machine has it.
        let plane = MediaPlane::new("192.0.2.7:0".parse().expect("an address"));
        let err = plane
            .local_addr()
            .expect_err("not an address of this machine");
        assert!(err.contains("media.advertise"), "{err}");
    }

    #[test]
    fn a_plane_on_two_loopback_addresses_binds_both_on_one_port() {
        let plane = MediaPlane::on_addresses(
            vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            ],
            0,
        );
        let addrs = plane.local_addrs().expect("both are on lo");
        assert_eq!(addrs.len(), 2);
        assert_eq!(addrs[1].ip(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(addrs[0].port(), addrs[1].port());
    }
}
