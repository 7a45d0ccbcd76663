//! What the output goes to: how wide it may be and whether it may be coloured.

use crate::args::ColorWhen;
use anstyle::{AnsiColor, Style};
use pushtrace_core::report::Verdict;
use std::io::{self, IsTerminal};

/// Width used when standard output is not a terminal and `COLUMNS` is not set: a report
/// pasted into a ticket or mail stays readable.
const DEFAULT_WIDTH: usize = 100;

/// Narrowest width honoured: below it wrapping does more harm than good.
const MIN_WIDTH: usize = 40;

/// The terminal (or file) the tables and text are laid out for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    /// Columns available to each line.
    pub width: usize,
    /// Whether to write ANSI colours.
    pub colour: bool,
}

impl Terminal {
    /// Standard output as it is: `COLUMNS` when set, else the terminal's width, else
    /// [`DEFAULT_WIDTH`]; colours as `when` says, `auto` following `NO_COLOR`,
    /// `CLICOLOR_FORCE` and `TERM=dumb` on a terminal (the anstream conventions).
    pub fn stdout(when: ColorWhen) -> Self {
        let stdout = io::stdout();
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok())
            .or_else(|| {
                stdout
                    .is_terminal()
                    .then(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
                    .flatten()
            })
            .unwrap_or(DEFAULT_WIDTH)
            .max(MIN_WIDTH);
        let colour = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => !matches!(
                anstream::AutoStream::choice(&stdout),
                anstream::ColorChoice::Never
            ),
        };
        Terminal { width, colour }
    }

    /// `text` in `style` when colouring, as is otherwise.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if self.colour {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// A verdict's name, coloured by how bad it is.
    pub fn verdict(&self, v: Verdict) -> String {
        self.paint(verdict_style(v), v.as_str())
    }

    /// `text` wrapped at spaces to the width, the first line starting with `first`, the
    /// others with `rest` (a hanging indent). Paths, addresses and registry keys are never
    /// split at a `-` or `/`; only a word longer than a whole line is broken. ANSI colours
    /// take no width.
    pub fn wrap(&self, text: &str, first: &str, rest: &str) -> String {
        let options = textwrap::Options::new(self.width)
            .initial_indent(first)
            .subsequent_indent(rest)
            .word_separator(textwrap::WordSeparator::AsciiSpace)
            .word_splitter(textwrap::WordSplitter::NoHyphenation)
            .break_words(true);
        textwrap::fill(text, options)
    }
}

/// Green when push works, yellow when nothing decides, red (bold) for a problem.
pub fn verdict_style(v: Verdict) -> Style {
    let colour = match v {
        Verdict::Flowing => AnsiColor::Green,
        Verdict::Inconclusive | Verdict::NoEmsmdb => AnsiColor::Yellow,
        _ => AnsiColor::Red,
    };
    let style = Style::new().fg_color(Some(colour.into()));
    if v.exit_code() == 1 {
        style.bold()
    } else {
        style
    }
}

/// Section headings: bold.
pub const HEADING: Style = Style::new().bold();

/// Warnings: yellow.
pub const WARNING: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));

/// Errors: red, bold.
pub const ERROR: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)))
    .bold();
