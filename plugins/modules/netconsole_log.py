#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: netconsole_log
short_description: Report what a netconsole receiver got from each host
version_added: 0.1.0
description:
  - Runs on the log receiver. Reads the per-host files the receiver writes, one C(<host>.log) per
    sending host in I(log_dir), and reports for each host when it was last heard, whether a canary
    message arrived, the kernel panics it sent (reason, first line, call trace, excerpt, signature) and, for the
    extended format, lost records (gaps in the sequence numbers) and reboots (sequence resets).
  - >-
    Each line of a file is expected as C(<RFC 3339 timestamp> <message as received>), for example
    C(2026-11-25T21:40:01.123456+00:00 [  123.456789] sysrq: Trigger a crash) (plain netconsole) or
    C(2026-11-25T21:40:01.123456+00:00 6,1234,5678901,-;sysrq: Trigger a crash) (extended, optionally
    with the kernel release in front). A line without a timestamp continues the message above it, and
    rsyslog's escapes of control characters (C(#012) for a newline) are undone.
  - Extended records sent in fragments (C(ncfrag=<offset>/<total>)) are put back together before
    anything else looks at them.
  - Files are read line by line, never whole; with I(since), the start is found by a binary search on
    the timestamps, so a large file costs only the part after I(since).
  - Read-only; never reports a change.
author:
  - lastwords developers (!UNKNOWN)  # the project has no GitHub handle yet; ansible-test wants one or this
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Returns the same data as a normal run.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  log_dir:
    description:
      - Directory holding one C(<host>.log) file per sending host.
    type: path
    default: /var/log/netconsole
  hosts:
    description:
      - Only report these hosts. A host without a file is reported with C(exists=false) and listed in
        C(missing_hosts).
      - Default is every C(*.log) file in I(log_dir). Rotated files (C(<host>.log.1)) are not read.
    type: list
    elements: str
  canary:
    description:
      - Text to look for in the messages, for example a token written to C(/dev/kmsg) on the sender
        to prove the path works.
    type: str
  since:
    description:
      - Only look at messages the receiver stamped at or after this time, in seconds since the epoch.
    type: float
  tail_lines:
    description:
      - Number of message lines, up to and including the end of each panic report, returned as the
        panic's C(excerpt). C(0) returns none.
    type: int
    default: 40
notes:
  - A gap in the sequence numbers is a record the receiver did not get. Records below the sender's
    console log level are never sent, so they show up as gaps too; raise the console log level on the
    sender (C(kernel.printk)) to make gaps mean loss.
  - A reset is the sequence going back, which a reboot does. Reloading netconsole with targets on its
    module parameter also replays the kernel's buffer and shows as a reset. For the plain format, the
    kernel's uptime stamp going back is reported as a reset.
seealso:
  - module: lastwords.panic.netconsole_target
"""

EXAMPLES = r"""
- name: Read what the receiver got in the last hour
  lastwords.panic.netconsole_log:
    since: "{{ ansible_date_time.epoch | int - 3600 }}"
  register: netconsole_report

- name: Check that the canary of one host arrived
  lastwords.panic.netconsole_log:
    hosts:
      - web1
    canary: "lastwords-canary-{{ canary_token }}"
  register: canary_check
  failed_when: not canary_check.hosts.web1.canary_found

- name: Show the last panic of a host after a crash drill
  lastwords.panic.netconsole_log:
    log_dir: /var/log/netconsole
    hosts:
      - web1
    tail_lines: 60
  register: drill

- name: Print it
  ansible.builtin.debug:
    msg: "{{ drill.hosts.web1.panics | last }}"
  when: drill.hosts.web1.panics | length > 0
"""

RETURN = r"""
log_dir:
  description: Directory read.
  returned: always
  type: str
  sample: /var/log/netconsole
missing_hosts:
  description: Hosts asked for in I(hosts) that have no file.
  returned: always
  type: list
  elements: str
  sample: [db2]
