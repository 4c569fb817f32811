"""lwlab: the lastwords VM lab.

Builds cached Debian images that boot through GRUB from their own disk, boots small labs of them under QEMU
(TCG unless real KVM works), joins them on an isolated Ethernet segment carried over 127.0.0.1, and writes an
Ansible inventory in the same shape a homelab uses (groups ``receivers`` and ``panic_capture``).

Run ``python -m lwlab --help`` with ``tests/lab`` on ``PYTHONPATH`` (the Makefile does).
"""
