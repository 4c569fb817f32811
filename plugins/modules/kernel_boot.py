#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kernel_boot
short_description: Boot an installed kernel once on trial, then make it the boot loader's default
version_added: 0.1.0
description:
  - Reads which kernels are installed, which one runs and which one GRUB boots by default
    (O(state=query), read-only); prepares a one-time trial boot of another kernel (O(state=trial)); and after the
    reboot confirms the host runs it and makes it the default (O(state=pinned)).
  - "The trial entry is a copy of the kernel's own menu entry with C(panic=<seconds>) (and O(trial_args)) added,
    id C(lastwords-trial). On Debian and Ubuntu (O(bootloader=grub-debian)) it is written by a script,
    C(/etc/grub.d/42_lastwords_trial), so C(grub-mkconfig) puts it at the end of C(grub.cfg); on the RHEL family
    (O(bootloader=grubby)) it is a Boot Loader Specification file, C(/boot/loader/entries/lastwords-trial.conf).
    The module sets C(next_entry=lastwords-trial) in the GRUB environment block, which is what C(grub-reboot)
    does: GRUB boots that entry once and clears C(next_entry) as it does so, so the boot after it - also the one a
    panicking trial kernel causes after C(panic=) seconds - is the saved default again."
  - "The default is C(GRUB_DEFAULT=saved) (a drop-in, C(/etc/default/grub.d/zz-lastwords-kernel.cfg), so
    C(/etc/default/grub) is not edited) and C(saved_entry) in the environment block, which is what
    C(grub-set-default) and C(grubby --set-default) write. Before a trial the saved entry is the running kernel's,
    which is known to boot; after a confirmed trial it is the new kernel's own entry (never the floating first
    entry that follows the newest kernel), so installing newer kernels later does not move the default on."
  - "With systemd-boot (O(bootloader=systemd-boot)) the trial entry is a copy of the kernel's own type #1 entry,
    C(lastwords-trial.conf) in the same C(loader/entries) directory, with the trial's title and C(panic=) added.
    C(bootctl set-default) first makes the running kernel's entry the default (the EFI variable
    C(LoaderEntryDefault)), then C(bootctl set-oneshot lastwords-trial.conf) (C(LoaderEntryOneShot)); systemd-boot
    removes the one-shot variable as it boots the entry, so the boot after it is the default again. O(state=pinned)
    sets the default to the kernel's own entry and removes the trial entry."
  - With O(hold), O(state=pinned) also holds the kernel's package (C(apt-mark hold)) and releases the hold this
    module placed on an earlier pinned kernel; on the RHEL family it sets C(UPDATEDEFAULT=no) in
    C(/etc/sysconfig/kernel).
  - The trial is refused where GRUB cannot clear C(next_entry) at boot (its environment block on LVM, RAID,
    encrypted or btrfs/zfs storage, per C(grub-probe)), because there a panicking trial kernel would be booted
    again and again.
author:
  - lastwords developers (!UNKNOWN)  # the project has no GitHub handle yet; ansible-test wants one or this
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details: Computes and returns what would change (files, environment block, holds) without writing anything
      or running C(grub-mkconfig) or C(apt-mark).
  diff_mode:
    support: full
    details: Before and after text of the trial entry file, the drop-in and the environment block variables.
options:
  state:
    description:
      - V(query) reads only. V(trial) prepares the next boot. V(pinned) confirms the running kernel is O(release)
        and makes it the default; when another kernel runs (the trial failed), it removes the trial entry, leaves
        the default alone and returns RV(confirmed=false) without failing.
    type: str
    choices: [query, trial, pinned]
    default: query
  release:
    description:
      - A kernel release as C(uname -r) prints it, or V(previous) for the newest installed kernel of the running
        kernel's flavour that is older than the running one. Required for V(trial) and V(pinned).
    type: str
  panic:
    description: Seconds after a panic before the trial kernel resets itself (its C(panic=) argument); more than 0.
    type: int
    default: 10
  trial_args:
    description:
      - More kernel arguments for the trial entry only (C(name) or C(name=value)), replacing arguments of the same
        name. For tests, C(init=/bin/false) makes the trial kernel panic at boot.
    type: list
    elements: str
    default: []
  hold:
    description: With O(state=pinned), hold the kernel's package and release the previous hold this module placed.
    type: bool
    default: true
  root:
    description:
      - Directory that every path is taken under. For tests and images. With a root other than V(/), commands
        are run only when their path is given (O(grub_mkconfig), O(grub_probe), O(apt_mark), O(apt_cache)).
    type: path
    default: /
  bootloader:
    description:
      - V(auto) reads what booted the host, as M(lastwords.panic.kernel_cmdline) does.
      - A trial boot works with V(grub-debian), V(grubby) and V(systemd-boot) (C(bootctl set-oneshot)).
        V(proxmox-boot-tool) is refused before any change, because its C(kernel pin --next-boot) changes the
        default until the host reaches multi-user.target (a trial kernel that panics at boot would be booted again
        and again), and so is V(cmdline-txt), because the Raspberry Pi firmware has no one-time entry.
    type: str
    choices: [auto, grub-debian, grubby, systemd-boot, proxmox-boot-tool, cmdline-txt]
    default: auto
  grub_cfg:
    description:
      - The generated GRUB configuration. Default C(/boot/grub/grub.cfg), or C(/boot/grub2/grub.cfg) with grubby.
    type: path
  grubenv:
    description: The GRUB environment block. Default C(grubenv) next to O(grub_cfg).
    type: path
  grub_mkconfig:
    description: Path of C(grub-mkconfig) (grub-debian). Default from E(PATH).
    type: path
  grub_probe:
    description: Path of C(grub-probe) (C(grub2-probe)). Default from E(PATH); without it the storage check is skipped.
    type: path
  apt_mark:
    description: Path of C(apt-mark). Default from E(PATH).
    type: path
  bootctl:
    description: Path of C(bootctl) (systemd-boot). Default from E(PATH); required with a O(root) other than V(/).
    type: path
  apt_cache:
    description: Path of C(apt-cache), asked for an install candidate when O(release) is not installed.
    type: path
