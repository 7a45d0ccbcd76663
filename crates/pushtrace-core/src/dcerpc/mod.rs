//! DCE/RPC over TCP (ncacn_ip_tcp, connection-oriented): the stage between TCP reassembly and
//! the EMSMDB decoder (protocol.md §1).
//!
//! * [`interfaces`]: the well-known interface, opnum and fault status tables.

pub mod interfaces;
