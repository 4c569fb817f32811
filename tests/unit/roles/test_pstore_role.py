"""The pstore role on this machine, in check mode (real ansible-playbook runs; nothing on the machine changes).

This machine boots without UEFI: the role must say there is no backend and change nothing, and refuse an efi
backend and a malformed ramoops region before anything, naming the variable.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
PLAY = "- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [lastwords.panic.pstore]\n"

pytestmark = [
    pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook is not next to this Python"),
    pytest.mark.skipif(Path("/sys/firmware/efi").exists(), reason="this machine booted through UEFI"),
]


def play(tmp_path, *extra):
    book = tmp_path / "play.yml"
    book.write_text(PLAY)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="default")
    result = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "--check", str(book), "-e",
                             f"ansible_python_interpreter={sys.executable}", *extra],
                            capture_output=True, text=True, env=env, timeout=240, check=False)
    out = " ".join((result.stdout + result.stderr).split())
    recap = re.search(r"localhost\s*: ok=\d+ changed=(\d+) unreachable=\d+ failed=(\d+)", out)
    assert recap, out[-3000:]
    return result.returncode, int(recap[1]), int(recap[2]), out


def test_no_backend_without_uefi_or_a_region(tmp_path):
    rc, changed, failed, out = play(tmp_path)
    assert rc == 0 and changed == 0 and failed == 0, out[-3000:]
    assert "pstore has no backend here (no UEFI, no pstore_ramoops region): nothing was armed" in out


@pytest.mark.parametrize(("extra", "message"), [
    (["-e", "pstore_backend=efi"], "pstore_backend: efi needs a host booted through UEFI"),
    (["-e", '{"pstore_ramoops": {"mem_address": "0x30000000", "mem_size": "1M", "colour": "red"}}'],
     "unknown keys: colour"),
    (["-e", '{"pstore_ramoops": {"mem_address": "805306368", "mem_size": "1M"}}'], "mem_address (hex"),
    (["-e", "pstore_backend=mtd"], "pstore_backend"),
])
def test_bad_input_is_refused_before_any_change(tmp_path, extra, message):
    rc, changed, failed, out = play(tmp_path, *extra)
    assert rc != 0 and failed == 1 and changed == 0, out[-3000:]
    assert message in out, out[-3000:]
