# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The iperf3_result and dmesg_summary filters on real output.

files/iperf3-*.json are what iperf3 3.12 (Debian 12's) printed with --json on loopback: TCP at 40 Mbit/s, the
same reversed at 30 Mbit/s, UDP at 20 Mbit/s, and a client whose server was not there (iperf3 3.12 exits 0 then).
"""

from __future__ import annotations

import json
import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.filter.dmesg import FilterModule as DmesgFilters
from ansible_collections.lastwords.panic.plugins.filter.dmesg import dmesg_summary, panic_signature
from ansible_collections.lastwords.panic.plugins.filter.iperf3 import FilterModule as Iperf3Filters
from ansible_collections.lastwords.panic.plugins.filter.iperf3 import iperf3_result

FILES = os.path.join(os.path.dirname(__file__), "files")


def read(name):
    with open(os.path.join(FILES, name)) as handle:
        return handle.read()


def test_tcp_run():
    result = iperf3_result(read("iperf3-tcp.json"))
    assert result["ok"] is True and result["error"] is None
    assert result["protocol"] == "TCP" and result["reverse"] is False
    assert result["duration"] == 2 and result["target_bits_per_second"] == 40000000
    assert result["bits_per_second"] == pytest.approx(40326844.8, rel=1e-6)
    assert result["sent_bits_per_second"] == pytest.approx(40368056.7, rel=1e-6)
    assert result["retransmits"] == 0
    assert result["lost_percent"] is None
    assert result["remote"] == "127.0.0.1:5999"
    assert result["seconds"] == pytest.approx(2.0, abs=0.1)


def test_reverse_run_reports_what_the_host_received():
    result = iperf3_result(read("iperf3-reverse.json"))
    assert result["ok"] and result["reverse"] is True
    assert result["bits_per_second"] == pytest.approx(30405283.4, rel=1e-6)


def test_udp_run_has_a_loss_figure():
    result = iperf3_result(json.loads(read("iperf3-udp.json")))  # already parsed works too
    assert result["ok"] and result["protocol"] == "UDP"
    assert result["lost_percent"] == 0
    assert result["retransmits"] is None


def test_refused_connection_is_a_failure_even_though_iperf3_exited_0():
    result = iperf3_result(read("iperf3-refused.json"))
    assert result["ok"] is False
    assert result["error"] == "unable to connect to server: Connection refused"
    assert result["bits_per_second"] is None


@pytest.mark.parametrize("output, error", [
    ("", "iperf3 printed nothing"),
    ("iperf3: error - unable to connect", "not JSON"),
    ('{"start": {}, "end": {}}', "no transfer"),
])
def test_no_usable_report(output, error):
    result = iperf3_result(output)
    assert result["ok"] is False and error in result["error"]


def test_iperf3_bad_type():
    with pytest.raises(AnsibleFilterError):
        iperf3_result(42)


def test_dmesg_filter_wraps_the_parser():
    log = ("[  123.456789] sysrq: Trigger a crash\n"
           "[  123.457112] Kernel panic - not syncing: sysrq triggered crash\n"
           "[  123.458690] Call Trace:\n[  123.459030]  dump_stack_lvl+0x44/0x5c\n[  123.459296]  panic+0x118/0x2ec\n")
    summary = dmesg_summary(log, frames="1")
    assert summary["reason"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert summary["call_trace"] == ["dump_stack_lvl+0x44/0x5c"] and summary["trace_frames"] == 2
    assert dmesg_summary(log.encode())["reason"] == summary["reason"]
    assert dmesg_summary(None)["reason"] is None


@pytest.mark.parametrize("kwargs", [{"frames": "many"}, {"frames": -2}, {"unreliable": "hide"}])
def test_dmesg_filter_bad_options(kwargs):
    with pytest.raises(AnsibleFilterError):
        dmesg_summary("", **kwargs)


@pytest.mark.parametrize("bad", [42, {"stdout": "x"}, ["a line", 7]])
def test_dmesg_filters_bad_input(bad):
    for name in ("dmesg_summary", "panic_signature"):
        with pytest.raises(AnsibleFilterError, match=name + ": input must be kernel log text"):
            DmesgFilters().filters()[name](bad)


def test_panic_signature_filter_takes_text_bytes_or_lines():
    lines = ["Nov 26 10:13:02 deb12 kernel: [  123.456789] sysrq: Trigger a crash",
             "Nov 26 10:13:02 deb12 kernel: [  123.457112] Kernel panic - not syncing: sysrq triggered crash",
             "Nov 26 10:13:02 deb12 kernel: [  123.458690] Call Trace:",
             "Nov 26 10:13:02 deb12 kernel: [  123.459030]  dump_stack_lvl+0x44/0x5c",
             "Nov 26 10:13:02 deb12 kernel: [  123.459296]  panic+0x118/0x2ec",
             "Nov 26 10:13:02 deb12 kernel: [  123.459296]  sysrq_handle_crash+0x16/0x20"]
    signature = panic_signature(lines)
    assert (signature["kind"], signature["function"]) == ("sysrq", "sysrq_handle_crash")
    assert panic_signature("\n".join(lines).encode()) == signature == panic_signature("\n".join(lines))
    assert dmesg_summary(lines)["reason"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert panic_signature(None)["found"] is False


def test_filters_are_registered():
    assert {"dmesg_summary", "panic_signature"} <= set(DmesgFilters().filters())
    assert "iperf3_result" in Iperf3Filters().filters()
