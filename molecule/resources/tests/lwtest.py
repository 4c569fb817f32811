"""Helpers for the scenarios' testinfra tests: the lab inventory, fast SSH, and timed waits on the receiver.

Testinfra's ansible backend costs a module run per call, seconds under TCG; timing checks ("within 5 s") go
through plain ssh with the lab's key instead, and everything is bounded in time.
"""

import json
import os
import re
import select
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = AnsibleRunner(INVENTORY)
EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
SCENARIO_DIR = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", "."))
PROJECT_DIR = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."))
SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "")
REBOOTED_MARK = EPHEMERAL / "lastwords-rebooted"
# A phase's figures for the end of `make test` (tests/tools/summary prints them): one JSON object a line.
PHASES_LOG = Path(os.environ.get("LASTWORDS_PHASES", PROJECT_DIR / ".lab" / "phases.jsonl"))


def hosts(group: str) -> list[str]:
    return RUNNER.get_hosts(group)


def host(name: str):
    """A testinfra host for ``name``, for tests whose order matters.

    testinfra's ``host`` fixture is parametrized per module, and pytest groups a module's tests by that parameter:
    a test that takes the fixture runs next to the module's first test that takes it, not where it is written.
    A phase whose tests act and then check (a rollback, then its checks) calls this instead.
    """
    return RUNNER.get_host(name)


def module(name: str, module_name: str, args: str | None = None) -> dict:
    """Run an Ansible module on ``name`` for real (not in check mode) and return its result.

    ``host.ansible`` needs testinfra's ansible backend; ``host()`` above gives the inventory's SSH backend.
    """
    return RUNNER.run_module(name, module_name, args, check=False)


def hostvars(name: str) -> dict:
    return RUNNER.get_variables(name)


