//! Integration tests of `videoroom-emulator-adapter`: one test binary, one module per area (a
//! single binary links once, where a file per area would link the crate again each time).

mod contract;
mod store;
