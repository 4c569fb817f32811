# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What netconsole sends, as a receiver reads it.

Plain console lines (``[  123.456789] text``) and extended records
(``[release,]<level>,<seq>,<ts_usec>,<flags>[,ncfrag=<off>/<total>];text`` followed by `` KEY=value``
dictionary lines), with reassembly of ``ncfrag`` fragments. Pure functions with no I/O, used on the receiver
(netconsole_log) and by the crash-report code; the sending side's model is `_netconsole`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.lastwords.panic.plugins.module_utils._netconsole import NetconsoleValueError

# drivers/net/netconsole.c: longer extended records are sent as ncfrag fragments.
MAX_PRINT_CHUNK = 1000

_DIGITS_RE = re.compile(r"^[0-9]+$")
# `[  123.456789] text`: the printk time prefix of plain console output (CONFIG_PRINTK_TIME).
_PLAIN_TIME_RE = re.compile(r"^\[\s*(\d+)\.(\d+)\] ?")
_NCFRAG_RE = re.compile(r"^(\d+)/(\d+)$")
# rsyslog escapes control characters as '#' and three octal digits (`#012` for a newline).
_RSYSLOG_ESCAPE_RE = re.compile(r"#(0[0-3][0-7])")

SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


def unescape_rsyslog(text):
    """Undo rsyslog's control character escaping (`#012` -> newline, `#011` -> tab)."""
    if "#" not in text:
        return text
    return _RSYSLOG_ESCAPE_RE.sub(lambda m: chr(int(m.group(1), 8)), text)


def parse_plain(payload):
    """Parse one plain (non-extended) netconsole line.

    Returns {'format': 'plain', 'kernel_time': float or None, 'text': str}. The text keeps the
    leading spaces the kernel indents call trace frames with.
    """
    payload = payload.rstrip("\r\n")
    match = _PLAIN_TIME_RE.match(payload)
    if not match:
        return {"format": "plain", "kernel_time": None, "text": payload}
    seconds = float("%s.%s" % (match.group(1), match.group(2)))
    return {"format": "plain", "kernel_time": seconds, "text": payload[match.end() :]}


def split_body(body):
    """Split an extended record body into its text and its dictionary.

    The kernel ends the text at the first newline; each following line is a ` KEY=value`
    dictionary entry (SUBSYSTEM=, DEVICE=, netconsole userdata), indented by one space (senders
    that leave the space out are accepted too). Returns (text, dict); a repeated key keeps its
    last value.
    """
    lines = body.split("\n")
    text = lines[0]
    dictionary = {}
    for line in lines[1:]:
        key, sep, value = (line[1:] if line.startswith(" ") else line).partition("=")
        if sep and key and " " not in key:
            dictionary[key] = value
    return text, dictionary


def parse_extended(payload):
    """Parse one extended netconsole message (one UDP payload).

    Returns None when `payload` is not in the extended format. Otherwise a dict with: release
    (str or None, the `r` prefix), level (facility * 8 + severity), facility, severity, seq,
    ts_usec, flags ('-' or 'c' or '+'), fields (other header `key=value`s), frag (None, or
    (offset, total) from `ncfrag`), body (everything after ';'), and for an unfragmented record
    text and dictionary (see split_body); a fragment gets text None until FragmentAssembler
    completes it.
    """
    header, sep, body = payload.partition(";")
    if not sep:
        return None
    fields = header.split(",")
    release = None
    if fields and not _DIGITS_RE.match(fields[0]):
        release = fields[0]
        fields = fields[1:]
    if release is not None and (not release or " " in release):
        return None
    if len(fields) < 4 or not all(_DIGITS_RE.match(f) for f in fields[:3]):
        return None
    level = int(fields[0])
    record = {
        "format": "extended",
        "release": release,
        "level": level,
        "facility": level >> 3,
        "severity": level & 7,
        "seq": int(fields[1]),
        "ts_usec": int(fields[2]),
        "flags": fields[3],
        "fields": {},
        "frag": None,
        "body": body,
        "text": None,
        "dictionary": {},
    }
    for extra in fields[4:]:
        key, eq, value = extra.partition("=")
        if not eq:
            continue
        if key == "ncfrag":
            match = _NCFRAG_RE.match(value)
            if not match:
                return None
            offset, total = int(match.group(1)), int(match.group(2))
            if total == 0 or offset >= total:
                return None
            record["frag"] = (offset, total)
        else:
            record["fields"][key] = value
    if record["frag"] is None:
        record["body"] = body.rstrip("\n")
        record["text"], record["dictionary"] = split_body(record["body"])
    return record


def parse_message(payload):
    """Parse one netconsole payload of either format; extended records are recognised first."""
    record = parse_extended(payload)
    if record is not None:
        return record
    return parse_plain(payload)


def _encode(text):
    return text.encode("utf-8", "surrogateescape")


def _decode(data):
    return data.decode("utf-8", "surrogateescape")


class FragmentAssembler(object):
    """Reassemble extended records sent as `ncfrag=<byte-offset>/<total-bytes>` fragments.

    add() takes records from parse_extended() and returns the records that became complete
    (unfragmented records pass straight through). Fragments may arrive in any order and
    twice; offsets count bytes of the body. At most `max_pending` records are held: the oldest
    is then given up and returned with 'incomplete': True and its missing bytes as NUL, as is
    everything still pending on flush().
    """

    def __init__(self, max_pending=64):
        self.max_pending = max_pending
        self._pending = {}
        self._order = []

    @staticmethod
    def _key(record):
        return (record["release"], record["level"], record["seq"], record["ts_usec"])

    def add(self, record):
        if record.get("frag") is None:
            return [record]
        offset, total = record["frag"]
        chunk = _encode(record["body"])
        if offset + len(chunk) == total - 1:
            # Only the last fragment reaches the end, and a receiver that drops a datagram's
            # trailing newline (rsyslog does by default) leaves it one byte short: put it back.
            chunk += b"\n"
        if offset + len(chunk) > total:
            raise NetconsoleValueError(
                "ncfrag", "fragment %d+%d bytes overruns the record's %d bytes" % (offset, len(chunk), total)
            )
        key = self._key(record)
        done = []
        entry = self._pending.get(key)
        if entry is None:
            if len(self._pending) >= self.max_pending:
                done.append(self._finish(self._order[0], incomplete=True))
            entry = {"record": dict(record), "buf": bytearray(total), "have": bytearray(total), "count": 0}
            self._pending[key] = entry
            self._order.append(key)
        elif len(entry["buf"]) != total:
            raise NetconsoleValueError("ncfrag", "fragments of seq %d disagree on the total size" % record["seq"])
        entry["buf"][offset : offset + len(chunk)] = chunk
        for index in range(offset, offset + len(chunk)):
            if not entry["have"][index]:
                entry["have"][index] = 1
                entry["count"] += 1
        if entry["count"] == total:
            done.append(self._finish(key, incomplete=False))
        return done

    def _finish(self, key, incomplete):
        entry = self._pending.pop(key)
        self._order.remove(key)
        record = entry["record"]
        record["body"] = _decode(bytes(entry["buf"])).rstrip("\n")
        record["frag"] = None
        record["fragments_total"] = len(entry["buf"])
        record["text"], record["dictionary"] = split_body(record["body"])
        if incomplete:
            record["incomplete"] = True
            record["missing_bytes"] = len(entry["buf"]) - entry["count"]
        return record

    def flush(self):
        """Return every record still waiting for fragments, marked incomplete."""
        return [self._finish(key, incomplete=True) for key in list(self._order)]

    def __len__(self):
        return len(self._pending)
