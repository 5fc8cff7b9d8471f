//! Integration tests of `videoroom-twilio-adapter`: one test binary, one module per area (a
//! single binary links once, where a file per area would link the emulator again each time).

mod contract;
mod http;
