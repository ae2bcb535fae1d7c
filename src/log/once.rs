//! Exactly-once input from a pipe: look at the head of stdin without taking
//! it (tee(2) into a private pipe), write it out, and only then consume it.
//! A note (`pending` in the first log directory) says what was about to be
//! consumed, so a logger killed in between finds out on restart whether
//! those bytes are still in the pipe and rewrites them instead of losing or
//! doubling them.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice, tee};

use super::engine::{HeadLeft, Midline};

/// Pipe capacity asked for (the kernel's default limit for unprivileged
/// users is 1 MiB).
pub const PIPE_SIZE: usize = 1 << 20;

/// FNV-1a over 64-bit words (and the trailing bytes), fast enough to run
/// over every batch.
pub fn hash(bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        h ^= u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        h = h.wrapping_mul(PRIME);
    }
    for &b in chunks.remainder() {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h ^ bytes.len() as u64
}

/// What a batch was about to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Bytes of stdin in the batch.
    pub len: u64,
    pub hash: u64,
    /// The line under way at the batch start, or None at a line start.
    pub midline: Option<Midline>,
    /// The line under way once the batch is taken, for a logger killed
    /// after taking it: the next one goes on with that line instead of
    /// stamping its rest as a new one.
    pub after: Option<Midline>,
    /// Size of each directory's `current` before the batch.
    pub sizes: Vec<u64>,
}

impl Note {
    /// The note once its batch is taken (nothing left to check in the
    /// pipe), or None if that leaves nothing to remember.
    pub fn taken(&self, sizes: Vec<u64>) -> Option<Note> {
        let after = self.after.clone()?;
        Some(Note {
            len: 0,
            hash: hash(b""),
            midline: Some(after.clone()),
            after: Some(after),
            sizes,
        })
    }

    /// Text form: `pending LEN HASH STATE AFTER SIZE...\n` where each
    /// state is `-` at a line start or the selection as `0`/`1` digits
    /// prefixed by `m`, followed, if a rotation cut the line's head, by
    /// `:EMITTED:PREFIX_AT:PREFIX_DONE:COMPLETE:HEX_OF_HEAD`.
    pub fn encode(&self) -> Vec<u8> {
        let sizes: Vec<String> = self.sizes.iter().map(|s| s.to_string()).collect();
        format!(
            "pending {} {:016x} {} {} {}\n",
            self.len,
            self.hash,
            encode_line(self.midline.as_ref()),
            encode_line(self.after.as_ref()),
            sizes.join(" ")
        )
        .into_bytes()
    }

    pub fn decode(text: &[u8]) -> Option<Note> {
        // Only the first line: a logger killed between writing a note and
        // cutting the file to its length leaves a longer note's tail.
        let end = text.iter().position(|&b| b == b'\n')?;
        let line = std::str::from_utf8(&text[..end]).ok()?;
        let mut words = line.split(' ');
        if words.next()? != "pending" {
            return None;
        }
        let len = words.next()?.parse().ok()?;
        let hash = u64::from_str_radix(words.next()?, 16).ok()?;
        let midline = decode_line(words.next()?)?;
        let after = decode_line(words.next()?)?;
        let sizes =
            words.filter(|w| !w.is_empty()).map(|w| w.parse().ok()).collect::<Option<_>>()?;
        Some(Note { len, hash, midline, after, sizes })
    }
}

fn encode_line(line: Option<&Midline>) -> String {
    let Some(line) = line else {
        return "-".to_string();
    };
    let bits: String = line.selected.iter().map(|&b| if b { '1' } else { '0' }).collect();
    let mut state = format!("m{bits}");
    if let Some(h) = &line.head {
        let hex: String = h.bytes.iter().map(|b| format!("{b:02x}")).collect();
        state += &format!(
            ":{}:{}:{}:{}:{hex}",
            h.emitted,
            h.prefix_at,
            u8::from(h.prefix_done),
            u8::from(h.complete)
        );
    }
    state
}

/// Some(None) for `-`, None if malformed.
fn decode_line(state: &str) -> Option<Option<Midline>> {
    if state == "-" {
        return Some(None);
    }
    let mut parts = state.strip_prefix('m')?.split(':');
    let selected = parts.next()?.chars().map(|c| c == '1').collect();
    let head = match parts.next() {
        None => None,
        Some(emitted) => {
            let prefix_at = parts.next()?.parse().ok()?;
            let prefix_done = parts.next()? == "1";
            let complete = parts.next()? == "1";
            let hex = parts.next()?.as_bytes();
            let bytes = hex
                .chunks(2)
                .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
                .collect::<Option<_>>()?;
            let emitted = emitted.parse().ok()?;
            Some(HeadLeft { bytes, emitted, prefix_at, prefix_done, complete })
        }
    };
    Some(Some(Midline { selected, head }))
}

/// The note file. The first byte is overwritten with `d` once the batch
/// was consumed, so a finished note is never taken for a pending one.
pub struct NoteFile {
    file: File,
}

impl NoteFile {
    pub fn open(path: &Path) -> io::Result<NoteFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)?;
        Ok(NoteFile { file })
    }

    /// The pending note, if the last batch was not marked done.
    pub fn pending(&self) -> Option<Note> {
        let mut buf = Vec::new();
        (&self.file).seek(std::io::SeekFrom::Start(0)).ok()?;
        (&self.file).read_to_end(&mut buf).ok()?;
        Note::decode(&buf)
    }

    pub fn write(&self, note: &Note) -> io::Result<()> {
        let text = note.encode();
        self.file.write_all_at(&text, 0)?;
        self.file.set_len(text.len() as u64)
    }

    pub fn done(&self) -> io::Result<()> {
        self.file.write_all_at(b"d", 0)
    }
}

