# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that read a crashed kernel's log (used by the crash drill and collect playbooks)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.module_utils._crash_report import panic_signature as _signature
from ansible_collections.lastwords.panic.plugins.module_utils._crash_report import summary_and_signature


def _log_text(name, text):
    """Kernel log text from what a playbook holds: a string, bytes, a list of lines, or nothing."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    if isinstance(text, (list, tuple)) and all(isinstance(line, str) for line in text):
        return "\n".join(text)
    if not isinstance(text, str):
        raise AnsibleFilterError("%s: input must be kernel log text (a string or a list of lines), got %s"
                                 % (name, type(text).__name__))
    return text


def panic_signature(text):
    """What killed a kernel, where, in which context, and a key that groups the same bug across hosts and boots.

    See `panic_signature` in module_utils/_crash_report.py for the keys.
    """
    return _signature(_log_text("panic_signature", text))


def dmesg_summary(text, frames=8, unreliable="drop", signature=False):
    """Panic reason, first frames of the call trace and kernel release of a dump's dmesg text; with ``signature``,
    its panic_signature too (``signature`` key), from the same single reading.

    See `summarize_dmesg` in module_utils/_crash_report.py for the keys; the same panic parsing runs in
    netconsole_log, so a drill can compare what the receiver got with what the dump holds.
    """
    text = _log_text("dmesg_summary", text)
    try:
        frames = int(frames)
    except (TypeError, ValueError):
        raise AnsibleFilterError("dmesg_summary: frames must be a whole number, got %r" % (frames,)) from None
    try:
        summary, found = summary_and_signature(text, frames=frames, unreliable=unreliable)
    except ValueError as exc:
        raise AnsibleFilterError("dmesg_summary: %s" % exc) from None
    if signature:
        summary["signature"] = found
    return summary


class FilterModule:
    def filters(self):
        return {"dmesg_summary": dmesg_summary, "panic_signature": panic_signature}
