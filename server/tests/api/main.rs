//! Integration tests, compiled into one binary to save link time (one test binary instead of
//! one per file). Each test starts the real server on `127.0.0.1:0` — port 0 lets the OS pick a
//! free port, so tests run in parallel without clashing — and drives it over real HTTP, on
//! SQLite and on PostgreSQL (see `harness.rs`).

mod harness;
mod normalize;

mod audit;
mod authz_matrix;
mod cli;
mod concurrent_writes;
mod contract;
mod encryption;
mod errors;
mod groups;
mod hostile_auth;
mod hostile_connections;
mod identity;
mod lists;
mod observability;
mod secrets;
mod tfy;
mod token_cache;
