# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netconsole target: one model for every part of the collection that sends.

* validators for the values netconsole takes (IP, MAC, UDP port, interface name), each raising
  `NetconsoleValueError` whose message names the offending field; the roles reach them through the
  `lastwords.panic.netconsole_problems` filter, the modules directly;
* the ``netconsole=`` kernel/module parameter,
  ``[+][r][src-port]@[src-ip]/[dev],[tgt-port]@<tgt-ip>/[tgt-mac]`` with targets joined by ``;``,
  built and parsed the way the kernel's ``netconsole_parser_cmdline()`` reads it (the role's kernel
  argument goes through the `lastwords.panic.netconsole_param` filter);
* a dynamic target in configfs (``/sys/kernel/config/netconsole/<name>``): read, compared the way the kernel
  prints it, planned (attributes only change while ``enabled`` is 0) and applied, re-created when the address
  family changes; the host's addresses, routes and neighbours through ``ip -j``;
* the boot-time apply: ``python3 <this file> apply <conf.json>``, run by the netconsole role's unit after
  ``network-online.target`` and every minute from its timer, with the same code as the
  ``netconsole_target`` module.

Importable by Python 3.6+ and the standard library only: the role installs this very file on the managed
host. What netconsole sends, as the receiver reads it, lives in `_netconsole_wire`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import time

DEFAULT_LOCAL_PORT = 6665
DEFAULT_REMOTE_PORT = 6666
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
# include/uapi/linux/if.h: names are at most IFNAMSIZ - 1 bytes.
IFNAMSIZ = 16
# drivers/net/netconsole.c: the module parameter buffer, NUL included.
MAX_PARAM_LENGTH = 256

_MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$")
_DIGITS_RE = re.compile(r"^[0-9]+$")


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
    """Return the canonical text of IP address `value`: IPv6 compressed, as the kernel, `ip` and rsyslog print it.

    inet_ntop, not str(): Python before 3.13 writes an IPv4-mapped address in hex (`::ffff:a4d:15`), where they
    all write `::ffff:10.77.0.21`.
    """
    addr = _ip_object(value, field)
    if not allow_unspecified and addr.is_unspecified:
        raise NetconsoleValueError(field, "'%s' is the unspecified address; give the receiver's address" % value)
    if addr.version == 6:
        return socket.inet_ntop(socket.AF_INET6, addr.packed)
    return str(addr)


def validate_network(value, field="network"):
    """Return the canonical text of an address or a CIDR network (`10.77.0.0/24`, `fd00::/64`, `10.77.0.5`)."""
    if not isinstance(value, str) or not value:
        raise NetconsoleValueError(field, "must be an address or a network like 10.77.0.0/24, got %r" % (value,))
    address, sep, prefix = value.partition("/")
    _ip_object(address, field)
    if not sep:
        return validate_ip(address, field)
    if not _DIGITS_RE.match(prefix):
        raise NetconsoleValueError(field, "'%s' has no prefix length after '/' (like /24)" % value)
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise NetconsoleValueError(field, "'%s' has a prefix length too long for its address" % value) from None


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
# A dynamic target in configfs, and the host network it sends through
# ---------------------------------------------------------------------------------------------

BOOL_ATTRS = ("enabled", "extended", "release")
INT_ATTRS = ("local_port", "remote_port", "transmit_errors")
READ_ONLY_ATTRS = ("local_mac", "transmit_errors")
# Written in this order, all while enabled is 0. Interface and addresses first, format last.
WRITE_ORDER = ("dev_name", "local_ip", "remote_ip", "local_port", "remote_port", "remote_mac", "extended", "release")
ALL_ATTRS = ("enabled", *WRITE_ORDER, *READ_ONLY_ATTRS)
# What the kernel puts in a new target directory (drivers/net/netconsole.c, alloc_and_init()).
KERNEL_DEFAULTS = {
    "enabled": False,
    "extended": False,
    "release": False,
    "dev_name": "eth0",
    "local_ip": "0.0.0.0",  # noqa: S104 - the kernel's "unset", not a bind address
    "remote_ip": "0.0.0.0",  # noqa: S104
    "local_port": DEFAULT_LOCAL_PORT,
    "remote_port": DEFAULT_REMOTE_PORT,
    "remote_mac": BROADCAST_MAC,
    "local_mac": BROADCAST_MAC,
    "transmit_errors": 0,
}
NEIGHBOUR_POLL_INTERVAL = 0.2
# Neighbour states whose lladdr is usable (include/uapi/linux/neighbour.h).
USABLE_NEIGHBOUR_STATES = ("PERMANENT", "NOARP", "REACHABLE", "STALE", "DELAY", "PROBE")


