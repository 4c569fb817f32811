# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A vmcore opened with ``crash`` in batch mode: which debug vmlinux it needs, where that is found or how it is got,
the script crash reads, and what its ``sys`` and ``bt`` print, read back.

Pure functions on paths and text; the crash_batch module runs crash and the package manager.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.lastwords.panic.plugins.module_utils._kernel import split_release

# What crash_batch runs unless told otherwise: the machine and the panic, the panicking task's stack, the kernel's
# own log as the dump holds it, the tasks.
DEFAULT_COMMANDS = ["sys", "bt", "log", "ps"]
# A command is one of crash's commands with plain arguments: no shell escape (`!`), pipe or redirection (crash_batch
# redirects each command's output to its own file itself), no second command.
COMMAND_RE = re.compile(r"^[a-z][a-z0-9_]*(?: [A-Za-z0-9_.,:+=/@%-]+)*$")
UNSAFE_COMMANDS = ("!", "sh", "extend", "exit", "q", "quit", "alias", "set -c")  # what leaves the dump's data

# Ubuntu flavours (Debian's are architectures: amd64, cloud-amd64, arm64, rpi, ...)
UBUNTU_FLAVOURS = ("generic", "lowlatency", "generic-64k", "generic-lpae", "raspi", "kvm", "aws", "azure", "gcp",
                   "oracle", "ibm", "nvidia", "realtime", "intel-iotg")
RPM_RELEASE_RE = re.compile(r"\.(?:el|fc|amzn)[0-9_]+[^.]*\.(?:x86_64|aarch64|ppc64le|s390x)$")

# `      KERNEL: /usr/lib/debug/boot/vmlinux-6.1.0-47-amd64` in `sys`
SYS_LINE_RE = re.compile(r"^\s*([A-Z][A-Z ]*[A-Z]):\s(.*)$")
# `PID: 0        TASK: ffffffff8b813940  CPU: 0    COMMAND: "swapper/0"` opens `bt`
BT_HEAD_RE = re.compile(r'^PID:\s*(\d+)\s+TASK:\s*([0-9a-f]+)\s+CPU:\s*(\d+)\s+COMMAND:\s*"(.*)"')
# ` #9 [ffffb1b640003e30] lwrx_rcv at ffffffffc0a1b06d [lastwords_rxbug]`
BT_FRAME_RE = re.compile(r"^\s*#(\d+)\s+\[([0-9a-f]+)\]\s+(\S+)\s+at\s+([0-9a-f]+)(?:\s+\[([\w-]+)\])?")
# `    [exception RIP: lwrx_refill+8]`
BT_EXCEPTION_RE = re.compile(r"^\s*\[exception RIP:\s*([^\]]+)\]")
# what crash says when the vmlinux is not the dump's kernel
MISMATCH_RES = (
    re.compile(r"\S+ and \S+ do not match"),
    re.compile(r"kernel version inconsistency", re.I),
    re.compile(r"cannot determine base kernel version", re.I),
)


def platform(release):
    """``debian``, ``ubuntu``, ``redhat``, ``proxmox`` or ``raspberrypi``: whose kernel ``release`` is."""
    flavour = split_release(release)[1]
    if RPM_RELEASE_RE.search(release):
        return "redhat"
    if flavour == "pve":
        return "proxmox"
    if "+rpt-" in release:
        return "raspberrypi"
    if flavour in UBUNTU_FLAVOURS:
        return "ubuntu"
    return "debian"


def command_problem(command):
    """None for a command crash_batch runs; else why not."""
    if not isinstance(command, str) or not COMMAND_RE.match(command):
        return ("%r is not a plain crash command (a command and its arguments: letters, digits and . , : + = / @ "
                "%% -; no pipe, redirection or shell escape)" % (command,))
    if command.split()[0] in UNSAFE_COMMANDS or command.startswith("set -c"):
        return "%r leaves the dump (crash_batch runs commands that read it only)" % command
    return None


def output_name(index, command):
    """The file a command's output goes to: ``01-sys.txt``, ``03-bt-a.txt``."""
    words = re.sub(r"[^A-Za-z0-9]+", "-", command).strip("-")[:40]
    return "%02d-%s.txt" % (index + 1, words)


def script(commands, directory):
    """What crash reads on its standard input: each command redirected to its own file in ``directory``."""
    lines = ["%s > %s" % (command, os.path.join(directory, output_name(index, command)))
             for index, command in enumerate(commands)]
    return "\n".join(lines + ["quit"]) + "\n"


def vmlinux_paths(release, debug_dir, build=None):
    """Where a debug vmlinux of ``release`` is looked for, in order: the cache (the exact build first), then where
    each distribution's debug package installs it."""
    paths = []
    if debug_dir:
        if build:
            paths.append(os.path.join(debug_dir, "vmlinux-%s-%s" % (release, build)))
        paths.append(os.path.join(debug_dir, "vmlinux-%s" % release))
    paths += [
        "/usr/lib/debug/boot/vmlinux-%s" % release,  # Debian, Ubuntu
        "/usr/lib/debug/lib/modules/%s/vmlinux" % release,  # Fedora, RHEL (kernel-debuginfo); Debian's link
        "/boot/vmlinux-%s" % release,  # a kernel built with debug info and installed by hand
    ]
    return paths


