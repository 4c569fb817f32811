"""e2e scenario: site.yml arms the lab, readiness proves it and names exactly what breaks, then drill and soak.

The tests run in file order and each one leaves the lab armed again (a `finally` restores what it broke), so
that a failure names the check that failed rather than every check after it.
"""

import json
import time

import lwtest

HOSTS = lwtest.hosts("panic_capture")
RECEIVER = lwtest.hosts("receivers")[0]
PLAYBOOKS = lwtest.PROJECT_DIR / "playbooks"
REPORT = lwtest.EPHEMERAL / "report" / "readiness.json"


def readiness(*args: str, inventory: str | None = None) -> tuple[int, str, dict, float]:
    """Run playbooks/readiness.yml; return its exit code, output, the JSON report and the wall time."""
    REPORT.unlink(missing_ok=True)
    start = time.monotonic()
    if inventory:
        res = lwtest.run(["ansible-playbook", "-i", inventory, str(PLAYBOOKS / "readiness.yml"), *args])
    else:
        res = lwtest.playbook(PLAYBOOKS / "readiness.yml", *args)
    took = time.monotonic() - start
    out = res.stdout + res.stderr
    assert REPORT.exists(), out[-3000:]
    report = json.loads(REPORT.read_text())
    print("\n".join(report["text"]))
    return res.returncode, out, report, took


def rows(report: dict) -> dict[str, dict]:
    return {row["host"]: row for row in report["rows"]}


def test_check_mode_on_the_fresh_lab_reported_not_armed():
    # prepare ran site.yml --check before converge and compared checksums of /etc and /boot (it fails otherwise)
    log = (lwtest.EPHEMERAL / "site-check.log").read_text()
    assert "rc=0" in log
    assert "0 of 2 hosts ARMED" in log, log[-3000:]
    for host in HOSTS:
        assert f"{host}: kdump is not installed" in log or f"{host}: no crashkernel reserved" in log, log[-3000:]


def test_bad_input_is_refused_before_any_change():
    # the netconsole and kdump scenarios' bad cases, on the armed lab: each is refused, naming the variable,
    # and nothing changes (their recap must say changed=0)
    lwtest.mount_read_only(HOSTS[0])
    for scenario in ("netconsole", "kdump"):
        lwtest.assert_bad_input_refused(lwtest.PROJECT_DIR / "molecule" / scenario / "bad_input.yml")


def test_readiness_all_armed_with_the_canary_delivered():
    rc, out, report, took = readiness()
    assert rc == 0, out[-3000:]
    assert report["all_armed"] is True and sorted(report["armed"]) == sorted(HOSTS)
    for row in report["rows"]:
        assert row["status"] == "ARMED" and row["kdump"] == "yes" and row["crashkernel"] == "256M", row
        assert row["delivered"] is True and row["canary"].startswith("delivered"), row
    assert (lwtest.EPHEMERAL / "report" / "readiness.md").read_text().count("| ARMED ") == len(HOSTS)
    assert "lastwords readiness: 2 of 2 hosts ARMED" in out  # the table is in the run's own output
    print(f"readiness wall time on the lab: {took:.1f} s")


def test_readiness_in_check_mode_gives_the_same_answer():
    rc, out, report, _took = readiness("--check")
    assert rc == 0, out[-3000:]
    assert report["all_armed"] is True
    assert all(counters.get("changed", 0) == 0 for counters in lwtest.recap(out).values()), lwtest.recap(out)


def test_kdump_unloaded_on_one_host_is_named_and_the_other_stays_armed():
    broken, other = HOSTS[-1], HOSTS[0]
    res = lwtest.ssh(broken, "kdump-config unload && cat /sys/kernel/kexec_crash_loaded")
    assert res.returncode == 0 and res.stdout.strip().endswith("0"), res.stdout + res.stderr
    try:
        rc, out, report, _took = readiness()
        assert rc != 0, "readiness must fail when a host is not armed"
        assert report["not_armed"] == [broken]
        assert "crash kernel not loaded (/sys/kernel/kexec_crash_loaded is 0)" in rows(report)[broken]["reasons"]
        assert rows(report)[broken]["kdump"] == "no"
        assert rows(report)[other]["status"] == "ARMED"
        assert f"NOT ARMED: {broken}." in out
    finally:
        res = lwtest.ssh(broken, "kdump-config load >/dev/null && cat /sys/kernel/kexec_crash_loaded", timeout=300)
        assert res.stdout.strip() == "1", res.stdout + res.stderr


