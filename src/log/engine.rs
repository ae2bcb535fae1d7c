//! The per-line work of a logger, without I/O: selection, stamps, `e` and
//! `=FILE` contents, how many bytes each directory's `current` holds, and
//! when each must rotate (full, near full at a line end, old, `ALRM`).
//!
//! The driver feeds input bytes; the engine appends the output for each
//! directory to that directory's buffer and stops whenever a directory must
//! rotate or a buffer is big enough to write; the driver then hands the
//! output to a [`Sink`] ([`Engine::drain`]). It never writes more than a
//! directory's room, so a line longer than the room is split across
//! files, as multilog does.

use std::time::{Duration, Instant};

use super::pattern::{HEAD, matches, sv_matches};
use super::script::{Action, Script, Stamp};
use crate::tai64::Tai64N;

/// Bytes of `@` + 24 hex digits + space.
const STAMP: usize = 26;
/// Rotate at a line end once `current` holds at least size minus this.
pub const SLACK: u64 = 2000;
/// `e` prints at most this much of a line.
const ALERT: usize = 200;
/// A status file's exact size.
const STATUS: usize = HEAD + 1;

/// The output state of one directory.
#[derive(Debug, Clone)]
struct Out {
    /// Maximum size of `current`.
    size: u64,
    /// Bytes in `current` plus bytes buffered for it.
    bytes: u64,
    /// Rotate at a line end once `bytes` reaches `size - slack`.
    slack: u64,
    /// Bytes waiting to be written to `current`.
    buf: Vec<u8>,
    /// A line end left `current` near full: rotate it now. (Only a line
    /// written decides this, never the size found at start-up.)
    rotate_now: bool,
    /// svlogd's `t`: a non-empty `current` rotates this long after the
    /// last deadline (the first counts from the start).
    max_age: Option<Duration>,
    deadline: Option<Instant>,
}

impl Out {
    fn room(&self) -> u64 {
        self.size.saturating_sub(self.bytes)
    }

    /// Whether a line end here must rotate: within `slack` of the size.
    /// A size below the slack never rotates at line ends (as svlogd with
    /// `s` below `-l`), only when full; an empty `current` never does.
    fn near_full(&self) -> bool {
        self.bytes > 0 && self.size.checked_sub(self.slack).is_some_and(|at| self.bytes >= at)
    }
}

/// A line in progress between two batches (see [`Engine::line_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Midline {
    /// Whether each directory takes the line.
    pub selected: Vec<bool>,
    /// The line's head, if not all of it is written yet.
    pub head: Option<HeadLeft>,
}

impl Midline {
    /// A line whose head is all written: only the rest comes from input.
    pub fn selected(selected: Vec<bool>) -> Midline {
        Midline { selected, head: None }
    }
}

/// A line's head cut by a rotation: the stamp and first bytes, how many
/// are written, how far each directory's prefix is, whether the line ended
/// within the head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadLeft {
    pub bytes: Vec<u8>,
    pub emitted: usize,
    pub prefix_at: usize,
    pub prefix_done: bool,
    pub complete: bool,
}

/// Where the engine's output goes: the driver's I/O, called by
/// [`Engine::drain`] in this order.
pub trait Sink {
    /// Send directory `dir`'s datagram (svlogd's `u`/`U`). A line that
    /// could not be sent goes to `current` after the warning returned, as
    /// runit does it.
    fn send(&mut self, dir: usize, datagram: &[u8]) -> Result<(), &'static [u8]>;
    /// Print lines on standard error (`e`).
    fn alert(&mut self, text: &[u8]);
    /// Replace the contents of status file `file` (`=FILE`).
    fn status(&mut self, file: usize, contents: &[u8]);
    /// Append `bytes` to directory `dir`'s `current`, which holds `at`
    /// bytes before them.
    fn append(&mut self, dir: usize, at: u64, bytes: &[u8]);
}

/// Why [`Engine::feed`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Every byte was consumed.
    Done,
    /// Some directory must rotate now (see [`Engine::due`]); drain the
    /// output first.
    Rotate,
    /// A buffer is big enough: drain the output.
    Flush,
}

/// Where the engine is within a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// At the start of a line.
    Start,
    /// Collecting the head (stamp and first HEAD bytes) in `head`.
    Head,
    /// Head decided; `emitted` bytes of the stamped line are out.
    Body,
}

