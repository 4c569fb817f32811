# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The readiness report on results shaped exactly as capture_facts and netconsole_log return them."""

from __future__ import annotations

import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.filter.readiness import human_bytes, readiness_report, receiver_answers

MiB = 1 << 20
SENT = 1795642800.0


def capture(host, problems=(), **overrides):
    """A registered capture_facts result of an armed Debian 12 host that wrote its canary at SENT."""
    state = {
        "armed": not problems, "problems": list(problems), "kernel_release": "6.1.0-56-amd64",
        "crashkernel": "256M", "crash_size": 256 * MiB, "crash_loaded": True, "dump_dir": "/var/crash",
        "dump_dir_free_bytes": 5 * 1024 * MiB, "dump_space_needed_bytes": 100 * MiB, "dump_space_ok": True,
        "netconsole": {"loaded": True, "cmdline": None, "enabled_targets": 1,
                       "targets": [{"enabled": True, "dev_name": "vmbr0"}, {"enabled": False, "dev_name": "eth9"}]},
        "reboot_pending": False,
        "canary": {"text": "lastwords: tok %s" % host, "written": True, "epoch": SENT, "error": None},
    }
    state.update(overrides)
    return {"changed": False, "capture": state, "failed": False}


def receiver(name, found, delay=0.042):
    """A registered loop item of netconsole_log: canary found for the hosts in ``found``."""
    hosts = {}
    for host, ok in found.items():
        hosts[host] = {"exists": True, "canary_found": ok, "canary_epoch": SENT + delay if ok else None}
    return {"item": name, "changed": False, "hosts": hosts, "missing_hosts": [], "failed": False}


def test_all_armed_with_delivery_time():
    report = readiness_report({"web1": capture("web1"), "db1": capture("db1")},
                              [receiver("rx", {"web1": True, "db1": True})])
    assert report["all_armed"] is True
    assert report["armed"] == ["db1", "web1"] and report["not_armed"] == []
    row = report["rows"][1]
    assert row["status"] == "ARMED" and row["host"] == "web1"
    assert row["canary"] == "delivered, 42 ms" and row["delivery_ms"] == 42
    assert row["crashkernel"] == "256M" and row["kdump"] == "yes" and row["netconsole"] == "1 target on vmbr0"
    assert row["pstore"] == "-"  # a capture_facts without pstore facts (older collection)
    assert row["dump_space"] == "5G free (ok)"
    assert report["receiver_note"] is None
    assert report["text"][0] == "lastwords readiness: 2 of 2 hosts ARMED"
    assert report["text"][1].split() == ["HOST", "STATUS", "KERNEL", "CRASHKERNEL", "KDUMP", "DUMP", "SPACE",
                                         "NETCONSOLE", "PSTORE", "CANARY", "REBOOT"]
    assert "| web1 | ARMED " in report["markdown"]


def test_one_broken_host_is_named_with_its_reason_and_the_others_stay_armed():
    broken = capture("db1", problems=["crash kernel not loaded (/sys/kernel/kexec_crash_loaded is 0)"],
                     crash_loaded=False)
    report = readiness_report({"web1": capture("web1"), "db1": broken},
                              [receiver("rx", {"web1": True, "db1": True})])
    assert report["armed"] == ["web1"] and report["not_armed"] == ["db1"]
    rows = dict((row["host"], row) for row in report["rows"])
    assert rows["db1"]["status"] == "NOT ARMED" and rows["db1"]["kdump"] == "no"
    assert "  db1: crash kernel not loaded (/sys/kernel/kexec_crash_loaded is 0)" in report["text"]
    assert rows["web1"]["status"] == "ARMED"
    assert report["receiver_note"] is None


def test_canary_missing_on_one_host_is_a_reason():
    report = readiness_report({"web1": capture("web1"), "db1": capture("db1")},
                              [receiver("rx", {"web1": True, "db1": False})])
    rows = dict((row["host"], row) for row in report["rows"])
    assert rows["db1"]["reasons"] == ["canary not delivered to rx"]
    assert rows["db1"]["canary"] == "NOT delivered"
    assert report["receiver_note"] is None  # one host delivered: the receiver works


def test_no_canary_anywhere_blames_the_receiver():
    report = readiness_report({"web1": capture("web1"), "db1": capture("db1")},
                              [receiver("rx", {"web1": False, "db1": False})])
    assert report["not_armed"] == ["db1", "web1"]
    assert "receiver is the likely cause" in report["receiver_note"]
    assert report["text"][-1].startswith("  NOTE: no host's canary reached rx")


def test_unreachable_receiver_is_reported_for_every_row():
    down = {"item": "rx", "unreachable": True, "msg": "ssh: connect to host 10.77.0.10 port 22: No route to host"}
    report = readiness_report({"web1": capture("web1")}, [down])
    assert report["rows"][0]["reasons"] == ["canary not delivered to rx"]
    assert report["receivers"]["rx"].startswith("unreachable: ssh: connect")
    assert report["receiver_note"].startswith("receiver rx unreachable")


def test_unreachable_host_is_a_row_and_the_others_are_still_reported():
    gone = {"unreachable": True, "msg": "Failed to connect to the host via ssh: timed out", "changed": False}
    report = readiness_report({"web1": capture("web1"), "db1": gone}, [receiver("rx", {"web1": True})])
    rows = dict((row["host"], row) for row in report["rows"])
    assert rows["db1"]["status"] == "UNREACHABLE"
    assert rows["db1"]["reasons"] == ["unreachable: Failed to connect to the host via ssh: timed out"]
    assert rows["web1"]["status"] == "ARMED"
    assert report["summary"] == "1 of 2 hosts ARMED"


