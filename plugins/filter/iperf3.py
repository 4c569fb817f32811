# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter that reads iperf3's JSON report (used by the soak playbook)."""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError


def _number(value):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def iperf3_result(report):
    """The figures of one ``iperf3 --client ... --json`` run, and whether it ran at all.

    iperf3 3.12 exits 0 even when it could not reach the server and says so only in the JSON's ``error``, so the
    error is what decides ``ok``. ``bits_per_second`` is what arrived at the receiving end (the server, or this
    host with ``--reverse``), the throughput the soak achieved.
    """
    if isinstance(report, (bytes, str)):
        text = report.decode("utf-8", "replace") if isinstance(report, bytes) else report
        if not text.strip():
            return _failed("iperf3 printed nothing (killed before its report, or not run)")
        try:
            report = json.loads(text)
        except ValueError as exc:
            return _failed("iperf3's output is not JSON (%s): %s" % (exc, text.strip()[:200]))
    if not isinstance(report, dict):
        raise AnsibleFilterError("iperf3_result: input must be iperf3's JSON output, got %s" % type(report).__name__)
    start = report.get("start") or {}
    test = start.get("test_start") or {}
    end = report.get("end") or {}
    sent = end.get("sum_sent") or {}
    received = end.get("sum_received") or {}
    udp = end.get("sum") if test.get("protocol") == "UDP" else None
    result = {
        "ok": not report.get("error") and bool(received),
        "error": report.get("error") or (None if received else "iperf3 reported no transfer"),
        "protocol": test.get("protocol"),
        "reverse": bool(test.get("reverse")),
        "duration": test.get("duration"),
        "target_bits_per_second": test.get("target_bitrate"),
        "seconds": _number(received.get("seconds")),
        "bytes": received.get("bytes"),
        "bits_per_second": _number(received.get("bits_per_second")),
        "sent_bits_per_second": _number(sent.get("bits_per_second")),
        "retransmits": sent.get("retransmits"),
        "lost_percent": _number(udp.get("lost_percent")) if udp else None,
        "remote": None,
    }
    connected = start.get("connected") or []
    if connected:
        result["remote"] = "%s:%s" % (connected[0].get("remote_host"), connected[0].get("remote_port"))
    return result


def _failed(error):
    return {
        "ok": False, "error": error, "protocol": None, "reverse": False, "duration": None,
        "target_bits_per_second": None, "seconds": None, "bytes": None, "bits_per_second": None,
        "sent_bits_per_second": None, "retransmits": None, "lost_percent": None, "remote": None,
    }


class FilterModule:
    def filters(self):
        return {"iperf3_result": iperf3_result}
