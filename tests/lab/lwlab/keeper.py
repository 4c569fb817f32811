"""The lab's keeper: starts a new QEMU for a VM whose guest reset itself.

Every VM runs with ``-no-reboot`` (vm.py says why): a reboot inside the guest ends its QEMU. The keeper, one
process per lab beside the hub, polls the VMs' pids; a VM it has seen running that is gone, without the stop
mark ``stop()`` writes first, is started again on the same disk with its serial log appended to. The guest then
boots cold through its firmware and GRUB, as a machine whose reset cuts power. Bounded: a VM that fails to start
is left off with the reason in the keeper's log, and a VM restarted more than ``MAX_RESTARTS`` times is left off.
"""

import json
import time
from pathlib import Path

from .progress import say
from .vm import VM, VMError

POLL = 0.25  # seconds between looks: a guest's reset to its new QEMU adds about this much to its boot
MAX_RESTARTS = 200


def serve(lab_dir: Path) -> None:
    state_file = lab_dir / "state.json"
    seen: set[str] = set()
    restarts: dict[str, int] = {}
    while state_file.exists():
        try:
            specs = json.loads(state_file.read_text())["vms"]
        except (OSError, ValueError, KeyError):
            time.sleep(POLL)
            continue
        for spec in specs:
            vm = VM(lab_dir, spec)
            if vm.alive():
                seen.add(vm.name)
                continue
            if vm.name not in seen or vm.stopfile.exists():
                continue  # not started yet, or stopped on purpose
            seen.discard(vm.name)
            restarts[vm.name] = restarts.get(vm.name, 0) + 1
            if restarts[vm.name] > MAX_RESTARTS:
                say(f"keeper: {vm.name} reset {MAX_RESTARTS} times; left off")
                continue
            try:
                vm.start(restart=True)
                say(f"keeper: {vm.name} reset itself; started a new QEMU ({restarts[vm.name]})")
            except VMError as exc:
                say(f"keeper: {vm.name} could not be started again, left off: {exc}")
        time.sleep(POLL)
