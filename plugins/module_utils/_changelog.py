# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is it fixed in a newer kernel? The newer kernels of a flavour a host's package manager offers, and what their
changelog says between the running version and the newest.

Pure functions on the text the tools print (``apt-cache pkgnames``, ``apt-cache policy``, a package's
``changelog.Debian.gz``, ``/proc/version``); kernel_changelog runs the tools. Debian's kernel changelog lists
every upstream stable commit by its subject (``- ixgbe: fix ... in the receive path``), so a driver's name or a
function's prefix finds the changes that touched it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.lastwords.panic.plugins.module_utils._kernel import (
    compare_releases,
    release_key,
    split_release,
)

# The package that ships a kernel release, per distribution: Debian and Ubuntu `linux-image-<release>`, Proxmox VE
# `proxmox-kernel-<release>-signed` (and `pve-kernel-<release>` before 8.1), Raspberry Pi OS `linux-image-<release>`.
KERNEL_PACKAGE_RE = re.compile(r"^(?:linux-image-(?:unsigned-)?|proxmox-kernel-|pve-kernel-)"
                               r"([0-9]+\.[0-9]+[0-9A-Za-z.+~_-]*?)(-signed|-unsigned|-dbg|-dbgsym)?$")
RELEASE_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+")
# `linux (6.1.170-1) bookworm-security; urgency=high`
ENTRY_RE = re.compile(r"^(\S+) \(([^)\s]+)\) ([^;]*);")
TRAILER_RE = re.compile(r"^ -- (.+?)  (.+)$")


def flavour(release):
    """``6.1.0-47-cloud-amd64`` -> ``cloud-amd64``, ``6.8.12-4-pve`` -> ``pve``, ``6.6.31+rpt-rpi-v8`` -> ``rpi-v8``."""
    return split_release(release)[1]


def kernel_packages(names, release):
    """The package names (``apt-cache pkgnames``) that ship a kernel of ``release``'s flavour, with their release,
    as ``{package: release}``; debug and unsigned builds are left out (a signed or plain one is what boots)."""
    wanted = flavour(release)
    found = {}
    for name in names:
        match = KERNEL_PACKAGE_RE.match(name.strip())
        if not match or match.group(2) in ("-unsigned", "-dbg", "-dbgsym") or "-unsigned-" in name:
            continue
        candidate = match.group(1)
        # a kernel's release has three version numbers (6.1.0-47, 6.12.118+deb13); `linux-image-6.12-amd64`
        # (backports) is a metapackage
        if flavour(candidate) == wanted and RELEASE_VERSION_RE.match(candidate):
            found[name.strip()] = candidate
    return found


def policy_candidates(text):
    """``{package: candidate version}`` from ``apt-cache policy <package>...`` (LC_ALL=C); none left out."""
    out, package = {}, None
    for line in (text or "").splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            package = line[:-1]
        elif package and line.strip().startswith("Candidate:"):
            value = line.split(":", 1)[1].strip()
            if value and value != "(none)":
                out[package] = value
    return out


def newer(candidates, releases, running_release, running_version):
    """The kernels newer than the running one, oldest first: ``[{package, release, version}]``. Newer is a
    higher distribution version (the same release name can be rebuilt, as Debian's ABI packages are)."""
    out = []
    for package, version in candidates.items():
        if package not in releases:
            continue
        if running_version is not None and compare_releases(version, running_version) <= 0:
            continue
        if running_version is None and compare_releases(releases[package], running_release) <= 0:
            continue
        out.append({"package": package, "release": releases[package], "version": version})
    return sorted(out, key=lambda item: release_key(item["version"]))


def series(version):
    """`6.1.170-3` -> `6.1`: the upstream series a build follows."""
    return ".".join(re.split(r"[^0-9]+", version or "")[:2])


def newest_of_series(found, running_version, running_release):
    """The newest of the same series as the running kernel (its stable updates carry the fixes to it), else the
    newest there is, else None."""
    if not found:
        return None
    own = series(running_version) if running_version else series(running_release)
    same = [item for item in found if series(item["version"]) == own]
    return (same or found)[-1]


def parse_changelog(text):
    """A Debian changelog's entries, newest first: ``[{source, version, distribution, changes, author, date}]``,
    where ``changes`` are the entry's lines (leading `*`, `-` and the indentation kept, continuation lines joined)."""
    entries, entry = [], None
    for line in (text or "").splitlines():
        match = ENTRY_RE.match(line)
        if match:
            entry = {"source": match.group(1), "version": match.group(2), "distribution": match.group(3).strip(),
                     "changes": [], "author": None, "date": None}
            entries.append(entry)
            continue
        if entry is None:
            continue
        trailer = TRAILER_RE.match(line)
        if trailer:
            entry["author"], entry["date"] = trailer.group(1), trailer.group(2)
            continue
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[:2] in ("* ", "- ", "+ ") or stripped.startswith("[") or not entry["changes"]:
            entry["changes"].append(line.rstrip())
        else:  # a change's continuation line
            entry["changes"][-1] += " " + stripped
    return entries


SIGNS_RE = re.compile(r"^\s*\* Sign kernel from linux (\S+)$")


def between(entries, low, high):
    """The kernel's own entries newer than version ``low`` up to ``high``, newest first. A signed package's entry
    (``linux-signed-amd64 (6.1.192+3)``) counts as the kernel version it signs (its ``Sign kernel from linux
    6.1.192-3`` line), with the changes listed under it: Debian folds the newest upload's changes in there. A signed
    entry that names no kernel is left out."""
    out = []
    for entry in entries:
        if entry["source"].startswith("linux-signed"):
            signed = [SIGNS_RE.match(change) for change in entry["changes"]]
            versions = [match.group(1) for match in signed if match]
            if not versions:
                continue
            entry = dict(entry, source="linux", version=versions[0],
                         changes=[change for change in entry["changes"] if not SIGNS_RE.match(change)])
        version = entry["version"]
        if compare_releases(version, high) > 0:
            continue
        if low is not None and compare_releases(version, low) <= 0:
            continue
        out.append(entry)
    return out


def term_patterns(terms):
    """A pattern per term, matching it as a word or before an underscore (`ixgbe` finds `ixgbe:` and
    `ixgbe_poll`, not `ixgbevf`; `tcp_` finds `tcp_v4_rcv`), case-insensitively."""
    out = []
    for term in terms:
        if term:
            tail = "" if term.endswith("_") else r"(?![A-Za-z0-9])"
            out.append((term, re.compile(r"(?<![\w])" + re.escape(term) + tail, re.IGNORECASE)))
    return out


def mentions(entries, terms):
    """Every change line of ``entries`` that mentions one of ``terms``: ``[{version, term, change}]``."""
    patterns = term_patterns(terms)
    out = []
    for entry in entries:
        for change in entry["changes"]:
            for term, pattern in patterns:
                if pattern.search(change):
                    out.append({"version": entry["version"], "term": term, "change": change.strip()})
                    break
    return out


def suspects(signature):
    """What to look for in a changelog for a panic signature: its module (the driver, `ixgbe`), else the
    prefix of its function before the first `_` (its subsystem, often: `tcp_` of `tcp_v4_rcv`), and the
    function itself."""
    if not isinstance(signature, dict):
        return []
    terms = []
    module = signature.get("module") or signature.get("suspect_module")
    function = signature.get("function")
    if module:
        terms.append(module)
    if function:
        prefix = function.lstrip("_").split("_", 1)[0]
        if not module and len(prefix) >= 3:
            terms.append(prefix + "_")
        terms.append(function)
    return [term for index, term in enumerate(terms) if term not in terms[:index]]
