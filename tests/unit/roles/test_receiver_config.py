"""The receiver role's rsyslog and logrotate configuration, rendered from the role and run for real.

The templates are rendered with Ansible's Templar from the role's own defaults/main.yml and vars/main.yml
(paths pointed into a temporary directory), then a real rsyslogd runs them in the foreground on a free
127.0.0.1 port with its own work directory and pid file, fed by real UDP datagrams from 127.0.0.2 (a known
sender) and 127.0.0.9 (unknown). logrotate runs the rendered rotation with a state file of its own.
Two tests run the role itself (a copy whose packages, service and handlers are stubs, every path in a
temporary root) through ansible-playbook: check mode, idempotence and the validation messages.
Nothing outside the temporary directories is written; all waits are bounded.
"""

import gzip
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import rsyslog_role  # tests/lab: the role's rsyslog configuration rendered and run (shared with the benchmarks)
import yaml
from rsyslog_role import free_udp_port, render, resolve, send, wait_for

REPO = Path(__file__).resolve().parents[3]
ROLE = rsyslog_role.ROLE
RSYSLOGD = rsyslog_role.RSYSLOGD
LOGROTATE = shutil.which("logrotate") or shutil.which("logrotate", path="/usr/sbin:/sbin")
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

needs_rsyslogd = pytest.mark.skipif(RSYSLOGD is None, reason="rsyslogd is not installed")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="rsyslog's 8 MB receive buffer and chown need root")

# 2026-11-25T21:40:01.123456+00:00 <message>
LINE_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d) (.*)$")
KNOWN, UNKNOWN = "127.0.0.2", "127.0.0.9"
# this file's sender table: 127.0.0.2 is host1
SENDERS = {KNOWN: "host1", "10.77.0.12": "host2"}

# What netconsole sends, and the line each datagram must become (rsyslog escapes control characters).
DATAGRAMS = [
    (b"[  123.456789] sysrq: Trigger a crash\n", "[  123.456789] sysrq: Trigger a crash"),
    (b"6,1234,5678901,-;sysrq: Trigger a crash\n", "6,1234,5678901,-;sysrq: Trigger a crash"),
    (b"6,1235,5678902,-,ncfrag=0/1200;" + b"x" * 900 + b"\n", "6,1235,5678902,-,ncfrag=0/1200;" + "x" * 900),
    (b"<13>Nov 25 21:40:01 fakehost faketag: not syslog\n", "<13>Nov 25 21:40:01 fakehost faketag: not syslog"),
    (b"  leading spaces\n", "  leading spaces"),
    (b"[    1.000000] one\n[    1.000000] two\n", "[    1.000000] one#012[    1.000000] two"),
    (b"tab\there\n", "tab#011here"),
    (b"no trailing newline", "no trailing newline"),
    (b"%rawmsg% $fromhost-ip\n", "%rawmsg% $fromhost-ip"),
]


def role_vars(tmp, **overrides):
    """The role's variables with this file's two senders (127.0.0.2 is host1), every path in ``tmp``."""
    return rsyslog_role.role_vars(tmp, **dict({"receiver_senders": SENDERS}, **overrides))


def _group():
    import grp

    return grp.getgrgid(os.getegid()).gr_name


def _user():
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def lines_of(path):
    try:
        return path.read_text(errors="surrogateescape").splitlines()
    except FileNotFoundError:
        return []


def messages_of(path):
    out = []
    for line in lines_of(path):
        match = LINE_RE.match(line)
        assert match, f"{path.name}: line not in the agreed format: {line!r}"
        out.append(match.group(2))
    return out


def count_is(path, count):
    return lambda: len(lines_of(path)) >= count


class Receiver(rsyslog_role.Receiver):
    """The role's configuration with this file's two senders, run by rsyslogd -n."""

    def __init__(self, tmp, **overrides):
        overrides.setdefault("receiver_senders", SENDERS)
        super().__init__(tmp, **overrides)


@pytest.fixture
def receivers(tmp_path):
    started = []

    def make(**overrides):
        receiver = Receiver(tmp_path, **overrides)
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


# --- rendering ----------------------------------------------------------------------------------------------------


def test_templates_start_with_ansible_managed(tmp_path):
    variables = role_vars(tmp_path, receiver_alert_command="true")
    for name in ("receiver.conf.j2", "logrotate.j2"):
        assert render(name, variables).startswith("#\n# Ansible managed\n#\n")
    assert render("senders.json.j2", variables).startswith("//\n// Ansible managed\n//\n")
    assert render("panic-alert.sh.j2", variables).startswith("#!/bin/bash\n#\n# Ansible managed\n#\n")