class TargetError(Exception):
    """A failure to report with fail_json; `details` are returned alongside the message."""

    def __init__(self, msg, **details):
        super(TargetError, self).__init__(msg)
        self.msg = msg
        self.details = details


def _hint_for(attr, value, exc):
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied: run the task as root (become: true)"
    if attr == "enabled" and value == "1":
        return (
            "the kernel refused to enable the target; `dmesg | grep netconsole` says why (dev_name missing "
            "or down, no address on it, or release without extended)"
        )
    if exc.errno == errno.ENOENT:
        return "this kernel has no '%s' attribute" % attr
    return "the kernel refused the value"


class ConfigfsTarget(object):
    """One netconsole target directory. Every filesystem access of the module goes through here.

    `writes` records what was done, in order. Tests emulate the kernel on a temporary tree by
    overriding the three primitives: _mkdir() (the kernel fills a new directory with attribute
    files), _rmdir() (configfs removes a directory that still shows files) and _store() (the
    kernel refuses some writes).
    """

    def __init__(self, root, name):
        self.root = root
        self.name = name
        self.path = os.path.join(root, name)
        self.writes = []

    def exists(self):
        return os.path.isdir(self.path)

    def read(self, attr):
        """Text of attribute `attr` without the trailing newline, or None if the kernel has none."""
        try:
            with open(os.path.join(self.path, attr)) as handle:
                return handle.read().strip()
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise TargetError("cannot read %s: %s" % (os.path.join(self.path, attr), exc.strerror)) from None

    def read_state(self):
        """All attributes as values: bools, ints and strings; None for an attribute the kernel lacks."""
        state = {}
        for attr in ALL_ATTRS:
            text = self.read(attr)
            if text is None:
                state[attr] = None
            elif attr in BOOL_ATTRS or attr in INT_ATTRS:
                try:
                    number = int(text)
                except ValueError:
                    raise TargetError(
                        "unexpected content %r in %s" % (text, os.path.join(self.path, attr))
                    ) from None
                state[attr] = bool(number) if attr in BOOL_ATTRS else number
            else:
                state[attr] = text
        return state

    def write(self, attr, value):
        """Write one attribute in place.

        configfs attributes cannot be replaced by renaming a temporary file over them (what
        atomic_move does): the value must be written to the attribute itself, in one write.
        """
        path = os.path.join(self.path, attr)
        try:
            self._store(path, (value + "\n").encode("utf-8"))
        except (IOError, OSError) as exc:
            raise TargetError(
                "writing %s=%s to %s failed: %s; %s" % (attr, value, path, exc.strerror, _hint_for(attr, value, exc)),
                failed_write="%s=%s" % (attr, value),
            ) from None
        self.writes.append("%s=%s" % (attr, value))

    def create(self):
        try:
            self._mkdir()
        except (IOError, OSError) as exc:
            raise TargetError("cannot create %s: %s" % (self.path, exc.strerror)) from None
        self.writes.append("mkdir")

    def remove(self):
        try:
            self._rmdir()
        except (IOError, OSError) as exc:
            hint = ""
            if exc.errno == errno.ENOTEMPTY:
                hint = "; remove the entries under %s first" % os.path.join(self.path, "userdata")
            raise TargetError("cannot remove %s: %s%s" % (self.path, exc.strerror, hint)) from None
        self.writes.append("rmdir")

    def _store(self, path, data):
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def _mkdir(self):
        os.mkdir(self.path)

    def _rmdir(self):
        os.rmdir(self.path)


