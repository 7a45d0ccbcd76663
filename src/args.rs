//! Command-line arguments (clap derive) and their translation into engine options.

use clap::{Args, Parser, Subcommand, ValueEnum};
use pushtrace_core::capture::ReadOptions;
use pushtrace_core::engine::{AnalyzeOptions, TraceMode};
use std::path::PathBuf;

/// Tells from a packet capture whether Outlook's new-mail push notifications reach the client.
#[derive(Debug, Parser)]
#[command(name = "pushtrace", version, about, long_about = None)]
pub struct Cli {
    /// When to colour the output: `auto` colours a terminal unless `NO_COLOR` is set.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// When to colour the output (as ripgrep and most tools spell it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless `NO_COLOR` is set or `TERM` is `dumb`.
    Auto,
    /// Always, even into a pipe or file.
    Always,
    /// Never.
    Never,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Judge push notifications per Outlook client and Exchange server (the main job).
    Analyze(AnalyzeArgs),
    /// List the DCE/RPC calls found, with per-operation counts and response times.
    Rpc(RpcArgs),
    /// Describe capture files: format, link types, frames, times, warnings.
    Info(InfoArgs),
    /// Check configuration artefacts: registry exports, EnumProt output, Outlook client logs.
    Check(CheckArgs),
}

/// `pushtrace check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Registry exports (.reg from regedit or `reg export`), EnumProt output, DPMon/Outlook
    /// client logs, told apart by their content.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Output format of `info` and `rpc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    Table,
    /// One JSON document (schema in docs/json-schema.md).
    Json,
}

/// Output format of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Human-readable tables that fit the terminal.
    Table,
    /// One JSON document (schema in docs/json-schema.md).
    Json,
    /// One self-contained HTML page with a timeline per session.
    Html,
}

/// Options shared by every subcommand that reads captures.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Offset of the capturing host's clock from UTC for Network Monitor files older than
    /// 2.3, whose times are local with no zone: `+02:00`, `-5`, `0` (default: treat as UTC).
    #[arg(long, value_name = "±HH:MM", value_parser = parse_utc_offset, allow_hyphen_values = true, default_value = "0")]
    pub netmon_utc_offset: i64,
}

impl ReadArgs {
    fn read_options(&self) -> ReadOptions {
        ReadOptions {
            netmon_utc_offset_secs: self.netmon_utc_offset,
        }
    }
}

/// `pushtrace info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[command(flatten)]
    read: ReadArgs,
    /// Capture files (pcap, pcapng, Network Monitor; gzip/zstd allowed); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

impl InfoArgs {
    /// Reader options from the arguments.
    pub fn read_options(&self) -> ReadOptions {
        self.read.read_options()
    }
}

/// `pushtrace analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Also write the frames the report cites (with the handshakes and binds Wireshark needs
    /// to dissect them) to this pcapng file, each with a comment saying what it shows.
    #[arg(long, value_name = "FILE.pcapng")]
    pub evidence: Option<PathBuf>,
    /// Limit the evidence capture to the sessions of this client IP.
    #[arg(long, value_name = "CLIENT", requires = "evidence")]
    pub session: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `pushtrace rpc`.
#[derive(Debug, Args)]
pub struct RpcArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Options of every subcommand that analyses traffic.
#[derive(Debug, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    read: ReadArgs,
    /// Never show a progress bar (it is shown only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Most TCP connections followed at once (idle ones are evicted first).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Most out-of-order bytes buffered per TCP direction.
    #[arg(long, value_name = "BYTES")]
    pub max_out_of_order: Option<usize>,
    /// Most stub bytes kept per DCE/RPC call.
    #[arg(long, value_name = "BYTES")]
    pub max_stub: Option<usize>,
    /// Input files analysed at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// The inputs are one trace: chain files that follow each other in time, whatever the
    /// gap or the connections at their edges, and match simultaneous ones as capture points.
    #[arg(long, conflicts_with = "separate")]
    pub one_trace: bool,
    /// Judge every input alone (no chains of files, no capture points).
    #[arg(long)]
    pub separate: bool,
    /// Capture files (pcap, pcapng, Network Monitor; gzip/zstd allowed; `-` reads standard
    /// input) and, for `analyze`, configuration artefacts as `check` reads them.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

impl CommonArgs {
    /// Engine options from the arguments.
    pub fn analyze_options(&self) -> AnalyzeOptions {
        let mut opts = AnalyzeOptions {
            read: self.read.read_options(),
            ..AnalyzeOptions::default()
        };
        if let Some(n) = self.max_connections {
            opts.limits.tcp.max_connections = n;
        }
        if let Some(n) = self.max_out_of_order {
            opts.limits.tcp.max_ooo_bytes_per_direction = n;
        }
        if let Some(n) = self.max_stub {
            opts.limits.rpc.max_stub_len = n;
        }
        if let Some(n) = self.jobs {
            opts.threads = n.max(1);
        }
        opts.traces = match (self.one_trace, self.separate) {
            (true, _) => TraceMode::OneTrace,
            (_, true) => TraceMode::Separate,
            _ => TraceMode::Auto,
        };
        opts
    }
}

/// Parses `+02:00`, `-05:30`, `+2`, `-5`, `0` into seconds east of UTC.
fn parse_utc_offset(s: &str) -> Result<i64, String> {
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i64 = h
        .parse()
        .map_err(|_| format!("bad hours in UTC offset {s:?}"))?;
    let m: i64 = m
        .parse()
        .map_err(|_| format!("bad minutes in UTC offset {s:?}"))?;
    if h > 14 || m >= 60 {
        return Err(format!("UTC offset {s:?} is out of range"));
    }
    Ok(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn utc_offsets() {
        assert_eq!(parse_utc_offset("+02:00"), Ok(7200));
        assert_eq!(parse_utc_offset("-05:30"), Ok(-19800));
        assert_eq!(parse_utc_offset("-5"), Ok(-18000));
        assert_eq!(parse_utc_offset("0"), Ok(0));
        assert!(parse_utc_offset("+25").is_err());
        assert!(parse_utc_offset("x").is_err());
    }
}
