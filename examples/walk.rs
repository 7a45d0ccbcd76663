//! `walk [--stage STAGE] FILE`: one timed pass of a pipeline stage over a capture, for
//! `scripts/bench.sh`. The default stage, `walk`, only iterates the frames (the floor every
//! other stage is compared with); `decode`, `tcp`, `engine` and `analyze` add the later
//! stages (see `benches/support/stages.rs`). Prints one JSON line: stage, frames, bytes,
//! seconds, MB/s, frames/s.
//!
//! Build with `cargo build --release --example walk`; run `target/release/examples/walk`.

#[path = "../benches/support/stages.rs"]
mod stages;

use stages::Stage;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut stage = Stage::Walk;
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stage" => match args.next().as_deref().and_then(Stage::from_name) {
                Some(s) => stage = s,
                None => return usage(),
            },
            _ if file.is_none() && !arg.starts_with("--") => file = Some(PathBuf::from(arg)),
            _ => return usage(),
        }
    }
    let Some(file) = file else {
        return usage();
    };
    let bytes = std::fs::metadata(&file).map_or(0, |m| m.len());
    let started = Instant::now();
    let pass = match stages::run(stage, &file) {
        Ok(pass) => pass,
        Err(e) => {
            eprintln!("walk: {e}");
            return ExitCode::from(2);
        }
    };
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "{{\"stage\":\"{}\",\"frames\":{},\"bytes\":{},\"seconds\":{:.6},\"mb_per_s\":{:.1},\"frames_per_s\":{:.0},\"check\":{}}}",
        stage.name(),
        pass.frames,
        bytes,
        secs,
        bytes as f64 / 1e6 / secs,
        pass.frames as f64 / secs,
        pass.check
    );
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
    eprintln!("usage: walk [--stage {}] FILE", names.join("|"));
    ExitCode::from(2)
}