def debug_package(release):
    """The package that carries ``release``'s debug vmlinux for apt, and the path of that file inside it, or None
    where lastwords knows no such package (Proxmox VE, Raspberry Pi OS, and RPM systems, which use dnf)."""
    kind = platform(release)
    if kind == "debian":
        return {"package": "linux-image-%s-dbg" % release, "member": "usr/lib/debug/boot/vmlinux-%s" % release}
    if kind == "ubuntu":
        return {"package": "linux-image-%s-dbgsym" % release, "member": "usr/lib/debug/boot/vmlinux-%s" % release}
    return None


def how_to_get(release, build=None, debug_dir=None, offered=None):
    """Exactly how to get the debug vmlinux of ``release`` (and its ``build``, when the dump's log says it), as the
    report says it when none was found. ``offered`` is the version the controller's apt offers, if any."""
    kind = platform(release)
    cache = os.path.join(debug_dir or "~/.cache/lastwords/debug", "vmlinux-%s" % release)
    if kind == "debian":
        package = debug_package(release)["package"]
        version = build or offered
        pin = "%s=%s" % (package, version) if version else package
        if offered:
            return ("set fetch=true (collect: lastwords_collect_crash_fetch=true) to download %s %s with the "
                    "controller's apt (~860 MB; only its vmlinux, ~630 MB, is kept at %s), or run "
                    "`apt-get install %s` on the controller" % (package, offered, cache, pin))
        return ("the controller's apt does not offer %s%s: on a Debian machine whose sources include the suite of "
                "that kernel, run `apt-get download %s`, then `dpkg-deb --fsys-tarfile %s_*.deb | tar -xO ./%s > %s`"
                % (package, " " + version if version else "", pin, package, debug_package(release)["member"], cache))
    if kind == "ubuntu":
        package = debug_package(release)["package"]
        return ("on Ubuntu, add the debug symbol archive (deb http://ddebs.ubuntu.com <suite> main, with "
                "ubuntu-dbgsym-keyring), then `apt-get install %s`, or give vmlinux= its "
                "/usr/lib/debug/boot/vmlinux-%s" % (package, release))
    if kind == "redhat":
        return ("on Fedora or RHEL, `dnf debuginfo-install kernel-%s` (RHEL: with the debug repository enabled) "
                "installs /usr/lib/debug/lib/modules/%s/vmlinux" % (release, release))
    if kind == "proxmox":
        return ("lastwords knows no debug package for Proxmox VE's kernels (%s): give vmlinux= a vmlinux with debug "
                "information of that very build, or read the dump's dmesg" % release)
    return ("lastwords knows no debug package for Raspberry Pi OS kernels (%s): give vmlinux= a vmlinux with debug "
            "information of that very build (a kernel built with CONFIG_DEBUG_INFO), or read the dump's dmesg"
            % release)


def mismatch(text):
    """The line where crash says the vmlinux is not the dump's kernel, or None."""
    for line in (text or "").splitlines():
        for pattern in MISMATCH_RES:
            if pattern.search(line):
                return line.strip()
    return None


def parse_sys(text):
    """``sys``'s ``KEY: value`` lines as a dict with lower-case keys (``release``, ``panic``, ``uptime``, ...);
    ``panic`` without its quotes."""
    out = {}
    for line in (text or "").splitlines():
        match = SYS_LINE_RE.match(line)
        if match:
            key = match.group(1).strip().lower().replace(" ", "_")
            out.setdefault(key, match.group(2).strip())
    # `"Kernel panic - not syncing: ..."`, or `"Oops: 0002 [#1] PREEMPT SMP NOPTI" (check log for details)`
    match = re.match(r'^"(.*)"', out.get("panic", ""))
    if match:
        out["panic"] = match.group(1)
    return out


def parse_bt(text):
    """``bt``'s first task: ``pid``, ``task``, ``cpu``, ``command``, ``exception`` (the ``[exception RIP: ...]``
    where it faulted, or None) and ``frames`` (``function`` and ``module``, None for the core kernel), or None
    when ``text`` holds no stack."""
    result = None
    for line in (text or "").splitlines():
        match = BT_HEAD_RE.match(line)
        if match:
            if result is not None:
                break
            result = {"pid": int(match.group(1)), "task": match.group(2), "cpu": int(match.group(3)),
                      "command": match.group(4), "exception": None, "frames": []}
            continue
        if result is None:
            continue
        match = BT_EXCEPTION_RE.match(line)
        if match and result["exception"] is None:
            result["exception"] = match.group(1).strip()
            continue
        match = BT_FRAME_RE.match(line)
        if match:
            result["frames"].append({"function": match.group(3), "module": match.group(5)})
    return result


def summary(sys_facts, stack, release):
    """One line of what crash read: ``crash on 6.1.0-47-amd64: "Kernel panic - ..." in swapper/0 (pid 0, cpu 0)
    at lwrx_refill+8``."""
    words = ["crash on %s:" % (sys_facts.get("release") or release)]
    words.append('"%s"' % sys_facts["panic"] if sys_facts.get("panic") else "no panic message")
    if stack:
        words.append("in %s (pid %d, cpu %d)" % (stack["command"], stack["pid"], stack["cpu"]))
        if stack["exception"]:
            words.append("at %s" % stack["exception"])
    return " ".join(words)
