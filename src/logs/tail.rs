//! One log file, tailed: its last lines read from the end (a 1 GB file costs what its last
//! lines cost), then what is appended, across rotation (the file renamed away and a new one
//! made: the old one is read to its end, rotated files we never saw are read in order,
//! then the new one from its start), truncation (read again from the start), and a file
//! that vanishes or cannot be read (said, then picked up when it is back). A line longer
//! than the cap keeps its first `cap` bytes and says how many more it had; a line not yet
//! ended is held until it is (across rotation too: circus may rotate mid-line).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::clean::{CUT_START, clean_line};

/// Read in pieces of this size (backwards from the end, and forwards).
const CHUNK: usize = 64 << 10;
/// Reading back for the last lines stops after this many bytes (a file of one huge line).
const MAX_BACK: u64 = 64 << 20;
/// Rotated files (`output.log.1` ...) looked at for ones that were never read.
const MAX_BACKUPS: usize = 100;

/// What happened to the file, for the viewer to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// Reading it (again): it appeared, came back or became readable.
    Reading,
    /// There is no such file (yet, or any more).
    Missing(String),
    /// It cannot be opened or read.
    Unreadable(String),
    /// It was rotated: the rest of the old file was read, then the new one.
    Rotated,
    /// It shrank: read again from its start.
    Truncated,
}

/// A tailed file.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    file: Option<File>,
    /// The open file's device and inode.
    id: (u64, u64),
    pos: u64,
    /// A line not ended yet: at most `cap` bytes of it, and how many more it had.
    partial: Vec<u8>,
    partial_more: u64,
    /// The partial line began before what was read back.
    partial_cut_start: bool,
    cap: usize,
    /// What was said last (a note is said when it changes).
    said: Option<Note>,
}

fn err_note(path: &Path, e: &std::io::Error) -> Note {
    if e.kind() == std::io::ErrorKind::NotFound {
        Note::Missing(format!("{} does not exist", path.display()))
    } else {
        Note::Unreadable(format!("cannot read {}: {e}", path.display()))
    }
}

