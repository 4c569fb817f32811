"""Drill phase (e2e): the crash drill refuses without the right confirmation, then panics every capture host at
once; the trace reaches the receiver, and each host's new vmcore reads back with makedumpfile; the hosts are armed
again; collect fetches each dump once; a short soak passes with its throughput, and a soak whose server port is
taken fails naming the holder and leaves no load running. The drill itself runs over plain SSH with Ansible's own
strategy (the panic, the lost connection and the wait for the host are the default path users have); the
refusals and the rest take the scenario's strategy. Around the drill the receiver has a webhook
(receiver_alert_webhook) to an HTTP listener on its own 127.0.0.1: each drilled host's panic reaches it as JSON,
then the webhook is taken away again.
"""

import base64
import json
import time

import lwtest
from phase_kdump import check_newest_dump
from phase_readiness import readiness

HOSTS = lwtest.hosts("panic_capture")
RECEIVER = lwtest.hosts("receivers")[0]
PLAYBOOKS = lwtest.PROJECT_DIR / "playbooks"
_TRACES: dict[str, str] = {}  # host -> what the drill row proved, completed by the vmcore read-back
_KEYS: dict[str, str] = {}  # host -> the drill panic's signature key
HOOK_PORT = 18099
HOOK_DIR = "/run/lastwords-test-hook"  # on the receiver: the listener and one file per POST it got
HOOK_LISTENER = """\
import http.server, pathlib, sys
out = pathlib.Path(sys.argv[1])
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        (out / ("%03d.json" % len(list(out.glob("*.json"))))).write_bytes(body)
        self.send_response(204)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), Hook).serve_forever()
"""


def report(name: str) -> dict:
    path = lwtest.EPHEMERAL / "report" / f"{name}.json"
    assert path.exists(), f"{path} was not written"
    return json.loads(path.read_text())


def boot_ids() -> dict[str, str]:
    return {h: lwtest.ssh(h, "cat /proc/sys/kernel/random/boot_id").stdout.strip() for h in HOSTS}


def test_drill_refuses_without_the_right_confirmation():
    before = boot_ids()
    for args in ((), ("-e", "lastwords_drill_confirm=" + HOSTS[0]), ("-e", "lastwords_drill_confirm=nas")):
        res = lwtest.playbook(PLAYBOOKS / "crash_drill.yml", *args)
        out = res.stdout + res.stderr
        assert res.returncode != 0, out[-2000:]
        assert "Refusing the crash drill, nothing was changed" in out, out[-2000:]
        assert all(c.get("changed", 0) == 0 for c in lwtest.recap(out).values()), lwtest.recap(out)
    assert boot_ids() == before  # nobody was crashed


def receiver_webhook(url: str | None) -> dict[str, int]:
    """Converge the receiver with receiver_alert_webhook at ``url`` (None: no webhook); its recap."""
    hook = {"url": url, "retries": 3, "timeout": 5} if url else None
    res = lwtest.playbook(PLAYBOOKS / "site.yml", "-l", RECEIVER, "-e", json.dumps({"receiver_alert_webhook": hook}))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    return lwtest.recap(out)[RECEIVER]


def test_the_receiver_gets_a_webhook_to_a_listener_on_its_loopback():
    script = base64.b64encode(HOOK_LISTENER.encode()).decode()
    start = (f"rm -rf {HOOK_DIR} && mkdir -p {HOOK_DIR} && echo {script} | base64 -d > {HOOK_DIR}/hook.py && "
             f"(setsid python3 {HOOK_DIR}/hook.py {HOOK_DIR} {HOOK_PORT} </dev/null >{HOOK_DIR}/listener.log 2>&1 & "
             f"echo $! > {HOOK_DIR}/pid)")
    assert lwtest.ssh(RECEIVER, start).returncode == 0
    deadline = time.monotonic() + 20
    while "LISTEN" not in lwtest.ssh(RECEIVER, f"ss -Hltn 'sport = :{HOOK_PORT}' | sed 's/^/LISTEN /'").stdout:
        assert time.monotonic() < deadline, lwtest.ssh(RECEIVER, f"cat {HOOK_DIR}/listener.log").stdout
        time.sleep(1)
    assert receiver_webhook(f"http://127.0.0.1:{HOOK_PORT}/hook").get("changed", 0) > 0
    mode = lwtest.ssh(RECEIVER, "stat -c %a /usr/local/libexec/lastwords-alert-webhook").stdout.strip()
    assert mode == "700"


