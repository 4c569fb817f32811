# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record that a role left a reboot pending: the one way the collection's roles set lastwords_reboot_required."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.lastwords.panic.plugins.module_utils._reboot_pending import merge


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(("reason",))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        reason = self._task.args.get("reason")
        try:
            facts = merge(task_vars.get("lastwords_reboot_reasons"), reason)
        except ValueError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(changed=False, ansible_facts=facts, reboot_reasons=facts["lastwords_reboot_reasons"])
        return result
