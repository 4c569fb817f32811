"""_crash_report: the panic scanner netconsole_log uses, and the summary of a dump's dmesg.

The dmesg texts are shaped as ``makedumpfile --dump-dmesg`` writes them (what Debian's kdump-tools saves as
``dmesg.<stamp>``): one ``[ uptime] text`` line per record. The crash reports are real kernel output: Debian 12
(6.1) and Debian 13 (6.12) sysrq crashes with kdump loaded, a module Oops turned panic, an arm64 Oops, a tainted
kernel, and CONFIG_PRINTK_CALLER's ``[T123]`` prefix.
"""

import os

import pytest

from ansible_collections.lastwords.panic.plugins.module_utils._crash_report import (
    PanicScanner,
    clean_text,
    summarize_dmesg,
)

FILES = os.path.join(os.path.dirname(__file__), "..", "filter", "files")

BOOT_612 = [
    "[    0.000000] Linux version 6.12.38+deb13-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-14"
    " (Debian 14.2.0-19) 14.2.0, GNU ld (GNU Binutils for Debian) 2.44) #1 SMP PREEMPT_DYNAMIC Debian 6.12.38-1"
    " (2025-07-16)",
    "[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-6.12.38+deb13-amd64 root=UUID=4f1c2e0a ro console=ttyS0"
    " net.ifnames=0 crashkernel=256M",
    "[    0.000000] BIOS-provided physical RAM map:",
    "[    9.812001] netconsole: network logging started",
]

SYSRQ_612 = [
    "[ 1200.498000] lastwords: crash drill deb13 20261126T010203",
    "[ 1200.500000] sysrq: Trigger a crash",
    "[ 1200.500310] Kernel panic - not syncing: sysrq triggered crash",
    "[ 1200.500712] CPU: 0 UID: 0 PID: 2211 Comm: bash Kdump: loaded Not tainted 6.12.38+deb13-amd64 #1"
    "  Debian 6.12.38-1",
    "[ 1200.501201] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.3-debian-1.16.3-2 04/01/2014",
    "[ 1200.501700] Call Trace:",
    "[ 1200.501850]  <TASK>",
    "[ 1200.502000]  dump_stack_lvl+0x5d/0x80",
    "[ 1200.502250]  panic+0x118/0x2e0",
    "[ 1200.502500]  sysrq_handle_crash+0x1a/0x20",
    "[ 1200.502750]  __handle_sysrq.cold+0x9c/0xd0",
    "[ 1200.503000]  write_sysrq_trigger+0x5f/0x80",
    "[ 1200.503250]  proc_reg_write+0x55/0xa0",
    "[ 1200.503500]  vfs_write+0xf8/0x420",
    "[ 1200.503600]  ? srso_return_thunk+0x5/0x5f",
    "[ 1200.503750]  ksys_write+0x6d/0xf0",
    "[ 1200.504000]  do_syscall_64+0x82/0x190",
    "[ 1200.504250]  entry_SYSCALL_64_after_hwframe+0x76/0x7e",
    "[ 1200.505000] RIP: 0033:0x7f8a2e2a8a00",
    "[ 1200.505250] Code: 0d 00 f7 d8 64 89 02 48 c7 c0 ff ff ff ff eb b7 0f 1f 00 80 3d e1 f5 0d 00 00 74 17 b8 01",
    "[ 1200.505500] RSP: 002b:00007ffc4fa6f6d8 EFLAGS: 00000202 ORIG_RAX: 0000000000000001",
    "[ 1200.505750] RAX: ffffffffffffffda RBX: 0000000000000002 RCX: 00007f8a2e2a8a00",
    "[ 1200.506000]  </TASK>",
    "[ 1200.506300] Kernel Offset: 0x2c600000 from 0xffffffff81000000 (relocation range:"
    " 0xffffffff80000000-0xffffffffbfffffff)",
]

