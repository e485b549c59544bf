# greenshim's gdb extension: see a program's green threads from gdb.
#
#   (gdb) source /path/to/greenshim-gdb.py      # or auto-loaded, see README "Debugging"
#   (gdb) info green                 # every green thread: id, name, state, what it waits on
#   (gdb) green bt 3                 # backtrace of green thread 3 (0 or "main": the main thread)
#   (gdb) green apply all bt         # any gdb command, in each green thread's context
#   (gdb) green apply 3 py-bt        # e.g. CPython's py-bt on green thread 3
#   (gdb) green dump [full-frames]   # every thread's state and backtrace (what `greenshim dump PID`
#                                    # prints; the shim's own frames folded unless full-frames)
#
# How it works: libgreenshim.so exports `greenshim_debug` (src/hub/debug.rs), a table of
# addresses and field offsets; the control blocks are read through gdb's memory reads, so
# no debug info is needed. A green thread that a hub's OS thread runs at the stop (that
# hub's `current`) is "running on hub k (LWP n)": its stack is that OS thread's, shown
# with its live registers (the table gives each hub's tid; gdb's thread with that LWP is
# selected). A suspended green thread's pc, sp and callee-saved registers (rbp, rbx,
# r12–r15) were recorded just before it switched out; to show its stack, the registers
# of its hub's OS thread are set to those values, the command runs, and the registers
# are put back (always, even on error). While it runs, an unwinder ends the
# thread's stack at its coroutine's entry (past it lies the main thread's stack), so
# commands that walk every frame — CPython's py-bt, py-list, py-locals from its own gdb
# extension (python3.X-gdb.py, next to a pyenv interpreter or from Debian's
# python3.X-dbg) — see that green thread only. The switch lasts one command: a process
# resumed with switched registers would run the wrong stack, and gdb offers no hook
# before every resume, so there is no "select green thread N" that stays.
# Only for a live process or a core file of one (x86-64).

import gdb
import gdb.unwinder
import struct
import time

# The registers of a green thread's saved context (greenshim_debug's g_ctx), in order.
CTX_REGS = ("pc", "sp", "rbp", "rbx", "r12", "r13", "r14", "r15")
FRAME_LIMIT_MARKERS = ("stack_init_trampoline", "corosensei")
SHIM_FRAME_MARKERS = ("greenshim::", "core::", "alloc::", "corosensei")

# When the process last stopped (CLOCK_MONOTONIC ns): "parked for" is measured to it,
# not to whenever a command is typed. `greenshim dump` sets greenshim_stop_ns before it
# attaches; later stops are recorded here.
_stop_ns = [None]


def _on_stop(event):
    _stop_ns[0] = time.monotonic_ns()


def _on_cont(event):
    _stop_ns[0] = None


gdb.events.stop.connect(_on_stop)
gdb.events.cont.connect(_on_cont)
try:
    # Sourced (or auto-loaded) while attached: the process stopped at most a moment ago
    # (gdb's symbol loading); an attach raises no stop event.
    import __main__
    _given = getattr(__main__, "greenshim_stop_ns", None)  # set by `greenshim dump`
    if _given is not None:
        _stop_ns[0] = _given
    elif gdb.selected_inferior().pid:
        _stop_ns[0] = time.monotonic_ns()
except gdb.error:
    pass


def stop_time():
    if _stop_ns[0] is not None:
        return _stop_ns[0]
    import __main__
    t = getattr(__main__, "greenshim_stop_ns", None)
    return t if t is not None else time.monotonic_ns()


def c_eval(expr):
    """Evaluates a C expression whatever the current frame's language (Rust frames
    would parse it as Rust)."""
    lang = gdb.parameter("language")
    gdb.execute("set language c", to_string=True)
    try:
        return int(gdb.parse_and_eval(expr))
    finally:
        gdb.execute("set language %s" % lang, to_string=True)


