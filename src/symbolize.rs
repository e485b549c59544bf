//! Names for code addresses from the ELF symbol tables (`.symtab`, else `.dynsym`) of
//! the mapped object, so static functions and the shim's own get names too (dladdr
//! sees exported symbols only). For the hog watchdog's thread, never a handler: it maps
//! the object's file with raw syscalls and unmaps it after the lookup.

use core::ffi::CStr;

/// The function containing `pc` in the object `file` loaded at `base`: (name, offset).
pub fn lookup(file: &CStr, base: usize, pc: usize, out: &mut [u8]) -> Option<(usize, usize)> {
    // SAFETY: NUL-terminated path.
    let fd = unsafe { crate::sys::sc!(libc::SYS_openat, libc::AT_FDCWD, file.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }.ok()? as i32;
    // SAFETY: a zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: st is live.
    let size = match unsafe { crate::sys::sc!(libc::SYS_fstat, fd, &mut st as *mut libc::stat) } {
        Ok(_) => st.st_size as usize,
        Err(_) => 0,
    };
    let map = if size >= 64 {
        // SAFETY: a private read-only mapping of the whole file.
        unsafe { crate::sys::sc!(libc::SYS_mmap, 0usize, size, libc::PROT_READ, libc::MAP_PRIVATE, fd, 0usize) }.ok()
    } else {
        None
    };
    let _ = crate::sys::close(fd);
    let map = map?;
    // SAFETY: the mapping is live and `size` bytes long until munmap below.
    let data = unsafe { core::slice::from_raw_parts(map as *const u8, size) };
    let r = find(data, base, pc, out);
    // SAFETY: unmapping what was mapped above; `data` is not used after.
    let _ = unsafe { crate::sys::sc!(libc::SYS_munmap, map, size) };
    r
}

fn rd<const N: usize>(d: &[u8], at: usize) -> Option<[u8; N]> {
    d.get(at..at + N)?.try_into().ok()
}
fn u16_(d: &[u8], at: usize) -> Option<usize> {
    rd::<2>(d, at).map(|b| u16::from_le_bytes(b) as usize)
}
fn u32_(d: &[u8], at: usize) -> Option<usize> {
    rd::<4>(d, at).map(|b| u32::from_le_bytes(b) as usize)
}
fn u64_(d: &[u8], at: usize) -> Option<usize> {
    rd::<8>(d, at).map(|b| u64::from_le_bytes(b) as usize)
}

/// Writes the demangled name into `out`; returns (name length, offset in the function).
fn find(d: &[u8], base: usize, pc: usize, out: &mut [u8]) -> Option<(usize, usize)> {
    if d.get(..4)? != b"\x7fELF" || d[4] != 2 {
        return None;
    }
    let etype = u16_(d, 16)?;
    // Shared objects and PIEs: symbol values are offsets from the load base.
    let addr = if etype == 3 { pc.wrapping_sub(base) } else { pc };
    let shoff = u64_(d, 40)?;
    let (shentsize, shnum) = (u16_(d, 58)?, u16_(d, 60)?);
    let sec = |i: usize| -> Option<(usize, usize, usize, usize, usize)> {
        let at = shoff + i * shentsize;
        // (type, offset, size, link, entsize)
        Some((u32_(d, at + 4)?, u64_(d, at + 24)?, u64_(d, at + 32)?, u32_(d, at + 40)?, u64_(d, at + 56)?))
    };
    // SHT_SYMTAB = 2 preferred, then SHT_DYNSYM = 11.
    for want in [2usize, 11] {
        for i in 0..shnum {
            let (ty, off, size, link, ent) = sec(i)?;
            if ty != want || ent < 24 {
                continue;
            }
            let (_, stroff, strsize, _, _) = sec(link)?;
            let mut best: Option<(usize, usize)> = None; // (value, name offset)
            for k in 0..size / ent {
                let at = off + k * ent;
                let info = *d.get(at + 4)?;
                if info & 0xf != 2 {
                    continue; // STT_FUNC only
                }
                let (value, sz) = (u64_(d, at + 8)?, u64_(d, at + 16)?);
                if value <= addr && addr < value + sz.max(1) && best.is_none_or(|(v, _)| value > v) {
                    best = Some((value, u32_(d, at)?));
                }
            }
            if let Some((value, name)) = best {
                let s = d.get(stroff + name..stroff + strsize)?;
                let s = &s[..s.iter().position(|&c| c == 0)?];
                return Some((demangle(s, out), addr - value));
            }
        }
    }
    None
}

/// Rust's legacy mangling (`_ZN3foo3bar17h0123456789abcdefE` → `foo::bar`); anything
/// else is copied as it is.
fn demangle(s: &[u8], out: &mut [u8]) -> usize {
    let mut n = 0;
    let mut put = |b: &[u8], n: &mut usize| {
        let k = b.len().min(out.len() - *n);
        out[*n..*n + k].copy_from_slice(&b[..k]);
        *n += k;
    };
    if let Some(mut rest) = s.strip_prefix(b"_ZN") {
        let mut first = true;
        while let Some(d) = rest.iter().position(|c| !c.is_ascii_digit()) {
            if d == 0 {
                break;
            }
            let len: usize = core::str::from_utf8(&rest[..d]).ok().and_then(|x| x.parse().ok()).unwrap_or(0);
            let Some(part) = rest.get(d..d + len) else { break };
            rest = &rest[d + len..];
            if part.len() == 17 && part[0] == b'h' && part[1..].iter().all(|c| c.is_ascii_hexdigit()) {
                break; // the hash
            }
            if !first {
                put(b"::", &mut n);
            }
            first = false;
            // `..` is `::`; `$LT$`-style escapes are decoded; a leading `_$` is `$`.
            const ESCAPES: [(&[u8], &[u8]); 12] = [
                (b"$LT$", b"<"), (b"$GT$", b">"), (b"$C$", b","), (b"$RF$", b"&"), (b"$BP$", b"*"), (b"$SP$", b"@"),
                (b"$u7b$", b"{"), (b"$u7d$", b"}"), (b"$u20$", b" "), (b"$u27$", b"'"), (b"$u5b$", b"["), (b"$u5d$", b"]"),
            ];
            let part = part.strip_prefix(b"_").filter(|p| p.starts_with(b"$")).unwrap_or(part);
            let mut i = 0;
            'outer: while i < part.len() {
                if part[i..].starts_with(b"..") {
                    put(b"::", &mut n);
                    i += 2;
                    continue;
                }
                if part[i] == b'$' {
                    for (from, to) in ESCAPES {
                        if part[i..].starts_with(from) {
                            put(to, &mut n);
                            i += from.len();
                            continue 'outer;
                        }
                    }
                }
                put(&part[i..i + 1], &mut n);
                i += 1;
            }
        }
        if n > 0 {
            return n;
        }
    }
    put(s, &mut n);
    n
}
