"""A lab: N VMs booted side by side, joined by the hub, described by an inventory users would write.

State lives in ``.lab/<name>/state.json``; ``up`` of a lab that is already running with the same VMs reuses it
(this is how steps share booted VMs), ``down`` tears everything down by pid and keeps the serial logs.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import image, paths, qemu
from .progress import say, step
from .vm import VM

LAB_NET = "10.77.0"  # the isolated lab segment; receivers get .10 and up, hosts .21 and up
GROUPS = ("receivers", "panic_capture")


def parse_vm(text: str) -> dict:
    """``NAME:IMAGE:GROUP[:mem=MiB][:ip=ADDR]`` -> a VM spec, e.g. ``receiver:bookworm:receivers:ip=10.77.0.10``."""
    parts = text.split(":")
    if len(parts) < 3 or not all(parts[:3]):
        raise SystemExit(f"lwlab: --vm {text!r}: expected NAME:IMAGE:GROUP[:mem=MiB][:ip=ADDR]")
    name, img, group = parts[:3]
    if group not in GROUPS:
        raise SystemExit(f"lwlab: --vm {text!r}: group must be one of {', '.join(GROUPS)}")
    spec = {"name": name, "image": image.resolve(img), "group": group, "memory": 2048}
    for opt in parts[3:]:
        key, _sep, value = opt.partition("=")
        if key == "mem" and value.isdigit():
            spec["memory"] = int(value)
        elif key == "ip" and value.startswith(LAB_NET + "."):
            spec["lab_ip"] = value
        else:
            raise SystemExit(f"lwlab: --vm {text!r}: bad option {opt!r} (mem=MiB, ip={LAB_NET}.N)")
    return spec


class Lab:
    def __init__(self, name: str):
        self.name = name
        self.dir = paths.labs_dir() / name
        self.state_file = self.dir / "state.json"
        self.inventory = self.dir / "inventory.yml"

    # -- state ---------------------------------------------------------------------------------------
    def state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def vms(self) -> list[VM]:
        st = self.state() or {"vms": []}
        return [VM(self.dir, spec) for spec in st["vms"]]

    def running(self) -> bool:
        st = self.state()
        return (bool(st) and _hub_alive(st) and _lwlab_alive(st.get("keeper", {}).get("pid"))
                and all(vm.alive() for vm in self.vms()))

    # -- lifecycle -----------------------------------------------------------------------------------
    def up(self, wanted: list[dict]) -> dict:
        names = [w["name"] for w in wanted]
        if len(set(names)) != len(names):
            raise SystemExit(f"lwlab: duplicate VM names in {names}")
        st = self.state()
        if st and self.running() and _same(st["vms"], wanted):
            say(f"lab {self.name}: already up with {', '.join(names)}; reusing it")
            return st
        if st:
            self.down(keep_logs=False)
        for spec in wanted:  # build missing images first, so boot timings are boot timings
            image.ensure(spec["image"])
        self.dir.mkdir(parents=True, exist_ok=True)
        hub_port = qemu.free_port()
        counters = {"receivers": 10, "panic_capture": 21}
        vms = []
        for i, w in enumerate(wanted):
            spec = dict(w)
            spec.setdefault("lab_ip", f"{LAB_NET}.{counters[w['group']]}")
            counters[w["group"]] += 1
            spec.update(ssh_port=qemu.free_port(), lab_port=qemu.free_port(), hub_port=hub_port,
                        lab_mac=f"{qemu.LAB_MAC_PREFIX}{i + 1:02x}")
            vms.append(spec)
        st = {"name": self.name, "hub": {"port": hub_port, "pid": None}, "vms": vms,
              "ssh_key": str(image.ssh_key()), "accel": qemu.accel()}
        st["hub"]["pid"] = self._start_hub(hub_port, [v["lab_port"] for v in vms])
        self._save(st)
        # side by side: a booting guest keeps about one CPU busy (firmware, GRUB, the initramfs run on one vCPU):
        # the e2e lab's three boots took 190-193 s one after another and 141 s side by side on two CPUs
        with step(f"lab {self.name}: boot {len(vms)} VM(s) side by side ({qemu.accel()})"):
            try:
                started = []
                for spec in vms:
                    started.append(VM(self.dir, spec))
                    started[-1].start()
                # from here a guest that resets itself gets a new QEMU (keeper.py)
                st["keeper"] = {"pid": self._start_helper("keeper", ["--name", self.name])}
                self._save(st)
                for vm in started:
                    vm.ready()
            except BaseException:
                self.down(keep_logs=True)
                raise
        self.write_inventory(st)
        say(f"lab {self.name}: inventory {self.inventory}")
        return st

    def down(self, keep_logs: bool = True) -> None:
        st = self.state()
        if not st:
            say(f"lab {self.name}: not up")
            return
        with step(f"lab {self.name}: tear down"):
            keeper = st.get("keeper", {}).get("pid")
            if _lwlab_alive(keeper):  # first: it would start the VMs stopped below again
                os.kill(keeper, signal.SIGTERM)
            for vm in self.vms():
                vm.stop()
            pid = st.get("hub", {}).get("pid")
            if pid and _hub_alive(st):
                os.kill(pid, signal.SIGTERM)
            for f in self.dir.iterdir():
                if keep_logs and f.name.endswith(".serial.log"):
                    continue
                if f.is_dir():
                    shutil.rmtree(f)
                else:
                    f.unlink()
            if not keep_logs:
                shutil.rmtree(self.dir, ignore_errors=True)

    def _start_hub(self, port: int, peers: list[int]) -> int:
        args = ["--port", str(port)]
        for p in peers:
            args += ["--peer", str(p)]
        return self._start_helper("hub", args)

    def _start_helper(self, command: str, args: list[str]) -> int:
        """A lab process in the background (the hub, the keeper), logging to <lab>/<command>.log."""
        argv = [sys.executable, "-m", "lwlab", command, *args]
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        log = open(self.dir / f"{command}.log", "w")  # handed to the child
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True, preexec_fn=qemu.all_cpus)
        time.sleep(0.3)
        if proc.poll() is not None:
            raise SystemExit(f"lwlab: lab {command} failed to start: {(self.dir / f'{command}.log').read_text()}")
        return proc.pid

    def _save(self, st: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(st, indent=2))
        os.replace(tmp, self.state_file)

    # -- inventory -----------------------------------------------------------------------------------
    def write_inventory(self, st: dict) -> None:
        """The lab as a homelab inventory: same groups and variables as ``inventory/`` shows users."""
        lines = [
            "---",
            f"# lastwords lab {self.name!r}: generated by lwlab, same shape as inventory/example",
            "all:",
            "  vars:",
            "    ansible_user: root",
            f"    ansible_ssh_private_key_file: {st['ssh_key']}",
            "    ansible_ssh_common_args: >-",
            "      -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            "    ansible_python_interpreter: /usr/bin/python3",
            "  children:",
        ]
        for group in GROUPS:
            members = [v for v in st["vms"] if v["group"] == group]
            lines += [f"    {group}:", "      hosts:" if members else "      hosts: {}"]
            for v in members:
                lines += [
                    f"        {v['name']}:",
                    "          ansible_host: 127.0.0.1",
                    f"          ansible_port: {v['ssh_port']}",
                    f"          lastwords_ip: {v['lab_ip']}",
                    f"          lastwords_lab_image: {v['image']}",
                    f"          lastwords_lab_serial_log: {self.dir / (v['name'] + '.serial.log')}",
                ]
        self.inventory.write_text("\n".join(lines) + "\n")

    def instance_config(self) -> list[dict]:
        """Molecule's instance config for this lab (what its default driver's create playbook must write)."""
        st = self.state() or {"vms": []}
        return [{"instance": v["name"], "address": "127.0.0.1", "port": str(v["ssh_port"]), "user": "root",
                 "identity_file": st["ssh_key"], "lab_ip": v["lab_ip"], "group": v["group"]}
                for v in st["vms"]]


def _same(have: list[dict], wanted: list[dict]) -> bool:
    keys = ("name", "image", "group", "memory", "lab_ip")
    return all(h.get(k) == w.get(k) for h, w in zip(have, wanted, strict=True) for k in keys
               if k in w) if len(have) == len(wanted) else False


def _hub_alive(st: dict) -> bool:
    return _lwlab_alive(st.get("hub", {}).get("pid"))


def _lwlab_alive(pid: int | None) -> bool:
    """A lab helper process (hub, keeper) runs under ``pid``: pids are reused, so its command line must say lwlab."""
    if not pid:
        return False
    try:
        return b"lwlab" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
