"""sdboot scenario: the kit on a Debian 13 host booted by systemd-boot on UEFI, its address on a bridge.

In file order: what the host is (systemd-boot, udev names, vmbr0), armed through /etc/kernel/cmdline and the loader
entries, netconsole bound to the bridge, readiness, the crash drill (the shared phases), a rollback through
bootctl's one-time entry and forward again, and a trial kernel that panics at boot falling back by itself.
"""

import time

import lwtest
import phase_drill
import phase_readiness
from phase_rollback import start_trial, switch

HOST = lwtest.hosts("panic_capture")[0]
RECEIVER = lwtest.hosts("receivers")[0]
BRIDGE = "vmbr0"
OLD, NEW = "6.12.107+deb13-amd64", "6.12.118+deb13-amd64"
ENTRIES = "/boot/efi/loader/entries"
EFIVAR = ("python3 -c \"import sys; print(open(sys.argv[1], 'rb').read()[4:].decode('utf-16-le').rstrip(chr(0)))\" "
          "/sys/firmware/efi/efivars/{}-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f 2>/dev/null || true")


def sh(command):
    res = lwtest.ssh(HOST, command)
    assert res.returncode == 0, f"{command}: {res.stderr}"
    return res.stdout.strip()


def efivar(name):
    return sh(EFIVAR.format(name)) or None


def entry_of(release):
    return sh(f"grep -l '^version *{release}$' {ENTRIES}/*.conf | xargs -n1 basename")


def test_booted_by_systemd_boot_on_uefi():
    assert efivar("LoaderInfo").startswith("systemd-boot "), efivar("LoaderInfo")
    assert sh("bootctl is-installed") == "yes"
    assert sh("test -e /boot/grub/grub.cfg && echo grub || echo none") == "none"
    # one entry per installed kernel, written by kernel-install
    assert sorted(sh(f"sed -n 's/^version *//p' {ENTRIES}/*.conf").split()) == [OLD, NEW]


def test_udev_names_and_the_address_on_the_bridge():
    links = sh("ip -o link show")
    assert " eth0:" not in links and " eth1:" not in links, links
    port = sh("ip -o link show master " + BRIDGE)
    assert " enp0s4:" in port, port
    assert "10.77.0.23/24" in sh(f"ip -o -4 addr show dev {BRIDGE}")
    assert sh("ip -o -4 addr show dev enp0s4") == ""  # the port holds no address


def test_crashkernel_in_kernel_cmdline_every_entry_and_the_running_kernel():
    assert "crashkernel=" in sh("cat /etc/kernel/cmdline")
    for line in sh(f"grep -h '^options' {ENTRIES}/*.conf").splitlines():
        assert "crashkernel=" in line, line
    assert "crashkernel=" in sh("cat /proc/cmdline")
    facts = lwtest.module(HOST, "lastwords.panic.capture_facts")["capture"]
    assert facts["armed"] is True, facts["problems"]


def test_netconsole_sends_from_the_bridge():
    devices = sh("cat /sys/kernel/config/netconsole/*/dev_name").split()
    assert devices and set(devices) == {BRIDGE}, devices
    elapsed = lwtest.kmsg_reaches(HOST, RECEIVER, f"/var/log/netconsole/{HOST}.log", lwtest.canary("sdboot"),
                                  within=5.0)
    print(f"{HOST}: kmsg from {BRIDGE} -> receiver in {elapsed:.2f}s")


def test_netconsole_on_the_bridge_port_is_refused_naming_the_bridge():
    lwtest.assert_bad_input_refused(lwtest.SCENARIO_DIR / "bad_input.yml")


# the shared phases, called here so that they run in this order (pytest collects a module's tests as defined)
def test_readiness_armed_with_the_canary_delivered():
    phase_readiness.test_readiness_all_armed_with_the_canary_delivered()


def test_crash_drill_trace_and_vmcore():
    phase_drill.test_crash_drill_on_both_hosts_captures_trace_and_vmcore()
    phase_drill.test_each_drill_vmcore_reads_back_with_makedumpfile()
    phase_drill.test_hosts_are_armed_again_after_the_drill()


