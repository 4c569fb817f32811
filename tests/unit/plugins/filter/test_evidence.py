# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The crash drill, soak and collect reports on results shaped exactly as the modules and tasks return them."""

from __future__ import annotations

import copy
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.filter.dmesg import dmesg_summary
from ansible_collections.lastwords.panic.plugins.filter.evidence import (
    FilterModule,
    _utc,
    collect_plan,
    collect_record,
    collect_report,
    crash_drill_report,
    new_dumps,
    render_table,
    soak_report,
    soak_round_panicked,
)
from ansible_collections.lastwords.panic.plugins.module_utils._crash_report import PanicScanner, panic_signature

FILES = os.path.join(os.path.dirname(__file__), "files")
MiB = 1 << 20
FIRED = 1795654800.0  # controller time the panic was due
BOOT_BEFORE = "0f1c6c1e-6d0a-4bd4-9a8f-3b1e2a4c5d6e"
BOOT_AFTER = "7a2b9e44-1c3d-4e5f-8a6b-9c0d1e2f3a4b"
SYSRQ_TRACE = ["dump_stack_lvl+0x44/0x5c", "panic+0x118/0x2ec", "sysrq_handle_crash+0x16/0x20",
               "__handle_sysrq.cold+0x43/0x11b", "write_sysrq_trigger+0x24/0x40", "proc_reg_write+0x56/0xa0",
               "vfs_write+0xc7/0x3f0", "ksys_write+0x6b/0xf0", "do_syscall_64+0x55/0xb0",
               "entry_SYSCALL_64_after_hwframe+0x6e/0xd8"]
OLD_DUMP = {"name": "202611250900", "path": "/var/crash/202611250900", "files": ["dmesg.202611250900",
            "dump.202611250900"], "size_bytes": 40 * MiB, "mtime": 1795597300, "has_vmcore": True,
            "has_dmesg": True, "incomplete": False}
NEW_DUMP = {"name": "202611260120", "path": "/var/crash/202611260120", "files": ["dmesg.202611260120",
            "dump.202611260120"], "size_bytes": 43123456, "mtime": 1795654890, "has_vmcore": True,
            "has_dmesg": True, "incomplete": False}


def capture(boot_id=BOOT_BEFORE, dumps=(OLD_DUMP,), **overrides):
    """A registered capture_facts result of an armed Debian 12 host."""
    state = {"armed": True, "problems": [], "kernel_release": "6.1.0-47-amd64", "boot_id": boot_id,
             "dump_dir": "/var/crash", "dumps": [dict(dump) for dump in dumps]}
    state.update(overrides)
    return {"changed": False, "capture": state, "failed": False}


def panic(epoch, reason="Kernel panic - not syncing: sysrq triggered crash", trace=None):
    return {"time": "2026-11-26T01:20:02.004000+00:00", "epoch": epoch, "reason": reason,
            "first_line": "sysrq: Trigger a crash", "call_trace": list(SYSRQ_TRACE if trace is None else trace),
            "complete": False, "excerpt": []}


def receiver(name="receiver", host="host1", panics=(), marker_epoch=None, exists=True):
    """A registered loop item of netconsole_log asked about one host with the drill's marker as canary."""
    entry = {"file": "/var/log/netconsole/%s.log" % host, "exists": exists, "canary_found": marker_epoch is not None,
             "canary_epoch": marker_epoch, "panics": list(panics), "resets": []}
    return {"item": name, "changed": False, "failed": False, "hosts": {host: entry}, "missing_hosts": []}


DMESG_SUMMARY = {"panic": True, "reason": "Kernel panic - not syncing: sysrq triggered crash",
                 "first_line": "sysrq: Trigger a crash", "call_trace": SYSRQ_TRACE[:8], "trace_frames": 10,
                 "kernel_release": "6.1.0-47-amd64", "cpu": 0, "pid": 1234, "comm": "sh", "tainted": "Not tainted",
                 "crashed_in": None, "uptime_seconds": 123.457, "lines": 812}


