# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Netconsole syntax shared by the lastwords.panic modules.

Three things live here, all pure functions with no I/O so unit tests call them directly:

* validators for the values netconsole takes (IP, MAC, UDP port, interface name), each raising
  `NetconsoleValueError` whose message names the offending field;
* the ``netconsole=`` kernel/module parameter,
  ``[+][r][src-port]@[src-ip]/[dev],[tgt-port]@<tgt-ip>/[tgt-mac]`` with targets joined by ``;``,
  built and parsed the way the kernel's ``netconsole_parser_cmdline()`` reads it;
* what netconsole sends: plain console lines (``[  123.456789] text``) and extended records
  (``[release,]<level>,<seq>,<ts_usec>,<flags>[,ncfrag=<off>/<total>];text`` followed by
  `` KEY=value`` dictionary lines), with reassembly of ``ncfrag`` fragments.

Importable by Python 3.6+ and the standard library only: it runs on managed hosts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

DEFAULT_LOCAL_PORT = 6665
DEFAULT_REMOTE_PORT = 6666
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
# include/uapi/linux/if.h: names are at most IFNAMSIZ - 1 bytes.
IFNAMSIZ = 16
# drivers/net/netconsole.c: the module parameter buffer, NUL included.
MAX_PARAM_LENGTH = 256
# drivers/net/netconsole.c: longer extended records are sent as ncfrag fragments.
MAX_PRINT_CHUNK = 1000

_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$")
_DIGITS_RE = re.compile(r"^[0-9]+$")
# `[  123.456789] text`: the printk time prefix of plain console output (CONFIG_PRINTK_TIME).
_PLAIN_TIME_RE = re.compile(r"^\[\s*(\d+)\.(\d+)\] ?")
_NCFRAG_RE = re.compile(r"^(\d+)/(\d+)$")
# rsyslog escapes control characters as '#' and three octal digits (`#012` for a newline).
_RSYSLOG_ESCAPE_RE = re.compile(r"#(0[0-3][0-7])")

SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


class NetconsoleValueError(ValueError):
    """A value netconsole cannot take. `field` names the option or parameter field at fault."""

    def __init__(self, field, message):
        self.field = field
        self.reason = message
        super(NetconsoleValueError, self).__init__("%s: %s" % (field, message))


# ---------------------------------------------------------------------------------------------
# Validators
# ---------------------------------------------------------------------------------------------


def validate_port(value, field="port"):
    """Return `value` as an int UDP port (1-65535); accepts ints and decimal strings."""
    if isinstance(value, bool):
        raise NetconsoleValueError(field, "must be a UDP port number from 1 to 65535, got %r" % (value,))
    if isinstance(value, int):
        port = value
    elif isinstance(value, str) and _DIGITS_RE.match(value):
        port = int(value)
    else:
        raise NetconsoleValueError(field, "must be a UDP port number from 1 to 65535, got %r" % (value,))
    if not 1 <= port <= 65535:
        raise NetconsoleValueError(field, "must be a UDP port number from 1 to 65535, got %d" % port)
    return port


def _ip_object(value, field):
    if not isinstance(value, str) or not value:
        raise NetconsoleValueError(field, "must be an IPv4 or IPv6 address, got %r" % (value,))
    if "%" in value:
        raise NetconsoleValueError(
            field, "'%s' has a zone index; netconsole takes the bare address (drop the %%...)" % value
        )
    if "/" in value:
        raise NetconsoleValueError(field, "'%s' is a network; give a single address without /prefix" % value)
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise NetconsoleValueError(field, "'%s' is not a valid IPv4 or IPv6 address" % value) from None


def validate_ip(value, field="ip", allow_unspecified=True):
    """Return the canonical text of IP address `value` (IPv6 compressed, as the kernel prints it)."""
    addr = _ip_object(value, field)
    if not allow_unspecified and addr.is_unspecified:
        raise NetconsoleValueError(field, "'%s' is the unspecified address; give the receiver's address" % value)
    return str(addr)


