#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: capture_facts
short_description: Report whether a host is armed to capture a kernel panic (kdump and netconsole)
version_added: 0.1.0
description:
  - Reads the host's crash-capture state in one call and says, in plain English, everything that stands between
    it and a captured panic - a vmcore on disk through kdump, and the console stream on a receiver through
    netconsole.
  - Read-only; it changes nothing, so it gives the same answer in check mode. Every missing or unreadable file is
    reported as a reason, never as a failure of the module.
  - "What counts as armed, with O(require_kdump): C(crashkernel=) on C(/proc/cmdline) with memory reserved
    (C(/sys/kernel/kexec_crash_size) > 0 and a C(Crash kernel) range in C(/proc/iomem)); the crash kernel loaded
    (C(/sys/kernel/kexec_crash_loaded) = 1); kdump installed and enabled (Debian C(USE_KDUMP) not 0 in
    C(/etc/default/kdump-tools); RHEL C(/etc/kdump.conf)); its service active; the kdump initrd of the running
    kernel present; enough free space in the dump directory."
  - "With O(require_netconsole): the netconsole module loaded (C(/sys/module/netconsole)); an enabled target in
    configfs (C(/sys/kernel/config/netconsole/*)) or C(netconsole=) on the kernel command line; a console log
    level that lets oops and panic traces through (see O(min_console_loglevel))."
  - "Dump space estimate: max(O(dump_space_min_mb) MiB, O(dump_space_percent)% of MemTotal). Measured on
    Debian 12 with the default C(makedumpfile -c -d 31): a 2 GiB guest's dump was 41 MB with zlib (2.0% of
    RAM) and 52 MB with lzo (2.5%). 5% doubles that for a busier kernel (slab, page tables); the 64 MiB floor
    covers small guests and the dmesg file. The estimate assumes dump level 31; with a lower level (more pages
    kept) raise O(dump_space_percent)."
  - "Exception: makedumpfile before 1.7.7 does not recognise free pages on Linux 6.12 and later (6.12 changed how
    the kernel marks them: makedumpfile issue 16), so level 31 keeps every free page that is not zero. Debian 13
    ships makedumpfile 1.7.6 with Linux 6.12. Measured in the lab on Debian 13: C(makedumpfile --mem-usage)
    counted 0 free pages (Debian 12: 394600 of 471978), and a 2 GiB guest's dump was 191-219 MiB (10-13% of RAM)
    against Debian 12's 27-35 MiB. On a host that has run for weeks most free memory holds old data, so there the
    estimate is at least 50% of MemTotal, RV(capture.makedumpfile) says why, and the module warns."
author:
  - lastwords developers (!UNKNOWN)  # the project has no GitHub handle yet; ansible-test wants one or this
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details: The module only reads; check mode changes nothing in its behaviour.
  diff_mode:
    support: none
  facts:
    support: full
    details: Sets the fact C(lastwords_capture), the same dict as RV(capture).
options:
  root:
    description:
      - Directory that every file is read under (C(<root>/proc/cmdline), C(<root>/sys/...), C(<root>/etc/...)).
        For chroots, mounted images and tests.
      - "With a root other than V(/), the kdump service is not asked through the host's C(systemctl) (it would
        describe the host, not the tree): unless O(systemctl) is given, C(service.state) is V(unknown) and the
        service counts as ready when the tree enables it
        (C(<root>/etc/systemd/system/*.wants/<service>.service) exists)."
    type: path
    default: /
  require_kdump:
    description: Whether C(armed) requires kdump to be ready (the kdump reasons are reported only then).
    type: bool
    default: true
  require_netconsole:
    description: Whether C(armed) requires netconsole to be ready (the netconsole reasons are reported only then).
    type: bool
    default: true
  service_name:
    description:
      - The kdump service. V(auto) is V(kdump-tools) when C(/etc/default/kdump-tools) or C(/usr/sbin/kdump-config)
        exists under O(root), V(kdump) when C(/etc/kdump.conf) exists, else none (kdump not installed).
    type: str
    default: auto
  systemctl:
    description:
      - Path of C(systemctl), called as C(systemctl is-active <service>) and C(systemctl is-enabled <service>).
      - Default is C(systemctl) from E(PATH) when O(root=/), and no call at all otherwise.
    type: path
  min_console_loglevel:
    description:
      - Lowest console log level (first field of C(/proc/sys/kernel/printk)) that counts as ready for netconsole.
        The console gets messages whose level is below this number.
      - Default is one above the default message level (second field, usually 4), because oops call traces
        are printed at that level; C(ignore_loglevel) on the command line also satisfies it.
    type: int
  dump_space_percent:
    description: Share of MemTotal the dump directory must have free, in percent.
    type: float
    default: 5.0
  dump_space_min_mb:
    description: Minimum free space the dump directory must have, in MiB.
    type: int
    default: 64
  canary:
    description:
      - A line to write to the kernel log (C(<root>/dev/kmsg)) after the state is read, so that a receiver can
        prove the host's console reaches it (the readiness playbook looks for it with
        M(lastwords.panic.netconsole_log)). Written at level C(<4>) (warning), the level oops call traces are
        printed at, so a canary that arrives proves a trace would; prefixed with C(lastwords:).
      - This is the probe itself, so it is written in check mode too. It adds a line to the kernel's ring buffer
        and nothing else; no file on disk changes, and the module still reports no change.
      - At most 200 printable characters.
    type: str
notes:
  - C(systemctl is-active) alone is not proof. kdump-tools' unit is C(active (exited)) even when C(USE_KDUMP=0)
    made it skip loading. C(kexec_crash_loaded) is the evidence that counts; the other checks explain it.
seealso:
  - module: lastwords.panic.kernel_cmdline
"""

EXAMPLES = r"""
- name: Read the capture state of every host, even in check mode
  lastwords.panic.capture_facts:
  register: lastwords_state

- name: Say why a host is not armed
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} is not armed: {{ lastwords_capture.problems | join('; ') }}"
  when: not lastwords_capture.armed

- name: Check only kdump on hosts that have no netconsole receiver
  lastwords.panic.capture_facts:
    require_netconsole: false

- name: Read the state and send a canary through the kernel log (look for it on the receiver)
  lastwords.panic.capture_facts:
    canary: "readiness {{ inventory_hostname }} {{ now(utc=true, fmt='%s') }}"
  register: lastwords_state

- name: Inspect a mounted disk image (no systemctl call)
  lastwords.panic.capture_facts:
    root: /mnt/image
    require_netconsole: false
  delegate_to: localhost
"""

RETURN = r"""
capture:
  description: The capture state; also set as the fact C(lastwords_capture).
  returned: always
  type: dict
  contains:
    armed:
      description: True when O(require_kdump)/O(require_netconsole) found nothing missing (C(problems) is empty).
      type: bool
    problems:
      description: One plain-English sentence per reason the host is not armed.
      type: list
      elements: str
      sample: ["crash kernel not loaded (/sys/kernel/kexec_crash_loaded is 0)"]
    root:
      description: O(root) as used.
      type: str
    kernel_release:
      description: Release of the running kernel (C(<root>/proc/sys/kernel/osrelease)).
      type: str
      sample: 6.1.0-27-amd64
    cmdline:
      description: C(/proc/cmdline), V(null) when unreadable.
      type: str
    crashkernel:
      description: Value of the C(crashkernel=) on C(/proc/cmdline) that the kernel uses (the last one without a
        C(,high)/C(,low) suffix, else the last C(,high) one), or V(null).
      type: str
      sample: 384M-:128M
    crash_size:
      description: Bytes reserved for the crash kernel (C(/sys/kernel/kexec_crash_size)); V(null) when unreadable.
      type: int
    crash_loaded:
      description: Whether a crash kernel is loaded (C(/sys/kernel/kexec_crash_loaded) is 1).
      type: bool
    iomem_crash_kernel:
      description: Whether C(/proc/iomem) has a C(Crash kernel) range.
      type: bool
    mem_total_bytes:
      description: MemTotal from C(/proc/meminfo); V(null) when unreadable.
      type: int
    kdump:
      description:
        - C(flavor) (V(debian), V(redhat) or V(null) when kdump is not installed), C(config_path),
          C(config_exists), C(enabled) (V(null) when unknown), C(config) (the static assignments or directives
          read from the config file), C(target) (C(local), C(ssh), C(nfs) or a file system type), C(initrd),
          C(initrd_exists), and C(service) - a dict with C(name), C(state) (C(systemctl is-active) output, or
          V(unknown)) and C(enabled) (C(systemctl is-enabled) output, or V(enabled)/V(disabled) from the tree's
          wants links when C(systemctl) is not asked).
      type: dict
    dump_dir:
      description: Directory the dumps are written to, as seen on the host.
      type: str
      sample: /var/crash
    dump_dir_exists:
      description: Whether C(dump_dir) exists.
      type: bool
    dump_dir_free_bytes:
      description: Free bytes for unprivileged users on the file system of C(dump_dir) (or its nearest existing
        parent); V(null) for a remote target.
      type: int
    dump_space_needed_bytes:
      description: The estimate from the description, in bytes.
      type: int
    dump_space_ok:
      description: Whether C(dump_dir_free_bytes) >= C(dump_space_needed_bytes); V(null) for a remote target.
      type: bool
    dump_space_percent:
      description: The share of MemTotal the estimate used (O(dump_space_percent), or 50 where makedumpfile keeps
        free pages).
      type: float
    makedumpfile:
      description:
        - C(version) of the installed makedumpfile package (Debian family, from the dpkg status file; V(null)
          elsewhere or when it is not installed) and C(excludes_free_pages) (V(false) for makedumpfile before
          1.7.7 on Linux 6.12 or later, V(true) when both are known otherwise, V(null) when unknown).
      type: dict
      sample: {version: 1.7.6, excludes_free_pages: false}
    dumps:
      description:
        - Crash dumps already in C(dump_dir), one per directory, sorted by name (Debian names them by time,
          C(202611252140)). Each has C(name), C(path), C(files), C(size_bytes), C(mtime) (seconds since the
          epoch), C(has_vmcore) (a C(dump.*) or C(vmcore*) file), C(has_dmesg) and C(incomplete).
      type: list
      elements: dict
    netconsole:
      description:
        - C(loaded), C(cmdline) (value of C(netconsole.netconsole=), or else C(netconsole=), on C(/proc/cmdline), or
          V(null)), C(configfs) (whether
          C(/sys/kernel/config/netconsole) exists), C(enabled_targets) and C(targets), each with C(name),
          C(enabled), C(dev_name), C(local_ip), C(local_port), C(remote_ip), C(remote_port), C(remote_mac),
          C(extended), C(release) and C(transmit_errors) (V(null) where the kernel lacks the attribute).
      type: dict
    pstore:
      description:
        - The kernel log kept across a reset without a second machine. C(backend) (C(efi_pstore), C(ramoops), or
          V(null) when none is registered), C(efi) (booted on UEFI), C(records) (what waits in C(/sys/fs/pstore)),
          C(archive_dir) and C(archived) (what systemd-pstore moved to C(/var/lib/systemd/pstore), each with
          C(name), C(path), C(files), C(size_bytes), C(mtime), C(has_dmesg)), C(service) (systemd-pstore's
          C(state) and C(enabled)) and C(crash_kexec_post_notifiers) (whether pstore is written before the crash
          kernel runs).
      type: dict
      version_added: 0.2.0
    console_loglevel:
      description: First field of C(/proc/sys/kernel/printk); V(null) when unreadable.
      type: int
    printk:
      description: The four fields of C(/proc/sys/kernel/printk).
      type: list
      elements: int
    reboot_pending:
      description: Whether a reboot marker exists (C(/run/lastwords/reboot-required), C(/run/reboot-required),
        C(/var/run/reboot-required)).
      type: bool
    reboot_pending_files:
      description: The markers found, as seen on the host.
      type: list
      elements: str
    boot_id:
      description: C(/proc/sys/kernel/random/boot_id), new on every boot (a crash drill compares it); V(null) when
        unreadable.
      type: str
      sample: 0f1c6c1e-6d0a-4bd4-9a8f-3b1e2a4c5d6e
    uptime_seconds:
      description: First field of C(/proc/uptime); V(null) when unreadable.
      type: float
    canary:
      description: With O(canary), what was written - C(text) (the line as written), C(written) (bool),
        C(epoch) (the host's clock just before the write, seconds since the epoch) and C(error) (why it was not
        written, else V(null)). V(null) without O(canary).
      type: dict
ansible_facts:
  description: Facts set by the module.
  returned: always
  type: dict
  contains:
    lastwords_capture:
      description: Same as RV(capture).
      type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.lastwords.panic.plugins.module_utils._cmdline import (
    format_size,
    last_value,
    parse_cmdline,
    parse_crashkernel,
    shell_values,
    values_of,
)
from ansible_collections.lastwords.panic.plugins.module_utils._host import (
    REBOOT_MARKER,
    Tree,
    checked_root,
    mem_total_bytes,
)
from ansible_collections.lastwords.panic.plugins.module_utils._kernel import compare_releases, dpkg_status

DEBIAN_CONFIG = '/etc/default/kdump-tools'
REDHAT_CONFIG = '/etc/kdump.conf'
DEFAULT_DUMP_DIR = '/var/crash'
DPKG_STATUS = '/var/lib/dpkg/status'
# makedumpfile finds free pages on Linux 6.12+ from 1.7.7 on (makedumpfile issue 16); before, level 31 keeps them
FREE_PAGES_FIXED_IN = '1.7.7'
FREE_PAGES_KERNEL = '6.12'
FREE_PAGES_KEPT_PERCENT = 50.0
NETCONSOLE_CONFIGFS = '/sys/kernel/config/netconsole'
PSTORE_BACKEND = '/sys/module/pstore/parameters/backend'
PSTORE_FS = '/sys/fs/pstore'
PSTORE_ARCHIVE = '/var/lib/systemd/pstore'
REBOOT_MARKERS = (REBOOT_MARKER, '/run/reboot-required', '/var/run/reboot-required')
LEVEL_NAMES = ('emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug')
REDHAT_TARGETS = ('ssh', 'nfs', 'raw', 'ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'virtiofs')
MIB = 1024 * 1024


def makedumpfile_facts(tree, flavor, release):
    """``{'version', 'excludes_free_pages'}``: whether dump level 31 can leave free pages out on this kernel.
    Versions and releases are ordered as dpkg orders them (compare_releases, which kernel_boot uses too)."""
    version = None
    if flavor == 'debian':
        status = dpkg_status(tree.read(DPKG_STATUS), ['makedumpfile'])['makedumpfile']
        if status['installed'] and status['version']:
            version = status['version'].split(':', 1)[-1].rsplit('-', 1)[0]  # 1:1.7.6-1 -> 1.7.6
    excludes = None
    if release and compare_releases(release, FREE_PAGES_KERNEL) < 0:
        excludes = True
    elif release and version:
        excludes = compare_releases(version, FREE_PAGES_FIXED_IN) >= 0
    return {'version': version, 'excludes_free_pages': excludes}


def level_phrase(level):
    """'console loglevel 4 only sends err and worse' style wording for console level ``level``."""
    if level <= 0:
        return 'sends nothing'
    worst = LEVEL_NAMES[min(level, len(LEVEL_NAMES)) - 1]
    return 'only sends %s and worse (levels below %d)' % (worst, level)


def effective_crashkernel(values):
    """The crashkernel= value the kernel uses: the last one without a ,high/,low/,cma suffix, else the last
    ,high one (the kernel's own order), else the last one; None when there is none."""
    values = [value or '' for value in values]
    plain = [value for value in values if value.rsplit(',', 1)[-1] not in ('high', 'low', 'cma')]
    high = [value for value in values if value.endswith(',high')]
    for candidates in (plain, high, values):
        if candidates:
            return candidates[-1]
    return None


def read_kdump_config(tree, flavor):
    """``(config_path, exists, values, enabled, dump_dir, target, parse_error)`` for the kdump flavor."""
    if flavor == 'debian':
        text = tree.read(DEBIAN_CONFIG)
        if text is None:
            return DEBIAN_CONFIG, False, {}, None, DEFAULT_DUMP_DIR, {'type': 'local', 'location': None}, None
        try:
            values = dict(shell_values(text))
        except ValueError as exc:
            return DEBIAN_CONFIG, True, {}, None, DEFAULT_DUMP_DIR, {'type': 'local', 'location': None}, str(exc)
        use = values.get('USE_KDUMP', '').strip()
        # kdump-tools' init script runs only when [ "$USE_KDUMP" -ne 0 ]: a non-zero number.
        try:
            enabled = int(use) != 0
        except ValueError:
            enabled = False
        target = {'type': 'local', 'location': None}
        if values.get('SSH'):
            target = {'type': 'ssh', 'location': values['SSH']}
        elif values.get('NFS'):
            target = {'type': 'nfs', 'location': values['NFS']}
        return DEBIAN_CONFIG, True, values, enabled, values.get('KDUMP_COREDIR') or DEFAULT_DUMP_DIR, target, None
    if flavor == 'redhat':
        text = tree.read(REDHAT_CONFIG)
        if text is None:
            return REDHAT_CONFIG, False, {}, None, DEFAULT_DUMP_DIR, {'type': 'local', 'location': None}, None
        values = {}
        target = {'type': 'local', 'location': None}
        for line in text.splitlines():
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            parts = line.split(None, 1)
            directive, value = parts[0], (parts[1].strip() if len(parts) > 1 else '')
            values[directive] = value
            if directive in REDHAT_TARGETS:
                target = {'type': directive, 'location': value}
        return REDHAT_CONFIG, True, values, True, values.get('path') or DEFAULT_DUMP_DIR, target, None
    return None, False, {}, None, DEFAULT_DUMP_DIR, {'type': 'local', 'location': None}, None


def service_state(module, tree, name):
    """``{'name', 'state', 'enabled'}``; systemctl only on the real root or when given explicitly."""
    info = {'name': name, 'state': 'unknown', 'enabled': None}
    if name is None:
        return info
    binary = module.params['systemctl']
    if binary is None and tree.root == '/':
        binary = module.get_bin_path('systemctl')
    if binary:
        env = {'LC_ALL': 'C'}
        rc, out, _err = module.run_command([binary, 'is-active', name], environ_update=env)
        lines = out.strip().splitlines()
        info['state'] = lines[0].strip() if lines else ('active' if rc == 0 else 'unknown')
        rc, out, _err = module.run_command([binary, 'is-enabled', name], environ_update=env)
        lines = out.strip().splitlines()
        info['enabled'] = lines[0].strip() if lines else None
        return info
    for wants in tree.listdir('/etc/systemd/system'):
        if wants.endswith('.wants') and tree.exists('/etc/systemd/system/%s/%s.service' % (wants, name)):
            info['enabled'] = 'enabled'
            break
    else:
        info['enabled'] = 'disabled'
    return info


def free_bytes(tree, directory):
    """Free bytes (for unprivileged users) of the file system holding ``directory`` or its nearest parent."""
    path = tree.path(directory)
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def list_dumps(tree, dump_dir):
    dumps = []
    for name in tree.listdir(dump_dir):
        host_path = os.path.join(dump_dir, name)
        if not tree.isdir(host_path) or os.path.islink(tree.path(host_path)):
            continue
        files = tree.listdir(host_path)
        size = 0
        for entry in files:
            try:
                size += os.lstat(os.path.join(tree.path(host_path), entry)).st_size
            except OSError:
                pass
        incomplete = any('incomplete' in entry for entry in files)
        dumps.append({
            'name': name,
            'path': host_path,
            'files': files,
            'size_bytes': size,
            'mtime': int(os.stat(tree.path(host_path)).st_mtime),
            'has_vmcore': any((entry.startswith('dump.') or entry.startswith('vmcore'))
                              and 'dmesg' not in entry and 'incomplete' not in entry for entry in files),
            'has_dmesg': any('dmesg' in entry for entry in files),
            'incomplete': incomplete,
        })
    return dumps


def _pstore_record(tree, name, path):
    is_dir = tree.isdir(path)
    files = tree.listdir(path) if is_dir else [name]
    size = 0
    for entry in files:
        try:
            size += os.lstat(tree.path(path + '/' + entry if is_dir else path)).st_size
        except OSError:
            pass
    try:
        mtime = int(os.stat(tree.path(path)).st_mtime)
    except OSError:
        mtime = None
    return {'name': name, 'path': path, 'files': files, 'size_bytes': size, 'mtime': mtime,
            'has_dmesg': any(entry.startswith('dmesg') for entry in files)}


def read_pstore(module, tree):
    """pstore, the kernel log kept across a reset with no second machine: the backend the kernel registered
    (efi_pstore, ramoops; ``(null)`` is none), records waiting in /sys/fs/pstore, and what systemd-pstore archived
    in /var/lib/systemd/pstore.

    systemd-pstore archives an EFI record as ``<time stamp>/<count>/`` (the record's parts, ``dmesg-efi_pstore-*``,
    and ``dmesg.txt``, the parts joined): each such directory is one record, named ``<time stamp>-<count>``. A dump
    written over a second's boundary becomes two. Other backends (and systemd before 252) give one directory per
    record, with dmesg.txt, or single files."""
    backend = tree.line(PSTORE_BACKEND)
    archived = []
    for name in tree.listdir(PSTORE_ARCHIVE):
        path = '%s/%s' % (PSTORE_ARCHIVE, name)
        counts = [entry for entry in tree.listdir(path) if entry.isdigit() and tree.isdir(path + '/' + entry)] \
            if tree.isdir(path) else []
        if counts:
            for count in counts:
                archived.append(_pstore_record(tree, '%s-%s' % (name, count), '%s/%s' % (path, count)))
        else:
            archived.append(_pstore_record(tree, name, path))
    return {
        'backend': None if backend in (None, '', '(null)') else backend,
        'efi': tree.isdir('/sys/firmware/efi'),
        'records': tree.listdir(PSTORE_FS),
        'archive_dir': PSTORE_ARCHIVE,
        'archived': sorted(archived, key=lambda record: record['name']),
        'service': service_state(module, tree, 'systemd-pstore'),
        'crash_kexec_post_notifiers': tree.line('/sys/module/kernel/parameters/crash_kexec_post_notifiers') == 'Y',
    }


def read_netconsole(tree, pairs):
    targets = []
    for name in tree.listdir(NETCONSOLE_CONFIGFS):
        base = '%s/%s' % (NETCONSOLE_CONFIGFS, name)
        if not tree.isdir(base):
            continue
        enabled = tree.line(base + '/enabled')
        extended = tree.line(base + '/extended')
        targets.append({
            'name': name,
            'enabled': enabled == '1',
            'dev_name': tree.line(base + '/dev_name'),
            'local_ip': tree.line(base + '/local_ip'),
            'local_port': tree.integer(base + '/local_port'),
            'remote_ip': tree.line(base + '/remote_ip'),
            'remote_port': tree.integer(base + '/remote_port'),
            'remote_mac': tree.line(base + '/remote_mac'),
            'extended': None if extended is None else extended == '1',
            'release': None if tree.line(base + '/release') is None else tree.line(base + '/release') == '1',
            'transmit_errors': tree.integer(base + '/transmit_errors'),
        })
    # netconsole built as a module (Debian, Ubuntu, Fedora) takes its boot targets from netconsole.netconsole= (what
    # the netconsole role writes); a built-in netconsole from netconsole=
    present, value = last_value(pairs, 'netconsole.netconsole')
    if not present:
        present, value = last_value(pairs, 'netconsole')
    return {
        'loaded': tree.isdir('/sys/module/netconsole'),
        'configfs': tree.isdir(NETCONSOLE_CONFIGFS),
        'cmdline': value if present else None,
        'targets': targets,
        'enabled_targets': len([target for target in targets if target['enabled']]),
    }


def gather(module, tree):
    params = module.params
    facts = {'root': tree.root}
    cmdline = tree.line('/proc/cmdline')
    pairs = parse_cmdline(cmdline or '')
    facts['cmdline'] = cmdline
    release = tree.line('/proc/sys/kernel/osrelease')
    if release is None and tree.root == '/':
        release = os.uname()[2]
    facts['kernel_release'] = release

    facts['crashkernel'] = effective_crashkernel(values_of(pairs, 'crashkernel'))
    facts['crash_size'] = tree.integer('/sys/kernel/kexec_crash_size')
    facts['_crash_loaded_raw'] = tree.line('/sys/kernel/kexec_crash_loaded')
    facts['crash_loaded'] = facts['_crash_loaded_raw'] == '1'
    iomem = tree.read('/proc/iomem')
    facts['iomem_crash_kernel'] = bool(iomem) and any(
        line.split(':', 1)[-1].strip() == 'Crash kernel' for line in iomem.splitlines())
    facts['mem_total_bytes'] = mem_total_bytes(tree.root)

    flavor = None
    if tree.exists(DEBIAN_CONFIG) or tree.exists('/usr/sbin/kdump-config'):
        flavor = 'debian'
    elif tree.exists(REDHAT_CONFIG) or tree.exists('/usr/bin/kdumpctl') or tree.exists('/usr/sbin/kdumpctl'):
        flavor = 'redhat'
    config_path, config_exists, values, enabled, dump_dir, target, parse_error = read_kdump_config(tree, flavor)
    service = params['service_name']
    if service == 'auto':
        service = {'debian': 'kdump-tools', 'redhat': 'kdump'}.get(flavor)
    initrd = None
    if release:
        if flavor == 'redhat':
            initrd = '/boot/initramfs-%skdump.img' % release
        elif flavor == 'debian':
            initrd = values.get('KDUMP_INITRD') or '/var/lib/kdump/initrd.img-%s' % release
    facts['kdump'] = {
        'flavor': flavor,
        'config_path': config_path,
        'config_exists': config_exists,
        'config': values,
        'enabled': enabled,
        'target': target,
        'initrd': initrd,
        'initrd_exists': bool(initrd) and tree.exists(initrd),
        'service': service_state(module, tree, service),
    }

    facts['dump_dir'] = dump_dir
    facts['dump_dir_exists'] = tree.isdir(dump_dir)
    remote = target['type'] in ('ssh', 'nfs', 'raw')
    facts['makedumpfile'] = makedumpfile_facts(tree, flavor, release)
    percent = params['dump_space_percent']
    if facts['makedumpfile']['excludes_free_pages'] is False:
        percent = max(percent, FREE_PAGES_KEPT_PERCENT)
    facts['dump_space_percent'] = percent
    needed = max(params['dump_space_min_mb'] * MIB, int((facts['mem_total_bytes'] or 0) * percent / 100))
    facts['dump_space_needed_bytes'] = needed
    facts['dump_dir_free_bytes'] = None if remote else free_bytes(tree, dump_dir)
    free = facts['dump_dir_free_bytes']
    facts['dump_space_ok'] = None if free is None else free >= needed
    facts['dumps'] = [] if remote else list_dumps(tree, dump_dir)

    facts['netconsole'] = read_netconsole(tree, pairs)
    facts['pstore'] = read_pstore(module, tree)
    printk = (tree.line('/proc/sys/kernel/printk') or '').split()
    try:
        facts['printk'] = [int(field) for field in printk]
    except ValueError:
        facts['printk'] = []
    facts['console_loglevel'] = facts['printk'][0] if facts['printk'] else None
    markers = [marker for marker in REBOOT_MARKERS if tree.exists(marker)]
    facts['reboot_pending_files'] = markers
    facts['reboot_pending'] = bool(markers)
    facts['boot_id'] = tree.line('/proc/sys/kernel/random/boot_id')
    uptime = (tree.line('/proc/uptime') or '').split()
    try:
        facts['uptime_seconds'] = float(uptime[0])
    except (IndexError, ValueError):
        facts['uptime_seconds'] = None
    facts['_pairs'] = pairs
    facts['_ignore_loglevel_param'] = tree.line('/sys/module/printk/parameters/ignore_loglevel')
    facts['_config_error'] = parse_error
    return facts


def kdump_problems(facts, params):
    problems = []
    kdump = facts['kdump']
    if kdump['flavor'] is None:
        problems.append('kdump is not installed (neither %s nor %s exists)' % (DEBIAN_CONFIG, REDHAT_CONFIG))
    elif not kdump['config_exists']:
        problems.append('kdump configuration %s is missing' % kdump['config_path'])
    elif facts['_config_error']:
        problems.append('kdump configuration %s cannot be read statically: %s'
                        % (kdump['config_path'], facts['_config_error']))
    elif kdump['enabled'] is False:
        problems.append('kdump is disabled: USE_KDUMP=%s in %s (kdump-tools loads nothing unless it is 1)'
                        % (kdump['config'].get('USE_KDUMP', ''), kdump['config_path']))

    crashkernel = facts['crashkernel']
    crash_size = facts['crash_size']
    if crashkernel is None:
        problems.append('no crashkernel reserved (crashkernel= missing from /proc/cmdline)')
    else:
        try:
            parse_crashkernel(crashkernel)
            syntax_error = None
        except ValueError as exc:
            syntax_error = str(exc)
        if syntax_error:
            problems.append('crashkernel=%s on /proc/cmdline is not valid: %s' % (crashkernel, syntax_error))
        elif not crash_size:
            problems.append('crashkernel=%s is on /proc/cmdline but no memory is reserved '
                            '(/sys/kernel/kexec_crash_size is %s): no range matches this RAM size, or the '
                            'reservation failed (see dmesg)' % (crashkernel, 'missing' if crash_size is None else 0))
        elif not facts['iomem_crash_kernel']:
            problems.append('/proc/iomem has no "Crash kernel" range although /sys/kernel/kexec_crash_size is %d'
                            % crash_size)

    loaded = facts['_crash_loaded_raw']
    if loaded is None:
        problems.append('crash kernel not loaded (/sys/kernel/kexec_crash_loaded is missing: a kernel without '
                        'kexec support?)')
    elif loaded != '1':
        problems.append('crash kernel not loaded (/sys/kernel/kexec_crash_loaded is %s)' % loaded)

    service = kdump['service']
    if service['name']:
        if service['state'] == 'unknown':
            if service['enabled'] not in ('enabled', 'enabled-runtime', 'static', 'alias', 'indirect', 'generated'):
                problems.append('kdump service %s is not enabled in %s (no .wants link), and its state is not '
                                'asked under a root other than /' % (service['name'], facts['root']))
        elif service['state'] != 'active':
            problems.append('kdump service %s is not active (%s)' % (service['name'], service['state']))

    if kdump['initrd'] and not kdump['initrd_exists']:
        problems.append('kdump initrd %s for the running kernel is missing (the kdump service builds it when it '
                        'starts)' % kdump['initrd'])

    if facts['dump_space_ok'] is False:
        mem = facts['mem_total_bytes']
        problems.append('dump directory %s has %s free, needs ~%s (%g%% of %s RAM, at least %d MiB)'
                        % (facts['dump_dir'], format_size(facts['dump_dir_free_bytes']),
                           format_size(facts['dump_space_needed_bytes']), facts['dump_space_percent'],
                           format_size(mem) if mem else 'unknown', params['dump_space_min_mb']))
    elif facts['dump_space_ok'] is None and kdump['target']['type'] not in ('ssh', 'nfs', 'raw'):
        problems.append('free space of dump directory %s is unknown (statvfs failed)' % facts['dump_dir'])
    return problems


def netconsole_problems(facts, params):
    problems = []
    netconsole = facts['netconsole']
    if not netconsole['loaded']:
        problems.append('netconsole module not loaded (/sys/module/netconsole is missing)')
    if not netconsole['enabled_targets'] and not netconsole['cmdline']:
        if netconsole['targets']:
            problems.append('no enabled netconsole target (%s in %s, all with enabled=0)'
                            % (', '.join(target['name'] for target in netconsole['targets']), NETCONSOLE_CONFIGFS))
        else:
            problems.append('no enabled netconsole target (nothing in %s and no netconsole= on /proc/cmdline)'
                            % NETCONSOLE_CONFIGFS)
    printk = facts['printk']
    ignore = last_value(facts['_pairs'], 'ignore_loglevel')[0] or \
        (facts['_ignore_loglevel_param'] or '').upper() in ('Y', '1')
    if not printk:
        problems.append('console loglevel unknown (/proc/sys/kernel/printk is missing or unreadable)')
    elif not ignore:
        minimum = params['min_console_loglevel']
        if minimum is None:
            minimum = (printk[1] if len(printk) > 1 else 4) + 1
        if printk[0] < minimum:
            problems.append('console loglevel %d %s; oops traces need at least %d (sysctl kernel.printk or '
                            'dmesg -n %d)' % (printk[0], level_phrase(printk[0]), minimum, max(minimum, 8)))
    return problems


def write_canary(tree, text):
    """Write one line to the kernel log; the host's clock just before the write is the start of delivery."""
    line = 'lastwords: %s' % text
    result = {'text': line, 'written': False, 'epoch': time.time(), 'error': None}
    try:
        # /dev/kmsg takes one record per write(); <4> is KERN_WARNING, the level of an oops's call trace.
        # os.open, not open(..., 'a'): Python's append mode seeks to the end, which /dev/kmsg refuses (EINVAL).
        fd = os.open(tree.path('/dev/kmsg'), os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, to_bytes('<4>%s\n' % line))
        finally:
            os.close(fd)
        result['written'] = True
    except (IOError, OSError) as exc:
        result['error'] = to_native(exc)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type='path', default='/'),
            require_kdump=dict(type='bool', default=True),
            require_netconsole=dict(type='bool', default=True),
            service_name=dict(type='str', default='auto'),
            systemctl=dict(type='path'),
            min_console_loglevel=dict(type='int'),
            dump_space_percent=dict(type='float', default=5.0),
            dump_space_min_mb=dict(type='int', default=64),
            canary=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    root = checked_root(module, params['root'])
    if params['dump_space_percent'] < 0 or params['dump_space_min_mb'] < 0:
        module.fail_json(msg='dump_space_percent and dump_space_min_mb must not be negative')
    if params['systemctl'] is not None and not os.access(params['systemctl'], os.X_OK):
        module.fail_json(msg='systemctl=%s is not an executable file' % params['systemctl'])
    canary = params['canary']
    if canary is not None and (not canary or len(canary) > 200 or not all(32 <= ord(c) < 127 for c in canary)):
        module.fail_json(msg='canary must be 1 to 200 printable ASCII characters without newlines, got %r' % canary)
    tree = Tree(root)
    try:
        facts = gather(module, tree)
    except (IOError, OSError) as exc:  # a race with a vanishing file; report it rather than a traceback
        module.fail_json(msg='reading the capture state under %s failed: %s' % (root, to_native(exc)))

    problems = []
    if params['require_kdump']:
        problems.extend(kdump_problems(facts, params))
        tool = facts['makedumpfile']
        if tool['excludes_free_pages'] is False:
            module.warn('makedumpfile %s does not recognise free pages on kernel %s (fixed in %s): dumps keep them, '
                        'so the dump directory should have %g%% of RAM free; install makedumpfile %s or later '
                        'when your release has it' % (tool['version'], facts['kernel_release'], FREE_PAGES_FIXED_IN,
                                                      facts['dump_space_percent'], FREE_PAGES_FIXED_IN))
    if params['require_netconsole']:
        problems.extend(netconsole_problems(facts, params))
    capture = dict((key, value) for key, value in facts.items() if not key.startswith('_'))
    capture['problems'] = problems
    capture['armed'] = not problems
    capture['canary'] = write_canary(tree, canary) if canary is not None else None
    module.exit_json(changed=False, capture=capture, ansible_facts={'lastwords_capture': capture})


if __name__ == '__main__':
    main()
