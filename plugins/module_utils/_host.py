# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's file tree for lastwords.panic's modules (private): where a path is, reading it, writing it.

Every module that reads or writes host files takes ``root`` (default ``/``): the unit tests run the modules on a
temporary tree recorded from real systems, and each path a module names is the host's absolute path, found
inside that root. This file owns that mapping, the check of the option, the reads (a file that is missing,
unreadable or not text is ``None``, never an exception) and the one way a module writes a file: a temporary
file in the same directory, flushed and fsynced, moved over the old one by ``AnsibleModule.atomic_move``, then
given its mode (a crash or power cut in the middle leaves the old file or the new one, never half of either).
It also owns the reboot marker, ``/run/lastwords/reboot-required``: one line per change that waits for a boot,
``<module>[<what>]: <sentence>`` (``lastwords.panic.kernel_cmdline[crashkernel]: ...``,
``lastwords.panic.kernel_boot[trial]: ...``). Each module rewrites only its own lines and keeps everyone else's;
``capture_facts`` reports the file; ``/run`` is emptied by the boot that makes the lines true.

Python 3.6+ standard library only; the module object is passed in, never imported here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile


def checked_root(module, value):
    """``root`` normalised, or the module fails naming the option: it must be an existing absolute directory."""
    root = os.path.normpath(value)
    if not os.path.isabs(root) or not os.path.isdir(root):
        module.fail_json(msg='root=%s is not an existing absolute directory' % value)
    return root


def host_tool(module, root, option, name, required=True, other_root=None):
    """The path of a tool the module runs: its option ``option`` when given (it must be executable), else ``name``
    found on PATH. Under a ``root`` other than / the host's own tool would act on the host instead of the tree,
    so there the option must be given; ``other_root`` says why for this tool (a standard sentence otherwise).
    None when not ``required`` and there is none."""
    binary = module.params.get(option)
    if binary:
        if not os.access(binary, os.X_OK):
            module.fail_json(msg='%s=%s is not an executable file' % (option, binary))
        return binary
    if root not in ('', '/'):
        if required:
            module.fail_json(msg=other_root or 'root=%s: give %s explicitly (the host\'s %s would act on the host)'
                             % (root, option, name))
        return None
    return module.get_bin_path(name, required=required)


def under(root, path):
    """``path`` (absolute, as seen on the host) inside ``root``."""
    if root in ('', '/'):
        return path
    return os.path.join(root, path.lstrip('/'))


def read_text(path):
    """The text of ``path``, or None when it is missing, unreadable or not UTF-8."""
    try:
        with open(path, 'r') as handle:
            return handle.read()
    except (IOError, OSError, UnicodeDecodeError):
        return None


def write_atomic(module, path, data, mode=0o644):
    """Replace ``path`` with ``data`` (text or bytes) atomically and durably; its directory is made if missing."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix='.lastwords-', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data if isinstance(data, bytes) else data.encode('utf-8'))
            handle.flush()
            os.fsync(handle.fileno())
        module.atomic_move(tmp, path)
        os.chmod(path, mode)  # atomic_move gives a new file the default mode, an old one its old mode
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


REBOOT_MARKER = '/run/lastwords/reboot-required'


def sync_reboot_marker(module, root, tag, pending, covered=None, same=None):
    """Put ``tag``'s lines in the reboot marker in step with ``pending`` (what -> sentence).

    The lines of ``tag`` for each name in ``covered`` (all of ``tag``'s lines when None) are replaced by those of
    ``pending``; other lines stay. ``same`` maps a name to the form names are compared in (the kernel's ``-`` and
    ``_`` alike, for arguments). Nothing is written in check mode; a failed write is a warning, not a failure
    (the marker is advice for the operator and for readiness, and the change itself is done).
    """
    same = same or (lambda name: name)
    path = under(root, REBOOT_MARKER)
    current = read_text(path)
    drop = None if covered is None else set(same(name) for name in covered)
    lines = []
    for line in (current or '').splitlines():
        if line.startswith(tag + '[') and ']' in line:
            if drop is None or same(line[len(tag) + 1:line.index(']')]) in drop:
                continue
        if line:
            lines.append(line)
    lines.extend('%s[%s]: %s' % (tag, name, sentence) for name, sentence in pending.items())
    text = ''.join(line + '\n' for line in lines)
    if text == (current or '') or module.check_mode:
        return
    try:
        if text:
            write_atomic(module, path, text)
        else:
            remove(path)
    except (IOError, OSError) as exc:
        module.warn('could not update %s: %s' % (REBOOT_MARKER, exc))


def remove(path):
    """Remove ``path`` (a file or a link) when it is there."""
    if os.path.lexists(path):
        os.unlink(path)


def mem_total_bytes(root):
    """MemTotal of ``<root>/proc/meminfo`` in bytes, or None when it is unreadable."""
    for line in (read_text(under(root, '/proc/meminfo')) or '').splitlines():
        if line.startswith('MemTotal:'):
            try:
                return int(line.split()[1]) * 1024
            except (IndexError, ValueError):
                return None
    return None


def boot_ram_bytes(root):
    """About the RAM the kernel sized ``crashkernel=`` ranges by at boot: MemTotal plus the crash reservation
    (which MemTotal no longer counts). None when MemTotal is unreadable."""
    total = mem_total_bytes(root)
    if total is None:
        return None
    reserved = Tree(root).integer('/sys/kernel/kexec_crash_size')
    return total + (reserved if reserved and reserved > 0 else 0)


class Tree(object):
    """Read-only access to the host's files under ``root``; every miss is None (or empty), never an exception."""

    def __init__(self, root):
        self.root = root

    def path(self, path):
        return under(self.root, path)

    def exists(self, path):
        return os.path.lexists(self.path(path))

    def isdir(self, path):
        return os.path.isdir(self.path(path))

    def read(self, path):
        return read_text(self.path(path))

    def line(self, path):
        text = self.read(path)
        return text.strip() if text is not None else None

    def integer(self, path):
        text = self.line(path)
        try:
            return int(text)
        except (TypeError, ValueError):
            return None

    def listdir(self, path):
        try:
            return sorted(os.listdir(self.path(path)))
        except OSError:
            return []