def test_crash_drill_on_both_hosts_captures_trace_and_vmcore():
    before = boot_ids()
    start = time.monotonic()
    res = lwtest.playbook(PLAYBOOKS / "crash_drill.yml", "-e", "lastwords_drill_confirm=" + ",".join(HOSTS),
                          "-e", "lastwords_drill_timeout=1200", plain=True)
    took = time.monotonic() - start
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert f"{len(HOSTS)} of {len(HOSTS)} hosts PASSED" in out  # the table is in the run's output
    drill = report("crash_drill")
    after = boot_ids()
    for row in drill["rows"]:
        host = row["host"]
        assert row["verdict"] == "PASS", row
        assert row["trace_reason"].startswith("Kernel panic - not syncing: sysrq triggered crash"), row
        assert any("sysrq" in frame for frame in row["trace_frames"]), row["trace_frames"]
        assert row["dmesg_reason"].startswith("Kernel panic - not syncing: sysrq triggered crash"), row
        # the signature, read from the receiver's trace and from the dump's dmesg, names the same panic
        for seen in (row["trace_signature"], row["dmesg_signature"]):
            assert (seen["kind"], seen["function"], seen["module"]) == ("sysrq", "sysrq_handle_crash", None), seen
        assert row["trace_signature"]["key"] == row["dmesg_signature"]["key"], row
        _KEYS[host] = row["trace_signature"]["key"]
        assert after[host] != before[host]
        ram = int(lwtest.ssh(host, "awk '/MemTotal/ {print $2 * 1024}' /proc/meminfo").stdout)
        _TRACES[host] = (f"drill on {row['kernel_release']}: trace at {RECEIVER} {row['trace_seconds']} s after the "
                         "trigger")
        print(f"drill {host} ({row['kernel_release']}): trigger->trace on receiver {row['trace_seconds']} s, "
              f"trigger->back {row['return_seconds']} s, dump {row['dump_size_bytes'] / 2**20:.1f} MiB "
              f"= {100 * row['dump_size_bytes'] / ram:.1f}% of RAM")
    print(f"crash drill wall time, both hosts: {took:.0f} s")
    print(lwtest.slowest(out))


def test_the_webhook_told_of_each_drilled_panic_then_goes_away():
    """One JSON POST per drilled host (alerts run receiver_alert_delay after the panic line, long before the
    drilled hosts are back), with the panic line and the host's last lines; then the receiver without it."""
    bodies: list[dict] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # one JSON object per file, on one line (json.dumps escapes newlines)
        out = lwtest.ssh(RECEIVER, f"for f in {HOOK_DIR}/*.json; do test -e \"$f\" && cat \"$f\" && echo; done")
        bodies = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        if len(bodies) >= len(HOSTS):
            break
        time.sleep(3)
    journal = lwtest.ssh(RECEIVER, "journalctl -t lastwords-alert --no-pager | tail -20").stdout
    try:
        assert sorted(b["host"] for b in bodies) == sorted(HOSTS), (bodies, journal)
        for body in bodies:
            assert body["panic"].startswith("Kernel panic - not syncing: sysrq triggered crash"), body["panic"]
            assert body["title"] == f"kernel panic on {body['host']}"
            assert body["file"].endswith(f"/{body['host']}.log")
            assert any("sysrq" in line for line in body["lines"]), body["lines"][-20:]
    finally:
        lwtest.ssh(RECEIVER, f"kill $(cat {HOOK_DIR}/pid) 2>/dev/null; rm -rf {HOOK_DIR}")
        assert receiver_webhook(None).get("changed", 0) > 0
    assert lwtest.ssh(RECEIVER, "test -e /usr/local/libexec/lastwords-alert-webhook").returncode == 1


