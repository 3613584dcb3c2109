//! Reading a state file (regular files only, bounded, read again while a writer is
//! mid-write) and writing one atomically (temp file, fsync, rename, fsync the directory).

use super::*;

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Parses a state file's text, naming the file in any error.
pub fn parse_text(path: &Path, text: &str) -> Result<Document> {
    Document::parse(text).map_err(|p| match p {
        ParseProblem::NonFinite => StateError::NonFinite {
            path: path.to_path_buf(),
        },
        ParseProblem::Invalid(message) => StateError::Parse {
            path: path.to_path_buf(),
            message,
        },
    })
}

/// What kind of file a non-regular file is, for messages.
pub(super) fn kind_of(ft: &fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "an unknown kind of file"
    }
}

/// A state file must be a regular file (symlinks followed) of at most
/// [`MAX_STATE_FILE_BYTES`].
pub(super) fn check_regular(path: &Path, m: &fs::Metadata) -> Result<()> {
    if !m.file_type().is_file() {
        return Err(StateError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&m.file_type()),
        });
    }
    if m.len() > MAX_STATE_FILE_BYTES {
        return Err(StateError::TooLarge {
            path: path.to_path_buf(),
            size: m.len(),
        });
    }
    Ok(())
}

/// A state file's bytes, never blocking and never reading without bound: checked with
/// `stat` before it is opened (a FIFO or device is never opened), opened non-blocking,
/// checked again with `fstat`, and read up to the cap.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    read_bytes_meta(path).map(|(b, _)| b)
}

/// `read_bytes`, with the file's metadata as it was after reading.
pub(super) fn read_bytes_meta(path: &Path) -> Result<(Vec<u8>, fs::Metadata)> {
    check_regular(path, &fs::metadata(path).map_err(io(path))?)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io(path))?;
    let m = file.metadata().map_err(io(path))?;
    check_regular(path, &m)?;
    let mut buf = Vec::with_capacity(m.len() as usize + 1);
    (&file)
        .take(MAX_STATE_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io(path))?;
    if buf.len() as u64 > MAX_STATE_FILE_BYTES {
        return Err(StateError::TooLarge {
            path: path.to_path_buf(),
            size: buf.len() as u64,
        });
    }
    let after = file.metadata().map_err(io(path))?;
    Ok((buf, after))
}

pub(super) fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Document> {
    let text = std::str::from_utf8(bytes).map_err(|e| StateError::Parse {
        path: path.to_path_buf(),
        message: format!("not UTF-8 text ({e})"),
    })?;
    parse_text(path, text)
}

/// Whether the file at `path` is no longer what `seen` describes (written or replaced).
pub(super) fn changed_since(path: &Path, seen: &fs::Metadata) -> bool {
    fs::metadata(path).map_or(true, |now| {
        (
            now.ino(),
            now.len(),
            now.mtime(),
            now.mtime_nsec(),
            now.ctime_nsec(),
        ) != (
            seen.ino(),
            seen.len(),
            seen.mtime(),
            seen.mtime_nsec(),
            seen.ctime_nsec(),
        )
    })
}

/// Whether the file was modified so recently that a writer may still be at it.
pub(super) fn recently_modified(m: &fs::Metadata) -> bool {
    m.modified().is_ok_and(|t| {
        SystemTime::now()
            .duration_since(t)
            .map_or(true, |age| age < MID_WRITE_WINDOW)
    })
}

/// Reads and parses one file, with its bytes. A file that does not parse is read again
/// while a writer may be at it (see [`REREAD_PAUSES`]).
pub(super) fn read_parsed(path: &Path) -> Result<(Vec<u8>, Document)> {
    let mut pauses = REREAD_PAUSES.iter();
    let mut tries = 0;
    let busy_until = Instant::now() + BUSY_REREAD;
    loop {
        let (bytes, meta) = read_bytes_meta(path)?;
        let err = match parse_bytes(path, &bytes) {
            Ok(doc) => return Ok((bytes, doc)),
            Err(e @ StateError::Parse { .. }) => e,
            Err(e) => return Err(e),
        };
        // Still being written (it changed while we read it), or just truncated by a writer
        // that may be descheduled (a busy machine): read it again, for at most
        // BUSY_REREAD. Just written but whole and broken: four quick tries. An old broken
        // file is reported at once.
        tries += 1;
        let recent = recently_modified(&meta);
        // What was read is not what the file holds now: it grew or shrank while being read
        // (e.g. read just after a truncation, written before the size was taken).
        let torn = bytes.len() as u64 != meta.len();
        let live = changed_since(path, &meta)
            || torn
            || (recent && (meta.len() == 0 || bytes.is_empty()))
            || (recent && tries <= 4);
        if !live || Instant::now() >= busy_until {
            return Err(err);
        }
        std::thread::sleep(pauses.next().copied().unwrap_or(Duration::from_millis(20)));
    }
}

/// Reads and parses one file (see [`read_bytes`] for what is refused, and
/// [`REREAD_PAUSES`] for a file caught mid-write).
pub fn read_document(path: &Path) -> Result<Document> {
    read_parsed(path).map(|(_, doc)| doc)
}

/// Writes `text` over `path` atomically: temp file in the target's directory, same mode
/// (and owner where permitted), fsync, rename, fsync the directory. A symlink is written
/// through to its target.
pub fn atomic_write(path: &Path, text: &[u8]) -> Result<()> {
    atomic_write_with(path, |w| w.write_all(text))
}

/// `atomic_write` of what `write` writes (through a buffer) to the temp file.
pub fn atomic_write_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&File>) -> std::io::Result<()>,
) -> Result<()> {
    let target = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).map_err(io(path))?,
        _ => path.to_path_buf(),
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    let old = fs::metadata(&target).ok();
    let stem = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{stem}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io(dir))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file());
        write(&mut w)
            .and_then(|()| w.flush())
            .map_err(io(tmp.path()))?;
    }
    if let Some(m) = &old {
        let f = tmp.as_file();
        f.set_permissions(fs::Permissions::from_mode(m.mode() & 0o7777))
            .map_err(io(&target))?;
        // Keep the owner where we may (root editing an operator's file); ignore EPERM.
        let _ = std::os::unix::fs::fchown(f, Some(m.uid()), Some(m.gid()));
    } else {
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io(&target))?;
    }
    tmp.as_file().sync_all().map_err(io(&target))?;
    tmp.persist(&target).map_err(|e| io(&target)(e.error))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Deletes temp files a killed writer left next to `path`'s target. Only lock holders
/// create them, so under the lock every one of them is stale.
pub(super) fn remove_stale_temp_files(path: &Path) {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return;
    };
    let pattern = format!(
        "{}/.{}.*.tmp",
        glob::Pattern::escape(&dir.to_string_lossy()),
        glob::Pattern::escape(&name.to_string_lossy())
    );
    if let Ok(paths) = glob::glob_with(
        &pattern,
        glob::MatchOptions {
            require_literal_leading_dot: false,
            ..Default::default()
        },
    ) {
        for p in paths.flatten() {
            let _ = fs::remove_file(p);
        }
    }
}
