"""netconsole phase: each host's kernel log reaches the receiver's file for that host within 5 s, in the agreed
format, seen by netconsole_log; the receiver never truncates; bad input is refused; --check changes nothing.
The netconsole scenario runs it again after its reboot (the mark), e2e once on the armed lab. A scenario's
last test runs ipv6_receiver_across_a_reboot: the receiver and the modules-load host move to their fd77:: lab
addresses in the inventory, converge, deliver, reboot and deliver again (the boot-time apply picking the IPv6
source), and a second converge changes nothing."""

import json
import time

import lwtest
import pytest

from lwlab.vm import lab_ip6  # the lab's own fd77::N for 10.77.0.N (make puts tests/lab on PYTHONPATH)

SENDERS = lwtest.hosts("panic_capture")
RECEIVER = lwtest.hosts("receivers")[0]
LOG_DIR = "/var/log/netconsole"
BOOT_IDS = lwtest.EPHEMERAL / "lastwords-boot-ids.json"
SCENARIO = lwtest.PROJECT_DIR / "molecule" / "netconsole"
AFTER_REBOOT = lwtest.REBOOTED_MARK.exists()
testinfra_hosts = [RECEIVER]


def boot_id(name):
    return lwtest.ssh(name, "cat /proc/sys/kernel/random/boot_id").stdout.strip()


@pytest.mark.parametrize("sender", SENDERS)
def test_kmsg_line_reaches_the_receiver_within_5s(sender):
    text = lwtest.canary(sender)
    elapsed = lwtest.kmsg_reaches(sender, RECEIVER, f"{LOG_DIR}/{sender}.log", text, within=5.0)
    print(f"{sender}: kmsg -> {RECEIVER}:{LOG_DIR}/{sender}.log in {elapsed:.2f}s "
          f"({'after' if AFTER_REBOOT else 'before'} reboot)")
    assert elapsed < 5.0


def test_boot_ids_show_whether_the_hosts_rebooted():
    ids = {s: boot_id(s) for s in SENDERS}
    if not AFTER_REBOOT:
        BOOT_IDS.write_text(json.dumps(ids))
    else:
        before = json.loads(BOOT_IDS.read_text())
        assert all(ids[s] != before[s] for s in SENDERS), (before, ids)


@pytest.mark.parametrize("sender", [s for s in SENDERS if lwtest.hostvars(s).get("netconsole_persist") == "cmdline"])
def test_cmdline_mode_starts_netconsole_from_the_initramfs(sender):
    """The image of the running kernel has the module, and it started before the root file system was mounted."""
    if "netconsole.netconsole=" not in lwtest.ssh(sender, "cat /proc/cmdline").stdout:
        pytest.skip("the parameter takes effect at the next boot")
    res = lwtest.ssh(sender, "lsinitramfs /boot/initrd.img-$(uname -r) | grep -c '/netconsole\\.ko'", timeout=300)
    assert res.stdout.strip() == "1", res.stdout + res.stderr
    log = lwtest.ssh(sender, "journalctl -k -b -o cat --no-pager", timeout=300).stdout.splitlines()
    started = [i for i, line in enumerate(log) if "netconsole: network logging started" in line]
    root = [i for i, line in enumerate(log) if "EXT4-fs (vda1): mounted filesystem" in line]
    assert started and root and started[0] < root[0], (started[:1], root[:1])


def test_lines_are_in_the_agreed_format(host):
    text = lwtest.canary("format")
    lwtest.kmsg_reaches(SENDERS[0], RECEIVER, f"{LOG_DIR}/{SENDERS[0]}.log", text)
    line = host.check_output(f"grep -F '{text}' {LOG_DIR}/{SENDERS[0]}.log")
    # <RFC 3339 receive time> <raw netconsole message>, e.g. 2026-...+00:00 [  12.345678] text
    stamp, rest = line.split(" ", 1)
    assert stamp[:4].isdigit() and "T" in stamp
    assert rest.rstrip().endswith(text)
    f = host.file(f"{LOG_DIR}/{SENDERS[0]}.log")
    assert f.mode == 0o640


