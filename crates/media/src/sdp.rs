//! What the media server reads from a client's SDP by itself: which m-line carries which of
//! the client's published tracks.
//!
//! str0m records a remote m-line's msid only when the m-line is created, and browsers re-point
//! old transceivers at new tracks (twilio-video.js recycles the server's own m-lines for a
//! newly published track), so every client offer is read here again. Chrome writes
//! `a=msid:- <track id>` and twilio-video.js rewrites the track part to the id it signals in
//! `participant.tracks`, so the last token of `a=msid` is the publisher's track id.

use str0m::media::{MediaKind, Mid};

/// One m-line on which the client sends a track it named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentTrack {
    pub(crate) mid: Mid,
    pub(crate) kind: MediaKind,
    pub(crate) track_id: String,
}

/// The audio and video m-lines of `sdp` that the client sends on (`sendrecv` or `sendonly`,
/// port not 0) and that name a track in `a=msid`. Others carry nothing to forward: m-lines
/// the client only receives on, rejected ones, and unnamed tracks (Firefox's dummy audio).
pub(crate) fn sent_tracks(sdp: &str) -> Vec<SentTrack> {
    let mut tracks = Vec::new();
    for section in sdp.split("\nm=").skip(1) {
        let mut lines = section.lines().map(|l| l.trim_end_matches('\r'));
        let media_line = lines.next().unwrap_or_default();
        let mut fields = media_line.split_whitespace();
        let kind = match fields.next() {
            Some("audio") => MediaKind::Audio,
            Some("video") => MediaKind::Video,
            _ => continue,
        };
        if fields.next() == Some("0") {
            continue;
        }
        let (mut mid, mut track_id, mut sends) = (None, None, true);
        for line in lines {
            if let Some(value) = line.strip_prefix("a=mid:") {
                mid = Some(value.trim());
            } else if let Some(value) = line.strip_prefix("a=msid:") {
                track_id = value.split_whitespace().nth(1);
            } else if line == "a=recvonly" || line == "a=inactive" {
                sends = false;
            }
        }
        if let (Some(mid), Some(track_id), true) = (mid, track_id, sends) {
            tracks.push(SentTrack {
                mid: Mid::from(mid),
                kind,
                track_id: track_id.to_owned(),
            });
        }
    }
    tracks
}

/// One m-line's simulcast sent as SSRC groups (`a=ssrc-group:SIM`), the way twilio-video.js
/// munges its offer when simulcast is asked for: its layers' SSRCs, lowest first as the group
/// lists them, each with its retransmission SSRC (`a=ssrc-group:FID`) when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SsrcSimulcast {
    pub(crate) mid: Mid,
    pub(crate) layers: Vec<(u32, Option<u32>)>,
}

/// Every m-line of `sdp` with an `a=ssrc-group:SIM` of two SSRCs or more.
pub(crate) fn ssrc_simulcast(sdp: &str) -> Vec<SsrcSimulcast> {
    let mut found = Vec::new();
    for section in sdp.split("\nm=").skip(1) {
        let (mut mid, mut sim, mut fid) = (None, Vec::new(), Vec::new());
        for line in section.lines().map(|l| l.trim_end_matches('\r')) {
            if let Some(value) = line.strip_prefix("a=mid:") {
                mid = Some(value.trim());
            } else if let Some(value) = line.strip_prefix("a=ssrc-group:") {
                let mut fields = value.split_whitespace();
                let semantics = fields.next().unwrap_or_default();
                let ssrcs: Option<Vec<u32>> = fields.map(|f| f.parse().ok()).collect();
                match (semantics, ssrcs) {
                    ("SIM", Some(ssrcs)) if ssrcs.len() >= 2 && sim.is_empty() => sim = ssrcs,
                    ("FID", Some(ssrcs)) if ssrcs.len() == 2 => fid.push((ssrcs[0], ssrcs[1])),
                    _ => {}
                }
            }
        }
        if let (Some(mid), false) = (mid, sim.is_empty()) {
            let layers = sim
                .iter()
                .map(|&main| {
                    let rtx = fid.iter().find(|(m, _)| *m == main).map(|&(_, r)| r);
                    (main, rtx)
                })
                .collect();
            found.push(SsrcSimulcast {
                mid: Mid::from(mid),
                layers,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape twilio-video.js gives a VP8 m-line when simulcast is asked for (its
    /// `simulcast` munging: a SIM group of three SSRCs, each with an RTX twin in a FID group).
    const SIM_MUNGED_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendrecv\r\na=ssrc:5 cname:x\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\na=sendonly\r\n\
        a=ssrc-group:FID 100 101\r\na=ssrc-group:SIM 100 200 300\r\n\
        a=ssrc-group:FID 200 201\r\na=ssrc-group:FID 300 301\r\na=ssrc:100 cname:x\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=sendonly\r\na=ssrc-group:SIM 7\r\n";

    #[test]
    fn sim_groups_give_their_layers_lowest_first_with_their_rtx() {
        assert_eq!(
            ssrc_simulcast(SIM_MUNGED_OFFER),
            vec![SsrcSimulcast {
                mid: Mid::from("1"),
                layers: vec![(100, Some(101)), (200, Some(201)), (300, Some(301))],
            }]
        );
        assert!(ssrc_simulcast(CHROME_STYLE_OFFER).is_empty());
    }

    const CHROME_STYLE_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0 1 2 3\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendrecv\r\na=msid:- mic-1\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=msid:- cam-1\r\na=sendonly\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=recvonly\r\na=msid:- stale\r\n\
        m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=msid:- rejected\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:4\r\n";

    #[test]
    fn only_sending_named_audio_and_video_lines_are_publications() {
        let tracks = sent_tracks(CHROME_STYLE_OFFER);
        assert_eq!(
            tracks,
            vec![
                SentTrack {
                    mid: Mid::from("0"),
                    kind: MediaKind::Audio,
                    track_id: "mic-1".into()
                },
                SentTrack {
                    mid: Mid::from("1"),
                    kind: MediaKind::Video,
                    track_id: "cam-1".into()
                },
            ]
        );
    }
}
