//! `pushtrace-attack KIND N FILE`: writes the hostile capture KIND at scale N as a pcap file
//! (see `pushtrace_samples::attack`). Used by `scripts/attack.sh`.

use anyhow::{bail, Context, Result};
use pushtrace_samples::attack::Attack;
use std::io::BufWriter;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, n, path] = &args[..] else {
        let kinds: Vec<&str> = Attack::ALL.iter().map(|a| a.name()).collect();
        bail!(
            "usage: pushtrace-attack KIND N FILE  (KIND: {})",
            kinds.join(", ")
        );
    };
    let attack = Attack::from_name(kind).with_context(|| format!("unknown attack {kind:?}"))?;
    let n: u64 = n.parse().with_context(|| format!("bad scale {n:?}"))?;
    let file = std::fs::File::create(path).with_context(|| format!("creating {path}"))?;
    let frames = attack.write(n, BufWriter::with_capacity(1 << 20, file))?;
    println!("{path}: {} at scale {n}, {frames} frames", attack.name());
    Ok(())
}