class Table:
    """The greenshim_debug table of the current inferior."""

    def __init__(self):
        try:
            addr = c_eval("(unsigned long)&greenshim_debug")
        except gdb.error:
            raise gdb.GdbError("greenshim: no greenshim_debug symbol: is libgreenshim.so loaded in this process?")
        self.inf = gdb.selected_inferior()
        raw = self.read(addr, 16)
        if raw[:8] != b"grnshdbg":
            raise gdb.GdbError("greenshim: greenshim_debug has an unknown magic")
        self.version, self.size = struct.unpack_from("<II", raw, 8)
        if self.version not in (1, 2, 3):
            raise gdb.GdbError("greenshim: table version %d; this script reads versions 1 to 3" % self.version)
        raw = self.read(addr, max(self.size, 120))
        # Version 2 records every callee-saved register; version 1 only (pc, sp, rbp).
        self.ctx_regs = CTX_REGS if self.version >= 2 else CTX_REGS[:3]
        (self.hub_pp, self.tid_p, self.threads_pp, self.len_p) = struct.unpack_from("<QQQQ", raw, 16)
        (self.o_current, self.o_root, self.g_id, self.g_state, self.g_is_root, self.g_reason, self.g_name,
         self.g_parked_at, self.g_deadline, self.g_wait_obj, self.g_ctx, self.g_stack_base, self.first_id) = struct.unpack_from("<13I", raw, 48)
        state_p, reason_p = struct.unpack_from("<QQ", raw, 104)
        # Version 3: the hubs beyond hub 0 (older libraries: hub 0 only).
        if self.version >= 3:
            (self.hubs_p, self.nhubs_p) = struct.unpack_from("<QQ", raw, 120)
            (self.max_hubs, self.o_hub_tid, self.o_hub_index, self.g_hub) = struct.unpack_from("<4I", raw, 136)
        else:
            self.hubs_p = self.nhubs_p = 0
            self.max_hubs = 1
            self.g_hub = None
        self.states = self.names(state_p, 5)
        self.reasons = self.names(reason_p, 20)

    def read(self, addr, n):
        return self.inf.read_memory(addr, n).tobytes()

    def u64(self, addr):
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def names(self, p, n):
        out = []
        for _ in range(n):
            s = b""
            while True:
                c = self.read(p, 1)
                p += 1
                if c == b"\0":
                    break
                s += c
            out.append(s.decode())
        return out

    def hub(self):
        return self.u64(self.hub_pp)

    def hub_tid(self):
        return struct.unpack("<i", self.read(self.tid_p, 4))[0]

    def hubs(self):
        """[(index, hub address, its OS thread's LWP)] of the hubs running, hub 0 first."""
        h0 = self.hub()
        if h0 == 0:
            return []
        out = [(0, h0, self.hub_tid())]
        if self.nhubs_p:
            n = min(self.u64(self.nhubs_p), self.max_hubs)
            for i in range(1, n):
                h = self.u64(self.hubs_p + 8 * i)
                if h:
                    out.append((i, h, struct.unpack("<i", self.read(h + self.o_hub_tid, 4))[0]))
        return out

    def threads(self):
        """(root first) every control block that is not in the free pool."""
        hubs = self.hubs()
        if not hubs:
            return []
        # What each hub's OS thread runs right now: green thread (or root) -> (hub, LWP).
        on = {}
        for i, h, tid in hubs:
            on.setdefault(self.u64(h + self.o_current), (i, tid))
        by_hub = {h: (i, tid) for i, h, tid in hubs}
        root = self.u64(hubs[0][1] + self.o_root)
        blocks = [root]
        arr, n = self.u64(self.threads_pp), self.u64(self.len_p)
        if arr and n:
            blocks += list(struct.unpack("<%dQ" % n, self.read(arr, 8 * n)))
        out = []
        for b in blocks:
            g = Green(self, b, on.get(b), by_hub)
            if g.state != "free":
                out.append(g)
        # While a green thread runs on hub 0, the root (main) waits in that thread's
        # coroutine parent link (see hub/debug.rs). (A thread running on another hub
        # links to that hub's root, which is no program thread.)
        running = [g for g in out if g.on_hub is not None and g.on_hub[0] == 0 and not g.is_root]
        if running and running[0].stack_base:
            link = self.u64(running[0].stack_base - 16)
            # (switch_and_link pushed rbx, then the return address, then rbp.) The
            # other callee-saved registers are saved by the frame that switched (its
            # asm clobbers them): the unwind tables find them; rip/rsp/rbp/rbx suffice.
            out[0].ctx = (self.u64(link + 8), link + 24, self.u64(link), self.u64(link + 16))
        return out


