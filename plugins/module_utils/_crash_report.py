# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel crash reports in the kernel's own lines, shared by netconsole_log and the dmesg_summary filter.

* `PanicScanner` finds panic reports (reason, first line, call trace) in kernel lines fed one by one,
  whatever carried them: a receiver's netconsole file (`netconsole_log`) or a dump's dmesg file;
* `summarize_dmesg` sums up the kernel log kdump saved next to a vmcore (``dmesg.<stamp>`` from
  ``makedumpfile --dump-dmesg``, ``vmcore-dmesg.txt`` on RHEL): panic reason, first frames, kernel release,
  the crashing task.

Pure functions with no I/O; importable by Python 3.6+ and the standard library only (netconsole_log runs on
managed hosts).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

from ansible_collections.lastwords.panic.plugins.module_utils._netconsole_wire import parse_plain

PANIC_MARK = "Kernel panic - not syncing"
PANIC_END_MARK = "---[ end Kernel panic - not syncing"
# The first line of a crash report, as the kernel prints it on x86, arm64 and others.
# Warnings are left out: they do not kill the kernel, and panic_on_warn says so in its panic line.
CRASH_START_RE = re.compile(
    r"^(?:BUG: |Oops|Internal error: |kernel BUG at |general protection fault|Unable to handle kernel|"
    r"(?:sysrq: )?(?:SysRq : )?Trigger a crash|divide error|invalid opcode|stack segment|double fault|"
    r"watchdog: BUG: |Watchdog detected hard LOCKUP|INFO: task .* blocked for more than|"
    r"Kernel panic - not syncing)"
)
CALL_TRACE_RE = re.compile(r"^Call [Tt]race:")
# ` [<ffffffff81496256>] ? sysrq_handle_crash+0x16/0x20 [mod]`: every form the kernel has used.
FRAME_RE = re.compile(r"^(?:\[<[0-9a-fA-F]+>\] )?(?:\? )?[\w.$@-]+\+0x[0-9a-fA-F]+/0x[0-9a-fA-F]+(?: \[[\w-]+\])?")
TRACE_MARKERS = ("<TASK>", "<IRQ>", "</IRQ>", "<NMI>", "</NMI>", "<SOFTIRQ>", "</SOFTIRQ>", "<#DF>", "</#DF>", "<EOI>")
# Register dump lines printed inside the <TASK> block after a user space entry frame.
REGS_RE = re.compile(r"^(?:RIP|Code|RSP|RAX|RDX|RBP|R10|R13|FS|CS|CR2|DR0|DR3|PKRU|EIP|ESP|EAX|pc|lr|sp|x\d+) *:")
# A crash report's first line counts for a panic at most this many lines and seconds before it.
CRASH_START_WINDOW = 200
CRASH_START_SECONDS = 10.0
# A dying kernel sends its report in a burst: a longer silence ends a report that has no end line
# (the end line is never printed when kdump takes over).
PANIC_QUIET_SECONDS = 10.0