def drill(**overrides):
    """The evidence crash_drill.yml gathers for a host that did everything right."""
    data = {
        "before": capture(),
        "after": capture(BOOT_AFTER, dumps=(OLD_DUMP, NEW_DUMP)),
        "back": True, "wait_error": None, "return_seconds": 187.0,
        "fired_at": FIRED, "since": FIRED - 60, "marker": "lastwords: crash drill host1 20261126T012000",
        "receivers": [receiver(panics=[panic(FIRED + 0.43)], marker_epoch=FIRED + 0.42)],
        "new_dumps": [NEW_DUMP], "dmesg": dict(DMESG_SUMMARY), "dmesg_error": None,
    }
    data.update(overrides)
    return data


# --------------------------------------------------------------------------------------------- drill


def test_drill_passes_with_both_kinds_of_evidence():
    report = crash_drill_report({"host1": drill()})
    assert report["all_passed"] is True and report["passed"] == ["host1"]
    (row,) = report["rows"]
    assert row["verdict"] == "PASS" and row["problems"] == []
    assert row["trace"] == "captured, 10 frames"
    assert row["trace_seconds"] == pytest.approx(0.01) and row["to_trace"] == "0.010 s"
    assert row["trace_from_marker"] is True and row["trace_receiver"] == "receiver"
    assert row["vmcore"] == "captured (202611260120)" and row["dump_size"] == "41M"
    assert row["dump_size_bytes"] == 43123456
    assert row["to_return"] == "187 s" and row["boot"] == "new"
    assert report["text"][0] == "lastwords crash drill: 1 of 1 hosts PASSED"
    assert report["text"][1].split()[:4] == ["HOST", "VERDICT", "TRACE", "ON"]
    assert any("dmesg says Kernel panic - not syncing: sysrq triggered crash" in line for line in report["text"])
    assert "| host1 | PASS " in report["markdown"]


def test_without_the_marker_the_trace_is_timed_from_the_controller_and_flagged():
    data = drill(receivers=[receiver(panics=[panic(FIRED + 1.5)])])
    (row,) = crash_drill_report({"host1": data})["rows"]
    assert row["passed"] and row["to_trace"] == "1.5 s*" and row["trace_from_marker"] is False
    assert "controller's clock" in crash_drill_report({"host1": data})["text"][-1]


def test_an_older_panic_on_the_receiver_does_not_count():
    data = drill(receivers=[receiver(panics=[panic(FIRED - 3600)], marker_epoch=None)])
    report = crash_drill_report({"host1": data})
    (row,) = report["rows"]
    assert row["verdict"] == "FAIL" and row["trace"] == "NOT captured"
    assert "no panic from this drill reached receiver" in row["problems"][0]
    assert report["failed"] == ["host1"] and report["all_passed"] is False


def test_a_panic_line_without_its_call_trace_fails():
    data = drill(receivers=[receiver(panics=[panic(FIRED + 0.4, trace=[])], marker_epoch=FIRED + 0.3)])
    (row,) = crash_drill_report({"host1": data})["rows"]
    assert row["trace"] == "panic line only" and "no call trace" in row["problems"][0]


def test_the_earliest_receiver_with_the_panic_counts_and_a_dead_receiver_is_named():
    down = {"item": "rx2", "unreachable": True, "msg": "Failed to connect to the host via ssh", "changed": False}
    late = receiver("rx3", panics=[panic(FIRED + 0.9)], marker_epoch=FIRED + 0.8)
    data = drill(receivers=[down, late, receiver(panics=[panic(FIRED + 0.5)], marker_epoch=FIRED + 0.42)])
    (row,) = crash_drill_report({"host1": data})["rows"]
    assert row["passed"] and row["trace_receiver"] == "receiver"
    data = drill(receivers=[down])
    (row,) = crash_drill_report({"host1": data})["rows"]
    assert "rx2 unreachable: Failed to connect" in row["problems"][0]


