//! secret-groups: a secrets service speaking TrueFoundry's Secret Groups / Secrets REST API.
//!
//! The three arrows of the design are visible in the modules: the checked-in OpenAPI document
//! (`openapi/secret-groups.yaml`) is the contract; [`api`] implements it (and a test proves its
//! utoipa declarations equal the document); [`store`] persists on SQLite or PostgreSQL.

pub mod api;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod body_budget;
pub mod caller;
pub mod client_addr;
pub mod config;
pub mod conn;
pub mod crypto;
pub mod error;
pub mod key_admin;
pub mod key_file;
pub mod list_gate;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod ratelimit;
pub mod request_id;
pub mod sensitive;
pub mod server;
pub mod state;
pub mod store;
pub mod token_cache;
pub mod unlock;
