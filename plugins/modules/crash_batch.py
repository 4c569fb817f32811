#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: crash_batch
short_description: Open a vmcore with crash in batch mode (sys, bt, log, ps) against the kernel's debug vmlinux
version_added: 0.2.0
description:
  - >-
    Runs C(crash) non-interactively on a vmcore the controller holds (C(playbooks/collect.yml) fetches them), each
    command's output into its own file under O(dest), and reads back what C(sys) and C(bt) say (the panic message,
    the task, where it faulted, the frames). Meant to run on the controller (C(delegate_to: localhost)), where the
    vmcore and the debug vmlinux are.
  - >-
    C(crash) needs the vmlinux with debug information of the very build that wrote the dump. It is looked for in
    O(debug_dir) (the exact build first), then where the distributions' debug packages install it
    (C(/usr/lib/debug/boot/vmlinux-<release>), C(/usr/lib/debug/lib/modules/<release>/vmlinux)). When it is not
    there, nothing is run and RV(how) says exactly how to get it; with O(fetch) the controller's apt downloads the
    debug package (Debian's C(linux-image-<release>-dbg) is ~860 MB) and only its vmlinux (~630 MB) is kept in
    O(debug_dir), once for every later dump of that build.
  - The release is read from the dump itself (C(crash --osrelease)) unless O(release) says it.
  - A second run on the same dump with the same vmlinux and commands reads the results back and changes nothing.
author:
  - lastwords developers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Finds the vmlinux and says what would run; downloads nothing, runs nothing, writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  vmcore:
    description: The dump (kdump's C(dump.<stamp>), makedumpfile's compressed format, or an ELF C(vmcore)).
    type: path
    required: true
  vmlinux:
    description: The debug vmlinux to use instead of looking for one. A vmlinux that does not match the dump fails.
    type: path
  release:
    description: The dump's kernel release (C(uname -r) form); read from the dump when not given.
    type: str
  build:
    description: >-
      The distribution version of that kernel's build (C(6.1.170-3)), as the dump's dmesg says it
      (C(Linux version ... Debian 6.1.170-3)); picks the cached vmlinux and the package version to fetch.
    type: str
  debug_dir:
    description: Where fetched debug vmlinux files are kept (C(vmlinux-<release>-<build>)).
    type: path
    default: ~/.cache/lastwords/debug
  fetch:
    description: >-
      Download the debug package with the controller's apt when no vmlinux is found (Debian, Ubuntu with the
      ddebs archive). Off by default: it is hundreds of MB.
    type: bool
    default: false
  commands:
    description: >-
      The crash commands, each with its own output file (C(01-sys.txt), ...). Plain commands only: no pipe,
      redirection or shell escape.
    type: list
    elements: str
    default: [sys, bt, log, ps]
  dest:
    description: The directory for the outputs and C(crash.json); default C(crash/) beside the vmcore.
    type: path
  timeout:
    description: Seconds crash may take for all the commands.
    type: int
    default: 900
notes:
  - Needs C(crash) on the controller (Debian, Ubuntu C(apt-get install crash); Fedora, RHEL C(dnf install crash)).
    Without it nothing is run and RV(how) says so.
seealso:
  - module: lastwords.panic.kernel_changelog
  - module: lastwords.panic.capture_facts
"""

EXAMPLES = r"""
- name: Open the dump with crash (the debug vmlinux fetched once if missing)
  lastwords.panic.crash_batch:
    vmcore: collected/nas/202612011012/dump.202612011012
    build: 6.1.170-3
    fetch: true
  delegate_to: localhost
  register: crashed

- name: Say what crash read, or how to get what it needs
  ansible.builtin.debug:
    msg: "{{ crashed.summary if crashed.ran else crashed.how }}"
"""

RETURN = r"""
ran:
  description: Whether crash ran (or, on a second run, had run) on the dump; false when crash or the vmlinux is missing.
  returned: always
  type: bool
release:
  description: The dump's kernel release.
  returned: always
  type: str
  sample: 6.1.0-47-amd64
vmlinux:
  description: The debug vmlinux used; null when none was found.
  returned: always
  type: str
fetched:
  description: The debug package downloaded this run (package, version, seconds, vmlinux bytes); null otherwise.
  returned: always
  type: dict
outputs:
  description: Each command and the file its output is in.
  returned: when ran
  type: dict
  sample: {"sys": "collected/nas/202612011012/crash/01-sys.txt"}
sys:
  description: What C(sys) printed, by key (release, panic, uptime, tasks, ...).
  returned: when ran
  type: dict
