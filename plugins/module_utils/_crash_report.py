# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel crash reports in the kernel's own lines, shared by netconsole_log and the dmesg_summary filter.

* `PanicScanner` finds panic reports (reason, first line, call trace) in kernel lines fed one by one,
  whatever carried them: a receiver's netconsole file (`netconsole_log`) or a dump's dmesg file;
* `kernel_lines` takes the kernel's lines out of any log that carries them: a dump's dmesg, a receiver's file,
  a syslog or journal paste;
* `summarize_dmesg` sums up the kernel log kdump saved next to a vmcore (``dmesg.<stamp>`` from
  ``makedumpfile --dump-dmesg``, ``vmcore-dmesg.txt`` on RHEL): panic reason, first frames, kernel release,
  the crashing task;
* `panic_signature` says what kind of death it was, where (function, offset, module), in which context and on
  which kernel, with a key that groups the same bug across hosts and boots. netconsole_log gives each panic
  it finds one, from the same code.

Pure functions with no I/O; importable by Python 3.6+ and the standard library only (netconsole_log runs on
managed hosts).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import hashlib
import re

from ansible_collections.lastwords.panic.plugins.module_utils._kernel import build_version
from ansible_collections.lastwords.panic.plugins.module_utils._netconsole_wire import (
    parse_extended,
    parse_plain,
    unescape_rsyslog,
)

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
# The most lines of one report a scanner keeps for its signature.
REPORT_LINES = 400
# The line that closes an Oops or BUG report the kernel lived through (`---[ end trace 0000000000000000 ]---`).
# With kdump loaded, an oops in interrupt context, in the idle task or in init goes to the crash kernel before
# this line and before any panic line (x86's oops_end: crash_kexec() when kexec_should_crash()), so a report
# cut off without it, followed by silence, a reboot or the end of the log, is a kernel that died.
TRACE_END_MARK = "---[ end trace"
# The die counter of an oops (`Oops: 0000 [#1] PREEMPT SMP`, `general protection fault, ...: 0000 [#1]`, arm64's
# `Internal error: Oops: 96000045 [#1]`): only such a report goes through oops_end, where kdump takes over. A soft
# lockup, a hung task or a warning has none, and the kernel goes on after it.
DIE_COUNTER_RE = re.compile(r"\[#\d+\]")