def ip_version(value):
    """4 or 6 for an address string; raises NetconsoleValueError when it is not one."""
    return _ip_object(value, "ip").version


def same_ip(left, right):
    """True when two address strings denote the same address (`fd00::1` == `fd00:0::1`)."""
    if left is None or right is None:
        return left is right
    try:
        return ipaddress.ip_address(left) == ipaddress.ip_address(right)
    except ValueError:
        return left == right


def validate_mac(value, field="mac"):
    """Return MAC `value` lowercased; it must be six colon-separated hex pairs (what mac_pton() takes)."""
    if not isinstance(value, str) or not _MAC_RE.match(value):
        raise NetconsoleValueError(
            field, "%r is not a MAC address; write six colon-separated hex pairs like aa:bb:cc:dd:ee:ff" % (value,)
        )
    return value.lower()


def validate_dev_name(value, field="dev_name"):
    """Return `value` if the kernel would accept it as a network interface name (dev_valid_name())."""
    if not isinstance(value, str) or not value:
        raise NetconsoleValueError(field, "must be a network interface name such as eth0, got %r" % (value,))
    size = len(value.encode("utf-8"))
    if size >= IFNAMSIZ:
        raise NetconsoleValueError(
            field, "'%s' is %d bytes long; Linux interface names have at most %d" % (value, size, IFNAMSIZ - 1)
        )
    if value in (".", ".."):
        raise NetconsoleValueError(field, "'%s' is not a valid interface name" % value)
    for char in value:
        if char in "/:" or char.isspace():
            raise NetconsoleValueError(
                field, "%r is not a valid interface name: it contains %r (no '/', ':' or whitespace)" % (value, char)
            )
    return value


# ---------------------------------------------------------------------------------------------
# The netconsole= parameter
# ---------------------------------------------------------------------------------------------


def format_target(
    remote_ip,
    remote_port=None,
    remote_mac=None,
    local_ip=None,
    local_port=None,
    dev_name=None,
    extended=False,
    release=False,
):
    """Return one target of the netconsole= parameter.

    Fields left as None are left empty, so the kernel applies its defaults: local port 6665, the
    interface's first address, eth0, remote port 6666 and the broadcast MAC. IPv6 addresses are
    written bare (`@fd00::1/`), as the kernel's parser expects.
    """
    remote_ip = validate_ip(remote_ip, "remote_ip", allow_unspecified=False)
    if release and not extended:
        raise NetconsoleValueError("release", "needs extended: the kernel refuses 'r' without '+'")
    parts = ["+" if extended else "", "r" if release else ""]
    parts.append("" if local_port is None else str(validate_port(local_port, "local_port")))
    parts.append("@")
    if local_ip is not None:
        local_ip = validate_ip(local_ip, "local_ip")
        if ip_version(local_ip) != ip_version(remote_ip):
            raise NetconsoleValueError(
                "local_ip", "%s and remote_ip %s must be of the same IP version" % (local_ip, remote_ip)
            )
        parts.append(local_ip)
    parts.append("/")
    if dev_name is not None:
        validate_dev_name(dev_name, "dev_name")
        if "," in dev_name or ";" in dev_name:
            raise NetconsoleValueError("dev_name", "'%s' cannot be written in netconsole= (',' or ';')" % dev_name)
        parts.append(dev_name)
    parts.append(",")
    parts.append("" if remote_port is None else str(validate_port(remote_port, "remote_port")))
    parts.append("@")
    parts.append(remote_ip)
    parts.append("/")
    if remote_mac is not None:
        parts.append(validate_mac(remote_mac, "remote_mac"))
    return "".join(parts)