def clean_text(text):
    """Make text read with surrogateescape safe for JSON."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class PanicScanner(object):
    """Finds panic reports in the kernel's lines, in order, whatever format they came in.

    A report opens at `Kernel panic - not syncing` and closes at the kernel's end line, at a
    reset, after PANIC_QUIET_SECONDS without a line, or at the end of the input. Its first line
    is the latest crash start (BUG:, Oops, sysrq, ...) shortly before the panic line.
    """

    def __init__(self, tail_lines):
        self.keep_excerpt = tail_lines > 0
        self.recent = collections.deque(maxlen=max(tail_lines, 1))
        self.panics = []
        self.panic = None
        self.crash_start = None
        self.last_trace = None
        self.trace = None
        self.index = 0
        self.last_epoch = None

    def _end_trace(self):
        if self.panic is not None and not self.panic["call_trace"]:
            self.panic["call_trace"] = self.trace
        else:
            self.last_trace = self.trace
        self.trace = None

    def _recent_crash_start(self, epoch):
        if self.crash_start is None:
            return None
        index, when, line = self.crash_start
        if self.index - index > CRASH_START_WINDOW:
            return None
        if epoch is not None and when is not None and epoch - when > CRASH_START_SECONDS:
            return None
        return line

    def feed(self, text, shown, iso, epoch):
        """`text` is the kernel's line without time prefix; `shown` is what an excerpt keeps."""
        if self.panic is not None and epoch is not None and self.last_epoch is not None:
            if epoch - self.last_epoch > PANIC_QUIET_SECONDS:
                self.finish()
        self.last_epoch = epoch
        self.index += 1
        if self.keep_excerpt:
            self.recent.append(clean_text(shown))
        stripped = text.strip()
        if self.trace is not None:
            if FRAME_RE.match(stripped):
                self.trace.append(clean_text(stripped))
                return
            if stripped in TRACE_MARKERS or REGS_RE.match(stripped):
                return
            self._end_trace()
            if stripped == "</TASK>":
                return
        if CALL_TRACE_RE.match(stripped):
            self.trace = []
            return
        if stripped.startswith(PANIC_END_MARK):
            if self.panic is not None:
                self.panic["complete"] = True
                self.finish()
            return
        if CRASH_START_RE.match(stripped) and self._recent_crash_start(epoch) is None:
            self.crash_start = (self.index, epoch, stripped)
            self.last_trace = None
        position = stripped.find(PANIC_MARK)
        if position >= 0:
            self.finish()
            self.panic = {
                "time": iso,
                "epoch": epoch,
                "reason": clean_text(stripped[position:]),
                "first_line": clean_text(self._recent_crash_start(epoch) or stripped),
                "call_trace": [],
                "complete": False,
                "_before": self.last_trace or [],
            }

    def finish(self):
        """Close the open panic report, if any."""
        if self.trace is not None:
            self._end_trace()
        if self.panic is None:
            return
        panic = self.panic
        before = panic.pop("_before")
        if not panic["call_trace"]:
            panic["call_trace"] = before
        panic["excerpt"] = list(self.recent) if self.keep_excerpt else []
        self.panics.append(panic)
        self.panic = None
        self.crash_start = None
        self.last_trace = None


# ---------------------------------------------------------------------------------------------
# A dump's dmesg
# ---------------------------------------------------------------------------------------------

# `[    T1234]` or `[ C1]` after the time stamp: the printk caller (CONFIG_PRINTK_CALLER).
CALLER_RE = re.compile(r"^\[\s*[TC]\d+\] ?")
LINUX_VERSION_RE = re.compile(r"^Linux version (\S+)")
# `CPU: 0 PID: 1234 Comm: bash Kdump: loaded Not tainted 6.1.0-47-amd64 #1  Debian 6.1.158-1`; 6.12 adds
# `UID: 0 `; a tainted kernel prints `Tainted: G        W  O      ` instead of `Not tainted`. Comm may hold spaces.
CPU_LINE_RE = re.compile(
    r"^CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (.{1,16}?) (?:Kdump: \w+ )?(Not tainted|Tainted: [A-Z ]*?) ?"
    r"(\S+) #\d+"
)
# Where the CPU was when the report was made, in the kernel: x86 `RIP: 0010:fn+0x14/0x30`, arm64 `pc : fn+0x1c/0x30`.
KERNEL_PC_RE = re.compile(r"^(?:RIP: 0010:|pc : )([\w.$@-]+\+0x[0-9a-fA-F]+/0x[0-9a-fA-F]+(?: \[[\w-]+\])?)")
UNRELIABLE_CHOICES = ("drop", "keep")


def _frame_text(frame):
    """`[<ffffffff81496256>] ? foo+0x1/0x2 [mod]` -> `? foo+0x1/0x2 [mod]` (old kernels printed addresses)."""
    if frame.startswith("[<"):
        frame = frame[frame.index("] ") + 2 :]
    return frame


def _same_report(starts, index, kernel_time):
    """Whether a crash report line continues the report opened by the last start (as PanicScanner counts it)."""
    if not starts:
        return False
    last_index, last_time, _line = starts[-1]
    if index - last_index > CRASH_START_WINDOW:
        return False
    return kernel_time is None or last_time is None or kernel_time - last_time <= CRASH_START_SECONDS


def _frames(trace, count, unreliable):
    frames = [_frame_text(frame) for frame in trace or []]
    if unreliable == "drop":
        frames = [frame for frame in frames if not frame.startswith("? ")]
    return frames, (frames if count == 0 else frames[:count])