def test_netconsole_target_disabled_on_one_host_is_named():
    broken, other = HOSTS[0], HOSTS[-1]
    targets = "/sys/kernel/config/netconsole/*/enabled"
    res = lwtest.ssh(broken, f"for f in {targets}; do echo 0 > $f; done; cat {targets}")
    assert res.returncode == 0 and set(res.stdout.split()) == {"0"}, res.stdout + res.stderr
    try:
        rc, _out, report, _took = readiness()
        assert rc != 0
        assert report["not_armed"] == [broken]
        reasons = rows(report)[broken]["reasons"]
        assert any(r.startswith("no enabled netconsole target") for r in reasons), reasons
        assert f"canary not delivered to {RECEIVER}" in reasons
        assert rows(report)[other]["status"] == "ARMED"
        assert report["receiver_note"] is None  # the other host delivered: not the receiver's fault
    finally:
        res = lwtest.ssh(broken, f"for f in {targets}; do echo 1 > $f; done; cat {targets}")
        assert set(res.stdout.split()) == {"1"}, res.stdout + res.stderr


def test_receiver_down_blames_the_receiver():
    res = lwtest.ssh(RECEIVER, "systemctl stop syslog.socket rsyslog.service; systemctl is-active rsyslog.service")
    assert res.stdout.strip() == "inactive", res.stdout + res.stderr
    try:
        rc, _out, report, _took = readiness()
        assert rc != 0
        assert sorted(report["not_armed"]) == sorted(HOSTS)
        for row in report["rows"]:
            assert row["canary"] == "NOT delivered", row
        assert "the receiver is the likely cause" in report["receiver_note"]
    finally:
        res = lwtest.ssh(RECEIVER, "systemctl start rsyslog.service; systemctl is-active rsyslog.service")
        assert res.stdout.strip() == "active", res.stdout + res.stderr


def test_unreachable_host_is_a_row_and_the_others_are_reported(tmp_path):
    gone, other = HOSTS[-1], HOSTS[0]
    inventory = lwtest.inventory_with(tmp_path, gone, ansible_port=9)  # nothing listens on 127.0.0.1:9
    rc, _out, report, _took = readiness(inventory=str(inventory))
    assert rc != 0
    assert rows(report)[gone]["status"] == "UNREACHABLE"
    assert rows(report)[other]["status"] == "ARMED"


# ---------------------------------------------------------------------------------- drill, collect, soak

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


def test_crash_drill_on_both_hosts_captures_trace_and_vmcore():
    before = boot_ids()
    start = time.monotonic()
    res = lwtest.playbook(PLAYBOOKS / "crash_drill.yml", "-e", "lastwords_drill_confirm=" + ",".join(HOSTS),
                          "-e", "lastwords_drill_timeout=1200")
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
        assert after[host] != before[host]
        ram = int(lwtest.ssh(host, "awk '/MemTotal/ {print $2 * 1024}' /proc/meminfo").stdout)
        print(f"drill {host} ({row['kernel_release']}): trigger->trace on receiver {row['trace_seconds']} s, "
              f"trigger->back {row['return_seconds']} s, dump {row['dump_size_bytes'] / 2**20:.1f} MiB "
              f"= {100 * row['dump_size_bytes'] / ram:.1f}% of RAM")
    print(f"crash drill wall time, both hosts: {took:.0f} s")


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
    stamps = {p: p.stat().st_mtime for p in tmp_path.rglob("*") if p.is_file()}
    second = lwtest.playbook(PLAYBOOKS / "collect.yml", *args)
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    assert {p: p.stat().st_mtime for p in tmp_path.rglob("*") if p.is_file()} == stamps  # nothing fetched again


def test_soak_short_window_passes_with_throughput():
    before = boot_ids()
    res = lwtest.playbook(PLAYBOOKS / "soak.yml", "-e", "lastwords_soak_duration=20", "-e", "lastwords_soak_rate=50M")
    out = res.stdout + res.stderr
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