def test_a_host_that_never_came_back():
    data = drill(back=False, wait_error="timed out waiting for ping module test", return_seconds=None,
                 after={"changed": False, "skipped": True, "false_condition": "__drill_wait_error is not defined"},
                 new_dumps=[], dmesg=None)
    (row,) = crash_drill_report({"host1": data})["rows"]
    assert row["verdict"] == "FAIL" and row["to_return"] == "NOT BACK" and row["boot"] == "-"
    assert row["trace"] == "captured, 10 frames"  # the receiver still has it
    assert row["vmcore"] == "NOT captured"
    assert any("not back within the timeout: timed out" in problem for problem in row["problems"])


def test_same_boot_id_means_the_host_never_crashed():
    data = drill(after=capture(BOOT_BEFORE), new_dumps=[], dmesg=None, receivers=[receiver()])
    (row,) = crash_drill_report({"host1": data})["rows"]
    assert row["boot"] == "SAME"
    assert "the host never crashed" in " ".join(row["problems"])
    assert "no new dump" in " ".join(row["problems"])


@pytest.mark.parametrize("dump_change, summary, words", [
    ({"incomplete": True, "has_vmcore": False, "files": ["dmesg.202611260120", "dump-incomplete"]}, DMESG_SUMMARY,
     "incomplete"),
    ({"has_dmesg": False, "files": ["dump.202611260120"]}, None, "has no dmesg file"),
    ({}, None, "could not be read: Permission denied"),
    ({}, dict(DMESG_SUMMARY, reason="Kernel panic - not syncing: Fatal exception"), "does not hold the drill's"),
])
def test_a_bad_dump(dump_change, summary, words):
    dump = dict(NEW_DUMP, **dump_change)
    data = drill(new_dumps=[dump], dmesg=summary, dmesg_error="Permission denied" if summary is None else None)
    (row,) = crash_drill_report({"host1": data})["rows"]
    assert row["vmcore"] == "BAD (202611260120)" and row["verdict"] == "FAIL"
    assert words in " ".join(row["problems"])


def test_two_hosts_one_row_each_sorted():
    bad = drill(receivers=[receiver("receiver", "web2")], new_dumps=[], dmesg=None)
    report = crash_drill_report({"web2": bad, "host1": drill()})
    assert [row["host"] for row in report["rows"]] == ["host1", "web2"]
    assert report["summary"] == "1 of 2 hosts PASSED" and report["failed"] == ["web2"]
    assert any(line.startswith("  web2: FAIL:") for line in report["text"])


def test_drill_bad_input():
    with pytest.raises(AnsibleFilterError):
        crash_drill_report([drill()])
    with pytest.raises(AnsibleFilterError):
        crash_drill_report({"host1": drill(receivers=["receiver"])})


# --------------------------------------------------------------------------------------------- new dumps


def test_new_dumps():
    assert new_dumps([OLD_DUMP, NEW_DUMP], [OLD_DUMP]) == [NEW_DUMP]
    assert new_dumps([NEW_DUMP, OLD_DUMP], []) == [OLD_DUMP, NEW_DUMP]
    rewritten = dict(OLD_DUMP, mtime=OLD_DUMP["mtime"] + 60)  # a second panic in the same minute
    assert new_dumps([rewritten], [OLD_DUMP]) == [rewritten]
    assert new_dumps(None, [OLD_DUMP]) == [] and new_dumps([OLD_DUMP], None) == [OLD_DUMP]
    with pytest.raises(AnsibleFilterError):
        new_dumps("dumps", [])


# --------------------------------------------------------------------------------------------- soak


def iperf3_load(name="iperf3-tcp.json"):
    with open(os.path.join(FILES, name)) as handle:
        stdout = handle.read()
    return {"changed": True, "rc": 0, "stdout": stdout, "stderr": "", "finished": 1, "failed": False}


