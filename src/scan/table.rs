//! What the scanner knows and decides, without any I/O: which supervise
//! processes should run, which to start now, which to stop, and when to look
//! again. `super` feeds it directory listings, start results and exits.

use std::collections::HashMap;
use std::ffi::OsString;
use std::time::Duration;

/// The least time between two starts of the same supervise, so that one
/// that cannot start (its directory is already locked, say) is retried
/// once a second rather than in a busy loop.
pub const MIN_START_GAP: Duration = Duration::from_secs(1);

/// A service directory's identity: device and inode, so that a rename or a
/// new link to the same directory is the same service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub dev: u64,
    pub ino: u64,
}

/// The service itself or its logger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Main,
    Log,
}

/// A service directory found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub key: Key,
    pub name: OsString,
    /// `NAME/log` is a directory.
    pub has_log: bool,
}

/// What the scanner must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start `supervise NAME` or `supervise NAME/log`; answer with
    /// [`Table::started`].
    Start { key: Key, side: Side },
    /// Send SIGTERM to a supervise (its `svc -dx`).
    Stop { pid: u32 },
    /// Send `signal` to a supervisor (a scanner's policy on exit).
    Signal { pid: u32, signal: nix::sys::signal::Signal },
    /// The service is gone: close its log pipe.
    Forget { key: Key },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Slot {
    pid: Option<u32>,
    last_start: Option<Duration>,
    stop_sent: bool,
}

impl Slot {
    fn startable_at(&self) -> Duration {
        self.last_start.map_or(Duration::ZERO, |last| last + MIN_START_GAP)
    }
}

/// One service under the scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: OsString,
    pub has_log: bool,
    main: Slot,
    log: Slot,
    /// Gone from the directory (or the scanner is stopping): wind down.
    removed: bool,
}

impl Entry {
    fn slot_mut(&mut self, side: Side) -> &mut Slot {
        match side {
            Side::Main => &mut self.main,
            Side::Log => &mut self.log,
        }
    }

    /// Sides that should run.
    fn sides(&self) -> &'static [Side] {
        if self.has_log { &[Side::Log, Side::Main] } else { &[Side::Main] }
    }
}

/// Every service the scanner supervises.
#[derive(Debug, Default)]
pub struct Table {
    entries: HashMap<Key, Entry>,
    by_pid: HashMap<u32, (Key, Side)>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    pub fn get(&self, key: Key) -> Option<&Entry> {
        self.entries.get(&key)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every service: its key and directory name.
    pub fn services(&self) -> impl Iterator<Item = (Key, &OsString)> {
        self.entries.iter().filter(|(_, e)| !e.removed).map(|(&key, e)| (key, &e.name))
    }

    /// Every running supervisor.
    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.by_pid.keys().copied()
    }

    /// The pid of a running supervise.
    #[cfg(test)]
    pub fn pid(&self, key: Key, side: Side) -> Option<u32> {
        let entry = self.entries.get(&key)?;
        match side {
            Side::Main => entry.main.pid,
            Side::Log => entry.log.pid,
        }
    }

    /// A new listing of the directory: add what is new, wind down what is
    /// gone, start what should run.
    pub fn rescan(&mut self, listing: Vec<Found>, now: Duration) -> Vec<Step> {
        let mut seen = std::collections::HashSet::with_capacity(listing.len());
        for found in listing {
            seen.insert(found.key);
            let entry = self.entries.entry(found.key).or_insert_with(|| Entry {
                name: found.name.clone(),
                has_log: false,
                main: Slot::default(),
                log: Slot::default(),
                removed: false,
            });
            // A log directory that appears later gets its logger; one that
            // disappears keeps it: the pipe is already the service's stdout.
            entry.has_log |= found.has_log;
            if entry.removed && !entry.main.stop_sent && !entry.log.stop_sent {
                entry.removed = false;
            }
        }
        for (key, entry) in self.entries.iter_mut() {
            if !seen.contains(key) {
                entry.removed = true;
            }
        }
        self.steps(now)
    }

    /// Wind everything down (SIGTERM to the scanner).
    pub fn stop_all(&mut self) -> Vec<Step> {
        for entry in self.entries.values_mut() {
            entry.removed = true;
        }
        self.steps(Duration::ZERO)
    }

