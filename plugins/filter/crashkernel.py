# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that size the crash kernel reservation (used by the kdump role to validate before changing)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.module_utils._cmdline import crashkernel_size

MIB = 1024 * 1024


def crashkernel_auto(ram_mb):
    """The reservation lastwords picks for ``kdump_crashkernel: auto``, from the host's RAM in MiB.

    256 MiB up to 4 GiB of RAM (measured: Debian 12's capture kernel and kdump-tools initrd ran out of memory
    in 128 MiB and worked in 256 MiB in a 2 GiB guest), then 64 MiB more per started 16 GiB, because
    makedumpfile's bitmaps and the page tables of the dumped memory grow with RAM; capped at 1 GiB.
    Hosts under 1 GiB get 192 MiB (a smaller kernel cannot boot the capture environment in less).
    """
    try:
        ram = int(ram_mb)
    except (TypeError, ValueError):
        raise AnsibleFilterError("crashkernel_auto: RAM in MiB must be a number, got %r" % (ram_mb,)) from None
    if ram < 1024:
        return "192M"
    extra = max(0, -(-(ram - 4096) // (16 * 1024)))  # started 16 GiB blocks above 4 GiB
    return "%dM" % min(1024, 256 + 64 * extra)


def crashkernel_reserved_mb(value, ram_mb):
    """MiB that ``crashkernel=<value>`` reserves on a host with ``ram_mb`` MiB of RAM (0 if no range matches).

    Raises an error naming the bad part when the value is not valid crashkernel syntax.
    """
    try:
        size = crashkernel_size(str(value), int(ram_mb) * MIB)
    except ValueError as e:
        raise AnsibleFilterError(str(e)) from None
    if size is None:
        raise AnsibleFilterError("crashkernel=auto is RHEL's legacy keyword; give a size such as 256M")
    return size // MIB


class FilterModule:
    def filters(self):
        return {"crashkernel_auto": crashkernel_auto, "crashkernel_reserved_mb": crashkernel_reserved_mb}