OOPS_61 = [
    "[    0.000000] Linux version 6.1.0-47-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1)"
    " 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)",
    "[ 4520.990001] speakup: unloading",
    "[ 4521.004211] BUG: kernel NULL pointer dereference, address: 0000000000000080",
    "[ 4521.004730] #PF: supervisor write access in kernel mode",
    "[ 4521.005102] #PF: error_code(0x0002) - not-present page",
    "[ 4521.005467] PGD 0 P4D 0 ",
    "[ 4521.005690] Oops: 0002 [#1] PREEMPT SMP NOPTI",
    "[ 4521.006001] CPU: 1 PID: 204 Comm: modprobe Not tainted 6.1.0-47-amd64 #1  Debian 6.1.158-1",
    "[ 4521.006540] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS 1.16.2-debian-1.16.2-1 04/01/2014",
    "[ 4521.007101] RIP: 0010:mutex_lock+0x14/0x30",
    "[ 4521.008001] RSP: 0018:ffffa8c3c05f7e28 EFLAGS: 00010246",
    "[ 4521.009900] Call Trace:",
    "[ 4521.010101]  <TASK>",
    "[ 4521.010250]  spk_ttyio_release+0x19/0x70 [speakup]",
    "[ 4521.010560]  synth_release.part.6+0xac/0xc0 [speakup]",
    "[ 4521.010880]  synth_remove+0x56/0x60 [speakup]",
    "[ 4521.011170]  __x64_sys_delete_module+0x156/0x250",
    "[ 4521.011470]  ? fpregs_assert_state_consistent+0x1d/0x50",
    "[ 4521.011790]  do_syscall_64+0x37/0x90",
    "[ 4521.012050]  entry_SYSCALL_64_after_hwframe+0x63/0xcd",
    "[ 4521.012360] RIP: 0033:0x7f2b6c52aa27",
    "[ 4521.013900]  </TASK>",
    "[ 4521.014100] Modules linked in: speakup_audptr(-) speakup netconsole nls_ascii nls_cp437 vfat fat ext4",
    "[ 4521.014500] CR2: 0000000000000080",
    "[ 4521.014800] ---[ end trace 0000000000000000 ]---",
    "[ 4521.015100] RIP: 0010:mutex_lock+0x14/0x30",
    "[ 4521.016800] Kernel panic - not syncing: Fatal exception",
    "[ 4521.017300] Kernel Offset: 0x1c600000 from 0xffffffff81000000 (relocation range:"
    " 0xffffffff80000000-0xffffffffbfffffff)",
]

ARM64_OOPS = [
    "[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x413fd0c1]",
    "[    0.000000] Linux version 6.1.0-27-arm64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0,"
    " GNU ld (GNU Binutils for Debian) 2.40) #1 SMP Debian 6.1.115-1 (2024-11-01)",
    "[   74.183547] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000",
    "[   74.183590] Mem abort info:",
    "[   74.183597]   ESR = 0x0000000096000045",
    "[   74.183868] Internal error: Oops: 0000000096000045 [#1] PREEMPT SMP",
    "[   74.183881] Modules linked in: netconsole configfs",
    "[   74.184035] CPU: 2 PID: 1290 Comm: kworker/2:1 Not tainted 6.1.0-27-arm64 #1  Debian 6.1.115-1",
    "[   74.184047] Hardware name: QEMU KVM Virtual Machine, BIOS 0.0.0 02/06/2015",
    "[   74.184053] pstate: 60400005 (nZCv daif +PAN -UAO -TCO -DIT -SSBS BTYPE=--)",
    "[   74.184063] pc : sysrq_handle_crash+0x24/0x30",
    "[   74.184081] lr : __handle_sysrq+0x90/0x1c0",
    "[   74.184091] sp : ffff80000b5fbc90",
    "[   74.184096] x29: ffff80000b5fbc90 x28: ffff0000c2a2d7c0 x27: 0000000000000000",
    "[   74.184232] Call trace:",
    "[   74.184236]  sysrq_handle_crash+0x24/0x30",
    "[   74.184247]  __handle_sysrq+0x90/0x1c0",
    "[   74.184256]  write_sysrq_trigger+0x80/0xa4",
    "[   74.184265]  proc_reg_write+0xa8/0xfc",
    "[   74.184276]  vfs_write+0xd4/0x2b0",
    "[   74.184285]  ksys_write+0x70/0x100",
    "[   74.184293]  __arm64_sys_write+0x24/0x30",
    "[   74.184302]  invoke_syscall+0x50/0x120",
    "[   74.184361] Code: d2800001 b9000020 d65f03c0 d503233f (39000020)",
    "[   74.184368] ---[ end trace 0000000000000000 ]---",
    "[   74.184378] Kernel panic - not syncing: Oops: Fatal exception",
    "[   74.184390] SMP: stopping secondary CPUs",
]


