#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kernel_changelog
short_description: Is it fixed in a newer kernel? Newer kernels offered, and what their changelog says of a driver
version_added: 0.2.0
description:
  - Lists the kernels of the running kernel's flavour (C(amd64), C(cloud-amd64), C(generic), C(pve), C(rpi-v8),
    ...) that the host's package manager offers in a version newer than the running build. Then reads the own
    changelog of the newest one of the same series (6.1, 6.12), fetched with the package manager
    (C(apt-get download) into a temporary directory, removed after; no other network), for the changes between
    the running version and it that mention a driver or a function.
  - >-
    Debian's kernel changelog names every upstream stable change by its subject (C(ixgbe: fix NULL pointer
    dereference in the receive path)), so the module of a panic's signature finds the changes to that driver.
    With O(signature) (the M(lastwords.panic.panic_signature) of a panic), the terms are the signature's module,
    else its function's prefix, and its function.
  - >-
    Read-only: the host's packages and package lists are not touched (unless O(update_cache) is set, which runs
    C(apt-get update) first and reports a change).
  - apt only (Debian, Ubuntu, Proxmox VE, Raspberry Pi OS). On a host without apt it fails, saying what to run
    instead.
author:
  - lastwords developers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads and downloads the same; O(update_cache) is not run in check mode.
  diff_mode:
    support: none
  platform:
    platforms: debian
options:
  release:
    description:
      - The kernel release to compare with (C(uname -r) form). Default is the running one, whose build version is
        read from C(/proc/version); an installed release's version is its package's.
    type: str
  mention:
    description: Words to look for in the changes (a driver, a function, a subsystem prefix such as C(tcp_)).
    type: list
    elements: str
    default: []
  signature:
    description: A panic's signature; its module, function prefix and function are added to O(mention).
    type: dict
  changelog:
    description: Fetch and read the newest candidate's changelog. V(false) only lists the newer kernels.
    type: bool
    default: true
  update_cache:
    description: Run C(apt-get update) first, so that the lists know the newest kernels.
    type: bool
    default: false
  max_mentions:
    description: Mentions returned at most (the count is always whole).
    type: int
    default: 50
notes:
  - The changelog of Debian's signed kernel packages (C(linux-image-*-amd64)) holds the kernel's own entries
    after its signing entry; the count is of the kernel's (C(linux)) entries.
seealso:
  - module: lastwords.panic.kernel_boot
"""

EXAMPLES = r"""
- name: Is the panic's driver changed in a newer kernel?
  lastwords.panic.kernel_changelog:
    signature: "{{ lookup('ansible.builtin.file', 'collected/nas/202612011012/dmesg.202612011012')
      | lastwords.panic.panic_signature }}"
  register: upstream

- name: Say it
  ansible.builtin.debug:
    msg: "{{ upstream.summary }}"
"""

RETURN = r"""
release:
  description: The kernel compared with.
  returned: always
  type: str
  sample: 6.1.0-47-amd64
version:
  description: Its build's distribution version; null when it cannot be told.
  returned: always
  type: str
  sample: 6.1.158-1
flavour:
  description: Its flavour.
  returned: always
  type: str
  sample: amd64
newer:
  description: The newer kernels of that flavour offered, oldest first.
  returned: always
  type: list
  elements: dict
  sample: [{"package": "linux-image-6.1.0-56-amd64", "release": "6.1.0-56-amd64", "version": "6.1.192-2"}]
newest:
  description: >-
    The newest of them in the running kernel's series (6.1 for 6.1.158-1: its stable updates are where a fix to it
    lands), else the newest of all; null when nothing is newer. Its changelog is the one read.
  returned: always
  type: dict
terms:
  description: The words looked for.
  returned: always
  type: list
  elements: str
  sample: [ixgbe, ixgbe_poll]
entries:
  description: >-
    The newest candidate's changelog entries (of the kernel's own source) after the running version, with their
    versions and number of changes, newest first; null when the changelog was not read.
  returned: always
  type: list
  elements: dict
mentions:
  description: The changes in those entries that mention a term (O(max_mentions) at most).
  returned: always
  type: list
  elements: dict
  sample: [{"version": "6.1.170-1", "term": "ixgbe", "change": "- ixgbe: fix NULL pointer dereference in ixgbe_poll"}]
mention_count:
  description: All the mentions.
  returned: always
  type: int
summary:
  description: The answer in a few sentences.
  returned: always
  type: str