/// The logger's state: where it is in a line, what the script selected,
/// and for each directory the bytes of `current` and when it rotates.
pub struct Engine {
    actions: Vec<Action>,
    stamp: Stamp,
    match_stamp: bool,
    svlogd: bool,
    /// Bytes of the line (after the stamp) patterns see.
    head_max: usize,
    prefixes: Vec<Vec<u8>>,
    /// svlogd: the line is selected for stderr.
    alert_sel: bool,
    /// The prefixes of this line went out already.
    prefix_done: bool,
    /// Bytes of each prefix out so far (a prefix may span a rotation).
    prefix_at: usize,
    outs: Vec<Out>,
    /// Pending bytes for stderr (`e`).
    alerts: Vec<u8>,
    /// New contents of each status file, set when it changed.
    status: Vec<Option<Box<[u8; STATUS]>>>,
    phase: Phase,
    /// The current line's stamp and head, as far as known.
    head: Vec<u8>,
    /// Whether the head ended with the line (newline seen within it).
    head_complete: bool,
    /// Selected directories for the current line.
    selected: Vec<bool>,
    /// Bytes of `head` already appended to the selected directories.
    emitted: usize,
    /// Flush a buffer once it holds this much.
    flush_at: usize,
    /// svlogd's `-r`/`-R`: a byte map applied to line contents.
    replace: Option<Box<[u8; 256]>>,
    /// Datagrams to send: directory index and the stamped, prefixed line.
    datagrams: Vec<(usize, Vec<u8>)>,
    /// Per directory: (send by UDP, only by UDP).
    udp: Vec<(bool, bool)>,
    /// At end of input, complete a last line without newline (multilog)
    /// rather than drop it (svlogd, when none of it went out yet).
    complete_last: bool,
}

impl Engine {
    pub fn new(script: &Script) -> Engine {
        Engine {
            actions: script.actions.clone(),
            stamp: script.stamp,
            match_stamp: script.match_stamp,
            svlogd: script.svlogd,
            head_max: script.head,
            prefixes: script.dirs.iter().map(|d| d.prefix.clone()).collect(),
            alert_sel: false,
            prefix_done: false,
            prefix_at: 0,
            outs: script
                .dirs
                .iter()
                .map(|d| Out {
                    size: if d.size == 0 { u64::MAX } else { d.size },
                    bytes: 0,
                    slack: d.slack,
                    buf: Vec::with_capacity(1 << 16),
                    rotate_now: false,
                    max_age: (d.max_age > 0).then(|| Duration::from_secs(d.max_age)),
                    deadline: None,
                })
                .collect(),
            alerts: Vec::new(),
            status: vec![None; script.status.len()],
            phase: Phase::Start,
            head: Vec::with_capacity(STAMP + script.head + 1),
            head_complete: false,
            selected: vec![false; script.dirs.len()],
            emitted: 0,
            flush_at: script.flush_at,
            replace: script.replace.clone(),
            datagrams: Vec::new(),
            udp: script.dirs.iter().map(|d| (d.udp.is_some(), d.udp_only)).collect(),
            complete_last: script.complete_last,
        }
    }

    /// Directory `i`'s `current` holds `size` bytes as writing begins (or
    /// goes on after a crash); its age counts from `now`.
    pub fn started(&mut self, i: usize, size: u64, now: Instant) {
        let out = &mut self.outs[i];
        out.bytes = size;
        out.deadline = out.max_age.map(|age| now + age);
    }

    /// How many bytes directory `i`'s `current` holds, buffered output
    /// included.
    pub fn size(&self, i: usize) -> u64 {
        self.outs[i].bytes
    }

    /// [`Engine::size`] of every directory.
    pub fn sizes(&self) -> Vec<u64> {
        self.outs.iter().map(|o| o.bytes).collect()
    }

    /// Whether the engine is between lines.
    pub fn at_line_start(&self) -> bool {
        self.phase == Phase::Start
    }

    /// Where the line in progress stands, for the exactly-once note: its
    /// selection, and its head if a rotation cut that (the head was taken
    /// off the input already). None at a line start or while a head is
    /// still being collected.
    pub fn line_state(&self) -> Option<Midline> {
        if self.phase != Phase::Body {
            return None;
        }
        let cut = self.emitted < self.head.len() || !self.prefix_done;
        let head = cut.then(|| HeadLeft {
            bytes: self.head.clone(),
            emitted: self.emitted,
            prefix_at: self.prefix_at,
            prefix_done: self.prefix_done,
            complete: self.head_complete,
        });
        Some(Midline { selected: self.selected.clone(), head })
    }

    /// Go on with a line as [`Engine::line_state`] described it (recovery
    /// by a new logger).
    pub fn resume_body(&mut self, line: Midline) {
        self.selected = line.selected;
        match line.head {
            None => {
                self.head.clear();
                self.emitted = 0;
                self.prefix_done = true;
            }
            Some(head) => {
                self.head = head.bytes;
                self.emitted = head.emitted;
                self.prefix_at = head.prefix_at;
                self.prefix_done = head.prefix_done;
                self.head_complete = head.complete;
            }
        }
        self.phase = Phase::Body;
    }

