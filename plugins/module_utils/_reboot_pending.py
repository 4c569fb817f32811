# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The play-side record of a pending reboot (the host side is _host.sync_reboot_marker's marker file)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def merge(reasons, reason):
    """The facts after adding `reason` ("<role>: <sentence>") to the reasons recorded so far in this play.

    lastwords_reboot_required is true from the first reason on; a reason already recorded is not repeated (a
    role run twice in one play says it once).
    """
    if not isinstance(reason, str) or ":" not in reason or not reason.split(":", 1)[1].strip():
        raise ValueError(
            "reason must read '<role>: <what waits for the reboot>', e.g. 'kdump: the crashkernel reservation "
            "changed', got %r" % (reason,)
        )
    if reasons is None:
        reasons = []
    if not isinstance(reasons, (list, tuple)):
        raise ValueError("lastwords_reboot_reasons must be a list of sentences, got %r" % (reasons,))
    merged = list(reasons)
    if reason not in merged:
        merged.append(reason)
    return {"lastwords_reboot_required": True, "lastwords_reboot_reasons": merged}