def clean_text(text):
    """Make text read with surrogateescape safe for JSON."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class PanicScanner(object):
    """Finds panic reports in the kernel's lines, in order, whatever format they came in.

    A report opens at `Kernel panic - not syncing` and closes at the kernel's end line, at a
    reset, after PANIC_QUIET_SECONDS without a line, or at the end of the input. Its first line
    is the latest crash start (BUG:, Oops, sysrq, ...) shortly before the panic line.

    An oops (a crash report with the die counter, `[#1]`) that never reaches its `---[ end trace` line nor a panic
    line, and is followed by silence, a reboot or the end of the input, is a kernel that died too: kdump took over
    in the oops, before the kernel printed either. It is reported the same way, with `reason` its first line and
    `panic_line` false.
    """

    def __init__(self, tail_lines, signatures=False):
        self.keep_excerpt = tail_lines > 0
        # with signatures, each report keeps its lines (from its first line on, bounded) for `signature_of_lines`
        self.signatures = signatures
        self.window = collections.deque(maxlen=CRASH_START_WINDOW + 1) if signatures else None
        self.recent = collections.deque(maxlen=max(tail_lines, 1))
        self.panics = []
        self.panic = None
        self.oops = None  # a crash report with no panic line yet: (index, epoch, iso, line, lines)
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
        if (self.panic is not None or self.oops is not None) and epoch is not None and self.last_epoch is not None:
            if epoch - self.last_epoch > PANIC_QUIET_SECONDS:
                self.finish()
        self.last_epoch = epoch
        self.index += 1
        if self.keep_excerpt:
            self.recent.append(clean_text(shown))
        stripped = text.strip()
        if (self.panic is not None or self.oops is not None) and stripped.startswith("Linux version "):
            self.finish()  # a boot banner: the kernel that panicked is gone
        if self.signatures:
            self.window.append(text)
            if self.panic is not None and len(self.panic["_lines"]) < REPORT_LINES:
                self.panic["_lines"].append(text)
        if self.oops is not None and self.panic is None:
            if len(self.oops["_lines"]) < REPORT_LINES:
                self.oops["_lines"].append(text)
            if not self.oops["died"] and DIE_COUNTER_RE.search(stripped):
                self.oops["died"] = True
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
        if stripped.startswith(TRACE_END_MARK) and self.panic is None:
            self.oops = None  # the kernel lived through this report (a panic line may still follow)
        if stripped.startswith(PANIC_END_MARK):
            if self.panic is not None:
                self.panic["complete"] = True
                self.finish()
            return
        if CRASH_START_RE.match(stripped) and self._recent_crash_start(epoch) is None:
            self.crash_start = (self.index, epoch, stripped)
            self.last_trace = None
            if self.panic is None and PANIC_MARK not in stripped:
                if self.oops is not None:
                    self._close_oops()  # a second report before the first ended: the first is a death too
                self.oops = {"time": iso, "epoch": epoch, "first_line": clean_text(stripped), "_lines": [text],
                             "died": bool(DIE_COUNTER_RE.search(stripped))}
        position = stripped.find(PANIC_MARK)
        if position >= 0:
            self.oops = None  # the panic report covers it
            self.finish()
            self.panic = {
                "time": iso,
                "epoch": epoch,
                "reason": clean_text(stripped[position:]),
                "first_line": clean_text(self._recent_crash_start(epoch) or stripped),
                "call_trace": [],
                "complete": False,
                "panic_line": True,
                "_before": self.last_trace or [],
            }
            if self.signatures:
                start = self.crash_start[0] if self._recent_crash_start(epoch) is not None else self.index
                self.panic["_lines"] = list(self.window)[-(self.index - start + 1) :]

    def _close_oops(self):
        """Report the oops that was cut off before its end: the kernel died in it (kdump took over). A report
        without a die counter (a soft lockup, a hung task) is not a death and is dropped."""
        oops, self.oops = self.oops, None
        if not oops["died"]:
            return
        lines = oops.pop("_lines")
        panic = {
            "time": oops["time"],
            "epoch": oops["epoch"],
            "reason": oops["first_line"],
            "first_line": oops["first_line"],
            "call_trace": list(self.last_trace or []),
            "complete": False,
            "panic_line": False,
            "excerpt": list(self.recent) if self.keep_excerpt else [],
        }
        if self.signatures:
            panic["signature"] = signature_of_lines([(None, line) for line in lines])
        self.panics.append(panic)

    def finish(self):
        """Close the open panic report, if any, and a crash report cut off before its end (a kernel that died)."""
        if self.trace is not None:
            self._end_trace()
        if self.panic is None:
            if self.oops is not None:
                self._close_oops()
            return
        panic = self.panic
        before = panic.pop("_before")
        if not panic["call_trace"]:
            panic["call_trace"] = before
        panic["excerpt"] = list(self.recent) if self.keep_excerpt else []
        if self.signatures:
            panic["signature"] = signature_of_lines([(None, line) for line in panic.pop("_lines")])
        self.panics.append(panic)
        self.panic = None
        self.crash_start = None
        self.last_trace = None


# ---------------------------------------------------------------------------------------------
# Kernel lines out of any log that carries them
# ---------------------------------------------------------------------------------------------

# `<4>` in front of a line read from /dev/kmsg or `dmesg -r`.
LEVEL_RE = re.compile(r"^<\d{1,3}>")
# A syslog or journal time stamp: `Dec  1 10:00:00` (syslog, journalctl's short format, optionally with
# microseconds), `2026-12-01T10:00:00.123456+00:00` (rsyslog's RFC 3339, and the receiver's files) or
# `2026-12-01T10:00:00+0000` (journalctl -o short-iso).
LOG_STAMP_RE = re.compile(
    r"^(?:[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d+)?"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?) +"
)
# `host kernel: ` after a syslog stamp (or after the uptime, in journalctl -o short-monotonic).
KERNEL_TAG_RE = re.compile(r"^\S+ kernel: ?")
# `host program[123]: `: a line from something other than the kernel in a syslog or journal paste.
OTHER_TAG_RE = re.compile(r"^\S+ [\w./@-]+(?:\[\d+\])?: ")
# `[Tue Dec  1 10:00:00 2026] ` (dmesg -T).
DMESG_CTIME_RE = re.compile(r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\] ?")


def kernel_lines(text):
    """The kernel's lines in `text`, as (uptime seconds or None, line) with every log's prefix taken off.

    Reads a dump's dmesg (``[ uptime] text``, with CONFIG_PRINTK_CALLER's ``[T123]``), a receiver's file
    (``<RFC 3339 stamp> [ uptime] text`` or an extended record ``6,1234,5678,-;text``, escapes undone), syslog and
    journal pastes (``Dec  1 10:00:00 host kernel: ...``, RFC 3339 and short-iso stamps, short-monotonic),
    ``dmesg -T`` and ``/dev/kmsg`` levels. Lines another program logged in a syslog paste are left out. The
    kernel's indentation of call trace frames is kept.
    """
    out = []
    for raw in text.splitlines():
        line = LEVEL_RE.sub("", raw.rstrip("\r\n"), count=1)
        stamp = LOG_STAMP_RE.match(line)
        if stamp:
            line = unescape_rsyslog(line[stamp.end() :])
            tag = KERNEL_TAG_RE.match(line)
            if tag:
                line = line[tag.end() :]
            elif not PLAIN_TIME_RE.match(line) and parse_extended(line) is None and OTHER_TAG_RE.match(line):
                continue
            line = LEVEL_RE.sub("", line, count=1)
        line = DMESG_CTIME_RE.sub("", line, count=1)
        record = parse_extended(line)
        if record is not None:
            uptime = record["ts_usec"] / 1e6
            for part in (record["text"] if record["text"] is not None else record["body"]).split("\n"):
                out.append((uptime, part))
            continue
        parsed = parse_plain(line)
        uptime, line = parsed["kernel_time"], parsed["text"]
        if uptime is not None:
            tag = KERNEL_TAG_RE.match(line)
            if tag:
                line = line[tag.end() :]
            line = CALLER_RE.sub("", line, count=1)
        out.append((uptime, line))
    return out


# ---------------------------------------------------------------------------------------------
# A crashed kernel's log: what killed it, where, and which kernel it was
# ---------------------------------------------------------------------------------------------

# `[    T1234]` or `[ C1]` after the time stamp: the printk caller (CONFIG_PRINTK_CALLER).
CALLER_RE = re.compile(r"^\[\s*[TC]\d+\] ?")
PLAIN_TIME_RE = re.compile(r"^\[\s*\d+\.\d+\]")
LINUX_VERSION_RE = re.compile(r"^Linux version (\S+)")
# `CPU: 0 PID: 1234 Comm: bash Kdump: loaded Not tainted 6.1.0-47-amd64 #1  Debian 6.1.158-1`; 6.12 adds
# `UID: 0 `; a tainted kernel prints `Tainted: G        W  O      ` instead of `Not tainted`. Comm may hold spaces.
# Kernels before 3.19 printed `Pid: 19677, comm: rmdir Tainted: G        W 3.0.0-mm1 #35 board`.
CPU_LINE_RE = re.compile(
    r"^(?:CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (.{1,16}?) (?:Kdump: \w+ )?"
    r"|Pid: (\d+), comm: (.{1,16}?) )"
    r"(Not tainted|Tainted: [A-Z ]*?) ?(\S+)(?: #\d+|\s*$)"
)
# One frame's text: `name+0x14/0x30 [module]`.
SITE_RE = re.compile(r"([\w.$@-]+)\+(0x[0-9a-fA-F]+/0x[0-9a-fA-F]+)(?: \[([\w-]+)\])?")
# Where the CPU was when the report was made, in the kernel, in every form kernels print it: x86-64
# `RIP: 0010:fn+0x14/0x30 [mod]` (Xen PV `e030:`, kernels before 4.x `RIP: 0010:[<ffff...>]  fn+...` and
# `IP: [<ffff...>] fn+...`), i386 `EIP: [<c05bacd1>] fn+...` and `EIP is at fn+...`, arm `PC is at fn+...`,
# arm64 `pc : fn+...`, powerpc `NIP [c000...] fn+...`. User space addresses (`RIP: 0033:0x7f...`) do not match.
KERNEL_PC_RE = re.compile(
    r"^(?:RIP: (?:0010|e030):|IP: |EIP: (?:0060:)?|EIP is at |PC is at |pc : |NIP \[[0-9a-f]+\] )"
    r"(?:\[<[0-9a-fA-F]+>\]\s+)*" + SITE_RE.pattern
)
# 32-bit arm: `[<c0544db4>] (validate_desc) from [<c0545228>] (gpiod_direction_output+0x14/0x128)`.
ARM_FRAME_RE = re.compile(r"^\[<[0-9a-fA-F]+>\] \([\w.$@-]+\) from \[<[0-9a-fA-F]+>\] \((" + SITE_RE.pattern + r")\)")
HARDWARE_RE = re.compile(r"^Hardware name: (.+)$")
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


class _Trace(object):
    """A call trace as read: its frames and the block (`<IRQ>`, `<NMI>`, `<TASK>`, ...) each frame was in."""

    def __init__(self, index, arm=False):
        self.index = index
        self.arm = arm
        self.frames = []
        self.blocks = []
        self.block = None

    def marker(self, marker):
        if marker.startswith("</") or marker == "<EOI>":
            self.block = None
        else:
            self.block = marker.strip("<>#").lower()

    def add(self, frame):
        self.frames.append(_frame_text(frame))
        self.blocks.append(self.block)


def _read(lines):
    """One pass over (uptime, line) kernel lines: every fact the summary and the signature are made of."""
    scanner = PanicScanner(0)
    facts = {
        "release": None,
        "version_line": None,  # `Linux version <release> ... #1 SMP ... Debian 6.1.170-3 (...)`
        "starts": [],  # (index, kernel time, line): every crash report opening, panics excluded
        "traces": [],  # _Trace, in order
        "cpu_lines": [],  # (index, match)
        "kernel_pcs": [],  # (index, fn+off/size [mod])
        "hardware": [],  # (index, text)
        "panic_index": None,
        "lines": len(lines),
    }
    trace = None
    for index, (uptime, line) in enumerate(lines):
        stripped = line.strip()
        scanner.feed(line, line, None, uptime)
        match = ARM_FRAME_RE.match(stripped)
        if match:  # arm's `(callee) from (caller+off/size)` lines: a trace with no heading
            if trace is None or not trace.arm:
                trace = _Trace(index, arm=True)
                facts["traces"].append(trace)
            trace.add(clean_text(match.group(1)))
            continue
        if trace is not None and trace.arm:
            trace = None
        if trace is not None:
            if FRAME_RE.match(stripped):
                trace.add(clean_text(stripped))
                continue
            if stripped in TRACE_MARKERS:
                trace.marker(stripped)
                continue
            if REGS_RE.match(stripped):  # a RIP inside a trace is where an interrupted context was, not the fault
                continue
            trace = None
        if CALL_TRACE_RE.match(stripped):
            trace = _Trace(index)
            facts["traces"].append(trace)
            continue
        if facts["release"] is None:
            match = LINUX_VERSION_RE.match(stripped)
            if match:
                facts["release"] = clean_text(match.group(1))
                facts["version_line"] = clean_text(stripped)
        match = CPU_LINE_RE.match(stripped)
        if match:
            facts["cpu_lines"].append((index, match))
        match = KERNEL_PC_RE.match(stripped)
        if match:
            facts["kernel_pcs"].append((index, clean_text(stripped[match.start(1) : match.end()])))
        match = HARDWARE_RE.match(stripped)
        if match:
            facts["hardware"].append((index, clean_text(match.group(1).strip())))
        if PANIC_MARK in stripped:
            facts["panic_index"] = index
        elif CRASH_START_RE.match(stripped) and not _same_report(facts["starts"], index, uptime):
            facts["starts"].append((index, uptime, clean_text(stripped)))
    scanner.finish()
    # the reports with a panic line; a report cut off without one is summed up from its crash start below
    facts["panics"] = [panic for panic in scanner.panics if panic["panic_line"]]
    return facts


def _report(facts):
    """The last crash report in the facts: its opening line, reason, index and the traces that belong to it."""
    report = {"panic": bool(facts["panics"]), "reason": None, "first_line": None, "start": None,
              "uptime": None, "trace": [], "report_trace": None}
    if facts["panics"]:
        panic = facts["panics"][-1]
        report["reason"] = panic["reason"]
        report["first_line"] = panic["first_line"]
        report["uptime"] = panic["epoch"]
        report["trace"] = panic["call_trace"]
        opening = [start for start in facts["starts"]
                   if start[2] == panic["first_line"] and start[0] <= facts["panic_index"]]
        report["start"] = opening[-1][0] if opening else facts["panic_index"]
    elif facts["starts"]:
        report["start"], report["uptime"], report["reason"] = facts["starts"][-1]
        report["first_line"] = report["reason"]
    elif facts["kernel_pcs"]:
        # a report whose first line is not in the text (a paste that starts lower): from its CPU line, if
        # that comes shortly before the kernel address, else from the address
        pc_index = facts["kernel_pcs"][0][0]
        before = [index for index, _match in facts["cpu_lines"] if pc_index - CRASH_START_WINDOW < index <= pc_index]
        report["start"] = before[0] if before else pc_index
    if report["start"] is not None:
        later = [trace for trace in facts["traces"] if trace.index > report["start"]]
        report["report_trace"] = later[0] if later else None
        if not facts["panics"]:
            report["trace"] = later[0].frames if later else []
    return report


def _after(items, start):
    found = [item for index, item in items if start is not None and index >= start]
    return found[0] if found else None


def summarize_dmesg(text, frames=8, unreliable="drop"):
    """Sum up a crashed kernel's log (the dmesg kdump saves): what killed it, where, and which kernel it was.

    `text` is the whole file, one kernel line per line, in any shape `kernel_lines` reads. Returns a dict:
    `panic` (a `Kernel panic - not syncing` line was found), `reason` (that line from `Kernel panic` on, else the
    first line of the last crash report: `BUG:`, `Oops`, ..., else None), `first_line` (the line that opened the
    report, as netconsole_log reports it), `call_trace` (the first `frames` frames, 0 = all; frames the kernel
    marks unreliable, `? name+off/size`, are left out with `unreliable='drop'` and kept with their `? ` with
    `'keep'`), `trace_frames` (frames in the whole trace, after that choice), `kernel_release` (from
    `Linux version`, else from the report's `CPU:` line), `kernel_build` (the distribution's version of that build,
    `6.1.170-3`, from `Linux version`, else None), `cpu`, `pid`, `comm` and `tainted` (from that line,
    `Not tainted` or `Tainted: <flags>`), `crashed_in` (the kernel function the CPU was in when the report was
    made, x86 `RIP: 0010:` or arm64 `pc :`; None when it was in user space), `hardware` (the report's
    `Hardware name:`), `uptime_seconds` (kernel time of the panic or report line) and `lines`.
    """
    _check_options(frames, unreliable)
    facts = _read(kernel_lines(text))
    return _summary(facts, _report(facts), frames, unreliable)


def summary_and_signature(text, frames=8, unreliable="drop"):
    """`summarize_dmesg` and `panic_signature` of the same text, read once (collect records both of a dump)."""
    _check_options(frames, unreliable)
    facts = _read(kernel_lines(text))
    report = _report(facts)
    return _summary(facts, report, frames, unreliable), _signature(facts, report)


def _check_options(frames, unreliable):
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 0:
        raise ValueError("frames must be a whole number, 0 or more (0 = all), got %r" % (frames,))
    if unreliable not in UNRELIABLE_CHOICES:
        raise ValueError("unreliable must be one of %s, got %r" % (", ".join(UNRELIABLE_CHOICES), unreliable))


def _summary(facts, report, frames=8, unreliable="drop"):
    summary = {
        "panic": report["panic"],
        "reason": report["reason"],
        "first_line": report["first_line"],
        "call_trace": [],
        "trace_frames": 0,
        "kernel_release": facts["release"],
        "kernel_build": build_version(facts["version_line"]),
        "cpu": None,
        "pid": None,
        "comm": None,
        "tainted": None,
        "crashed_in": _after(facts["kernel_pcs"], report["start"]),
        "hardware": _after(facts["hardware"], report["start"]),
        "uptime_seconds": report["uptime"],
        "lines": facts["lines"],
    }
    full, summary["call_trace"] = _frames(report["trace"], frames, unreliable)
    summary["trace_frames"] = len(full)
    match = _after(facts["cpu_lines"], report["start"])
    if match:
        old = match.group(1) is None
        summary["cpu"] = None if old else int(match.group(1))
        summary["pid"] = int(match.group(4) if old else match.group(2))
        summary["comm"] = clean_text(match.group(5) if old else match.group(3))
        summary["tainted"] = " ".join(match.group(6).split())
        if summary["kernel_release"] is None:
            summary["kernel_release"] = clean_text(match.group(7))
    return summary


# ---------------------------------------------------------------------------------------------
# A panic's signature: what kind of death, where, in which context, and a key that groups the same bug
# ---------------------------------------------------------------------------------------------

# (pattern on the report's first line, then on the panic line; kind; what it means). First match wins.
KINDS = (
    (r"NULL pointer dereference", "null-pointer-dereference", "NULL pointer dereference"),
    (r"unable to handle (?:page fault|kernel paging request)|Unable to handle kernel (?:paging request|access)",
     "bad-memory-access", "bad kernel memory access (page fault)"),
    (r"kernel BUG at ", "bug", "BUG()"),
    (r"general protection fault", "general-protection-fault", "general protection fault"),
    (r"soft lockup|softlockup", "soft-lockup", "soft lockup (a CPU stuck in the kernel)"),
    (r"hard LOCKUP|Hard LOCKUP|hardlockup", "hard-lockup", "hard lockup (a CPU stuck with interrupts off)"),
    (r"blocked for more than \d+ seconds|hung_task: blocked tasks", "hung-task", "hung task"),
    (r"rcu.{0,40}(?:stall|Stall)|RCU Stall", "rcu-stall", "RCU stall"),
    (r"[Oo]ut of memory|deadlocked on memory", "out-of-memory", "out of memory"),
    (r"sysrq triggered crash|Trigger a crash", "sysrq", "crash requested through sysrq"),
    (r"[Mm]achine [Cc]heck|MCE", "machine-check", "machine check (hardware error)"),
    (r"stack-protector|stack is corrupted|stack guard page", "stack-corruption", "kernel stack corruption"),
    (r"^divide error", "divide-error", "divide error"),
    (r"^invalid opcode", "invalid-opcode", "invalid opcode"),
    (r"^double fault", "double-fault", "double fault"),
    (r"Attempted to kill (?:init|the idle task)", "init-exited", "init (PID 1) or the idle task died"),
    (r"VFS: Unable to mount root fs", "no-root-fs", "no root file system"),
    (r"panic_on_warn|^WARNING: ", "warning", "a WARNING with panic_on_warn"),
    (r"^BUG: |^watchdog: BUG: ", "bug", "BUG"),
    (r"Oops|Internal error|Fatal exception", "oops", "Oops"),
)
KINDS_RE = tuple((re.compile(pattern), kind, text) for pattern, kind, text in KINDS)
BUG_AT_RE = re.compile(r"kernel BUG at ([^!\s]+)")
# The kernel's taint flags (Documentation/admin-guide/tainted-kernels.rst); `G` only says P is not set.
TAINTS = {
    "P": "proprietary module loaded",
    "F": "module force-loaded",
    "S": "CPU or system out of specification",
    "R": "module force-unloaded",
    "M": "machine check exception earlier",
    "B": "bad page referenced or unexpected page flags",
    "U": "tainted on request from user space",
    "D": "died recently (an earlier Oops or BUG)",
    "A": "ACPI table overridden",
    "W": "a WARNING was printed earlier",
    "C": "staging driver loaded",
    "I": "firmware bug worked around",
    "O": "out-of-tree module loaded",
    "E": "unsigned module loaded",
    "L": "soft lockup earlier",
    "K": "kernel live-patched",
    "X": "distribution-defined taint",
    "T": "built with struct randomization",
    "N": "in-kernel test run",
}
# Frames the kernel adds on its way to printing a report or dying: never the place a bug is.
REPORTING_FRAMES = frozenset((
    "dump_stack", "dump_stack_lvl", "show_stack", "show_trace_log_lvl", "panic", "vpanic", "nmi_panic",
    "__warn", "warn_slowpath_fmt", "report_bug", "handle_bug", "check_panic_on_warn", "die", "__die", "__die_body",
    "die_addr", "oops_end", "no_context", "kernelmode_fixup_or_oops", "__bad_area_nosemaphore",
    "bad_area_nosemaphore", "page_fault_oops", "do_user_addr_fault", "exc_page_fault", "asm_exc_page_fault",
    "page_fault", "do_page_fault", "do_trap", "do_error_trap", "exc_invalid_op", "asm_exc_invalid_op",
    "exc_general_protection", "asm_exc_general_protection", "do_general_protection", "general_protection",
    "printk", "_printk", "vprintk", "vprintk_emit", "vprintk_default", "watchdog_timer_fn", "out_of_memory",
    "check_panic_on_oom", "__schedule", "schedule", "schedule_timeout", "schedule_preempt_disabled",
    "io_schedule", "io_schedule_timeout", "__die_header", "do_exit", "make_task_dead", "rewind_stack_do_exit",
    "rewind_stack_and_make_dead", "__do_kernel_fault", "do_translation_fault", "do_mem_abort", "el1_abort",
    "el1h_64_sync_handler", "el1h_64_sync", "__do_page_fault", "do_bad_area", "arm64_notify_die",
))
# Frames that mean softirq work (a NIC's receive path runs here).
SOFTIRQ_FRAMES = frozenset(("__do_softirq", "handle_softirqs", "run_ksoftirqd", "do_softirq", "do_softirq_own_stack",
                            "net_rx_action", "__napi_poll", "napi_poll", "tasklet_action_common", "run_timer_softirq"))
PROCESS_FRAMES = frozenset(("entry_SYSCALL_64_after_hwframe", "do_syscall_64", "kthread", "ret_from_fork",
                            "el0_svc", "invoke_syscall", "system_call_fastpath", "sysenter_do_call", "syscall_call",
                            "common_exception", "worker_thread", "smpboot_thread_fn"))
COMPILER_SUFFIX_RE = re.compile(r"\.(?:cold|constprop|isra|part|llvm|lto_priv|clone|localalias)(?:\.\d+)*")
SIGNATURE_FRAMES = 8


def _function_name(name):
    """`__handle_sysrq.cold` -> `__handle_sysrq`: the compiler's clones are the same function in the source."""
    return COMPILER_SUFFIX_RE.sub("", name)


