//! Drops the page-table entries of code that only ran while the shim was starting up.
//!
//! Startup (config parsing, detaching, creating the container) faults in code all over a large
//! binary, and fault-around maps 64 KiB at a time; all of it stays counted in the resident set
//! for the container's whole life although the event loop never runs it again. Read-only,
//! never-written file mappings (program and library text) can be dropped with MADV_DONTNEED:
//! their pages stay in the page cache and come back on the next touch. Writable mappings and
//! RELRO (written by the dynamic linker, then made read-only) are left alone. The supervisor
//! does it half a second after the create or a helper's run (`supervisor::TRIM_AFTER`), not at
//! once: a short-lived container's start and exit would fault the same code back in.

use std::fs;

/// What part of a mapping line says it is safe to drop.
fn droppable(line: &str) -> Option<(usize, usize)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let offset = fields.next()?;
    let _device = fields.next()?;
    let inode = fields.next()?;
    let path = fields.next()?;
    if inode == "0" || !path.starts_with('/') {
        return None;
    }
    // Text, or the read-only headers/rodata segment at file offset 0. A read-only segment at
    // another offset may be RELRO, whose pages hold relocations and must not be dropped.
    let text = perms == "r-xp";
    let headers = perms == "r--p" && u64::from_str_radix(offset, 16).ok()? == 0;
    if !(text || headers) {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    Some((
        usize::from_str_radix(start, 16).ok()?,
        usize::from_str_radix(end, 16).ok()?,
    ))
}

/// Best effort: a failure leaves the resident set as it was.
pub fn drop_startup_pages() {
    let Ok(maps) = fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for (start, end) in maps.lines().filter_map(droppable) {
        // SAFETY: the range is a whole private, read-only, file-backed mapping that nothing
        // ever wrote; MADV_DONTNEED only unmaps its pages, which refault from the file.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_only_unwritten_file_mappings() {
        let text = "00400000-00742000 r-xp 0030d000 08:01 1234 /usr/bin/berth-shim";
        assert_eq!(droppable(text), Some((0x400000, 0x742000)));
        let headers = "00200000-0030d000 r--p 00000000 08:01 1234 /usr/bin/berth-shim";
        assert!(droppable(headers).is_some());
        let relro = "00742000-0079f000 r--p 00541000 08:01 1234 /usr/bin/berth-shim";
        assert_eq!(droppable(relro), None);
        let data = "0079f000-007a3000 rw-p 0059e000 08:01 1234 /usr/bin/berth-shim";
        assert_eq!(droppable(data), None);
        let heap = "150a0000-150c1000 rw-p 00000000 00:00 0 [heap]";
        assert_eq!(droppable(heap), None);
        let vdso = "7ffd77000000-7ffd77002000 r-xp 00000000 00:00 0 [vdso]";
        assert_eq!(droppable(vdso), None);
    }
}