class Green:
    def __init__(self, t, addr, on_hub, by_hub):
        self.t = t
        self.addr = addr
        # (hub index, LWP) of the hub whose OS thread runs this thread (or, for main,
        # runs its scheduler on main's stack) right now; None otherwise.
        self.on_hub = on_hub
        self.is_current = on_hub is not None
        r = t.read
        self.raw_id = struct.unpack("<I", r(addr + t.g_id, 4))[0]
        st = r(addr + t.g_state, 1)[0]
        self.state = t.states[st] if st < len(t.states) else "?%d" % st
        self.is_root = r(addr + t.g_is_root, 1)[0] != 0
        rs = r(addr + t.g_reason, 1)[0]
        self.reason = t.reasons[rs] if rs < len(t.reasons) else "?%d" % rs
        self.name = r(addr + t.g_name, 16).split(b"\0")[0].decode(errors="replace")
        self.parked_at, self.deadline, self.wait_obj = struct.unpack("<QQQ", r(addr + t.g_parked_at, 8) + r(addr + t.g_deadline, 8) + r(addr + t.g_wait_obj, 8))
        n = len(t.ctx_regs)
        self.ctx = struct.unpack("<%dQ" % n, r(addr + t.g_ctx, 8 * n))
        self.stack_base = struct.unpack("<Q", r(addr + t.g_stack_base, 8))[0]
        self.num = 0 if self.is_root else self.raw_id - t.first_id + 1
        # (index, LWP) of the hub it was placed on, when the table says.
        home = struct.unpack("<Q", r(addr + t.g_hub, 8))[0] if t.g_hub is not None else 0
        self.home = by_hub.get(home, (0, t.hub_tid()))

    def label(self):
        s = "main" if self.is_root else "%d" % self.num
        return s

    def runs(self):
        """Its own code runs on a hub's OS thread right now (not parked with the
        scheduler on its stack)."""
        return self.is_current and (not self.is_root or self.state != "parked")

    def uses_os_registers(self):
        """Its stack is what a hub's OS thread shows right now: the running thread, or
        main while hub 0's scheduler (on main's stack) runs."""
        return self.is_current

    def os_lwp(self):
        """The LWP whose registers show this thread: the hub running it, or else the
        hub it was placed on (whose registers are then set to its saved context)."""
        return self.on_hub[1] if self.on_hub is not None else self.home[1]

    def describe_wait(self, by_addr):
        if self.runs():
            return "running on hub %d (LWP %d)" % self.on_hub
        if self.state == "ready":
            return "ready (runnable, waiting for its turn)" if self.ctx[0] or self.is_root else "ready (not started yet)"
        if self.state != "parked":
            return self.state
        r = self.reason
        what = "parked on %s" % r
        if r in ("read", "write", "accept", "connect"):
            what += " fd %d" % self.wait_obj
        elif r == "join" and self.wait_obj in by_addr:
            what += " thread %s" % by_addr[self.wait_obj].label()
        elif self.wait_obj:
            what += " %#x%s" % (self.wait_obj, symbol_of(self.wait_obj))
        now = stop_time()
        if self.parked_at:
            what += ", for %.3f s" % ((now - self.parked_at) / 1e9)
        if self.deadline:
            left = (self.deadline - now) / 1e9
            if left >= 0:
                what += ", deadline in %.3f s" % left
            else:
                what += ", deadline passed %.3f s ago (while stopped)" % -left
        if self.is_root and self.is_current:
            what += " (the hub runs its scheduler on this stack)"
        return what


def symbol_of(addr):
    try:
        s = gdb.execute("info symbol %#x" % addr, to_string=True).strip()
    except gdb.error:
        return ""
    if s.startswith("No symbol"):
        return ""
    return " (%s)" % s.split(" in section")[0]


