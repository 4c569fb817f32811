#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: netconsole_target
short_description: Manage one netconsole target through configfs
version_added: 0.1.0
description:
  - Creates, changes, enables, disables and removes one dynamic netconsole target, the directory
    C(/sys/kernel/config/netconsole/<name>) of a kernel built with C(CONFIG_NETCONSOLE_DYNAMIC).
  - Follows the kernel's rules. Creating a target is a C(mkdir), after which the kernel fills in the
    attribute files with its defaults. Attributes can be written only while C(enabled) is C(0), so a
    change to an enabled target writes C(enabled=0), then only the attributes that differ, then
    C(enabled=1). Removing a target disables it, then removes the directory.
  - Values are compared the way the kernel prints them (MAC in lower case, ports as numbers, IP
    addresses by value), so an unchanged target reports no change and is not disturbed.
  - Inputs are validated before anything is written. The module fails, and names the option, when a
    value would be refused by the kernel or when the receiver's MAC address cannot be found.
  - The runtime target does not survive a reboot or an unload of the module; the
    C(lastwords.panic.netconsole) role persists netconsole.
author:
  - lastwords developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads configfs and the routing and neighbour tables, and reports the writes it would make.
      To find an unknown remote MAC address it may send one empty UDP datagram to the next hop.
  diff_mode:
    support: full
  platform:
    platforms: posix
    details: Linux only, with configfs mounted and the C(netconsole) module loaded.
requirements:
  - Linux with C(CONFIG_NETCONSOLE_DYNAMIC) and configfs mounted on C(/sys/kernel/config).
  - The C(ip) command of iproute2 with JSON output (C(ip -j)), unless I(dev_name), I(local_ip) and
    I(remote_mac) are all given.
options:
  name:
    description:
      - Name of the target, the directory created under I(configfs_root).
      - Targets given on the C(netconsole=) boot or module parameter appear as C(cmdline0),
        C(cmdline1), ... on Linux 6.7 and later when a directory of that name is created.
    type: str
    required: true
  state:
    description:
      - C(present) creates the target if needed and makes its attributes match the options.
      - C(absent) disables the target and removes it. A missing I(configfs_root) counts as absent.
    type: str
    choices: [present, absent]
    default: present
  enabled:
    description:
      - Whether the target sends messages. C(false) keeps a configured but silent target.
    type: bool
    default: true
  dev_name:
    description:
      - Network interface the messages leave from, for example C(eth1).
      - Default is the interface of the route to I(remote_ip) (C(ip route get)).
      - At most 15 bytes, without C(/), C(:) or whitespace.
    type: str
  local_ip:
    description:
      - Source address of the UDP datagrams.
      - Default is the first address of I(dev_name) of the same IP version as I(remote_ip), a global
        address, or a link-local one when I(remote_ip) is link-local.
    type: str
  local_port:
    description:
      - Source UDP port, 1-65535.
    type: int
    default: 6665
  remote_ip:
    description:
      - Address of the log receiver, IPv4 or IPv6 (without a zone index such as C(%eth0)).
      - Required when I(state=present).
    type: str
  remote_port:
    description:
      - UDP port the receiver listens on, 1-65535.
    type: int
    default: 6666
  remote_mac:
    description:
      - Ethernet address the datagrams are sent to, written C(aa:bb:cc:dd:ee:ff).
      - When not given it is resolved on every run. If I(remote_ip) is on a subnet directly
        connected to I(dev_name), the receiver's own MAC address is used; otherwise the MAC address
        of the gateway of the route to I(remote_ip). Netconsole cannot use ARP or neighbour
        discovery when the kernel is dying, which is why the address is fixed here.
      - When the neighbour table has no entry yet, one empty UDP datagram is sent to the next hop
        (port 9, discard) to make the kernel resolve it, and the table is polled for up to
        I(resolve_timeout) seconds.
      - The module never falls back to the broadcast address silently. It fails, naming
        I(remote_mac), when resolution fails. Give C(ff:ff:ff:ff:ff:ff) explicitly to broadcast.
    type: str
  extended:
    description:
      - Send the extended format, C(<level>,<seq>,<ts_usec>,<flags>;text), which lets the receiver
        notice lost messages and reboots (see M(lastwords.panic.netconsole_log)).
    type: bool
    default: false
  release:
    description:
      - Prepend the kernel release to every message, C(6.1.0-47-amd64,6,1234,...;text).
      - Needs I(extended=true) and Linux 6.5 or later (the C(release) attribute).
    type: bool
    default: false
  resolve_timeout:
    description:
      - Seconds to wait for the neighbour table to learn the MAC address of the next hop when
        I(remote_mac) is not given.
    type: float
    default: 3.0
  configfs_root:
    description:
      - Directory holding the netconsole targets.
      - Only for tests and chroots; leave the default on real hosts.
    type: path
    default: /sys/kernel/config/netconsole