def format_param(targets):
    """Return the value of netconsole= for a list of target dicts (keyword arguments of format_target).

    The result is the bare value: quote it where `;` would be taken by a shell or modprobe.d.
    """
    if not targets:
        raise NetconsoleValueError("targets", "at least one netconsole target is needed")
    rendered = []
    for index, target in enumerate(targets):
        try:
            rendered.append(format_target(**target))
        except NetconsoleValueError as exc:
            raise NetconsoleValueError("targets[%d].%s" % (index, exc.field), exc.reason) from None
        except TypeError as exc:
            raise NetconsoleValueError("targets[%d]" % index, str(exc)) from None
    value = ";".join(rendered)
    if len(value) >= MAX_PARAM_LENGTH:
        raise NetconsoleValueError(
            "targets",
            "netconsole= value is %d characters; the kernel keeps at most %d" % (len(value), MAX_PARAM_LENGTH - 1),
        )
    return value


def _take(text, delim, what, whole):
    index = text.find(delim)
    if index < 0:
        raise NetconsoleValueError(what, "missing '%s' in netconsole target '%s'" % (delim, whole))
    return text[:index], text[index + 1 :]


def parse_target(text):
    """Parse one netconsole= target into a dict.

    Keys: extended, release, local_port, local_ip, dev_name, dev_mac, remote_port, remote_ip,
    remote_mac. Ports get the kernel defaults when omitted; local_ip, dev_name, dev_mac and
    remote_mac are None when omitted (the kernel then uses the interface's address, eth0 and the
    broadcast MAC). Since Linux 6.13 the device field may be a MAC address: it lands in dev_mac.
    """
    whole = text
    result = {
        "extended": False,
        "release": False,
        "local_port": DEFAULT_LOCAL_PORT,
        "local_ip": None,
        "dev_name": None,
        "dev_mac": None,
        "remote_port": DEFAULT_REMOTE_PORT,
        "remote_ip": None,
        "remote_mac": None,
    }
    if text.startswith("+"):
        result["extended"] = True
        text = text[1:]
    if text.startswith("r"):
        if not result["extended"]:
            raise NetconsoleValueError("release", "'r' needs '+' before it (extended format) in '%s'" % whole)
        result["release"] = True
        text = text[1:]

    port, text = _take(text, "@", "local_port", whole)
    if port:
        result["local_port"] = validate_port(port, "local_port")
    local_ip, text = _take(text, "/", "local_ip", whole)
    if local_ip:
        result["local_ip"] = validate_ip(local_ip, "local_ip")
    dev, text = _take(text, ",", "dev_name", whole)
    if dev:
        if ":" in dev:
            result["dev_mac"] = validate_mac(dev, "dev_mac")
        else:
            result["dev_name"] = validate_dev_name(dev, "dev_name")
    port, text = _take(text, "@", "remote_port", whole)
    if port:
        result["remote_port"] = validate_port(port, "remote_port")
    remote_ip, text = _take(text, "/", "remote_ip", whole)
    if not remote_ip:
        raise NetconsoleValueError("remote_ip", "is required in netconsole target '%s'" % whole)
    result["remote_ip"] = validate_ip(remote_ip, "remote_ip")
    if result["local_ip"] is not None and ip_version(result["local_ip"]) != ip_version(result["remote_ip"]):
        raise NetconsoleValueError("local_ip", "and remote_ip are of different IP versions in '%s'" % whole)
    if text:
        result["remote_mac"] = validate_mac(text, "remote_mac")
    return result


def parse_param(text):
    """Parse a whole netconsole= value (targets joined by `;`, surrounding quotes allowed)."""
    if text is None:
        raise NetconsoleValueError("netconsole", "no value")
    text = text.strip()
    if text.startswith("netconsole="):
        text = text[len("netconsole=") :]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    if not text:
        raise NetconsoleValueError("netconsole", "empty value")
    targets = []
    for index, part in enumerate(text.split(";")):
        try:
            targets.append(parse_target(part))
        except NetconsoleValueError as exc:
            raise NetconsoleValueError("targets[%d].%s" % (index, exc.field), exc.reason) from None
    return targets


# ---------------------------------------------------------------------------------------------
# What netconsole sends
# ---------------------------------------------------------------------------------------------


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
