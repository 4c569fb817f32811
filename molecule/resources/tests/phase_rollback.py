"""Rollback phase: back to the previous kernel and forward again through a trial boot, armed again each time; a
second run and --check change nothing; bad input is refused before any change; a trial kernel that panics at boot
sends the host back by itself.

Runs on the first capture host, a Debian 12 VM with 6.1.0-56 (running) and 6.1.0-47 (older), armed. The tests
run the kernel changes themselves, in file order: the rollback scenario alone, or e2e on its armed lab (which
takes the tests but the trial, and runs the trial on its other host meanwhile: start_trial and check_trial).
"""

import json
import time

import lwtest

HOST = lwtest.hosts("panic_capture")[0]
RECEIVER = lwtest.hosts("receivers")[0]
OLD, NEW = "6.1.0-47-amd64", "6.1.0-56-amd64"
PLAYBOOK = lwtest.PROJECT_DIR / "playbooks" / "kernel_rollback.yml"
SCENARIO = lwtest.PROJECT_DIR / "molecule" / "rollback"
# no testinfra `host` fixture here: its tests act, then check, in file order (lwtest.host says why)


def sh(command, host=HOST):
    res = lwtest.ssh(host, command)
    assert res.returncode == 0, f"{command}: {res.stderr}"
    return res.stdout.strip()


def grubenv(host=HOST):
    return dict(line.split("=", 1) for line in sh("grub-editenv /boot/grub/grubenv list", host).splitlines()
                if "=" in line)


def kernels(host: str) -> tuple[str, str]:
    """(second newest, newest) of the kernels installed on a host, as Debian's linux-version sorts them."""
    releases = sh("linux-version list | linux-version sort", host).split()
    assert len(releases) >= 2, f"{host} needs two kernels for a trial: {releases}"
    return releases[-2], releases[-1]


def outcome(name):
    return json.loads((lwtest.EPHEMERAL / f"kernel-{name}.json").read_text())


def boot_state():
    """What a kernel change would touch: GRUB files, holds, the boot."""
    return sh("md5sum /boot/grub/grubenv /boot/grub/grub.cfg; ls /etc/grub.d /etc/default/grub.d; "
              "apt-mark showhold; cat /proc/sys/kernel/random/boot_id; ls /var/lib/lastwords 2>/dev/null || true")


def switch(version: str, record_as: str, want: str, other: str) -> None:
    """kernel_rollback.yml on HOST alone (lastwords_hosts), then its recorded outcome checked."""
    started = time.monotonic()
    res = lwtest.playbook(SCENARIO / "switch.yml", "-e", f"lastwords_hosts={HOST}", "-e", f"kernel_version={version}",
                          "-e", f"__record_as={record_as}", timeout=1800)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    result = outcome(record_as)
    print(f"{HOST}: {result['before']['running']} -> {result['after']['running']} in {result['seconds']} s "
          f"(reboot included; playbook {time.monotonic() - started:.0f} s), outcome {result['outcome']}")
    print(lwtest.slowest(res.stdout))
    assert result["outcome"] == "switched", result
    assert result["before"]["running"] == other and result["after"]["running"] == want
    assert result["after"]["default"] == want and result["armed"] is True


def check_runs(want: str, other: str) -> None:
    """The host runs ``want`` from its own default entry, held, kdump loaded for it, netconsole delivering."""
    host = lwtest.host(HOST)
    assert host.check_output("uname -r") == want
    env = grubenv()
    assert env["saved_entry"].startswith("gnulinux-advanced-"), env
    assert env["saved_entry"].split(">")[1].startswith(f"gnulinux-{want}-advanced-"), env
    assert not env.get("next_entry"), env
    cfg = host.file("/boot/grub/grub.cfg").content_string
    assert 'set default="${saved_entry}"' in cfg
    assert "lastwords-trial" not in cfg
    assert not host.file("/etc/grub.d/42_lastwords_trial").exists
    assert host.file("/etc/default/grub.d/zz-lastwords-kernel.cfg").contains("^GRUB_DEFAULT=saved$")
    # its package is held and the other one released
    held = sh("apt-mark showhold").split()
    assert f"linux-image-{want}" in held and f"linux-image-{other}" not in held, held
    # kdump is loaded for the new release, from the initrd the kernel role built before the reboot
    assert host.file("/sys/kernel/kexec_crash_loaded").content_string.strip() == "1"
    assert host.file(f"/var/lib/kdump/initrd.img-{want}").exists
    lwtest.assert_no_kdump_initrd_built_this_boot(HOST)
    assert sh("readlink -f /var/lib/kdump/vmlinuz") == f"/boot/vmlinuz-{want}"
    assert sh("readlink -f /var/lib/kdump/initrd.img") == f"/var/lib/kdump/initrd.img-{want}"
    facts = lwtest.module(HOST, "lastwords.panic.capture_facts")["capture"]
    assert facts["armed"] is True, facts["problems"]
    assert facts["kernel_release"] == want and facts["kdump"]["initrd_exists"] is True
    # netconsole reaches the receiver
    text = lwtest.canary(f"kernel-{want}")
    elapsed = lwtest.kmsg_reaches(HOST, RECEIVER, f"/var/log/netconsole/{HOST}.log", text, within=5.0)
    print(f"{HOST} on {want}: kmsg -> receiver in {elapsed:.2f}s")
    assert elapsed < 5.0