def hub_thread(t, g=None):
    """gdb's thread for the OS thread that shows green thread g (hub 0's without g)."""
    tid = g.os_lwp() if g is not None else t.hub_tid()
    for th in gdb.selected_inferior().threads():
        if th.ptid[1] == tid:
            return th
    if g is not None and g.uses_os_registers():
        # Another thread's registers would be someone else's stack.
        raise gdb.GdbError("greenshim: hub %d's OS thread (LWP %d) is not among gdb's threads" % g.on_hub)
    ths = gdb.selected_inferior().threads()
    return min(ths, key=lambda th: th.num) if ths else None


class _FrameId:
    """What gdb (13 and later) takes as a frame id: a stack pointer and a pc."""

    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class CoroutineBase(gdb.unwinder.Unwinder):
    """Ends a green thread's stack at its coroutine's entry (corosensei's
    stack_init_trampoline): past it the unwinder's way leads into the main thread's
    stack, which resumed the coroutine, and commands that walk every frame (CPython's
    py-bt, `bt`, `info frame`) would show the main thread's frames as the green
    thread's. Active only while a command runs in a green thread's context."""

    def __init__(self):
        super().__init__("greenshim-coroutine-base")
        self.pc = None

    def __call__(self, pending):
        if self.pc is None:
            return None
        rip = pending.read_register("rip")
        if int(rip) != self.pc:
            return None
        sp = pending.read_register("rsp")
        info = pending.create_unwind_info(_FrameId(sp, rip))
        # A caller with pc 0: gdb ends the backtrace there ("zero PC").
        info.add_saved_register("rip", gdb.Value(0).cast(rip.type))
        info.add_saved_register("rsp", sp)
        return info


_BASE = CoroutineBase()
gdb.unwinder.register_unwinder(None, _BASE, replace=True)
# The trampoline's return address (the pc its frame shows), per process.
_trampoline_pc = {}


def trampoline_pc():
    """The pc of the coroutine entry frame: the same in every green thread (the address
    after stack_init_trampoline's call), found by walking the selected green thread's
    frames; None if not found (stripped library)."""
    pid = gdb.selected_inferior().pid
    if pid in _trampoline_pc:
        return _trampoline_pc[pid]
    f, pc = gdb.newest_frame(), None
    for _ in range(4096):
        if f is None:
            break
        name = f.name() or ""
        if "stack_init_trampoline" in name:
            pc = f.pc()
            break
        try:
            f = f.older()
        except gdb.error:
            break
    if pc is not None:
        _trampoline_pc[pid] = pc
    elif pid not in _warned_no_trampoline:
        _warned_no_trampoline.add(pid)
        gdb.write("greenshim: no stack_init_trampoline frame found (libgreenshim.so stripped?): "
                  "green threads' stacks go on into the main thread's\n", gdb.STDERR)
    return pc


_warned_no_trampoline = set()


def in_shim(frame):
    """Whether a frame's code is libgreenshim's (the park, the scheduler)."""
    try:
        lib = gdb.solib_name(frame.pc()) or ""
    except gdb.error:
        return False
    return "libgreenshim" in lib


def select_programs_frame():
    """Selects the frame that called into the shim (the first one past the shim's frames
    near the top: the park, or the scheduler and the libc call it waits in): where the
    program called in, as a debugger stopping a native thread in that call would show
    it (CPython's commands start from the selected frame, and the language follows it).
    Without shim frames near the top, the newest frame."""
    newest = gdb.newest_frame()
    newest.select()
    f, seen_shim = newest, False
    for _ in range(64):
        if f is None:
            return
        if in_shim(f):
            seen_shim = True
        elif seen_shim:
            f.select()
            return
        try:
            f = f.older()
        except gdb.error:
            return


