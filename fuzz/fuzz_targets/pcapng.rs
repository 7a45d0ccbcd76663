//! pcapng reader: the input is the file after its Section Header Block type. The file is
//! read from memory and as a stream of short reads; both paths must agree (formats.md §2).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtrace_fuzz::{read_both_ways, PCAPNG_SHB};

fuzz_target!(|data: &[u8]| {
    let mut file = PCAPNG_SHB.to_vec();
    file.extend_from_slice(data);
    read_both_ways(file);
});
