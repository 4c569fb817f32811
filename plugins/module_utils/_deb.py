# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files out of a Debian package, without installing it: ``apt-get download`` and one member of its data archive.

kernel_changelog reads a kernel package's changelog this way, crash_batch a debug package's vmlinux (the
``linux-image-<release>-dbg`` package is ~860 MB, 5.6 GB unpacked, of which only the 630 MB vmlinux is wanted, and
it comes eleventh in the archive: reading the stream up to it, then stopping, takes seconds, not minutes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import shutil
import tarfile

try:
    from shlex import quote
except ImportError:  # pragma: no cover - Python 2
    from pipes import quote

C_ENV = {"LC_ALL": "C", "LANG": "C"}
# data.tar compressions Python's tarfile reads as a stream; anything else (Ubuntu's zstd) goes through dpkg-deb
STREAM_MODES = {"": "r|", "xz": "r|xz", "gz": "r|gz", "bz2": "r|bz2"}


class _Member(object):
    """The bytes of one member of an ar archive, read as a stream (a kernel's data archive is hundreds of MB)."""

    def __init__(self, handle, size):
        self.handle, self.left = handle, size

    def read(self, count=-1):
        if count is None or count < 0 or count > self.left:
            count = self.left
        data = self.handle.read(count)
        self.left -= len(data)
        return data


def _data_archive(handle, path):
    """Move ``handle`` to the start of the package's data.tar* member; its compression and size."""
    if handle.read(8) != b"!<arch>\n":
        raise ValueError("%s is not a Debian package (no ar archive)" % path)
    while True:
        header = handle.read(60)
        if len(header) < 60:
            raise ValueError("%s has no data archive (data.tar*)" % path)
        name, size = header[:16].decode("ascii", "replace").strip().rstrip("/"), int(header[48:58])
        if name.startswith("data.tar"):
            return name[len("data.tar"):].lstrip("."), size
        handle.seek(size + (size % 2), 1)


def _matches(name, patterns):
    name = name[2:] if name.startswith("./") else name
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def extract_member(path, patterns, dest, module=None):
    """Copy the first regular file of the package at ``path`` whose name (``usr/...``, no leading ``./``) matches
    one of the shell ``patterns`` into the directory ``dest``, under its base name; return that path, or None when
    none matches. The data archive is read as a stream and left at that file. A data.tar.zst needs ``module`` (an
    AnsibleModule) to run ``dpkg-deb --fsys-tarfile`` into ``tar``, which extracts only what matches."""
    with open(path, "rb") as handle:
        compression, size = _data_archive(handle, path)
        if compression in STREAM_MODES:
            with tarfile.open(fileobj=_Member(handle, size), mode=STREAM_MODES[compression]) as archive:
                for member in archive:
                    if member.isfile() and _matches(member.name, patterns):
                        out = os.path.join(dest, os.path.basename(member.name))
                        with open(out, "wb") as target:
                            shutil.copyfileobj(archive.extractfile(member), target, 1 << 20)
                        return out
            return None
    if module is None:
        raise ValueError("%s has a data.tar.%s archive: dpkg-deb is needed to read it" % (path, compression))
    tree = os.path.join(dest, ".deb-tree")
    os.mkdir(tree)
    try:
        # tar exits 2 when a pattern matches nothing: the walk below says whether anything came out
        module.run_command("dpkg-deb --fsys-tarfile %s | tar -x -C %s --wildcards %s" % (
            quote(path), quote(tree), " ".join(quote("./" + pattern) for pattern in patterns)),
            use_unsafe_shell=True, environ_update=C_ENV)
        for pattern in patterns:
            for root, _dirs, files in os.walk(tree):
                for name in sorted(files):
                    full = os.path.join(root, name)
                    if not os.path.islink(full) and _matches(os.path.relpath(full, tree), [pattern]):
                        out = os.path.join(dest, name)
                        os.rename(full, out)
                        return out
        return None
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def apt_download(module, package, version, dest):
    """``apt-get download package=version`` into the directory ``dest``; the .deb's path. Fails the module with
    apt's words when it cannot."""
    argv = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", "%s=%s" % (package, version)]
    rc, out, err = module.run_command(argv, cwd=dest, environ_update=C_ENV)
    if rc != 0:
        module.fail_json(msg="apt-get download %s=%s failed (exit %d): %s" % (
            package, version, rc, (err or out).strip()[-500:]))
    debs = sorted(name for name in os.listdir(dest) if name.endswith(".deb"))
    if not debs:
        module.fail_json(msg="apt-get download %s=%s left no .deb in %s" % (package, version, dest))
    return os.path.join(dest, debs[0])
