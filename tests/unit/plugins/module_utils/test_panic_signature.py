"""panic_signature: what killed a kernel, where, in which context, and a key that groups the same bug.

The traces under ``traces/`` are real kernel output, as the kernel printed it, taken from public bug reports
(mail quoting and the mailer's line wrapping undone, nothing else changed):

* ``x86_64-3.0-css_is_ancestor.txt``: 3.0, the old x86-64 shape (``IP: [<...>]``, ``Pid: N, comm:`` line,
  ``[<address>]`` frames), a NULL dereference in the core kernel (memcg, reported by Johannes Weiner);
* ``x86_64-xen-4.4-bcache.txt``: 4.4 as a Xen PV guest (``RIP: e030:``), a paste that starts at ``IP:``, in a
  module (``[bcache]``) from a workqueue;
* ``arm-4.19-validate_desc.txt``: 32-bit arm, ``PC is at`` and ``(callee) from (caller)`` frames;
* ``x86_64-5.15-ixgbe-ksoftirqd.txt``: Ubuntu 5.15, a NIC driver's NULL dereference in its receive path
  (``ixgbe_poll`` under ``net_rx_action``, run by ksoftirqd), tainted ``IOE`` (out-of-tree driver from DKMS);
* ``i386-3.13-usb_wwan.txt``: Ubuntu 3.13 on i386, ``EIP is at``, a paste without its first line;
* ``i386-5.2-soft-lockup.txt``: the same soft lockup reported twice, then an RCU stall's backtrace.

``x86_64-6.1-lastwords_rxbug-kdump.txt`` is the lab's: the experiment scenario's test module (tests/lab/rxbug) on
Debian 12's 6.1.0-47, as the VM's serial console printed it, the NULL dereference in the receive path under
virtio_net's NAPI poll (softirq, in the idle task), tainted OE; kdump loaded, so the log ends at ``CR2:`` with no
panic line. That build of the module let GCC's IPA-SRA move the faulting load into the caller, lwrx_rcv.

The lab's own crash drills (Debian 12 and 13, sysrq with kdump loaded) come from the files and lists that
test_crash_report.py uses; the syslog, journal, receiver and ``dmesg -T`` shapes are the lab's real Debian 12
dump dmesg with each log's prefix put in front of every line, as that log writes it.
"""

import os

import pytest
from test_crash_report import ARM64_OOPS, BOOT_612, FILES, OOPS_61, SYSRQ_612, text

from ansible_collections.lastwords.panic.plugins.module_utils._crash_report import (
    PanicScanner,
    kernel_lines,
    panic_signature,
    summarize_dmesg,
    summary_and_signature,
)

TRACES = os.path.join(os.path.dirname(__file__), "traces")
LAB_DMESG = os.path.join(FILES, "dmesg-bookworm-sysrq.txt")


def read(name):
    with open(os.path.join(TRACES, name)) as handle:
        return handle.read()


def lab_dmesg():
    with open(LAB_DMESG) as handle:
        return handle.read()


# file -> kind, function, offset, module, suspect, context, release, comm, pid, taint flags
RECORDED = {
    "x86_64-3.0-css_is_ancestor.txt": (
        "null-pointer-dereference", "css_is_ancestor", "0x20/0x70", None, None, "process",
        "3.0.0-mm1-00188-gf38d32b", "rmdir", 19677, "W"),
    "x86_64-xen-4.4-bcache.txt": (
        "oops", "update_writeback_rate", "0x59/0x3a0", "bcache", "bcache", "process", "4.4.0+10", "kworker/8:0",
        1005702, ""),
    "arm-4.19-validate_desc.txt": (
        "bad-memory-access", "validate_desc", "0x28/0x80", None, None, None, "4.19.72", "swapper/0", 1, ""),
    "x86_64-5.15-ixgbe-ksoftirqd.txt": (
        "null-pointer-dereference", "ixgbe_xmit_xdp_ring", "0x1b/0x1c0", "ixgbe", "ixgbe", "softirq",
        "5.15.0-48-generic", "ksoftirqd/65", 408, "IOE"),
    "i386-3.13-usb_wwan.txt": (
        "oops", "usb_wwan_write", "0x10e/0x2c0", "usb_wwan", "usb_wwan", "process", "3.13.0-24-generic",
        "ModemManager", 783, "W"),
    "x86_64-6.1-lastwords_rxbug-kdump.txt": (
        "null-pointer-dereference", "lwrx_rcv", "0x5b/0x68", "lastwords_rxbug", "lastwords_rxbug", "softirq",
        "6.1.0-47-amd64", "swapper/0", 0, "OE"),
    "i386-5.2-soft-lockup.txt": (
        "soft-lockup", "queued_spin_lock_slowpath", "0x44/0x1d0", None, None, "process", "5.2.0-next-20190708+",
        "WorkerPool/7703", 7703, "DL"),
}
FIELDS = ("kind", "function", "offset", "module", "suspect_module", "context", "release", "comm", "pid",
          "taint_flags")


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_traces(name):
    signature = panic_signature(read(name))
    assert signature["found"] is True
    assert tuple(signature[field] for field in FIELDS) == RECORDED[name]
    assert signature["frames"], "the first reliable frames"
    assert not any(frame.startswith("?") for frame in signature["frames"])
    label = signature["function"] + ("[%s]" % signature["module"] if signature["module"] else "")
    assert signature["key"].startswith("%s:%s:" % (signature["kind"], label))


