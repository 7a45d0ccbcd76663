//! A session's timeline: an inline SVG with one lane per kind of event on a shared time
//! axis, each mark with a `<title>` saying what it is, its frame and its time, then a legend.

use super::time::{self, SECOND};
use super::Cite;
use maud::{html, Markup};
use pushtrace_core::report::{
    format_time, Datagram, IcmpError, Reaction, Registration, SeenAt, Session,
};

/// Width of the drawing in SVG units (it scales to the page).
const WIDTH: f64 = 1000.0;
/// Left edge of the plot: the lane labels stand left of it.
const PLOT_LEFT: f64 = 170.0;
/// Right edge of the plot: room for the last tick's label.
const PLOT_RIGHT: f64 = WIDTH - 45.0;
/// Height of one lane.
const LANE_HEIGHT: f64 = 30.0;
/// Room under the lanes for the axis, its labels and the start time.
const AXIS_HEIGHT: f64 = 46.0;
/// Shortest span an axis covers, in microseconds, when its marks are not all at one instant
/// (those get a second).
const MIN_SPAN: i64 = 1000;

/// The rows of the timeline, top to bottom; each link joins neighbouring lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Registration,
    Icmp,
    Datagrams,
    Reactions,
    Calls,
}

impl Lane {
    /// Every lane, in drawing order.
    const ALL: [Lane; 5] = [
        Lane::Registration,
        Lane::Icmp,
        Lane::Datagrams,
        Lane::Reactions,
        Lane::Calls,
    ];

    /// The label left of the lane.
    fn label(self) -> &'static str {
        match self {
            Lane::Registration => "push registration",
            Lane::Icmp => "ICMP errors",
            Lane::Datagrams => "notification datagrams",
            Lane::Reactions => "client reactions",
            Lane::Calls => "client ROP calls",
        }
    }

    /// The top of the lane.
    fn top(self) -> f64 {
        LANE_HEIGHT * self as usize as f64
    }

    /// The middle of the lane, where its marks sit.
    fn y(self) -> f64 {
        self.top() + LANE_HEIGHT / 2.0
    }
}

/// What a mark stands for: its lane, shape, colour and legend entry. The order is the
/// legend's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Registered,
    RegistrationFailed,
    RegistrationUnanswered,
    Unregistration,
    Icmp,
    Reacted,
    NoReaction,
    NotCounted,
    NotCovered,
    Reaction,
    Call,
}

/// The glyphs marks are drawn with.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Square,
    Cross,
    Triangle,
    Circle,
    Diamond,
    Tick,
}

/// How a [`Kind`] is drawn and explained.
struct Look {
    lane: Lane,
    shape: Shape,
    /// CSS class giving the colour (see `style.css`).
    colour: &'static str,
    /// The legend's words.
    legend: &'static str,
}

impl Kind {
    /// How this kind is drawn and explained.
    fn look(self) -> Look {
        let (lane, shape, colour, legend) = match self {
            Kind::Registered => (
                Lane::Registration,
                Shape::Square,
                "c-info",
                "registration succeeded",
            ),
            Kind::RegistrationFailed => (
                Lane::Registration,
                Shape::Square,
                "c-bad",
                "registration refused or faulted",
            ),
            Kind::RegistrationUnanswered => (
                Lane::Registration,
                Shape::Square,
                "c-muted",
                "registration, outcome not captured",
            ),
            Kind::Unregistration => (
                Lane::Registration,
                Shape::Cross,
                "c-muted",
                "unregistration",
            ),
            Kind::Icmp => (
                Lane::Icmp,
                Shape::Triangle,
                "c-bad",
                "ICMP destination unreachable",
            ),
            Kind::Reacted => (
                Lane::Datagrams,
                Shape::Circle,
                "c-ok",
                "datagram the client reacted to",
            ),
            Kind::NoReaction => (
                Lane::Datagrams,
                Shape::Circle,
                "c-bad",
                "datagram with no reaction",
            ),
            Kind::NotCounted => (
                Lane::Datagrams,
                Shape::Circle,
                "c-muted",
                "datagram not counted (capture ended, or client silent after it)",
            ),
            Kind::NotCovered => (
                Lane::Datagrams,
                Shape::Circle,
                "c-warn",
                "datagram ignored (not the registered context, or no registration covers it)",
            ),
            Kind::Reaction => (
                Lane::Reactions,
                Shape::Diamond,
                "c-ok",
                "the client's reacting EMSMDB call",
            ),
            Kind::Call => (Lane::Calls, Shape::Tick, "c-call", "client ROP call (poll)"),
        };
        Look {
            lane,
            shape,
            colour,
            legend,
        }
    }