class HostNetwork(object):
    """Addresses, routes and neighbours of the host, read with iproute2's JSON output."""

    def __init__(self, run_command, ip_bin, timeout=3.0, sleep=time.sleep, clock=time.monotonic):
        self.run_command = run_command
        self.ip_bin = ip_bin
        self.timeout = timeout
        self.sleep = sleep
        self.clock = clock

    def _ip_json(self, args, purpose):
        if not self.ip_bin:
            raise TargetError(
                "the ip command (iproute2) is needed to find %s; install iproute2 or set %s" % (purpose, purpose)
            )
        rc, out, err = self.run_command([self.ip_bin, "-j", *args], environ_update={"LC_ALL": "C"})
        if rc != 0:
            raise TargetError(
                "cannot find %s: `ip -j %s` failed: %s" % (purpose, " ".join(args), (err or out).strip()),
                rc=rc,
            )
        out = out.strip()
        if not out:
            return []
        try:
            return json.loads(out)
        except ValueError:
            raise TargetError(
                "cannot find %s: `ip -j %s` did not print JSON; iproute2 4.14 or later is needed"
                % (purpose, " ".join(args))
            ) from None

    def addresses(self, dev):
        """[(version, address, scope)] of interface `dev` in the kernel's order."""
        links = self._ip_json(["addr", "show", "dev", dev], "local_ip")
        found = []
        for link in links:
            for info in link.get("addr_info", []):
                family = {"inet": 4, "inet6": 6}.get(info.get("family"))
                if family and info.get("local"):
                    found.append((family, info["local"], info.get("scope", "global")))
        return found

    def route(self, address, dev=None, purpose="remote_mac"):
        args = ["route", "get", address]
        if dev:
            args += ["oif", dev]
        routes = self._ip_json(args, purpose)
        if not routes:
            raise TargetError("cannot find %s: no route to %s" % (purpose, address))
        return routes[0]

    def neighbour_mac(self, address, dev):
        for entry in self._ip_json(["neigh", "show", "to", address, "dev", dev], "remote_mac"):
            states = entry.get("state", [])
            if entry.get("lladdr") and any(state in USABLE_NEIGHBOUR_STATES for state in states):
                return entry["lladdr"].lower()
        return None

    def probe(self, address, dev):
        """Send one empty datagram to `address` (UDP discard port) so the kernel resolves its MAC."""
        version = ip_version(address)
        sock = socket.socket(socket.AF_INET6 if version == 6 else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_BINDTODEVICE", 25), dev.encode() + b"\0")
            except (OSError, socket.error):
                pass
            destination = (address, 9)
            if version == 6:
                destination = (address, 9, 0, socket.if_nametoindex(dev))
            sock.sendto(b"", destination)
        except (OSError, socket.error):
            # Unreachable or refused: the neighbour table tells the rest.
            pass
        finally:
            sock.close()

    def resolve_mac(self, remote_ip, dev):
        """MAC of the next hop to `remote_ip` through `dev`: the receiver itself or its gateway."""
        route = self.route(remote_ip, dev)
        kind = route.get("type", "unicast")
        if kind != "unicast":
            raise TargetError(
                "cannot resolve remote_mac: %s is a %s address for this host (route type %s); "
                "netconsole needs a remote unicast receiver" % (remote_ip, kind, kind)
            )
        gateway = route.get("gateway")
        hop = gateway or remote_ip
        mac = self.neighbour_mac(hop, dev)
        if mac is None:
            self.probe(hop, dev)
            deadline = self.clock() + self.timeout
            while mac is None and self.clock() < deadline:
                self.sleep(NEIGHBOUR_POLL_INTERVAL)
                mac = self.neighbour_mac(hop, dev)
        if mac is None:
            what = "gateway %s of the route to %s" % (gateway, remote_ip) if gateway else "%s" % remote_ip
            raise TargetError(
                "cannot resolve remote_mac: no neighbour entry for %s on %s after %.1f s; check that it is up "
                "and reachable, or set remote_mac (ff:ff:ff:ff:ff:ff to broadcast)" % (what, dev, self.timeout),
                next_hop=hop,
            )
        return validate_mac(mac, "remote_mac")


def choose_local_ip(addresses, remote_ip):
    """First address of the remote's IP version: link-local for a link-local remote, else global."""
    version = ip_version(remote_ip)
    want_link = version == 6 and remote_ip.lower().startswith("fe80:")
    candidates = [(address, scope) for family, address, scope in addresses if family == version]
    for address, scope in candidates:
        if (scope == "link") == want_link and scope != "host":
            return address
    return None


def validate_params(params):
    """Check every option that needs no lookup; returns the normalised values. Raises NetconsoleValueError."""
    name = params["name"]
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise NetconsoleValueError("name", "%r is not a usable directory name" % (name,))
    values = {"name": name}
    if params["state"] == "absent":
        return values
    values["remote_ip"] = validate_ip(params["remote_ip"], "remote_ip", allow_unspecified=False)
    values["local_port"] = validate_port(params["local_port"], "local_port")
    values["remote_port"] = validate_port(params["remote_port"], "remote_port")
    values["enabled"] = bool(params["enabled"])
    values["extended"] = bool(params["extended"])
    values["release"] = bool(params["release"])
    if values["release"] and not values["extended"]:
        raise NetconsoleValueError("release", "needs extended=true: the kernel refuses to enable release without it")
    values["dev_name"] = None
    if params["dev_name"] is not None:
        values["dev_name"] = validate_dev_name(params["dev_name"], "dev_name")
    values["local_ip"] = None
    if params["local_ip"] is not None:
        values["local_ip"] = validate_ip(params["local_ip"], "local_ip")
        if ip_version(values["local_ip"]) != ip_version(values["remote_ip"]):
            raise NetconsoleValueError(
                "local_ip",
                "%s is not of the IP version of remote_ip %s" % (values["local_ip"], values["remote_ip"]),
            )
    values["remote_mac"] = None
    if params["remote_mac"] is not None:
        values["remote_mac"] = validate_mac(params["remote_mac"], "remote_mac")
    if params["resolve_timeout"] is not None and params["resolve_timeout"] < 0:
        raise NetconsoleValueError("resolve_timeout", "must not be negative")
    return values


def complete_values(values, net):
    """Fill in dev_name, local_ip and remote_mac from the host's network where not given."""
    wanted = dict(values)
    if wanted["dev_name"] is None:
        route = net.route(wanted["remote_ip"], purpose="dev_name")
        if route.get("type", "unicast") != "unicast" or not route.get("dev"):
            raise TargetError(
                "cannot find dev_name: the route to %s is of type %s; set dev_name"
                % (wanted["remote_ip"], route.get("type"))
            )
        wanted["dev_name"] = validate_dev_name(route["dev"], "dev_name")
    if wanted["local_ip"] is None:
        chosen = choose_local_ip(net.addresses(wanted["dev_name"]), wanted["remote_ip"])
        if chosen is None:
            raise TargetError(
                "cannot find local_ip: %s has no IPv%d address to send to %s from; bring the interface up "
                "with an address or set local_ip"
                % (wanted["dev_name"], ip_version(wanted["remote_ip"]), wanted["remote_ip"])
            )
        wanted["local_ip"] = validate_ip(chosen, "local_ip")
    if wanted["remote_mac"] is None:
        wanted["remote_mac"] = net.resolve_mac(wanted["remote_ip"], wanted["dev_name"])
    return wanted


def _render(attr, value):
    if attr in BOOL_ATTRS:
        return "1" if value else "0"
    return str(value)


def differs(attr, current, wanted):
    """Compare as the kernel prints: IPs by value, MACs case-insensitively, the rest exactly."""
    if attr in ("local_ip", "remote_ip"):
        return not same_ip(current, wanted)
    if attr == "remote_mac":
        return (current or "").lower() != wanted
    return current != wanted


def changed_attrs(current, wanted):
    """Writable attributes whose current value differs from the wanted one, in write order."""
    changes = []
    for attr in WRITE_ORDER:
        if attr == "release" and current.get("release") is None:
            continue  # kernel without the attribute: checked by the caller
        if differs(attr, current.get(attr), wanted[attr]):
            changes.append(attr)
    return changes


def _public(state):
    public = {attr: state.get(attr) for attr in ALL_ATTRS}
    if public["release"] is None:
        public["release"] = False  # kernel without the attribute never prepends the release
    return public


def _comparable(state):
    return {attr: state.get(attr) for attr in ("enabled", *WRITE_ORDER)}


def _new_target_state(release_supported=True):
    """What a freshly created directory holds, for check mode's predictions."""
    state = dict(KERNEL_DEFAULTS, local_mac=None, transmit_errors=None)
    if not release_supported:
        state["release"] = None
    return state


def _needs_recreate(current, wanted):
    """Older kernels (6.1, 6.12) refuse an IPv4 address once the target holds IPv6 ones (EINVAL)."""
    held = (current.get("remote_ip") or "") + (current.get("local_ip") or "")
    return ip_version(wanted["remote_ip"]) == 4 and ":" in held


def _check_release(state, wanted, path):
    if state["release"] is None and wanted["release"]:
        raise TargetError("release=true needs Linux 6.5 or later: %s has no 'release' attribute" % path)


def ensure_present(target, wanted, check_mode):
    """Bring the target to `wanted`; returns (before, after, changed). `before` is None for a new target."""
    before = target.read_state() if target.exists() else None
    if before is not None:
        _check_release(before, wanted, target.path)
    recreate = before is not None and _needs_recreate(before, wanted)

    if check_mode:
        if before is None:
            target.writes.append("mkdir")
            current = _new_target_state()
        elif recreate:
            if before["enabled"]:
                target.writes.append("enabled=0")
            target.writes.extend(["rmdir", "mkdir"])
            current = _new_target_state(release_supported=before["release"] is not None)
        else:
            current = before
        target.writes.extend(_plan(current, wanted))
        after = dict(current)
        for attr in WRITE_ORDER:
            if not (attr == "release" and current["release"] is None):
                after[attr] = wanted[attr]
        after["enabled"] = wanted["enabled"]
        return before, after, bool(target.writes)

    if before is None:
        target.create()
    elif recreate:
        if before["enabled"]:
            target.write("enabled", "0")
        target.remove()
        target.create()
    current = target.read_state() if before is None or recreate else before
    _check_release(current, wanted, target.path)
    for step in _plan(current, wanted):
        attr, _sep, text = step.partition("=")
        target.write(attr, text)
    after = target.read_state() if target.writes else before
    return before, after, bool(target.writes)


def _plan(current, wanted):
    """Ordered attribute writes ('attr=value') from `current` to `wanted`, honouring 'enabled'."""
    steps = []
    enabled = bool(current["enabled"])
    changes = changed_attrs(current, wanted)
    if changes and enabled:
        steps.append("enabled=0")
        enabled = False
    for attr in changes:
        steps.append("%s=%s" % (attr, _render(attr, wanted[attr])))
    if wanted["enabled"] != enabled:
        steps.append("enabled=%s" % _render("enabled", wanted["enabled"]))
    return steps


def ensure_absent(target, check_mode):
    """Disable and remove the target; returns (before, changed)."""
    if not os.path.isdir(target.root) or not target.exists():
        return None, False
    current = target.read_state()
    if check_mode:
        if current["enabled"]:
            target.writes.append("enabled=0")
        target.writes.append("rmdir")
        return current, True
    if current["enabled"]:
        target.write("enabled", "0")
    target.remove()
    return current, True


def run(params, target, net, check_mode=False, want_diff=False):
    """The whole module run, minus AnsibleModule: returns the result dict or raises."""
    values = validate_params(params)
    result = {"name": values["name"], "changed": False}
    if params["state"] == "absent":
        before, changed = ensure_absent(target, check_mode)
        result.update(changed=changed, state="absent", writes=list(target.writes))
        if want_diff:
            result["diff"] = {
                "before": dict(_comparable(before), state="present") if before else {"state": "absent"},
                "after": {"state": "absent"},
            }
        return result

    if not os.path.isdir(target.root):
        raise TargetError(
            "%s does not exist: load the netconsole module (`modprobe netconsole`; the kernel needs "
            "CONFIG_NETCONSOLE_DYNAMIC) and mount configfs (`mount -t configfs none /sys/kernel/config`)"
            % target.root
        )
    wanted = complete_values(values, net)
    before, after, changed = ensure_present(target, wanted, check_mode)
    result.update(_public(after))
    result.update(changed=changed, state="present", writes=list(target.writes))
    if want_diff:
        result["diff"] = {
            "before": dict(_comparable(before), state="present") if before else {"state": "absent"},
            "after": dict(_comparable(after), state="present"),
        }
    return result


# ---------------------------------------------------------------------------------------------
# The boot-time apply: the same model, run by the host's python3 outside Ansible
# ---------------------------------------------------------------------------------------------

CONFIGFS_ROOT = "/sys/kernel/config/netconsole"
# One target of the boot-time file: what netconsole_target takes, less what only Ansible sets.
CONF_KEYS = (
    "name", "dev_name", "local_ip", "local_port", "remote_ip", "remote_port", "remote_mac", "extended", "release",
)
CONF_VERSION = 1
# A neighbour that does not answer within this many seconds fails the target until the next timer run.
BOOT_RESOLVE_TIMEOUT = 3.0


def run_command(argv, environ_update=None, timeout=30):
    """(rc, stdout, stderr) of `argv`, the shape of AnsibleModule.run_command, for HostNetwork outside Ansible."""
    env = dict(os.environ)
    env.update(environ_update or {})
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, universal_newlines=True
        )
    except OSError as exc:
        return 127, "", "%s: %s" % (argv[0], exc.strerror)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return 124, out, "%s timed out after %d s" % (" ".join(argv), timeout)
    return proc.returncode, out, err