def test_rollback_to_previous():
    switch("previous", "rollback", OLD, NEW)


def test_runs_the_previous_kernel_armed():
    check_runs(OLD, NEW)


def test_second_run_changes_nothing():
    before = boot_state()
    started = time.monotonic()
    res = lwtest.playbook(PLAYBOOK, "-e", f"lastwords_hosts={HOST}", "-e", f"kernel_version={OLD}")
    print(f"second run on {OLD}: {time.monotonic() - started:.1f} s")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert lwtest.recap(out)[HOST].get("changed", 0) == 0, out[-3000:]
    # the YAML callback folds long messages: compare with the line breaks taken out
    assert "is the default already; nothing to do" in " ".join(out.split()), out[-3000:]
    assert boot_state() == before


def test_check_mode_says_what_it_would_do_and_changes_nothing():
    before = boot_state()
    res = lwtest.playbook(PLAYBOOK, "--check", "-e", f"lastwords_hosts={HOST}", "-e", f"kernel_version={NEW}")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert f"would boot {NEW} once with panic=10" in " ".join(out.split()), out[-3000:]
    assert boot_state() == before


def test_kernel_bad_input_fails_before_any_change():
    before = boot_state()
    lwtest.assert_bad_input_refused(SCENARIO / "bad_input.yml")
    assert boot_state() == before


def test_more_than_one_host_needs_the_switch():
    before = boot_state()
    res = lwtest.playbook(PLAYBOOK, "-e", "lastwords_hosts=all", "-e", f"kernel_version={NEW}")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-3000:]
    assert "kernel_rollback_many=true" in " ".join(out.split()) and "--limit" in out, out[-3000:]
    assert all(c.get("changed", 0) == 0 for c in lwtest.recap(out).values()), out[-3000:]
    assert boot_state() == before


def test_roll_forward_again():
    switch(NEW, "forward", NEW, OLD)


def test_runs_the_newest_kernel_armed():
    check_runs(NEW, OLD)


def start_trial(host: str, old: str) -> tuple[lwtest.Background, int]:
    """kernel_rollback.yml to ``old`` with init=/bin/false, which panics at boot: started, not waited for.

    Also the serial log's size now, so that check_trial reads this trial's boots only.
    """
    seen = lwtest.serial_log(host).stat().st_size
    run = lwtest.Background(f"trial-{host}", PLAYBOOK, "-e", f"lastwords_hosts={host}", "-e",
                            f'{{"kernel_version": "{old}", "kernel_trial_args": ["init=/bin/false"]}}', timeout=1800)
    return run, seen


def check_trial(started: tuple[lwtest.Background, int], host: str, old: str, new: str) -> None:
    """The trial failed, the trial kernel really panicked, the host is back on ``new`` with nothing left over."""
    run, seen = started
    rc, output, took = run.wait()
    out = " ".join(output.split())
    print(f"{host}: failed trial of {old} (init=/bin/false) took {took:.0f} s (two boots)")
    print(lwtest.slowest(output))
    assert rc != 0, out[-3000:]
    assert "kernel trial failed" in out and f"runs {new}, not {old}" in out, out[-3000:]
    # the trial kernel really booted and panicked, then reset itself (serial console of the VM)
    with open(lwtest.serial_log(host), "rb") as f:
        f.seek(seen)
        serial = f.read().decode(errors="replace")
    assert "Attempted to kill init" in serial, "no panic of the trial kernel in the serial log"
    assert "panic=10 init=/bin/false" in serial or "lastwords trial" in serial
    # back on the old default, nothing of the trial left, the trial kernel not held
    assert sh("uname -r", host) == new
    assert grubenv(host)["saved_entry"].split(">")[1].startswith(f"gnulinux-{new}-advanced-")
    assert sh("ls /etc/grub.d", host).split().count("42_lastwords_trial") == 0
    assert f"linux-image-{old}" not in sh("apt-mark showhold", host).split()
    lwtest.panic_proven(host, f"trial kernel {old} panicked at boot (init=/bin/false), host back on {new} by itself")


def test_a_trial_kernel_that_panics_sends_the_host_back_by_itself():
    check_trial(start_trial(HOST, OLD), HOST, OLD, NEW)