def run_green_command(g, command):
    """Runs `command` with the selected frame the green thread's innermost outside the
    shim and, for a thread other than main, its stack ending at its coroutine's entry."""
    # A running thread's newest frame is where the program is now (what a debugger
    # stopping a native thread selects); a parked one's is in the shim's park.
    select = (lambda: gdb.newest_frame().select()) if g.runs() else select_programs_frame
    if g.is_root:
        select()
        return gdb.execute(command, to_string=True)
    _BASE.pc = trampoline_pc()
    gdb.invalidate_cached_frames()
    try:
        select()
        return gdb.execute(command, to_string=True)
    finally:
        _BASE.pc = None
        gdb.invalidate_cached_frames()


def set_registers(regs, values):
    """Sets the selected OS thread's registers, the pc last (setting it re-reads the
    frame, which the others are part of). Each one in frame 0: gdb's `set $reg` writes
    the selected frame's value, and in an outer frame that is the place on the stack
    where the frame's callee saved it — memory of the program, not the register. After
    sp changed, gdb may select an outer frame that matches the old selection (a
    thread's live sp and another context's pc): so frame 0 is selected before each."""
    for r, v in reversed(list(zip(regs, values))):
        gdb.newest_frame().select()
        gdb.execute("set $%s = %#x" % (r, v), to_string=True)


def run_in(t, g, command):
    """Runs a gdb command with the hub's OS thread showing green thread g's stack;
    returns its output."""
    th = hub_thread(t, g)
    if th is None:
        raise gdb.GdbError("greenshim: the process has no threads")
    old_thread = gdb.selected_thread()
    th.switch()
    try:
        if g.uses_os_registers():
            return run_green_command(g, command)
        if g.ctx[0] == 0:
            return "(no saved context: the thread has not run yet)\n"
        regs = CTX_REGS[:len(g.ctx)]
        gdb.newest_frame().select()
        saved = [c_eval("(unsigned long)$" + r) for r in regs]
        try:
            set_registers(regs, g.ctx)
            return run_green_command(g, command)
        finally:
            set_registers(regs, saved)
    finally:
        if old_thread is not None and old_thread.is_valid():
            old_thread.switch()


def trim_bt(text, g):
    """A green thread's backtrace ends at its coroutine's entry (what a debugger may
    find past it is the root's stack)."""
    if g.is_root:
        return text
    out = []
    for line in text.splitlines():
        out.append(line)
        if any(m in line for m in FRAME_LIMIT_MARKERS):
            break
    return "\n".join(out) + "\n"


def function_of(frame_line):
    """`#6  0x… in greenshim::hooks::io::read () at …` → `greenshim::hooks::io::read`."""
    body = frame_line.split(None, 1)[1] if " " in frame_line else frame_line
    if " in " in body and body.startswith("0x"):
        body = body.split(" in ", 1)[1]
    return body.split(" (", 1)[0]


def compact(text):
    """The shim's own frames at the top of a backtrace (the park, the scheduler) become
    one line, and the coroutine entry frames at its base go."""
    lines = [l for l in text.splitlines() if l.strip()]
    frames = [l for l in lines if l.startswith("#")]
    first = next((i for i, l in enumerate(frames) if not any(m in l for m in SHIM_FRAME_MARKERS)), None)
    if first is None:
        return text
    out = []
    if first > 0:
        out.append("    (%d frames in libgreenshim, entered through %s)" % (first, function_of(frames[first - 1])))
    for l in frames[first:]:
        if "greenshim::hub::spawn" in l or "corosensei" in l:
            break
        out.append(l)
    return "\n".join(out) + "\n"


def find(t, which):
    ths = t.threads()
    for g in ths:
        if which in (g.label(), str(g.raw_id)) or (which == "0" and g.is_root) or (g.name and which == g.name):
            return g
    raise gdb.GdbError("greenshim: no green thread %s (see `info green`)" % which)


def header_line(g, by_addr):
    star = "*" if g.runs() else " "
    name = ' "%s"' % g.name if g.name else ""
    tid = "" if g.is_root else " (tid %d)" % g.raw_id
    return "%s thread %s%s%s: %s" % (star, g.label(), tid, name, g.describe_wait(by_addr))


