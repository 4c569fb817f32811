#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kernel_cmdline
short_description: Add, change or remove kernel boot arguments persistently and idempotently
version_added: 0.1.0
description:
  - Makes the next boot's kernel command line carry the given arguments (for example V(crashkernel=256M) or
    V(netconsole=...)) and not carry others, and reports whether the running kernel already has them.
  - "On Debian and Ubuntu (O(bootloader=grub-debian)) the module owns one GRUB drop-in file, by default
    C(/etc/default/grub.d/zz-lastwords.cfg). C(grub-mkconfig) sources C(/etc/default/grub) and then
    C(/etc/default/grub.d/*.cfg) in name order with C(/bin/sh); digits sort before letters, so the C(zz-) name
    makes the drop-in the last file read (a C(99-) name would be read before C(kdump-tools.cfg)). The drop-in
    removes every argument it manages from E(GRUB_CMDLINE_LINUX) and E(GRUB_CMDLINE_LINUX_DEFAULT) as the
    earlier files left them, then appends its own arguments to E(GRUB_CMDLINE_LINUX) (normal and recovery
    entries). This is how the C(crashkernel=384M-:128M) that kdump-tools puts into
    E(GRUB_CMDLINE_LINUX_DEFAULT) is replaced or removed without editing a file the package owns."
  - The drop-in is shared by every call of the module on a host; each call merges its arguments into it, so
    one role can manage C(crashkernel) and another C(netconsole).
  - After writing the drop-in the module runs C(grub-mkconfig -o <grub_cfg>.new) and moves the result over
    O(grub_cfg) only when it succeeded. If C(grub-mkconfig) fails, the previous drop-in is restored, the old
    C(grub.cfg) stays in place and the module fails with the tool's output.
  - On RHEL-family hosts (O(bootloader=grubby)) the module edits every boot entry with
    C(grubby --update-kernel=ALL --args=... --remove-args=...), after reading them with C(grubby --info=ALL),
    and checks the entries again afterwards.
  - "With systemd-boot (O(bootloader=systemd-boot)), Proxmox VE's C(proxmox-boot-tool) and a Raspberry Pi's
    C(cmdline.txt) the command line is one line of one file (O(cmdline_file)), edited in place: only the managed
    names change, everything else on the line stays. systemd-boot: C(/etc/kernel/cmdline), which kernel-install
    reads for every kernel installed later (the module starts it, when it is missing, from what kernel-install
    would use: C(/usr/lib/kernel/cmdline), else C(/proc/cmdline) without C(BOOT_IMAGE=) and C(initrd=)), and the
    C(options) of every entry already installed in C(loader/entries) on the ESP or XBOOTLDR partition.
    proxmox-boot-tool: C(/etc/kernel/cmdline), then C(proxmox-boot-tool refresh) writes every ESP; when it fails,
    the old file is put back and the module fails with its output. Raspberry Pi: C(/boot/firmware/cmdline.txt)
    (or C(/boot/cmdline.txt)), which the firmware reads at boot; with Debian's raspi-firmware, which writes that
    file anew at every kernel update, C(/etc/default/raspi-extra-cmdline) too (the arguments it appends)."
  - When the running kernel (C(/proc/cmdline)) lacks a wanted argument or still has an unwanted one, the module
    returns RV(reboot_required=true) and records the pending change in C(/run/lastwords/reboot-required), which
    M(lastwords.panic.capture_facts) reports as C(reboot_pending). It never reboots.
author:
  - lastwords developers (!UNKNOWN)  # the project has no GitHub handle yet; ansible-test wants one or this
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  platform:
    platforms: posix
  check_mode:
    support: full
    details: Computes the new drop-in or boot entry arguments and RV(reboot_required) without writing files or
      running C(grub-mkconfig) or C(grubby --update-kernel).
  diff_mode:
    support: full
    details: Before and after text of the drop-in (grub-debian), or of every boot entry's arguments (grubby).
options:
  args:
    description:
      - Arguments the kernel command line must have, as a mapping of name to value.
      - V(null) or an empty string gives a bare flag such as C(quiet); a list repeats the argument in order
        (C(console=tty0 console=ttyS0,115200)).
      - A value containing spaces is quoted for the kernel (C(foo="a b")). Values may not contain C(") C(')
        C($) C(`) or C(\\), which neither GRUB nor the kernel command line can carry.
      - An argument given here replaces every occurrence of that name, wherever it came from.
      - C(crashkernel) values are checked against the kernel's syntax (C(256M), C(512M@16M), C(384M-:128M),
        C(1G-4G:192M,4G-64G:256M,64G-:512M), C(,high), C(,low)).
      - With O(state=absent) only the names count.
    type: dict
    default: {}
  remove:
    description:
      - Names of arguments the kernel command line must not have, whatever their value.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) sets O(args) and removes O(remove).
      - V(absent) removes the names of O(args) and O(remove) (values are ignored).
      - Removing is persistent. The drop-in keeps filtering the name out of what other files set, until a later
        call sets it again. To stop managing a host entirely, delete the drop-in and run C(update-grub).
    type: str
    choices: [present, absent]
    default: present
  root:
    description:
      - Directory that every path is taken under (C(/proc/cmdline), the drop-in, O(grub_cfg), the marker).
      - For chroots, mounted images and tests. With a root other than V(/) and O(update=true), O(grub_mkconfig)
        or O(grubby) must be given explicitly, because the host's tools would read the host's configuration.
    type: path
    default: /
  dropin:
    description:
      - The GRUB drop-in the module owns (grub-debian only). It must sort after every other file in
        C(/etc/default/grub.d) that sets an argument the module manages; the module warns when one sorts later.
      - An existing file at this path that the module did not write is never taken over; the module fails.
    type: path
    default: /etc/default/grub.d/zz-lastwords.cfg
  bootloader:
    description:
      - "V(auto) picks, under O(root): V(proxmox-boot-tool) when the tool and C(/etc/kernel/proxmox-boot-uuids)
        are there; V(grubby) when C(/usr/sbin/grubby) or C(/sbin/grubby) is; V(systemd-boot) when the EFI
        variable C(LoaderInfo) says systemd-boot booted the host; V(cmdline-txt) on a Raspberry Pi
        (C(/proc/device-tree/model)) with a C(cmdline.txt); V(grub-debian) when C(/etc/default/grub) exists.
        Anything else fails before any change, naming what was looked for."
    type: str
    choices: [auto, grub-debian, grubby, systemd-boot, proxmox-boot-tool, cmdline-txt]
    default: auto
  cmdline_file:
    description:
      - The file that holds the command line with V(systemd-boot) and V(proxmox-boot-tool)
        (default C(/etc/kernel/cmdline)) and V(cmdline-txt) (default the Pi's C(cmdline.txt)).
    type: path
  proxmox_boot_tool:
    description:
      - Path of C(proxmox-boot-tool). Default is the one found on E(PATH); required with a O(root) other than V(/).
    type: path
  update:
    description:
      - Regenerate the boot loader configuration after a change (grub-debian). Also regenerates when the
        drop-in is newer than O(grub_cfg), for example after an earlier run with O(update=false).
      - With systemd-boot, edit the installed entries too (every one that differs, on every run); with
        proxmox-boot-tool, run C(proxmox-boot-tool refresh) after the file changed.
      - V(false) only writes the drop-in (for an image that runs C(update-grub) itself later).
      - Must stay V(true) with O(bootloader=grubby), which always edits the boot entries directly.
    type: bool
    default: true
  grub_mkconfig:
    description:
      - Path of C(grub-mkconfig). Default is the one found on E(PATH) (C(/usr/sbin/grub-mkconfig)).
    type: path
  grub_cfg:
    description:
      - The GRUB configuration to regenerate (what C(update-grub) writes).
    type: path
    default: /boot/grub/grub.cfg
  grubby:
    description:
      - Path of C(grubby). Default is the one found on E(PATH).
    type: path
notes:
  - Commands run with E(LC_ALL=C), so C(grub-mkconfig) reads C(/etc/default/grub.d/*.cfg) in byte order.
  - The kernel uses the last of several C(crashkernel=) arguments; the module keeps a single one (or the list
    given in O(args), for example C([512M,high, 128M,low])).
  - Arguments after C(--) on a command line are for init and are left alone.
seealso:
  - module: lastwords.panic.capture_facts
  - name: Kernel parameters (crashkernel)
    description: The kernel's admin guide on command line parameters.
    link: https://docs.kernel.org/admin-guide/kernel-parameters.html
"""

EXAMPLES = r"""
- name: Reserve 256 MiB for the crash kernel (replaces kdump-tools' crashkernel=384M-:128M)
  lastwords.panic.kernel_cmdline:
    args:
      crashkernel: 256M
  register: lastwords_crashkernel

- name: Tell the operator when the new reservation needs a reboot
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} boots with crashkernel=256M only after a reboot"
  when: lastwords_crashkernel.reboot_required

- name: Send the boot log to the receiver from early boot, without quiet
  lastwords.panic.kernel_cmdline:
    args:
      netconsole: "+6665@192.0.2.10/eth0,6666@192.0.2.1/52:54:00:12:34:56"
      console: [tty0, "ttyS0,115200"]
    remove:
      - quiet

- name: Disable kdump's reservation entirely, including the one from kdump-tools.cfg
  lastwords.panic.kernel_cmdline:
    args:
      crashkernel:
    state: absent

- name: Prepare a mounted image; its own update-grub runs on first boot
  lastwords.panic.kernel_cmdline:
    root: /mnt/image
    args:
      crashkernel: 256M
    update: false
"""

RETURN = r"""
changed:
  description: Whether the drop-in, the GRUB configuration or the boot entries changed (or would in check mode).
  returned: always
  type: bool
bootloader:
  description: The boot loader handling used.
  returned: always
  type: str
  sample: grub-debian
dropin:
  description: Path of the drop-in as seen on the host (without O(root)); V(null) with grubby.
  returned: always
  type: str
  sample: /etc/default/grub.d/zz-lastwords.cfg
managed:
  description:
    - Everything the drop-in manages after this call, from all calls so far (grub-debian); with grubby, what
      this call asked for.
    - C(args) maps names to a list of values (V(null) for a bare flag); C(absent) lists removed names.
  returned: always
  type: dict
  sample: {"args": {"crashkernel": ["256M"]}, "absent": ["quiet"]}
grub_cfg_updated:
  description: Whether O(grub_cfg) was regenerated (or would be in check mode).
  returned: always
  type: bool
cmdline_file:
  description: The command line file edited (systemd-boot, proxmox-boot-tool, cmdline-txt), else V(null).
  returned: always
  type: str
  sample: /etc/kernel/cmdline
entries:
  description:
    - The other files rewritten (or that would be) with the command line - the systemd-boot entries whose
      C(options) changed, Debian raspi-firmware's C(/etc/default/raspi-extra-cmdline).
  returned: always
  type: list
  elements: str
  sample: [/boot/efi/loader/entries/0b5f4c1b2e7d4a3c9f6e8d7c6b5a4f3e-6.12.38+deb13-amd64.conf]
cmdline:
  description: The running kernel's command line (C(/proc/cmdline) under O(root)); V(null) when unreadable.
  returned: always
  type: str
  sample: BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64 root=/dev/vda1 ro console=ttyS0 crashkernel=384M-:128M
args:
  description:
    - The command line expected at the next boot, as arguments - the running one with the managed arguments
      applied (for grubby, this call's arguments).
  returned: always
  type: list
  elements: str
  sample: [BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64, root=/dev/vda1, ro, console=ttyS0, crashkernel=256M]
reboot_required:
  description: Whether the running kernel lacks a managed argument or value, or still has a removed one.
  returned: always
  type: bool
pending:
  description: What differs between the running command line and the managed arguments, one item per argument.
  returned: always
  type: list
  elements: str
  sample: ["crashkernel=256M (now crashkernel=384M-:128M)"]
other_sources:
  description:
    - Other GRUB defaults files that set a managed argument (read statically, grub-debian only).
      C(after_dropin) is true for files read after the drop-in, whose value wins (a warning is issued).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/etc/default/grub.d/kdump-tools.cfg", "names": ["crashkernel"], "after_dropin": false}]
"""

import os
from collections import OrderedDict

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.lastwords.panic.plugins.module_utils._bootloader import (
    BOOTLOADERS,
    LC_ENV,
    cmdline_file,
    detect,
    entry_dirs,
    entry_options,
    grub_mkconfig,
    raspi_extra_cmdline,
    with_options,
)
from ansible_collections.lastwords.panic.plugins.module_utils._cmdline import (
    crashkernel_size,
    describe_args,
    edit_cmdline,
    format_size,
    grub_cmdline_names,
    normalize_name,
    parse_cmdline,
    parse_crashkernel,
    pending_changes,
    pending_changes_by_name,
    read_grub_dropin,
    render_grub_dropin,
    split_cmdline,
    validate_arg,
)
from ansible_collections.lastwords.panic.plugins.module_utils._host import (
    boot_ram_bytes,
    checked_root,
    host_tool,
    read_text,
    sync_reboot_marker,
    under,
    write_atomic,
)

MARKER_TAG = 'lastwords.panic.kernel_cmdline'
CMDLINE_FILE_LOADERS = ('systemd-boot', 'proxmox-boot-tool', 'cmdline-txt')


def normalise_args(module, raw):
    """Module ``args`` -> OrderedDict name -> list of values (None for bare flags), validated."""
    result = OrderedDict()
    seen = {}
    for name, value in (raw or {}).items():
        if normalize_name(name) in seen:
            module.fail_json(msg='args: %s and %s name the same kernel parameter (the kernel treats - and _ '
                                 'alike); give it once' % (seen[normalize_name(name)], name))
        seen[normalize_name(name)] = name
        if module.params['state'] == 'absent':
            try:
                validate_arg(name)
            except ValueError as exc:
                module.fail_json(msg='args: %s' % exc)
            result[name] = [None]
            continue
        values = value if isinstance(value, list) else [value]
        if not values:
            module.fail_json(msg='args.%s: an empty list gives no value; use null for a bare flag' % name)
        clean = []
        for one in values:
            if isinstance(one, bool):
                module.fail_json(msg='args.%s: got a boolean (%s); use null or "" for a bare flag, or quote the '
                                     'value ("1", "on", "yes")' % (name, one))
            if one is None or one == '':
                clean.append(None)
            elif isinstance(one, (int, float, str)):
                clean.append(to_native(one))
            else:
                module.fail_json(msg='args.%s: values must be strings, numbers or null, got %r' % (name, one))
        try:
            for one in clean:
                validate_arg(name, one)
        except ValueError as exc:
            module.fail_json(msg='args.%s: %s' % (name, exc))
        if normalize_name(name) == 'crashkernel':
            for one in clean:
                if one is None:
                    module.fail_json(msg='args.crashkernel: needs a size such as 256M; to remove crashkernel use '
                                         'remove: [crashkernel] or state: absent')
                try:
                    parse_crashkernel(one)
                except ValueError as exc:
                    module.fail_json(msg='args.crashkernel: %s' % exc)
        result[name] = clean
    return result


def merge_managed(existing_set, existing_absent, set_args, absent):
    """Apply this call to the drop-in's state; returns ``(OrderedDict name -> values, [absent names])``."""
    merged = OrderedDict((normalize_name(name), (name, values)) for name, values in existing_set.items())
    absent_out = OrderedDict((normalize_name(name), name) for name in existing_absent)
    for name in absent:
        merged.pop(normalize_name(name), None)
        absent_out.setdefault(normalize_name(name), name)
    for name, values in set_args.items():
        absent_out.pop(normalize_name(name), None)
        merged[normalize_name(name)] = (name, values)
    return OrderedDict(merged.values()), list(absent_out.values())


def check_crashkernel_fit(module, root, set_args):
    ram = boot_ram_bytes(root)
    if ram is None:
        return
    for name, values in set_args.items():
        if normalize_name(name) != 'crashkernel':
            continue
        for value in values:
            size = crashkernel_size(value, ram)
            if size == 0:
                module.warn('crashkernel=%s reserves nothing on this host (about %s of RAM): no range matches'
                            % (value, format_size(ram)))
            elif size is not None and size * 2 > ram:
                module.warn('crashkernel=%s reserves %s, more than half of this host\'s %s of RAM'
                            % (value, format_size(size), format_size(ram)))


def other_sources(root, dropin, names):
    """Static scan of /etc/default/grub and grub.d/*.cfg for managed names set elsewhere."""
    wanted = set(normalize_name(name) for name in names)
    if not wanted:
        return []
    grub_d = '/etc/default/grub.d'
    dropin_dir, dropin_base = os.path.split(dropin)
    candidates = ['/etc/default/grub']
    try:
        candidates.extend(os.path.join(grub_d, entry) for entry in sorted(os.listdir(under(root, grub_d)))
                          if entry.endswith('.cfg'))
    except OSError:
        pass
    found = []
    for path in candidates:
        if path == dropin:
            continue
        text = read_text(under(root, path))
        if not text:
            continue
        try:
            hits = [name for name in grub_cmdline_names(text) if normalize_name(name) in wanted]
        except ValueError:
            continue
        if hits:
            after = (os.path.dirname(path) == dropin_dir and os.path.basename(path) > dropin_base)
            found.append({'path': path, 'names': hits, 'after_dropin': after})
    return found


def generated_has(text, set_args, absent):
    """True when some kernel entry of a generated grub.cfg carries the managed arguments (or it has none)."""
    entries = []
    for line in (text or '').splitlines():
        words = line.strip().split(None, 2)
        if len(words) >= 2 and words[0] in ('linux', 'linux16', 'linuxefi'):
            entries.append(words[2] if len(words) > 2 else '')
    if not entries:
        return True
    return any(not pending_changes(entry, set_args, absent) for entry in entries)


def apply_grub_debian(module, root, set_args, absent, result):
    params = module.params
    dropin = params['dropin']
    dropin_path = under(root, dropin)
    if os.path.dirname(dropin) != '/etc/default/grub.d':
        module.warn('dropin %s is not in /etc/default/grub.d, so grub-mkconfig does not read it' % dropin)
    grub_cfg_path = under(root, params['grub_cfg'])
    result['dropin'] = dropin

    before = read_text(dropin_path)
    existing_set, existing_absent = OrderedDict(), []
    if before is not None:
        try:
            existing_set, existing_absent = read_grub_dropin(before)
        except ValueError as exc:
            module.fail_json(msg='dropin %s exists but was not written by this module (%s); choose another dropin '
                                 'path or remove the file' % (dropin, exc), dropin=dropin)
    managed_set, managed_absent = merge_managed(existing_set, existing_absent, set_args, absent)
    after = render_grub_dropin(managed_set, managed_absent)
    result['managed'] = {'args': dict(managed_set), 'absent': managed_absent}
    dropin_changed = after is not None and after != before

    sources = other_sources(root, dropin, list(managed_set) + managed_absent)
    result['other_sources'] = sources
    for source in sources:
        if source['after_dropin']:
            module.warn('%s is read after %s and sets %s, so its value wins; rename it or move the setting'
                        % (source['path'], dropin, ', '.join(source['names'])))

    stale = False
    if params['update'] and after is not None and not dropin_changed:
        try:
            stale = os.path.getmtime(grub_cfg_path) < os.path.getmtime(dropin_path)
        except OSError:
            stale = True
    regenerate = params['update'] and (dropin_changed or stale)

    binary = None
    if regenerate:
        binary = host_tool(module, root, 'grub_mkconfig', 'grub-mkconfig', other_root=(
            'root=%s with update=true would run the host\'s grub-mkconfig on the host\'s /etc/default/grub; set '
            'update: false (and run update-grub inside the image) or point grub_mkconfig at a wrapper that works '
            'on that root' % root), required=root != '/')
        if binary is None:
            module.fail_json(msg='grub-mkconfig was not found (package grub2-common); install it, set '
                                 'grub_mkconfig to its path, or set update: false')

    if module._diff and dropin_changed:
        result['diff'] = {'before_header': dropin, 'after_header': dropin,
                          'before': before or '', 'after': after}
    result['changed'] = bool(dropin_changed or regenerate)
    result['grub_cfg_updated'] = bool(regenerate)
    if module.check_mode:
        return managed_set, managed_absent

    if dropin_changed:
        write_atomic(module, dropin_path, after)
    if regenerate:
        failure = grub_mkconfig(module, root, binary, params['grub_cfg'])
        if failure:
            rc, out, err, reason = failure
            if dropin_changed:
                if before is None:
                    os.unlink(dropin_path)
                else:
                    write_atomic(module, dropin_path, before)
            module.fail_json(msg='grub-mkconfig %s; %s was %s and %s was left untouched: %s'
                                 % (reason, dropin, 'restored' if dropin_changed else 'not changed',
                                    params['grub_cfg'], (err or out or '(no output)').strip()),
                             rc=rc, stdout=out, stderr=err, dropin=dropin, cmd=[binary, '-o', grub_cfg_path + '.new'])
        if not generated_has(read_text(grub_cfg_path), managed_set, managed_absent):
            module.warn('no kernel entry in the regenerated %s has %s; another /etc/default/grub.d file or '
                        '/etc/grub.d script overrides the drop-in'
                        % (params['grub_cfg'], describe_args(managed_set, managed_absent)))
    return managed_set, managed_absent


def seed_cmdline(root):
    """What kernel-install takes when /etc/kernel/cmdline is missing: /usr/lib/kernel/cmdline, else /proc/cmdline
    without the boot loader's own BOOT_IMAGE= and initrd=."""
    text = read_text(under(root, '/usr/lib/kernel/cmdline'))
    if text is None:
        text = read_text(under(root, '/proc/cmdline')) or ''
        text = ' '.join(token for token in split_cmdline(text)
                        if not token.startswith(('BOOT_IMAGE=', 'initrd=')))
    return ' '.join(split_cmdline(text))


def apply_cmdline_file(module, root, bootloader, set_args, absent, result):
    """systemd-boot, proxmox-boot-tool and the Pi's cmdline.txt: the command line is one line of one file.

    The file is edited in place, only the managed names change. systemd-boot's installed entries get the same
    edit of their ``options`` (kernel-install writes new ones from the file); Proxmox's ESPs are rewritten by
    ``proxmox-boot-tool refresh``, and a failed refresh puts the old file back.
    """
    params = module.params
    path = params['cmdline_file'] or cmdline_file(root, bootloader)
    result['cmdline_file'] = path
    result['managed'] = {'args': dict(set_args), 'absent': list(absent)}
    before = read_text(under(root, path))
    if before is None and bootloader == 'cmdline-txt':
        module.fail_json(msg='%s does not exist: the Raspberry Pi firmware reads the kernel command line from it; '
                             'set cmdline_file to the file this host boots with' % path)
    current = ' '.join(split_cmdline(before)) if before is not None else seed_cmdline(root)
    if not current.strip() and bootloader != 'cmdline-txt':
        module.fail_json(msg='%s is missing and neither /usr/lib/kernel/cmdline nor /proc/cmdline gives a command '
                             'line to start it from (it must carry root=); write it first' % path)
    after = edit_cmdline(current, set_args, absent) + '\n'
    file_changed = after != before

    entries, entry_diffs = [], []
    if bootloader == 'systemd-boot' and params['update']:
        for directory in entry_dirs(root):
            for name in sorted(os.listdir(under(root, directory))):
                if not name.endswith('.conf') or name.startswith('lastwords-'):
                    continue  # kernel_boot's own trial entry carries its own arguments
                entry = '%s/%s' % (directory, name)
                text = read_text(under(root, entry))
                if text is None:
                    continue
                if not any(line.strip().startswith('linux') for line in text.splitlines()):
                    continue  # not a Linux entry
                options = entry_options(text)
                if pending_changes(options, set_args, absent):
                    new = with_options(text, edit_cmdline(options, set_args, absent))
                    entries.append((entry, new))
                    entry_diffs.append((entry, text, new))
    extra = raspi_extra_cmdline(root) if bootloader == 'cmdline-txt' else None
    if extra:
        extra_before = read_text(under(root, extra))
        extra_after = edit_cmdline(' '.join(split_cmdline(extra_before or '')), set_args, absent) + '\n'
        if extra_after != (extra_before or '') and not (extra_before is None and not extra_after.strip()):
            entries.append((extra, extra_after))
            entry_diffs.append((extra, extra_before or '', extra_after))
        # what cmdline.txt has beyond the extras comes from the hook's template: a removal there does not last
        extras = set(normalize_name(name) for name, _value in parse_cmdline(extra_before or ''))
        back = [name for name in absent if normalize_name(name) not in extras and normalize_name(name) in
                set(normalize_name(n) for n, _v in parse_cmdline(current))]
        if back:
            module.warn('%s: removed from %s, but Debian\'s raspi-firmware writes it again at the next kernel or '
                        'initramfs update (it comes from its template or /etc/default/raspi-firmware, not %s)'
                        % (', '.join(back), path, extra))
    refresh = bootloader == 'proxmox-boot-tool' and params['update'] and file_changed
    binary = None
    if refresh:
        binary = host_tool(module, root, 'proxmox_boot_tool', 'proxmox-boot-tool', other_root=(
            'root=%s with bootloader proxmox-boot-tool would refresh the host\'s ESPs; point proxmox_boot_tool at '
            'a wrapper that works on that root' % root))

    result['entries'] = [entry for entry, _text in entries]
    result['changed'] = bool(file_changed or entries)
    if module._diff and result['changed']:
        result['diff'] = [{'before_header': path, 'after_header': path, 'before': before or '', 'after': after}]
        result['diff'] += [{'before_header': entry, 'after_header': entry, 'before': old, 'after': new}
                           for entry, old, new in entry_diffs]
    if module.check_mode:
        return
    if file_changed:
        write_atomic(module, under(root, path), after)
    for entry, text in entries:
        write_atomic(module, under(root, entry), text)
    if refresh:
        cmd = [binary, 'refresh']
        rc, out, err = module.run_command(cmd, environ_update=LC_ENV)
        if rc != 0:
            if before is None:
                os.unlink(under(root, path))
            else:
                write_atomic(module, under(root, path), before)
            module.fail_json(msg='proxmox-boot-tool refresh exited with %d; %s was restored: %s'
                                 % (rc, path, (err or out or '(no output)').strip()),
                             rc=rc, stdout=out, stderr=err, cmd=cmd)


def parse_grubby_info(text):
    """``grubby --info=ALL`` -> list of dicts (index, kernel, args, ...), quotes around values removed."""
    entries = []
    current = None
    for line in (text or '').splitlines():
        if '=' not in line:
            continue
        key, value = line.split('=', 1)
        key = key.strip()
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            value = value[1:-1]
        if key == 'index':
            current = {}
            entries.append(current)
        if current is not None:
            current[key] = value
    return [entry for entry in entries if 'kernel' in entry and 'args' in entry]


def apply_grubby(module, root, set_args, absent, result):
    params = module.params
    binary = host_tool(module, root, 'grubby', 'grubby', other_root=(
        'root=%s with bootloader grubby would edit the host\'s boot entries; point grubby at a wrapper that works '
        'on that root' % root))
    if not params['update']:
        module.fail_json(msg='update=false is only possible with bootloader grub-debian: grubby edits the boot '
                             'entries directly; leave update at true')
    result['managed'] = {'args': dict(set_args), 'absent': list(absent)}
    info_cmd = [binary, '--info=ALL']
    rc, out, err = module.run_command(info_cmd, environ_update=LC_ENV)
    if rc != 0:
        module.fail_json(msg='grubby --info=ALL failed: %s' % (err or out).strip(), rc=rc, stdout=out, stderr=err,
                         cmd=info_cmd)
    entries = parse_grubby_info(out)
    if not entries:
        module.fail_json(msg='grubby --info=ALL listed no boot entry with a kernel and arguments', stdout=out)
    todo = [entry for entry in entries if pending_changes(entry['args'], set_args, absent)]
    before = ''.join('%s: %s\n' % (entry['kernel'], entry['args']) for entry in entries)
    after = ''.join('%s: %s\n' % (entry['kernel'], edit_cmdline(entry['args'], set_args, absent))
                    for entry in entries)
    result['changed'] = bool(todo)
    result['grub_cfg_updated'] = bool(todo)
    if module._diff and todo:
        result['diff'] = {'before_header': 'grubby --info=ALL', 'after_header': 'grubby --info=ALL',
                          'before': before, 'after': after}
    if not todo or module.check_mode:
        return
    cmd = [binary, '--update-kernel=ALL']
    if set_args:
        cmd.append('--args=%s' % edit_cmdline('', set_args, []))
    if absent:
        cmd.append('--remove-args=%s' % ' '.join(absent))
    rc, out, err = module.run_command(cmd, environ_update=LC_ENV)
    if rc != 0:
        module.fail_json(msg='grubby failed: %s' % (err or out).strip(), rc=rc, stdout=out, stderr=err, cmd=cmd)
    rc, out, err = module.run_command(info_cmd, environ_update=LC_ENV)
    still = [entry['kernel'] for entry in parse_grubby_info(out)
             if pending_changes(entry['args'], set_args, absent)] if rc == 0 else ['(grubby --info=ALL failed)']
    if still:
        module.fail_json(msg='grubby ran but these boot entries still differ: %s' % ', '.join(still), cmd=cmd,
                         stdout=out, stderr=err)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            args=dict(type='dict', default={}),
            remove=dict(type='list', elements='str', default=[]),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            root=dict(type='path', default='/'),
            dropin=dict(type='path', default='/etc/default/grub.d/zz-lastwords.cfg'),
            bootloader=dict(type='str', default='auto', choices=['auto'] + list(BOOTLOADERS)),
            cmdline_file=dict(type='path'),
            proxmox_boot_tool=dict(type='path'),
            update=dict(type='bool', default=True),
            grub_mkconfig=dict(type='path'),
            grub_cfg=dict(type='path', default='/boot/grub/grub.cfg'),
            grubby=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    root = checked_root(module, params['root'])
    for option in ('dropin', 'grub_cfg', 'cmdline_file'):
        if params[option] is not None and not os.path.isabs(params[option]):
            module.fail_json(msg='%s=%s must be an absolute path (it is taken under root)' % (option, params[option]))

    args = normalise_args(module, params['args'])
    for name in params['remove']:
        try:
            validate_arg(name)
        except ValueError as exc:
            module.fail_json(msg='remove: %s' % exc)
    if params['state'] == 'absent':
        set_args, absent = OrderedDict(), list(args) + list(params['remove'])
    else:
        set_args, absent = args, list(params['remove'])
        clash = [name for name in absent if normalize_name(name) in set(normalize_name(n) for n in set_args)]
        if clash:
            module.fail_json(msg='%s is both in args and in remove; keep it in one of them' % ', '.join(clash))
    unique_absent = OrderedDict((normalize_name(name), name) for name in absent)
    absent = list(unique_absent.values())
    check_crashkernel_fit(module, root, set_args)

    try:
        bootloader = detect(root, params['bootloader'])
    except ValueError as exc:
        module.fail_json(msg='bootloader=auto: %s' % exc)

    result = dict(changed=False, bootloader=bootloader, dropin=None, grub_cfg_updated=False, other_sources=[],
                  managed={'args': {}, 'absent': []}, cmdline_file=None, entries=[])
    if bootloader == 'grubby':
        apply_grubby(module, root, set_args, absent, result)
        wanted_set, wanted_absent = set_args, absent
    elif bootloader in CMDLINE_FILE_LOADERS:
        apply_cmdline_file(module, root, bootloader, set_args, absent, result)
        wanted_set, wanted_absent = set_args, absent
    else:
        wanted_set, wanted_absent = apply_grub_debian(module, root, set_args, absent, result)

    running = read_text(under(root, '/proc/cmdline'))
    running_text = running.strip() if running is not None else None
    pending_map = pending_changes_by_name(running_text or '', wanted_set, wanted_absent)
    pending = list(pending_map.values())
    result['cmdline'] = running_text
    result['args'] = split_cmdline(edit_cmdline(running_text or '', wanted_set, wanted_absent))
    result['pending'] = pending
    result['reboot_required'] = bool(pending)
    if running is None:
        module.warn('%s is not readable: reboot_required assumes a running kernel with no arguments'
                    % under(root, '/proc/cmdline'))
    sync_reboot_marker(module, root, MARKER_TAG, pending_map, covered=list(wanted_set) + list(wanted_absent),
                       same=normalize_name)  # writes nothing in check mode
    module.exit_json(**result)


if __name__ == '__main__':
    main()