    /// The kind of a registration mark, from its outcome.
    fn of_registration(r: &Registration) -> Kind {
        match (r.status, r.fault) {
            (_, Some(_)) => Kind::RegistrationFailed,
            (Some(0), None) => Kind::Registered,
            (Some(_), None) => Kind::RegistrationFailed,
            (None, None) => Kind::RegistrationUnanswered,
        }
    }

    /// The kind of a datagram mark, from what the client did after it.
    fn of_datagram(d: &Datagram) -> Kind {
        match d.reaction {
            Reaction::Reacted => Kind::Reacted,
            Reaction::NoReaction => Kind::NoReaction,
            Reaction::CaptureEnded | Reaction::ClientSilent => Kind::NotCounted,
            Reaction::Ignored | Reaction::Unregistered => Kind::NotCovered,
        }
    }
}

/// One mark: what, when (µs since the epoch), and the tooltip naming it.
struct Mark {
    kind: Kind,
    at: i64,
    title: String,
}

/// A line between related marks: a datagram and the client's reaction, an ICMP error and
/// the datagram it quotes.
struct Link {
    from: (Lane, i64),
    to: (Lane, i64),
    colour: &'static str,
}

/// Everything a session's timeline draws.
#[derive(Default)]
struct Marks {
    marks: Vec<Mark>,
    links: Vec<Link>,
    /// Events whose time could not be read: not drawn, but counted in the caption.
    undated: usize,
}

impl Marks {
    /// The marks and links of a session.
    fn of(s: &Session, cite: &Cite) -> Marks {
        let mut m = Marks::default();
        for r in &s.registrations {
            let title = tooltip(
                "Registration",
                &cite.frame(r.input, r.request_frame),
                &r.time,
                &registration_detail(r, cite),
            );
            m.add(Kind::of_registration(r), &r.time, title);
        }
        let unregistration = ("Unregistration", "EcRUnregisterPushNotification");
        m.add_calls(
            Kind::Unregistration,
            unregistration,
            &s.unregistrations,
            cite,
        );
        for d in &s.datagrams {
            m.add_datagram(d, cite);
        }
        for e in &s.icmp_errors {
            m.add_icmp(e, s, cite);
        }
        let call = ("ROP call", "EMSMDB call from the client");
        m.add_calls(Kind::Call, call, &s.polling.shown, cite);
        m
    }

    /// A mark of `kind` for each of the client's `calls`, titled `(what, detail)`.
    fn add_calls(&mut self, kind: Kind, words: (&str, &str), calls: &[SeenAt], cite: &Cite) {
        for c in calls {
            let title = tooltip(words.0, &cite.frame(c.input, c.frame), &c.time, words.1);
            self.add(kind, &c.time, title);
        }
    }

    /// Adds a mark at the report time `time`; returns that time, or counts the event as
    /// undated when the time cannot be read.
    fn add(&mut self, kind: Kind, time: &str, title: String) -> Option<i64> {
        let at = time::parse_micros(time);
        match at {
            Some(at) => self.marks.push(Mark { kind, at, title }),
            None => self.undated += 1,
        }
        at
    }

    /// A datagram, and the client's reaction to it linked to it when there was one.
    fn add_datagram(&mut self, d: &Datagram, cite: &Cite) {
        let seen = if d.seen_at.len() > 1 {
            let points: Vec<String> = d
                .seen_at
                .iter()
                .map(|p| {
                    format!(
                        "{} ({})",
                        cite.frame(p.input, p.frame),
                        time::readable(&p.time)
                    )
                })
                .collect();
            format!("; seen at {}", points.join(", "))
        } else {
            String::new()
        };
        let detail = format!(
            "{} → {}, {} bytes; {}{seen}",
            d.from,
            d.to,
            d.len,
            reaction_text(d.reaction)
        );
        let title = tooltip("Datagram", &cite.frame(d.input, d.frame), &d.time, &detail);
        let Some(at) = self.add(Kind::of_datagram(d), &d.time, title) else {
            return;
        };
        let (Some(frame), Some(delay_ms)) = (d.reaction_frame, d.reaction_delay_ms) else {
            return;
        };
        let reaction_at = at.saturating_add((delay_ms * 1000.0).round() as i64);
        let title = tooltip(
            "Client reaction",
            &cite.frame(d.reaction_input.unwrap_or(d.input), frame),
            &format_time(reaction_at.saturating_mul(1000)),
            &format!(
                "EMSMDB call {delay_ms:.1} ms after datagram {}",
                cite.frame(d.input, d.frame)
            ),
        );
        self.marks.push(Mark {
            kind: Kind::Reaction,
            at: reaction_at,
            title,
        });
        self.links.push(Link {
            from: (Lane::Datagrams, at),
            to: (Lane::Reactions, reaction_at),
            colour: "c-ok",
        });
    }