notes:
  - Commands run with E(LC_ALL=C). C(grub-mkconfig) writes C(<grub_cfg>.new), which replaces O(grub_cfg) only when
    it succeeded and holds what was expected.
  - What the module pinned is recorded in C(/var/lib/lastwords/kernel.json).
seealso:
  - module: lastwords.panic.kernel_cmdline
  - module: lastwords.panic.capture_facts
"""

EXAMPLES = r"""
- name: Which kernel would "previous" be, and is it installed?
  lastwords.panic.kernel_boot:
    release: previous
  register: lastwords_kernel_query

- name: Boot 6.1.0-47-amd64 once, resetting after 10 s if it panics
  lastwords.panic.kernel_boot:
    state: trial
    release: 6.1.0-47-amd64
    panic: 10

- name: Reboot into the trial
  ansible.builtin.reboot:

- name: Make it the default if it came up, and hold its package
  lastwords.panic.kernel_boot:
    state: pinned
    release: 6.1.0-47-amd64
  register: lastwords_kernel_pin

- name: Fail when the trial kernel did not come up
  ansible.builtin.fail:
    msg: "{{ lastwords_kernel_pin.message }}"
  when: not lastwords_kernel_pin.confirmed
"""

RETURN = r"""
changed:
  description: Whether anything changed (or would in check mode).
  returned: always
  type: bool
bootloader:
  description: V(grub-debian) or V(grubby).
  returned: always
  type: str
family:
  description: V(debian) or V(redhat) (package naming and holds).
  returned: always
  type: str
machine:
  description: The running machine (C(uname -m)).
  returned: always
  type: str
  sample: x86_64
running:
  description: The running kernel's release.
  returned: always
  type: str
  sample: 6.1.0-56-amd64
installed:
  description: Installed kernel releases (a C(/boot/vmlinuz-<release>) exists), oldest first.
  returned: always
  type: list
  elements: str
requested:
  description: O(release) as given.
  returned: always
  type: str
release:
  description: The release O(release) stands for (V(previous) resolved); V(null) when it cannot be resolved.
  returned: always
  type: str
problem:
  description: Why O(release) cannot be used, as the end of a sentence that starts with the release; else V(null).
  returned: always
  type: str
  sample: is built for aarch64, but this host is x86_64
target_installed:
  description: Whether RV(release) is installed.
  returned: always
  type: bool
package:
  description: The package that ships RV(release).
  returned: always
  type: str
  sample: linux-image-6.1.0-47-amd64
package_held:
  description: Whether that package is held.
  returned: always
  type: bool
candidate:
  description: Version apt would install for RV(package) when it is not installed; V(null) when none (or not asked).
  returned: always
  type: str
default:
  description:
    - What GRUB boots without a one-time entry. C(mode) (V(saved) or V(fixed)), C(value) (the saved entry or the
      fixed value from grub.cfg), C(path) and C(title) of the entry it selects, C(release) of its kernel.
  returned: always
  type: dict
next_entry:
  description: The one-time entry in the environment block, or V(null).
  returned: always
  type: str
trial_present:
  description: Whether a trial entry file exists.
  returned: always
  type: bool
entries:
  description: The kernel menu entries (C(path), C(title), C(release), C(recovery)).
  returned: always
  type: list
  elements: dict
trial_entry:
  description: The trial entry as written (grub.cfg text or BLS file), with O(state=trial).
  returned: when state is trial
  type: str
reboot_required:
  description: With O(state=trial), true (the trial happens at the next boot).
  returned: always
  type: bool
confirmed:
  description: With O(state=pinned), whether the running kernel is RV(release) and is now the default.
  returned: always
  type: bool
message:
  description: One sentence on what happened (or would happen in check mode); on a failed trial, what came up.
  returned: always
  type: str