notes:
  - Netconsole only sends messages at or above the console log level; raise it (C(kernel.printk),
    C(dmesg -n 8)) to send more than urgent messages.
  - Older kernels (6.1 and 6.12 among them) refuse to write an IPv4 address to a target that holds
    IPv6 ones, so a change from IPv6 to IPv4 removes and re-creates the target.
seealso:
  - name: Netconsole documentation
    description: The kernel's description of the parameters and of the configfs interface.
    link: https://docs.kernel.org/networking/netconsole.html
  - module: lastwords.panic.netconsole_log
"""

EXAMPLES = r"""
- name: Send kernel messages to the log receiver, MAC address resolved
  lastwords.panic.netconsole_target:
    name: lastwords
    dev_name: eth1
    remote_ip: 192.168.50.10
    extended: true

- name: Send to a receiver behind a router, every value given
  lastwords.panic.netconsole_target:
    name: offsite
    dev_name: eth0
    local_ip: 10.0.2.15
    local_port: 6665
    remote_ip: 10.0.2.2
    remote_port: 6666
    remote_mac: "52:55:0a:00:02:02"

- name: Keep the target but stop sending
  lastwords.panic.netconsole_target:
    name: lastwords
    remote_ip: 192.168.50.10
    enabled: false

- name: Remove the target
  lastwords.panic.netconsole_target:
    name: lastwords
    state: absent
"""

RETURN = r"""
name:
  description: Name of the target.
  returned: always
  type: str
  sample: lastwords
state:
  description: Whether the target exists after the run (or would, in check mode).
  returned: always
  type: str
  sample: present
enabled:
  description: Whether the target sends messages.
  returned: when I(state=present)
  type: bool
  sample: true
dev_name:
  description: Interface the target sends from.
  returned: when I(state=present)
  type: str
  sample: eth1
local_ip:
  description: Source address, as the kernel prints it.
  returned: when I(state=present)
  type: str
  sample: 192.168.50.21
local_port:
  description: Source UDP port.
  returned: when I(state=present)
  type: int
  sample: 6665
remote_ip:
  description: Receiver's address, as the kernel prints it.
  returned: when I(state=present)
  type: str
  sample: 192.168.50.10
remote_port:
  description: Receiver's UDP port.
  returned: when I(state=present)
  type: int
  sample: 6666
remote_mac:
  description: Ethernet address the datagrams go to.
  returned: when I(state=present)
  type: str
  sample: "52:54:00:ab:cd:ef"
extended:
  description: Whether the extended format is sent.
  returned: when I(state=present)
  type: bool
  sample: true
release:
  description: Whether the kernel release is prepended (always false on kernels without the attribute).
  returned: when I(state=present)
  type: bool
  sample: false
local_mac:
  description: MAC address of I(dev_name) as the kernel reports it (read-only; broadcast while disabled).
    Null when the target does not exist yet (check mode).
  returned: when I(state=present)
  type: str
  sample: "52:54:00:12:34:56"
transmit_errors:
  description: Datagrams the kernel failed to send (read-only). Null on kernels without the attribute
    or when the target does not exist yet (check mode).
  returned: when I(state=present)
  type: int
  sample: 0
writes:
  description: Changes made in order (C(mkdir), C(attribute=value), C(rmdir)); in check mode the
    changes that would be made.
  returned: always
  type: list
  elements: str
  sample: ["enabled=0", "remote_mac=52:54:00:ab:cd:ef", "enabled=1"]
"""

import errno
import json
import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastwords.panic.plugins.module_utils._netconsole import (
    BROADCAST_MAC,
    DEFAULT_LOCAL_PORT,
    DEFAULT_REMOTE_PORT,
    NetconsoleValueError,
    ip_version,
    same_ip,
    validate_dev_name,
    validate_ip,
    validate_mac,
    validate_port,
)

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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            enabled=dict(type="bool", default=True),
            dev_name=dict(type="str"),
            local_ip=dict(type="str"),
            local_port=dict(type="int", default=DEFAULT_LOCAL_PORT),
            remote_ip=dict(type="str"),
            remote_port=dict(type="int", default=DEFAULT_REMOTE_PORT),
            remote_mac=dict(type="str"),
            extended=dict(type="bool", default=False),
            release=dict(type="bool", default=False),
            resolve_timeout=dict(type="float", default=3.0),
            configfs_root=dict(type="path", default="/sys/kernel/config/netconsole"),
        ),
        required_if=[("state", "present", ("remote_ip",))],
        supports_check_mode=True,
    )
    target = ConfigfsTarget(module.params["configfs_root"], module.params["name"])
    net = HostNetwork(module.run_command, module.get_bin_path("ip"), timeout=module.params["resolve_timeout"])
    try:
        result = run(module.params, target, net, check_mode=module.check_mode, want_diff=module._diff)
    except NetconsoleValueError as exc:
        module.fail_json(msg=str(exc), name=module.params["name"], writes=list(target.writes))
    except TargetError as exc:
        module.fail_json(msg=exc.msg, name=module.params["name"], writes=list(target.writes), **exc.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
