//! Typed `GREENSHIM_*` configuration, read and validated once at start-up.
//!
//! | variable | accepted form | default |
//! |---|---|---|
//! | `GREENSHIM_STACK_SIZE` | bytes, optional `K`/`M`/`G` suffix, ≥ 16K | `RLIMIT_STACK` capped at 8M |
//! | `GREENSHIM_LOG` | `off`, `error`, `warn`, `info`, `debug`, `trace` | `error` |
//! | `GREENSHIM_STATS` | `0` or `1` | `0` |
//! | `GREENSHIM_DISABLE` | `0` or `1` (pass every call through) | `0` |
//! | `GREENSHIM_OFFLOAD_THREADS` | 1..=256 | `4` |
//! | `GREENSHIM_STACK_GUARD` | `0` or `1` (guard page below each green stack) | `1` |
//! | `GREENSHIM_FILE_IO` | `auto`, `inline` or `offload` (regular-file read/write) | `auto` |
//! | `GREENSHIM_SLICE` | `0` (off) or a duration with unit `ns`, `us`, `ms`, `s` | `5ms` |
//! | `GREENSHIM_TLS` | `per-green` (TLS of their own) or `shared` | `per-green` |
//! | `GREENSHIM_HOG_MS` | `0` (off) or milliseconds, 1..=3600000: warn when one green thread runs this long without a switch | `0` |
//! | `GREENSHIM_RAW` | `off`, `report` or `catch` (raw system calls outside the hooks) | `off` |
//! | `GREENSHIM_PREEMPT` | `auto`, `off` or milliseconds 1..=1000 (needs per-green TLS); `auto`: 5 ms with several hubs, off with one | `auto` |
//! | `GREENSHIM_HUBS` | `1`..=`64` or `auto` (OS threads that run green threads; `auto`: the CPUs the process may use, 1 for CPython) | `1` |
//! | `GREENSHIM_DUMP` | `off` or an absolute path (`%p`: the pid): when that file appears, dump the green threads on the shim's log and remove it | `off` |
//! | `GREENSHIM_RAW_REPORT` | `stderr` or an absolute path (`%p`: the pid): where the raw layer's exit report goes; each process appends one whole report | unset: on stderr only with `GREENSHIM_LOG=info` or chattier, else not written |
//!
//! The same file is compiled into the launcher (`#[path]`), so `greenshim` rejects a bad
//! value with the same message before it executes the program. Keep it free of
//! dependencies on the rest of the library.

/// Log levels, from quiet to chatty.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[repr(u8)]
pub enum Level {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

/// How reads and writes of regular files and block devices are served
/// (GREENSHIM_FILE_IO).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FileIo {
    /// Always inline: the OS thread waits for the disk.
    Inline = 0,
    /// Reads: `preadv2(RWF_NOWAIT)` first, which answers from the page cache in one
    /// system call; a miss, and all O_DIRECT I/O, goes to the offload pool. Writes
    /// (page cache, unless O_DIRECT) inline.
    Auto = 1,
    /// Every read and write on the offload pool.
    Offload = 2,
}

/// GREENSHIM_PREEMPT=auto (the default): [`AUTO_PREEMPT_MS`] with several hubs and
/// per-green TLS, off otherwise (see [`Config::preempt_for`]).
pub const PREEMPT_AUTO: u64 = u64::MAX;
/// The period `auto` chooses: the kernel's own time slices are a few milliseconds.
pub const AUTO_PREEMPT_MS: u64 = 5;

/// What happens to system calls made outside the hooks (GREENSHIM_RAW).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Raw {
    Off,
    /// List the blocking ones by call site at exit.
    Report,
    /// Serve the blocking ones the shim can by parking; list them all at exit.
    Catch,
}

/// The validated configuration.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Stack size for green threads whose attributes set none (bytes, page-rounded).
    pub stack_size: usize,
    pub log: Level,
    pub stats: bool,
    pub disable: bool,
    /// Most OS threads in the offload pool.
    pub offload_threads: usize,
    /// A PROT_NONE guard page below each green stack (overflow detection; costs one
    /// more kernel memory map per thread, which caps threads near vm.max_map_count / 2).
    pub stack_guard: bool,
    /// Regular-file reads and writes on the offload pool instead of inline.
    pub file_io: FileIo,
    /// Time slice in ns (0 = none): a green thread that keeps making hooked calls that
    /// never park yields after this long.
    pub slice_ns: u64,
    /// Each green thread gets TLS of its own (`GREENSHIM_TLS=per-green`, the default).
    pub tls_per_green: bool,
    /// Hog watchdog threshold in ms (0 = off).
    pub hog_ms: u64,
    /// Raw system calls outside the hooks: watched through Syscall User Dispatch.
    pub raw: Raw,
    /// Preemption period: milliseconds, 0 (off) or [`PREEMPT_AUTO`].
    pub preempt_ms: u64,
    /// Hubs (OS threads running green threads): a number, or 0 for `auto`.
    pub hubs: usize,
    /// The dump trigger file (`%p`: the pid), or None.
    pub dump_path: Option<ShortPath>,
    /// Where the raw layer's exit report goes (GREENSHIM_RAW_REPORT).
    pub raw_report: RawReport,
}