def _site(text):
    """`? fn+0x1/0x2 [mod]` -> (function, offset, module, unreliable), or None."""
    unreliable = text.startswith("? ")
    match = SITE_RE.match(text[2:] if unreliable else text)
    if not match:
        return None
    return match.group(1), match.group(2), match.group(3), unreliable


def _kind(first_line, reason):
    for line in (first_line, reason):
        for pattern, kind, meaning in KINDS_RE if line else ():
            if pattern.search(line):
                return kind, meaning
    if reason:
        return "panic", "kernel panic"
    return None, None


def _context(trace, reason):
    """Where the CPU was when it died: nmi, irq (hard interrupt), softirq, process, or None (not told)."""
    if trace is not None and trace.frames:
        reliable = [index for index, frame in enumerate(trace.frames) if not frame.startswith("? ")]
        top = reliable[0] if reliable else 0
        block = trace.blocks[top]
        in_block = [trace.frames[i] for i in range(top, len(trace.frames)) if trace.blocks[i] == block]
        names = set(_function_name(site[0]) for site in (_site(frame) for frame in in_block) if site)
        if block == "nmi":
            return "nmi"
        if names & SOFTIRQ_FRAMES:
            return "softirq"
        if block == "irq":
            return "irq"
        if block == "task" or (block is None and names & PROCESS_FRAMES):
            return "process"
    if reason and "in interrupt" in reason:
        return "interrupt"
    return None