"""

import fnmatch
import json
import os
import re
from collections import OrderedDict

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lastwords.panic.plugins.module_utils._bootloader import (
    BOOTLOADERS,
    LC_ENV,
    detect,
    efi_variable,
    entry_dirs,
    entry_options,
    grub_mkconfig,
    with_options,
)
from ansible_collections.lastwords.panic.plugins.module_utils._cmdline import (
    edit_cmdline,
    parse_shell_assignments,
    parse_token,
    validate_arg,
)
from ansible_collections.lastwords.panic.plugins.module_utils._host import (
    checked_root,
    host_tool,
    read_text,
    remove,
    sync_reboot_marker,
    under,
    write_atomic,
)
from ansible_collections.lastwords.panic.plugins.module_utils._kernel import (
    PREVIOUS,
    TRIAL_ID,
    TRIAL_TITLE_PREFIX,
    apt_candidate,
    choose_previous,
    dpkg_status,
    grubenv_comments,
    package_name,
    parse_bls,
    parse_grub_cfg,
    parse_grubenv,
    release_entry,
    release_problem,
    render_bls,
    render_grubenv,
    render_trial_script,
    resolve_default,
    sort_releases,
    split_release,
    valid_release,
)

TRIAL_SCRIPT = '/etc/grub.d/42_lastwords_trial'
DEFAULT_DROPIN = '/etc/default/grub.d/zz-lastwords-kernel.cfg'
DEFAULT_DROPIN_TEXT = ('# Managed by Ansible (lastwords.panic.kernel_boot). GRUB boots the saved entry '
                       '(grub-set-default), so\n# installing a newer kernel does not move the default on.\n'
                       'GRUB_DEFAULT=saved\n')
BLS_DIR = '/boot/loader/entries'
BLS_TRIAL = BLS_DIR + '/' + TRIAL_ID + '.conf'
SYSCONFIG_KERNEL = '/etc/sysconfig/kernel'
STATE_FILE = '/var/lib/lastwords/kernel.json'
DPKG_STATUS = '/var/lib/dpkg/status'
DPKG_INFO = '/var/lib/dpkg/info'
MARKER_TAG = 'lastwords.panic.kernel_boot'
# the boot loaders this module can boot a kernel once on, and why each other one is refused before any change
TRIAL_LOADERS = ('grub-debian', 'grubby', 'systemd-boot')
NO_TRIAL = {
    'proxmox-boot-tool': 'proxmox-boot-tool kernel pin --next-boot is not a one-time boot: it changes the default '
                         '(loader.conf or GRUB_DEFAULT) and a service reverts it only once the host reaches '
                         'multi-user.target, so a trial kernel that panics at boot would be booted again and '
                         'again; pin the kernel by hand (proxmox-boot-tool kernel pin) with a console at hand',
    'cmdline-txt': 'the Raspberry Pi firmware boots the one kernel its config.txt names, with no menu and no '
                   'one-time entry, so a kernel cannot be tried once and fall back by itself',
}
# file systems GRUB's save_env can rewrite in place; abstractions it cannot write through
WRITABLE_FS = ('ext2', 'xfs', 'fat', 'ntfs', 'hfsplus', 'jfs', 'reiserfs')
UNWRITABLE_ABSTRACTIONS = ('lvm', 'diskfilter', 'mdraid', 'raid', 'cryptodisk', 'luks', 'geli', 'zfs')


class Boot(object):
    """What the host boots: read once, then changed through the methods below."""

    def __init__(self, module, root):
        self.module = module
        params = module.params
        self.root = root
        try:
            self.bootloader = bootloader = detect(self.root, params['bootloader'])
        except ValueError as exc:
            module.fail_json(msg='bootloader=auto: %s' % exc)
        if bootloader not in TRIAL_LOADERS:
            module.fail_json(msg='bootloader %s: %s; nothing was changed' % (bootloader, NO_TRIAL[bootloader]),
                             bootloader=bootloader)
        self.family = 'redhat' if bootloader == 'grubby' else 'debian'
        self.sdboot = bootloader == 'systemd-boot'
        self.grub_cfg = params['grub_cfg'] or ('/boot/grub2/grub.cfg' if self.family == 'redhat'
                                               else '/boot/grub/grub.cfg')
        self.grubenv = params['grubenv'] or os.path.join(os.path.dirname(self.grub_cfg), 'grubenv')
        self.changes = []
        self.diff = {'before': {}, 'after': {}}
        self.read()

    # -- reading ----------------------------------------------------------------------------------------
    def path(self, path):
        return under(self.root, path)

    def tool(self, option, name, required=True):
        return host_tool(self.module, self.root, option, name, required)

    def read(self):
        machine_file = read_text(self.path('/proc/sys/kernel/arch'))
        self.machine = machine_file.strip() if machine_file else os.uname()[4]
        running = read_text(self.path('/proc/sys/kernel/osrelease'))
        self.running = running.strip() if running else (os.uname()[2] if self.root == '/' else None)
        if not self.running:
            self.module.fail_json(msg='cannot read the running kernel release (/proc/sys/kernel/osrelease)')
        try:
            names = os.listdir(self.path('/boot'))
        except OSError:
            names = []
        self.installed = sort_releases([name[len('vmlinuz-'):] for name in names
                                        if name.startswith('vmlinuz-') and valid_release(name[len('vmlinuz-'):])])
        self.env_text = None if self.sdboot else read_text(self.path(self.grubenv))
        self.env = parse_grubenv(self.env_text)
        if self.sdboot:
            self.entries = [entry for directory in entry_dirs(self.root) for entry in self.read_bls(directory, True)]
            self.cfg_text = None
            self.default_mode = 'efi'
            self.default_value = efi_variable(self.root, 'LoaderEntryDefault') or self.loader_conf_default()
            # the one-time entry, as systemd-boot reads it (it removes the variable when it boots the entry)
            self.env = {'next_entry': efi_variable(self.root, 'LoaderEntryOneShot')}
        elif self.family == 'redhat':
            self.entries = self.read_bls()
            self.cfg_text = None
            self.default_mode = 'saved'
            self.default_value = self.env.get('saved_entry')
        else:
            self.cfg_text = read_text(self.path(self.grub_cfg))
            self.entries = parse_grub_cfg(self.cfg_text)
            self.default_mode, self.default_value = self.cfg_default(self.cfg_text)
        if self.sdboot:
            # next to the entry it copies: the entry's linux and initrd paths are on that entry's partition
            self.trial_file = next((e['file'] for e in self.entries if e['id'] == TRIAL_ID), None)
        else:
            self.trial_file = TRIAL_SCRIPT if self.family == 'debian' else BLS_TRIAL
        self.trial_text = read_text(self.path(self.trial_file)) if self.trial_file else None
        state = read_text(self.path(STATE_FILE))
        try:
            self.state = json.loads(state) if state else {}
        except ValueError:
            self.state = {}

    def read_bls(self, directory=BLS_DIR, sdboot=False):
        """Type #1 entries of ``directory``. grubby names an entry by its file name without ``.conf``; systemd-boot
        (``sdboot``) by the whole file name, boot counter (``+3-0``) included, as bootctl lists it and as
        ``LoaderEntryDefault`` and ``LoaderEntryOneShot`` take it. ``id`` is the name without suffix or counter."""
        entries = []
        try:
            names = sorted(os.listdir(self.path(directory)))
        except OSError:
            return entries
        for name in names:
            if not name.endswith('.conf'):
                continue
            text = read_text(os.path.join(self.path(directory), name)) or ''
            values = parse_bls(text)
            ident = name[:-len('.conf')]
            if sdboot:  # systemd-boot's boot counter is not part of what the entry is
                ident = re.sub(r'\+[0-9]+(-[0-9]+)?$', '', ident)
            linux = values.get('linux', '')
            if sdboot and not linux:
                continue  # not a Linux entry (a unified kernel image, or EFI shell)
            base = linux.rsplit('/', 1)[-1]
            release = values.get('version') or (base[len('vmlinuz-'):] if base.startswith('vmlinuz-') else None)
            if sdboot:
                values['options'] = entry_options(text)
            entries.append({'title': values.get('title', ident), 'id': ident,
                            'path': name if sdboot else ident, 'submenu': None,
                            'file': directory + '/' + name, 'dir': directory,
                            'kernel': linux, 'release': release, 'args': values.get('options', ''),
                            'initrd': [values.get('initrd', '')], 'top_index': len(entries),
                            'recovery': 'rescue' in ident or 'rescue' in values.get('title', '').lower(),
                            'lines': text.splitlines(), 'bls': values})
        return entries

    def menu(self):
        """Where the boot menu is, for messages."""
        if self.sdboot:
            return ' and '.join(entry_dirs(self.root)) or 'no loader/entries directory on /efi, /boot or /boot/efi'
        return self.grub_cfg

    def remake(self):
        """How the user rebuilds the menu, for messages."""
        if self.sdboot:
            return 'install the kernel\'s entry (kernel-install add <release> /boot/vmlinuz-<release>)'
        return 'regenerate it (update-grub)'

    def loader_conf_default(self):
        """``default`` of loader.conf on the ESP (a glob systemd-boot matches against entry ids), or None."""
        for directory in entry_dirs(self.root):
            text = read_text(self.path(directory.rsplit('/', 1)[0] + '/loader.conf')) or ''
            for line in text.splitlines():
                words = line.split(None, 1)
                if len(words) == 2 and words[0] == 'default':
                    return words[1].strip()
        return None

    def sdboot_default(self):
        """The entry systemd-boot boots without a one-time entry: the default's glob, else the first entry in its
        own order (newest version first; the trial entry is never a default)."""
        usable = [e for e in self.entries if e['id'] != TRIAL_ID]
        if self.default_value:
            for entry in usable:
                if fnmatch.fnmatchcase(entry['path'], self.default_value) or \
                        fnmatch.fnmatchcase(entry['id'], self.default_value):
                    return entry
        newest = sort_releases([e['release'] for e in usable if e['release']])
        return next((e for e in usable if newest and e['release'] == newest[-1]), usable[0] if usable else None)

    def set_efi(self, name, value):
        """``bootctl set-default`` / ``set-oneshot`` (``LoaderEntryDefault``, ``LoaderEntryOneShot``); '' unsets."""
        before = efi_variable(self.root, name)
        if (before or '') == value:
            return False
        command = {'LoaderEntryDefault': 'set-default', 'LoaderEntryOneShot': 'set-oneshot'}[name]
        self.diff['before'][name] = before
        self.diff['after'][name] = value or None
        self.changes.append('bootctl %s %s' % (command, value or "''"))
        if name == 'LoaderEntryDefault':
            self.default_value = value
        else:
            self.env['next_entry'] = value or None
        if not self.module.check_mode:
            cmd = [self.tool('bootctl', 'bootctl'), command, value]
            rc, out, err = self.module.run_command(cmd, environ_update=LC_ENV)
            if rc != 0:
                self.module.fail_json(msg='bootctl %s %s failed (%d): %s' % (command, value, rc, (err or out).strip()),
                                      cmd=cmd, rc=rc, stdout=out, stderr=err)
        return True

    @staticmethod
    def cfg_default(text):
        """``('saved'|'fixed', value)`` from the 00_header lines of a grub.cfg."""
        value = None
        for line in (text or '').splitlines():
            match = re.match(r'^\s*set default="(.*)"\s*$', line)
            if match and match.group(1) != '${next_entry}':
                value = match.group(1)
        if value == '${saved_entry}':
            return 'saved', None
        return 'fixed', value

    def default_entry(self):
        if self.sdboot:
            return self.default_value, self.sdboot_default()
        value = self.env.get('saved_entry') if self.default_mode == 'saved' else self.default_value
        if self.default_mode == 'saved' and not value:
            value = '0'
        return value, resolve_default(self.entries, value)

    def package_of(self, release):
        """The package that ships ``release``: on Debian and its derivatives the one whose file list holds
        /boot/vmlinuz-<release> (Proxmox's proxmox-kernel-*-signed, Ubuntu's linux-image-unsigned-*, the Pi's
        linux-image-*+rpt-rpi-*), else the distribution's naming rule (a release not installed yet)."""
        if self.family == 'debian':
            wanted = '/boot/vmlinuz-%s' % release
            directory = self.path(DPKG_INFO)
            try:
                names = sorted(name for name in os.listdir(directory) if name.endswith('.list'))
            except OSError:
                names = []
            for name in names:
                if wanted in (read_text(os.path.join(directory, name)) or '').splitlines():
                    return name[:-len('.list')].split(':')[0]
        return package_name(release, self.family)

    def packages(self, names):
        if self.family != 'debian':
            return dict((name, {'installed': None, 'held': False, 'version': None}) for name in names)
        return dpkg_status(read_text(self.path(DPKG_STATUS)), names)

    # -- facts -------------------------------------------------------------------------------------------
    def resolve(self, requested):
        """``(release, problem)``."""
        if requested is None:
            return None, None
        if requested == PREVIOUS:
            chosen = choose_previous(self.running, self.installed)
            if chosen is None:
                flavour = split_release(self.running)[1]
                return None, ('found no installed kernel older than the running %s%s (installed: %s)'
                              % (self.running, ' of flavour %s' % flavour if flavour else '',
                                 ', '.join(self.installed) or 'none'))
            return chosen, None
        problem = release_problem(requested, self.machine)
        return (None if problem else requested), problem

    def facts(self):
        value, entry = self.default_entry()
        return {
            'bootloader': self.bootloader,
            'family': self.family,
            'machine': self.machine,
            'running': self.running,
            'installed': self.installed,
            'default': {'mode': self.default_mode, 'value': value, 'path': entry['path'] if entry else None,
                        'title': entry['title'] if entry else None, 'release': entry['release'] if entry else None},
            'next_entry': self.env.get('next_entry') or None,
            'trial_present': self.trial_text is not None,
            'entries': [dict((k, e[k]) for k in ('path', 'title', 'release', 'recovery')) for e in self.entries],
        }

    # -- GRUB environment block --------------------------------------------------------------------------
    def set_env(self, updates):
        """Apply ``{name: value or None}`` to the environment block (None unsets)."""
        values = parse_grubenv(self.env_text)
        before = dict(values)
        for name, value in updates.items():
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value
        if values == before and self.env_text is not None:
            return False
        size = len(self.env_text.encode('utf-8')) if self.env_text else 1024
        try:
            data = render_grubenv(values, max(size, 1024), grubenv_comments(self.env_text))
        except ValueError as exc:
            self.module.fail_json(msg='%s: %s' % (self.grubenv, exc))
        for name in updates:
            self.diff['before'][name] = before.get(name)
            self.diff['after'][name] = values.get(name)
        self.changes.append('%s: %s' % (self.grubenv, ', '.join(
            '%s=%s' % (name, value) if value is not None else 'no %s' % name for name, value in updates.items()
            if before.get(name) != value)))
        if not self.module.check_mode:
            write_atomic(self.module, self.path(self.grubenv), data)
        self.env_text = data.decode('utf-8')
        self.env = values
        return True

    # -- files ---------------------------------------------------------------------------------------------
    def put(self, path, text, mode=0o644):
        """Write ``text`` to ``path`` (None removes it); returns whether it changed."""
        full = self.path(path)
        before = read_text(full)
        if before == text:
            return False
        self.diff['before'][path] = before
        self.diff['after'][path] = text
        self.changes.append(('remove %s' % path) if text is None else ('write %s' % path))
        if path == self.trial_file:
            self.trial_text = text
        if not self.module.check_mode:
            if text is None:
                remove(full)
            else:
                write_atomic(self.module, full, text, mode)
        return True

    def check_default_override(self):
        """Fail when a GRUB defaults file read after the drop-in sets GRUB_DEFAULT again."""
        directory = self.path('/etc/default/grub.d')
        mine = os.path.basename(DEFAULT_DROPIN)
        try:
            later = [name for name in sorted(os.listdir(directory)) if name.endswith('.cfg') and name > mine]
        except OSError:
            return
        for name in later:
            text = read_text(os.path.join(directory, name)) or ''
            try:
                names = [assignment[0] for assignment in parse_shell_assignments(text)]
            except ValueError:
                continue
            if 'GRUB_DEFAULT' in names:
                self.module.fail_json(msg='/etc/default/grub.d/%s sets GRUB_DEFAULT and is read after %s, so GRUB '
                                          'would not boot the saved entry; remove GRUB_DEFAULT from it'
                                      % (name, DEFAULT_DROPIN))

    def regenerate(self):
        """grub-mkconfig into grub.cfg.new, then over grub.cfg; re-read the menu."""
        binary = self.tool('grub_mkconfig', 'grub-mkconfig')
        failure = grub_mkconfig(self.module, self.root, binary, self.grub_cfg)
        if failure:
            _rc, out, err, reason = failure
            return 'grub-mkconfig %s: %s' % (reason, (err or out or '(no output)').strip())
        text = read_text(self.path(self.grub_cfg))
        self.cfg_text = text
        self.entries = parse_grub_cfg(text)
        self.default_mode, self.default_value = self.cfg_default(text)
        self.changes.append('regenerate %s' % self.grub_cfg)
        return None

    def check_env_writable(self):
        """Refuse a trial where GRUB could not clear next_entry at boot."""
        probe = self.tool('grub_probe', 'grub2-probe' if self.family == 'redhat' else 'grub-probe', required=False)
        if probe is None:
            return
        directory = os.path.dirname(self.path(self.grubenv))
        rc, fs, err = self.module.run_command([probe, '--target=fs', directory], environ_update=LC_ENV)
        if rc != 0:
            self.module.warn('grub-probe could not tell the file system of %s (%s); assuming GRUB can write its '
                             'environment block there' % (directory, (err or '').strip()))
            return
        rc, abstraction, _err = self.module.run_command(
            [probe, '--target=abstraction', directory], environ_update=LC_ENV)
        fs = fs.strip()
        bad = [word for word in (abstraction or '').split() if word in UNWRITABLE_ABSTRACTIONS]
        if fs not in WRITABLE_FS or bad:
            self.module.fail_json(msg='%s is on %s%s, where GRUB cannot rewrite its environment block at boot: it '
                                      'could not clear the one-time entry, and a trial kernel that panics would be '
                                      'booted again and again. Boot the kernel from the GRUB menu by hand instead'
                                  % (self.grubenv, fs or 'an unknown file system',
                                     ' (%s)' % ', '.join(bad) if bad else ''))

    # -- marker for capture_facts ------------------------------------------------------------------------
    def marker(self, sentence):
        sync_reboot_marker(self.module, self.root, MARKER_TAG, {'trial': sentence} if sentence else {})