def text(*parts):
    return "\n".join(line for part in parts for line in part) + "\n"


def test_sysrq_crash_with_kdump_loaded_612():
    summary = summarize_dmesg(text(BOOT_612, SYSRQ_612), frames=5)
    assert summary["panic"] is True
    assert summary["reason"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert summary["first_line"] == "sysrq: Trigger a crash"
    assert summary["call_trace"] == ["dump_stack_lvl+0x5d/0x80", "panic+0x118/0x2e0", "sysrq_handle_crash+0x1a/0x20",
                                     "__handle_sysrq.cold+0x9c/0xd0", "write_sysrq_trigger+0x5f/0x80"]
    assert summary["trace_frames"] == 10  # the `? srso_return_thunk` guess left out
    assert summary["kernel_release"] == "6.12.38+deb13-amd64"
    assert summary["kernel_build"] == "6.12.38-1"  # `Debian 6.12.38-1` after `#1 SMP`, not gcc's `Debian 14.2.0-19`
    assert (summary["cpu"], summary["pid"], summary["comm"]) == (0, 2211, "bash")
    assert summary["tainted"] == "Not tainted"
    assert summary["crashed_in"] is None  # user space (RIP: 0033)
    assert summary["uptime_seconds"] == pytest.approx(1200.50031)
    assert summary["lines"] == len(BOOT_612) + len(SYSRQ_612)


def test_unreliable_frames_can_be_kept_with_their_mark():
    summary = summarize_dmesg(text(SYSRQ_612), frames=0, unreliable="keep")
    assert "? srso_return_thunk+0x5/0x5f" in summary["call_trace"]
    assert summary["trace_frames"] == len(summary["call_trace"]) == 11


def test_release_comes_from_the_cpu_line_when_the_boot_lines_were_overwritten():
    summary = summarize_dmesg(text(SYSRQ_612))  # the ring buffer wrapped: no `Linux version`
    assert summary["kernel_release"] == "6.12.38+deb13-amd64"
    assert summary["kernel_build"] is None  # only `Linux version` says it
    assert len(summary["call_trace"]) == 8  # the default


def test_oops_turned_panic_reports_the_oops_and_where_it_crashed():
    summary = summarize_dmesg(text(OOPS_61), frames=3)
    assert summary["reason"] == "Kernel panic - not syncing: Fatal exception"
    assert summary["first_line"] == "BUG: kernel NULL pointer dereference, address: 0000000000000080"
    assert summary["call_trace"] == ["spk_ttyio_release+0x19/0x70 [speakup]",
                                     "synth_release.part.6+0xac/0xc0 [speakup]", "synth_remove+0x56/0x60 [speakup]"]
    assert summary["crashed_in"] == "mutex_lock+0x14/0x30"
    assert (summary["comm"], summary["pid"], summary["cpu"]) == ("modprobe", 204, 1)
    assert summary["kernel_release"] == "6.1.0-47-amd64"


def test_an_oops_without_a_panic_is_summed_up_from_its_first_line():
    oops = OOPS_61[: OOPS_61.index("[ 4521.015100] RIP: 0010:mutex_lock+0x14/0x30")]
    summary = summarize_dmesg(text(oops))
    assert summary["panic"] is False
    assert summary["reason"] == summary["first_line"] == (
        "BUG: kernel NULL pointer dereference, address: 0000000000000080")
    assert summary["call_trace"][0] == "spk_ttyio_release+0x19/0x70 [speakup]"
    assert summary["uptime_seconds"] == pytest.approx(4521.004211)
    assert summary["crashed_in"] == "mutex_lock+0x14/0x30"


def test_arm64_oops():
    summary = summarize_dmesg(text(ARM64_OOPS))
    assert summary["reason"] == "Kernel panic - not syncing: Oops: Fatal exception"
    assert summary["first_line"].startswith("Unable to handle kernel NULL pointer dereference")
    assert summary["crashed_in"] == "sysrq_handle_crash+0x24/0x30"
    assert summary["call_trace"][:2] == ["sysrq_handle_crash+0x24/0x30", "__handle_sysrq+0x90/0x1c0"]
    assert summary["comm"] == "kworker/2:1"
    assert summary["kernel_release"] == "6.1.0-27-arm64"


def test_tainted_kernel_and_printk_caller_prefix():
    lines = [
        "[  812.104355][ T2467] Kernel panic - not syncing: sysrq triggered crash",
        "[  812.104380][ T2467] CPU: 1 PID: 2467 Comm: insmod Tainted: G           OE      6.1.0-27-amd64 #1"
        "  Debian 6.1.115-1",
        "[  812.104402][ T2467] Call Trace:",
        "[  812.104410][ T2467]  <TASK>",
        "[  812.104421][ T2467]  [<ffffffff81a1b2c4>] dump_stack_lvl+0x44/0x5c",
        "[  812.104433][ T2467]  [<ffffffff81a0d6e1>] ? panic+0x118/0x2ec",
        "[  812.104445][ T2467]  [<ffffffffc0a12016>] crashme_init+0x16/0x1000 [crashme]",
        "[  812.104480][ T2467]  </TASK>",
    ]
    summary = summarize_dmesg(text(lines), unreliable="keep")
    assert summary["reason"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert summary["tainted"] == "Tainted: G OE"
    assert summary["kernel_release"] == "6.1.0-27-amd64"
    assert summary["comm"] == "insmod"
    assert summary["call_trace"] == ["dump_stack_lvl+0x44/0x5c", "? panic+0x118/0x2ec",
                                     "crashme_init+0x16/0x1000 [crashme]"]


def test_a_log_without_a_crash():
    summary = summarize_dmesg(text(BOOT_612))
    assert summary["panic"] is False
    assert summary["reason"] is None and summary["call_trace"] == [] and summary["cpu"] is None
    assert summary["kernel_release"] == "6.12.38+deb13-amd64"
    assert summarize_dmesg("")["lines"] == 0


def test_the_last_panic_counts_when_the_log_holds_two():
    summary = summarize_dmesg(text(OOPS_61, SYSRQ_612))
    assert summary["reason"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert summary["comm"] == "bash"


@pytest.mark.parametrize("frames, unreliable", [(-1, "drop"), ("8", "drop"), (True, "drop"), (8, "mark")])
def test_bad_options(frames, unreliable):
    with pytest.raises(ValueError):
        summarize_dmesg("", frames=frames, unreliable=unreliable)


def test_a_real_kdump_dmesg_file():
    """What kdump-tools saved in the lab, recorded as is: Debian 12 (6.1.0-56-amd64, TCG), crash drill through sysrq
    (playbooks/crash_drill.yml), /var/crash/202611261013/dmesg.202611261013 (makedumpfile --dump-dmesg)."""
    with open(os.path.join(FILES, "dmesg-bookworm-sysrq.txt"), encoding="utf-8", errors="surrogateescape") as handle:
        summary = summarize_dmesg(handle.read())
    assert summary["panic"] is True
    assert summary["reason"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert summary["first_line"] == "sysrq: Trigger a crash"
    # the "? _printk" frame the kernel marks unreliable is left out; the first frames are the panic's own path
    assert summary["call_trace"][:5] == ["dump_stack_lvl+0x44/0x5c", "panic+0x118/0x2f4",
                                         "sysrq_handle_crash+0x16/0x20", "__handle_sysrq.cold+0x44/0x11c",
                                         "write_sysrq_trigger+0x24/0x40"]
    assert summary["trace_frames"] == 10
    assert summary["kernel_release"] == "6.1.0-56-amd64"
    assert summary["kernel_build"] == "6.1.192-2"
    assert (summary["cpu"], summary["pid"], summary["comm"]) == (0, 2490, "sh")
    assert summary["tainted"] == "Not tainted"
    assert summary["uptime_seconds"] == 418.836004
    assert summary["lines"] == 578


def test_the_scanner_is_the_one_netconsole_log_uses():
    from ansible_collections.lastwords.panic.plugins.modules import netconsole_log

    assert netconsole_log.PanicScanner is PanicScanner
    scanner = PanicScanner(tail_lines=2)
    for number, line in enumerate(["sysrq: Trigger a crash", "Kernel panic - not syncing: sysrq triggered crash",
                                   "Call Trace:", " panic+0x118/0x2ec", "---[ end Kernel panic - not syncing ]---"]):
        scanner.feed(line, line, "t%d" % number, 100.0 + number)
    scanner.finish()
    (panic,) = scanner.panics
    assert panic["complete"] is True and panic["call_trace"] == ["panic+0x118/0x2ec"]
    assert panic["excerpt"] == [" panic+0x118/0x2ec", "---[ end Kernel panic - not syncing ]---"]


def test_clean_text_makes_undecodable_bytes_printable():
    assert clean_text(b"caf\xe9".decode("utf-8", "surrogateescape")) == "caf\ufffd"


def _scan(lines):
    scanner = PanicScanner(3, signatures=True)
    for line in lines:
        scanner.feed(line.split("] ", 1)[-1], line, None, None)
    scanner.finish()
    return scanner.panics


def test_an_oops_cut_off_by_kdump_is_a_death_with_no_panic_line():
    """The lab's test module oopsing in softirq with kdump loaded: the log ends at CR2, no end line, no panic
    line (x86's oops_end ran crash_kexec first). The receiver's scanner reports it all the same."""
    traces = os.path.join(os.path.dirname(__file__), "traces")
    with open(os.path.join(traces, "x86_64-6.1-lastwords_rxbug-kdump.txt")) as handle:
        lines = handle.read().splitlines()
    (panic,) = _scan(lines)
    assert panic["panic_line"] is False and panic["complete"] is False
    assert panic["reason"] == panic["first_line"] == "BUG: kernel NULL pointer dereference, address: 0000000000000008"
    assert panic["call_trace"][0] == "__netif_receive_skb_core.constprop.0+0x45a/0xef0"
    assert panic["signature"]["key"].startswith("null-pointer-dereference:lwrx_rcv[lastwords_rxbug]:")
    # the same oops that the kernel lived through (its end line came) is no death, and a panic line after it
    # makes one panic, not two
    survived = lines + ["[  252.156300] ---[ end trace 0000000000000000 ]---", "[  260.000000] life goes on"]
    assert _scan(survived) == []
    (panicked,) = _scan(survived[:-1] + ["[  252.156400] Kernel panic - not syncing: Fatal exception in interrupt"])
    assert panicked["panic_line"] is True and panicked["first_line"] == panic["first_line"]


def test_a_soft_lockup_cut_off_is_no_death():
    lines = ["[  100.000000] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:1:88]",
             "[  100.000100] CPU: 1 PID: 88 Comm: kworker/1:1 Not tainted 6.1.0-47-amd64 #1  Debian 6.1.170-3",
             "[  100.000200] RIP: 0010:queued_spin_lock_slowpath+0x44/0x1d0"]
    assert _scan(lines) == []  # no die counter: the kernel goes on after it
