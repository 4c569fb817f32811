# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter that names the processes behind the sockets ``ss -p`` lists (the receiver's and the soak's port checks)."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

# ss -p prints users:(("rsyslogd",pid=612,fd=5),("python3",pid=812,fd=3)) at the end of each socket's line
_USER = re.compile(r'\("([^"]+)",pid=([0-9]+)')


def socket_users(output, exclude=()):
    """``ss -H ... -p`` output -> ``["python3 pid 812", ...]``, each process once, in the order ss lists them.

    ``exclude`` names processes that may hold the port (the receiver's own rsyslogd)."""
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    if not isinstance(output, str):
        raise AnsibleFilterError("socket_users: input must be the text ss printed, got %s" % type(output).__name__)
    if isinstance(exclude, str) or not all(isinstance(name, str) for name in exclude):
        raise AnsibleFilterError("socket_users: exclude must be a list of process names, got %r" % (exclude,))
    users = []
    for name, pid in _USER.findall(output):
        label = "%s pid %s" % (name, pid)
        if name not in exclude and label not in users:
            users.append(label)
    return users


class FilterModule:
    def filters(self):
        return {"socket_users": socket_users}