def test_module_failure_is_not_armed_with_its_message():
    report = readiness_report({"web1": {"failed": True, "msg": "root=/nope is not an existing absolute directory"}})
    assert report["rows"][0]["status"] == "NOT ARMED"
    assert report["rows"][0]["reasons"] == ["capture_facts failed: root=/nope is not an existing absolute directory"]


def test_without_receivers_the_canary_is_not_checked_and_does_not_count():
    report = readiness_report({"web1": capture("web1")}, [])
    assert report["rows"][0]["canary"] == "not checked"
    assert report["all_armed"] is True


def test_canary_not_written_is_a_reason():
    result = capture("web1")
    result["capture"]["canary"] = {"written": False, "error": "[Errno 13] Permission denied: '/dev/kmsg'",
                                   "epoch": SENT, "text": "x"}
    report = readiness_report({"web1": result}, [receiver("rx", {})])
    assert report["rows"][0]["reasons"] == [
        "canary could not be written to the kernel log ([Errno 13] Permission denied: '/dev/kmsg')"]


def test_clock_skew_is_shown_not_hidden():
    report = readiness_report({"web1": capture("web1")}, [receiver("rx", {"web1": True}, delay=-1.5)])
    assert report["rows"][0]["canary"] == "delivered (clock skew -1500 ms)"
    assert report["rows"][0]["armed"] is True


def test_two_receivers_must_both_have_it():
    report = readiness_report({"web1": capture("web1")},
                              [receiver("rx1", {"web1": True}), receiver("rx2", {"web1": False})])
    assert report["rows"][0]["reasons"] == ["canary not delivered to rx2"]


def test_reboot_pending_and_no_crashkernel_are_shown():
    result = capture("web1", problems=["no crashkernel reserved (crashkernel= missing from /proc/cmdline)"],
                     crash_size=0, crash_loaded=False, reboot_pending=True)
    row = readiness_report({"web1": result}, [receiver("rx", {"web1": True})])["rows"][0]
    assert (row["crashkernel"], row["kdump"], row["reboot"]) == ("none", "no", "yes")


def test_markdown_is_a_table_with_a_reasons_section():
    broken = capture("db1", problems=["netconsole module not loaded (/sys/module/netconsole is missing)"])
    markdown = readiness_report({"db1": broken}, [receiver("rx", {"db1": False})])["markdown"].splitlines()
    assert markdown[0] == "# lastwords readiness"
    assert markdown[4].startswith("| HOST ") and set(markdown[5]) == {"|", " ", "-"}
    assert "## Reasons" in markdown
    assert "- **db1**: netconsole module not loaded (/sys/module/netconsole is missing)" in markdown


def test_input_is_not_modified():
    captures = {"web1": capture("web1")}
    before = copy.deepcopy(captures)
    readiness_report(captures, [receiver("rx", {"web1": True})])
    assert captures == before


def test_wrong_input_type_fails_clearly():
    with pytest.raises(AnsibleFilterError, match="expected a dict of host -> capture_facts result"):
        readiness_report(["web1"])


@pytest.mark.parametrize("value,text", [(None, "-"), (512, "512B"), (256 * MiB, "256M"), (1536 * MiB, "1.5G"),
                                        (20 * 1024 * MiB, "20G"), (3 * (1 << 40), "3T")])
def test_human_bytes(value, text):
    assert human_bytes(value) == text


def test_receiver_answers_are_one_reading_for_every_report():
    answers = receiver_answers([
        {"item": "rx1", "hosts": {"web1": {"lines": 3}}, "changed": False},
        {"item": "rx2", "unreachable": True, "msg": "Failed to connect to the host via ssh: timed out "},
        {"item": "rx3", "skipped": True, "skip_reason": "Conditional result was False"},
        {"item": "rx4", "failed": True, "msg": "log_dir /var/log/netconsole is missing"},
        {"item": "rx5", "changed": False},  # an answer without hosts is no answer
        {"item": "rx6", "failed": True, "msg": "one file unreadable", "hosts": {"web1": {"lines": 1}}},
    ])
    assert answers == {
        "rx1": (True, None, {"web1": {"lines": 3}}),
        "rx2": (False, "unreachable: Failed to connect to the host via ssh: timed out", {}),
        "rx3": (False, "not asked (Conditional result was False)", {}),
        "rx4": (False, "failed: log_dir /var/log/netconsole is missing", {}),
        "rx5": (False, "failed: no answer", {}),
        "rx6": (True, None, {"web1": {"lines": 1}}),
    }
    with pytest.raises(AnsibleFilterError, match="each receiver result must be a dict"):
        receiver_answers(["rx1"])


def test_pstore_column_shows_the_backend_and_the_records_kept():
    kept = capture("web1", pstore={"backend": "efi_pstore", "archived": [{"name": "1"}, {"name": "2"}]})
    none = capture("db1", pstore={"backend": None, "archived": []})
    report = readiness_report({"web1": kept, "db1": none}, [receiver("rx", {"web1": True, "db1": True})])
    cells = {row["host"]: row["pstore"] for row in report["rows"]}
    assert cells == {"web1": "efi_pstore, 2 kept", "db1": "no"}
    assert report["all_armed"] is True  # pstore is evidence beside kdump, not a condition of ARMED
    assert "PSTORE" in report["text"][1]
