//! Frames of any link type through the whole `Analyzer`: chunks split on `FUZZ`, each a
//! link-type selector byte then the frame's bytes (decode, IP defragmentation, ICMP, UDP, TCP
//! and everything behind it). See `pushtrace_fuzz::FRAME_LINKS`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pushtrace_fuzz::run_frames(data);
});
