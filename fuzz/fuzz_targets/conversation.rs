//! The whole pipeline on a two-way conversation (Zeek's FuzzBuffer idea): two control bytes,
//! then chunks split on `FUZZ` that alternate client → server and server → client. The
//! chunks go straight into one `RpcConnection`, then, as TCP segments in Ethernet frames
//! built by the samples simulator (handshake, reordering, retransmission, loss and FIN as the
//! control bytes say), through the whole `Analyzer`. See `pushtrace_fuzz::ConversationOptions`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pushtrace_fuzz::run_conversation(data);
});
