"""Unit tests of the VM lab tool: real files, real UDP sockets on 127.0.0.1, no VMs."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lwlab import image, qemu
from lwlab.lab import Lab, parse_vm

LAB_SRC = str(Path(__file__).resolve().parents[2] / "lab")


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("LWLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LWLAB_DIR", str(tmp_path / "labs"))


def test_parse_vm_defaults_and_options():
    assert parse_vm("r:debian12:receivers") == {
        "name": "r", "image": "bookworm", "group": "receivers", "memory": 2048}
    spec = parse_vm("h:trixie:panic_capture:mem=1024:ip=10.77.0.30")
    assert spec["memory"] == 1024 and spec["lab_ip"] == "10.77.0.30" and spec["image"] == "trixie"


@pytest.mark.parametrize("bad, why", [
    ("r:bookworm", "expected NAME:IMAGE:GROUP"),
    ("r:bookworm:web", "group must be one of"),
    ("r:bookworm:receivers:ip=192.168.1.5", "bad option"),
    ("r:bookworm:receivers:mem=lots", "bad option"),
    ("r:centos:receivers", "unknown image"),
])
def test_parse_vm_rejects_bad_specs(bad, why):
    with pytest.raises(SystemExit, match=why):
        parse_vm(bad)


def test_recipe_hash_is_stable_and_follows_the_recipe(monkeypatch):
    first = image.recipe_hash("bookworm")
    assert first == image.recipe_hash("bookworm")
    assert first != image.recipe_hash("trixie")
    changed = dict(image.RECIPES["bookworm"], kernels=["6.1.0-56-amd64", "6.1.0-50-amd64"])
    monkeypatch.setitem(image.RECIPES, "bookworm", changed)
    assert image.recipe_hash("bookworm") != first
    assert image.image_path("bookworm").name == f"bookworm-{image.recipe_hash('bookworm')}.qcow2"


def test_cached_image_is_not_rebuilt(monkeypatch):
    out = image.image_path("bookworm")
    out.parent.mkdir(parents=True)
    out.write_bytes(b"qcow2")
    monkeypatch.setattr(image, "_build", lambda *a: pytest.fail("rebuilt a cached image"))
    assert image.ensure("bookworm") == out


def test_accel_override_and_default(monkeypatch):
    monkeypatch.setenv("LWLAB_ACCEL", "tcg")
    assert "tcg,thread=multi" in qemu.base_argv()
    monkeypatch.delenv("LWLAB_ACCEL")
    hw = any(Path(f"/sys/module/{m}").exists() for m in ("kvm_intel", "kvm_amd"))
    assert qemu.accel() == ("kvm" if hw else "tcg")


def test_guest_cpus_one_under_tcg_two_under_kvm_and_the_override_checked(monkeypatch):
    monkeypatch.delenv("LWLAB_CPUS", raising=False)
    monkeypatch.setenv("LWLAB_ACCEL", "tcg")
    assert qemu.guest_cpus() == 1
    monkeypatch.setenv("LWLAB_ACCEL", "kvm")
    assert qemu.guest_cpus() == 2
    monkeypatch.setenv("LWLAB_CPUS", "3")
    assert qemu.guest_cpus() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("LWLAB_CPUS", bad)
        with pytest.raises(ValueError, match="LWLAB_CPUS"):
            qemu.guest_cpus()


def test_inventory_has_the_homelab_shape():
    lab = Lab("unit")
    lab.dir.mkdir(parents=True)
    state = {"ssh_key": "/k", "vms": [
        {"name": "rx", "group": "receivers", "ssh_port": 2201, "lab_ip": "10.77.0.10", "image": "bookworm"},
        {"name": "h1", "group": "panic_capture", "ssh_port": 2202, "lab_ip": "10.77.0.21", "image": "trixie"},
    ]}
    lab.write_inventory(state)
    inv = yaml.safe_load(lab.inventory.read_text())
    groups = inv["all"]["children"]
    assert groups["receivers"]["hosts"]["rx"]["lastwords_ip"] == "10.77.0.10"
    assert groups["panic_capture"]["hosts"]["h1"]["ansible_port"] == 2202
    assert inv["all"]["vars"]["ansible_ssh_private_key_file"] == "/k"


def _started(proc, marker, seconds=5.0):
    """Wait (bounded) until a freshly spawned process shows its new command line.

    Popen may return while the child is still inside execve (vfork): /proc/<pid>/cmdline is empty for that
    instant. QEMU writes its own pidfile after it has started, so the lab never sees that window; tests that
    stand in for QEMU must wait it out.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if marker.encode() in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"stand-in process {proc.pid} did not start in {seconds}s")


