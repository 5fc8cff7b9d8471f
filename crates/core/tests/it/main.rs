//! Integration tests of `videoroom-core`: one test binary, one module per area (a single binary
//! links once, where a file per area would link the crate and its dependencies again each time).

mod token;
