//! What `pushtrace rpc` lists: every bind and call with its connection, interface,
//! operation, authentication and outcome, per-operation statistics, and what the endpoint
//! mapper said. Kept only when asked for, each list bounded by [`MAX_CALL_RECORDS`].

use super::facts::ndr_format;
use super::MAX_CALL_RECORDS;
use crate::dcerpc::interfaces::{self, EMSMDB_UUID};
use crate::dcerpc::{BindKind, RpcCall, RpcEvent};
use crate::emsmdb;
use crate::flow::{frame_input, frame_number};
use crate::report::{format_time, BindRecord, CallRecord, OperationStats};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Adds a record for `pushtrace rpc`, or counts it when [`MAX_CALL_RECORDS`] are kept.
pub(super) fn keep_record<T>(list: &mut Vec<T>, record: T, dropped: &mut u64) {
    if list.len() < MAX_CALL_RECORDS {
        list.push(record);
    } else {
        *dropped += 1;
    }
}

/// An interface's well-known name, or its UUID.
pub(super) fn interface_name(uuid: &uuid::Uuid) -> String {
    interfaces::interface_by_uuid(uuid).map_or_else(|| uuid.to_string(), |k| k.name.to_string())
}

/// The record `pushtrace rpc` lists for a bind, alter_context, their answers and bind_nak.
pub(super) fn bind_record(
    event: &RpcEvent,
    client: SocketAddr,
    server: SocketAddr,
) -> Option<BindRecord> {
    let (frame, pdu, interfaces, results) = match event {
        RpcEvent::Bind {
            kind,
            frame,
            contexts,
            ..
        } => {
            let pdu = if *kind == BindKind::Bind {
                "bind"
            } else {
                "alter_context"
            };
            let names = contexts
                .iter()
                .filter(|c| !c.is_bind_time_feature_negotiation())
                .map(|c| interface_name(&c.interface.uuid))
                .collect();
            (*frame, pdu, names, Vec::new())
        }
        RpcEvent::BindAck {
            kind,
            frame,
            results,
            ..
        } => {
            let pdu = if *kind == BindKind::Bind {
                "bind_ack"
            } else {
                "alter_context_resp"
            };
            let names = results
                .iter()
                .map(|r| {
                    r.interface
                        .map_or_else(|| "unknown".into(), |i| interface_name(&i.uuid))
                })
                .collect();
            let outcomes = results
                .iter()
                .map(|r| format!("{:?}", r.result).to_lowercase())
                .collect();
            (*frame, pdu, names, outcomes)
        }
        RpcEvent::BindNak { frame, reason, .. } => (
            *frame,
            "bind_nak",
            Vec::new(),
            vec![format!("reason {reason}")],
        ),
        RpcEvent::Call(_) | RpcEvent::Warning(_) => return None,
    };
    Some(BindRecord {
        input: frame_input(frame),
        frame: frame_number(frame),
        connection: format!(
            "{} -> {}",
            emsmdb::endpoint(client.ip(), client.port()),
            emsmdb::endpoint(server.ip(), server.port())
        ),
        pdu,
        interfaces,
        results,
    })
}

fn auth_level_name(level: Option<u8>, not_captured: bool) -> &'static str {
    match level {
        None if not_captured => "not captured",
        None | Some(1) => "none",
        Some(2) => "connect",
        Some(3) => "call",
        Some(4) => "packet",
        Some(5) => "integrity",
        Some(6) => "privacy",
        Some(_) => "unknown",
    }
}