def test_pstore_keeps_a_panic_without_kdump(tmp_path):
    """kdump unloaded, a sysrq panic: efi-pstore writes the log into the firmware's variables, the host resets
    (kernel.panic), systemd-pstore archives the record at boot, collect fetches it, and kdump is armed again."""
    facts = lwtest.module(HOST, "lastwords.panic.capture_facts")["capture"]["pstore"]
    assert facts["backend"] == "efi_pstore" and facts["service"]["enabled"] == "enabled", facts
    before = sh("cat /proc/sys/kernel/random/boot_id")
    kept = {record["name"] for record in facts["archived"]}
    sh("kexec -p -u; cat /sys/kernel/kexec_crash_loaded")  # no crash kernel: the panic goes to pstore
    started = time.monotonic()
    lwtest.ssh(HOST, "nohup sh -c 'sleep 2; echo c > /proc/sysrq-trigger' >/dev/null 2>&1 &")
    deadline = started + 900
    while time.monotonic() < deadline:
        time.sleep(10)
        res = lwtest.ssh(HOST, "cat /proc/sys/kernel/random/boot_id", timeout=30)
        if res.returncode == 0 and res.stdout.strip() not in ("", before):
            break
    else:
        raise AssertionError(f"{HOST} did not come back within 900 s of the panic")
    print(f"{HOST}: panic without kdump, back in {time.monotonic() - started:.0f} s")
    after = lwtest.module(HOST, "lastwords.panic.capture_facts")["capture"]
    new = [record for record in after["pstore"]["archived"] if record["name"] not in kept]
    assert new and all(record["has_dmesg"] for record in new), after["pstore"]
    # one panic's log, as systemd-pstore archived it: <time stamp>/<count>/dmesg.txt, two records when efi_pstore
    # wrote its parts over a second's boundary
    text = sh("cat " + " ".join(f"{record['path']}/dmesg.txt" for record in new))
    assert "sysrq triggered crash" in text or "SysRq : Trigger a crash" in text, text[-2000:]
    assert after["armed"] is True, after["problems"]  # kdump-tools loaded the crash kernel again at boot
    res = lwtest.playbook(lwtest.PROJECT_DIR / "playbooks" / "collect.yml", "-e", f"lastwords_collect_dir={tmp_path}")
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    fetched = list((tmp_path / HOST).glob("pstore-*/dmesg.txt"))
    assert fetched, list(tmp_path.rglob("*"))
    lwtest.panic_proven(HOST, "sysrq panic without kdump kept by efi-pstore and archived by systemd-pstore")


def check_boots(want: str, other: str) -> None:
    assert sh("uname -r") == want
    assert efivar("LoaderEntryDefault") == entry_of(want)
    assert efivar("LoaderEntryOneShot") is None
    assert sh(f"ls {ENTRIES}").split().count("lastwords-trial.conf") == 0
    held = sh("apt-mark showhold").split()
    assert f"linux-image-{want}" in held and f"linux-image-{other}" not in held, held
    assert sh("cat /sys/kernel/kexec_crash_loaded") == "1"


def test_rollback_to_previous_through_a_one_time_entry():
    switch("previous", "rollback", OLD, NEW)
    check_boots(OLD, NEW)


def test_forward_again():
    switch(NEW, "forward", NEW, OLD)
    check_boots(NEW, OLD)


def test_a_trial_kernel_that_panics_falls_back_by_itself():
    run, seen = start_trial(HOST, OLD)
    rc, output, took = run.wait()
    out = " ".join(output.split())
    print(f"{HOST}: failed trial of {OLD} (init=/bin/false) took {took:.0f} s (two boots)")
    assert rc != 0 and "kernel trial failed" in out and f"runs {NEW}, not {OLD}" in out, out[-3000:]
    with open(lwtest.serial_log(HOST), "rb") as f:
        f.seek(seen)
        serial = f.read().decode(errors="replace")
    assert "Attempted to kill init" in serial, "no panic of the trial kernel in the serial log"
    check_boots(NEW, OLD)
    lwtest.panic_proven(HOST, f"trial kernel {OLD} panicked at boot under systemd-boot, host back on {NEW} by itself")
