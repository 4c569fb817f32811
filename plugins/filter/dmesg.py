# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that read a crashed kernel's log (used by the crash drill and collect playbooks)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.module_utils._crash_report import summarize_dmesg


def dmesg_summary(text, frames=8, unreliable="drop"):
    """Panic reason, first frames of the call trace and kernel release of a dump's dmesg text.

    See `summarize_dmesg` in module_utils/_crash_report.py for the keys; the same panic parsing runs in
    netconsole_log, so a drill can compare what the receiver got with what the dump holds.
    """
    if text is None:
        text = ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise AnsibleFilterError("dmesg_summary: input must be the text of a dmesg file, got %s" % type(text).__name__)
    try:
        frames = int(frames)
    except (TypeError, ValueError):
        raise AnsibleFilterError("dmesg_summary: frames must be a whole number, got %r" % (frames,)) from None
    try:
        return summarize_dmesg(text, frames=frames, unreliable=unreliable)
    except ValueError as exc:
        raise AnsibleFilterError("dmesg_summary: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"dmesg_summary": dmesg_summary}