    /// An ICMP error, linked to the datagram it quotes when that is in the session.
    fn add_icmp(&mut self, e: &IcmpError, s: &Session, cite: &Cite) {
        let quoted_input = e.datagram_input.unwrap_or(e.input);
        let quoted = match e.datagram_frame {
            Some(frame) => format!("quoting datagram {}", cite.frame(quoted_input, frame)),
            None => "quoting a datagram that was not captured".into(),
        };
        let detail = format!(
            "{} ({} code {}) from {}, {quoted}",
            e.code_name, e.protocol, e.code, e.from
        );
        let title = tooltip(
            "ICMP error",
            &cite.frame(e.input, e.frame),
            &e.time,
            &detail,
        );
        let Some(at) = self.add(Kind::Icmp, &e.time, title) else {
            return;
        };
        let datagram_at = s
            .datagrams
            .iter()
            .find(|d| Some(d.frame) == e.datagram_frame && d.input == quoted_input)
            .and_then(|d| time::parse_micros(&d.time));
        if let Some(datagram_at) = datagram_at {
            self.links.push(Link {
                from: (Lane::Datagrams, datagram_at),
                to: (Lane::Icmp, at),
                colour: "c-bad",
            });
        }
    }
}

/// A mark's tooltip: `What: frame N [in FILE] at TIME — detail`.
fn tooltip(what: &str, frame: &str, time: &str, detail: &str) -> String {
    format!("{what}: {frame} at {} — {detail}", time::readable(time))
}

/// A registration's callback, outcome and response frame, in words.
fn registration_detail(r: &Registration, cite: &Cite) -> String {
    let callback = match (&r.callback, r.encrypted) {
        (Some(c), _) => c.as_str(),
        (None, true) => "sealed",
        (None, false) => "not decoded",
    };
    let outcome = match (r.fault, r.status, &r.status_name) {
        (Some(fault), _, _) => format!("DCE/RPC fault 0x{fault:08x}"),
        (None, Some(_), Some(name)) => name.clone(),
        (None, Some(status), None) => format!("status 0x{status:08x}"),
        (None, None, _) => "no outcome captured".into(),
    };
    let response = r.response_frame.map_or(String::new(), |f| {
        format!(
            ", response {}",
            cite.frame(r.response_input.unwrap_or(r.input), f)
        )
    });
    format!("callback {callback}, {outcome}{response}")
}

/// What the client did after a datagram, in words.
fn reaction_text(r: Reaction) -> &'static str {
    match r {
        Reaction::Reacted => "the client reacted",
        Reaction::NoReaction => "no reaction from the client",
        Reaction::CaptureEnded => "the capture ended too soon after it (not counted)",
        Reaction::ClientSilent => "the client made no call after it (not counted)",
        Reaction::Ignored => "not the registered context: ignored by the client",
        Reaction::Unregistered => "no registration covers it (not counted)",
    }
}

/// Maps times onto the plot: the first mark at its left edge, the last at its right.
struct Scale {
    start: i64,
    span: i64,
}

impl Scale {
    /// The scale covering `marks`; `None` when there are none.
    fn new(marks: &[Mark]) -> Option<Scale> {
        let start = marks.iter().map(|m| m.at).min()?;
        let end = marks.iter().map(|m| m.at).max()?;
        let span = match end.saturating_sub(start) {
            0 => SECOND,
            span => span.max(MIN_SPAN),
        };
        Some(Scale { start, span })
    }

