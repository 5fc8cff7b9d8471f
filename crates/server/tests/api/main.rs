//! Integration tests of `videoroom`: the real application on a free loopback port, spoken to
//! over HTTP, and the real binary for the CLI, the banner and signals.

mod access;
mod access_control;
mod backend_failures;
mod bad_requests;
mod cli;
mod config;
mod first_run;
mod forwarded_for;
mod helpers;
mod hostile;
mod hostile_table;
mod insecure_public;
mod lan;
mod properties;
mod readyz_idle;
mod secrets;
mod shutdown;
mod stampede;
mod token_requests;
mod twilio_mode;
mod upstream;