def trial_args(module, entry_args, panic, extra):
    set_args = [('panic', str(panic))]
    for raw in extra:
        name, value = parse_token(raw)
        try:
            validate_arg(name, value)
        except ValueError as exc:
            module.fail_json(msg='trial_args: %s' % exc)
        set_args.append((name, value))
    merged = {}
    for name, value in set_args:
        merged.setdefault(name, []).append(value)
    try:
        return edit_cmdline(entry_args, merged)
    except ValueError as exc:
        module.fail_json(msg='trial_args: %s' % exc)


def bls_trial(entry, args):
    values = dict(entry['bls'])
    values['title'] = TRIAL_TITLE_PREFIX + values.get('title', entry['id'])
    values['id'] = TRIAL_ID
    values['options'] = args
    ordered = ['title', 'version', 'linux', 'initrd', 'options', 'id']
    out = OrderedDict((key, values[key]) for key in ordered if key in values)
    for key, value in values.items():
        if key not in out:
            out[key] = value
    return render_bls(out)


def sdboot_trial(entry, args):
    """The trial entry for systemd-boot: the kernel's own entry file, every line kept (initrds, devicetree), with
    the trial's title and one ``options`` line."""
    lines = [('title      ' + TRIAL_TITLE_PREFIX + entry['title']) if line.split(None, 1)[:1] == ['title'] else line
             for line in entry['lines'] if not line.startswith('#')]
    head = ('# Managed by Ansible (lastwords.panic.kernel_boot): a one-time trial of kernel %s, booted once through '
            'LoaderEntryOneShot.\n# Copied from %s; removed when the trial is over.\n'
            % (entry['release'], entry['file']))
    return head + with_options('\n'.join(lines), args)