def soak(**overrides):
    data = {"before": capture(), "after": capture(), "back": True, "wait_error": None, "mode": "iperf3",
            "load": iperf3_load(), "duration": 30, "rate": "40M", "command": None, "server": "10.77.0.10:5201",
            "start": FIRED, "receivers": [receiver()]}
    data.update(overrides)
    return data


def test_soak_passes_and_reports_throughput():
    report = soak_report({"host1": soak()})
    assert report["all_passed"] is True
    (row,) = report["rows"]
    assert row["verdict"] == "PASS" and row["boot"] == "unchanged" and row["panics"] == "0" and row["dumps"] == "none"
    assert row["throughput"] == "40.3 Mbit/s" and row["load"] == "iperf3 2 s"
    assert row["figures"]["bits_per_second"] == pytest.approx(40326844.8, rel=1e-6)
    assert "received 40.3 Mbit/s, sent 40.4 Mbit/s, 0 retransmits" in report["text"][4]
    assert report["text"][0] == "lastwords soak: 1 of 1 hosts PASSED"


def test_soak_fails_on_a_panic_a_reboot_and_a_new_dump():
    data = soak(after=capture(BOOT_AFTER, dumps=(OLD_DUMP, NEW_DUMP)),
                receivers=[receiver(panics=[panic(FIRED + 20, reason="Kernel panic - not syncing: Fatal exception")])],
                load={"unreachable": True, "msg": "Data could not be sent to remote host", "changed": False})
    (row,) = soak_report({"host1": data})["rows"]
    assert row["verdict"] == "FAIL" and row["boot"] == "CHANGED" and row["panics"] == "1"
    assert row["dumps"] == "202611260120" and row["load"] == "lost host"
    text = " | ".join(row["problems"])
    for words in ("stopped answering during the load", "rebooted during the soak", "Fatal exception",
                  "new dump(s) on the host: 202611260120"):
        assert words in text


def test_soak_fails_when_iperf3_could_not_connect():
    (row,) = soak_report({"host1": soak(load=iperf3_load("iperf3-refused.json"))})["rows"]
    assert row["verdict"] == "FAIL" and row["load"] == "iperf3 FAILED"
    assert row["problems"] == ["iperf3 failed: unable to connect to server: Connection refused"]


def test_soak_with_a_command():
    whole = {"changed": True, "rc": 124, "stdout": "", "stderr": "", "stdout_lines": [], "stderr_lines": []}
    (row,) = soak_report({"host1": soak(mode="command", rate=None, load=whole)})["rows"]
    assert row["passed"] and row["load"] == "command, whole window" and row["throughput"] == "-"
    failed = dict(whole, rc=2, stderr="tar: /srv: Cannot open: No such file or directory")
    (row,) = soak_report({"host1": soak(mode="command", load=failed)})["rows"]
    assert row["load"] == "command FAILED (rc 2)"
    assert row["problems"] == ["the load command failed (rc 2): tar: /srv: Cannot open: No such file or directory"]


def test_soak_without_a_receiver_answer_is_not_a_pass():
    down = {"item": "receiver", "unreachable": True, "msg": "ssh: connect to host 10.77.0.10 port 22", "changed": False}
    (row,) = soak_report({"host1": soak(receivers=[down])})["rows"]
    assert row["verdict"] == "FAIL" and row["panics"] == "?"
    assert "no receiver could be asked" in row["problems"][0]
    (row,) = soak_report({"host1": soak(receivers=[])})["rows"]
    assert "no receiver was asked" in row["problems"][0]


def test_soak_not_back():
    data = soak(back=False, wait_error="timed out", after={"skipped": True, "changed": False})
    (row,) = soak_report({"host1": data})["rows"]
    assert row["boot"] == "-" and "not back within the timeout: timed out" in row["problems"]


