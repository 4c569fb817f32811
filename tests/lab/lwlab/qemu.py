"""QEMU command lines, accelerator choice, free ports and log tails."""

import os
import socket
from pathlib import Path

# NIC 1 (user network) has the same MAC in every VM: each VM has its own private user network.
USER_MAC = "52:54:00:00:00:01"
# NIC 2 (lab segment) MACs differ per VM: 52:54:00:77:00:<index>.
LAB_MAC_PREFIX = "52:54:00:77:00:"


def accel() -> str:
    """TCG unless real hardware KVM is loaded (``kvm_intel``/``kvm_amd``); ``LWLAB_ACCEL`` overrides.

    ``/dev/kvm`` alone is not enough on this kind of machine: it is a paravirtual KVM that cannot run stock
    Debian kernels, so its presence proves nothing.
    """
    forced = os.environ.get("LWLAB_ACCEL")
    if forced:
        return forced
    hw = any(Path(f"/sys/module/{m}").exists() for m in ("kvm_intel", "kvm_amd"))
    if hw and os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "kvm"
    return "tcg"


def guest_cpus() -> int:
    """vCPUs per lab VM: ``LWLAB_CPUS``, else 2 under KVM and 1 under TCG.

    Under TCG each vCPU is a host thread, and the lab runs three VMs on a 2-core machine. Measured here, two
    Debian 12 VMs alone: booting side by side took 102 and 104 s to SSH with two vCPUs each and 84 s with one;
    rebooting at once, 214 and 237 s with two, 200 and 124 s with one. What the guests do in those minutes runs
    in one process anyway (unpacking the kernel, dpkg, mkinitramfs), and a second vCPU thread only adds a thread
    that competes for the host's two cores (the likely reason: a guest waits on a vCPU the host has descheduled).
    """
    forced = os.environ.get("LWLAB_CPUS")
    if forced:
        if not forced.isdigit() or int(forced) < 1:
            raise ValueError(f"LWLAB_CPUS={forced!r}: give a whole number of vCPUs, 1 or more")
        return int(forced)
    return 2 if accel() == "kvm" else 1


def base_argv(memory: int = 2048, cpus: int = 2) -> list[str]:
    acc = accel()
    # no display adapter: the guests speak on the serial console (console=ttyS0) and nothing reads a screen.
    # Measured alone it gains nothing (boot to SSH: bookworm 48.5 s without, 50.3 s with; trixie 71.5 s and
    # 70.9 s); it spares the guests a frame buffer console they never show
    argv = ["qemu-system-x86_64", "-machine", "q35", "-m", str(memory), "-smp", str(cpus),
            "-display", "none", "-vga", "none", "-monitor", "none", "-device", "virtio-rng-pci"]
    if acc == "kvm":
        argv += ["-accel", "kvm", "-cpu", "host"]
    else:
        argv += ["-accel", "tcg,thread=multi", "-cpu", os.environ.get("LWLAB_CPU", "max")]
    return argv


def uefi_argv(code: Path, nvram: Path) -> list[str]:
    """OVMF: its code read-only, the VM's own variable store (boot entries, systemd-boot's one-shot) writable."""
    return ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
            "-drive", f"if=pflash,format=raw,unit=1,file={nvram}"]


def all_cpus() -> None:
    """Let this process (and what it starts) run on every CPU of the machine.

    Meant as ``preexec_fn`` for QEMU and the hub: the lab is often started by a process whose CPU affinity is
    narrower, e.g. a worker of Mitogen's strategy, which pins itself and its children; the VMs inherited that, all
    three QEMUs ran on CPU 1 alone, and a kdump-tools install took 19 minutes instead of 4.
    """
    os.sched_setaffinity(0, range(os.cpu_count() or 1))


def free_port() -> int:
    """A TCP/UDP port free on 127.0.0.1 right now (the lab binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def tail(path: Path, lines: int = 40) -> str:
    try:
        data = Path(path).read_bytes()[-64 * 1024:]
    except OSError:
        return f"    (no log at {path})"
    text = data.decode(errors="replace").replace("\r", "")
    return "\n".join("    " + line for line in text.splitlines()[-lines:])