def test_senders_from_inventory(tmp_path):
    variables = role_vars(tmp_path, receiver_senders=None)
    variables["groups"] = {"panic_capture": ["web1", "nas"], "other": ["x"]}
    variables["hostvars"] = {
        "web1": {"lastwords_ip": "10.77.0.11", "ansible_host": "127.0.0.1"},
        "nas": {"ansible_host": "10.77.0.12"},
        "x": {"lastwords_ip": "10.77.0.99"},
    }
    assert resolve("{{ __receiver_senders }}", variables) == {"10.77.0.11": "web1", "10.77.0.12": "nas"}
    table = render("senders.json.j2", variables)
    assert '"index": "10.77.0.11"' in table and '"value": "web1"' in table and "10.77.0.99" not in table


def test_sender_addresses_are_written_as_rsyslog_sees_them(tmp_path):
    variables = role_vars(tmp_path, receiver_senders={"FD77:0:0::21": "deb12", "10.77.0.11": "web1"})
    table = render("senders.json.j2", variables)
    assert '"index": "fd77::21"' in table and '"index": "10.77.0.11"' in table and "FD77" not in table


def test_address_tests_as_the_role_uses_them(tmp_path):
    variables = role_vars(tmp_path)
    good_ips = ["10.77.0.1", "255.255.255.255", "::1", "fe80::1", "2001:db8::8a2e:370:7334", "::"]
    bad_ips = ["10.77.0.256", "10.77.0", "host1", "1.2.3.4/24", "fe80:::1", "", "1.2.3.4 ", "fe80::1%eth0"]
    variables.update(good_ips=good_ips, bad_ips=bad_ips)
    assert resolve("{{ good_ips | reject('lastwords.panic.ip_address') | list }}", variables) == []
    assert resolve("{{ bad_ips | select('lastwords.panic.ip_address') | list }}", variables) == []
    good_nets = ["10.77.0.0/24", "10.77.0.5", "fd00::/8", "0.0.0.0/0", "10.77.0.5/24"]
    bad_nets = ["10.77.0.0/33", "fd00::/129", "lab", "10.0.0.0/", "10.0.0.0/x"]
    variables.update(good_nets=good_nets, bad_nets=bad_nets)
    assert resolve("{{ good_nets | reject('lastwords.panic.ip_network') | list }}", variables) == []
    assert resolve("{{ bad_nets | select('lastwords.panic.ip_network') | list }}", variables) == []


def test_unknown_senders_are_dropped_by_default_and_never_filtered_globally(tmp_path):
    conf = render("receiver.conf.j2", role_vars(tmp_path))
    rules = conf.split("ruleset(")[1]
    assert "stop" in rules and "unknown" not in rules and "omprog" not in rules
    assert "AllowedSender" not in conf  # a global directive would filter every other UDP input of the rsyslog
    kept = render("receiver.conf.j2", role_vars(tmp_path, receiver_allow_unknown=True,
                                                receiver_allowed_networks=["10.77.0.0/24", "fd77::99"]))
    assert "AllowedSender" not in kept
    assert ('if not ((ip42num($fromhost-ip) >= 172818432 and ip42num($fromhost-ip) <= 172818687) or '
            '$fromhost-ip == "fd77::99") then {') in kept
    assert f'file="{tmp_path}/log/unknown.log"' in kept and 'rotation.sizeLimit="10485760"' in kept


def test_relp_forwarding_loads_omrelp_and_has_no_tcp_framing(tmp_path):
    forward = {"host": "logs.example.org", "protocol": "relp", "port": 2514}
    conf = render("receiver.conf.j2", role_vars(tmp_path, receiver_forward=forward))
    assert 'module(load="omrelp")' in conf
    assert 'action(type="omrelp" name="lastwords_forward"' in conf and 'port="2514"' in conf
    assert "TCP_Framing" not in conf and 'queue.filename="lastwords_forward"' in conf
    assert resolve("{{ __receiver_forward_relp }}", role_vars(tmp_path, receiver_forward={"host": "x"})) is False


def test_an_ipv6_network_is_refused_naming_the_variable(tmp_path):
    variables = role_vars(tmp_path, receiver_allow_unknown=True, receiver_allowed_networks=["fd77::/64"])
    with pytest.raises(Exception, match="receiver_allowed_networks: fd77::/64 is an IPv6 network"):
        resolve("{{ __receiver_allowed_condition }}", variables)


# --- rsyslogd -----------------------------------------------------------------------------------------------------


@needs_rsyslogd
def test_rendered_config_passes_rsyslogd_check(receivers):
    receiver = receivers(receiver_alert_command="cat >/dev/null", receiver_allow_unknown=True,
                         receiver_allowed_networks=["127.0.0.0/8", "::1"])
    result = receiver.check()
    assert result.returncode == 0, result.stderr


