# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which boot loader a host's kernels are configured through, and how its configuration is rewritten (private).

Owned here, for kernel_cmdline and kernel_boot alike (the one place where another boot loader is added):

* ``bootloader: auto`` reads what the host booted through, most specific first:

  - ``proxmox-boot-tool`` (Proxmox VE): the tool and ``/etc/kernel/proxmox-boot-uuids``, the ESPs it keeps in
    sync. The command line is ``/etc/kernel/cmdline`` (systemd-boot ESPs) and ``proxmox-boot-tool refresh``
    copies kernels, initrds and entries onto every ESP.
  - ``grubby`` (the RHEL family edits its boot entries with it).
  - ``systemd-boot``: the EFI variable ``LoaderInfo`` that systemd-boot sets on every boot (so a host that only
    has the package installed is not taken for one). The command line of new kernels is ``/etc/kernel/cmdline``,
    which kernel-install reads; the entries already installed are ``<ESP or XBOOTLDR>/loader/entries/*.conf``.
  - ``cmdline-txt`` (Raspberry Pi): the device tree model says Raspberry Pi and ``cmdline.txt`` is there (the
    firmware reads its one line at boot; no menu, no second kernel). Debian's raspi-firmware rewrites that file
    on every kernel update and appends ``/etc/default/raspi-extra-cmdline``, so there both files are edited.
  - ``grub-debian`` (Debian and Ubuntu): ``/etc/default/grub``, its ``grub.d`` drop-ins, then ``grub-mkconfig``.

  Anything else fails before any change, naming what was looked for.
* The environment every boot-loader command runs with (``LC_ALL=C``: ``grub-mkconfig`` reads
  ``/etc/default/grub.d/*.cfg`` in byte order, and tools' messages are parsed in English).
* ``grub-mkconfig`` staged: it writes ``<grub_cfg>.new``, which replaces ``grub_cfg`` only when the command
  succeeded and wrote something; otherwise the staged file is removed and the old menu stays.
* Boot Loader Specification type #1 entries (``loader/entries/*.conf``): where they are, and their ``options``.
* EFI variables as efivarfs shows them (a 4-byte attribute word, then the value; systemd-boot's are UTF-16LE).

Python 3.6+ standard library only; the module object is passed in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.lastwords.panic.plugins.module_utils._host import read_text, remove, under

LC_ENV = {'LC_ALL': 'C', 'LANG': 'C'}
GRUBBY_PATHS = ('/usr/sbin/grubby', '/sbin/grubby')
PROXMOX_TOOL_PATHS = ('/usr/sbin/proxmox-boot-tool', '/sbin/proxmox-boot-tool')
PROXMOX_UUIDS = '/etc/kernel/proxmox-boot-uuids'
BOOTLOADERS = ('grub-debian', 'grubby', 'systemd-boot', 'proxmox-boot-tool', 'cmdline-txt')
# the loaders whose command line is one file: the kernel's arguments, one line
KERNEL_CMDLINE = '/etc/kernel/cmdline'
PI_CMDLINE_PATHS = ('/boot/firmware/cmdline.txt', '/boot/cmdline.txt')
PI_MODEL = '/proc/device-tree/model'
RASPI_HOOK = '/etc/kernel/postinst.d/z50-raspi-firmware'
RASPI_EXTRA = '/etc/default/raspi-extra-cmdline'
# systemd-boot's vendor GUID for its EFI variables (LoaderInfo, LoaderEntryOneShot, LoaderEntryDefault, ...)
LOADER_GUID = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f'
EFIVARS = '/sys/firmware/efi/efivars'
# where an ESP or XBOOTLDR partition is mounted, in bootctl's order; entries live in <that>/loader/entries
BOOT_MOUNTS = ('/efi', '/boot', '/boot/efi')


def _first(root, paths):
    return next((path for path in paths if os.path.exists(under(root, path))), None)


def efi_variable(root, name, guid=LOADER_GUID):
    """The text of an EFI variable as efivarfs shows it (attributes dropped, UTF-16LE, NUL-terminated), or None."""
    try:
        with open(under(root, '%s/%s-%s' % (EFIVARS, name, guid)), 'rb') as handle:
            raw = handle.read()
    except (IOError, OSError):
        return None
    try:
        return raw[4:].decode('utf-16-le').split('\0', 1)[0]
    except UnicodeDecodeError:
        return None


def pi_cmdline(root):
    """The Raspberry Pi's cmdline.txt (host path) when the device tree says Raspberry Pi, else None."""
    model = read_text(under(root, PI_MODEL)) or ''
    if 'Raspberry Pi' not in model:
        return None
    return _first(root, PI_CMDLINE_PATHS)


def detect(root, asked='auto'):
    """The boot loader to use under ``root``: ``asked``, or for ``auto`` the one the host booted through.

    Raises ValueError naming what was looked for when nothing is recognised.
    """
    if asked != 'auto':
        return asked
    if _first(root, PROXMOX_TOOL_PATHS) and (read_text(under(root, PROXMOX_UUIDS)) or '').strip():
        return 'proxmox-boot-tool'
    if _first(root, GRUBBY_PATHS):
        return 'grubby'
    if (efi_variable(root, 'LoaderInfo') or '').startswith('systemd-boot'):
        return 'systemd-boot'
    if pi_cmdline(root):
        return 'cmdline-txt'
    if os.path.exists(under(root, '/etc/default/grub')):
        return 'grub-debian'
    raise ValueError(
        'no boot loader this collection knows was found: looked for proxmox-boot-tool with %s, grubby, '
        'systemd-boot (the EFI variable LoaderInfo-%s), a Raspberry Pi (%s) with %s, and GRUB (/etc/default/grub); '
        'set bootloader to one of %s if the host has one of them' % (
            PROXMOX_UUIDS, LOADER_GUID, PI_MODEL, ' or '.join(PI_CMDLINE_PATHS), ', '.join(BOOTLOADERS)))


def raspi_extra_cmdline(root):
    """Debian's raspi-firmware (not Raspberry Pi OS's) writes cmdline.txt anew on every kernel and initramfs update,
    with the arguments of /etc/default/raspi-extra-cmdline at its end: that file (host path) when the host has that
    hook, else None."""
    return RASPI_EXTRA if 'raspi-extra-cmdline' in (read_text(under(root, RASPI_HOOK)) or '') else None


def cmdline_file(root, bootloader):
    """The one file that holds the command line for ``bootloader`` (host path), or None for GRUB and grubby."""
    if bootloader in ('systemd-boot', 'proxmox-boot-tool'):
        return KERNEL_CMDLINE
    if bootloader == 'cmdline-txt':
        return pi_cmdline(root) or _first(root, PI_CMDLINE_PATHS) or PI_CMDLINE_PATHS[0]
    return None


def entry_dirs(root):
    """The ``loader/entries`` directories under the host's ESP and XBOOTLDR mounts (host paths), deduplicated."""
    found, seen = [], set()
    for mount in BOOT_MOUNTS:
        path = mount + '/loader/entries'
        real = os.path.realpath(under(root, path))
        if os.path.isdir(real) and real not in seen:
            seen.add(real)
            found.append(path)
    return found


def entry_options(text):
    """The ``options`` of a type #1 entry: every ``options`` line joined with a space, as systemd-boot does."""
    return ' '.join(line.strip().split(None, 1)[1] for line in (text or '').splitlines()
                    if line.strip().split(None, 1)[:1] == ['options'] and len(line.strip().split(None, 1)) == 2)


def with_options(text, options):
    """The entry ``text`` with one ``options`` line (where the first was, else after ``linux``) set to ``options``."""
    lines, out, placed = (text or '').splitlines(), [], False
    for line in lines:
        if line.strip().split(None, 1)[:1] == ['options']:
            if not placed:
                out.append('options    %s' % options)
                placed = True
            continue
        out.append(line)
    if not placed:
        index = next((i + 1 for i, line in enumerate(out) if line.strip().split(None, 1)[:1] == ['linux']),
                     len(out))
        out.insert(index, 'options    %s' % options)
    return '\n'.join(out) + '\n'


def grub_mkconfig(module, root, binary, grub_cfg):
    """Regenerate ``grub_cfg`` through ``<grub_cfg>.new``.

    Returns None when the new menu is in place, or ``(rc, stdout, stderr, reason)`` with the old one untouched;
    ``reason`` reads after the command's name (``exited with 2``, ``exited with 0 but wrote no ...``).
    """
    staged = under(root, grub_cfg) + '.new'
    rc, out, err = module.run_command([binary, '-o', staged], environ_update=LC_ENV)
    reason = None
    if rc != 0:
        reason = 'exited with %d' % rc
    elif not os.path.isfile(staged) or os.path.getsize(staged) == 0:
        reason = 'exited with 0 but wrote no %s' % staged
    if reason:
        remove(staged)
        return rc, out, err, reason
    module.atomic_move(staged, under(root, grub_cfg))
    return None