class InfoGreen(gdb.Command):
    """List the green threads: id, name, state (running, ready, parked on what, since
    when, deadline) and the innermost frame."""

    def __init__(self):
        super().__init__("info green", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        t = Table()
        ths = t.threads()
        by_addr = {g.addr: g for g in ths}
        hubs = ", ".join("%d (LWP %d)" % (i, tid) for i, _, tid in t.hubs())
        gdb.write("%d green threads (main included), hubs: %s\n" % (len(ths), hubs))
        for g in ths:
            try:
                lines = [l for l in trim_bt(run_in(t, g, "bt 30"), g).splitlines() if l.startswith("#")]
                prog = [l for l in lines if not any(m in l for m in SHIM_FRAME_MARKERS)]
                frame = (prog or lines or [""])[0]
            except gdb.error as e:
                frame = "(%s)" % e
            gdb.write("%s\n      %s\n" % (header_line(g, by_addr), frame))


class Green_(gdb.Command):
    """Green threads: green bt N [full] | green apply all|N... COMMAND | green dump"""

    def __init__(self):
        super().__init__("green", gdb.COMMAND_STACK, prefix=True)


class GreenBt(gdb.Command):
    """green bt N [full]: backtrace of green thread N (0 or main: the main thread)."""

    def __init__(self):
        super().__init__("green bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        args = arg.split()
        if not args:
            raise gdb.GdbError("usage: green bt N [full]")
        t = Table()
        g = find(t, args[0])
        gdb.write(trim_bt(run_in(t, g, "bt " + " ".join(args[1:])), g))


class GreenApply(gdb.Command):
    """green apply all|N [N...] COMMAND: run a gdb command in green threads' contexts."""

    def __init__(self):
        super().__init__("green apply", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        words = arg.split()
        t = Table()
        ths = t.threads()
        by_addr = {g.addr: g for g in ths}
        targets = []
        i = 0
        if words and words[0] == "all":
            targets = ths
            i = 1
        else:
            while i < len(words) and (words[i].isdigit() or words[i] == "main"):
                targets.append(find(t, words[i]))
                i += 1
        cmd = " ".join(words[i:])
        if not targets or not cmd:
            raise gdb.GdbError("usage: green apply all|N [N...] COMMAND")
        for g in targets:
            gdb.write("\n%s\n" % header_line(g, by_addr))
            out = run_in(t, g, cmd)
            gdb.write(trim_bt(out, g) if cmd.split()[0] in ("bt", "backtrace", "where") else out)


class GreenDump(gdb.Command):
    """green dump: every green thread with its state and backtrace."""

    def __init__(self):
        super().__init__("green dump", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        t = Table()
        ths = t.threads()
        by_addr = {g.addr: g for g in ths}
        pid = gdb.selected_inferior().pid
        gdb.write("greenshim dump of pid %d: %d green threads (main included)\n" % (pid, len(ths)))
        full = arg.strip() == "full-frames"
        python = has_command("py-bt")
        for g in ths:
            gdb.write("\n%s\n" % header_line(g, by_addr))
            try:
                # Arguments raw: CPython's pretty-printers would print whole dicts.
                text = trim_bt(run_in(t, g, "bt -raw-frame-arguments on"), g)
                gdb.write(text if full else compact(text))
            except gdb.error as e:
                gdb.write("  (no backtrace: %s)\n" % e)
            if python:
                gdb.write(python_stack(t, g))


def has_command(name):
    """Whether gdb knows a command (CPython's py-bt comes with its own extension)."""
    try:
        gdb.execute("help %s" % name, to_string=True)
        return True
    except gdb.error:
        return False


def python_stack(t, g):
    """The thread's Python stack from CPython's py-bt, indented; "" for a thread that
    runs no Python code."""
    try:
        out = run_in(t, g, "py-bt")
    except gdb.error:
        return ""
    lines = [l for l in out.splitlines() if l.strip()]
    if not lines or not lines[0].startswith("Traceback"):
        return ""
    return "    Python stack (CPython's py-bt), most recent call first:\n" + "".join("    %s\n" % l for l in lines[1:])


InfoGreen()
Green_()
GreenBt()
GreenApply()
GreenDump()