    /// The x of a time, held inside the plot.
    fn x(&self, at: i64) -> f64 {
        let fraction = at.saturating_sub(self.start) as f64 / self.span as f64;
        PLOT_LEFT + fraction.clamp(0.0, 1.0) * (PLOT_RIGHT - PLOT_LEFT)
    }
}

/// A coordinate as an SVG attribute value.
fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// A glyph centred on (`x`, `y`); its colour comes from the enclosing element's class.
fn glyph(shape: Shape, x: f64, y: f64) -> Markup {
    let polygon = |points: &[(f64, f64)]| {
        let points: Vec<String> = points
            .iter()
            .map(|(dx, dy)| format!("{},{}", n(x + dx), n(y + dy)))
            .collect();
        html! { polygon points=(points.join(" ")) {} }
    };
    match shape {
        Shape::Square => html! { rect x=(n(x - 5.0)) y=(n(y - 5.0)) width="10" height="10" {} },
        Shape::Cross => html! {
            path.stroke d=(format!("M{} {}l10 10m0 -10l-10 10", n(x - 5.0), n(y - 5.0))) {}
        },
        Shape::Triangle => polygon(&[(-6.0, -5.0), (6.0, -5.0), (0.0, 6.0)]),
        Shape::Circle => html! { circle cx=(n(x)) cy=(n(y)) r="5.5" {} },
        Shape::Diamond => polygon(&[(0.0, -6.0), (6.0, 0.0), (0.0, 6.0), (-6.0, 0.0)]),
        Shape::Tick => html! { line.stroke x1=(n(x)) y1=(n(y - 9.0)) x2=(n(x)) y2=(n(y + 9.0)) {} },
    }
}

/// The session's timeline and its legend (a note instead when nothing has a time).
pub fn figure(s: &Session, cite: &Cite) -> Markup {
    let m = Marks::of(s, cite);
    let Some(scale) = Scale::new(&m.marks) else {
        return html! { p.note { "Nothing in this session has a time to draw." } };
    };
    let axis_y = LANE_HEIGHT * Lane::ALL.len() as f64;
    let height = axis_y + AXIS_HEIGHT;
    let step = time::tick_step(scale.span);
    let label = format!("Timeline of {} and {}", s.client, s.server);
    html! {
        figure.timeline {
            svg.chart viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label=(label) {
                @for lane in Lane::ALL {
                    rect.lane x="0" y=(n(lane.top())) width=(WIDTH) height=(LANE_HEIGHT) {}
                    text.lane-label x=(n(PLOT_LEFT - 14.0)) y=(n(lane.y() + 4.0)) { (lane.label()) }
                }
                @for k in 0..=scale.span / step {
                    @let x = n(scale.x(scale.start + k * step));
                    line.grid x1=(x) y1="0" x2=(x) y2=(n(axis_y)) {}
                    line.axis x1=(x) y1=(n(axis_y)) x2=(x) y2=(n(axis_y + 5.0)) {}
                    text.tick x=(x) y=(n(axis_y + 18.0)) { (time::offset_label(k * step, step)) }
                }
                line.axis x1=(n(PLOT_LEFT)) y1=(n(axis_y)) x2=(n(PLOT_RIGHT)) y2=(n(axis_y)) {}
                text.start x=(n(PLOT_LEFT)) y=(n(axis_y + 38.0)) {
                    "+0 s = " (time::readable(&format_time(scale.start.saturating_mul(1000))))
                }
                @for l in &m.links {
                    line.link.(l.colour) x1=(n(scale.x(l.from.1))) y1=(n(l.from.0.y()))
                        x2=(n(scale.x(l.to.1))) y2=(n(l.to.0.y())) {}
                }
                @for mark in &m.marks {
                    @let look = mark.kind.look();
                    g.mark.glyph.(look.colour) {
                        title { (mark.title) }
                        (glyph(look.shape, scale.x(mark.at), look.lane.y()))
                    }
                }
            }
            figcaption { (legend(&m, s)) }
        }
    }
}

