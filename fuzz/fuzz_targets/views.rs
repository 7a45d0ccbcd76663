//! Two captures fed side by side through `TraceAnalyzer`: packet matching, the clock
//! estimate and the merging of views, on arbitrary frames and clocks. See
//! `pushtrace_fuzz::run_views` for the layout.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pushtrace_fuzz::run_views(data);
});
