"""The end of `make test`: tests/tools/summary on real stage and phase files, and the timer callback's record."""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SUMMARY = ROOT / "tests" / "tools" / "summary"


def run_summary(tmp_path, stages: str, phases: list[dict] | None) -> subprocess.CompletedProcess:
    (tmp_path / "stages.tsv").write_text(stages)
    env = dict(os.environ, LASTWORDS_STAGES=str(tmp_path / "stages.tsv"),
               LASTWORDS_PHASES=str(tmp_path / "phases.jsonl"))
    if phases is not None:
        (tmp_path / "phases.jsonl").write_text("".join(json.dumps(p) + "\n" for p in phases))
    return subprocess.run([str(SUMMARY)], capture_output=True, text=True, env=env, timeout=60, check=False)


def test_phase_table_counts_the_real_panics(tmp_path):
    phases = [
        {"scenario": "e2e", "phase": "molecule site.yml", "seconds": 600.0, "panics": 0},
        {"scenario": "e2e", "phase": "molecule site.yml", "seconds": 120.0, "panics": 0},
        {"scenario": "e2e", "phase": "50_drill", "seconds": 450.0, "panics": 2, "failed": 0,
         "proven": ["deb12: drill", "deb13: drill"]},
        {"scenario": "e2e", "phase": "60_kernel", "seconds": 900.0, "panics": 1, "failed": 1,
         "proven": ["deb12: trial"]},
    ]
    res = run_summary(tmp_path, "lint\tok\t60\nscenario:e2e\tFAILED\t2400\n", phases)
    out = res.stdout
    assert res.returncode == 1, out  # a failed stage fails the summary
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "e2e molecule site.yml 10.0 0" in lines
    assert "e2e molecule site.yml (again) 2.0 0" in lines  # idempotence: the second run of the same playbook
    assert "e2e 50_drill 7.5 2" in lines
    assert "e2e 60_kernel 15.0 1 FAILED 1" in lines
    assert "proven: deb13: drill" in lines
    assert "real panics proven: 3" in lines
    assert lines[-1] == "stages: 1 passed, 1 failed"


def test_no_phases_means_stages_only(tmp_path):
    res = run_summary(tmp_path, "lint\tok\t60\nunit\tok\t70\n", None)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "real panics proven" not in res.stdout
    assert res.stdout.splitlines()[-1] == "stages: 2 passed, 0 failed"
    assert "total 130s" in [" ".join(line.split()) for line in res.stdout.splitlines()]


def test_timer_callback_records_molecule_runs_only_when_asked(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {msg: hi}\n")
    record = tmp_path / "phases.jsonl"
    env = dict(os.environ, ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "tests" / "tools" / "callbacks"),
               ANSIBLE_CALLBACKS_ENABLED="lastwords_timer", MOLECULE_SCENARIO_NAME="unit",
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    for check, recorded in ((False, False), (True, True)):
        if recorded:
            env["LASTWORDS_RECORD_PLAYBOOKS"] = str(record)
        argv = ["ansible-playbook", str(play)] + (["--check"] if check else [])
        res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "lastwords_timer:" in res.stdout
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(rows) == 1, rows  # the first run was not asked to record
    assert rows[0]["phase"] == "molecule play.yml --check" and rows[0]["scenario"] == "unit"
    assert rows[0]["seconds"] >= 0