def test_each_drill_vmcore_reads_back_with_makedumpfile():
    for name in HOSTS:  # lwtest.host, not the fixture: this must run right after the drill
        assert name in _TRACES, f"the drill row of {name} was not checked"
        lwtest.panic_proven(name, f"{_TRACES[name]}; {check_newest_dump(lwtest.host(name))}")


def test_hosts_are_armed_again_after_the_drill():
    rc, out, rep, _took = readiness()
    assert rc == 0 and rep["all_armed"], out[-3000:]


def test_collect_fetches_each_dump_once(tmp_path):
    args = ("-e", f"lastwords_collect_dir={tmp_path}")
    first = lwtest.playbook(PLAYBOOKS / "collect.yml", *args)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    for host in HOSTS:
        summaries = list((tmp_path / host).glob("*/summary.json"))
        assert len(summaries) == 1, summaries
        summary = json.loads(summaries[0].read_text())
        assert "sysrq triggered crash" in json.dumps(summary), summary
        assert list(summaries[0].parent.glob("dmesg*")), list(summaries[0].parent.iterdir())
    # every panic known, grouped by signature: the drill's, with its vmcore and the receiver's trace as one panic
    groups = {group["key"]: group for group in report("collect")["signatures"]}
    for host, key in _KEYS.items():
        assert key in groups, (key, sorted(groups))
        assert host in groups[key]["hosts"], groups[key]
        drilled = [event for event in groups[key]["events"] if event["host"] == host
                   and event["evidence"] == ["vmcore", "trace"]]
        assert drilled, groups[key]["events"]
        print(f"collect {host}: {key}: {groups[key]['count']} panic(s), evidence {groups[key]['evidence']}")
    stamps = {p: p.stat().st_mtime for p in tmp_path.rglob("*") if p.is_file()}
    second = lwtest.playbook(PLAYBOOKS / "collect.yml", *args)
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    assert {p: p.stat().st_mtime for p in tmp_path.rglob("*") if p.is_file()} == stamps  # nothing fetched again


def test_soak_short_window_passes_with_throughput():
    before = boot_ids()
    res = lwtest.playbook(PLAYBOOKS / "soak.yml", "-e", "lastwords_soak_duration=20", "-e", "lastwords_soak_rate=50M")
    out = res.stdout + res.stderr
    print(lwtest.slowest(res.stdout))
    assert res.returncode == 0, out[-4000:]
    soak = report("soak")
    for row in soak["rows"]:
        assert row["verdict"] == "PASS", row
        assert row["figures"]["bits_per_second"] > 1e6, row
        print(f"soak {row['host']}: {row['throughput']} for 20 s at 50M")
    assert boot_ids() == before


def test_soak_whose_server_cannot_start_fails_and_stops_the_load():
    port = 5201
    blocker = ("systemd-run --unit=lastwords-test-blocker python3 -c \"import socket,time; s=socket.socket(); "
               f"s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', {port})); "
               "s.listen(); time.sleep(600)\" && sleep 2 && ss -Hltn sport = :" + str(port))
    res = lwtest.ssh(RECEIVER, blocker)
    assert str(port) in res.stdout, res.stdout + res.stderr
    try:
        res = lwtest.playbook(PLAYBOOKS / "soak.yml", "-e", "lastwords_soak_duration=10")
        out = res.stdout + res.stderr
        assert res.returncode != 0, out[-3000:]
        assert str(port) in out and "python3" in out, out[-3000:]  # names the port and who holds it
        for host in HOSTS:
            assert lwtest.ssh(host, "pgrep -x iperf3").returncode == 1, f"iperf3 still running on {host}"
        assert lwtest.ssh(RECEIVER, "pgrep -x iperf3").returncode == 1, "an iperf3 server was left running"
    finally:
        lwtest.ssh(RECEIVER, "systemctl stop lastwords-test-blocker")