def find_binary(name, extra_dirs=("/usr/sbin", "/sbin", "/usr/bin", "/bin")):
    """Path of `name` on PATH or in the usual system directories (a unit's PATH can be short), or None."""
    dirs = os.environ.get("PATH", "").split(os.pathsep) + list(extra_dirs)
    for directory in dirs:
        path = os.path.join(directory, name)
        if directory and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def conf_text(targets):
    """The boot-time file's text for a list of target dicts (validated: bad input raises before anything is written)."""
    checked = []
    for index, target in enumerate(targets):
        checked.append(_conf_target(target, "targets[%d]" % index))
    return json.dumps({"version": CONF_VERSION, "targets": checked}, indent=2, sort_keys=True) + "\n"


def _conf_target(target, where):
    if not isinstance(target, dict):
        raise NetconsoleValueError(where, "must be a mapping of %s, got %r" % (", ".join(CONF_KEYS), target))
    unknown = sorted(set(target) - set(CONF_KEYS))
    if unknown:
        raise NetconsoleValueError(
            where, "unknown keys %s; a target has %s" % (", ".join(unknown), ", ".join(CONF_KEYS))
        )
    params = dict(target_defaults(), **target)
    try:
        values = validate_params(params)
    except NetconsoleValueError as exc:
        raise NetconsoleValueError("%s.%s" % (where, exc.field), exc.reason) from None
    if values["dev_name"] is None:
        raise NetconsoleValueError(where + ".dev_name", "is needed at boot time (the interface to send from)")
    return {key: values[key] for key in CONF_KEYS}