def test_a_nic_drivers_receive_path_reads_as_the_story_tells_it():
    signature = panic_signature(read("x86_64-5.15-ixgbe-ksoftirqd.txt"))
    assert signature["reason"] == "BUG: kernel NULL pointer dereference, address: 0000000000000058"
    assert signature["panic"] is False  # the report was an Oops; the box lived on
    assert signature["site"] == "ixgbe_xmit_xdp_ring+0x1b/0x1c0 [ixgbe]"
    assert signature["frames"][:3] == ["ixgbe_poll+0x103e/0x1280 [ixgbe]", "__napi_poll+0x30/0x160",
                                       "net_rx_action+0x11c/0x270"]
    assert signature["hardware"] == "Dell Inc. PowerEdge R640/0W23H8, BIOS 2.5.4 01/13/2020"
    assert signature["taints"] == ["I: firmware bug worked around", "O: out-of-tree module loaded",
                                   "E: unsigned module loaded"]
    assert signature["summary"] == ("NULL pointer dereference in ixgbe_xmit_xdp_ring [ixgbe] (softirq) on "
                                    "5.15.0-48-generic")


def test_the_lab_test_modules_receive_path_panic_with_kdump_loaded():
    signature = panic_signature(read("x86_64-6.1-lastwords_rxbug-kdump.txt"))
    assert signature["reason"] == "BUG: kernel NULL pointer dereference, address: 0000000000000008"
    assert signature["panic"] is False  # kdump took over in the oops: no "Kernel panic - not syncing" line
    assert signature["frames"][:4] == ["__netif_receive_skb_core.constprop.0+0x45a/0xef0",
                                       "__netif_receive_skb_list_core+0x13a/0x2c0",
                                       "netif_receive_skb_list_internal+0x1cd/0x300",
                                       "napi_gro_complete.constprop.0+0x145/0x1a0"]
    assert signature["summary"] == ("NULL pointer dereference in lwrx_rcv [lastwords_rxbug] (softirq) on "
                                    "6.1.0-47-amd64")


def test_the_lab_drills_on_two_kernels_and_two_releases_share_one_key():
    bookworm = panic_signature(lab_dmesg())
    trixie = panic_signature(text(BOOT_612, SYSRQ_612))
    for signature, release, offset in ((bookworm, "6.1.0-56-amd64", "0x16/0x20"),
                                       (trixie, "6.12.38+deb13-amd64", "0x1a/0x20")):
        assert signature["kind"] == "sysrq"
        assert signature["reason"] == "Kernel panic - not syncing: sysrq triggered crash"
        assert signature["function"] == "sysrq_handle_crash"
        assert signature["offset"] == offset
        assert signature["module"] is None
        assert signature["context"] == "process"
        assert signature["release"] == release
    assert bookworm["key"] == trixie["key"]  # offsets and `.cold` clones differ; the bug does not


def test_an_oops_turned_panic_names_the_fault_and_the_module_it_was_working_for():
    signature = panic_signature(text(OOPS_61))
    assert (signature["kind"], signature["function"], signature["module"]) == (
        "null-pointer-dereference", "mutex_lock", None)
    assert signature["suspect_module"] == "speakup"
    assert signature["reason"] == "Kernel panic - not syncing: Fatal exception"
    assert signature["first_line"] == "BUG: kernel NULL pointer dereference, address: 0000000000000080"
    assert signature["frames"][0] == "spk_ttyio_release+0x19/0x70 [speakup]"


