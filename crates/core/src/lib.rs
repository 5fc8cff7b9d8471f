//! The domain of videoroom, free of I/O.
//!
//! This crate holds what is true of a Twilio Video token service whatever it talks to: the
//! validated domain types ([`Identity`], [`RoomName`], the SIDs, [`RoomType`]), Twilio-format
//! access tokens ([`token`]: minting and verification), the backend port ([`RoomBackend`]) and
//! the find-or-create use case ([`RoomService`]).
//!
//! It deliberately does no I/O and knows neither actix-web nor reqwest: time comes in as an
//! argument or from a [`Clock`] (reading the system clock in [`SystemClock`] is the one
//! exception), randomness as bytes, and backends are reached only through the port. That keeps
//! every rule here testable in microseconds and shared, unchanged, by the real Twilio adapter
//! and the emulator.

pub mod clock;
pub mod credentials;
pub mod identity;
pub mod port;
pub mod room;
pub mod service;
pub mod sid;
pub mod token;
pub mod twilio_codes;

#[cfg(feature = "contract")]
pub mod contract;

pub use clock::{Clock, SystemClock};
pub use identity::{Identity, IdentityError};
pub use port::{BackendError, RoomBackend, RoomKey, RoomPage, RoomQuery};
pub use room::{Room, RoomName, RoomNameError, RoomSpec, RoomStatus, RoomType, UnknownValue};
pub use service::RoomService;
pub use sid::{AccountSid, ApiKeySid, ParticipantSid, RoomSid, SidError, TrackSid};

#[cfg(feature = "mock")]
pub use port::MockRoomBackend;