def target_defaults():
    """Every option of a target at its default, as validate_params and run take them."""
    return {
        "name": None,
        "state": "present",
        "enabled": True,
        "dev_name": None,
        "local_ip": None,
        "local_port": DEFAULT_LOCAL_PORT,
        "remote_ip": None,
        "remote_port": DEFAULT_REMOTE_PORT,
        "remote_mac": None,
        "extended": False,
        "release": False,
        "resolve_timeout": BOOT_RESOLVE_TIMEOUT,
    }


def read_conf(path):
    """The targets of boot-time file `path`, validated; raises NetconsoleValueError naming the file and field."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (IOError, OSError) as exc:
        raise NetconsoleValueError(path, "cannot read it: %s" % exc.strerror) from None
    except ValueError as exc:
        raise NetconsoleValueError(
            path, "is not JSON (%s); run the lastwords.panic.netconsole role again" % exc
        ) from None
    if not isinstance(data, dict) or data.get("version") != CONF_VERSION or not isinstance(data.get("targets"), list):
        raise NetconsoleValueError(
            path, "is not a version %d lastwords netconsole file; run the lastwords.panic.netconsole role again"
            % CONF_VERSION
        )
    targets = []
    for index, target in enumerate(data["targets"]):
        try:
            targets.append(_conf_target(target, "targets[%d]" % index))
        except NetconsoleValueError as exc:
            raise NetconsoleValueError("%s: %s" % (path, exc.field), exc.reason) from None
    return targets


def describe(result):
    """One line for a target that is set up: `name: src:port/dev -> dst:port (mac)`."""
    return "%s: %s:%s/%s -> %s:%s (%s)" % (
        result["name"], result["local_ip"], result["local_port"], result["dev_name"],
        result["remote_ip"], result["remote_port"], result["remote_mac"],
    )


def apply_targets(targets, root, net, say, complain):
    """Bring each target to its wanted state through configfs; returns how many failed.

    Each target stands alone: one that fails (its interface has no address yet, a neighbour does not answer)
    does not stop the others, and the next timer run tries it again. Only targets that changed are reported.
    """
    failed = 0
    for target in targets:
        params = dict(target_defaults(), **target)
        configfs = ConfigfsTarget(root, target["name"])
        try:
            result = run(params, configfs, net)
        except (NetconsoleValueError, TargetError) as exc:
            complain("%s: %s%s" % (target["name"], exc, _written(configfs)))
            failed += 1
            continue
        if result["changed"]:
            say("%s enabled (%s)" % (describe(result), ", ".join(result["writes"])))
    return failed


def _written(configfs):
    return " (written before that: %s)" % ", ".join(configfs.writes) if configfs.writes else ""


def prepare_configfs(root, run_cmd, modprobe, mount):
    """Load netconsole and mount configfs when `root` is not there yet; returns an error text or None."""
    if os.path.isdir(root):
        return None
    if not os.path.isdir("/sys/module/netconsole"):
        if modprobe is None:
            return "modprobe not found: cannot load the netconsole module"
        rc, out, err = run_cmd([modprobe, "netconsole"])
        if rc != 0:
            return "modprobe netconsole failed: %s" % (err or out).strip()
    if not os.path.isdir(root) and not os.path.ismount("/sys/kernel/config") and mount is not None:
        run_cmd([mount, "-t", "configfs", "configfs", "/sys/kernel/config"])
    if not os.path.isdir(root):
        return "%s does not exist after loading netconsole: the kernel needs CONFIG_NETCONSOLE_DYNAMIC" % root
    return None


USAGE = "usage: python3 _netconsole.py apply CONF.json [--configfs DIR]"


def main(argv=None, stdout=None, stderr=None):
    """`apply CONF [--configfs DIR]`: set up the targets of CONF. Exit status 1 when any target failed.

    --configfs points at another tree than /sys/kernel/config/netconsole and then loads and mounts nothing:
    the unit tests run it on a temporary tree.
    """
    argv = sys.argv[1:] if argv is None else argv
    out = stdout or sys.stdout
    err = stderr or sys.stderr

    def say(line):
        out.write("lastwords-netconsole: %s\n" % line)

    def complain(line):
        err.write("lastwords-netconsole: %s\n" % line)

    if len(argv) not in (2, 4) or argv[0] != "apply" or (len(argv) == 4 and argv[2] != "--configfs"):
        complain(USAGE)
        return 2
    root = argv[3] if len(argv) == 4 else CONFIGFS_ROOT
    try:
        targets = read_conf(argv[1])
    except NetconsoleValueError as exc:
        complain(str(exc))
        return 1
    if len(argv) == 2:
        problem = prepare_configfs(root, run_command, find_binary("modprobe"), find_binary("mount"))
        if problem:
            complain(problem)
            return 1
    net = HostNetwork(run_command, find_binary("ip"), timeout=BOOT_RESOLVE_TIMEOUT)
    return 1 if apply_targets(targets, root, net, say, complain) else 0


if __name__ == "__main__":
    # the boot-time apply, run by the host's python3, not a module: its exit status is the unit's
    sys.exit(main())  # pylint: disable=ansible-bad-function
