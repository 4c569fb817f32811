"""reboot_pending: the play-side record of a pending reboot, run by a real ansible-playbook on the controller."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.lastwords.panic.plugins.module_utils._reboot_pending import merge

REPO = Path(__file__).resolve().parents[4]

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Nothing recorded yet
      ansible.builtin.assert:
        that: lastwords_reboot_required is not defined
    - name: netconsole records one
      lastwords.panic.reboot_pending:
        reason: "netconsole: the kernel command line changed"
    - name: kdump records one
      lastwords.panic.reboot_pending:
        reason: "kdump: the crashkernel reservation changed"
      register: second
    - name: the same role again in the same play
      lastwords.panic.reboot_pending:
        reason: "kdump: the crashkernel reservation changed"
    - name: Show
      ansible.builtin.debug:
        msg: "RESULT {{ {'required': lastwords_reboot_required, 'reasons': lastwords_reboot_reasons,
                         'changed': second.changed, 'returned': second.reboot_reasons} | to_json }}"
    - name: A reason that does not say who
      lastwords.panic.reboot_pending:
        reason: reboot please
"""


def test_merge_adds_once_and_keeps_order():
    facts = merge(None, "kdump: the crashkernel reservation changed")
    assert facts == {"lastwords_reboot_required": True,
                     "lastwords_reboot_reasons": ["kdump: the crashkernel reservation changed"]}
    again = merge(facts["lastwords_reboot_reasons"], "kernel: the next boot tries kernel 6.1.0-47-amd64 once")
    assert again["lastwords_reboot_reasons"][1].startswith("kernel:")
    assert merge(again["lastwords_reboot_reasons"], "kdump: the crashkernel reservation changed") == again


@pytest.mark.parametrize("reason", [None, "", "reboot please", "kdump:", "kdump:   "])
def test_merge_refuses_a_reason_without_its_role(reason):
    with pytest.raises(ValueError, match="<role>: <what waits for the reboot>"):
        merge([], reason)


def test_merge_refuses_reasons_that_are_not_a_list():
    with pytest.raises(ValueError, match="lastwords_reboot_reasons must be a list"):
        merge("kdump: x", "kernel: y")


def test_in_a_real_play(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"))
    res = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                          str(playbook)], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
                         check=False)
    line = next(ln for ln in res.stdout.splitlines() if "RESULT" in ln)
    shown = json.loads(line.split("RESULT", 1)[1].strip().rstrip('"').replace('\\"', '"'))
    assert shown == {"required": True, "changed": False,
                     "reasons": ["netconsole: the kernel command line changed",
                                 "kdump: the crashkernel reservation changed"],
                     "returned": ["netconsole: the kernel command line changed",
                                  "kdump: the crashkernel reservation changed"]}
    assert res.returncode == 2  # the last task fails
    assert "reason must read '<role>: <what waits for the reboot>'" in res.stdout
