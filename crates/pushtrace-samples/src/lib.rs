//! Builds pushtrace's sample captures. Each scenario drives a small deterministic network
//! simulation ([`net`]) with real DCE/RPC PDUs and EMSMDB stubs, and records the facts the
//! analysis must find (which frames hold the registration, the datagrams, ...).

pub mod net;
pub mod outlook;
pub mod rpc;
pub mod scenarios;
