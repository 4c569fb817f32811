"""The operator jobs' playbooks refuse bad input before any host is touched, naming the variable.

Real ansible-playbook runs of playbooks/crash_drill.yml, soak.yml and collect.yml on a localhost inventory. A value
of the wrong type is refused by the role's meta/argument_specs.yml (its first task); a whole number outside its
range by the role's own input check, which follows. Either way the run fails with changed=0, and the host (here,
this machine: a drill that got past its checks would panic it) is never reached by a task that changes anything.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook is not next to this Python")


@pytest.fixture(name="job")
def _job(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {
        "panic_capture": {"hosts": {"localhost": {"ansible_connection": "local",
                                                  "ansible_python_interpreter": sys.executable}}},
        # a receiver in name only (no network): every refusal comes before a receiver is asked anything
        "receivers": {"hosts": {"rx": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}},
    }}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default", PWD=str(tmp_path))

    def run(playbook, **extra):
        args = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(REPO / "playbooks" / playbook)]
        for name, value in extra.items():
            args += ["-e", f"{name}={value}"]
        result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=180, check=False,
                                cwd=tmp_path)
        out = " ".join((result.stdout + result.stderr).split())
        recap = re.search(r"localhost\s*: ok=\d+ changed=(\d+) unreachable=\d+ failed=(\d+)", out)
        assert recap, out[-3000:]
        assert result.returncode != 0 and recap[2] == "1", out[-3000:]
        assert recap[1] == "0", out[-3000:]
        assert "rx " not in out.rsplit("PLAY RECAP", maxsplit=1)[-1], out[-3000:]  # no task ran for the receiver
        assert not (tmp_path / "lastwords-report").exists()  # no report: the job never started
        return out

    return run


def test_drill_ranges_are_refused_before_the_drill(job):
    out = job("crash_drill.yml", lastwords_drill_confirm="localhost", lastwords_drill_timeout=30,
              lastwords_drill_frames=-1, lastwords_drill_clock_slack=-5)
    assert "Refusing the crash drill, nothing was changed" in out
    assert "lastwords_drill_timeout must be at least 60 seconds, got 30" in out
    assert "lastwords_drill_frames must be 0 or more, got -1" in out
    assert "lastwords_drill_clock_slack must be 0 seconds or more, got -5" in out


def test_drill_wrong_type_is_refused_by_the_spec(job):
    out = job("crash_drill.yml", lastwords_drill_confirm="localhost", lastwords_drill_timeout="10m")
    assert "Validation of arguments failed" in out and "lastwords_drill_timeout" in out
    assert "Refusing the crash drill" not in out  # the spec's task came first


def test_soak_ranges_are_refused_before_any_load(job):
    out = job("soak.yml", lastwords_soak_duration=0, lastwords_soak_port=80, lastwords_soak_return_timeout=-1,
              lastwords_soak_rounds=0)
    assert "Refusing the soak, nothing was started" in out
    assert "lastwords_soak_rounds must be 1 to 100 rounds, got 0" in out
    assert "lastwords_soak_duration must be whole seconds from 1 to 3600" in out
    assert "lastwords_soak_port must be a port from 1024 up" in out
    assert "lastwords_soak_return_timeout must be 0 seconds or more, got -1" in out


def test_collect_negative_frames_are_refused(job):
    out = job("collect.yml", lastwords_collect_frames=-2)
    assert "lastwords_collect_frames must be 0 or more (0 = the whole trace), got -2" in out
