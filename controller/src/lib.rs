//! The `mirrord-usage` program: its command line and the parts that run inside a cluster (the
//! report controller and the session source reading the mirrord operator).

pub mod cli;
pub mod controller;
pub mod delegated_auth;
pub mod demo;
pub mod lease;
pub mod period;
pub mod reconciler;
pub mod serve;
pub mod session_sources;
pub mod status;