def _normalized(text):
    """A line with what differs between occurrences of the same problem (numbers, addresses) taken out."""
    return re.sub(r"\b(?:0x)?[0-9a-fA-F]*\d[0-9a-fA-F]*\b", "N", text)


def signature_of_lines(lines):
    """The signature of the last crash report in (uptime, line) kernel lines; see `panic_signature`."""
    facts = _read(lines)
    return _signature(facts, _report(facts))


def _signature(facts, report):
    summary = _summary(facts, report, frames=0)
    trace = report["report_trace"]
    kind, meaning = _kind(report["first_line"], report["reason"])
    if kind is None and report["start"] is not None:
        kind, meaning = "oops", "Oops (its first line is not in the text)"
    signature = {
        "found": kind is not None,
        "panic": summary["panic"],
        "reason": summary["reason"],
        "first_line": summary["first_line"],
        "kind": kind,
        "kind_text": meaning,
        "location": None,
        "site": summary["crashed_in"],
        "function": None,
        "offset": None,
        "module": None,
        "suspect_module": None,
        "context": None,
        "release": summary["kernel_release"],
        "cpu": summary["cpu"],
        "pid": summary["pid"],
        "comm": summary["comm"],
        "tainted": summary["tainted"],
        "taint_flags": None,
        "taints": [],
        "hardware": summary["hardware"],
        "frames": [],
        "key": None,
        "summary": None,
    }
    if kind is None:
        return signature
    match = BUG_AT_RE.search(report["first_line"] or "")
    if match:
        signature["location"] = clean_text(match.group(1))
    if summary["tainted"] and summary["tainted"] != "Not tainted":
        flags = "".join(flag for flag in summary["tainted"][len("Tainted:"):] if flag in TAINTS)
        signature["taint_flags"] = flags
        signature["taints"] = ["%s: %s" % (flag, TAINTS[flag]) for flag in flags]
    elif summary["tainted"]:
        signature["taint_flags"] = ""
    frames = trace.frames if trace is not None else summary["call_trace"]
    sites = [site for site in (_site(_frame_text(frame)) for frame in frames) if site and not site[3]]
    signature["frames"] = ["%s+%s%s" % (name, offset, " [%s]" % module if module else "")
                           for name, offset, module, _unreliable in sites[:SIGNATURE_FRAMES]]
    meaningful = [site for site in sites if _function_name(site[0]) not in REPORTING_FRAMES]
    where = _site(summary["crashed_in"]) if summary["crashed_in"] else None
    if where is None and meaningful:
        where = meaningful[0]
    if where is not None:
        signature["function"], signature["offset"], signature["module"] = where[0], where[1], where[2]
        if signature["site"] is None:
            signature["site"] = "%s+%s%s" % (where[0], where[1], " [%s]" % where[2] if where[2] else "")
    modules = [site[2] for site in ([where] if where else []) + meaningful[:SIGNATURE_FRAMES] if site[2]]
    signature["suspect_module"] = modules[0] if modules else None
    signature["context"] = _context(trace, summary["reason"])
    # The key leaves the callers out: a trace that lost its lower frames on the way (a receiver's, a pstore
    # record's) is still the same panic as the dump's.
    parts = [kind, signature["location"] or ""]
    if signature["function"] is not None:
        parts += [_function_name(signature["function"]), signature["module"] or ""]
    else:
        parts.append(_normalized(summary["reason"] or summary["first_line"] or ""))
    digest = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:8]
    label = _function_name(signature["function"]) if signature["function"] else "-"
    signature["key"] = "%s:%s%s:%s" % (kind, label, "[%s]" % signature["module"] if signature["module"] else "", digest)
    words = [meaning if kind != "bug" or not signature["location"] else "BUG at %s" % signature["location"]]
    if signature["function"]:
        words.append("in %s%s" % (signature["function"], " [%s]" % signature["module"] if signature["module"] else ""))
    if signature["context"]:
        words.append("(%s)" % signature["context"])
    if signature["release"]:
        words.append("on %s" % signature["release"])
    signature["summary"] = " ".join(words)
    return signature