    /// The result of a [`Step::Start`]: the new pid, or `None` if the start
    /// failed (it will be retried after the gap).
    pub fn started(&mut self, key: Key, side: Side, pid: Option<u32>, now: Duration) {
        if let Some(entry) = self.entries.get_mut(&key) {
            let slot = entry.slot_mut(side);
            slot.pid = pid;
            slot.last_start = Some(now);
            slot.stop_sent = false;
            if let Some(pid) = pid {
                self.by_pid.insert(pid, (key, side));
            }
        }
    }

    /// A supervise exited.
    pub fn exited(&mut self, pid: u32, now: Duration) -> Vec<Step> {
        let Some((key, side)) = self.by_pid.remove(&pid) else { return Vec::new() };
        if let Some(entry) = self.entries.get_mut(&key) {
            let slot = entry.slot_mut(side);
            slot.pid = None;
            slot.stop_sent = false;
        }
        self.steps(now)
    }

    /// Starts that have become due (after the gap).
    pub fn due(&mut self, now: Duration) -> Vec<Step> {
        self.steps(now)
    }

    /// When a start that waits for the gap becomes due.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.entries
            .values()
            .filter(|entry| !entry.removed)
            .flat_map(|entry| {
                entry.sides().iter().filter_map(move |&side| {
                    let slot = match side {
                        Side::Main => &entry.main,
                        Side::Log => &entry.log,
                    };
                    slot.pid.is_none().then(|| slot.startable_at())
                })
            })
            .min()
    }

    fn steps(&mut self, now: Duration) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut gone = Vec::new();
        for (&key, entry) in self.entries.iter_mut() {
            if entry.removed {
                // The service first, so that its last lines reach the
                // logger; the logger once the service's supervise is gone.
                if let Some(pid) = entry.main.pid {
                    if !entry.main.stop_sent {
                        entry.main.stop_sent = true;
                        steps.push(Step::Stop { pid });
                    }
                } else if let Some(pid) = entry.log.pid {
                    if !entry.log.stop_sent {
                        entry.log.stop_sent = true;
                        steps.push(Step::Stop { pid });
                    }
                } else {
                    gone.push(key);
                }
                continue;
            }
            for &side in entry.sides() {
                let slot = entry.slot_mut(side);
                if slot.pid.is_none() && now >= slot.startable_at() {
                    // Recorded now so that a second call before `started`
                    // does not start it twice.
                    slot.last_start = Some(now);
                    steps.push(Step::Start { key, side });
                }
            }
        }
        for key in gone {
            self.entries.remove(&key);
            steps.push(Step::Forget { key });
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u64) -> Key {
        Key { dev: 1, ino: n }
    }

    fn found(n: u64, name: &str, has_log: bool) -> Found {
        Found { key: key(n), name: name.into(), has_log }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn start_all(table: &mut Table, steps: &[Step], first_pid: u32, now: Duration) {
        for (i, step) in steps.iter().enumerate() {
            if let Step::Start { key, side } = *step {
                table.started(key, side, Some(first_pid + i as u32), now);
            }
        }
    }

    #[test]
    fn new_service_is_started_with_its_logger() {
        let mut t = Table::new();
        let steps = t.rescan(vec![found(1, "shop", true), found(2, "mail", false)], ms(0));
        assert_eq!(steps.len(), 3);
        assert!(steps.contains(&Step::Start { key: key(1), side: Side::Main }));
        assert!(steps.contains(&Step::Start { key: key(1), side: Side::Log }));
        assert!(steps.contains(&Step::Start { key: key(2), side: Side::Main }));
    }

    #[test]
    fn running_services_are_left_alone_by_a_rescan() {
        let mut t = Table::new();
        let steps = t.rescan(vec![found(1, "shop", false)], ms(0));
        start_all(&mut t, &steps, 100, ms(0));
        assert!(t.rescan(vec![found(1, "shop", false)], ms(6000)).is_empty());
        assert_eq!(t.next_deadline(), None, "nothing to wake up for");
    }

    #[test]
    fn dead_supervise_is_restarted_at_once_after_the_gap() {
        let mut t = Table::new();
        let steps = t.rescan(vec![found(1, "shop", false)], ms(0));
        start_all(&mut t, &steps, 100, ms(0));
        assert!(t.exited(100, ms(300)).is_empty(), "too soon after its start");
        assert_eq!(t.next_deadline(), Some(ms(1000)));
        assert_eq!(t.due(ms(1000)), vec![Step::Start { key: key(1), side: Side::Main }]);
        t.started(key(1), Side::Main, Some(101), ms(1000));
        assert_eq!(t.exited(101, ms(5000)), vec![Step::Start { key: key(1), side: Side::Main }]);
    }

    #[test]
    fn failed_start_is_retried_after_the_gap() {
        let mut t = Table::new();
        t.rescan(vec![found(1, "shop", false)], ms(0));
        t.started(key(1), Side::Main, None, ms(0));
        assert!(t.due(ms(500)).is_empty());
        assert_eq!(t.due(ms(1000)).len(), 1);
    }

    #[test]
    fn removed_service_stops_main_then_log_then_is_forgotten() {
        let mut t = Table::new();
        let steps = t.rescan(vec![found(1, "shop", true)], ms(0));
        t.started(key(1), Side::Main, Some(10), ms(0));
        t.started(key(1), Side::Log, Some(11), ms(0));
        assert_eq!(steps.len(), 2);
        assert_eq!(t.rescan(vec![], ms(100)), vec![Step::Stop { pid: 10 }]);
        assert!(t.rescan(vec![], ms(200)).is_empty(), "TERM is sent once");
        assert_eq!(t.exited(10, ms(300)), vec![Step::Stop { pid: 11 }]);
        assert_eq!(t.exited(11, ms(400)), vec![Step::Forget { key: key(1) }]);
        assert!(t.is_empty());
    }

    #[test]
    fn stop_all_winds_everything_down() {
        let mut t = Table::new();
        let steps = t.rescan(vec![found(1, "a", false), found(2, "b", false)], ms(0));
        start_all(&mut t, &steps, 20, ms(0));
        let mut stops = t.stop_all();
        stops.sort_by_key(|s| format!("{s:?}"));
        assert_eq!(stops, vec![Step::Stop { pid: 20 }, Step::Stop { pid: 21 }]);
        assert_eq!(t.next_deadline(), None);
        t.exited(20, ms(10));
        t.exited(21, ms(10));
        assert!(t.is_empty());
    }

    #[test]
    fn log_directory_appearing_later_gets_a_logger() {
        let mut t = Table::new();
        let steps = t.rescan(vec![found(1, "shop", false)], ms(0));
        start_all(&mut t, &steps, 10, ms(0));
        assert_eq!(
            t.rescan(vec![found(1, "shop", true)], ms(100)),
            vec![Step::Start { key: key(1), side: Side::Log }]
        );
    }

    #[test]
    fn every_running_supervisor_is_listed() {
        let mut t = Table::new();
        let steps = t.rescan(vec![found(1, "a", true), found(2, "b", false)], ms(0));
        start_all(&mut t, &steps, 30, ms(0));
        let mut pids: Vec<u32> = t.pids().collect();
        pids.sort();
        assert_eq!(pids, vec![30, 31, 32]);
        t.exited(31, ms(10));
        assert_eq!(t.pids().count(), 2);
    }

    #[test]
    fn unknown_pids_are_ignored() {
        let mut t = Table::new();
        assert!(t.exited(4242, ms(0)).is_empty());
    }

    #[test]
    fn a_service_put_back_before_its_stop_keeps_running() {
        let mut t = Table::new();
        let steps = t.rescan(vec![found(1, "shop", false)], ms(0));
        start_all(&mut t, &steps, 10, ms(0));
        // Removal and return in one step of time: marked, then unmarked
        // before any TERM went out.
        t.entries.get_mut(&key(1)).unwrap().removed = true;
        assert!(t.rescan(vec![found(1, "shop", false)], ms(10)).is_empty());
        assert_eq!(t.pid(key(1), Side::Main), Some(10));
    }
}