stack:
  description: >-
    The panicking task's stack as C(bt) printed it: pid, task, cpu, command, exception (the exception RIP: where it
    faulted) and frames (function, module).
  returned: when ran
  type: dict
summary:
  description: One line of what crash read.
  returned: when ran
  type: str
  sample: >-
    crash on 6.1.0-47-amd64: "Kernel panic - not syncing: Fatal exception in interrupt" in swapper/0 (pid 0, cpu 0)
    at lwrx_refill+8
how:
  description: When crash did not run, exactly how to get what it needs.
  returned: when not ran
  type: str
"""

import json
import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastwords.panic.plugins.module_utils._crash import (
    DEFAULT_COMMANDS,
    command_problem,
    debug_package,
    how_to_get,
    mismatch,
    output_name,
    parse_bt,
    parse_sys,
    script,
    summary,
    vmlinux_paths,
)
from ansible_collections.lastwords.panic.plugins.module_utils._deb import C_ENV, apt_download, extract_member
from ansible_collections.lastwords.panic.plugins.module_utils._kernel import apt_candidate, valid_release

STATE = "crash.json"


def _stat(path):
    info = os.stat(path)
    return {"path": os.path.abspath(path), "size": info.st_size, "mtime": int(info.st_mtime)}


def _release(module, crash, vmcore):
    rc, out, err = module.run_command([crash, "--osrelease", vmcore], environ_update=C_ENV)
    release = out.strip().splitlines()[-1].strip() if rc == 0 and out.strip() else ""
    if not valid_release(release):
        module.fail_json(msg="crash --osrelease %s did not say the dump's kernel release (exit %d: %s); give it as "
                             "release=" % (vmcore, rc, (err or out).strip()[-300:]))
    return release


def _offered(module, package, build):
    """The version of ``package`` the controller's apt offers: ``build`` when it is offered, else the candidate;
    None when apt offers none (or there is no apt)."""
    if not module.get_bin_path("apt-cache"):
        return None
    if build:
        rc, out, _err = module.run_command(["apt-cache", "show", "%s=%s" % (package, build)], environ_update=C_ENV)
        if rc == 0 and out.strip():
            return build
    rc, out, _err = module.run_command(["apt-cache", "policy", package], environ_update=C_ENV)
    return apt_candidate(out) if rc == 0 else None


def _fetch(module, release, version, debug_dir):
    """Download the debug package, keep its vmlinux in ``debug_dir``, drop the package; what was fetched."""
    wanted = debug_package(release)
    started = time.time()
    if not os.path.isdir(debug_dir):
        os.makedirs(debug_dir, 0o755)
    tmp = tempfile.mkdtemp(prefix=".fetch-", dir=debug_dir)
    try:
        deb = apt_download(module, wanted["package"], version, tmp)
        found = extract_member(deb, [wanted["member"]], tmp, module)
        if found is None:
            module.fail_json(msg="%s %s has no %s" % (wanted["package"], version, wanted["member"]))
        target = os.path.join(debug_dir, "vmlinux-%s-%s" % (release, version))
        os.rename(found, target)
        return {"package": wanted["package"], "version": version, "vmlinux": target,
                "bytes": os.path.getsize(target), "seconds": round(time.time() - started, 1)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_back(dest, commands, release):
    """What the outputs in ``dest`` say: each command's file, ``sys`` and ``bt`` read, the one-line summary."""
    outputs = {command: os.path.join(dest, output_name(index, command)) for index, command in enumerate(commands)}
    texts = {}
    for command, path in outputs.items():
        with open(path, "r", errors="replace") as handle:
            texts[command] = handle.read()
    sys_facts, stack = parse_sys(texts.get("sys")), parse_bt(texts.get("bt"))
    return dict(outputs=outputs, sys=sys_facts, stack=stack, summary=summary(sys_facts, stack, release))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            vmcore=dict(type="path", required=True),
            vmlinux=dict(type="path"),
            release=dict(type="str"),
            build=dict(type="str"),
            debug_dir=dict(type="path", default="~/.cache/lastwords/debug"),
            fetch=dict(type="bool", default=False),
            commands=dict(type="list", elements="str", default=list(DEFAULT_COMMANDS)),
            dest=dict(type="path"),
            timeout=dict(type="int", default=900),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problems = [problem for problem in (command_problem(command) for command in p["commands"]) if problem]
    if not p["commands"]:
        problems.append("commands is empty: give at least one crash command (sys, bt, log, ps)")
    if p["timeout"] < 1:
        problems.append("timeout must be 1 second or more, got %d" % p["timeout"])
    if p["release"] is not None and not valid_release(p["release"]):
        problems.append("release %r is not a kernel release (what uname -r prints, such as 6.1.0-47-amd64)"
                        % p["release"])
    if not os.path.isfile(p["vmcore"]):
        problems.append("vmcore %s is not a file on the controller (collect.yml fetches them with "
                        "lastwords_collect_vmcore=true)" % p["vmcore"])
    if p["vmlinux"] and not os.path.isfile(p["vmlinux"]):
        problems.append("vmlinux %s is not a file" % p["vmlinux"])
    if problems:
        module.fail_json(msg="; ".join(problems))
    vmcore = os.path.abspath(p["vmcore"])
    dest = os.path.abspath(p["dest"] or os.path.join(os.path.dirname(vmcore), "crash"))
    debug_dir = os.path.abspath(p["debug_dir"])
    result = dict(changed=False, ran=False, release=p["release"], vmlinux=None, fetched=None)
    crash = module.get_bin_path("crash")
    if not crash:
        result["how"] = ("crash is not installed on the controller: `apt-get install crash` (Debian, Ubuntu) or "
                         "`dnf install crash` (Fedora, RHEL), then run this again")
        result["msg"] = result["how"]
        module.exit_json(**result)
    release = p["release"] or _release(module, crash, vmcore)
    result["release"] = release

    state_file = os.path.join(dest, STATE)
    if os.path.isfile(state_file):
        with open(state_file) as handle:
            state = json.load(handle)
        if (state.get("vmcore") == _stat(vmcore) and state.get("commands") == p["commands"]
                and (not p["vmlinux"] or state.get("vmlinux", {}).get("path") == os.path.abspath(p["vmlinux"]))
                and os.path.isfile(state.get("vmlinux", {}).get("path", ""))):
            result.update(ran=True, vmlinux=state["vmlinux"]["path"], **_read_back(dest, p["commands"], release))
            module.exit_json(**result)

    vmlinux = p["vmlinux"]
    candidates = vmlinux_paths(release, debug_dir, p["build"])
    if not vmlinux:
        vmlinux = next((path for path in candidates if os.path.isfile(path)), None)
    if not vmlinux:
        wanted = debug_package(release)
        offered = _offered(module, wanted["package"], p["build"]) if wanted else None
        if not (p["fetch"] and offered):
            result["how"] = "no debug vmlinux of %s in %s: %s" % (
                release, ", ".join(candidates),
                how_to_get(release, p["build"], debug_dir, offered))
            result["msg"] = result["how"]
            module.exit_json(**result)
        if module.check_mode:
            result.update(changed=True, msg="would download %s %s and run crash (%s)" % (
                wanted["package"], offered, ", ".join(p["commands"])))
            module.exit_json(**result)
        result["fetched"] = _fetch(module, release, offered, debug_dir)
        result["changed"] = True
        vmlinux = result["fetched"]["vmlinux"]
    vmlinux = os.path.abspath(vmlinux)
    result["vmlinux"] = vmlinux
    if module.check_mode:
        result.update(changed=True, msg="would run crash (%s) on %s with %s" % (
            ", ".join(p["commands"]), vmcore, vmlinux))
        module.exit_json(**result)

    if not os.path.isdir(dest):
        os.makedirs(dest, 0o755)
    work = tempfile.mkdtemp(prefix=".crash-", dir=dest)
    try:
        rc, out, err = module.run_command(
            ["timeout", str(p["timeout"]), crash, "-s", "--no_scroll", vmlinux, vmcore],
            data=script(p["commands"], work), binary_data=True, environ_update=C_ENV)
        said = (out or "") + (err or "")
        wrong = mismatch(said)
        if wrong or rc != 0:
            msg = ("crash could not open %s with %s (exit %d%s): %s" % (
                vmcore, vmlinux, rc, ", timed out after %d s" % p["timeout"] if rc == 124 else "",
                wrong or said.strip()[-800:]))
            if p["vmlinux"]:
                module.fail_json(msg=msg, **result)
            result.update(how=msg + "; " + how_to_get(release, p["build"], debug_dir), msg=msg)
            module.exit_json(**result)
        for index, command in enumerate(p["commands"]):
            name = output_name(index, command)
            if not os.path.isfile(os.path.join(work, name)):
                module.fail_json(msg="crash wrote no output for %r (it said: %s)" % (command, said.strip()[-800:]))
            os.rename(os.path.join(work, name), os.path.join(dest, name))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(state_file + ".tmp", "w") as handle:
        json.dump({"vmcore": _stat(vmcore), "vmlinux": _stat(vmlinux), "commands": p["commands"]}, handle,
                  indent=1, sort_keys=True)
    os.rename(state_file + ".tmp", state_file)
    result.update(changed=True, ran=True, **_read_back(dest, p["commands"], release))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