hosts:
  description: One entry per host, keyed by host name (the file name without C(.log)).
  returned: always
  type: dict
  contains:
    file:
      description: Path of the host's file.
      type: str
      sample: /var/log/netconsole/web1.log
    exists:
      description: Whether the file exists.
      type: bool
    size:
      description: Size of the file in bytes.
      type: int
    lines:
      description: Lines read (those at or after I(since) when it is given).
      type: int
    format:
      description: C(plain), C(extended), C(mixed), or null when no message was read.
      type: str
      sample: extended
    last_message_time:
      description: Receiver timestamp of the last message in the file, as written there.
      type: str
      sample: "2026-11-25T21:40:01.123456+00:00"
    last_message_epoch:
      description: The same in seconds since the epoch.
      type: float
      sample: 1795642801.123456
    age_seconds:
      description: Seconds from the last message to now; a large value means a silent host.
      type: float
    canary_found:
      description: Whether I(canary) was seen.
      type: bool
    canary_time:
      description: Receiver timestamp of the last message holding I(canary).
      type: str
    canary_epoch:
      description: The same in seconds since the epoch.
      type: float
    canary_count:
      description: Messages holding I(canary).
      type: int
    kernel_release:
      description: Last kernel release seen in front of extended records (sender's C(release) option).
      type: str
      sample: 6.1.0-47-amd64
    panics:
      description: Kernel panics, oldest first.
      type: list
      elements: dict
      contains:
        time:
          description: >-
            Receiver timestamp of the C(Kernel panic - not syncing) line (of the oops' first line when
            C(panic_line) is false).
          type: str
        epoch:
          description: The same in seconds since the epoch.
          type: float
        reason:
          description: >-
            The panic line from C(Kernel panic - not syncing) on; for an oops cut off by kdump (see
            C(panic_line)), its first line (C(BUG: kernel NULL pointer dereference, ...)).
          type: str
          sample: "Kernel panic - not syncing: sysrq triggered crash"
        first_line:
          description: >-
            First line of the crash report (C(BUG:), C(Oops:), C(sysrq: Trigger a crash), ...)
            at most 200 lines and 10 seconds before the panic line, else the panic line itself.
          type: str
          sample: "sysrq: Trigger a crash"
        call_trace:
          description: Frames of the call trace that follows the panic line, or else of the last one
            before it in the same report, without the kernel's indentation.
          type: list
          elements: str
          sample: ["dump_stack_lvl+0x44/0x5c", "panic+0x118/0x2ec", "sysrq_handle_crash+0x16/0x20"]
        panic_line:
          description: >-
            Whether the kernel printed its panic line. With kdump loaded, an oops in interrupt context, in the idle
            task or in init goes to the crash kernel before it (and before the oops' own C(---[ end trace) line):
            such an oops, with its die counter (C([#1])) and cut off by silence, a reboot or the end of the file,
            is reported as a panic with this false.
          type: bool
          version_added: 0.2.0
        complete:
          description: >-
            Whether the kernel's C(---[ end Kernel panic ...) line arrived. The kernel prints it only
            when no crash kernel takes over, so with kdump loaded this is false even when everything
            arrived.
          type: bool
        excerpt:
          description: The last I(tail_lines) message lines up to the end of the report.
          type: list
          elements: str
        signature:
          description: >-
            What killed the kernel, where and in which context, with a key that groups the same bug across
            hosts and boots, read from the report's own lines (from its first line, at most 400 lines). The
            keys are those of the M(lastwords.panic.panic_signature) filter, which reads the same text the same
            way.
          type: dict
          version_added: 0.2.0
          sample:
            kind: sysrq
            function: sysrq_handle_crash
            module: null
            context: process
            key: "sysrq:sysrq_handle_crash:45c0590b"
            summary: crash requested through sysrq in sysrq_handle_crash (process) on 6.1.0-56-amd64
    records:
      description: Extended records read (fragments put together count once).
      type: int
    seq_gaps:
      description: Ranges C([first, last]) of sequence numbers never received, the latest 100.
      type: list
      elements: list
      sample: [[1240, 1242]]
    seq_gaps_total:
      description: Number of gaps, including those not listed.
      type: int
    missing_records:
      description: Records in all gaps.
      type: int
    resets:
      description: Points where the sequence (extended) or the kernel uptime (plain) went back, a
        reboot as a rule, with C(time), C(epoch), and C(from_seq)/C(to_seq) or C(from_uptime)/C(to_uptime).
      type: list
      elements: dict
    duplicates:
      description: Extended records received twice (counted once in C(records), looked at once).
      type: int
    late_records:
      description: >-
        Extended records that arrived after later ones and filled a gap. Lines are taken in the order
        they arrived, so a late frame stands out of place in a call trace.
      type: int
    incomplete_records:
      description: Extended records of which some fragments never arrived.
      type: int
    unparsed_lines:
      description: Extended-looking messages that could not be parsed.
      type: int
"""

import calendar
import collections
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastwords.panic.plugins.module_utils._crash_report import PanicScanner, clean_text
from ansible_collections.lastwords.panic.plugins.module_utils._netconsole import NetconsoleValueError
from ansible_collections.lastwords.panic.plugins.module_utils._netconsole_wire import (
    FragmentAssembler,
    parse_extended,
    parse_plain,
    unescape_rsyslog,
)

# `2026-11-25T21:40:01.123456+00:00 ` as written by rsyslog's date-rfc3339.
STAMP_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d) ")
MAX_GAPS = 100
REORDER_WINDOW = 1024
PLAIN_RESET_SLACK = 1.0


class LogError(Exception):
    """A failure to report with fail_json."""


class StampParser(object):
    """Receiver timestamps to epoch seconds, caching the second part (most lines share it)."""

    def __init__(self):
        self._key = None
        self._base = None

    def parse(self, line):
        """(iso, epoch, message) for a stamped line, else None."""
        match = STAMP_RE.match(line)
        if not match:
            return None
        key = (line[:19], match.group(8))
        if key != self._key:
            year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
            zone = match.group(8)
            offset = 0
            if zone != "Z":
                digits = zone[1:].replace(":", "")
                offset = int(digits[:2]) * 3600 + int(digits[2:]) * 60
                if zone[0] == "-":
                    offset = -offset
            self._base = calendar.timegm((year, month, day, hour, minute, second)) - offset
            self._key = key
        fraction = float(match.group(7)) if match.group(7) else 0.0
        return line[: match.end() - 1], self._base + fraction, line[match.end() :]


def messages(handle, start_offset=0, since=None):
    """Yield (iso, epoch, message) from a binary file handle, joining unstamped lines to the one above.

    Starts at the first line at or after `start_offset` (a line start or a position inside a line).
    With `since`, messages stamped earlier than it are skipped until the first one that is not.
    """
    stamps = StampParser()
    if start_offset > 0:
        handle.seek(start_offset - 1)
        handle.readline()
    else:
        handle.seek(0)
    pending = None
    started = since is None
    for raw in handle:
        line = raw.decode("utf-8", "surrogateescape")
        if line.endswith("\n"):
            line = line[:-1]
        if line.endswith("\r"):
            line = line[:-1]
        stamped = stamps.parse(line)
        if stamped is None:
            if pending is not None:
                pending[2].append(line)
            continue
        if not started:
            if stamped[1] < since:
                continue
            started = True
        if pending is not None:
            yield pending[0], pending[1], "\n".join(pending[2])
        pending = (stamped[0], stamped[1], [stamped[2]])
    if pending is not None:
        yield pending[0], pending[1], "\n".join(pending[2])


def _first_stamp_after(handle, offset, stamps, size):
    """(line_start, epoch) of the first stamped line starting after `offset` (or at 0), or (size, None)."""
    if offset > 0:
        handle.seek(offset - 1)
        handle.readline()
    else:
        handle.seek(0)
    while True:
        start = handle.tell()
        raw = handle.readline()
        if not raw:
            return size, None
        stamped = stamps.parse(raw.decode("utf-8", "surrogateescape"))
        if stamped is not None:
            return start, stamped[1]


def offset_since(handle, size, since, block=65536):
    """A line start at or before the first line stamped at or after `since` (timestamps ascend)."""
    stamps = StampParser()
    low, high = 0, size
    while high - low > block:
        middle = (low + high) // 2
        _start, epoch = _first_stamp_after(handle, middle, stamps, size)
        if epoch is not None and epoch < since:
            low = middle
        else:
            high = middle
    return low


def last_stamp(handle, size, block=65536, limit=4 * 1024 * 1024):
    """(iso, epoch) of the last stamped line, reading the file backwards up to `limit` bytes."""
    stamps = StampParser()
    end = size
    carry = b""
    while end > 0 and size - end < limit:
        start = max(0, end - block)
        handle.seek(start)
        chunk = handle.read(end - start) + carry
        lines = chunk.split(b"\n")
        carry = lines[0] if start > 0 else b""
        candidates = lines[1:] if start > 0 else lines
        for raw in reversed(candidates):
            stamped = stamps.parse(raw.decode("utf-8", "surrogateescape"))
            if stamped is not None:
                return stamped[0], stamped[1]
        end = start
    return None, None


class SequenceTracker(object):
    """Gaps, late arrivals, duplicates and resets in the sequence numbers of extended records."""

    def __init__(self, window=REORDER_WINDOW, max_gaps=MAX_GAPS):
        self.window = window
        self.expected = None
        self.open_gaps = []
        self.closed_gaps = collections.deque(maxlen=max_gaps)
        self.gap_total = 0
        self.missing = 0
        self.recent = collections.OrderedDict()
        self.resets = []
        self.duplicates = 0
        self.late = 0

    def _remember(self, seq, ts_usec):
        self.recent[seq] = ts_usec
        while len(self.recent) > self.window:
            self.recent.popitem(last=False)

    def _close_old_gaps(self):
        horizon = self.expected - self.window
        while self.open_gaps and self.open_gaps[0][1] < horizon:
            self.closed_gaps.append(self.open_gaps.pop(0))

    def _fill(self, seq):
        for index, (low, high) in enumerate(self.open_gaps):
            if low <= seq <= high:
                pieces = [gap for gap in ([low, seq - 1], [seq + 1, high]) if gap[0] <= gap[1]]
                self.open_gaps[index : index + 1] = pieces
                self.gap_total += len(pieces) - 1
                self.missing -= 1
                return True
        return False

    def observe(self, seq, ts_usec, iso=None, epoch=None):
        """Account for one record; returns 'next', 'gap', 'late', 'duplicate', 'reset' or 'start'.

        A record below the expected number fills a gap if it is in one of the last `window`
        numbers' gaps (late arrival), is a duplicate if the same number came recently with the
        same timestamp, and otherwise starts a new sequence: the sender rebooted.
        """
        if self.expected is None:
            status = "start"
            self.expected = seq + 1
        elif seq == self.expected:
            status = "next"
            self.expected += 1
        elif seq > self.expected:
            status = "gap"
            self.open_gaps.append([self.expected, seq - 1])
            self.gap_total += 1
            self.missing += seq - self.expected
            self.expected = seq + 1
        elif self._fill(seq):
            status = "late"
            self.late += 1
        elif self.recent.get(seq) == ts_usec:
            self.duplicates += 1
            return "duplicate"
        else:
            status = "reset"
            self.resets.append({"time": iso, "epoch": epoch, "from_seq": self.expected - 1, "to_seq": seq})
            self.closed_gaps.extend(self.open_gaps)
            self.open_gaps = []
            self.recent.clear()
            self.expected = seq + 1
        self._remember(seq, ts_usec)
        self._close_old_gaps()
        return status

    def gaps(self):
        listed = list(self.closed_gaps) + self.open_gaps
        return [list(gap) for gap in listed[-self.closed_gaps.maxlen :]]


def analyze_log(path, canary=None, since=None, tail_lines=40, now=None):
    """Everything netconsole_log reports about one host's file."""
    size = os.path.getsize(path)
    report = {
        "file": path,
        "exists": True,
        "size": size,
        "lines": 0,
        "format": None,
        "last_message_time": None,
        "last_message_epoch": None,
        "age_seconds": None,
        "canary_found": False,
        "canary_time": None,
        "canary_epoch": None,
        "canary_count": 0,
        "kernel_release": None,
        "panics": [],
        "records": 0,
        "seq_gaps": [],
        "seq_gaps_total": 0,
        "missing_records": 0,
        "resets": [],
        "duplicates": 0,
        "late_records": 0,
        "incomplete_records": 0,
        "unparsed_lines": 0,
    }
    scanner = PanicScanner(tail_lines, signatures=True)
    sequence = SequenceTracker()
    assembler = FragmentAssembler()
    formats = set()
    plain_resets = []
    last_uptime = None
    last = (None, None)

    def on_text(text, shown, body, iso, epoch):
        if canary and canary in body:
            report["canary_count"] += 1
            report["canary_time"], report["canary_epoch"] = iso, epoch
        scanner.feed(text, shown, iso, epoch)

    def on_record(record, iso, epoch):
        status = sequence.observe(record["seq"], record["ts_usec"], iso, epoch)
        if status == "duplicate":
            return
        report["records"] += 1
        if record.get("incomplete"):
            report["incomplete_records"] += 1
        if record["release"]:
            report["kernel_release"] = clean_text(record["release"])
        if status == "reset":
            scanner.finish()
            if record["release"]:
                sequence.resets[-1]["release"] = clean_text(record["release"])
        on_text(record["text"], record["text"], record["body"], iso, epoch)

    with open(path, "rb") as handle:
        start = offset_since(handle, size, since) if since is not None and size else 0
        for iso, epoch, message in messages(handle, start, since):
            report["lines"] += message.count("\n") + 1
            last = (iso, epoch)
            message = unescape_rsyslog(message)
            record = parse_extended(message)
            if record is not None:
                formats.add("extended")
                try:
                    completed = assembler.add(record)
                except NetconsoleValueError:
                    report["unparsed_lines"] += 1
                    continue
                for done in completed:
                    on_record(done, iso, epoch)
                continue
            for line in message.rstrip("\n").split("\n"):
                plain = parse_plain(line)
                if plain["text"] == "" and plain["kernel_time"] is None:
                    continue
                formats.add("plain")
                uptime = plain["kernel_time"]
                if uptime is not None:
                    if last_uptime is not None and uptime < last_uptime - PLAIN_RESET_SLACK:
                        scanner.finish()
                        plain_resets.append(
                            {"time": iso, "epoch": epoch, "from_uptime": last_uptime, "to_uptime": uptime}
                        )
                    last_uptime = uptime
                on_text(plain["text"], line, line, iso, epoch)
        for leftover in assembler.flush():
            on_record(leftover, last[0], last[1])
        if last[0] is None:
            last = last_stamp(handle, size)
    scanner.finish()

    report["format"] = "mixed" if len(formats) > 1 else (formats.pop() if formats else None)
    report["last_message_time"], report["last_message_epoch"] = last
    if last[1] is not None:
        report["age_seconds"] = round((time.time() if now is None else now) - last[1], 6)
    report["canary_found"] = report["canary_count"] > 0
    report["panics"] = scanner.panics
    report["seq_gaps"] = sequence.gaps()
    report["seq_gaps_total"] = sequence.gap_total
    report["missing_records"] = sequence.missing
    report["resets"] = sorted(sequence.resets + plain_resets, key=lambda reset: reset["epoch"])
    report["duplicates"] = sequence.duplicates
    report["late_records"] = sequence.late
    return report


def host_files(log_dir, hosts=None):
    """[(host, path)] to read, and the hosts asked for that have no file."""
    if hosts is None:
        names = sorted(entry[: -len(".log")] for entry in os.listdir(log_dir) if entry.endswith(".log"))
        return [(name, os.path.join(log_dir, name + ".log")) for name in names if name], []
    found, missing = [], []
    for host in hosts:
        path = os.path.join(log_dir, host + ".log")
        (found if os.path.isfile(path) else missing).append((host, path))
    return found, missing


def validate_hosts(hosts):
    for host in hosts or []:
        if not host or "/" in host or host.startswith(".") or "\0" in host:
            raise LogError("hosts: %r is not a host name that can name a file in log_dir" % (host,))


def run(params, now=None):
    log_dir = params["log_dir"]
    validate_hosts(params["hosts"])
    if params["tail_lines"] < 0:
        raise LogError("tail_lines: must be 0 or more, got %d" % params["tail_lines"])
    if not os.path.isdir(log_dir):
        raise LogError(
            "log_dir: %s does not exist; run this on the log receiver (lastwords.panic.receiver role) "
            "or point log_dir at its directory" % log_dir
        )
    found, missing = host_files(log_dir, params["hosts"])
    result = {"changed": False, "log_dir": log_dir, "hosts": {}, "missing_hosts": [host for host, _path in missing]}
    for host, path in found:
        try:
            result["hosts"][host] = analyze_log(
                path, canary=params["canary"], since=params["since"], tail_lines=params["tail_lines"], now=now
            )
        except (IOError, OSError) as exc:
            raise LogError(
                "cannot read %s: %s (the receiver writes its files 0640: use become)" % (path, exc.strerror)
            ) from None
    for host, path in missing:
        result["hosts"][host] = {"file": path, "exists": False}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            log_dir=dict(type="path", default="/var/log/netconsole"),
            hosts=dict(type="list", elements="str"),
            canary=dict(type="str"),
            since=dict(type="float"),
            tail_lines=dict(type="int", default=40),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params)
    except LogError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
