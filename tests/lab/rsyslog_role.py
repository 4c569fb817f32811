"""The receiver role's rsyslog configuration, rendered from the role and run for real on this machine's loopback.

One place for what the receiver's unit tests, its abuse test and its benchmarks need: the role's variables as the
role sees them (defaults/main.yml, then vars/main.yml, every path it writes pointed into a temporary directory),
its templates rendered with Ansible's Templar, and a private rsyslogd running them in the foreground with its own
work directory and pid file on a free 127.0.0.1 port. Nothing outside that directory is written; every wait is
bounded. Needs Ansible importable (the repository's .venv) and the collection on the collection path (the
callers install Ansible's collection finder first: tests/unit/conftest.py, benchmarks/*/run).
"""

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "receiver"


def which(name):
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


RSYSLOGD = which("rsyslogd")


def role_vars(tmp, **overrides):
    """The role's variables as the role sees them, every path it writes pointed into ``tmp``."""
    tmp = Path(tmp)
    loader = DataLoader()
    variables = {}
    variables.update(loader.load_from_file(str(ROLE / "defaults" / "main.yml"), trusted_as_template=True))
    variables.update(loader.load_from_file(str(ROLE / "vars" / "main.yml"), trusted_as_template=True))
    variables.update(
        {
            "ansible_managed": "Ansible managed",
            "__receiver_rsyslog_main_conf": str(tmp / "etc" / "rsyslog.conf"),
            "__receiver_conf_file": str(tmp / "etc" / "rsyslog.d" / "60-lastwords-receiver.conf"),
            "__receiver_lookup_file": str(tmp / "etc" / "rsyslog.d" / "lastwords-receiver-senders.json"),
            "__receiver_logrotate_file": str(tmp / "etc" / "logrotate.d" / "lastwords-receiver"),
            "__receiver_validate_script": str(ROLE / "files" / "lastwords-rsyslog-validate"),
            "__receiver_alert_script": str(tmp / "libexec" / "lastwords-panic-alert"),
            "__receiver_unknown_rotate_script": str(tmp / "libexec" / "lastwords-rotate-unknown"),
            "__receiver_webhook_script": str(tmp / "libexec" / "lastwords-alert-webhook"),
            "__receiver_alert_syslog_socket": str(tmp / "syslog.sock"),  # Receiver.said() reads it
            "__receiver_dir_owner": pwd.getpwuid(os.geteuid()).pw_name,
            "__receiver_file_group": grp.getgrgid(os.getegid()).gr_name,
            "__receiver_hup_command": "/bin/true",
            "receiver_log_dir": str(tmp / "log"),
            "receiver_bind_address": "127.0.0.1",
        }
    )
    variables.update(overrides)
    return variables


def render(template, variables):
    templar = Templar(loader=DataLoader(), variables=variables)
    text = (ROLE / "templates" / template).read_text()
    return templar.template(trust_as_template(text), preserve_trailing_newlines=True, escape_backslashes=False)


