"""The receiver under abuse, on loopback only (tests/lab/receiver_abuse.py runs each case on the role's real
rsyslog configuration): forged source addresses by the thousand, odd and hostile datagrams, a full disk.

The real senders lose nothing, the number of files stays bounded, rsyslog keeps running, nothing outside the log
directory changes. benchmarks/receiver_abuse/run prints the same figures at full size.
"""

import os
import shutil

import pytest
import receiver_abuse
import rsyslog_role

from ansible_collections.lastwords.panic.plugins.modules.netconsole_log import analyze_log

pytestmark = [
    pytest.mark.skipif(rsyslog_role.RSYSLOGD is None, reason="rsyslogd is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="rsyslog's 8 MB receive buffer, chown and mount need root"),
]


def test_ten_thousand_forged_addresses_cost_the_real_senders_nothing(tmp_path):
    alerts = tmp_path / "alerts.txt"
    found = receiver_abuse.forged_flood(tmp_path, addresses=10000, allow_unknown=False,
                                        alert_command=f'echo "$LASTWORDS_HOST" >> {alerts}')
    print(found)
    assert found["forged_datagrams"] == 20000
    assert found["lost"] == {"host1": 0, "host2": 0, "host3": 0}, found  # host1 at ten times the others' rate
    assert found["kept"]["host1"] == 10 * found["kept"]["host2"] > 0
    assert found["files"] == ["host1.log", "host2.log", "host3.log"], found["files"]
    assert found["alive"]
    assert not alerts.exists()  # forged panic lines never alert


def test_kept_strangers_share_one_bounded_file(tmp_path):
    found = receiver_abuse.forged_flood(tmp_path, addresses=10000, allow_unknown=True)
    assert found["lost"] == {"host1": 0, "host2": 0, "host3": 0}, found
    assert set(found["files"]) <= {"host1.log", "host2.log", "host3.log", "unknown.log", "unknown.log.1"}
    assert "unknown.log" in found["files"]
    assert found["bytes"] < 3 * (10 << 20), found  # two unknown files of 10M at most, and the real ones
    assert found["alive"]


def test_odd_datagrams_leave_one_line_each_and_the_next_line_arrives(tmp_path):
    found = receiver_abuse.odd_datagrams(tmp_path)
    assert found["alive"] and found["still_here"], found
    assert found["files"] == ["host1.log"]  # the stranger's are dropped
    print({key: value for key, value in found.items() if key != "text"})
    # the 65,000-byte datagram cut at rsyslog's maxMessageSize (8 KiB; netconsole sends at most 1,000 bytes)
    assert 8000 < found["longest_line"] <= 8192 + 64
    assert found["lines"] == found["host1_lines_expected"], found["lines"]  # one per datagram, the empty one none
    text = found["text"]
    assert b"\x00" not in text  # NUL bytes are escaped, never written
    assert b"../../../../etc/passwd" in text  # text is text: it names no file
    # and netconsole_log reads the file it made: the forged panic lines are host1's, as sent from its address
    result = analyze_log(str(tmp_path / "log" / "host1.log"))
    assert result["lines"] == found["lines"]
    assert any("bad header" in (panic.get("reason") or "") for panic in result["panics"]), result["panics"]


def test_a_full_disk_stops_nothing_but_the_writes(tmp_path):
    if shutil.which("mount") is None:
        pytest.skip("no mount")
    found = receiver_abuse.full_disk(tmp_path)
    print(found)
    assert found["disk_was_full"] and found["alive_when_full"], found
    assert found["writes_again"] and found["alive"], found
    assert found["outside_log_dir_changed"] == []