/// The legend of the kinds of marks drawn, then what was left out.
fn legend(m: &Marks, s: &Session) -> Markup {
    let mut kinds: Vec<Kind> = m.marks.iter().map(|mark| mark.kind).collect();
    kinds.sort();
    kinds.dedup();
    let swatch = |content: Markup| {
        html! { svg.swatch viewBox="0 0 16 16" width="16" height="16" { (content) } }
    };
    html! {
        ul.legend {
            @for kind in kinds {
                @let look = kind.look();
                li {
                    (swatch(html! { g.glyph.(look.colour) { (glyph(look.shape, 8.0, 8.0)) } }))
                    (look.legend)
                }
            }
            @if !m.links.is_empty() {
                li {
                    (swatch(html! { line.link x1="1" y1="15" x2="15" y2="1" {} }))
                    "a datagram and the client's reaction, or the ICMP error it caused"
                }
            }
        }
        @if s.polling.calls > s.polling.shown.len() as u64 {
            p.note {
                "The first " (s.polling.shown.len()) " of " (s.polling.calls)
                " client ROP calls are drawn."
            }
        }
        @if m.undated > 0 {
            p.note { (m.undated) " event(s) without a readable time are not drawn." }
        }
        p.note { "Hover over a mark for its frame and time." }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::tests::session;

    /// Citations for one input.
    fn cite() -> Cite<'static> {
        Cite {
            paths: vec!["trace.pcapng"],
        }
    }

    /// Every x of the session's marks, and its rendered figure.
    fn draw(s: &Session) -> (Vec<f64>, String) {
        let m = Marks::of(s, &cite());
        let scale = Scale::new(&m.marks).expect("marks");
        let xs = m.marks.iter().map(|mark| scale.x(mark.at)).collect();
        (xs, figure(s, &cite()).into_string())
    }

    /// True when no number in `svg` is NaN or infinite.
    fn finite(svg: &str) -> bool {
        svg.split(|c: char| !c.is_ascii_alphabetic())
            .all(|word| word != "NaN" && word != "inf")
    }

    #[test]
    fn one_instant_draws_on_a_second() {
        let t = "2025-11-03T09:00:00.000000Z";
        let mut s = session(t, t, "10.0.0.5:3105");
        s.datagrams[0].reaction_frame = None;
        let (xs, svg) = draw(&s);
        assert_eq!(xs, [PLOT_LEFT; 3]);
        assert!(svg.contains("+1.0 s") && finite(&svg), "{svg}");
    }

    #[test]
    fn decades_stay_inside_the_plot_with_few_ticks() {
        let s = session(
            "1990-01-01T00:00:00.000000Z",
            "2025-11-03T09:00:00.000000Z",
            "10.0.0.5:3105",
        );
        let (xs, svg) = draw(&s);
        assert!(
            xs.iter().all(|x| (PLOT_LEFT..=PLOT_RIGHT).contains(x)),
            "{xs:?}"
        );
        assert_eq!(xs.iter().cloned().fold(f64::MIN, f64::max), PLOT_RIGHT);
        assert!(svg.matches("class=\"tick\"").count() <= 11);
        assert!(finite(&svg), "{svg}");
    }

    #[test]
    fn reactions_follow_their_datagram_and_are_linked() {
        let s = session(
            "2025-11-03T09:00:00.000000Z",
            "2025-11-03T09:00:30.000000Z",
            "10.0.0.5:3105",
        );
        let m = Marks::of(&s, &cite());
        let kinds: Vec<Kind> = m.marks.iter().map(|mark| mark.kind).collect();
        assert_eq!(
            kinds,
            [Kind::Registered, Kind::Reacted, Kind::Reaction, Kind::Call]
        );
        assert_eq!(m.marks[2].at - m.marks[1].at, 70_000);
        assert_eq!(
            m.marks[2].title,
            "Client reaction: frame 8 at 2025-11-03 09:00:30.070000 UTC — \
             EMSMDB call 70.0 ms after datagram frame 7"
        );
        assert_eq!(m.links.len(), 1);
    }

    #[test]
    fn unreadable_times_are_counted_not_drawn() {
        let mut s = session("2025-11-03T09:00:00.000000Z", "yesterday", "10.0.0.5:3105");
        s.registrations[0].time = "later".into();
        let m = Marks::of(&s, &cite());
        assert_eq!((m.marks.len(), m.undated, m.links.len()), (1, 2, 0));
        assert!(figure(&s, &cite())
            .into_string()
            .contains("2 event(s) without a readable time are not drawn"));
        s.polling.shown.clear();
        let note = figure(&s, &cite()).into_string();
        assert!(
            note.contains("Nothing in this session has a time to draw"),
            "{note}"
        );
    }
}