fn file_id(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

impl Tail {
    /// Opens `path` and returns its last `last` lines (0: none, just follow from the
    /// end), each cut at `cap` bytes; a note when it cannot be read (it is then tried again
    /// on every [`Tail::read_new`]).
    pub fn open(path: &Path, last: usize, cap: usize) -> (Tail, Vec<String>, Option<Note>) {
        let mut t = Tail {
            path: path.to_path_buf(),
            file: None,
            id: (0, 0),
            pos: 0,
            partial: Vec::new(),
            partial_more: 0,
            partial_cut_start: false,
            cap: cap.max(1),
            said: None,
        };
        let opened = File::open(path).and_then(|f| {
            let m = f.metadata()?;
            Ok((f, m))
        });
        let (mut f, m) = match opened {
            Ok(x) => x,
            Err(e) => {
                let n = err_note(path, &e);
                t.said = Some(n.clone());
                return (t, Vec::new(), Some(n));
            }
        };
        if !m.is_file() {
            let n = Note::Unreadable(format!("{} is not a regular file", path.display()));
            t.said = Some(n.clone());
            return (t, Vec::new(), Some(n));
        }
        t.id = file_id(&m);
        let size = m.len();
        let mut lines = Vec::new();
        let start = match last_lines_start(&mut f, size, last) {
            Ok(s) => s,
            Err(e) => {
                let n = Note::Unreadable(format!("cannot read {}: {e}", path.display()));
                t.said = Some(n.clone());
                return (t, Vec::new(), Some(n));
            }
        };
        t.partial_cut_start = start.cut;
        t.pos = start.offset;
        t.file = Some(f);
        t.said = Some(Note::Reading);
        // Read to the size seen (what is appended meanwhile comes with the next read).
        let mut budget = size.saturating_sub(start.offset);
        while budget > 0 {
            match t.read_some(&mut lines, budget) {
                Ok(0) => break,
                Ok(n) => budget = budget.saturating_sub(n),
                Err(e) => {
                    let n = err_note(path, &e);
                    t.said = Some(n.clone());
                    return (t, lines, Some(n));
                }
            }
        }
        if last == 0 {
            lines.clear();
        } else if lines.len() > last {
            lines.drain(..lines.len() - last);
        }
        (t, lines, None)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The line not ended yet, as a line (the end of a read without follow).
    pub fn take_partial(&mut self) -> Option<String> {
        if self.partial.is_empty() && self.partial_more == 0 {
            return None;
        }
        Some(self.finish_line())
    }

    fn finish_line(&mut self) -> String {
        let mut s = clean_line(&self.partial, self.partial_more);
        if std::mem::take(&mut self.partial_cut_start) {
            s.insert_str(0, CUT_START);
        }
        self.partial.clear();
        self.partial_more = 0;
        s
    }

    /// Reads at most `budget` bytes from the open file at `pos`, splitting lines into
    /// `out`; the number of bytes read (0 at the end).
    fn read_some(&mut self, out: &mut Vec<String>, budget: u64) -> std::io::Result<u64> {
        let Some(f) = self.file.as_mut() else {
            return Ok(0);
        };
        f.seek(SeekFrom::Start(self.pos))?;
        let mut buf = vec![0u8; CHUNK.min(budget.max(1) as usize)];
        let n = loop {
            match f.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.pos += n as u64;
        self.split(&buf[..n], out);
        Ok(n as u64)
    }

    /// Adds `data` to the partial line, ending lines at each newline.
    fn split(&mut self, mut data: &[u8], out: &mut Vec<String>) {
        while !data.is_empty() {
            let (piece, ended) = match memchr(b'\n', data) {
                Some(i) => (&data[..i], Some(i + 1)),
                None => (data, None),
            };
            let room = self.cap.saturating_sub(self.partial.len());
            let keep = piece.len().min(room);
            self.partial.extend_from_slice(&piece[..keep]);
            self.partial_more += (piece.len() - keep) as u64;
            match ended {
                Some(i) => {
                    out.push(self.finish_line());
                    data = &data[i..];
                }
                None => break,
            }
        }
    }

    /// Reads what was added since the last read, up to about `budget` bytes: new lines,
    /// what happened to the file (when it changed), and whether more is waiting.
    pub fn read_new(&mut self, budget: u64) -> (Vec<String>, Vec<Note>, bool) {
        let mut lines = Vec::new();
        let mut notes = Vec::new();
        let more = self.step(&mut lines, &mut notes, budget);
        (lines, notes, more)
    }

    fn say(&mut self, n: Note, notes: &mut Vec<Note>) {
        let repeat = match (&self.said, &n) {
            (Some(a), b) if a == b => true,
            // A missing file says so once, whatever the error's words.
            (Some(Note::Missing(_)), Note::Missing(_)) => true,
            (Some(Note::Unreadable(_)), Note::Unreadable(_)) => true,
            // The new file after a rotation, or the same one: nothing to say.
            (Some(Note::Rotated | Note::Truncated), Note::Reading) => true,
            _ => false,
        };
        if !repeat || matches!(n, Note::Rotated | Note::Truncated) {
            notes.push(n.clone());
        }
        self.said = Some(n);
    }

    fn step(&mut self, lines: &mut Vec<String>, notes: &mut Vec<Note>, budget: u64) -> bool {
        if self.file.is_none() {
            if self.id != (0, 0) {
                // Gone and back: rotated files made meanwhile come first.
                self.read_missed_backups(lines);
                self.file = None;
            }
            match File::open(&self.path).and_then(|f| f.metadata().map(|m| (f, m))) {
                Ok((f, m)) if m.is_file() => {
                    self.file = Some(f);
                    self.id = file_id(&m);
                    self.pos = 0;
                    self.say(Note::Reading, notes);
                }
                Ok(_) => {
                    let n =
                        Note::Unreadable(format!("{} is not a regular file", self.path.display()));
                    self.say(n, notes);
                    return false;
                }
                Err(e) => {
                    let n = err_note(&self.path, &e);
                    self.say(n, notes);
                    return false;
                }
            }
        }
        let Some(f) = self.file.as_ref() else {
            return false;
        };
        let size = match f.metadata() {
            Ok(m) => m.len(),
            Err(e) => {
                let n = Note::Unreadable(format!("cannot read {}: {e}", self.path.display()));
                self.say(n, notes);
                self.file = None;
                return false;
            }
        };
        if size > self.pos {
            match self.read_some(lines, budget) {
                // Something was read: look again (more, or the end and then rotation).
                Ok(n) if n > 0 => return true,
                Ok(_) => {}
                Err(e) => {
                    let n = Note::Unreadable(format!("cannot read {}: {e}", self.path.display()));
                    self.say(n, notes);
                    self.file = None;
                    return false;
                }
            }
        }
        if size < self.pos {
            // Truncated in place: from the start again (a line it was in the middle of is
            // ended as it was).
            if let Some(l) = self.take_partial() {
                lines.push(l);
            }
            self.pos = 0;
            self.say(Note::Truncated, notes);
            return true;
        }
        // At the end of the open file: is the path still this file?
        match std::fs::metadata(&self.path) {
            Ok(m) if file_id(&m) == self.id => false,
            Ok(_) => {
                // Rotated: the old file was read to its end. Rotated files made since ours
                // (ours is `.k`: `.k-1` ... `.1`) are read whole, oldest first, then the
                // new file from its start.
                self.read_missed_backups(lines);
                self.file = None;
                self.say(Note::Rotated, notes);
                true
            }
            Err(e) => {
                // Gone (or between circus's rename and its new file): the old one was read
                // to its end; the path is tried again on every read.
                self.file = None;
                let n = err_note(&self.path, &e);
                self.say(n, notes);
                true
            }
        }
    }

    /// After a rotation: the files `path.1` ... that came after the one we had open,
    /// read whole, oldest first (several rotations between two reads lose nothing while
    /// circus keeps backups).
    fn read_missed_backups(&mut self, lines: &mut Vec<String>) {
        let name = |i: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        let mut ours = None;
        for i in 1..=MAX_BACKUPS {
            match std::fs::metadata(name(i)) {
                Ok(m) if file_id(&m) == self.id => {
                    ours = Some(i);
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let Some(k) = ours else { return };
        // Open them all first: a rotation meanwhile renames files, not their content.
        let files: Vec<File> = (1..k)
            .rev()
            .filter_map(|i| File::open(name(i)).ok())
            .collect();
        for f in files {
            let id = f.metadata().map(|m| file_id(&m)).unwrap_or_default();
            self.file = Some(f);
            self.id = id;
            self.pos = 0;
            while let Ok(n) = self.read_some(lines, u64::MAX) {
                if n == 0 {
                    break;
                }
            }
        }
    }
}

fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&x| x == b)
}

/// Where reading starts for the last lines.
struct Start {
    offset: u64,
    /// The first line began before `offset` (read back as far as allowed).
    cut: bool,
}

/// The offset where the file's last `n` lines start, read backwards in chunks: at most
/// [`MAX_BACK`] bytes (then the first line shown is cut at its start).
fn last_lines_start(f: &mut File, size: u64, n: usize) -> std::io::Result<Start> {
    if n == 0 || size == 0 {
        return Ok(Start {
            offset: size,
            cut: false,
        });
    }
    // A newline that ends the file ends the last line: not a line start.
    let mut end = size;
    let mut buf = vec![0u8; CHUNK];
    let mut last_byte = [0u8; 1];
    f.seek(SeekFrom::Start(size - 1))?;
    f.read_exact(&mut last_byte)?;
    // An unfinished last line is held, not counted: one more line start is wanted.
    let n = if last_byte[0] == b'\n' {
        end -= 1;
        n
    } else {
        n + 1
    };
    let floor = size.saturating_sub(MAX_BACK);
    let mut found = 0usize;
    while end > floor {
        let from = end.saturating_sub(CHUNK as u64).max(floor);
        let len = (end - from) as usize;
        f.seek(SeekFrom::Start(from))?;
        f.read_exact(&mut buf[..len])?;
        for i in (0..len).rev() {
            if buf[i] == b'\n' {
                found += 1;
                if found == n {
                    return Ok(Start {
                        offset: from + i as u64 + 1,
                        cut: false,
                    });
                }
            }
        }
        end = from;
    }
    Ok(Start {
        offset: floor,
        cut: floor > 0,
    })
}

#[cfg(test)]
mod tests;