def test_arm64_pc():
    signature = panic_signature(text(ARM64_OOPS))
    assert (signature["kind"], signature["function"], signature["offset"], signature["release"]) == (
        "null-pointer-dereference", "sysrq_handle_crash", "0x24/0x30", "6.1.0-27-arm64")
    assert signature["reason"] == "Kernel panic - not syncing: Oops: Fatal exception"


def test_the_same_lockup_twice_is_one_key_and_a_different_bug_is_another():
    log = read("i386-5.2-soft-lockup.txt").splitlines(True)
    second = next(i for i, line in enumerate(log) if i and "soft lockup" in line)
    first, again = panic_signature("".join(log[:second])), panic_signature("".join(log[second:]))
    assert (first["offset"], again["offset"]) == ("0x40/0x1d0", "0x44/0x1d0")
    assert first["key"] == again["key"]
    keys = [panic_signature(read(name))["key"] for name in sorted(RECORDED)]
    keys += [panic_signature(text(OOPS_61))["key"], panic_signature(lab_dmesg())["key"]]
    assert len(set(keys)) == len(keys)


def test_a_trace_that_lost_its_lower_frames_keeps_the_key():
    lines = lab_dmesg().splitlines(True)
    cut = next(i for i, line in enumerate(lines) if "sysrq_handle_crash+" in line) + 1
    short = panic_signature("".join(lines[:cut]))
    assert short["frames"][-1] == "sysrq_handle_crash+0x16/0x20"
    assert short["key"] == panic_signature(lab_dmesg())["key"]


def _shapes(dmesg):
    """The lab's dmesg as each kind of log carries it, with another program's lines mixed in."""
    lines = dmesg.splitlines()
    shapes = {}
    shapes["rsyslog"] = ["2026-11-26T10:13:%02d.%06d+00:00 deb12 kernel: %s" % (i % 60, i, line)
                         for i, line in enumerate(lines)]
    shapes["bsd-syslog"] = ["Nov 26 10:13:%02d deb12 kernel: %s" % (i % 60, line) for i, line in enumerate(lines)]
    # the journal keeps the text without the kernel's uptime stamp
    bare = [line.split("] ", 1)[1] if line.startswith("[") else line for line in lines]
    shapes["journal"] = ["Nov 26 10:13:%02d deb12 kernel: %s" % (i % 60, line) for i, line in enumerate(bare)]
    shapes["journal-iso"] = ["2026-11-26T10:13:%02d+0000 deb12 kernel: %s" % (i % 60, line)
                             for i, line in enumerate(bare)]
    shapes["short-monotonic"] = [line.replace("] ", "] deb12 kernel: ", 1) for line in lines]
    shapes["dmesg-T"] = ["[Thu Nov 26 10:13:%02d 2026] %s" % (i % 60, line) for i, line in enumerate(bare)]
    shapes["kmsg-levels"] = ["<4>%s" % line for line in lines]
    shapes["receiver-plain"] = ["2026-11-26T10:13:%02d.%06d+00:00 %s" % (i % 60, i, line)
                                for i, line in enumerate(lines)]
    shapes["receiver-extended"] = ["2026-11-26T10:13:%02d.%06d+00:00 6.1.0-56-amd64,4,%d,%d,-;%s"
                                   % (i % 60, i, i, 418000000 + i, line) for i, line in enumerate(bare)]
    for name in ("rsyslog", "bsd-syslog", "journal"):
        shapes[name][-5:-5] = ["Nov 26 10:13:59 deb12 systemd[1]: Started session-4.scope - Session 4 of user root.",
                               "Nov 26 10:13:59 deb12 sshd[2481]: Accepted publickey for root from 10.77.0.1"]
    return {name: "\n".join(shape) + "\n" for name, shape in shapes.items()}


@pytest.mark.parametrize("shape", sorted(_shapes("x\n")))
def test_every_log_shape_gives_the_same_signature(shape):
    expected = panic_signature(lab_dmesg())
    signature = panic_signature(_shapes(lab_dmesg())[shape])
    for field in ("kind", "reason", "function", "offset", "module", "context", "release", "comm", "pid",
                  "hardware", "frames", "key"):
        assert signature[field] == expected[field], field