@needs_rsyslogd
def test_validate_script_checks_the_whole_config(tmp_path, receivers):
    receiver = receivers()
    script = receiver.vars["__receiver_validate_script"]
    candidate = tmp_path / "candidate.conf"
    candidate.write_text(receiver.conf.read_text())

    def validate(*args):
        return subprocess.run([script, *args], capture_output=True, text=True, timeout=30, check=False)

    ok = validate("config", str(candidate), str(receiver.conf), str(receiver.main_conf))
    assert ok.returncode == 0, ok.stderr
    # Alone the fragment is fine; next to another imudp load, the whole configuration is not.
    (receiver.conf.parent / "10-syslog-udp.conf").write_text('module(load="imudp")\n')
    clash = validate("config", str(candidate), str(receiver.conf), str(receiver.main_conf))
    assert clash.returncode != 0 and "imudp" in clash.stderr
    alone = subprocess.run([RSYSLOGD, "-N1", "-f", str(candidate)], capture_output=True, timeout=30, check=False)
    assert alone.returncode == 0
    (receiver.conf.parent / "10-syslog-udp.conf").unlink()
    # A syntax error in the candidate fails; the installed file is not what is checked.
    candidate.write_text(receiver.conf.read_text().replace("asyncWriting", "asyncWritting"))
    assert validate("config", str(candidate), str(receiver.conf), str(receiver.main_conf)).returncode != 0
    # A main configuration that never includes the drop-in directory fails.
    lonely = tmp_path / "lonely.conf"
    lonely.write_text('global(workDirectory="/tmp")\n')
    assert "does not include" in validate("config", str(candidate), str(receiver.conf), str(lonely)).stderr
    # Lookup tables.
    good_table = Path(receiver.vars["__receiver_lookup_file"])
    assert validate("table", str(good_table)).returncode == 0
    bad_table = tmp_path / "bad.json"
    bad_table.write_text('{"version": 1, "table": [')
    assert validate("table", str(bad_table)).returncode != 0


@needs_rsyslogd
@needs_root
def test_one_line_per_datagram_one_file_per_host(receivers):
    receiver = receivers(receiver_allow_unknown=True).start()
    send(KNOWN, receiver.port, [payload for payload, _line in DATAGRAMS])
    send(UNKNOWN, receiver.port, [payload for payload, _line in DATAGRAMS])
    known = receiver.log_dir / "host1.log"
    unknown = receiver.log_dir / "unknown.log"
    assert wait_for(count_is(known, len(DATAGRAMS))) and wait_for(count_is(unknown, len(DATAGRAMS)))
    expected = [line for _payload, line in DATAGRAMS]
    assert messages_of(known) == expected
    assert messages_of(unknown) == [f"{UNKNOWN} {line}" for line in expected]  # each line with its source
    assert sorted(p.name for p in receiver.log_dir.iterdir()) == ["host1.log", "unknown.log"]
    assert stat.S_IMODE(known.stat().st_mode) == 0o640
    assert stat.S_IMODE(receiver.log_dir.stat().st_mode) in (0o750, 0o755, 0o700)


@needs_rsyslogd
@needs_root
@pytest.mark.skipif(not socket.has_ipv6 or not Path("/proc/net/if_inet6").exists(), reason="no IPv6 here")
def test_an_ipv6_sender_spelled_otherwise_in_the_inventory_gets_its_file(receivers):
    receiver = receivers(receiver_bind_address="::1", receiver_senders={"0:0:0::1": "host6"}).start()
    send("::1", receiver.port, [b"over ipv6\n"], to="::1")
    assert wait_for(count_is(receiver.log_dir / "host6.log", 1))
    assert messages_of(receiver.log_dir / "host6.log") == ["over ipv6"]
    assert [p.name for p in receiver.log_dir.iterdir()] == ["host6.log"]


@needs_rsyslogd
@needs_root
def test_unknown_and_disallowed_senders_dropped(receivers):
    receiver = receivers().start()  # the default: only the inventory's senders
    send(UNKNOWN, receiver.port, [b"dropped\n", b"[   1.0] Kernel panic - not syncing: forged\n"])
    send(KNOWN, receiver.port, [b"kept\n"])
    assert wait_for(count_is(receiver.log_dir / "host1.log", 1))
    time.sleep(1.2)
    assert [p.name for p in receiver.log_dir.iterdir()] == ["host1.log"]
    receiver.stop()
    # Allowed networks choose which unknown senders are kept; a known sender is kept wherever it is.
    receiver = receivers(receiver_allow_unknown=True, receiver_allowed_networks=["127.0.0.9/32", "127.0.1.0/24"],
                         receiver_senders={"127.0.0.2": "host1"}).start()
    send("127.0.0.5", receiver.port, [b"not allowed\n"])
    send(UNKNOWN, receiver.port, [b"allowed\n"])
    send("127.0.1.77", receiver.port, [b"allowed too\n"])
    send(KNOWN, receiver.port, [b"known\n"])
    assert wait_for(count_is(receiver.log_dir / "unknown.log", 2))
    assert wait_for(count_is(receiver.log_dir / "host1.log", 2))
    time.sleep(1.2)
    assert messages_of(receiver.log_dir / "host1.log") == ["kept", "known"]
    assert sorted(messages_of(receiver.log_dir / "unknown.log")) == [f"{UNKNOWN} allowed", "127.0.1.77 allowed too"]