def ssh_argv(name: str, command: str) -> list[str]:
    v = hostvars(name)
    return ["ssh", "-p", str(v["ansible_port"]), "-i", v["ansible_private_key_file"] if "ansible_private_key_file"
            in v else v.get("ansible_ssh_private_key_file", ""), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10", f"{v.get('ansible_user', 'root')}@{v['ansible_host']}", command]


def ssh(name: str, command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(ssh_argv(name, command), capture_output=True, text=True, timeout=timeout, check=False)


def canary(tag: str) -> str:
    return f"lastwords-canary-{tag}-{uuid.uuid4().hex[:12]}"


def _read_line(proc: subprocess.Popen, buf: bytearray, deadline: float) -> str:
    """The next line of ``proc``'s stdout (binary, unbuffered reads) or '' when the deadline passes first."""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return ""
        ready, _writable, _failed = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                return ""
            buf.extend(chunk)
    line, _newline, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line.decode(errors="replace")


def kmsg_reaches(sender: str, receiver: str, path: str, text: str, within: float = 5.0) -> float:
    """Write ``text`` to the sender's kernel log and return the seconds until it is in ``path`` on the receiver.

    A watcher (``tail -F | grep -m1``) runs on the receiver before the line is written, and the time is taken
    when the watcher prints the line, so it is the delivery time plus one SSH hop, never a polling interval.
    Bounded: the watcher gives up after ``within`` + 25 s.
    """
    watch = subprocess.Popen(
        ssh_argv(receiver, f"echo ready; timeout {within + 25:.0f} tail -F -n 0 {path} 2>/dev/null "
                           f"| grep -m1 -F '{text}'"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    buf = bytearray()
    try:
        assert _read_line(watch, buf, time.monotonic() + 60).strip() == "ready", "watcher did not start"
        time.sleep(1.0)  # let tail open the file
        res = ssh(sender, f"echo '<5>{text}' > /dev/kmsg")
        assert res.returncode == 0, res.stderr
        written = time.monotonic()
        line = _read_line(watch, buf, written + within + 25)
        elapsed = time.monotonic() - written
    finally:
        watch.kill()
        watch.wait()
    assert text in line, f"{text!r} never reached {receiver}:{path}"
    return elapsed


def playbook_env(plain: bool = False) -> dict[str, str]:
    """The environment of the tests' own ansible-playbook runs: no colour; timed by their phase, not recorded.

    ``plain``: Ansible's own linear strategy over SSH, as users run it, even when `make scenario` runs the scenario
    with Mitogen (ANSIBLE_STRATEGY=mitogen_linear, test-only). The phases that keep the default path proven pass it.
    """
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    env.pop("LASTWORDS_RECORD_PLAYBOOKS", None)
    if plain:
        env["ANSIBLE_STRATEGY"] = "linear"
    return env


def run(argv: list[str], timeout: float = 1800, plain: bool = False) -> subprocess.CompletedProcess:
    """Run a command (ansible-playbook as a rule) without colour; bounded in time."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=playbook_env(plain), check=False)


def playbook(path: Path, *args: str, timeout: float = 1800, plain: bool = False) -> subprocess.CompletedProcess:
    """Run ansible-playbook against the scenario's inventory; return the completed process."""
    return run(["ansible-playbook", "-i", INVENTORY, str(path), *args], timeout=timeout, plain=plain)


class Background:
    """ansible-playbook running while the tests go on (a phase on other hosts); ``wait()`` gives its result.

    Bounded: ``wait`` kills it when ``timeout`` seconds have passed since its start. Its output goes to a file in
    the ephemeral directory, so a long run cannot block on a full pipe. ``after``: start only once that run has
    ended (its own ``wait``, so within its bound), on the same host one after the other while the tests go on.
    """

    def __init__(self, name: str, path: Path, *args: str, timeout: float = 1800, plain: bool = False,
                 after: "Background | None" = None):
        self.name, self.timeout = name, timeout
        self.log = EPHEMERAL / f"background-{name}.log"
        self.proc: subprocess.Popen | None = None
        self.started = self.started_at = 0.0
        argv = ["ansible-playbook", "-i", INVENTORY, str(path), *args]
        env = playbook_env(plain)
        self._running = threading.Event()

        def start() -> None:
            try:
                if after is not None:
                    after.wait()
                self.started, self.started_at = time.monotonic(), time.time()
                with open(self.log, "w") as out:
                    self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL, env=env)
            finally:
                self._running.set()

        if after is None:
            start()
        else:
            threading.Thread(target=start, name=f"background-{name}", daemon=True).start()

    def wait(self) -> tuple[int, str, float]:
        """(exit code, output, seconds from its start to its end).

        Its end is the last write to its log (its recap and timer), not the time of this call: a run that ended
        while the tests beside it went on took its own time (the e2e toggle once read 1222 s for a 253 s run).
        """
        self._running.wait()  # bounded: the run it comes after is, and starting takes no time
        assert self.proc is not None, f"{self.name} did not start"
        try:
            self.proc.wait(timeout=max(1.0, self.timeout - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        took = min(time.monotonic() - self.started, self.log.stat().st_mtime - self.started_at)
        return self.proc.returncode, self.log.read_text(errors="replace"), max(0.0, took)


def assert_no_kdump_initrd_built_this_boot(name: str) -> None:
    """kdump-tools built no initrd in the host's current boot: the roles built it before the reboot (SSH waited
    minutes for a build in the boot before)."""
    res = ssh(name, "journalctl -b -u kdump-tools.service --no-pager -o cat")
    assert res.returncode == 0, res.stderr
    assert "Generating" not in res.stdout, res.stdout


def serial_log(name: str) -> Path:
    """The VM's serial console as the lab keeps it (.lab/molecule-<scenario>/<name>.serial.log)."""
    return PROJECT_DIR / ".lab" / f"molecule-{SCENARIO}" / f"{name}.serial.log"


_PANICS: list[str] = []


def panic_proven(host: str, what: str) -> None:
    """Count a real panic whose evidence a test has just checked (the end of `make test` prints the count)."""
    _PANICS.append(f"{host}: {what}")
    print(f"real panic proven: {host}: {what}")


@pytest.fixture(scope="module", autouse=True)
def phase_timer(request):
    """Each test module of a scenario is a phase: its wall time and the panics it proved go to the phases log."""
    del _PANICS[:]
    start, failed_before = time.monotonic(), request.session.testsfailed
    yield
    name = Path(str(request.node.path)).stem.removeprefix("test_")
    record_phase(name, time.monotonic() - start, panics=len(_PANICS), proven=list(_PANICS),
                 failed=request.session.testsfailed - failed_before)


def record_phase(phase: str, seconds: float, panics: int = 0, **figures: object) -> None:
    """Append a phase's wall time (and the real panics whose evidence it checked) to the phases log."""
    PHASES_LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(PHASES_LOG, "a") as out:
        out.write(json.dumps({"scenario": SCENARIO, "phase": phase, "seconds": round(seconds, 1),
                              "panics": panics, **figures}) + "\n")


def inventory_with(directory: Path, changes: dict[str, dict]) -> Path:
    """A copy of the scenario's inventory (with its group_vars and host_vars) where each host of ``changes`` has
    those variables: in its host_vars file when it has one (Molecule writes the scenario's host_vars there, and
    they beat the inventory file's), else in the inventory file."""
    copy = Path(directory) / "inventory"
    shutil.copytree(Path(INVENTORY).parent, copy)
    path = copy / Path(INVENTORY).name
    data = yaml.safe_load(path.read_text())
    for host, variables in changes.items():
        own = copy / "host_vars" / host
        if own.is_file():
            own.write_text(yaml.safe_dump({**(yaml.safe_load(own.read_text()) or {}), **variables}))
        else:
            data["all"]["hosts"][host].update(variables)  # the groups alias the same mapping
    path.write_text(yaml.safe_dump(data))
    return path


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host: {'deb12': {'ok': 10, 'changed': 0, ...}}."""
    result = {}
    for line in output.split("PLAY RECAP")[-1].splitlines():
        m = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
        if m:
            result[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return result


def slowest(output: str, count: int = 5) -> str:
    """The first ``count`` rows of the lastwords_timer callback's slowest-tasks list at the end of ``output``."""
    _head, found, tail = output.rpartition("lastwords_timer:")
    if not found:
        return "(no task timer in the output)"
    lines = tail.splitlines()
    return "\n".join(["lastwords_timer:" + lines[0]] + [line for line in lines[1:count + 1] if line.strip()])


def mount_read_only(name: str, path: str = "/mnt/lastwords-ro") -> None:
    """A read-only file system on ``name`` for kdump's read-only dump directory case (test set-up only)."""
    res = ssh(name, f"mkdir -p {path} && (mountpoint -q {path} || mount -t tmpfs -o ro tmpfs {path})")
    assert res.returncode == 0, res.stderr


def assert_bad_input_refused(bad_input_playbook: Path) -> None:
    """Run a scenario's bad_input.yml: every case must be refused, and no task may have changed anything."""
    res = playbook(bad_input_playbook)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    for name, counters in recap(out).items():
        assert counters.get("changed", 0) == 0, (name, counters)
    assert "all bad inputs were refused" in out