    /// Whether directory `i` must rotate before more is written to it.
    pub fn due(&self, i: usize) -> bool {
        let out = &self.outs[i];
        out.bytes >= out.size || out.rotate_now
    }

    /// Bytes of a line's start patterns see, stamp included (a line
    /// without newline is decided once this much of it is in).
    pub fn head_limit(&self) -> usize {
        if self.match_stamp {
            self.head_max.max(self.stamp_len() + 1)
        } else {
            self.stamp_len() + self.head_max
        }
    }

    /// Directory `i` was rotated: `current` is empty again.
    pub fn rotated(&mut self, i: usize) {
        debug_assert!(self.outs[i].buf.is_empty());
        self.outs[i].bytes = 0;
        self.outs[i].rotate_now = false;
    }

    /// `ALRM`: the directories to rotate now, every one not empty.
    pub fn alarm(&self) -> Vec<usize> {
        (0..self.outs.len()).filter(|&i| self.outs[i].bytes > 0).collect()
    }

    /// svlogd's `t` at `now`: the directories to rotate for age (a
    /// deadline passed and `current` is not empty; the next deadline is
    /// set either way), and how long until the next deadline, if any.
    pub fn aged(&mut self, now: Instant) -> (Vec<usize>, Option<Duration>) {
        let mut old = Vec::new();
        let mut next: Option<Duration> = None;
        for (i, out) in self.outs.iter_mut().enumerate() {
            let (Some(age), Some(deadline)) = (out.max_age, out.deadline) else { continue };
            let mut left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                if out.bytes > 0 {
                    old.push(i);
                }
                left = age;
                out.deadline = Some(now + age);
            }
            next = Some(next.map_or(left, |n| n.min(left)));
        }
        (old, next)
    }

    /// Hand everything produced so far to `sink`: datagrams, alerts,
    /// status files, then each directory's bytes.
    pub fn drain(&mut self, sink: &mut impl Sink) {
        for (i, gram) in self.datagrams.drain(..) {
            if let Err(warning) = sink.send(i, &gram) {
                let out = &mut self.outs[i];
                out.buf.extend_from_slice(warning);
                out.buf.extend_from_slice(&gram);
                out.bytes += (warning.len() + gram.len()) as u64;
            }
        }
        if !self.alerts.is_empty() {
            sink.alert(&self.alerts);
            self.alerts.clear();
        }
        for (i, contents) in self.status.iter_mut().enumerate() {
            if let Some(contents) = contents.take() {
                sink.status(i, &contents[..]);
            }
        }
        for (i, out) in self.outs.iter_mut().enumerate() {
            if !out.buf.is_empty() {
                sink.append(i, out.bytes - out.buf.len() as u64, &out.buf);
                out.buf.clear();
            }
        }
    }

    /// Consume input. `now` gives the hex stamp for a new line (called once
    /// per line, at its first byte). Returns how much was consumed and why it
    /// stopped.
    pub fn feed(&mut self, input: &[u8], now: &mut dyn FnMut() -> Tai64N) -> (usize, Stop) {
        let mut pos = 0;
        loop {
            match self.phase {
                Phase::Start => {
                    if pos == input.len() {
                        return (pos, Stop::Done);
                    }
                    self.head.clear();
                    match self.stamp {
                        Stamp::None => {}
                        Stamp::Tai64n => {
                            self.head.push(b'@');
                            self.head.extend_from_slice(&now().hex());
                            self.head.push(b' ');
                        }
                        Stamp::Human(sep) => {
                            self.head.extend_from_slice(&human(now(), sep));
                            self.head.push(b' ');
                        }
                    }
                    self.prefix_done = false;
                    self.prefix_at = 0;
                    self.phase = Phase::Head;
                }
                Phase::Head => {
                    // multilog's line buffer holds 1000 bytes, stamp
                    // included; svlogd's patterns see len bytes after it.
                    let want = self.head_limit() - self.head.len();
                    let avail = &input[pos..];
                    let look = &avail[..avail.len().min(want)];
                    let from = self.head.len();
                    if let Some(nl) = find_newline(look) {
                        self.head.extend_from_slice(&look[..nl]);
                        self.head_complete = true;
                        pos += nl + 1;
                    } else if look.len() == want {
                        self.head.extend_from_slice(look);
                        self.head_complete = false;
                        pos += want;
                    } else {
                        self.head.extend_from_slice(look);
                        self.map_head(from);
                        return (input.len(), Stop::Done);
                    }
                    self.map_head(from);
                    self.decide();
                    if self.head_complete {
                        self.head.push(b'\n');
                    }
                    self.emitted = 0;
                    self.phase = Phase::Body;
                }
                Phase::Body => {
                    // First the head, then the rest of the line from input.
                    if !self.prefix_done && self.emitted >= self.stamp_len() {
                        if !self.push_prefixes() {
                            return (pos, Stop::Rotate);
                        }
                        self.prefix_done = true;
                    }
                    if self.emitted < self.head.len() {
                        let mut part = self.head.len() - self.emitted;
                        if !self.prefix_done {
                            part = self.stamp_len() - self.emitted;
                        }
                        let n = self.room(part);
                        let (head, emitted) = (std::mem::take(&mut self.head), self.emitted);
                        self.push(&head[emitted..emitted + n]);
                        self.head = head;
                        self.emitted += n;
                        if n < part {
                            return (pos, Stop::Rotate);
                        }
                        if !self.prefix_done {
                            continue;
                        }
                        if self.head_complete {
                            if let Some(stop) = self.line_end() {
                                return (pos, stop);
                            }
                            continue;
                        }
                    }
                    let avail = &input[pos..];
                    if avail.is_empty() {
                        return (pos, Stop::Done);
                    }
                    let (part, ends) = match find_newline(avail) {
                        Some(nl) => (&avail[..=nl], true),
                        None => (avail, false),
                    };
                    // The rest of a line longer than the head goes out as
                    // it came: svlogd replaces characters in the head only.
                    let n = self.room(part.len());
                    self.push(&part[..n]);
                    pos += n;
                    if n < part.len() {
                        return (pos, Stop::Rotate);
                    }
                    if ends {
                        if let Some(stop) = self.line_end() {
                            return (pos, stop);
                        }
                    }
                }
            }
        }
    }

    /// End of input: a last line without newline gets one, as multilog
    /// does. Returns how the caller should continue (call again until it
    /// returns Done).
    pub fn finish(&mut self, now: &mut dyn FnMut() -> Tai64N) -> Stop {
        if self.phase == Phase::Head && !self.complete_last {
            self.phase = Phase::Start;
            self.head.clear();
        }
        if self.phase == Phase::Head {
            self.decide();
            self.head_complete = false;
            self.emitted = 0;
            self.phase = Phase::Body;
        }
        if self.phase == Phase::Body && self.emitted < self.head.len() {
            let (_, stop) = self.feed(b"", now);
            if stop != Stop::Done {
                return stop;
            }
        }
        if self.phase == Phase::Body {
            return self.feed(b"\n", now).1;
        }
        Stop::Done
    }

    /// After a line's newline: back to Start; stop if a directory is due or
    /// a buffer is full.
    fn line_end(&mut self) -> Option<Stop> {
        self.phase = Phase::Start;
        let (mut flush, mut rotate) = (false, false);
        for (i, out) in self.outs.iter_mut().enumerate() {
            if self.selected[i] && out.near_full() {
                out.rotate_now = true;
                rotate = true;
            }
            flush |= out.buf.len() >= self.flush_at;
        }
        flush |= self.alerts.len() >= self.flush_at;
        if rotate { Some(Stop::Rotate) } else { flush.then_some(Stop::Flush) }
    }

    /// How many of `want` bytes every selected directory has room for.
    fn room(&self, want: usize) -> usize {
        let mut n = want as u64;
        for (i, out) in self.outs.iter().enumerate() {
            if self.selected[i] {
                n = n.min(out.room());
            }
        }
        n as usize
    }

    fn stamp_len(&self) -> usize {
        if self.stamp == Stamp::None { 0 } else { STAMP }
    }

    /// Append the rest of each selected directory's prefix (svlogd's `p`)
    /// as far as there is room, as runit splits any bytes at the size;
    /// false if a directory must rotate first.
    fn push_prefixes(&mut self) -> bool {
        loop {
            let mut step: Option<u64> = None;
            for (i, out) in self.outs.iter().enumerate() {
                let left = self.prefixes[i].len().saturating_sub(self.prefix_at) as u64;
                if self.selected[i] && left > 0 {
                    step = Some(step.unwrap_or(u64::MAX).min(left).min(out.room()));
                }
            }
            let step = match step {
                None => return true,
                Some(0) => return false,
                Some(n) => n as usize,
            };
            let at = self.prefix_at;
            for (i, out) in self.outs.iter_mut().enumerate() {
                if self.selected[i] && self.prefixes[i].len() > at {
                    out.buf.extend_from_slice(&self.prefixes[i][at..at + step]);
                    out.bytes += step as u64;
                }
            }
            self.prefix_at += step;
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        for (i, out) in self.outs.iter_mut().enumerate() {
            if self.selected[i] {
                out.buf.extend_from_slice(bytes);
                out.bytes += bytes.len() as u64;
            }
        }
    }

    /// Apply the byte map to the head collected from `from` on.
    fn map_head(&mut self, from: usize) {
        if let Some(map) = &self.replace {
            for b in &mut self.head[from..] {
                *b = map[*b as usize];
            }
        }
    }

    /// Run the actions on the head (stamp included, newline excluded).
    fn decide(&mut self) {
        let skip = if self.match_stamp { 0 } else { self.stamp_len().min(self.head.len()) };
        let line = &self.head[skip..];
        let whole = &self.head[..];
        let sv = self.svlogd;
        let test = |p: &[u8]| if sv { sv_matches(p, line) } else { matches(p, line) };
        let mut selected = true;
        self.alert_sel = false;
        for action in &self.actions {
            match action {
                Action::Select(p) => {
                    if !selected && test(p) {
                        selected = true;
                    }
                }
                Action::Deselect(p) => {
                    if selected && test(p) {
                        selected = false;
                    }
                }
                Action::Reset => {
                    selected = true;
                    self.alert_sel = false;
                }
                Action::AlertSelect(p) => {
                    if !self.alert_sel && test(p) {
                        self.alert_sel = true;
                    }
                }
                Action::AlertDeselect(p) => {
                    if self.alert_sel && test(p) {
                        self.alert_sel = false;
                    }
                }
                Action::SvAlert(i) => {
                    if self.alert_sel {
                        let cut = skip.min(whole.len());
                        self.alerts.extend_from_slice(&whole[..cut]);
                        self.alerts.extend_from_slice(&self.prefixes[*i]);
                        self.alerts.extend_from_slice(line);
                        if !self.head_complete {
                            self.alerts.extend_from_slice(b"...");
                        }
                        self.alerts.push(b'\n');
                    }
                }
                Action::Alert => {
                    if selected {
                        alert(&mut self.alerts, whole);
                    }
                }
                Action::Status(i) => {
                    if selected {
                        self.status[*i] = Some(status_contents(whole));
                    }
                }
                Action::Dir(i) => {
                    let (udp, only) = self.udp[*i];
                    if udp && selected {
                        let cut = skip.min(whole.len());
                        let mut gram = whole[..cut].to_vec();
                        gram.extend_from_slice(&self.prefixes[*i]);
                        gram.extend_from_slice(line);
                        if !self.head_complete {
                            gram.extend_from_slice(b"...");
                        }
                        gram.push(b'\n');
                        self.datagrams.push((*i, gram));
                    }
                    self.selected[*i] = selected && !only;
                }
            }
        }
    }
}