def _udp(port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.settimeout(3)
    return s


def test_hub_copies_frames_to_every_other_peer_and_ignores_strangers():
    peers = [_udp(), _udp(), _udp()]
    stranger = _udp()
    hub_port = qemu.free_port()
    argv = [sys.executable, "-m", "lwlab", "hub", "--port", str(hub_port)]
    for p in peers:
        argv += ["--peer", str(p.getsockname()[1])]
    proc = subprocess.Popen(argv, env={"PYTHONPATH": LAB_SRC}, stdout=subprocess.PIPE, text=True)
    try:
        assert "hub on 127.0.0.1" in proc.stdout.readline()
        peers[0].sendto(b"frame-from-0", ("127.0.0.1", hub_port))
        assert peers[1].recvfrom(2048)[0] == b"frame-from-0"
        assert peers[2].recvfrom(2048)[0] == b"frame-from-0"
        stranger.sendto(b"intruder", ("127.0.0.1", hub_port))
        peers[2].sendto(b"frame-from-2", ("127.0.0.1", hub_port))
        # the stranger's frame was dropped: the next thing peer 0 sees is peer 2's frame
        assert peers[0].recvfrom(2048)[0] == b"frame-from-2"
        peers[0].settimeout(0.3)
        with pytest.raises(TimeoutError):
            peers[0].recvfrom(2048)  # its own frames never echo back
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        for s in [*peers, stranger]:
            s.close()


def test_down_of_a_lab_that_is_not_up_is_harmless(capsys):
    Lab("never").down()
    assert "not up" in capsys.readouterr().err


def test_tail_of_missing_and_present_logs(tmp_path):
    assert "no log" in qemu.tail(tmp_path / "missing.log")
    log = tmp_path / "serial.log"
    log.write_text("".join(f"line {i}\r\n" for i in range(100)))
    out = qemu.tail(log, 3).splitlines()
    assert [o.strip() for o in out] == ["line 97", "line 98", "line 99"]


def test_vm_without_ssh_fails_with_serial_tail_and_is_stopped(tmp_path):
    """The failure path of a boot, with a stand-in process whose command line names the VM's overlay."""
    from lwlab.vm import VM, VMError

    vm = VM(tmp_path, {"name": "ghost", "ssh_port": qemu.free_port(), "image": "bookworm", "memory": 64})
    vm.serial.write_text("SeaBIOS\nBooting from Hard Disk...\nKernel panic - not syncing: VFS: Unable to mount root\n")
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(vm.overlay)])
    _started(stand_in, str(vm.overlay))
    vm.pidfile.write_text(str(stand_in.pid))
    try:
        assert vm.alive()
        with pytest.raises(VMError) as err:
            vm.wait_ssh(timeout=3)
        assert "no SSH on 127.0.0.1" in str(err.value)
        assert "Unable to mount root" in str(err.value)  # the serial log's tail is in the message
        vm.stop(grace=5)
        assert stand_in.wait(timeout=10) is not None and not vm.alive()
    finally:
        if stand_in.poll() is None:
            stand_in.kill()


def test_a_reused_pid_is_not_mistaken_for_the_vm(tmp_path):
    from lwlab.vm import VM

    vm = VM(tmp_path, {"name": "ghost", "ssh_port": 1, "image": "bookworm", "memory": 64})
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    _started(other, "time.sleep(30)")
    try:
        vm.pidfile.write_text(str(other.pid))
        assert not vm.alive()  # a live process, but not this VM's QEMU: never killed by stop()
        vm.stop()
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def _stand_in_ssh(tmp_path, monkeypatch, script):
    """An `ssh` first on PATH that runs ``script`` (sh) instead of connecting; it counts its calls in a file."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    ssh = bindir / "ssh"
    ssh.write_text("#!/bin/sh\n" + script)
    ssh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setattr("lwlab.vm.time.sleep", lambda _s: None)
    return tmp_path / "calls"


def test_a_failed_ssh_connection_is_tried_again(tmp_path, monkeypatch):
    from lwlab.vm import VM

    calls = _stand_in_ssh(tmp_path, monkeypatch, f"""echo x >> {tmp_path}/calls