impl Config {
    /// The preemption period in ms (0: off) for a process that runs `hubs` hubs:
    /// `auto` time-slices each hub when there are several (threads sharing a hub then
    /// share a core as they would natively) and needs per-green TLS.
    pub fn preempt_for(&self, hubs: usize) -> u64 {
        match self.preempt_ms {
            PREEMPT_AUTO if hubs > 1 && self.tls_per_green => AUTO_PREEMPT_MS,
            PREEMPT_AUTO => 0,
            ms => ms,
        }
    }
}

/// Where the raw layer's exit report goes (GREENSHIM_RAW_REPORT). Never into the
/// program's stderr unless asked: it is the program's stream.
#[derive(Clone, Copy, Debug)]
pub enum RawReport {
    /// Unset: on the shim's stderr only when GREENSHIM_LOG asks for `info` or more
    /// (the report is then one more diagnostic of the shim's); otherwise not written.
    Default,
    /// `stderr`: on the stderr the program started with.
    Stderr,
    /// A file (`%p`: the pid), opened with O_APPEND: each process appends its report
    /// in one write, so processes sharing the variable do not interleave.
    File(ShortPath),
}

/// A path of at most 255 bytes, kept inline (Config is Copy).
#[derive(Clone, Copy, Debug)]
pub struct ShortPath {
    bytes: [u8; 255],
    len: u8,
}

impl ShortPath {
    pub fn new(s: &str) -> Option<ShortPath> {
        let n = s.len();
        if n > 255 {
            return None;
        }
        let mut bytes = [0u8; 255];
        bytes[..n].copy_from_slice(s.as_bytes());
        Some(ShortPath { bytes, len: n as u8 })
    }
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

/// One configuration error: which variable, the bad value, and the accepted form.
#[derive(Debug)]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub accepted: &'static str,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalid {}={:?}: expected {}", self.var, self.value, self.accepted)
    }
}

pub const VARS: &[(&str, &str, &str)] = &[
    ("GREENSHIM_STACK_SIZE", "bytes with optional K/M/G suffix, from 16K to 4G", "RLIMIT_STACK, at most 8M"),
    ("GREENSHIM_LOG", "off|error|warn|info|debug|trace", "error"),
    ("GREENSHIM_STATS", "0|1", "0"),
    ("GREENSHIM_DISABLE", "0|1", "0"),
    ("GREENSHIM_OFFLOAD_THREADS", "an integer from 1 to 256", "4"),
    ("GREENSHIM_STACK_GUARD", "0|1", "1"),
    ("GREENSHIM_FILE_IO", "auto|inline|offload", "auto"),
    ("GREENSHIM_SLICE", "0 (off) or a duration with unit ns, us, ms or s (e.g. 5ms), at most 10s", "5ms"),
    ("GREENSHIM_TLS", "per-green|shared", "per-green"),
    ("GREENSHIM_HOG_MS", "0 (off) or milliseconds from 1 to 3600000", "0"),
    ("GREENSHIM_RAW", "off|report|catch", "off"),
    ("GREENSHIM_PREEMPT", "auto, off or milliseconds from 1 to 1000 (milliseconds need GREENSHIM_TLS=per-green)", "auto"),
    ("GREENSHIM_HUBS", "auto or a number from 1 to 64", "1"),
    ("GREENSHIM_DUMP", "off or an absolute path of at most 255 bytes (%p stands for the pid), e.g. /tmp/greenshim-dump.%p", "off"),
    ("GREENSHIM_RAW_REPORT", "stderr or an absolute path of at most 255 bytes (%p stands for the pid), e.g. /tmp/greenshim-raw.%p", "unset: on stderr only with GREENSHIM_LOG=info or chattier"),
];

/// A duration such as `5ms`, `500us`, `1s` (or `0`), in ns; at most 10 s.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mul = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mul).filter(|v| *v <= 10_000_000_000)
}

/// glibc's default thread stack: RLIMIT_STACK, capped at 8 MiB here because green
/// stacks are reserved eagerly (though committed lazily).
pub fn default_stack_size() -> usize {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: r is a valid out-pointer.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut r) } == 0;
    const CAP: usize = 8 << 20;
    if !ok || r.rlim_cur == libc::RLIM_INFINITY || r.rlim_cur as usize > CAP {
        CAP
    } else {
        (r.rlim_cur as usize).max(64 << 10)
    }
}

pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mul) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1usize << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: usize = num.parse().ok()?;
    let v = n.checked_mul(mul)?;
    if !(16 << 10..=4 << 30).contains(&v) {
        return None;
    }
    Some((v + 4095) & !4095)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "0" | "" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

fn parse_level(s: &str) -> Option<Level> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "off" | "0" => Level::Off,
        "error" => Level::Error,
        "warn" => Level::Warn,
        "info" => Level::Info,
        "debug" => Level::Debug,
        "trace" => Level::Trace,
        _ => return None,
    })
}

/// Parses configuration from a variable lookup (the environment, or the launcher's
/// options mapped to variables).
pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    fn field<T>(get: &impl Fn(&str) -> Option<String>, i: usize, p: impl Fn(&str) -> Option<T>, d: T) -> Result<T, ConfigError> {
        let (var, accepted, _) = VARS[i];
        match get(var) {
            None => Ok(d),
            Some(v) => p(&v).ok_or(ConfigError { var, value: v, accepted }),
        }
    }
    Ok(Config {
        stack_size: match get(VARS[0].0) {
            None => default_stack_size(),
            Some(_) => field(&get, 0, parse_size, 0)?,
        },
        log: field(&get, 1, parse_level, Level::Error)?,
        stats: field(&get, 2, parse_bool, false)?,
        disable: field(&get, 3, parse_bool, false)?,
        offload_threads: field(&get, 4, |s| s.trim().parse::<usize>().ok().filter(|n| (1..=256).contains(n)), 4)?,
        stack_guard: field(&get, 5, parse_bool, true)?,
        file_io: field(
            &get,
            6,
            |s| match s.trim() {
                "auto" | "" => Some(FileIo::Auto),
                "inline" => Some(FileIo::Inline),
                "offload" => Some(FileIo::Offload),
                _ => None,
            },
            FileIo::Auto,
        )?,
        slice_ns: field(&get, 7, parse_duration, 5_000_000)?,
        tls_per_green: field(
            &get,
            8,
            |s| match s.trim() {
                "per-green" | "" => Some(true),
                "shared" => Some(false),
                _ => None,
            },
            true,
        )?,
        hog_ms: field(&get, 9, |s| s.trim().parse::<u64>().ok().filter(|n| *n <= 3_600_000), 0)?,
        raw: field(
            &get,
            10,
            |s| match s.trim() {
                "off" | "" => Some(Raw::Off),
                "report" => Some(Raw::Report),
                "catch" => Some(Raw::Catch),
                _ => None,
            },
            Raw::Off,
        )?,
        preempt_ms: field(
            &get,
            11,
            |s| match s.trim() {
                "auto" | "" => Some(PREEMPT_AUTO),
                "off" | "0" => Some(0),
                v => v.parse::<u64>().ok().filter(|n| (1..=1000).contains(n)),
            },
            PREEMPT_AUTO,
        )?,
        hubs: field(
            &get,
            12,
            |s| match s.trim() {
                "auto" => Some(0),
                "" => Some(1),
                v => v.parse::<usize>().ok().filter(|n| (1..=64).contains(n)),
            },
            1,
        )?,
        dump_path: field(
            &get,
            13,
            |s| match s.trim() {
                "off" | "" => Some(None),
                v if v.starts_with('/') && !v.contains('\0') => ShortPath::new(v).map(Some),
                _ => None,
            },
            None,
        )?,
        raw_report: field(
            &get,
            14,
            |s| match s.trim() {
                "" => Some(RawReport::Default),
                "stderr" => Some(RawReport::Stderr),
                v if v.starts_with('/') && !v.contains('\0') => ShortPath::new(v).map(RawReport::File),
                _ => None,
            },
            RawReport::Default,
        )?,
    })
    .and_then(|c: Config| {
        // Switching a thread out anywhere needs its own errno and thread-locals.
        if c.preempt_ms != 0 && c.preempt_ms != PREEMPT_AUTO && !c.tls_per_green {
            let (var, accepted, _) = VARS[11];
            return Err(ConfigError { var, value: get(var).unwrap_or_default(), accepted });
        }
        Ok(c)
    })
}

/// Reads the process environment without going through Rust's env lock (which could be
/// held by nobody yet at constructor time, but keeps the path allocation-light).
pub fn from_env() -> Result<Config, ConfigError> {
    parse(|k| {
        let key = std::ffi::CString::new(k).ok()?;
        // SAFETY: key is NUL-terminated; getenv is not hooked and returns a C string or null.
        let p = unsafe { libc::getenv(key.as_ptr()) };
        if p.is_null() {
            None
        } else {
            // SAFETY: p is a NUL-terminated string owned by the environment.
            Some(unsafe { core::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
        }
    })
}