/// svlogd's readable UTC stamp: `YYYY-MM-DD_HH:MM:SS.xxxxx` (`sep`
/// between date and time; five decimals, truncated).
fn human(t: Tai64N, sep: u8) -> [u8; 25] {
    let utc = t.utc();
    let mut out = [0u8; 25];
    let mut put = |at: usize, width: usize, mut value: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, utc.year.rem_euclid(10_000) as u64);
    put(5, 2, u64::from(utc.month));
    put(8, 2, u64::from(utc.day));
    put(11, 2, u64::from(utc.hour));
    put(14, 2, u64::from(utc.minute));
    put(17, 2, u64::from(utc.second));
    put(20, 5, u64::from(t.nanos / 10_000));
    out[4] = b'-';
    out[7] = b'-';
    out[10] = sep;
    out[13] = b':';
    out[16] = b':';
    out[19] = b'.';
    out
}

/// What `e` prints for a line: the first 200 bytes, `...` if cut, newline.
fn alert(out: &mut Vec<u8>, line: &[u8]) {
    if line.len() > ALERT {
        out.extend_from_slice(&line[..ALERT]);
        out.extend_from_slice(b"...");
    } else {
        out.extend_from_slice(line);
    }
    out.push(b'\n');
}

/// A status file: the head, padded with newlines to 1001 bytes.
fn status_contents(line: &[u8]) -> Box<[u8; STATUS]> {
    let mut out = Box::new([b'\n'; STATUS]);
    let n = line.len().min(HEAD);
    out[..n].copy_from_slice(&line[..n]);
    out
}

