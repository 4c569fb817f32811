"""Command line of the lastwords VM lab.

    python -m lwlab build [IMAGE ...]           build (or confirm cached) images: bookworm, trixie
    python -m lwlab up --name LAB --vm NAME:IMAGE:GROUP[:mem=MiB][:ip=ADDR] ...   boot a lab (reused if already up)
    python -m lwlab down --name LAB              tear it down by pid (serial logs kept)
    python -m lwlab status                       list labs and their VMs
    python -m lwlab instance-config --name LAB   Molecule instance config as JSON
    python -m lwlab ssh --name LAB VM [CMD ...]  open a shell / run a command on a lab VM
"""

import argparse
import json
import os
import sys

from . import hub, image, keeper
from .lab import Lab, parse_vm
from .progress import say
from .vm import VM, VMError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lwlab", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build or confirm cached images")
    b.add_argument("images", nargs="*", default=sorted(image.RECIPES))
    u = sub.add_parser("up", help="boot a lab")
    u.add_argument("--name", required=True)
    u.add_argument("--vm", action="append", required=True, type=parse_vm, dest="vms")
    d = sub.add_parser("down", help="tear a lab down")
    d.add_argument("--name", required=True)
    d.add_argument("--purge", action="store_true", help="also remove serial logs")
    sub.add_parser("status", help="list labs")
    ic = sub.add_parser("instance-config", help="Molecule instance config of a lab, as JSON")
    ic.add_argument("--name", required=True)
    s = sub.add_parser("ssh", help="ssh into a lab VM")
    s.add_argument("--name", required=True)
    s.add_argument("vm")
    s.add_argument("command", nargs=argparse.REMAINDER)
    w = sub.add_parser("wait-ssh", help="wait (bounded) until a lab VM answers on SSH")
    w.add_argument("--name", required=True)
    w.add_argument("vm")
    w.add_argument("--timeout", type=int, default=None)
    k = sub.add_parser("keeper", help=argparse.SUPPRESS)
    k.add_argument("--name", required=True)
    h = sub.add_parser("hub", help=argparse.SUPPRESS)
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--peer", type=int, action="append", default=[])
    args = p.parse_args(argv)

    try:
        if args.cmd == "build":
            for name in args.images:
                image.ensure(name)
        elif args.cmd == "up":
            lab = Lab(args.name)
            lab.up(args.vms)
            print(lab.inventory)
        elif args.cmd == "down":
            Lab(args.name).down(keep_logs=not args.purge)
        elif args.cmd == "status":
            from . import paths
            for d in sorted(paths.labs_dir().iterdir()):
                lab = Lab(d.name)
                if lab.state():
                    state = "up" if lab.running() else "DOWN (partly)"
                    vms = ", ".join(f"{v.name}{'' if v.alive() else '(dead)'}" for v in lab.vms())
                    print(f"{d.name}: {state}: {vms}; inventory {lab.inventory}")
        elif args.cmd == "instance-config":
            print(json.dumps(Lab(args.name).instance_config(), indent=2))
        elif args.cmd == "ssh":
            vm = _find(args.name, args.vm)
            os.execvp("ssh", vm.ssh_argv(*args.command))  # noqa: S606 - an interactive ssh, argv list
        elif args.cmd == "wait-ssh":
            vm = _find(args.name, args.vm)
            say(f"vm {vm.name}: SSH after {vm.wait_ssh(args.timeout):.0f}s")
        elif args.cmd == "hub":
            hub.serve(args.port, args.peer)
        elif args.cmd == "keeper":
            keeper.serve(Lab(args.name).dir)
    except VMError as e:
        print(f"lwlab: {e}", file=sys.stderr)
        return 1
    return 0


def _find(lab_name: str, vm_name: str) -> VM:
    for vm in Lab(lab_name).vms():
        if vm.name == vm_name:
            return vm
    raise SystemExit(f"lwlab: no VM {vm_name!r} in lab {lab_name!r}")


if __name__ == "__main__":
    sys.exit(main())