/// Peeks at stdin (a pipe) through a private pipe.
pub struct Peeker {
    read: OwnedFd,
    write: OwnedFd,
    null: Option<File>,
    scratch: Vec<u8>,
    pub capacity: usize,
}

/// Whether `fd` is a pipe (or FIFO).
pub fn is_pipe(fd: BorrowedFd<'_>) -> bool {
    nix::sys::stat::fstat(fd).map(|st| st.st_mode & libc::S_IFMT == libc::S_IFIFO).unwrap_or(false)
}

impl Peeker {
    pub fn new(stdin: BorrowedFd<'_>) -> io::Result<Peeker> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let _ = fcntl(stdin, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE as i32));
        let have = fcntl(stdin, FcntlArg::F_GETPIPE_SZ).unwrap_or(65536) as usize;
        let _ = fcntl(&write, FcntlArg::F_SETPIPE_SZ(have as i32));
        let mine = fcntl(&write, FcntlArg::F_GETPIPE_SZ).unwrap_or(65536) as usize;
        let null = OpenOptions::new().write(true).open("/dev/null").ok();
        Ok(Peeker { read, write, null, scratch: vec![0; 65536], capacity: have.min(mine) })
    }

    /// Copy up to `want` bytes from the head of stdin into `buf` (which is
    /// cleared) without consuming them. Ok(0) means end of input; Err
    /// WouldBlock means nothing is there now.
    pub fn peek(
        &mut self,
        stdin: BorrowedFd<'_>,
        buf: &mut Vec<u8>,
        want: usize,
    ) -> io::Result<usize> {
        buf.clear();
        let want = want.min(self.capacity);
        let n = loop {
            match tee(stdin, &self.write, want, SpliceFFlags::SPLICE_F_NONBLOCK) {
                Ok(n) => break n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        buf.resize(n, 0);
        let mut got = 0;
        while got < n {
            match nix::unistd::read(&self.read, &mut buf[got..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(k) => got += k,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(n)
    }

    /// Take `len` bytes off stdin for good (the bytes last peeked).
    pub fn consume(&mut self, stdin: BorrowedFd<'_>, mut len: usize) -> io::Result<()> {
        while len > 0 {
            if let Some(null) = &self.null {
                match splice(stdin, None, null.as_fd(), None, len, SpliceFFlags::empty()) {
                    Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                    Ok(k) => {
                        len -= k;
                        continue;
                    }
                    Err(Errno::EINTR) => continue,
                    Err(_) => self.null = None,
                }
            }
            let cap = len.min(self.scratch.len());
            match nix::unistd::read(stdin, &mut self.scratch[..cap]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(k) => len -= k,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_round_trip() {
        for note in [
            Note { len: 12, hash: 0xdead_beef, midline: None, after: None, sizes: vec![0, 4096] },
            Note {
                len: 1 << 20,
                hash: u64::MAX,
                midline: Some(Midline::selected(vec![true, false])),
                after: None,
                sizes: vec![7, 9],
            },
            Note {
                len: 3,
                hash: 1,
                midline: Some(Midline {
                    selected: vec![false, true],
                    head: Some(HeadLeft {
                        bytes: b"@4000 a\x00\xff\n".to_vec(),
                        emitted: 3,
                        prefix_at: 2,
                        prefix_done: false,
                        complete: true,
                    }),
                }),
                after: Some(Midline::selected(vec![true])),
                sizes: vec![0, 30],
            },
        ] {
            assert_eq!(Note::decode(&note.encode()), Some(note));
        }
        assert_eq!(Note::decode(b"dending 1 2 - - 3\n"), None);
        assert_eq!(Note::decode(b"pending 1 2 - - 3"), None);
        assert_eq!(Note::decode(b"pending 1 2 - 3\n"), None, "the old form");
        let short = Note { len: 0, hash: 1, midline: None, after: None, sizes: vec![5] };
        let mut torn = short.encode();
        torn.extend_from_slice(b"0 77 99\n");
        assert_eq!(Note::decode(&torn), Some(short));
    }

    #[test]
    fn hash_sees_every_byte() {
        let a = b"0123456789abcdefXYZ".to_vec();
        let h = hash(&a);
        for i in 0..a.len() {
            let mut b = a.clone();
            b[i] ^= 1;
            assert_ne!(hash(&b), h, "byte {i}");
        }
        assert_ne!(hash(b"ab"), hash(b"ab\0"));
    }

    #[test]
    fn peek_does_not_consume() {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, b"hello\nworld\n").unwrap();
        let mut p = Peeker::new(r.as_fd()).unwrap();
        let mut buf = Vec::new();
        assert_eq!(p.peek(r.as_fd(), &mut buf, 100).unwrap(), 12);
        assert_eq!(buf, b"hello\nworld\n");
        p.consume(r.as_fd(), 6).unwrap();
        assert_eq!(p.peek(r.as_fd(), &mut buf, 100).unwrap(), 6);
        assert_eq!(buf, b"world\n");
        p.consume(r.as_fd(), 6).unwrap();
        drop(w);
        assert_eq!(p.peek(r.as_fd(), &mut buf, 100).unwrap(), 0);
    }
}