def panic_signature(text):
    """What killed a kernel, in a form that groups the same bug across hosts and boots.

    `text` is kernel log text in any shape `kernel_lines` reads. The last crash report in it counts. Returns a dict:
    `found` (a crash report or panic was found), `panic`, `reason` (the panic line, else the report's first line),
    `first_line`, `kind` (null-pointer-dereference, bad-memory-access, bug, general-protection-fault, soft-lockup,
    hard-lockup, hung-task, rcu-stall, out-of-memory, sysrq, machine-check, stack-corruption, divide-error,
    invalid-opcode, double-fault, init-exited, no-root-fs, warning, oops, panic) and `kind_text`, `location`
    (file:line of a `kernel BUG at`), `site`, `function`, `offset` and `module` (where it faulted: the kernel
    address the report gives, else the first frame that is not the kernel's own reporting; `module` is the frame's
    `[name]`, None for the core kernel), `suspect_module` (that module, else the nearest module among the callers:
    the driver a core kernel function was working for), `context` (nmi, irq, softirq, process, interrupt or None),
    `release`, `cpu`, `pid`, `comm`, `tainted` (as printed), `taint_flags` and `taints` (each flag with its
    meaning), `hardware`, `frames` (the first reliable frames), `key` (kind, function and module with a hash of
    those, the file:line of a BUG, or the panic line without its numbers when no function is known: the same on
    every host and kernel build that dies the same way, however much of the trace arrived) and `summary` (one line).
    """
    return signature_of_lines(kernel_lines(text))