def test_netconsole_log_module_sees_the_canary(host):
    text = lwtest.canary("module")
    lwtest.kmsg_reaches(SENDERS[0], RECEIVER, f"{LOG_DIR}/{SENDERS[0]}.log", text)
    res = host.ansible("lastwords.panic.netconsole_log", f"canary={text}", check=False)
    assert res["hosts"][SENDERS[0]]["canary_found"] is True, res


# A lab address no inventory host has: a stranger on the lab network, or a sender address forged by one
STRANGER = "10.77.0.199"
# one shell word: python3 -c '...' (the code has no single quote), sending 50 panic lines from that address
FORGE = ("python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
         "s.bind((\"{source}\", 0)); [s.sendto(b\"[ 4242.000000] Kernel panic - not syncing: {text} %d\\n\" % n, "
         "(\"{receiver}\", 6666)) for n in range(50)]'")


def udp_datagrams_received(host):
    """The receiver's kernel count of UDP datagrams delivered to a socket (/proc/net/snmp, Udp: InDatagrams)."""
    header, values = [line.split() for line in host.file("/proc/net/snmp").content_string.splitlines()
                      if line.startswith("Udp:")][:2]
    return int(values[header.index("InDatagrams")])


@pytest.mark.skipif(AFTER_REBOOT, reason="once per scenario")
def test_the_default_receiver_stores_nothing_from_an_address_outside_the_inventory(host):
    """The example inventory's receiver (no receiver_* set) drops a sender it does not know, even one that sends
    panic lines; the known sender's next line still arrives, and no file appears."""
    sender = SENDERS[0]
    receiver_ip = lwtest.hostvars(RECEIVER)["lastwords_ip"]
    before = host.check_output(f"ls -A {LOG_DIR}").split()
    received_before = udp_datagrams_received(host)
    text = lwtest.canary("stranger")
    res = lwtest.ssh(sender, f"ip -4 addr add {STRANGER}/32 dev eth1 && " + FORGE.format(
        source=STRANGER, text=text, receiver=receiver_ip) + f"; status=$?; ip -4 addr del {STRANGER}/32 dev eth1; "
        "exit $status")
    assert res.returncode == 0, res.stdout + res.stderr
    after = lwtest.canary("after-stranger")
    lwtest.kmsg_reaches(sender, RECEIVER, f"{LOG_DIR}/{sender}.log", after)
    time.sleep(1.5)  # the receiver writes within 1 s
    assert udp_datagrams_received(host) - received_before >= 50  # they reached the receiver's kernel
    assert host.check_output(f"ls -A {LOG_DIR}").split() == before
    assert host.run(f"grep -rlF '{text}' {LOG_DIR}").stdout.strip() == ""
    print(f"{RECEIVER}: 50 panic lines from {STRANGER} (not in the inventory) stored nowhere; files {before}")


@pytest.mark.skipif(AFTER_REBOOT, reason="once per scenario")
def test_receiver_never_truncates_on_restart_or_rotation(host):
    path = f"{LOG_DIR}/{SENDERS[0]}.log"
    first = host.check_output(f"head -n1 {path}")
    lwtest.ssh(RECEIVER, "systemctl restart rsyslog")
    after_restart = lwtest.canary("restart")
    lwtest.kmsg_reaches(SENDERS[0], RECEIVER, path, after_restart)
    assert host.check_output(f"head -n1 {path}") == first
    res = lwtest.ssh(RECEIVER, "logrotate -f /etc/logrotate.d/lastwords-receiver")
    assert res.returncode == 0, res.stderr
    after_rotate = lwtest.canary("rotate")
    lwtest.kmsg_reaches(SENDERS[0], RECEIVER, path, after_rotate)
    rotated = host.run(f"zcat -f {path}.1* ").stdout
    assert first in rotated and after_restart in rotated
    assert after_rotate in host.file(path).content_string