@needs_rsyslogd
@needs_root
def test_a_thousand_forged_addresses_make_one_bounded_file(receivers):
    limit = 64 << 10
    receiver = receivers(receiver_allow_unknown=True, receiver_unknown_max_size="64K").start()
    line = b"[  1.000000] " + b"f" * 180 + b"\n"
    for n in range(1000):
        send("127.0.%d.%d" % (10 + n // 250, 1 + n % 250), receiver.port, [line] * 3)
    send(KNOWN, receiver.port, [b"still here\n"])
    assert wait_for(count_is(receiver.log_dir / "host1.log", 1), timeout=15)
    time.sleep(1.5)
    names = sorted(p.name for p in receiver.log_dir.iterdir())
    assert names == ["host1.log", "unknown.log", "unknown.log.1"], names
    for name in ("unknown.log", "unknown.log.1"):
        # past the mark by at most one write of omfile's 4 KiB buffer
        assert (receiver.log_dir / name).stat().st_size <= limit + 8192, name
        assert stat.S_IMODE((receiver.log_dir / name).stat().st_mode) == 0o640, name  # made by the helper
    assert messages_of(receiver.log_dir / "host1.log") == ["still here"]
    assert receiver.proc.poll() is None


@needs_rsyslogd
@needs_root
def test_hup_and_restart_append_never_truncate(receivers):
    receiver = receivers().start()
    known = receiver.log_dir / "host1.log"
    send(KNOWN, receiver.port, [f"before hup {i}\n".encode() for i in range(50)])
    assert wait_for(count_is(known, 50))
    receiver.hup()
    time.sleep(0.3)
    send(KNOWN, receiver.port, [f"after hup {i}\n".encode() for i in range(50)])
    assert wait_for(count_is(known, 100))
    before_restart = known.read_bytes()
    receiver.stop()
    receiver.start()
    send(KNOWN, receiver.port, [f"after restart {i}\n".encode() for i in range(50)])
    assert wait_for(count_is(known, 150))
    assert known.read_bytes().startswith(before_restart)
    assert messages_of(known) == (
        [f"before hup {i}" for i in range(50)]
        + [f"after hup {i}" for i in range(50)]
        + [f"after restart {i}" for i in range(50)]
    )


@needs_rsyslogd
@needs_root
@pytest.mark.skipif(LOGROTATE is None, reason="logrotate is not installed")
def test_logrotate_renames_and_rsyslog_reopens(tmp_path, receivers):
    receiver = receivers().start()
    known = receiver.log_dir / "host1.log"
    config = Path(receiver.vars["__receiver_logrotate_file"])
    hup = f"kill -HUP {receiver.proc.pid}"  # this test's rsyslogd, not the system's
    config.write_text(render("logrotate.j2", dict(receiver.vars, __receiver_hup_command=hup)))
    config.chmod(0o644)
    state = tmp_path / "logrotate.state"

    def rotate():
        result = subprocess.run(
            [LOGROTATE, "-f", "-s", str(state), str(config)], capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, result.stderr

    send(KNOWN, receiver.port, [f"week 1 line {i}\n".encode() for i in range(20)])
    assert wait_for(count_is(known, 20))
    rotate()
    assert messages_of(receiver.log_dir / "host1.log.1") == [f"week 1 line {i}" for i in range(20)]
    assert known.exists() and stat.S_IMODE(known.stat().st_mode) == 0o640  # `create`, empty until rsyslog writes
    time.sleep(1.0)  # rsyslog handles the postrotate SIGHUP
    send(KNOWN, receiver.port, [f"week 2 line {i}\n".encode() for i in range(20)])
    assert wait_for(count_is(known, 20))
    assert messages_of(known) == [f"week 2 line {i}" for i in range(20)]
    assert len(lines_of(receiver.log_dir / "host1.log.1")) == 20
    rotate()  # the older file is compressed one rotation later (delaycompress)
    with gzip.open(receiver.log_dir / "host1.log.2.gz", "rt") as old:
        assert [LINE_RE.match(line).group(2) for line in old.read().splitlines()] == [
            f"week 1 line {i}" for i in range(20)
        ]
    assert messages_of(receiver.log_dir / "host1.log.1") == [f"week 2 line {i}" for i in range(20)]


@needs_rsyslogd
@needs_root
def test_panic_alert_runs_once_with_the_tail(tmp_path, receivers):
    out = tmp_path / "alerts.txt"
    command = f'{{ echo "host=$LASTWORDS_HOST file=$LASTWORDS_FILE"; cat; echo "--"; }} >> {out}'
    receiver = receivers(receiver_alert_command=command, receiver_alert_delay=1.5, receiver_alert_lines=5).start()
    panic = [
        b"[   42.000001] sysrq: Trigger a crash\n",
        b"[   42.000002] Kernel panic - not syncing: sysrq triggered crash\n",
        b"[   42.000003] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0-27-amd64 #1\n",
        b"[   42.000004] Call Trace:\n",
        b"[   42.000005]  <TASK>\n",
        b"[   42.000006]  panic+0x118/0x2f0\n",
        b"[   42.000007] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---\n",
    ]
    send(KNOWN, receiver.port, panic)
    assert wait_for(lambda: out.exists() and out.read_text().endswith("--\n"), timeout=15)
    time.sleep(1.5)  # a second alert (from the end line) would have come by now
    text = out.read_text()
    assert text.count("host=") == 1
    assert f"host=host1 file={receiver.log_dir / 'host1.log'}" in text
    body = text.splitlines()[1:-1]
    assert len(body) == 5 and all(LINE_RE.match(line) for line in body)
    assert "panic+0x118/0x2f0" in text and "---[ end Kernel panic" in text


@needs_rsyslogd
@needs_root
def test_an_oops_that_kdump_cut_off_alerts_once_with_its_first_line(tmp_path, receivers):
    """The lab's test module's oops (kdump loaded: no panic line, no end line), as the serial console printed it."""
    hook = _Hook()
    hook.tries = 1  # no 500 this time
    out = tmp_path / "alerts.txt"
    try:
        receiver = receivers(receiver_alert_command=f'echo "$LASTWORDS_HOST" >> {out}', receiver_alert_delay=2,
                             receiver_alert_webhook={"url": hook.url, "retries": 0}).start()
        trace = REPO / "tests" / "unit" / "plugins" / "module_utils" / "traces" / "x86_64-6.1-lastwords_rxbug-kdump.txt"
        send(KNOWN, receiver.port, [line.encode() + b"\n" for line in trace.read_text().splitlines()])
        assert wait_for(lambda: hook.bodies, timeout=15)
        time.sleep(1.0)
        assert out.read_text().split() == ["host1"]  # one alert for the burst (the die counter line)
        ((_path, _headers, body),) = hook.bodies
        assert body["panic"] == "BUG: kernel NULL pointer dereference, address: 0000000000000008", body["panic"]
    finally:
        hook.close()


@needs_rsyslogd
@needs_root
def test_alerts_only_for_known_hosts_and_at_most_so_many_an_hour(tmp_path, receivers):
    out = tmp_path / "alerts.txt"
    command = f'echo "$LASTWORDS_HOST" >> {out}'
    senders = {"127.0.0.2": "host1", "127.0.0.3": "host2", "127.0.0.4": "host3"}
    receiver = receivers(receiver_alert_command=command, receiver_alert_delay=0, receiver_allow_unknown=True,
                         receiver_alert_max_per_hour=2, receiver_senders=senders).start()
    panic = b"[   42.000002] Kernel panic - not syncing: Fatal exception in interrupt\n"
    for n in range(50):  # forged senders: kept in unknown.log, never an alert
        send("127.0.2.%d" % (n + 1), receiver.port, [panic])
    for source in senders:
        send(source, receiver.port, [panic, panic])  # a burst: one alert per host at most
    assert wait_for(count_is(receiver.log_dir / "host3.log", 2), timeout=10)
    assert wait_for(lambda: out.exists() and len(out.read_text().split()) >= 2, timeout=10)
    time.sleep(2.0)  # any alert over the limit would have run by now
    assert sorted(out.read_text().split()) == ["host1", "host2"]  # the third is over 2 an hour
    assert len(lines_of(receiver.log_dir / "unknown.log")) == 50
    said = receiver.said()
    assert len(said) == 1 and said[0].endswith(
        "lastwords-alert: alert for host3 suppressed: 2 alerts in the last hour (1 suppressed)"), said


@needs_rsyslogd
@needs_root
def test_a_failing_alert_command_and_webhook_say_why_in_syslog(receivers):
    """Each failure is one syslog line with the exit status and what the command or the webhook said on stderr:
    an operator whose phone stays silent finds the wrong URL or the missing relay in the journal."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d/hook" % sock.getsockname()[1]
    receiver = receivers(receiver_alert_command='echo "no relay for $LASTWORDS_HOST" >&2; echo ignored; exit 3',
                         receiver_alert_webhook={"url": url, "retries": 1, "timeout": 2},
                         receiver_alert_delay=0).start()
    send(KNOWN, receiver.port, [b"[   42.000002] Kernel panic - not syncing: Fatal exception in interrupt\n"])
    assert wait_for(lambda: len(receiver.said()) >= 2, timeout=15), receiver.said()
    command, webhook = receiver.said()  # the command runs first, then the webhook
    assert command.endswith("lastwords-alert: alert command for host1 failed with exit status 3: no relay for host1")
    assert "lastwords-alert: webhook for host1 failed with exit status 1: webhook try 1: " in webhook, webhook
    assert "Connection refused" in webhook and "; webhook try 2: " in webhook, webhook
    assert "\n" not in webhook.rstrip("\n")


class _Hook:
    """An HTTP listener on 127.0.0.1 that answers 500 to the first POST and 200 to the others, keeping the bodies."""

    def __init__(self):
        import http.server
        import threading

        hook = self
        self.bodies, self.tries = [], 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # the standard library's name
                hook.tries += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = 500 if hook.tries == 1 else 200
                if status == 200:
                    hook.bodies.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@needs_rsyslogd
@needs_root
def test_the_webhook_gets_the_panic_as_json_and_is_tried_again(receivers):
    hook = _Hook()
    try:
        webhook = {"url": hook.url, "timeout": 5, "retries": 2, "headers": {"X-Token": "s3cret"}, "topic": "lab"}
        receiver = receivers(receiver_alert_webhook=webhook, receiver_alert_delay=2).start()
        end = b"[   42.000003] ---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---\n"
        send(KNOWN, receiver.port, [b"[   42.000001] BUG: kernel NULL pointer dereference, address: 0000000000000000\n",
                                    b"[   42.000002] Kernel panic - not syncing: Fatal exception in interrupt\n", end])
        assert wait_for(lambda: hook.bodies, timeout=15), f"no webhook call (tries: {hook.tries})"
        time.sleep(1.5)  # the end line would have made a second call by now
        (path, headers, body) = hook.bodies[0]
        assert len(hook.bodies) == 1 and hook.tries == 2  # the 500, then the call kept
        assert path == "/hook" and headers["X-Token"] == "s3cret" and headers["Content-Type"] == "application/json"
        assert body["host"] == "host1" and body["title"] == "kernel panic on host1" and body["topic"] == "lab"
        assert body["panic"] == "Kernel panic - not syncing: Fatal exception in interrupt"
        assert body["message"] == "host1: Kernel panic - not syncing: Fatal exception in interrupt"
        assert body["lines"][0] == "[   42.000001] BUG: kernel NULL pointer dereference, address: 0000000000000000"
        assert body["priority"] == 5 and body["file"].endswith("/host1.log")
        assert stat.S_IMODE(Path(receiver.vars["__receiver_webhook_script"]).stat().st_mode) == 0o700
    finally:
        hook.close()


class _Store:
    """A second rsyslogd standing in for the central log store: imtcp (or imrelp) on a free 127.0.0.1 port, one
    file."""

    def __init__(self, tmp, protocol="tcp"):
        self.dir = tmp / "store"
        (self.dir / "work").mkdir(parents=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.file = self.dir / "received.log"
        self.conf = self.dir / "rsyslog.conf"
        self.conf.write_text(
            f'global(workDirectory="{self.dir / "work"}")\nmodule(load="im{protocol}")\n'
            f'template(name="raw" type="string" string="%rawmsg%\\n")\n'
            f'ruleset(name="store") {{ action(type="omfile" file="{self.file}" template="raw") }}\n'
            f'input(type="im{protocol}" port="{self.port}" address="127.0.0.1" ruleset="store")\n')
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.dir / "pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(self.listening, timeout=10)
        return self

    def listening(self):
        return subprocess.run(["ss", "-Hltn", f"sport = :{self.port}"], capture_output=True, text=True,
                              check=False).stdout.strip()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


RSYSLOG_MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog", "/usr/lib/rsyslog",
                       "/usr/lib64/rsyslog")


def _has_relp():
    """rsyslog-relp's input and output modules are where rsyslogd loads modules from."""
    return RSYSLOGD is not None and all(any(Path(d, f"{name}.so").exists() for d in RSYSLOG_MODULE_DIRS)
                                        for name in ("imrelp", "omrelp"))


@needs_rsyslogd
@needs_root
@pytest.mark.parametrize("protocol", [
    "tcp",
    pytest.param("relp", marks=pytest.mark.skipif(not _has_relp(), reason="rsyslog-relp is not installed")),
])
def test_forwarding_to_a_log_store_keeps_the_lines_while_it_is_down(tmp_path, receivers, protocol):
    store = _Store(tmp_path, protocol).start()
    try:
        receiver = receivers(receiver_forward={"host": "127.0.0.1", "port": store.port,
                                               "protocol": protocol}).start()
        send(KNOWN, receiver.port, [f"[  1.000000] before {i}\n".encode() for i in range(10)])
        send(UNKNOWN, receiver.port, [b"[  1.000000] a stranger\n"])
        assert wait_for(count_is(store.file, 10), timeout=15), lines_of(store.file)
        first = lines_of(store.file)[0]
        # RFC 5424: <kern.notice>1 <time> <inventory name> netconsole - - - <message>
        assert re.match(r"^<5>1 \d{4}-\d\d-\d\dT\S+ host1 netconsole - - - \[  1\.000000\] before 0$", first), first
        store.stop()
        send(KNOWN, receiver.port, [f"[  2.000000] while down {i}\n".encode() for i in range(20)])
        assert wait_for(count_is(receiver.log_dir / "host1.log", 30))  # the file has them at once
        time.sleep(2)
        store.start()
        assert wait_for(count_is(store.file, 30), timeout=40), lines_of(store.file)  # resumes within 5 s tries
        time.sleep(1.5)
        got = [line.split(" - - - ", 1)[1] for line in lines_of(store.file)]
        assert sorted(set(got)) == sorted([f"[  1.000000] before {i}" for i in range(10)]
                                          + [f"[  2.000000] while down {i}" for i in range(20)])
        assert not any("stranger" in line for line in got)
    finally:
        store.stop()


# --- the role itself ----------------------------------------------------------------------------------------------

STUB_HANDLERS = """\
---
- name: Restart rsyslog
  ansible.builtin.debug:
    msg: restart
- name: Reload rsyslog
  ansible.builtin.debug:
    msg: reload
"""


def _harness(tmp_path):
    """A copy of the role whose packages, service and handlers touch nothing, and its playbook runner."""
    roles = tmp_path / "roles"
    shutil.copytree(ROLE, roles / "receiver")
    (roles / "receiver" / "handlers" / "main.yml").write_text(STUB_HANDLERS)
    (roles / "receiver" / "tasks" / "packages.yml").write_text(
        "---\n- name: Packages (stub)\n  ansible.builtin.debug:\n    msg: stub\n"
        "  register: __receiver_packages_result\n"
    )
    (roles / "receiver" / "tasks" / "service.yml").write_text(
        "---\n- name: Service (stub)\n  ansible.builtin.debug:\n    msg: stub\n"
    )
    root = tmp_path / "root"
    (root / "etc" / "rsyslog.d").mkdir(parents=True)
    (root / "etc" / "logrotate.d").mkdir(parents=True)
    (root / "etc" / "rsyslog.conf").write_text(
        f'global(workDirectory="{tmp_path}")\n$IncludeConfig {root}/etc/rsyslog.d/*.conf\n'
    )
    extra = {
        "__receiver_rsyslog_main_conf": f"{root}/etc/rsyslog.conf",
        "__receiver_conf_file": f"{root}/etc/rsyslog.d/60-lastwords-receiver.conf",
        "__receiver_lookup_file": f"{root}/etc/rsyslog.d/lastwords-receiver-senders.json",
        "__receiver_logrotate_file": f"{root}/etc/logrotate.d/lastwords-receiver",
        "__receiver_validate_script": f"{root}/usr/local/libexec/lastwords-rsyslog-validate",
        "__receiver_alert_script": f"{root}/usr/local/libexec/lastwords-panic-alert",
        "__receiver_hup_command": "/bin/true",
        "__receiver_dir_owner": _user(),
        "__receiver_file_group": _group(),
        "receiver_log_dir": f"{root}/var/log/netconsole",
        "receiver_port": free_udp_port(),
        "receiver_alert_command": "cat > /dev/null",
        "ansible_python_interpreter": sys.executable,
    }
    (tmp_path / "inventory.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {"localhost": {"ansible_connection": "local"}},
                    "children": {
                        "panic_capture": {
                            "hosts": {"web1": {"lastwords_ip": "10.77.0.11"}, "nas": {"ansible_host": "10.77.0.12"}}
                        }
                    },
                }
            }
        )
    )
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(roles),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_STDOUT_CALLBACK="default",
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}:/usr/sbin:/sbin",
    )

    def play(playbook, *args, temp_root=True):
        """Run a playbook; with temp_root, every path the role writes is in the temporary root (extra vars)."""
        book = tmp_path / "play.yml"
        book.write_text(textwrap.dedent(playbook))
        varsfile = tmp_path / "extra.yml"
        varsfile.write_text(yaml.safe_dump(extra if temp_root else {"ansible_python_interpreter": sys.executable}))
        return subprocess.run(
            [str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "inventory.yml"), str(book), "-e", f"@{varsfile}", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=240,
            check=False,
        )

    return root, play