def do_sdboot_trial(module, boot, release, target, fallback, args, result):
    """systemd-boot: the trial entry next to the kernel's own, the running kernel's entry the default (so the boot
    after the trial, also the one a panicking trial causes, comes back to it), and the trial as the one-shot."""
    trial_file = target['dir'] + '/' + TRIAL_ID + '.conf'
    if boot.trial_file and boot.trial_file != trial_file:
        boot.put(boot.trial_file, None)
    boot.trial_file = trial_file
    text = sdboot_trial(target, args)
    boot.put(trial_file, text)
    result['trial_entry'] = text
    current = boot.sdboot_default()
    if current is None or current['release'] != boot.running or not efi_variable(boot.root, 'LoaderEntryDefault'):
        boot.set_efi('LoaderEntryDefault', fallback['path'])
    boot.set_efi('LoaderEntryOneShot', TRIAL_ID + '.conf')


def do_trial(module, boot, release, result):
    if release not in boot.installed:
        module.fail_json(msg='kernel %s is not installed (no /boot/vmlinuz-%s): install it first' % (release, release))
    if release == boot.running:
        module.fail_json(msg='kernel %s is already running: nothing to try; use state=pinned' % release)
    target = release_entry(boot.entries, release)
    if target is None:
        module.fail_json(msg='%s has no menu entry for %s; %s and try again' % (boot.menu(), release, boot.remake()))
    fallback = release_entry(boot.entries, boot.running)
    if fallback is None:
        module.fail_json(msg='%s has no menu entry for the running kernel %s, so it could not be the fallback of '
                             'the trial; %s and try again' % (boot.menu(), boot.running, boot.remake()))
    args = trial_args(module, target['args'], module.params['panic'], module.params['trial_args'])
    if boot.sdboot:
        do_sdboot_trial(module, boot, release, target, fallback, args, result)
        boot.marker('trial boot of kernel %s (%s) at the next boot' % (release, 'panic=%d' % module.params['panic']))
        result['reboot_required'] = True
        result['message'] = ('the next boot tries kernel %s once (%s); if it does not come up, systemd-boot boots '
                             '%s again' % (release, 'panic=%d' % module.params['panic'], boot.running))
        return
    boot.check_env_writable()
    if boot.family == 'debian':
        boot.check_default_override()
        script = render_trial_script(target, args, release, 'panic=%d' % module.params['panic'])
        saved_files = dict((path, read_text(boot.path(path))) for path in (DEFAULT_DROPIN, TRIAL_SCRIPT))
        changed_files = boot.put(DEFAULT_DROPIN, DEFAULT_DROPIN_TEXT)
        changed_files = boot.put(TRIAL_SCRIPT, script, 0o755) or changed_files
        if not module.check_mode and (changed_files or boot.default_mode != 'saved'
                                      or not any(e['id'] == TRIAL_ID for e in boot.entries)):
            failure = boot.regenerate()
            if failure is None:
                # the copy must match the regenerated entry (arguments may have changed since the last update-grub)
                fresh = release_entry(boot.entries, release)
                if fresh is not None and fresh['args'] != target['args']:
                    target = fresh
                    args = trial_args(module, target['args'], module.params['panic'], module.params['trial_args'])
                    script = render_trial_script(target, args, release, 'panic=%d' % module.params['panic'])
                    boot.put(TRIAL_SCRIPT, script, 0o755)
                    failure = boot.regenerate()
            if failure is None and not any(e['id'] == TRIAL_ID for e in boot.entries):
                failure = 'the regenerated %s has no %s entry' % (boot.grub_cfg, TRIAL_ID)
            if failure is None and boot.default_mode != 'saved':
                failure = ('the regenerated %s does not boot the saved entry (GRUB_DEFAULT=saved is overridden)'
                           % boot.grub_cfg)
            if failure:
                for path, text in saved_files.items():
                    if text is None:
                        remove(boot.path(path))
                    else:
                        write_atomic(module, boot.path(path), text, 0o755 if path == TRIAL_SCRIPT else 0o644)
                rollback = boot.regenerate()
                module.fail_json(msg='%s; the GRUB files were put back as they were%s' % (
                    failure, '' if rollback is None else ' but grub.cfg could not be regenerated: %s' % rollback))
        result['trial_entry'] = '\n'.join(script.split("<<'LASTWORDS_TRIAL_EOF'\n", 1)[1].splitlines()[:-1])
    else:
        text = bls_trial(target, args)
        boot.put(BLS_TRIAL, text)
        result['trial_entry'] = text
    # the fallback: the running kernel's own entry, unless the saved default already boots the running kernel
    _value, current = boot.default_entry()
    saved = fallback['path']
    if boot.default_mode == 'saved' and current is not None and current['release'] == boot.running \
            and boot.env.get('saved_entry'):
        saved = boot.env['saved_entry']
    boot.set_env(OrderedDict([('saved_entry', saved), ('next_entry', TRIAL_ID), ('prev_saved_entry', None)]))
    boot.marker('trial boot of kernel %s (%s) at the next boot' % (release, 'panic=%d' % module.params['panic']))
    result['reboot_required'] = True
    result['message'] = ('the next boot tries kernel %s once (%s); if it does not come up, GRUB boots %s again'
                         % (release, 'panic=%d' % module.params['panic'], boot.running))