pub(super) fn call_record(
    call: &RpcCall,
    client: SocketAddr,
    server: SocketAddr,
    inferred: bool,
) -> CallRecord {
    let emsmdb_iface = inferred || call.interface.is_some_and(|i| i.uuid == EMSMDB_UUID);
    let interface = if inferred {
        Some("EMSMDB".to_string())
    } else {
        call.interface
            .map(|i| i.name.map_or_else(|| i.uuid.to_string(), str::to_string))
    };
    let operation = if inferred {
        interfaces::operation_name(&EMSMDB_UUID, call.opnum)
    } else {
        call.operation_name()
    };
    let status = match (call.fault_status, &call.response) {
        (Some(f), _) => format!(
            "fault 0x{f:08x} {}",
            interfaces::fault_status_name(f).unwrap_or("")
        )
        .trim_end()
        .to_string(),
        (None, None) => "no response".into(),
        (None, Some(r)) if r.encrypted => "ok (sealed)".into(),
        (None, Some(r)) => match r
            .complete_bytes()
            .filter(|_| emsmdb_iface)
            .and_then(|b| emsmdb::trailing_return_code(b, ndr_format(r, call)))
        {
            Some(0) => "ok".into(),
            Some(code) => format!(
                "0x{code:08x} {}",
                emsmdb::return_code_name(code).unwrap_or("")
            )
            .trim_end()
            .to_string(),
            None => "ok".into(),
        },
    };
    let input = frame_input(call.request_frame);
    CallRecord {
        input,
        request_frame: frame_number(call.request_frame),
        response_frame: call.response_frame.map(frame_number),
        response_input: call.response_frame.map(frame_input).filter(|&i| i != input),
        time: format_time(call.request_ts_ns),
        connection: format!(
            "{} -> {}",
            emsmdb::endpoint(client.ip(), client.port()),
            emsmdb::endpoint(server.ip(), server.port())
        ),
        interface,
        interface_uuid: if inferred {
            Some(EMSMDB_UUID.to_string())
        } else {
            call.interface.map(|i| i.uuid.to_string())
        },
        interface_inferred: inferred,
        context_id: call.context_id,
        call_id: call.call_id,
        opnum: call.opnum,
        operation: operation.map(str::to_string),
        auth_level: call.auth_level,
        auth_level_name: auth_level_name(call.auth_level, call.auth_not_captured).to_string(),
        status,
        response_time_ms: call
            .response_ts_ns
            .map(|t| t.saturating_sub(call.request_ts_ns) as f64 / 1e6),
        request_stub_len: call.request.len,
    }
}

/// Per (interface, opnum) counts and response times over the call records.
pub(super) fn operation_stats(calls: &[CallRecord]) -> Vec<OperationStats> {
    let mut groups: BTreeMap<(String, u16), (OperationStats, f64)> = BTreeMap::new();
    for c in calls {
        let interface = c.interface.clone().unwrap_or_else(|| "unknown".into());
        let (stats, sum_ms) = groups
            .entry((interface.clone(), c.opnum))
            .or_insert_with(|| {
                let operation = c
                    .operation
                    .clone()
                    .unwrap_or_else(|| format!("opnum {}", c.opnum));
                let empty = OperationStats {
                    interface,
                    operation,
                    opnum: c.opnum,
                    calls: 0,
                    answered: 0,
                    min_srt_ms: None,
                    max_srt_ms: None,
                    avg_srt_ms: None,
                };
                (empty, 0.0)
            });
        stats.calls += 1;
        if let Some(ms) = c.response_time_ms {
            stats.answered += 1;
            *sum_ms += ms;
            stats.min_srt_ms = Some(stats.min_srt_ms.map_or(ms, |m| m.min(ms)));
            stats.max_srt_ms = Some(stats.max_srt_ms.map_or(ms, |m| m.max(ms)));
            stats.avg_srt_ms = Some(*sum_ms / stats.answered as f64);
        }
    }
    groups.into_values().map(|(stats, _)| stats).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_level_names_tell_an_absent_level_from_one_the_capture_lost() {
        assert_eq!(auth_level_name(None, false), "none");
        assert_eq!(auth_level_name(None, true), "not captured");
        assert_eq!(auth_level_name(Some(6), true), "privacy");
        assert_eq!(auth_level_name(Some(2), false), "connect");
        assert_eq!(auth_level_name(Some(9), false), "unknown");
    }
}
