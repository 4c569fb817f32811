# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: at the end of each playbook, the slowest tasks (wall time from one task start to the next).

Under TCG every module call costs seconds, and CI time is the project's budget; this says where it goes.
Enabled by the scenarios through ANSIBLE_CALLBACK_PLUGINS and callbacks_enabled; not part of the collection.
When LASTWORDS_RECORD_PLAYBOOKS names a file (`make scenario` sets it for Molecule's own runs: create, prepare,
converge, idempotence, destroy), the run's wall time is appended there too, one JSON line, for the phase table at
the end of `make test`; the tests' own ansible-playbook runs are timed by their phase instead.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: lastwords_timer
type: aggregate
short_description: print the slowest tasks of a playbook run
description: Wall time per task (from its start to the next task's start), the slowest first.
requirements: [enable in callbacks_enabled]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lastwords_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._times = []  # [name, start, end]
        self._playbook = None
        self._start = time.monotonic()

    def _close(self):
        if self._times and self._times[-1][2] is None:
            self._times[-1][2] = time.monotonic()

    def v2_playbook_on_start(self, playbook):
        self._playbook = os.path.basename(playbook._file_name)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        self._times.append([task.get_name(), time.monotonic(), None])

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats):
        self._close()
        top = int(os.environ.get("LASTWORDS_TIMER_TOP", "12"))
        total = time.monotonic() - self._start
        self._display.display("lastwords_timer: %.0f s in all; slowest tasks:" % total)
        for name, start, end in sorted(self._times, key=lambda t: t[1] - t[2])[:top]:
            self._display.display("  %7.1f s  %s" % (end - start, name))
        record = os.environ.get("LASTWORDS_RECORD_PLAYBOOKS")
        if record:
            from ansible import context

            check = bool(context.CLIARGS.get("check"))
            line = {"scenario": os.environ.get("MOLECULE_SCENARIO_NAME", ""), "seconds": round(total, 1),
                    "phase": "molecule %s%s" % (self._playbook, " --check" if check else ""), "panics": 0}
            with open(record, "a") as out:
                out.write(json.dumps(line) + "\n")