def do_pinned(module, boot, release, result):
    result['confirmed'] = False
    if boot.running != release:
        # the trial did not come up (or never happened): clean up, leave the default alone
        one_shot = TRIAL_ID + '.conf' if boot.sdboot else TRIAL_ID
        used = boot.env.get('next_entry') != one_shot
        if not used:
            if boot.sdboot:
                boot.set_efi('LoaderEntryOneShot', '')
            else:
                boot.set_env({'next_entry': None})
        if boot.trial_file and boot.put(boot.trial_file, None) and boot.family == 'debian' and not boot.sdboot \
                and not module.check_mode:
            failure = boot.regenerate()
            if failure:
                module.warn('removing the trial entry from %s failed: %s' % (boot.grub_cfg, failure))
        _value, entry = boot.default_entry()
        result['trial_used'] = used
        result['message'] = (
            'the host runs %s, not %s: %s; the default stays %s' % (
                boot.running, release,
                'the trial boot of %s did not come up (it panicked and reset, or hung and was reset), and %s '
                'booted the default again' % (release, 'systemd-boot' if boot.sdboot else 'GRUB') if used else
                'systemd-boot never used the one-time entry (LoaderEntryOneShot was still set: the host was not '
                'rebooted)' if boot.sdboot else
                'GRUB never used the one-time entry (next_entry was still set; it cannot write its environment '
                'block, or the host was not rebooted)',
                '%s (%s)' % (entry['release'] or entry['title'], entry['path']) if entry else 'unchanged'))
        return
    target = release_entry(boot.entries, release)
    if target is None:
        module.fail_json(msg='%s has no menu entry for the running kernel %s; %s and try again'
                             % (boot.menu(), release, boot.remake()))
    if boot.sdboot:
        if boot.trial_file:
            boot.put(boot.trial_file, None)
        boot.set_efi('LoaderEntryOneShot', '')
        boot.set_efi('LoaderEntryDefault', target['path'])
    elif boot.family == 'debian':
        boot.check_default_override()
        changed_files = boot.put(DEFAULT_DROPIN, DEFAULT_DROPIN_TEXT)
        changed_files = boot.put(TRIAL_SCRIPT, None) or changed_files
        stale_trial = any(e['id'] == TRIAL_ID for e in boot.entries)
        if not module.check_mode and (changed_files or stale_trial or boot.default_mode != 'saved'):
            failure = boot.regenerate()
            if failure is None and boot.default_mode != 'saved':
                failure = ('the regenerated %s does not boot the saved entry (GRUB_DEFAULT=saved is overridden)'
                           % boot.grub_cfg)
            if failure:
                module.fail_json(msg=failure)
            target = release_entry(boot.entries, release) or target
    else:
        boot.put(BLS_TRIAL, None)
    if not boot.sdboot:
        boot.set_env(OrderedDict([('saved_entry', target['path']), ('next_entry', None), ('prev_saved_entry', None)]))
    package = boot.package_of(release)
    held_by_us = boot.state.get('held')
    if module.params['hold']:
        if boot.family == 'debian':
            status = boot.packages([package])[package]
            if status['installed'] and not status['held']:
                apt_mark(module, boot, 'hold', package)
            elif not status['installed']:
                module.warn('kernel %s is not installed from a package (%s), so there is nothing to hold'
                            % (release, package))
                package = None
            if held_by_us and held_by_us != package:
                if boot.packages([held_by_us])[held_by_us]['held']:
                    apt_mark(module, boot, 'unhold', held_by_us)
        else:
            text = read_text(boot.path(SYSCONFIG_KERNEL)) or ''
            new = re.sub(r'(?m)^UPDATEDEFAULT=.*$', 'UPDATEDEFAULT=no', text)
            if 'UPDATEDEFAULT=no' not in new:
                new += 'UPDATEDEFAULT=no\n'
            boot.put(SYSCONFIG_KERNEL, new)
    else:
        package = None
    state = {'release': release, 'entry': target['path'], 'held': package if module.params['hold'] else None}
    if {k: boot.state.get(k) for k in state} != state:
        boot.put(STATE_FILE, json.dumps(state, indent=2, sort_keys=True) + '\n')
    boot.marker(None)
    result['confirmed'] = True
    result['message'] = 'kernel %s runs and is the default (%s)%s' % (
        release, target['path'], ', its package held' if package else '')