def test_kernel_lines_keep_the_indentation_and_drop_other_programs():
    lines = kernel_lines("Nov 26 10:13:02 deb12 kernel: [  418.838648]  panic+0x118/0x2f4\n"
                         "Nov 26 10:13:02 deb12 systemd[1]: Started foo.service.\n"
                         "2026-11-26T10:13:02.1+00:00 [  418.9] netpoll: netconsole: local port 6665\n")
    assert lines == [(418.838648, " panic+0x118/0x2f4"), (418.9, "netpoll: netconsole: local port 6665")]


# Panic and first lines as the kernel prints them (kernel/hung_task.c, kernel/watchdog.c, mm/oom_kill.c,
# init/do_mounts.c, kernel/exit.c, lib/bug.c, arch/x86/kernel/traps.c).
KINDS = [
    (["INFO: task jbd2/sda1-8:312 blocked for more than 120 seconds.",
      "Kernel panic - not syncing: hung_task: blocked tasks"], "hung-task", None),
    (["Out of memory: Killed process 1234 (java) total-vm:8123456kB",
      "Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled"], "out-of-memory", None),
    (["Kernel panic - not syncing: System is deadlocked on memory"], "out-of-memory", None),
    (["kernel BUG at mm/slub.c:4017!", "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI",
      "RIP: 0010:kfree+0x1e4/0x200", "Kernel panic - not syncing: Fatal exception"], "bug", "mm/slub.c:4017"),
    (["general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP PTI",
      "RIP: 0010:__list_del_entry_valid+0x25/0xc0", "Kernel panic - not syncing: Fatal exception in interrupt"],
     "general-protection-fault", None),
    (["Watchdog detected hard LOCKUP on cpu 3", "Kernel panic - not syncing: Hard LOCKUP"], "hard-lockup", None),
    (["watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [iperf3:2211]",
      "Kernel panic - not syncing: softlockup: hung tasks"], "soft-lockup", None),
    (["Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"], "no-root-fs", None),
    (["Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"], "init-exited", None),
    (["Kernel panic - not syncing: panic_on_warn set ..."], "warning", None),
    (["BUG: scheduling while atomic: swapper/0/0/0x00000002"], "bug", None),
]


@pytest.mark.parametrize("lines,kind,location", KINDS)
def test_kinds(lines, kind, location):
    signature = panic_signature("\n".join(lines) + "\n")
    assert (signature["kind"], signature["location"]) == (kind, location)
    assert signature["key"].startswith(kind + ":")


def test_the_same_panic_without_a_function_groups_by_its_reason_with_numbers_left_out():
    one = panic_signature("Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n")
    two = panic_signature("Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009\n")
    other = panic_signature("Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n")
    assert one["function"] is None
    assert one["key"] == two["key"] != other["key"]


def test_a_log_without_a_crash_has_no_signature():
    signature = panic_signature("[    1.0] Linux version 6.1.0-56-amd64 (x) #1 SMP\n[    2.0] netconsole: started\n")
    assert signature["found"] is False
    assert (signature["kind"], signature["key"], signature["release"]) == (None, None, "6.1.0-56-amd64")


def test_the_scanner_gives_each_panic_of_a_receivers_file_its_own_signature():
    scanner = PanicScanner(5, signatures=True)
    for line in text(OOPS_61).splitlines() + ["[ 4600.0] reboot"] + lab_dmesg().splitlines():
        body = line.split("] ", 1)[1] if line.startswith("[") else line
        scanner.feed(body, line, None, None)
    scanner.finish()
    assert [panic["signature"]["kind"] for panic in scanner.panics] == ["null-pointer-dereference", "sysrq"]
    assert [panic["signature"]["key"] for panic in scanner.panics] == [
        panic_signature(text(OOPS_61))["key"], panic_signature(lab_dmesg())["key"]]
    assert all("_lines" not in panic for panic in scanner.panics)
    plain = PanicScanner(0)
    plain.feed("Kernel panic - not syncing: x", "x", None, None)
    plain.finish()
    assert "signature" not in plain.panics[0]


def test_one_read_gives_the_summary_and_the_signature_both_readers_give():
    text = lab_dmesg()
    assert summary_and_signature(text, frames=3) == (summarize_dmesg(text, frames=3), panic_signature(text))