def test_soak_bad_input():
    with pytest.raises(AnsibleFilterError):
        soak_report(None)


# --------------------------------------------------------------------------------------------- collect

RHEL_DUMP = {"name": "127.0.0.1-2026-11-26-01:20:33", "path": "/var/crash/127.0.0.1-2026-11-26-01:20:33",
             "files": ["kexec-dmesg.log", "vmcore", "vmcore-dmesg.txt"], "size_bytes": 60 * MiB,
             "mtime": 1795655000, "has_vmcore": True, "has_dmesg": True, "incomplete": False}
EMPTY_DUMP = {"name": "202611251200", "path": "/var/crash/202611251200", "files": [], "size_bytes": 0,
              "mtime": 1795604400, "has_vmcore": False, "has_dmesg": False, "incomplete": False}


def test_collect_plan_fetches_new_dumps_once():
    plan = collect_plan([NEW_DUMP, OLD_DUMP, EMPTY_DUMP], {"202611250900": {"vmcore_fetched": False}})
    assert [entry["name"] for entry in plan] == ["202611250900", "202611251200", "202611260120"]
    old, empty, new = plan
    assert old["state"] == "collected" and old["fetch"] == []
    assert empty["state"] == "new" and empty["fetch"] == [] and empty["dmesg"] is None
    assert new["state"] == "new" and new["fetch"] == ["dmesg.202611260120"]
    assert new["vmcore_files"] == ["dump.202611260120"] and new["fetch_vmcore"] is False


def test_collect_plan_vmcore_on_request_also_for_collected_dumps():
    plan = collect_plan([OLD_DUMP, NEW_DUMP], {"202611250900": {"vmcore_fetched": False}}, vmcore=True)
    assert plan[0]["state"] == "add vmcore" and plan[0]["fetch"] == ["dump.202611250900"]
    assert plan[1]["fetch"] == ["dmesg.202611260120", "dump.202611260120"]
    plan = collect_plan([OLD_DUMP], {"202611250900": {"vmcore_fetched": True}}, vmcore=True)
    assert plan[0]["state"] == "collected" and plan[0]["fetch"] == []


def test_collect_plan_takes_a_pstore_records_joined_dmesg():
    record = {"name": "pstore-1796297572-001", "path": "/var/lib/systemd/pstore/1796297572/001",
              "files": ["dmesg-efi_pstore-179629757201001", "dmesg.txt"], "size_bytes": 1800, "mtime": 1796297635}
    (entry,) = collect_plan([record], {})
    assert entry["dmesg"] == "dmesg.txt" and entry["fetch"] == ["dmesg.txt"]


def test_collect_plan_rhel_names():
    (entry,) = collect_plan([RHEL_DUMP], {})
    assert entry["dmesg"] == "kexec-dmesg.log"  # first in name order; both are dmesg files
    assert entry["vmcore_files"] == ["vmcore"]


def test_collect_plan_bad_input():
    with pytest.raises(AnsibleFilterError):
        collect_plan("dumps")
    with pytest.raises(AnsibleFilterError):
        collect_plan([], ["202611250900"])
    assert collect_plan(None) == []


DMESG = """[    0.000000] Linux version 6.1.0-47-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian 6.1.158-1
[  123.456789] sysrq: Trigger a crash
[  123.457112] Kernel panic - not syncing: sysrq triggered crash
[  123.457539] CPU: 0 PID: 1234 Comm: sh Kdump: loaded Not tainted 6.1.0-47-amd64 #1  Debian 6.1.158-1
[  123.458690] Call Trace:
[  123.458871]  <TASK>
[  123.459030]  dump_stack_lvl+0x44/0x5c
[  123.459296]  panic+0x118/0x2ec
[  123.459524]  sysrq_handle_crash+0x16/0x20
[  123.466352]  </TASK>
"""