def _recap(result):
    match = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    return {"ok": int(match[1]), "changed": int(match[2]), "failed": int(match[4])}


ROLE_PLAY = """\
- name: The receiver role on a temporary root
  hosts: localhost
  gather_facts: false
  roles:
    - receiver
"""


@needs_rsyslogd
@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook is not next to this Python")
def test_role_check_mode_and_idempotence(tmp_path):
    root, play = _harness(tmp_path)
    check = play(ROLE_PLAY, "--check")
    assert _recap(check)["failed"] == 0, check.stdout
    assert _recap(check)["changed"] > 0
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == ["etc/rsyslog.conf"]
    first = play(ROLE_PLAY)
    assert _recap(first)["failed"] == 0, first.stdout
    conf = root / "etc" / "rsyslog.d" / "60-lastwords-receiver.conf"
    table = (root / "etc" / "rsyslog.d" / "lastwords-receiver-senders.json").read_text()
    assert '"10.77.0.11"' in table and '"web1"' in table and '"nas"' in table  # built from the inventory
    assert "omprog" in conf.read_text()
    log = root / "var" / "log" / "netconsole" / "web1.log"
    log.write_text("2026-11-25T21:40:01.123456+00:00 kept\n")
    second = play(ROLE_PLAY)
    assert _recap(second) == {"ok": _recap(second)["ok"], "changed": 0, "failed": 0}, second.stdout
    assert log.read_text() == "2026-11-25T21:40:01.123456+00:00 kept\n"
    # The role wrote what the templates render with the same values.
    variables = role_vars(tmp_path)
    variables.update(yaml.safe_load((tmp_path / "extra.yml").read_text()))
    variables["receiver_senders"] = {"10.77.0.11": "web1", "10.77.0.12": "nas"}
    variables["receiver_bind_address"] = ""
    assert conf.read_text() == render("receiver.conf.j2", variables)