def summarize_dmesg(text, frames=8, unreliable="drop"):
    """Sum up a crashed kernel's log (the dmesg kdump saves): what killed it, where, and which kernel it was.

    `text` is the whole file, one kernel line per line with or without `[ uptime]` prefixes. Returns a dict:
    `panic` (a `Kernel panic - not syncing` line was found), `reason` (that line from `Kernel panic` on, else the
    first line of the last crash report: `BUG:`, `Oops`, ..., else None), `first_line` (the line that opened the
    report, as netconsole_log reports it), `call_trace` (the first `frames` frames, 0 = all; frames the kernel
    marks unreliable, `? name+off/size`, are left out with `unreliable='drop'` and kept with their `? ` with
    `'keep'`), `trace_frames` (frames in the whole trace, after that choice), `kernel_release` (from
    `Linux version`, else from the report's `CPU:` line), `cpu`, `pid`, `comm` and `tainted` (from that line,
    `Not tainted` or `Tainted: <flags>`), `crashed_in` (the kernel function the CPU was in when the report was
    made, x86 `RIP: 0010:` or arm64 `pc :`; None when it was in user space), `uptime_seconds` (kernel time of
    the panic or report line) and `lines`.
    """
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 0:
        raise ValueError("frames must be a whole number, 0 or more (0 = all), got %r" % (frames,))
    if unreliable not in UNRELIABLE_CHOICES:
        raise ValueError("unreliable must be one of %s, got %r" % (", ".join(UNRELIABLE_CHOICES), unreliable))
    scanner = PanicScanner(0)
    release = None
    starts = []  # (index, kernel time, line): every crash report opening, panics excluded
    traces = []  # (index, [frames]): every call trace
    cpu_lines = []  # (index, match)
    kernel_pcs = []  # (index, fn+off/size)
    panic_index = None
    trace = None
    index = -1
    for index, raw in enumerate(text.splitlines()):
        parsed = parse_plain(raw)
        line = CALLER_RE.sub("", parsed["text"], count=1) if parsed["kernel_time"] is not None else parsed["text"]
        stripped = line.strip()
        scanner.feed(line, line, None, parsed["kernel_time"])
        if trace is not None:
            if FRAME_RE.match(stripped):
                trace.append(clean_text(stripped))
                continue
            if stripped in TRACE_MARKERS or REGS_RE.match(stripped):
                continue
            trace = None
        if CALL_TRACE_RE.match(stripped):
            trace = []
            traces.append((index, trace))
            continue
        if release is None:
            match = LINUX_VERSION_RE.match(stripped)
            if match:
                release = clean_text(match.group(1))
        match = CPU_LINE_RE.match(stripped)
        if match:
            cpu_lines.append((index, match))
        match = KERNEL_PC_RE.match(stripped)
        if match:
            kernel_pcs.append((index, clean_text(match.group(1))))
        if PANIC_MARK in stripped:
            panic_index = index
        elif CRASH_START_RE.match(stripped) and not _same_report(starts, index, parsed["kernel_time"]):
            starts.append((index, parsed["kernel_time"], clean_text(stripped)))
    scanner.finish()

    summary = {
        "panic": bool(scanner.panics),
        "reason": None,
        "first_line": None,
        "call_trace": [],
        "trace_frames": 0,
        "kernel_release": release,
        "cpu": None,
        "pid": None,
        "comm": None,
        "tainted": None,
        "crashed_in": None,
        "uptime_seconds": None,
        "lines": index + 1,
    }
    report_start = None
    if scanner.panics:
        panic = scanner.panics[-1]
        summary["reason"] = panic["reason"]
        summary["first_line"] = panic["first_line"]
        summary["uptime_seconds"] = panic["epoch"]
        trace = panic["call_trace"]
        opening = [start for start in starts if start[2] == panic["first_line"] and start[0] <= panic_index]
        report_start = opening[-1][0] if opening else panic_index
    elif starts:
        report_start, summary["uptime_seconds"], summary["reason"] = starts[-1]
        summary["first_line"] = summary["reason"]
        later = [frames_ for start, frames_ in traces if start > report_start]
        trace = later[0] if later else []
    else:
        trace = []
    full, summary["call_trace"] = _frames(trace, frames, unreliable)
    summary["trace_frames"] = len(full)
    if report_start is not None:
        pcs = [pc for start, pc in kernel_pcs if start >= report_start]
        summary["crashed_in"] = pcs[0] if pcs else None
        after = [match for start, match in cpu_lines if start >= report_start]
        if after:
            match = after[0]
            summary["cpu"] = int(match.group(1))
            summary["pid"] = int(match.group(2))
            summary["comm"] = clean_text(match.group(3))
            summary["tainted"] = " ".join(match.group(4).split())
            if summary["kernel_release"] is None:
                summary["kernel_release"] = clean_text(match.group(5))
    return summary
