//! This process's own command-line memory, for `readproctitle`.

/// The memory that holds this process's own command line, as `ps` reads it.
///
/// Linux reports its bounds in `/proc/self/stat` (fields 48 and 49,
/// `arg_start` and `arg_end`); `readproctitle` overwrites the bytes of its
/// last argument in place so that `ps` shows recent input.
pub struct ArgvArea {
    start: usize,
    len: usize,
}

impl ArgvArea {
    /// Locate the command-line memory of this process.
    pub fn locate() -> Option<ArgvArea> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) may contain spaces; fields after it
        // are counted from the last ')'.
        let after = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        // `after` starts at field 3, so field N is fields[N - 3].
        let start: usize = fields.get(48 - 3)?.parse().ok()?;
        let end: usize = fields.get(49 - 3)?.parse().ok()?;
        if end <= start {
            return None;
        }
        Some(ArgvArea { start, len: end - start })
    }

    /// Copy the area out.
    pub fn read(&self) -> Vec<u8> {
        // SAFETY: [start, start + len) is this process's argv block, which
        // the kernel mapped readable and writable and which lives for the
        // whole process; Rust's own copy of the arguments is separate.
        unsafe { std::slice::from_raw_parts(self.start as *const u8, self.len).to_vec() }
    }

    /// Overwrite `bytes.len()` bytes at `offset`; returns false if they do
    /// not fit.
    pub fn write(&self, offset: usize, bytes: &[u8]) -> bool {
        if offset.checked_add(bytes.len()).is_none_or(|end| end > self.len) {
            return false;
        }
        // SAFETY: bounds checked above against the argv block, see `read`.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                (self.start + offset) as *mut u8,
                bytes.len(),
            );
        }
        true
    }
}
