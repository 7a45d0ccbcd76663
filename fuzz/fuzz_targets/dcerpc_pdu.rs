//! DCE/RPC connection-oriented PDUs: the sans-IO framer ([`frame_pdu`]), the header heuristic
//! and the typed parser ([`parse_pdu`]) on arbitrary bytes, with the framer's contract
//! checked (protocol.md §1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtrace_core::dcerpc::pdu::{
    check_header_prefix, frame_pdu, looks_like_pdu_header, parse_pdu, Framing, Header,
};

const COMMON_HEADER_LEN: usize = 16;

fuzz_target!(|data: &[u8]| {
    let looks = looks_like_pdu_header(data);
    let prefix_ok = check_header_prefix(data).is_ok();
    assert_eq!(looks, prefix_ok && data.len() >= COMMON_HEADER_LEN);
    match frame_pdu(data) {
        Framing::Complete { len } => {
            assert!(looks, "a complete PDU starts with a plausible header");
            assert!((COMMON_HEADER_LEN..=data.len()).contains(&len));
            let header = Header::parse(data).expect("a framed PDU has a header");
            assert_eq!(usize::from(header.frag_length), len);
            let whole = parse_pdu(data);
            assert_eq!(
                whole,
                parse_pdu(&data[..len]),
                "bytes after frag_length are ignored"
            );
        }
        Framing::NeedMore { needed } => {
            assert!(needed > 0);
            assert!(prefix_ok);
            assert!(parse_pdu(data).is_err(), "an incomplete PDU does not parse");
        }
        Framing::Invalid(_) => {
            assert!(!prefix_ok);
            assert!(parse_pdu(data).is_err());
        }
    }
});