VALIDATE_CASES = {
    "port": ({"receiver_port": 70000}, "receiver_port must be a UDP port number"),
    "log_dir": ({"receiver_log_dir": "var/log/netconsole"}, "receiver_log_dir must be an absolute"),
    "bind": ({"receiver_bind_address": "10.77.0.300"}, "receiver_bind_address must be an IPv4 or IPv6"),
    "senders": ({"receiver_senders": {"10.77.0.1": "ok", "lab-host": "x"}}, "not an IP address: lab-host"),
    "names": ({"receiver_senders": {"10.77.0.1": "../etc/x"}}, "not usable as a file name: ../etc/x"),
    "twice": ({"receiver_senders": {"fd77::21": "a", "FD77:0::21": "b", "10.77.0.1": "c"}},
              "receiver_senders has an address more than once, spelled differently: fd77::21."),
    "mode": ({"receiver_file_mode": 416}, "receiver_file_mode must be a quoted octal string"),
    "networks": ({"receiver_allowed_networks": ["10.77.0.0/33"]}, "not valid: 10.77.0.0/33"),
    "rotate": ({"receiver_rotate": {"frequency": "daily", "count": 0}}, "receiver_rotate must be a mapping"),
    "alert": ({"receiver_alert_lines": 0}, "receiver_alert_lines an integer >= 1"),
    "alert_rate": ({"receiver_alert_max_per_hour": 0}, "receiver_alert_max_per_hour an integer >= 1"),
    "webhook": ({"receiver_alert_webhook": {"url": "ftp://x", "tries": 3}}, "receiver_alert_webhook must be null"),
    "forward": ({"receiver_forward": {"host": "logs example", "protocol": "udp"}}, "receiver_forward must be null"),
    "unknown_name": ({"receiver_senders": {"10.77.0.1": "unknown"}}, "not usable as a file name: unknown"),
    "ipv6_network": ({"receiver_allow_unknown": True, "receiver_allowed_networks": ["fd77::/64"]},
                     "receiver_allowed_networks: fd77::/64 is an IPv6 network; rsyslog can compare"),
    "unknown_size": ({"receiver_unknown_max_size": "1k"}, "receiver_unknown_max_size must be a size of at least 64K"),
}


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook is not next to this Python")
@pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed")
def test_validation_names_the_variable(tmp_path):
    _root, play = _harness(tmp_path)
    busy_port = free_udp_port()
    busy = ({"receiver_port": busy_port}, f"receiver_port {busy_port}/udp is already in use")
    cases = dict(VALIDATE_CASES, busy=busy)
    blocks = []
    for name, (values, _message) in cases.items():
        blocks.append(
            {
                "name": f"Case {name}",
                "block": [
                    {
                        "name": f"Validate {name}",
                        "ansible.builtin.include_role": {"name": "receiver", "tasks_from": "validate"},
                        "vars": values,
                    },
                    {"name": f"Case {name} passed", "ansible.builtin.set_fact": {f"case_{name}": "PASSED"}},
                ],
                "rescue": [
                    {
                        "name": f"Case {name} message",
                        "ansible.builtin.debug": {"msg": "CASE {{ '" + name + "' }}: {{ ansible_failed_result.msg }}"},
                    }
                ],
            }
        )
    playbook = yaml.safe_dump([{"name": "Validation", "hosts": "localhost", "gather_facts": False, "tasks": blocks}])
    socat = subprocess.Popen(
        ["socat", "-u", f"UDP-RECV:{busy_port},bind=127.0.0.1", "OPEN:/dev/null"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: "socat" in subprocess.run(
            ["ss", "-H", "-lunp", f"sport = :{busy_port}"], capture_output=True, text=True, check=False).stdout)
        # Validation writes nothing; the cases' values must not be beaten by extra vars.
        result = play(playbook, temp_root=False)
    finally:
        socat.terminate()
        socat.wait(timeout=5)
    output = " ".join(result.stdout.split())
    for name, (_values, message) in cases.items():
        found = re.search(r"CASE " + name + r": (.*?)\"", output)
        assert found, f"case {name} did not fail: {output[-3000:]}"
        assert message in found.group(1), found.group(1)
    assert "in use by socat pid" in output
