"""Abuse of the receiver, on loopback only: what a network that is not a friend can send it.

Each case runs the receiver role's real rsyslog configuration (rsyslog_role.Receiver) and returns its figures;
tests/unit/roles/test_receiver_abuse.py asserts on them, benchmarks/receiver_abuse/run prints them at full size.

- ``forged_flood``: thousands of forged source addresses (bound from 127.0.0.0/8, one socket each) send panic lines
  while the real senders send numbered lines, one of them at ten times the others' rate.
- ``odd_datagrams``: datagrams of 0, 1 and 65,000 bytes, binary garbage, malformed extended records and fragments,
  from a real sender's address and from strangers; then a normal line that must still arrive.
- ``full_disk``: the log directory on a small tmpfs that fills up; rsyslog must keep running and write again once
  there is room, and nothing outside the log directory may change.

Real senders are 127.0.0.2 and up; forged ones 127.1.0.0 and up. Every process started is stopped, every mount
undone, every loop bounded in count and time.
"""

import hashlib
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import rsyslog_role

NUMBERED = b"[%6d.000000] lastwords abuse h=%s seq=%07d\n"


def forged_addresses(count):
    """``count`` distinct forged source addresses from 127.1.0.0/16 upwards (never a real sender's)."""
    return ["127.%d.%d.%d" % (1 + n // 62500, (n // 250) % 250, 1 + n % 250) for n in range(count)]


def _numbered_lines(path, host):
    seen = set()
    if not path.exists():
        return seen
    needle = (" h=%s seq=" % host).encode()
    with open(path, "rb") as handle:
        for line in handle:
            at = line.find(needle)
            if at >= 0:
                seen.add(int(line[at + len(needle):at + len(needle) + 7]))
    return seen


def _send_numbered(port, source, host, rate, seconds, sent):
    """Numbered lines from ``source`` at ``rate`` lines/s for ``seconds``; the count goes into ``sent[host]``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        total = int(rate * seconds)
        start = time.monotonic()
        for seq in range(total):
            due = start + seq / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            sock.sendto(NUMBERED % (seq, host.encode(), seq), ("127.0.0.1", port))
        sent[host] = total


def _send_forged(port, addresses, per_address, stop_at):
    payload = b"[ 4242.000000] Kernel panic - not syncing: forged\n"
    sent = 0
    for address in addresses:
        if time.monotonic() > stop_at:
            break
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((address, 0))
            for _copy in range(per_address):
                sock.sendto(payload, ("127.0.0.1", port))
                sent += 1
    return sent


def forged_flood(tmp, addresses=10000, per_address=2, base_rate=200, seconds=4.0, allow_unknown=False,
                 alert_command=None, **role_overrides):
    """Real senders (host1 at 10 x ``base_rate`` lines/s, host2 and host3 at ``base_rate``) for ``seconds``
    while ``addresses`` forged sources send panic lines. Returns the figures. ``role_overrides`` are receiver_*
    variables (receiver_disable_dns=False shows why it is true)."""
    senders = {"127.0.0.2": "host1", "127.0.0.3": "host2", "127.0.0.4": "host3"}
    rates = {"host1": 10 * base_rate, "host2": base_rate, "host3": base_rate}
    overrides = dict(role_overrides, receiver_senders=senders, receiver_allow_unknown=allow_unknown)
    if alert_command:
        overrides.update(receiver_alert_command=alert_command, receiver_alert_delay=0)
    receiver = rsyslog_role.Receiver(tmp, **overrides).start()
    try:
        sent = {}
        threads = [threading.Thread(target=_send_numbered, args=(receiver.port, ip, name, rates[name], seconds, sent))
                   for ip, name in senders.items()]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        forged = _send_forged(receiver.port, forged_addresses(addresses), per_address, started + 60)
        forged_seconds = time.monotonic() - started
        for thread in threads:
            thread.join(timeout=seconds + 30)
        rsyslog_role.settle(receiver.files)
        kept = {name: len(_numbered_lines(receiver.log_dir / ("%s.log" % name), name)) for name in rates}
        files = [path.name for path in receiver.files()]
        return {
            "forged_addresses": addresses, "forged_datagrams": forged, "forged_seconds": round(forged_seconds, 1),
            "sent": sent, "kept": kept, "lost": {name: sent.get(name, 0) - kept[name] for name in rates},
            "files": files, "bytes": sum(path.stat().st_size for path in receiver.files() if path.is_file()),
            "alive": receiver.alive(), "cpu_seconds": receiver.cpu_seconds(),
        }
    finally:
        receiver.stop()


ODD = [
    ("empty", b""),
    ("one byte", b"x"),
    ("65,000 bytes", b"[  9.000000] " + b"L" * 64987),
    ("binary garbage", hashlib.sha512(b"lastwords").digest() * 22),  # 1408 bytes of every value
    ("NUL bytes", b"[  9.000001] before\x00after\x00\n"),
    ("invalid UTF-8", b"[  9.000002] \xff\xfe\xc3\x28 \xed\xa0\x80\n"),
    ("extended record without a body", b"6,1234,5678901,-;"),
    ("extended header only", b"6,1234,5678901,-"),
    ("extended record, bad numbers", b"x,y,z,-;Kernel panic - not syncing: bad header\n"),
    ("fragment beyond its total", b"6,1,1,-,ncfrag=9000/1200;abc\n"),
    ("fragment of no record", b"6,99,1,-,ncfrag=0/40;part one of two\n"),
    ("fragment, negative offset", b"6,2,1,-,ncfrag=-5/10;x\n"),
    ("only newlines", b"\n\n\n"),
    ("a forged syslog header", b"<0>Dec  3 10:00:00 host1 kernel: Kernel panic - not syncing: fake\n"),
    ("a path in the text", b"[  9.000003] ../../../../etc/passwd %2e%2e/ $(reboot) `id`\n"),
]


def odd_datagrams(tmp, repeat=3):
    """Every ODD datagram ``repeat`` times from the real sender host1 and from a stranger, then a normal line from
    host1. Returns the figures: what host1's file holds, the files, whether rsyslog lives."""
    receiver = rsyslog_role.Receiver(tmp, receiver_senders={"127.0.0.2": "host1"}).start()
    try:
        for _round in range(repeat):
            for source in ("127.0.0.2", "127.0.0.77"):
                rsyslog_role.send(source, receiver.port, [payload for _name, payload in ODD])
        rsyslog_role.send("127.0.0.2", receiver.port, [b"[ 10.000000] lastwords abuse: still here\n"])
        path = receiver.log_dir / "host1.log"
        rsyslog_role.wait_for(lambda: path.exists() and b"still here" in path.read_bytes(), timeout=10)
        rsyslog_role.settle(receiver.files)
        data = path.read_bytes() if path.exists() else b""
        return {"sent": repeat * len(ODD) * 2 + 1, "lines": data.count(b"\n"), "bytes": len(data),
                "host1_lines_expected": repeat * sum(1 for _name, payload in ODD if payload) + 1,
                "longest_line": max((len(line) for line in data.split(b"\n")), default=0),
                "still_here": b"still here" in data, "files": [p.name for p in receiver.files()],
                "alive": receiver.alive(), "text": data}
    finally:
        receiver.stop()


def _tree_digest(root, skip):
    """Path -> sha256 of every file under ``root`` but the paths in ``skip`` (directories or files)."""
    out = {}
    for base, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(base, d) not in skip]
        for name in files:
            path = os.path.join(base, name)
            if path in skip:
                continue
            with open(path, "rb") as handle:
                out[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return out


def full_disk(tmp, size="1m", seconds=3.0):
    """The log directory on a tmpfs of ``size`` holding a 256 KiB file of the operator's, filled up by host1 (about
    1 MB/s of numbered lines) for ``seconds`` past full; then the operator removes that file and one more line
    must arrive. Needs root (mount)."""
    tmp = Path(tmp)
    log = tmp / "log"
    log.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0750" % size, "lastwords-abuse", str(log)],
                   check=True, timeout=30)
    try:
        filler = log / "operator-file.bin"
        filler.write_bytes(b"\0" * (256 << 10))
        receiver = rsyslog_role.Receiver(tmp, receiver_senders={"127.0.0.2": "host1"})
        # rsyslog's own run files (pid, stderr, work directory) are not the host's
        skip = {str(log), str(receiver.work), str(receiver.pidfile), str(receiver.stderr_path)}
        before = _tree_digest(tmp, skip)
        receiver.start()
        try:
            path = log / "host1.log"
            line = b"[  1.000000] lastwords abuse disk seq=%07d " + b"d" * 900 + b"\n"
            seq, start = 0, time.monotonic()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.2", 0))
                while time.monotonic() - start < seconds + 1:
                    sock.sendto(line % seq, ("127.0.0.1", receiver.port))
                    seq += 1
                    if seq % 100 == 0:
                        time.sleep(0.1)
            rsyslog_role.settle(receiver.files, limit=10)
            stat = os.statvfs(str(log))
            full = stat.f_bavail * stat.f_frsize < 64 << 10
            filled_bytes = path.stat().st_size if path.exists() else 0
            alive_when_full = receiver.alive()
            filler.unlink()  # the operator makes room
            rsyslog_role.send("127.0.0.2", receiver.port, [b"[  2.000000] lastwords abuse: room again\n"])
            back = rsyslog_role.wait_for(lambda: path.exists() and b"room again" in path.read_bytes(), timeout=20)
            alive = receiver.alive()
        finally:
            receiver.stop()
        after = _tree_digest(tmp, skip)
        return {"sent": seq, "filled_bytes": filled_bytes, "disk_was_full": full, "alive_when_full": alive_when_full,
                "writes_again": bool(back), "alive": alive,
                "outside_log_dir_changed": sorted(set(before.items()) ^ set(after.items()))}
    finally:
        subprocess.run(["umount", str(log)], check=False, timeout=30)
