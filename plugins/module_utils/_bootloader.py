# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which boot loader a host's kernels are configured through, and the regeneration of its menu (private).

Owned here, for kernel_cmdline and kernel_boot alike:

* ``bootloader: auto``: ``grubby`` when the host has it (the RHEL family edits its boot entries with it),
  otherwise ``grub-debian`` (Debian and Ubuntu: ``/etc/default/grub`` and ``grub.d`` drop-ins, then
  ``grub-mkconfig``). The one place where another boot loader is added.
* The environment every boot-loader command runs with (``LC_ALL=C``: ``grub-mkconfig`` reads
  ``/etc/default/grub.d/*.cfg`` in byte order, and tools' messages are parsed in English).
* ``grub-mkconfig`` staged: it writes ``<grub_cfg>.new``, which replaces ``grub_cfg`` only when the command
  succeeded and wrote something; otherwise the staged file is removed and the old menu stays.

Python 3.6+ standard library only; the module object is passed in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.lastwords.panic.plugins.module_utils._host import remove, under

LC_ENV = {'LC_ALL': 'C', 'LANG': 'C'}
GRUBBY_PATHS = ('/usr/sbin/grubby', '/sbin/grubby')
BOOTLOADERS = ('grub-debian', 'grubby')


def detect(root, asked='auto'):
    """The boot loader to use under ``root``: ``asked``, or for ``auto`` the one the host has."""
    if asked != 'auto':
        return asked
    return 'grubby' if any(os.path.exists(under(root, path)) for path in GRUBBY_PATHS) else 'grub-debian'


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
