//! Classic pcap reader: a selector byte picks one of the four magic numbers, the rest is the
//! file after its magic. The file is read from memory and as a stream of short reads; both
//! paths must agree (formats.md §1).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtrace_fuzz::{read_both_ways, PCAP_MAGICS};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut file = PCAP_MAGICS[usize::from(selector) % PCAP_MAGICS.len()].to_vec();
    file.extend_from_slice(rest);
    read_both_ways(file);
});
