"""One lab VM: a qcow2 overlay on a cached image, two NICs, a serial log, a pid, bounded waits."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import image, qemu
from .progress import say, step

# ConnectTimeout also bounds the banner exchange: a guest's sshd on a loaded TCG host can take well over 5 s
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=5"]
LAB_NET6 = "fd77::"  # the lab segment's IPv6 prefix (/64): fd77::N beside 10.77.0.N


def lab_ip6(lab_ip: str) -> str:
    """The IPv6 address of a lab VM: ``10.77.0.21`` -> ``fd77::21`` (the same N, read as the hex group)."""
    return LAB_NET6 + lab_ip.rsplit(".", 1)[1]


SSH_FAILED = 255  # ssh's own exit code: the connection failed, the remote command's status is unknown
SSH_ATTEMPTS = 3


def boot_timeout() -> int:
    """Seconds to wait for SSH after QEMU starts: generous for TCG on 2 cores, bounded."""
    return int(os.environ.get("LWLAB_BOOT_TIMEOUT", "600"))


class VMError(RuntimeError):
    pass


class VM:
    def __init__(self, lab_dir: Path, spec: dict):
        self.spec = spec
        self.name = spec["name"]
        self.dir = lab_dir
        self.overlay = lab_dir / f"{self.name}.qcow2"
        self.serial = lab_dir / f"{self.name}.serial.log"
        self.pidfile = lab_dir / f"{self.name}.pid"
        self.nvram = lab_dir / f"{self.name}.vars.fd"  # a UEFI VM's own firmware variables (image.py)
        # written by stop() before it kills QEMU: the lab's keeper then leaves the VM off (keeper.py)
        self.stopfile = lab_dir / f"{self.name}.stopped"

    # -- state -------------------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        # pids are reused: only a QEMU running this VM's overlay counts as this VM
        return pid if str(self.overlay).encode() in cmdline else None

    def alive(self) -> bool:
        return self.pid is not None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self, restart: bool = False) -> None:
        """Start QEMU for this VM (daemonized). ``restart``: after the guest reset (keeper.py), the same disk and
        the serial log appended to; otherwise a first start, which begins a new serial log.

        ``-no-reboot``: a guest reset (a reboot, ``panic=N``, kdump's reboot after the dump) ends QEMU, and the
        lab's keeper starts a new one, so every boot is a cold boot, as on a machine whose reset cuts power. The
        guest sees the same: firmware, GRUB with its grubenv, the kernel. Measured on one Debian 12 VM alone, a
        reset inside the same QEMU took 41-74 s from `systemctl reboot` to SSH, a new QEMU 39 s every time.
        """
        base = image.ensure(self.spec["image"])
        if not restart:
            self.serial.unlink(missing_ok=True)
            self.stopfile.unlink(missing_ok=True)
        if not self.overlay.exists():
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base),
                            str(self.overlay)], check=True)
            if image.uefi(self.spec["image"]):
                shutil.copy(image.vars_path(self.spec["image"]), self.nvram)
        s = self.spec
        firmware = qemu.uefi_argv(image.OVMF_CODE, self.nvram) if image.uefi(s["image"]) else []
        argv = qemu.base_argv(memory=s["memory"], cpus=s.get("cpus") or qemu.guest_cpus()) + [
            "-name", f"lwlab-{self.name}",
            "-drive", f"file={self.overlay},format=qcow2,if=virtio,cache=unsafe",
            "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{s['ssh_port']}-:22",
            "-device", f"virtio-net-pci,netdev=net0,mac={qemu.USER_MAC},addr=0x3",
            "-netdev", (f"dgram,id=lab,local.type=inet,local.host=127.0.0.1,local.port={s['lab_port']},"
                        f"remote.type=inet,remote.host=127.0.0.1,remote.port={s['hub_port']}"),
            "-device", f"virtio-net-pci,netdev=lab,mac={s['lab_mac']},addr=0x4",
            "-chardev", f"file,id=serial0,path={self.serial},append=on", "-serial", "chardev:serial0",
            "-no-reboot",
            "-pidfile", str(self.pidfile), "-daemonize",
        ] + firmware
        res = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, preexec_fn=qemu.all_cpus,
                             check=False)
        if res.returncode != 0:
            raise VMError(f"{self.name}: qemu failed to start (exit {res.returncode}): {res.stderr.strip()}")

    def ssh_argv(self, *command: str) -> list[str]:
        return ["ssh", "-i", str(image.ssh_key()), "-p", str(self.spec["ssh_port"]), *SSH_OPTS,
                "root@127.0.0.1", *command]

    def ssh(self, script: str, timeout: int = 120, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``script`` (which must be safe to run twice) with sh; a failed connection is tried again, bounded."""
        for attempt in range(1, SSH_ATTEMPTS + 1):
            res = subprocess.run(self.ssh_argv("sh", "-s"), input=script, capture_output=True, text=True,
                                 timeout=timeout, check=False)
            if res.returncode != SSH_FAILED or attempt == SSH_ATTEMPTS:
                break
            say(f"vm {self.name}: ssh failed ({res.stderr.strip()}), attempt {attempt + 1} of {SSH_ATTEMPTS}")
            time.sleep(5 * attempt)
        if check and res.returncode != 0:
            raise VMError(f"{self.name}: remote script failed (exit {res.returncode}): "
                          f"{res.stderr.strip() or res.stdout.strip()}")
        return res

    def wait_ssh(self, timeout: int | None = None) -> float:
        """Wait until SSH answers; on timeout or a dead QEMU raise with the serial log's tail."""
        timeout = timeout or boot_timeout()
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if not self.alive():
                raise VMError(f"{self.name}: QEMU exited while waiting for SSH; serial log tail:\n"
                              + qemu.tail(self.serial))
            try:
                res = subprocess.run(self.ssh_argv("true"), capture_output=True, timeout=20,
                                     stdin=subprocess.DEVNULL, check=False)
                if res.returncode == 0:
                    return time.monotonic() - start
            except subprocess.TimeoutExpired:
                pass
            time.sleep(2)
        raise VMError(f"{self.name}: no SSH on 127.0.0.1:{self.spec['ssh_port']} after {timeout}s; "
                      f"serial log tail:\n" + qemu.tail(self.serial))

    def configure_lab_nic(self) -> None:
        """Give the lab NIC its static addresses (persistent: survives the reboots that tests cause).

        IPv4 10.77.0.N/24 and IPv6 fd77::N/64 (a unique local address with the same N), both on the lab segment
        only; no link-local address and no router advertisements, so nothing else appears on the segment.
        """
        s = self.spec
        bridge = image.bridge(s["image"])
        addresses = (f"Address={s['lab_ip']}/24\nAddress={lab_ip6(s['lab_ip'])}/64\n"
                     "LinkLocalAddressing=no\nIPv6AcceptRA=no\n")
        if bridge:
            # the NIC is a port of the bridge, and the addresses are the bridge's (a Proxmox VE host's vmbr0)
            files = {
                "20-lab.network": f"# lab segment (isolated, carried over 127.0.0.1 by the lab hub): a port of "
                                  f"{bridge}\n[Match]\nMACAddress={s['lab_mac']}\nType=ether\n\n[Network]\n"
                                  f"Bridge={bridge}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n",
                f"19-{bridge}.netdev": f"[NetDev]\nName={bridge}\nKind=bridge\n",
                f"21-{bridge}.network": f"[Match]\nName={bridge}\n\n[Network]\n{addresses}",
            }
        else:
            files = {"20-lab.network": "# lab segment (isolated, carried over 127.0.0.1 by the lab hub)\n[Match]\n"
                                       f"MACAddress={s['lab_mac']}\n\n[Network]\n{addresses}"}
        writes = "".join(f"cat > /etc/systemd/network/{name} <<'EOF'\n{text}EOF\n" for name, text in files.items())
        # the NIC with the lab MAC (a bridge takes its first port's MAC: only the ether one is the NIC)
        find = (f"ip -o -d link | awk -v mac={s['lab_mac']} '$0 ~ mac && $0 !~ / bridge / "
                "{sub(\":\", \"\", $2); sub(\"@.*\", \"\", $2); print $2}' | head -1")
        script = f"""set -e
{writes}echo {self.name} > /etc/hostname
hostname {self.name}
sed -i 's/^127\\.0\\.1\\.1 .*/127.0.1.1 {self.name}/' /etc/hosts
networkctl reload
nic=$({find})
networkctl reconfigure "$nic" 2>/dev/null || true
dev={bridge or '"$nic"'}
i=0
while ! ip -4 -o addr show dev "$dev" | grep -q ' {s['lab_ip']}/'; do
  i=$((i+1)); [ $i -lt 100 ] || {{ echo "no {s['lab_ip']} on $dev" >&2; exit 1; }}; sleep 0.2
done
"""
        self.ssh(script)

    def stop(self, grace: float = 10.0) -> None:
        try:
            self.stopfile.touch()
        except OSError:  # no lab directory: nothing was started there
            pass
        pid = self.pid
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.alive():
            time.sleep(0.2)
        if self.alive():
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        self.pidfile.unlink(missing_ok=True)

    def boot(self) -> None:
        """start() and ready(): one VM alone."""
        self.start()
        self.ready()

    def ready(self) -> None:
        """After start(): wait for SSH and give the lab NIC its address; a VM that fails is stopped."""
        with step(f"vm {self.name} ({self.spec['image']}, {self.spec['memory']} MiB): boot to SSH"):
            try:
                waited = self.wait_ssh()
                self.configure_lab_nic()
            except BaseException:
                self.stop()
                raise
        say(f"vm {self.name}: ssh -p {self.spec['ssh_port']} root@127.0.0.1 after {waited:.0f}s, "
            f"lab address {self.spec['lab_ip']} and {lab_ip6(self.spec['lab_ip'])}, serial log {self.serial}")
