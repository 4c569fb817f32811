"""kdump scenario: armed through GRUB, a real panic leaves a readable vmcore and dmesg, and it switches off."""

import lwtest
import pytest

HOSTS = lwtest.hosts("panic_capture")
AFTER_PANIC = lwtest.REBOOTED_MARK.exists()
testinfra_hosts = HOSTS


def capture(host):
    return host.ansible("lastwords.panic.capture_facts", "require_netconsole=false", check=False)["capture"]


@pytest.mark.skipif(AFTER_PANIC, reason="before the panic")
def test_crashkernel_comes_from_grub(host):
    cmdline = host.file("/proc/cmdline").content_string
    assert "BOOT_IMAGE=" in cmdline  # booted through GRUB, not with QEMU's -kernel
    assert "crashkernel=256M" in cmdline.split(), cmdline  # auto for 2 GiB; kdump-tools' 384M-:128M replaced
    assert "crashkernel=256M" in host.file("/boot/grub/grub.cfg").content_string


@pytest.mark.skipif(AFTER_PANIC, reason="before the panic")
def test_crash_kernel_is_loaded_and_armed(host):
    assert host.file("/sys/kernel/kexec_crash_loaded").content_string.strip() == "1"
    assert int(host.file("/sys/kernel/kexec_crash_size").content_string) == 256 * 1024 * 1024
    facts = capture(host)
    assert facts["armed"] is True, facts["problems"]
    release = host.check_output("uname -r")
    assert host.file(f"/var/lib/kdump/initrd.img-{release}").exists


@pytest.mark.skipif(AFTER_PANIC, reason="before the panic")
def test_kdump_tools_config_edited_by_key(host):
    cfg = host.file("/etc/default/kdump-tools").content_string
    for line in ("USE_KDUMP=1", 'KDUMP_COREDIR="/var/crash"', "KDUMP_NUM_DUMPS=3", 'MAKEDUMP_ARGS="-c -d 31"',
                 "KDUMP_DUMP_DMESG=1"):
        assert line in cfg.splitlines(), line
    assert "# " in cfg  # the package's own comments are still there: edited, not replaced
    sysctl = host.check_output("sysctl -n kernel.panic_on_oops kernel.panic kernel.sysrq").split()
    assert sysctl == ["1", "10", "1"]


@pytest.mark.skipif(not AFTER_PANIC, reason="after the panic")
def test_the_panic_left_a_vmcore_and_dmesg(host):
    name = host.backend.get_hostname()
    dumps = host.check_output("ls -1d /var/crash/2*/").split()
    assert len(dumps) == 1, dumps
    d = dumps[0].rstrip("/")
    files = host.check_output(f"ls -1 {d}").split()
    dump = next(f for f in files if f.startswith("dump."))
    dmesg = next(f for f in files if f.startswith("dmesg."))
    assert "sysrq triggered crash" in host.file(f"{d}/{dmesg}").content_string
    kind = host.check_output(f"file -b {d}/{dump}")
    assert "kdump compressed dump" in kind.lower() or "flattened" in kind.lower(), kind
    # makedumpfile reads the kernel log back out of the vmcore (a flattened dump is reassembled first)
    src = f"{d}/{dump}"
    if "flattened" in kind.lower():
        res = host.run(f"makedumpfile -R /root/lastwords-vmcore < {src}")
        assert res.rc == 0, res.stderr
        src = "/root/lastwords-vmcore"
    res = host.run(f"makedumpfile --dump-dmesg {src} /root/lastwords-dmesg.txt && grep -c 'sysrq triggered crash' "
                   f"/root/lastwords-dmesg.txt; rm -f /root/lastwords-dmesg.txt")
    assert res.rc == 0 and int(res.stdout.strip().splitlines()[-1]) >= 1, res.stdout + res.stderr
    if name == HOSTS[0]:
        # the figures for the closing note: the same dump re-filtered at -d 31 with each compression
        sizes = {}
        for label, flag in (("zlib", "-c"), ("lzo", "-l"), ("none", "")):
            res = host.run(f"makedumpfile {flag} -d 31 {src} /root/lastwords-refiltered >/dev/null 2>&1; "
                           f"stat -c %s /root/lastwords-refiltered; rm -f /root/lastwords-refiltered")
            sizes[label] = int(res.stdout.split()[-1])
        print(f"{name}: re-filtered at -d 31: " + ", ".join(f"{k} {v / 1024**2:.1f} MiB" for k, v in sizes.items()))
        assert sizes["zlib"] < sizes["none"] and sizes["lzo"] < sizes["none"]
    host.run("rm -f /root/lastwords-vmcore")
    size = int(host.check_output(f"stat -c %s {d}/{dump}"))
    ram = int(host.check_output("awk '/MemTotal/ {print $2 * 1024}' /proc/meminfo"))
    took = (lwtest.EPHEMERAL / f"panic-{name}.txt").read_text().split()[1]
    print(f"{name}: trigger -> SSH {took}s; dump {size / 1024**2:.1f} MiB = {100 * size / ram:.1f}% of RAM")
    assert size < ram


@pytest.mark.skipif(not AFTER_PANIC, reason="after kdump_enabled: false")
def test_disabled_kdump_is_off_after_reboot(host):
    assert "crashkernel=" not in host.file("/proc/cmdline").content_string
    assert host.file("/sys/kernel/kexec_crash_size").content_string.strip() == "0"
    svc = host.service("kdump-tools")
    assert not svc.is_enabled and not svc.is_running
    cfg = host.file("/etc/default/kdump-tools")
    assert cfg.mode & 0o444 and "USE_KDUMP=0" in cfg.content_string.splitlines()
    facts = capture(host)
    assert facts["armed"] is False


@pytest.mark.skipif(AFTER_PANIC, reason="once per scenario")
def test_bad_input_fails_before_any_change():
    lwtest.mount_read_only(HOSTS[0])
    lwtest.assert_bad_input_refused(lwtest.SCENARIO_DIR / "bad_input.yml")