[ $(wc -l < {tmp_path}/calls) -ge 2 ] || {{ echo 'Connection timed out during banner exchange' >&2; exit 255; }}
cat >/dev/null; echo done
""")
    vm = VM(tmp_path, {"name": "slow", "ssh_port": 2222, "image": "bookworm", "memory": 64})
    res = vm.ssh("true")
    assert res.returncode == 0 and res.stdout.strip() == "done"
    assert len(calls.read_text().split()) == 2


def test_ssh_gives_up_after_three_attempts_and_a_script_failure_is_not_retried(tmp_path, monkeypatch):
    from lwlab.vm import VM, VMError

    calls = _stand_in_ssh(tmp_path, monkeypatch, f"""echo x >> {tmp_path}/calls
echo 'Connection refused' >&2; exit 255
""")
    vm = VM(tmp_path, {"name": "gone", "ssh_port": 2222, "image": "bookworm", "memory": 64})
    with pytest.raises(VMError, match=r"remote script failed \(exit 255\): Connection refused"):
        vm.ssh("true")
    assert len(calls.read_text().split()) == 3

    calls.unlink()
    (tmp_path / "bin" / "ssh").write_text(f"#!/bin/sh\necho x >> {tmp_path}/calls\necho no >&2; exit 1\n")
    with pytest.raises(VMError, match=r"exit 1\): no"):
        vm.ssh("false")
    assert len(calls.read_text().split()) == 1


def test_lab_processes_get_every_cpu_back_from_a_pinned_caller():
    # a caller pinned to one CPU (as Mitogen's strategy pins its workers) must not pin the VMs it starts
    code = ("import os, subprocess, sys; os.sched_setaffinity(0, {0}); "
            "from lwlab import qemu; "
            "out = subprocess.run([sys.executable, '-c', 'import os; print(sorted(os.sched_getaffinity(0)))'], "
            "capture_output=True, text=True, preexec_fn=qemu.all_cpus).stdout; print(out.strip())")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=LAB_SRC), check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(list(range(os.cpu_count()))), res.stdout


STAND_IN_QEMU = """#!/usr/bin/env python3
# stands in for qemu-system-x86_64 -daemonize: a process whose command line names the overlay, its pid written
import subprocess, sys
argv = sys.argv[1:]
pidfile = argv[argv.index("-pidfile") + 1]
drive = next(a for a in argv if a.startswith("file=") and ".qcow2" in a).split(",")[0][len("file="):]
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", drive], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
open(pidfile, "w").write(str(child.pid))
"""


def test_keeper_starts_a_vm_whose_guest_reset_and_leaves_a_stopped_one_off(tmp_path, monkeypatch):
    """keeper.serve on a real lab directory, with a stand-in QEMU whose exit is what a guest reset does."""
    import json
    import signal
    import threading

    from lwlab import keeper
    from lwlab.vm import VM

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "qemu-system-x86_64").write_text(STAND_IN_QEMU)
    (bindir / "qemu-system-x86_64").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setattr("lwlab.vm.image.ensure", lambda _name: tmp_path / "base.qcow2")
    monkeypatch.setattr(keeper, "POLL", 0.05)
    spec = {"name": "t1", "image": "bookworm", "memory": 64, "ssh_port": 1, "lab_port": 2, "hub_port": 3,
            "lab_mac": "52:54:00:77:00:01", "lab_ip": "10.77.0.21"}
    (tmp_path / "state.json").write_text(json.dumps({"vms": [spec]}))
    vm = VM(tmp_path, spec)
    vm.overlay.write_bytes(b"")
    vm.start()
    vm.serial.write_text("first boot\n")
    first = vm.pid
    assert first and vm.alive()
    thread = threading.Thread(target=keeper.serve, args=(tmp_path,), daemon=True)
    thread.start()
    try:
        time.sleep(0.3)  # the keeper has seen it running
        os.kill(first, signal.SIGKILL)  # what -no-reboot does when the guest resets: QEMU is gone
        deadline = time.monotonic() + 10
        while (vm.pid in (None, first)) and time.monotonic() < deadline:
            time.sleep(0.05)
        second = vm.pid
        assert second and second != first, "the keeper did not start the VM again"
        assert vm.serial.read_text() == "first boot\n"  # a restart appends; it does not begin a new log
        vm.stop(grace=5)
        time.sleep(0.5)
        assert not vm.alive(), "the keeper started a VM that was stopped on purpose"
    finally:
        (tmp_path / "state.json").unlink()
        thread.join(timeout=5)
        for pid in (first, vm.pid):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert not thread.is_alive()


def test_the_uefi_image_has_systemd_boot_and_no_grub_and_its_own_cache_key():
    assert image.uefi("trixie-sdboot") and not image.uefi("trixie")
    assert "systemd-boot" in image.packages("trixie-sdboot") and "grub-pc" not in image.packages("trixie-sdboot")
    assert "grub-pc" in image.packages("trixie") and "systemd-boot" not in image.packages("trixie")
    assert image.bridge("trixie-sdboot") == "vmbr0" and image.bridge("bookworm") is None
    assert image.recipe_hash("trixie-sdboot") != image.recipe_hash("trixie")
    assert image.vars_path("trixie-sdboot").name == f"trixie-sdboot-{image.recipe_hash('trixie-sdboot')}.vars.fd"


def test_a_uefi_vm_starts_with_ovmf_and_its_own_copy_of_the_variables(tmp_path, monkeypatch):
    """VM.start's QEMU command line, read by a stand-in QEMU: OVMF's code read-only, the VM's variable store."""
    from lwlab.vm import VM

    bindir = tmp_path / "bin"
    bindir.mkdir()
    seen = tmp_path / "argv"
    (bindir / "qemu-system-x86_64").write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > '{seen}'\n")
    (bindir / "qemu-system-x86_64").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setattr("lwlab.vm.image.ensure", lambda _name: tmp_path / "base.qcow2")
    store = tmp_path / "image.vars.fd"
    store.write_bytes(b"NVRAM after the first boot")
    monkeypatch.setattr("lwlab.vm.image.vars_path", lambda _name: store)
    monkeypatch.setattr(subprocess, "run", _qemu_img_stand_in(subprocess.run))
    spec = {"name": "u1", "image": "trixie-sdboot", "memory": 64, "ssh_port": 1, "lab_port": 2, "hub_port": 3,
            "lab_mac": "52:54:00:77:00:23", "lab_ip": "10.77.0.23"}
    vm = VM(tmp_path, spec)
    vm.start()
    argv = seen.read_text().splitlines()
    assert f"if=pflash,format=raw,unit=0,readonly=on,file={image.OVMF_CODE}" in argv
    assert f"if=pflash,format=raw,unit=1,file={vm.nvram}" in argv
    assert vm.nvram.read_bytes() == b"NVRAM after the first boot"  # a copy: the image's store stays as it was
    vm.nvram.write_bytes(b"the VM's own one-shot entry")
    vm.start(restart=True)  # after a reset the VM keeps its variables
    assert vm.nvram.read_bytes() == b"the VM's own one-shot entry"
    bios = VM(tmp_path, dict(spec, name="b1", image="bookworm"))
    bios.start()
    assert not any("pflash" in arg for arg in seen.read_text().splitlines())


def _qemu_img_stand_in(real_run):
    """subprocess.run with ``qemu-img create`` answered by an empty file (the overlay), everything else real."""
    def run(argv, *args, **kwargs):
        if argv[:2] == ["qemu-img", "create"]:
            Path(argv[-1]).write_bytes(b"")
            return subprocess.CompletedProcess(argv, 0, "", "")
        return real_run(argv, *args, **kwargs)
    return run
