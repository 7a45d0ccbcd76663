//! Network Monitor reader: a selector byte picks the 1.x or 2.x signature, the rest is the
//! file after it. Read with [`NetMonReader`] directly and through
//! `CaptureReader::from_bytes`; both must yield the same frames (formats.md §3).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtrace_capture::netmon::NetMonReader;
use pushtrace_capture::{CaptureReader, ReadOptions};
use pushtrace_fuzz::{drain, NETMON_MAGICS};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut file = NETMON_MAGICS[usize::from(selector & 1)].to_vec();
    file.extend_from_slice(rest);
    // The capturing host's UTC offset only shifts header times of old versions; a selector
    // bit tries a large one so the time arithmetic meets its edges.
    let utc_offset_secs = if selector & 2 != 0 { -50_400 } else { 0 };

    let mut direct = Vec::new();
    if let Ok(mut reader) = NetMonReader::new(&file, utc_offset_secs) {
        let _ = (
            reader.version(),
            reader.times_are_local(),
            reader.frame_count(),
        );
        while let Some(frame) = reader.next_frame(&file) {
            direct.push((frame.number, frame.ts_ns, frame.link, frame.data.to_vec()));
        }
        let _ = reader.take_warnings();
    }
    let options = ReadOptions {
        netmon_utc_offset_secs: utc_offset_secs,
    };
    if let Ok(mut reader) = CaptureReader::from_bytes(file, &options) {
        let (frames, _) = drain(&mut reader);
        let via_reader: Vec<_> = frames
            .into_iter()
            .map(|f| (f.number, f.ts_ns, f.link, f.data))
            .collect();
        assert_eq!(direct, via_reader, "NetMonReader and CaptureReader differ");
    }
});
