//! `pushtrace-samples [DIR]`: writes every sample capture and its expectation file into DIR
//! (default `samples/`), and the configuration samples into `DIR/config/`. The output is
//! byte-for-byte deterministic; the test suite checks that the committed samples equal what
//! this program writes.

use anyhow::{Context, Result};
use std::path::PathBuf;

fn main() -> Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("samples"), PathBuf::from);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let samples = pushtrace_samples::render_all()?;
    let readme = dir.join("README.md");
    std::fs::write(&readme, pushtrace_samples::readme(&samples))
        .with_context(|| format!("writing {}", readme.display()))?;
    for sample in samples {
        for (name, bytes) in &sample.files {
            let path = dir.join(name);
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            println!("{} ({} bytes)", path.display(), bytes.len());
        }
        let expect = dir.join(&sample.expect_name);
        std::fs::write(&expect, &sample.expect)
            .with_context(|| format!("writing {}", expect.display()))?;
    }
    let config = dir.join("config");
    std::fs::create_dir_all(&config).with_context(|| format!("creating {}", config.display()))?;
    for (name, bytes) in pushtrace_samples::config::files()? {
        let path = config.join(name);
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}
