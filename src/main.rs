//! `pushtrace`: does Outlook's new-mail push notification reach the client? A thin command
//! line over `pushtrace-core`: arguments → options → engine → printer. It never parses packets.
//!
//! Exit codes: 0 every session `flowing` (or, for `info`/`rpc`, every input read);
//! 1 a session is blocked, dropped, refused, address_mismatch, not_registered or no_datagram;
//! 2 an input could not be read, or bad usage; 3 nothing to judge (`no_emsmdb` or only
//! `inconclusive`).

mod args;
mod evidence;
mod html;
mod print;
mod terminal;

use args::{Cli, Command, OutputFormat, ReportFormat};
use clap::Parser;
use pushtrace_core::engine::{self, AnalyzeOptions, InputFailure};
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use terminal::Terminal;

/// Exit code when an input could not be read at all, or the arguments are wrong.
const EXIT_UNREADABLE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // A closed pipe (`pushtrace analyze x | head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pushtrace: {e}");
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
}

fn run(cli: Cli) -> io::Result<u8> {
    let colour = cli.color;
    let mut out = io::stdout().lock();
    match cli.command {
        Command::Info(a) => {
            let (inputs, failures) = engine::inspect_paths(&a.files, &a.read_options());
            report_failures(&failures);
            match a.format {
                OutputFormat::Table => {
                    print::info_table(&mut out, &inputs, &Terminal::stdout(colour))?
                }
                OutputFormat::Json => print::json(
                    &mut out,
                    &serde_json::json!({ "schema": 1, "inputs": inputs }),
                )?,
            }
            out.flush()?;
            Ok(if failures.is_empty() {
                0
            } else {
                EXIT_UNREADABLE
            })
        }
        Command::Rpc(a) => {
            let mut opts = a.common.analyze_options();
            opts.collect_calls = true;
            let analysis = engine::analyze_paths(&a.common.files, &opts);
            report_failures(&analysis.failures);
            match a.format {
                OutputFormat::Table => {
                    print::rpc_tables(&mut out, &analysis, &Terminal::stdout(colour))?
                }
                OutputFormat::Json => print::json(
                    &mut out,
                    &serde_json::json!({
                        "schema": 1,
                        "inputs": analysis.report.inputs,
                        "binds": analysis.binds,
                        "calls": analysis.calls,
                        "statistics": analysis.rpc_statistics,
                        "endpoints": analysis.endpoints,
                    }),
                )?,
            }
            out.flush()?;
            Ok(if analysis.failures.is_empty() {
                0
            } else {
                EXIT_UNREADABLE
            })
        }
        Command::Analyze(a) => {
            let mut opts: AnalyzeOptions = a.common.analyze_options();
            let bar = (!a.common.no_progress && io::stderr().is_terminal())
                .then(print::ProgressBars::new);
            if let Some(bar) = &bar {
                opts.progress = Some(bar.callback());
            }
            let analysis = engine::analyze_inputs(&a.common.files, &opts);
            if let Some(bar) = bar {
                bar.finish();
            }
            report_failures(&analysis.failures);
            // EVIDENCE GLUE: the evidence capture is written here, before the report.
            let evidence_written = a
                .evidence
                .as_deref()
                .is_none_or(|dest| evidence::write(dest, &a, opts.read, &analysis.report));
            match a.format {
                ReportFormat::Table => {
                    print::analyze_table(&mut out, &analysis.report, &Terminal::stdout(colour))?
                }
                ReportFormat::Json => print::json(&mut out, &analysis.report)?,
                ReportFormat::Html => html::report(&mut out, &analysis.report)?,
            }
            out.flush()?;
            Ok(if analysis.failures.is_empty() && evidence_written {
                analysis.report.exit_code() as u8
            } else {
                EXIT_UNREADABLE
            })
        }
        Command::Check(a) => {
            let checked = engine::check_paths(&a.files);
            report_failures(&checked.failures);
            match a.format {
                OutputFormat::Table => {
                    print::check_table(&mut out, &checked, &Terminal::stdout(colour))?
                }
                OutputFormat::Json => print::json(
                    &mut out,
                    &serde_json::json!({
                        "schema": 1,
                        "findings": checked.findings,
                        "notes": checked.notes,
                        "inputs": checked.inputs,
                    }),
                )?,
            }
            out.flush()?;
            Ok(if !checked.failures.is_empty() {
                EXIT_UNREADABLE
            } else if checked.findings.is_empty() {
                0
            } else {
                1
            })
        }
    }
}

fn report_failures(failures: &[InputFailure]) {
    for f in failures {
        eprintln!("pushtrace: {}: {}", f.path, f.error);
    }
}