@pytest.mark.skipif(AFTER_REBOOT, reason="once per scenario")
def test_bad_input_fails_before_any_change():
    lwtest.assert_bad_input_refused(SCENARIO / "bad_input.yml")


@pytest.mark.skipif(AFTER_REBOOT, reason="once per scenario")
def test_check_mode_on_the_converged_lab_changes_nothing():
    res = lwtest.playbook(SCENARIO / "converge.yml", "--check")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    counters = lwtest.recap(out)
    assert set(counters) >= {RECEIVER, *SENDERS}
    assert all(c.get("changed", 0) == 0 for c in counters.values()), counters


def targets(name: str) -> list[dict[str, str]]:
    """The configfs targets of a host: remote_ip, local_ip, dev_name and enabled of each."""
    res = lwtest.ssh(name, "cd /sys/kernel/config/netconsole && for t in */; do "
                           "echo \"$(cat $t/remote_ip) $(cat $t/local_ip) $(cat $t/dev_name) $(cat $t/enabled)\"; done")
    assert res.returncode == 0, res.stderr
    keys = ("remote_ip", "local_ip", "dev_name", "enabled")
    return [dict(zip(keys, line.split(), strict=True)) for line in res.stdout.splitlines() if line.strip()]


def ipv6_receiver_across_a_reboot(tmp_path):
    """A scenario's last test (the lab stays on IPv6): the netconsole scenario after its reboot, e2e at its end."""
    sender = next(s for s in SENDERS if lwtest.hostvars(s).get("netconsole_persist", "modules-load") == "modules-load")
    receiver_ip, sender_ip = (lab_ip6(lwtest.hostvars(h)["lastwords_ip"]) for h in (RECEIVER, sender))
    inventory = lwtest.inventory_with(tmp_path, {RECEIVER: {"lastwords_ip": receiver_ip},
                                                 sender: {"lastwords_ip": sender_ip}})
    converge = ["ansible-playbook", "-i", str(inventory), str(SCENARIO / "converge.yml"), "--limit",
                f"{RECEIVER},{sender}"]
    res = lwtest.run(converge)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert all(lwtest.recap(out)[h].get("changed", 0) > 0 for h in (RECEIVER, sender)), lwtest.recap(out)
    want = [{"remote_ip": receiver_ip, "local_ip": sender_ip, "dev_name": "eth1", "enabled": "1"}]
    assert targets(sender) == want
    conf = json.loads(lwtest.ssh(sender, "cat /etc/lastwords/netconsole.json").stdout)
    assert [t["remote_ip"] for t in conf["targets"]] == [receiver_ip], conf
    path = f"{LOG_DIR}/{sender}.log"
    elapsed = lwtest.kmsg_reaches(sender, RECEIVER, path, lwtest.canary("ipv6"), within=5.0)
    print(f"{sender}: kmsg -> [{receiver_ip}]:{path} in {elapsed:.2f}s")
    assert elapsed < 5.0
    # after a reboot the boot-time apply sets the target up again from the file, with the IPv6 source
    before = boot_id(sender)
    res = lwtest.run(["ansible", "-i", str(inventory), sender, "-m", "ansible.builtin.reboot",
                      "-a", "reboot_timeout=900"], timeout=1000)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    assert boot_id(sender) != before
    deadline = time.monotonic() + 120  # the unit runs after network-online.target, SSH may answer first
    while targets(sender) != want and time.monotonic() < deadline:
        time.sleep(2)
    assert targets(sender) == want
    elapsed = lwtest.kmsg_reaches(sender, RECEIVER, path, lwtest.canary("ipv6-rebooted"), within=5.0)
    print(f"{sender} after its reboot: kmsg -> [{receiver_ip}]:{path} in {elapsed:.2f}s")
    assert elapsed < 5.0
    res = lwtest.run(converge)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert all(c.get("changed", 0) == 0 for c in lwtest.recap(out).values()), lwtest.recap(out)
