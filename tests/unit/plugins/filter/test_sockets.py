# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""socket_users: who holds a port, from ss -p (the receiver role's and the soak playbook's port checks)."""

import os
import shutil
import socket
import subprocess

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.filter.sockets import socket_users

# what ss -H -l -u -n -p printed on a Debian 12 receiver with a stray listener beside rsyslog
SS_LINES = (
    'UNCONN 0 0 0.0.0.0:6666 0.0.0.0:* users:(("rsyslogd",pid=612,fd=5))\n'
    'UNCONN 0 0 [::]:6666 [::]:* users:(("rsyslogd",pid=612,fd=6))\n'
    'UNCONN 0 0 10.77.0.10:6666 0.0.0.0:* users:(("python3",pid=812,fd=3),("socat",pid=901,fd=7))\n'
)


def test_each_process_once_in_ss_order():
    assert socket_users(SS_LINES) == ["rsyslogd pid 612", "python3 pid 812", "socat pid 901"]


def test_excluded_names_are_left_out():
    assert socket_users(SS_LINES, exclude=["rsyslogd"]) == ["python3 pid 812", "socat pid 901"]
    assert socket_users(SS_LINES, exclude=["rsyslogd", "python3", "socat"]) == []


def test_nothing_listening_or_no_process_column_names_nobody():
    assert socket_users("") == []
    assert socket_users("UNCONN 0 0 0.0.0.0:6666 0.0.0.0:*\n") == []  # ss without -p, or another user's socket


@pytest.mark.parametrize("bad", [None, 5, ["x"]])
def test_input_that_is_not_text_fails(bad):
    with pytest.raises(AnsibleFilterError, match="input must be the text ss printed"):
        socket_users(bad)


def test_exclude_must_be_a_list_of_names():
    with pytest.raises(AnsibleFilterError, match="exclude must be a list"):
        socket_users(SS_LINES, exclude="rsyslogd")


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss is not installed")
def test_names_this_process_holding_a_real_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        out = subprocess.run(["ss", "-H", "-l", "-u", "-n", "-p", "sport = :%d" % port],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    users = socket_users(out)
    assert len(users) == 1 and users[0].endswith(" pid %d" % os.getpid()), out