/// Position of the first newline, a word at a time.
pub fn find_newline(bytes: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * b'\n' as u64;
    let mut i = 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes")) ^ NL;
        if (word.wrapping_sub(LO) & !word & HI) != 0 {
            break;
        }
        i += 8;
    }
    bytes[i..].iter().position(|&b| b == b'\n').map(|p| p + i)
}

/// A [`Sink`] that keeps everything, for tests.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct Record {
    /// Per directory, the files written: a new one is begun by the test
    /// at each rotation.
    pub files: Vec<Vec<Vec<u8>>>,
    pub alerts: Vec<u8>,
    pub status: Vec<Option<Vec<u8>>>,
    pub sent: Vec<(usize, Vec<u8>)>,
    /// Refuse datagrams with this warning.
    pub refuse: Option<&'static [u8]>,
}

#[cfg(test)]
impl Record {
    pub fn new(dirs: usize) -> Record {
        Record { files: vec![vec![Vec::new()]; dirs], ..Record::default() }
    }

    /// What directory `dir`'s `current` holds now.
    pub fn current(&self, dir: usize) -> &[u8] {
        self.files[dir].last().expect("a file")
    }
}

#[cfg(test)]
impl Sink for Record {
    fn send(&mut self, dir: usize, datagram: &[u8]) -> Result<(), &'static [u8]> {
        match self.refuse {
            Some(warning) => Err(warning),
            None => {
                self.sent.push((dir, datagram.to_vec()));
                Ok(())
            }
        }
    }

    fn alert(&mut self, text: &[u8]) {
        self.alerts.extend_from_slice(text);
    }

    fn status(&mut self, file: usize, contents: &[u8]) {
        if self.status.len() <= file {
            self.status.resize(file + 1, None);
        }
        self.status[file] = Some(contents.to_vec());
    }

    fn append(&mut self, dir: usize, at: u64, bytes: &[u8]) {
        let current = self.files[dir].last_mut().expect("a file");
        assert_eq!(at, current.len() as u64, "the engine's count of current");
        current.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::script::{DirSpec, parse};
    use std::ffi::OsString;

    fn engine(args: &[&str]) -> Engine {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        Engine::new(&parse(&args))
    }

    fn clock() -> impl FnMut() -> Tai64N {
        let mut n = 0u32;
        move || {
            n += 1;
            Tai64N { secs: 1 << 62, nanos: n % 10 }
        }
    }

    #[test]
    fn human_stamps() {
        let t = Tai64N { secs: crate::tai64::UNIX_EPOCH_LABEL + 1_764_052_429, nanos: 611_399_999 };
        assert_eq!(&human(t, b'_'), b"2025-11-25_06:33:49.61139");
        let t = Tai64N { secs: crate::tai64::UNIX_EPOCH_LABEL + 951_782_400, nanos: 0 };
        assert_eq!(&human(t, b'T'), b"2000-02-29T00:00:00.00000");
    }

    /// Feed everything, rotating (recording file contents) as needed.
    fn run(e: &mut Engine, input: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut record = Record::new(e.outs.len());
        let mut now = clock();
        let mut pos = 0;
        let mut finishing = false;
        loop {
            let stop = if finishing {
                e.finish(&mut now)
            } else {
                let (n, stop) = e.feed(&input[pos..], &mut now);
                pos += n;
                stop
            };
            e.drain(&mut record);
            for (i, file) in record.files.iter_mut().enumerate() {
                if e.due(i) {
                    e.rotated(i);
                    file.push(Vec::new());
                }
            }
            if stop == Stop::Done {
                if finishing {
                    return record.files;
                }
                finishing = true;
            }
        }
    }

    #[test]
    fn plain_lines_go_through() {
        let mut e = engine(&["./a"]);
        let f = run(&mut e, b"one\ntwo\n");
        assert_eq!(f[0], vec![b"one\ntwo\n".to_vec()]);
    }

    #[test]
    fn last_line_gets_newline() {
        let mut e = engine(&["./a"]);
        let f = run(&mut e, b"one\ntw");
        assert_eq!(f[0], vec![b"one\ntw\n".to_vec()]);
    }

    #[test]
    fn last_line_dropped_for_svlogd() {
        let mut e = engine(&["./a"]);
        e.complete_last = false;
        let f = run(&mut e, b"one\ntw");
        assert_eq!(f[0], vec![b"one\n".to_vec()]);
    }

    #[test]
    fn stamps() {
        let mut e = engine(&["t", "./a"]);
        let f = run(&mut e, b"x\ny\n");
        assert_eq!(
            String::from_utf8(f[0][0].clone()).unwrap(),
            "@400000000000000000000001 x\n@400000000000000000000002 y\n"
        );
    }

    #[test]
    fn selection() {
        let mut e = engine(&["-*", "+fatal: *", "./a", "+*", "-*b*", "./b"]);
        let f = run(&mut e, b"fatal: x\nok\nabc\n");
        assert_eq!(f[0][0], b"fatal: x\n");
        assert_eq!(f[1][0], b"fatal: x\nok\n");
    }

    #[test]
    fn selection_sees_stamp() {
        let mut e = engine(&["t", "-*", "+* fatal: *", "./a"]);
        let f = run(&mut e, b"fatal: x\nok\n");
        assert_eq!(&f[0][0][25..], b" fatal: x\n");
    }

    #[test]
    fn alert_and_status() {
        let mut e = engine(&["e", "=st"]);
        let long = [b'z'; 300];
        let mut input = b"hello\n".to_vec();
        input.extend_from_slice(&long);
        input.push(b'\n');
        let mut now = clock();
        let (n, stop) = e.feed(&input, &mut now);
        assert_eq!((n, stop), (input.len(), Stop::Done));
        let mut record = Record::new(0);
        e.drain(&mut record);
        let mut want = b"hello\n".to_vec();
        want.extend_from_slice(&long[..200]);
        want.extend_from_slice(b"...\n");
        assert_eq!(record.alerts, want);
        let st = record.status[0].as_ref().unwrap();
        assert_eq!(&st[..300], &long[..]);
        assert!(st[300..].iter().all(|&b| b == b'\n'));
    }

    #[test]
    fn status_of_long_line_is_head() {
        let mut e = engine(&["=st"]);
        let line = vec![b'q'; 5000];
        let mut now = clock();
        e.feed(&line, &mut now);
        let mut record = Record::new(0);
        e.drain(&mut record);
        let st = record.status[0].as_ref().unwrap();
        assert!(st[..1000].iter().all(|&b| b == b'q'));
        assert_eq!(st[1000], b'\n');
    }

    #[test]
    fn head_across_chunks() {
        let mut e = engine(&["-*", "+abc*", "./a"]);
        let mut now = clock();
        for part in [&b"ab"[..], b"cdef\nxy", b"z\nabq\n"] {
            let (n, stop) = e.feed(part, &mut now);
            assert_eq!((n, stop), (part.len(), Stop::Done));
        }
        let mut record = Record::new(1);
        e.drain(&mut record);
        assert_eq!(record.current(0), b"abcdef\n");
    }

    #[test]
    fn long_line_split_like_multilog() {
        // multilog s4096 on 10000 'a' + '\n' + 3000 'b' + '\n' writes
        // files of 4096, 4096, 4096 and 714 bytes.
        let mut e = engine(&["s4096", "./a"]);
        let mut input = vec![b'a'; 10000];
        input.push(b'\n');
        input.extend(std::iter::repeat_n(b'b', 3000));
        input.push(b'\n');
        let f = run(&mut e, &input);
        let sizes: Vec<usize> = f[0].iter().map(|f| f.len()).collect();
        assert_eq!(sizes, vec![4096, 4096, 4096, 714]);
        assert_eq!(f[0].concat(), input);
    }

    #[test]
    fn rotates_at_line_end_past_threshold() {
        let mut e = engine(&["s4096", "./a"]);
        let line = [b"x".repeat(99), b"\n".to_vec()].concat();
        let input = line.repeat(100);
        let f = run(&mut e, &input);
        assert_eq!(f[0].concat(), input);
        for file in &f[0][..f[0].len() - 1] {
            assert!(file.len() as u64 >= 4096 - SLACK && file.len() <= 4096);
            assert!(file.ends_with(b"\n"));
        }
        // 2100 bytes: 21 lines per file.
        assert_eq!(f[0][0].len(), 2100);
    }

    #[test]
    fn deselected_directory_not_rotated_midline() {
        let mut e = engine(&["s4096", "-x*", "./a"]);
        let input = [b"y".repeat(2200), b"\n".to_vec(), b"x".repeat(9000), b"\n".to_vec()].concat();
        let f = run(&mut e, &input);
        assert_eq!(f[0].concat(), [b"y".repeat(2200), b"\n".to_vec()].concat());
    }

    #[test]
    fn alarm_rotates_every_directory_not_empty() {
        let mut e = engine(&["./a", "-x*", "./b", "./c"]);
        let mut now = clock();
        e.started(2, 7, Instant::now());
        e.feed(b"x\n", &mut now);
        assert_eq!(e.alarm(), vec![0, 2]);
        assert_eq!(e.sizes(), vec![2, 0, 7], "-x* deselected the line for b and c");
        e.drain(&mut Record::new(3));
        e.rotated(0);
        assert_eq!(e.alarm(), vec![2]);
    }

    #[test]
    fn age_rotates_a_current_not_empty_at_each_deadline() {
        let script = Script {
            dirs: vec![
                DirSpec { max_age: 10, ..DirSpec::default() },
                DirSpec::default(),
                DirSpec { max_age: 4, ..DirSpec::default() },
            ],
            actions: vec![Action::Dir(0), Action::Dir(1), Action::Dir(2)],
            ..Script::default()
        };
        let mut e = Engine::new(&script);
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        for i in 0..3 {
            e.started(i, 0, start);
        }
        assert_eq!(e.aged(at(1)), (vec![], Some(Duration::from_secs(3))));
        // Directory 2's deadline passes while it is empty: nothing to
        // rotate, and the next one is 4 s on.
        assert_eq!(e.aged(at(4)), (vec![], Some(Duration::from_secs(4))));
        e.feed(b"line\n", &mut clock());
        assert_eq!(e.aged(at(7)), (vec![], Some(Duration::from_secs(1))));
        assert_eq!(e.aged(at(8)), (vec![2], Some(Duration::from_secs(2))));
        e.drain(&mut Record::new(3));
        e.rotated(2);
        assert_eq!(e.aged(at(10)), (vec![0], Some(Duration::from_secs(2))));
        assert_eq!(e.aged(at(12)), (vec![], Some(Duration::from_secs(4))));
        let mut none = Engine::new(&Script { dirs: vec![DirSpec::default()], ..Script::default() });
        none.started(0, 1, start);
        assert_eq!(none.aged(at(100)), (vec![], None));
    }

    #[test]
    fn datagrams_not_sent_go_to_current_after_the_warning() {
        let script = Script {
            actions: vec![Action::Dir(0)],
            dirs: vec![DirSpec {
                udp: Some("127.0.0.1:9".parse().unwrap()),
                udp_only: true,
                ..DirSpec::default()
            }],
            svlogd: true,
            head: 1000,
            ..Script::default()
        };
        let mut e = Engine::new(&script);
        e.started(0, 5, Instant::now());
        e.feed(b"one\n", &mut clock());
        let mut record = Record::new(1);
        record.files[0][0] = b"old\n\n".to_vec();
        record.refuse = Some(b"warning: failure sending through udp: ");
        e.drain(&mut record);
        assert_eq!(record.current(0), b"old\n\nwarning: failure sending through udp: one\n");
        assert_eq!(e.size(0), record.current(0).len() as u64);
        record.refuse = None;
        e.feed(b"two\n", &mut clock());
        e.drain(&mut record);
        assert_eq!(record.sent, vec![(0, b"two\n".to_vec())]);
        assert_eq!(e.size(0), 5 + 38 + 4, "U: a line sent is not written");
    }

    #[test]
    fn newline_finder() {
        for len in 0..40 {
            for at in 0..len {
                let mut v = vec![b'a'; len];
                v[at] = b'\n';
                assert_eq!(find_newline(&v), Some(at));
            }
            assert_eq!(find_newline(&vec![b'a'; len]), None);
        }
        assert_eq!(find_newline(&[0x8a, 0x0b, b'\n']), Some(2));
    }

    /// A logger killed after any batch and replaced by a new one resumed
    /// from the batch's note writes the same bytes as one never killed,
    /// even when a rotation cuts a line's head and prefix.
    #[test]
    fn resumed_engine_writes_what_the_first_would() {
        use crate::log::script::{Action, DirSpec, Script};
        let script = Script {
            stamp: Stamp::Tai64n,
            svlogd: true,
            head: 40,
            actions: vec![Action::Reset, Action::Dir(0)],
            dirs: vec![DirSpec {
                size: 30,
                slack: 40,
                prefix: b"PFX:".to_vec(),
                ..DirSpec::default()
            }],
            ..Script::default()
        };
        let input = b"one\nlonger line to cut in the head\nx\n".repeat(3);
        // The whole run, as one logger does it: a list of files.
        let mut whole = Engine::new(&script);
        let files = run(&mut whole, &input);
        // Now stop after each batch, write its note, and go on in a new
        // engine (as a restarted logger would), the old engine dropped.
        let mut again = Record::new(1);
        let mut engine = Engine::new(&script);
        let mut now = clock();
        let (mut pos, mut batches) = (0, 0);
        while pos < input.len() || !engine.at_line_start() {
            let (n, _) = engine.feed(&input[pos..], &mut now);
            pos += n;
            batches += 1;
            assert!(batches < 1000, "no progress at input byte {pos}");
            engine.drain(&mut again);
            let bytes = engine.size(0);
            let due = engine.due(0);
            let line = engine.line_state();
            assert!(line.is_some() || engine.at_line_start(), "a batch ends in a known state");
            engine = Engine::new(&script);
            engine.started(0, bytes, Instant::now());
            if let Some(line) = line {
                engine.resume_body(line);
            }
            if due {
                engine.rotated(0);
                again.files[0].push(Vec::new());
            }
        }
        assert!(batches > 6, "{batches} batches");
        let concat = |f: &[Vec<u8>]| f.concat();
        assert_eq!(
            String::from_utf8_lossy(&concat(&again.files[0])),
            String::from_utf8_lossy(&concat(&files[0]))
        );
        let sizes = |f: &[Vec<u8>]| f.iter().map(Vec::len).filter(|&n| n > 0).collect::<Vec<_>>();
        assert_eq!(sizes(&again.files[0]), sizes(&files[0]));
        assert!(sizes(&files[0]).iter().all(|&n| n <= 30), "{:?}", sizes(&files[0]));
    }
}