def apt_mark(module, boot, action, package):
    boot.changes.append('apt-mark %s %s' % (action, package))
    boot.diff['before']['hold ' + package] = action != 'hold'
    boot.diff['after']['hold ' + package] = action == 'hold'
    if module.check_mode:
        return
    binary = boot.tool('apt_mark', 'apt-mark')
    rc, out, err = module.run_command([binary, action, package], environ_update=LC_ENV)
    if rc != 0:
        module.fail_json(msg='apt-mark %s %s failed (%d): %s' % (action, package, rc, (err or out).strip()))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', default='query', choices=['query', 'trial', 'pinned']),
            release=dict(type='str'),
            panic=dict(type='int', default=10),
            trial_args=dict(type='list', elements='str', default=[]),
            hold=dict(type='bool', default=True),
            root=dict(type='path', default='/'),
            bootloader=dict(type='str', default='auto', choices=['auto'] + list(BOOTLOADERS)),
            grub_cfg=dict(type='path'),
            grubenv=dict(type='path'),
            grub_mkconfig=dict(type='path'),
            grub_probe=dict(type='path'),
            apt_mark=dict(type='path'),
            bootctl=dict(type='path'),
            apt_cache=dict(type='path'),
        ),
        required_if=[('state', 'trial', ['release']), ('state', 'pinned', ['release'])],
        supports_check_mode=True,
    )
    params = module.params
    root = checked_root(module, params['root'])
    if params['panic'] <= 0:
        module.fail_json(msg='panic=%d: give the seconds before a panicking trial kernel resets (more than 0)'
                             % params['panic'])

    boot = Boot(module, root)
    result = dict(changed=False, requested=params['release'], reboot_required=False, confirmed=False, message='')
    result.update(boot.facts())
    release, problem = boot.resolve(params['release'])
    result['release'] = release
    result['problem'] = problem
    result['target_installed'] = release in boot.installed if release else False
    result['package'] = boot.package_of(release) if release else None
    status = boot.packages([result['package']])[result['package']] if release else {}
    result['package_held'] = bool(status.get('held'))
    result['candidate'] = None
    if release and not result['target_installed'] and boot.family == 'debian':
        binary = boot.tool('apt_cache', 'apt-cache', required=False)
        if binary:
            rc, out, _err = module.run_command([binary, 'policy', result['package']], environ_update=LC_ENV)
            result['candidate'] = apt_candidate(out) if rc == 0 else None

    if params['state'] != 'query':
        if problem:
            module.fail_json(msg='release %s %s' % (params['release'], problem), **result)
        if params['state'] == 'trial':
            do_trial(module, boot, release, result)
        else:
            do_pinned(module, boot, release, result)
        result.update(boot.facts())
    else:
        result['message'] = 'runs %s; boots %s by default' % (boot.running, result['default']['release'])
    result['changed'] = bool(boot.changes)
    result['changes'] = boot.changes
    if module._diff and boot.changes:
        result['diff'] = {'before': json.dumps(boot.diff['before'], indent=2, sort_keys=True) + '\n',
                          'after': json.dumps(boot.diff['after'], indent=2, sort_keys=True) + '\n'}
    module.exit_json(**result)


if __name__ == '__main__':
    main()
