//! Twilio's error codes, named once.
//!
//! Every surface of the workspace speaks Twilio's numbers: the emulator's REST face puts them in
//! Twilio's error JSON, signaling sends them to the SDK, the Twilio adapter reads them from
//! upstream answers, and the token verifier reports 20101–20107. They are defined here, and only
//! here, so the emulator, the adapter and the verifier cannot disagree on a number.
//!
//! Add a code: one `pub const` below, in numeric order, with a line saying when Twilio uses it
//! (the reference is <https://www.twilio.com/docs/api/errors>).

// REST generic (2xxxx).
/// Missing or invalid parameter (Twilio's generic 400; also `PageSize` and `VideoCodecs`).
pub const INVALID_PARAMETER: u32 = 20001;
/// Bad or missing credentials.
pub const AUTHENTICATE: u32 = 20003;
/// The HTTP method is not allowed on this resource.
pub const METHOD_NOT_ALLOWED: u32 = 20004;
/// The request is refused whatever the credentials (the emulator: a foreign web page's
/// `Origin`, or a `Host` name the server does not answer to).
pub const FORBIDDEN: u32 = 20403;
/// No such resource (HTTP 404).
pub const NOT_FOUND: u32 = 20404;
/// Too many requests (HTTP 429): Twilio throttling the account (documented as safe to retry),
/// or the emulator refusing a client over its connection cap.
pub const TOO_MANY_REQUESTS: u32 = 20429;
/// Something failed on the server's side.
pub const INTERNAL: u32 = 20500;
/// Service Unavailable: Twilio is overloaded or down for a moment (HTTP 503); retry later.
pub const SERVICE_UNAVAILABLE: u32 = 20503;
/// A `PageToken` the server did not issue.
pub const INVALID_PAGE_TOKEN: u32 = 21481;

// Access tokens (201xx), as Twilio's edge reports them.
/// Not a JWT at all (shape, base64 or JSON).
pub const TOKEN_INVALID: u32 = 20101;
/// The header is not `HS256` / `JWT` / `twilio-fpa;v=1`.
pub const TOKEN_HEADER_INVALID: u32 = 20102;
/// `iss` is not a known API key of the `sub` account.
pub const TOKEN_ISSUER_OR_SUBJECT_INVALID: u32 = 20103;
/// Expired, no `exp`, or a lifetime over 24 hours.
pub const TOKEN_EXPIRED: u32 = 20104;
/// `nbf` is in the future.
pub const TOKEN_NOT_YET_VALID: u32 = 20105;
/// No identity, an invalid identity, or no video grant.
pub const TOKEN_GRANTS_INVALID: u32 = 20106;
/// The signature does not match the key's secret.
pub const TOKEN_SIGNATURE_INVALID: u32 = 20107;

// Signaling (530xx).
/// The signaling connection was lost.
pub const SIGNALING_DISCONNECTED: u32 = 53001;
/// The client sent a message the server could not take.
pub const SIGNALING_OUTGOING_MESSAGE_INVALID: u32 = 53004;

// Rooms (531xx).
/// Room name is invalid (empty).
pub const ROOM_NAME_INVALID: u32 = 53100;
/// Room name is too long.
pub const ROOM_NAME_TOO_LONG: u32 = 53101;
/// Room name contains invalid characters.
pub const ROOM_NAME_INVALID_CHARACTERS: u32 = 53102;
/// Ad-hoc room creation failed.
pub const ROOM_CREATE_FAILED: u32 = 53103;
/// The room is full (the SDK's "Room contains too many Participants").
pub const ROOM_FULL: u32 = 53105;
/// No in-progress room to connect to (the SDK's "Room not found").
pub const ROOM_NOT_FOUND: u32 = 53106;
/// `MaxParticipants` outside 1 to the type's cap.
pub const MAX_PARTICIPANTS_OUT_OF_RANGE: u32 = 53107;
/// `Type` is not a room type.
pub const ROOM_TYPE_INVALID: u32 = 53108;
/// A timeout (`EmptyRoomTimeout`, `UnusedRoomTimeout`, `MaxParticipantDuration`) out of range.
pub const TIMEOUT_OUT_OF_RANGE: u32 = 53109;
/// `StatusCallbackMethod` is neither GET nor POST.
pub const STATUS_CALLBACK_METHOD_INVALID: u32 = 53110;
/// `StatusCallback` is not an absolute http(s) URL, or is too long.
pub const STATUS_CALLBACK_INVALID: u32 = 53111;
/// A room update to anything but `completed`, or of a room that is not in progress.
pub const ROOM_STATUS_INVALID: u32 = 53112;
/// An in-progress room already has this unique name.
pub const ROOM_EXISTS: u32 = 53113;
/// A creation parameter the room type does not support.
pub const PARAMETER_INCOMPATIBLE_WITH_TYPE: u32 = 53114;
/// `MediaRegion` is not one of Twilio's regions.
pub const MEDIA_REGION_INVALID: u32 = 53115;
/// The room completed (what the SDK shows when a room is completed under it).
pub const ROOM_COMPLETED: u32 = 53118;
/// Invalid recording rule(s): not a JSON array of rules, an empty array, over 20 rules, or a
/// rule with an unknown type, filter or value (HTTP 400).
pub const RECORDING_RULES_INVALID: u32 = 53120;
/// `AudioOnly` on a room type that does not support it.
pub const AUDIO_ONLY_UNSUPPORTED: u32 = 53124;

// Participants (532xx).
/// Participant identity is invalid (empty).
pub const IDENTITY_INVALID: u32 = 53200;
/// Participant identity is too long.
pub const IDENTITY_TOO_LONG: u32 = 53201;
/// Participant identity contains invalid characters.
pub const IDENTITY_INVALID_CHARACTERS: u32 = 53202;
/// The room's `max_concurrent_published_tracks` is reached.
pub const ROOM_TRACK_LIMIT_REACHED: u32 = 53203;
/// The participant was disconnected because the same identity connected again.
pub const DUPLICATE_IDENTITY: u32 = 53205;
/// A participant update to anything but `disconnected`.
pub const PARTICIPANT_STATUS_INVALID: u32 = 53209;
/// Invalid subscribe rule(s), the subscribe-rules counterpart of 53120 (HTTP 400).
pub const SUBSCRIBE_RULES_INVALID: u32 = 53215;

// Tracks (533xx).
/// The track is invalid.
pub const TRACK_INVALID: u32 = 53300;
/// The track name is too long (over 128 characters).
pub const TRACK_NAME_TOO_LONG: u32 = 53302;
/// The track name contains invalid characters.
pub const TRACK_NAME_INVALID_CHARACTERS: u32 = 53303;
/// Another track of the participant has this name.
pub const TRACK_NAME_DUPLICATED: u32 = 53304;

// Media (534xx).
/// The media server cannot apply the client's description (its offer or answer).
pub const MEDIA_SERVER_REMOTE_DESC_FAILED: u32 = 53404;
/// The media connection failed (here: the emulator's media server cannot serve the room).
pub const MEDIA_CONNECTION_FAILED: u32 = 53405;

/// `https://www.twilio.com/docs/errors/<code>`, the `more_info` of Twilio's error body.
pub fn more_info(code: u32) -> String {
    format!("https://www.twilio.com/docs/errors/{code}")
}