"""

import gzip
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastwords.panic.plugins.module_utils._changelog import (
    between,
    flavour,
    kernel_packages,
    mentions,
    newer,
    newest_of_series,
    parse_changelog,
    policy_candidates,
    suspects,
)
from ansible_collections.lastwords.panic.plugins.module_utils._deb import C_ENV, apt_download, extract_member
from ansible_collections.lastwords.panic.plugins.module_utils._host import read_text
from ansible_collections.lastwords.panic.plugins.module_utils._kernel import build_version, release_problem


def _run(module, argv, cwd=None):
    rc, out, err = module.run_command(argv, cwd=cwd, environ_update=C_ENV)
    if rc != 0:
        module.fail_json(msg="%s failed (exit %d): %s" % (" ".join(argv[:3]), rc, (err or out).strip()[-500:]))
    return out


def _installed_version(module, package):
    rc, out, _err = module.run_command(["dpkg-query", "-W", "-f=${Version}", package], environ_update=C_ENV)
    return out.strip() if rc == 0 and out.strip() else None


# where a package keeps its changelog (Debian's kernels: changelog.Debian.gz; some packages only changelog.gz)
CHANGELOG_PATTERNS = ["usr/share/doc/*/changelog.Debian.gz", "usr/share/doc/*/changelog.gz"]


def read_deb_changelog(path, module=None):
    """The text of the changelog a .deb carries (``usr/share/doc/<package>/changelog*.gz`` in its data archive),
    or None. The data archive is read as a stream (module_utils._deb), without dpkg, except a data.tar.zst (Ubuntu,
    whose linux-image packages hold only the kernel, not its modules), which goes through ``dpkg-deb`` run by
    ``module``."""
    tmp = tempfile.mkdtemp(prefix="lastwords-changelog-")
    try:
        found = extract_member(path, CHANGELOG_PATTERNS, tmp, module)
        if found is None:
            return None
        with open(found, "rb") as handle:
            return gzip.decompress(handle.read()).decode("utf-8", "replace")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_changelog(module, package, version):
    tmp = tempfile.mkdtemp(prefix="lastwords-changelog-")
    try:
        return read_deb_changelog(apt_download(module, package, version, tmp), module)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def summarize(result, checked):
    what = "%s (build %s)" % (result["release"], result["version"] or "unknown")
    if not result["newer"]:
        return ("Nothing newer of the %s flavour than %s is offered by the package manager (its lists as they are "
                "now; update_cache=true refreshes them)." % (result["flavour"], what))
    newest = result["newest"]
    text = "%d newer %s kernel%s offered than %s; the newest is %s %s." % (
        len(result["newer"]), result["flavour"], "" if len(result["newer"]) == 1 else "s", what, newest["package"],
        newest["version"])
    if not checked:
        return text
    if result["entries"] is None:
        return text + " Its package carries no changelog to read."
    text += " Its changelog has %d entr%s after %s" % (
        len(result["entries"]), "y" if len(result["entries"]) == 1 else "ies", result["version"] or "it")
    if not result["terms"]:
        return text + "; nothing was asked to look for."
    if not result["mention_count"]:
        return text + "; none of their changes mention %s." % " or ".join(result["terms"])
    return text + "; %d change%s %s, the latest: %s (%s)." % (
        result["mention_count"], " mentions" if result["mention_count"] == 1 else "s mention",
        " or ".join(result["terms"]),
        result["mentions"][0]["change"], result["mentions"][0]["version"])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            release=dict(type="str"),
            mention=dict(type="list", elements="str", default=[]),
            signature=dict(type="dict"),
            changelog=dict(type="bool", default=True),
            update_cache=dict(type="bool", default=False),
            max_mentions=dict(type="int", default=50),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["max_mentions"] < 0:
        module.fail_json(msg="max_mentions must be 0 or more, got %d" % params["max_mentions"])
    if not module.get_bin_path("apt-cache"):
        module.fail_json(msg="kernel_changelog reads apt's package lists (Debian, Ubuntu, Proxmox VE, Raspberry Pi "
                             "OS) and this host has no apt-cache; on Fedora or RHEL, `dnf changelog --upgrades "
                             "kernel-core` answers the same question")
    running = os.uname()[2]
    release = params["release"] or running
    problem = release_problem(release, os.uname()[4])
    if problem:
        module.fail_json(msg="release %s %s" % (release, problem))
    if release == running:
        version = build_version(read_text("/proc/version"), read_text("/proc/version_signature"))
    else:
        version = None
    changed = False
    if params["update_cache"] and not module.check_mode:
        _run(module, ["apt-get", "update", "-q"])
        changed = True
    names = _run(module, ["apt-cache", "pkgnames"]).splitlines()
    packages = kernel_packages(names, release)
    if version is None:
        own = [name for name, rel in packages.items() if rel == release]
        version = _installed_version(module, own[0]) if own else None
    candidates = policy_candidates(_run(module, ["apt-cache", "policy"] + sorted(packages))) if packages else {}
    found = newer(candidates, packages, release, version)
    terms = list(params["mention"]) + [term for term in suspects(params["signature"]) if term not in params["mention"]]
    newest = newest_of_series(found, version, release)
    result = dict(changed=changed, release=release, version=version, flavour=flavour(release), newer=found,
                  newest=newest, terms=terms, entries=None, mentions=[], mention_count=0)
    checked = bool(newest and params["changelog"])
    if checked:
        text = fetch_changelog(module, newest["package"], newest["version"])
        if text is not None:
            entries = between(parse_changelog(text), version, newest["version"])
            every = mentions(entries, terms)
            result["entries"] = [{"source": entry["source"], "version": entry["version"],
                                  "distribution": entry["distribution"], "date": entry["date"],
                                  "changes": len(entry["changes"])} for entry in entries]
            result["mentions"] = every[: params["max_mentions"]]
            result["mention_count"] = len(every)
    result["summary"] = summarize(result, checked)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