def resolve(expression, variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def send(source, port, payloads, to="127.0.0.1"):
    """Datagrams from the address ``source`` (any of 127.0.0.0/8 binds on Linux) to the receiver."""
    with socket.socket(socket.AF_INET6 if ":" in to else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        for payload in payloads:
            sock.sendto(payload, (to, port))


def wait_for(predicate, timeout=8.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def settle(files, quiet=1.5, limit=20.0, min_wait=0.0):
    """Wait until the files ``files()`` lists stop growing (rsyslog writes asynchronously, flushing every second):
    ``quiet`` seconds without a change, at least ``min_wait`` in all, at most ``limit``."""
    start = last_change = time.monotonic()
    last = None
    while time.monotonic() - start < limit:
        size = sum(path.stat().st_size for path in files() if path.is_file())
        now = time.monotonic()
        if size != last:
            last, last_change = size, now
        elif now - start >= min_wait and now - last_change >= quiet:
            return
        time.sleep(0.1)


def pin(cpus):
    """A preexec_fn that pins a child (and the threads it starts) to ``cpus``, or None for no pinning."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def cpu_seconds(pid):
    """User + system CPU seconds the process has used so far, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class Receiver:
    """The role's configuration, written into ``tmp`` as the role would write it, run by ``rsyslogd -n``."""

    def __init__(self, tmp, **overrides):
        self.tmp = Path(tmp)
        self.port = overrides.pop("receiver_port", None) or free_udp_port()
        self.vars = role_vars(self.tmp, receiver_port=self.port, **overrides)
        self.log_dir = Path(resolve("{{ __receiver_log_dir }}", self.vars))
        self.work = self.tmp / "work"
        self.pidfile = self.tmp / "rsyslogd.pid"
        self.proc = None
        self.stderr_path = self.tmp / "rsyslogd.stderr"
        self.syslog_path = Path(self.vars["__receiver_alert_syslog_socket"])
        self.syslog = None  # the alert helper's syslog socket, bound by start(), removed by stop()
        self._said = []
        for sub in ("etc/rsyslog.d", "etc/logrotate.d", "libexec", "work"):
            (self.tmp / sub).mkdir(parents=True, exist_ok=True)
        self.conf = Path(self.vars["__receiver_conf_file"])
        Path(self.vars["__receiver_lookup_file"]).write_text(render("senders.json.j2", self.vars))
        self.conf.write_text(render("receiver.conf.j2", self.vars))
        if resolve("{{ __receiver_alert_enabled }}", self.vars):
            script = Path(self.vars["__receiver_alert_script"])
            script.write_text(render("panic-alert.sh.j2", self.vars))
            script.chmod(0o755)
        if resolve("{{ __receiver_webhook_enabled }}", self.vars):
            script = Path(self.vars["__receiver_webhook_script"])
            script.write_text(render("alert-webhook.py.j2", self.vars))
            script.chmod(0o700)
        if resolve("{{ receiver_allow_unknown | bool }}", self.vars):
            script = Path(self.vars["__receiver_unknown_rotate_script"])
            script.write_text(render("rotate-unknown.sh.j2", self.vars))
            script.chmod(0o755)
        self.main_conf = Path(self.vars["__receiver_rsyslog_main_conf"])
        self.main_conf.write_text(f'global(workDirectory="{self.work}")\n$IncludeConfig {self.conf.parent}/*.conf\n')

    def check(self):
        return subprocess.run([RSYSLOGD, "-N1", "-f", str(self.main_conf)], capture_output=True, text=True,
                              timeout=30, check=False)

    def start(self, cpus=None):
        """Run rsyslogd in the foreground, pinned to ``cpus`` when given (the benchmarks)."""
        self.pidfile.unlink(missing_ok=True)
        if self.syslog is None:
            self.syslog_path.unlink(missing_ok=True)
            self.syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.syslog.bind(str(self.syslog_path))
            self.syslog.setblocking(False)
        with open(self.stderr_path, "ab") as stderr:
            self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(self.main_conf), "-i", str(self.pidfile)],
                                         stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=pin(cpus))
        listening = wait_for(lambda: self.listening() or self.proc.poll() is not None, timeout=10)
        assert listening and self.proc.poll() is None, f"rsyslogd did not start: {self.stderr()}"
        return self

    def said(self):
        """What the alert helper has logged to syslog so far, one string per message (header included)."""
        while self.syslog is not None:
            try:
                self._said.append(self.syslog.recv(65536).decode("utf-8", errors="replace"))
            except BlockingIOError:
                break
        return list(self._said)

    def stderr(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def listening(self):
        out = subprocess.run(["ss", "-H", "-l", "-u", "-n", f"sport = :{self.port}"], capture_output=True, text=True,
                             check=False)
        return bool(out.stdout.strip())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None and self.listening()

    def cpu_seconds(self):
        return cpu_seconds(self.proc.pid)

    def files(self):
        return sorted(self.log_dir.iterdir()) if self.log_dir.exists() else []

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.syslog is not None:
            self.said()
            self.syslog.close()
            self.syslog = None
            self.syslog_path.unlink(missing_ok=True)
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
