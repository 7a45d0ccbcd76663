//! The pushtrace engine: from captured frames to a verdict on Outlook's new-mail push
//! notifications (EMSMDB `EcRRegisterPushNotification` + UDP datagrams).
//!
//! The pipeline runs one way, one module per stage:
//!
//! ```text
//! capture (pushtrace-capture) → decode → tcp → dcerpc → emsmdb → correlate → report
//!                                  ├────── vantage (where the capture was taken) ─┤
//!                                  └────── matcher (the packets views share) ─────┘
//! ```
//!
//! Every stage is sans-IO: it takes bytes or events and returns events, so it can be tested
//! on byte arrays and fuzzed. The engine never prints; warnings are data in the report.

#![forbid(unsafe_code)]

pub mod correlate;
pub mod dcerpc;
pub mod decode;
pub mod emsmdb;
pub mod engine;
pub mod flow;
pub mod matcher;
pub mod report;
pub mod tcp;
pub mod vantage;

pub use pushtrace_capture as capture;
pub use pushtrace_capture::{Frame, LinkType, Warning};
pub use pushtrace_config as config;