def test_collect_record_from_a_fetched_dmesg_and_its_text():
    (entry,) = collect_plan([NEW_DUMP], {})
    record = collect_record(entry, None, DMESG, host="host1", directory="/c/host1/202611260120",
                            now="2026-11-26T01:30:00Z", frames=2)
    assert record["state"] == "new" and record["stamp"] == "202611260120"
    assert record["summary"]["reason"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert record["summary"]["call_trace"] == ["dump_stack_lvl+0x44/0x5c", "panic+0x118/0x2ec"]
    assert record["collected_at"] == record["updated_at"] == "2026-11-26T01:30:00Z"
    assert record["vmcore_fetched"] is False
    lines = record["text"].splitlines()
    assert lines[0] == "host1 202611260120 (/var/crash/202611260120, 41M)"
    assert "reason:     Kernel panic - not syncing: sysrq triggered crash" in lines
    assert "kernel:     6.1.0-47-amd64" in lines and "  panic+0x118/0x2ec" in lines
    assert "task:       sh (pid 1234, cpu 0), Not tainted" in lines


def test_collect_record_keeps_the_first_summary_when_only_the_vmcore_is_added():
    (first,) = collect_plan([NEW_DUMP], {})
    previous = collect_record(first, None, DMESG, host="host1", directory="/d", now="T1")
    (entry,) = collect_plan([NEW_DUMP], {NEW_DUMP["name"]: previous}, vmcore=True)
    record = collect_record(entry, previous, None, host="host1", directory="/d", now="T2")
    assert record["state"] == "add vmcore" and record["vmcore_fetched"] is True
    assert record["summary"] == previous["summary"]
    assert (record["collected_at"], record["updated_at"]) == ("T1", "T2")


def test_collect_record_in_check_mode_says_what_would_happen():
    (entry,) = collect_plan([NEW_DUMP], {}, vmcore=True)
    record = collect_record(entry, None, None, host="host1", directory="/d", now="T", fetched=False)
    assert record["state"] == "would fetch" and record["vmcore_fetched"] is False and record["summary"] is None


def test_collect_report():
    (entry,) = collect_plan([NEW_DUMP], {})
    fresh = collect_record(entry, None, DMESG, host="host1", directory="/c/host1/202611260120", now="T")
    reason = "Kernel panic - not syncing: Fatal exception"
    (entry,) = collect_plan([OLD_DUMP], {OLD_DUMP["name"]: {"summary": {"reason": reason}}})
    old = collect_record(entry, {"summary": {"reason": "Kernel panic - not syncing: Fatal exception"}}, None,
                         host="host1", directory="/c/host1/202611250900", now="T")
    (entry,) = collect_plan([EMPTY_DUMP], {})
    empty = collect_record(entry, None, None, host="web2", directory="/c/web2/202611251200", now="T")
    report = collect_report({"host1": [fresh, old], "web2": [empty]})
    assert report["summary"] == "3 dump(s) on 2 host(s), 2 fetched now" and report["fetched"] == 2
    assert [row["stamp"] for row in report["rows"]] == ["202611250900", "202611260120", "202611251200"]
    assert report["rows"][0]["state"] == "collected"
    assert report["rows"][2]["reason"] == "no dmesg file"
    assert "  host1 202611260120 -> /c/host1/202611260120" in report["text"]
    assert "    sysrq_handle_crash+0x16/0x20" in report["text"]
    assert collect_report({})["text"] == [
        "lastwords collect: 0 dump(s) on 0 host(s), 0 fetched now",
        "lastwords collect: 0 panic(s) with 0 signature(s), from dumps and pstore records (no receiver asked)"]
    with pytest.raises(AnsibleFilterError):
        collect_report([fresh])


OOPS_DMESG = os.path.join(os.path.dirname(__file__), "..", "module_utils", "traces", "x86_64-5.15-ixgbe-ksoftirqd.txt")


def received(epoch, text):
    """A panic as netconsole_log reports it, with the signature its scanner gives it."""
    scanner = PanicScanner(0, signatures=True)
    for line in text.splitlines():
        scanner.feed(line.split("] ", 1)[-1], line, None, None)
    scanner.finish()
    (found,) = scanner.panics
    return dict(panic(epoch), signature=found["signature"], time=_utc(epoch))


def test_collect_groups_every_panic_by_signature_across_hosts_time_and_evidence():
    """host1: a drill with both kinds of evidence (one panic, seen by two receivers and in a dump), a later drill
    whose dump was never written (a trace only); nas: an ixgbe Oops the kernel turned into a panic, in a dump."""
    (entry,) = collect_plan([NEW_DUMP], {})
    drill_dump = collect_record(entry, None, DMESG, host="host1", directory="/c/host1/x", now="T")
    with open(OOPS_DMESG) as handle:
        oops = handle.read() + "Kernel panic - not syncing: Fatal exception in interrupt\n"
    nas_dump = collect_record(dict(entry, name="202611270400", path="/var/crash/202611270400",
                                   mtime=FIRED + 86400), None, oops, host="nas", directory="/c/nas/y", now="T")
    first, later = FIRED + 2.0, FIRED + 7200.0  # the dump is written 88 s after the first panic
    receivers = [
        {"item": "rx1", "failed": False,
         "hosts": {"host1": {"panics": [received(first, DMESG), received(later, DMESG)]}}},
        {"item": "rx2", "failed": False, "hosts": {"host1": {"panics": [received(first + 0.4, DMESG)]}}},
        {"item": "rx3", "unreachable": True, "msg": "ssh: connect to host rx3 port 22: No route to host"},
    ]
    report = collect_report({"host1": [drill_dump], "nas": [nas_dump]}, receivers=receivers)
    sysrq, ixgbe = report["signatures"]
    assert sysrq["key"] == drill_dump["signature"]["key"] and sysrq["key"].startswith("sysrq:sysrq_handle_crash:")
    assert (sysrq["count"], sysrq["hosts"], sysrq["kernels"]) == (2, ["host1"], ["6.1.0-47-amd64"])
    assert sysrq["evidence"] == {"trace": 2, "vmcore": 1, "pstore": 0}
    assert (sysrq["first_epoch"], sysrq["last_epoch"]) == (first, later)
    assert [event["evidence"] for event in sysrq["events"]] == [["vmcore", "trace"], ["trace"]]
    assert sysrq["events"][0]["sources"] == ["202611260120", "rx1:%s" % _utc(first), "rx2:%s" % _utc(first + 0.4)]
    assert (ixgbe["count"], ixgbe["hosts"], ixgbe["module"], ixgbe["context"]) == (1, ["nas"], "ixgbe", "softirq")
    assert ixgbe["evidence"] == {"trace": 0, "vmcore": 1, "pstore": 0}
    assert report["receivers_asked"] == ["rx1", "rx2"]
    assert report["receivers_unasked"] == ["rx3: unreachable: ssh: connect to host rx3 port 22: No route to host"]
    text = "\n".join(report["text"])
    assert "3 panic(s) with 2 signature(s), from dumps, pstore records and the traces on rx1, rx2" in text
    assert "%s: NULL pointer dereference in ixgbe_xmit_xdp_ring [ixgbe] (softirq)" % ixgbe["key"] in text
    assert "| SIGNATURE" in report["markdown"] and "## Panics by signature" in report["markdown"]
    assert "signature:  crash requested through sysrq in sysrq_handle_crash" in drill_dump["text"]


def test_render_table_and_registration():
    lines = render_table((("a", "A"), ("b", "LONG B")), [{"a": "x", "b": "y"}, {"a": "xyz"}])
    assert lines == ["A    LONG B", "---  ------", "x    y", "xyz  -"]
    names = set(FilterModule().filters())
    assert names == {"new_dumps", "crash_drill_report", "soak_report", "soak_round_panicked", "collect_plan",
                     "collect_record",
                     "collect_report"}


def test_reports_do_not_change_their_input():
    data = {"host1": drill()}
    before = copy.deepcopy(data)
    crash_drill_report(data)
    assert data == before


def test_the_drill_shows_the_signature_and_whether_trace_and_dump_agree():
    with open(os.path.join(FILES, "dmesg-bookworm-sysrq.txt")) as handle:
        dmesg = handle.read()
    signature = received(FIRED + 0.43, dmesg)["signature"]
    data = drill(receivers=[receiver(panics=[dict(panic(FIRED + 0.43), signature=signature)],
                                     marker_epoch=FIRED + 0.42)],
                 dmesg=dmesg_summary(dmesg, signature=True))
    report = crash_drill_report({"host1": data})
    (row,) = report["rows"]
    assert row["passed"] and row["trace_signature"]["key"] == row["dmesg_signature"]["key"]
    assert "  host1: signature %s (crash requested through sysrq in sysrq_handle_crash (process) on " \
           "6.1.0-56-amd64)" % signature["key"] in report["text"]
    assert not any("another panic" in line for line in report["text"])
    with open(OOPS_DMESG) as handle:
        other = panic_signature(handle.read())
    report = crash_drill_report({"host1": dict(data, dmesg=dict(data["dmesg"], signature=other))})
    assert "  host1: the dump's dmesg reads as another panic: %s" % other["key"] in report["text"]


def test_soak_rounds_make_a_record_per_kernel_with_the_time_to_each_panic():
    """Three rounds on the faulty kernel, the soak going on after each panic (the host is back after kdump): the
    record counts the rounds that ended in a panic, the seconds from each round's start to its panic, and the
    panics' signature keys, for soak_confirm."""
    with open(OOPS_DMESG) as handle:
        oops = handle.read() + "Kernel panic - not syncing: Fatal exception in interrupt\n"
    crash = received(FIRED + 41.5, oops)
    rounds = [
        soak(start=FIRED, after=capture(BOOT_AFTER, dumps=(OLD_DUMP, NEW_DUMP)), receivers=[receiver(panics=[crash])],
             load={"unreachable": True, "msg": "Data could not be sent to remote host", "changed": False}),
        soak(start=FIRED + 600, before=capture(BOOT_AFTER, dumps=(OLD_DUMP, NEW_DUMP)),
             after=capture(BOOT_AFTER, dumps=(OLD_DUMP, NEW_DUMP))),
        soak(start=FIRED + 1200, before=capture(BOOT_AFTER, dumps=(OLD_DUMP, NEW_DUMP)), back=False,
             wait_error="timed out waiting for ping module test success", after=None),
    ]
    report = soak_report({"host1": {"rounds": rounds, "duration": 600, "rate": "100M"}})
    (row,) = report["rows"]
    assert row["verdict"] == "FAIL"
    assert row["boot"] == "2 of 3 rounds ended in a panic"
    assert row["problems"][0].startswith("round 1 of 3: the host stopped answering during the load")
    assert any(problem.startswith("round 3 of 3: not back within the timeout") for problem in row["problems"])
    assert not any(problem.startswith("round 2 of 3") for problem in row["problems"])
    record = report["records"]["host1"]
    assert record == {"kernel": "6.1.0-47-amd64", "rounds": 3, "panics": 2, "round_seconds": 600,
                      "panic_seconds": [41.5, None], "keys": [crash["signature"]["key"]]}
    assert ("  host1: 6.1.0-47-amd64: 2 panics in 3 rounds; seconds to each panic: 41.5, -; signature %s"
            % crash["signature"]["key"]) in report["text"]
    # the role stops the rounds at a panic with this
    assert [soak_round_panicked(item, "host1") for item in rounds] == [True, False, True]
    with pytest.raises(AnsibleFilterError):
        soak_round_panicked(None, "host1")
