"""The lab segment: an Ethernet hub in user space, over UDP on 127.0.0.1 only.

Each VM's second NIC is a QEMU ``-netdev dgram`` whose local end is 127.0.0.1:<its port> and whose remote end is
this hub's port. The hub copies every frame it receives from one VM to every other VM. Nothing leaves loopback,
no multicast group is joined, and the guests see one isolated Ethernet on which their static lab addresses,
ARP and netconsole work as on a real switch.

Run as ``python -m lwlab hub --port H --peer P1 --peer P2 ...``; the lab starts and stops it.
"""

import selectors
import signal
import socket
import sys


def serve(port: int, peers: list[int]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    sock.bind(("127.0.0.1", port))
    targets = [("127.0.0.1", p) for p in peers]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    print(f"hub on 127.0.0.1:{port} for peers {peers}", flush=True)
    while True:
        sel.select()
        while True:
            try:
                frame, src = sock.recvfrom(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except OSError:
                continue
            if src[0] != "127.0.0.1" or src[1] not in peers:
                continue  # only the lab's own VMs take part
            for dst in targets:
                if dst[1] != src[1]:
                    try:
                        sock.sendto(frame, dst)
                    except OSError:
                        pass  # a VM that is down (rebooting QEMU, torn down) just misses frames, like a cable
