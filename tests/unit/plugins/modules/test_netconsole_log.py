"""netconsole_log on receiver files written to temporary directories.

The files hold what rsyslog writes for each UDP datagram, `<RFC 3339 time> <raw message>`: a Debian 12
(6.1) host sending plain netconsole while `echo c > /proc/sysrq-trigger` crashes it with kdump loaded (the
kernel jumps to the crash kernel right after the trace, so no end line), an Oops turned panic without kdump,
and a Debian 13 (6.12) host sending extended records with the release in front, a fragmented record, a
reordered, a duplicated and two lost records, then a reboot.
"""

import datetime
import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lastwords.panic.plugins.modules import netconsole_log
from ansible_collections.lastwords.panic.plugins.modules.netconsole_log import (
    LogError,
    SequenceTracker,
    StampParser,
    analyze_log,
    messages,
    offset_since,
    run,
)

DAY = "2026-11-25T"
CANARY = "lastwords-canary-6f1c9a2e"

# Debian 12, 6.1.0-47-amd64, QEMU q35 guest, kdump-tools loaded; plain netconsole (one line per datagram).
SYSRQ_PANIC_KDUMP = [
    ("21:36:49.301129", "[    9.812001] netconsole: network logging started"),
    ("21:38:14.611872", "[   95.120331] " + CANARY),
    ("21:40:01.123456", "[  123.456789] sysrq: Trigger a crash"),
    ("21:40:01.123792", "[  123.457112] Kernel panic - not syncing: sysrq triggered crash"),
    ("21:40:01.124203", "[  123.457539] CPU: 0 PID: 1234 Comm: bash Kdump: loaded Not tainted 6.1.0-47-amd64 #1"
                        "  Debian 6.1.158-1"),
    ("21:40:01.124771", "[  123.458120] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS"
                        " 1.16.2-debian-1.16.2-1 04/01/2014"),
    ("21:40:01.125340", "[  123.458690] Call Trace:"),
    ("21:40:01.125521", "[  123.458871]  <TASK>"),
    ("21:40:01.125680", "[  123.459030]  dump_stack_lvl+0x44/0x5c"),
    ("21:40:01.125946", "[  123.459296]  panic+0x118/0x2ec"),
    ("21:40:01.126174", "[  123.459524]  sysrq_handle_crash+0x16/0x20"),
    ("21:40:01.126440", "[  123.459790]  __handle_sysrq.cold+0x43/0x11b"),
    ("21:40:01.126721", "[  123.460071]  write_sysrq_trigger+0x24/0x40"),
    ("21:40:01.126992", "[  123.460342]  proc_reg_write+0x56/0xa0"),
    ("21:40:01.127247", "[  123.460597]  vfs_write+0xc7/0x3f0"),
    ("21:40:01.127481", "[  123.460831]  ? __do_sys_newfstatat+0x35/0x60"),
    ("21:40:01.127756", "[  123.461106]  ksys_write+0x6b/0xf0"),
    ("21:40:01.127997", "[  123.461347]  do_syscall_64+0x55/0xb0"),
    ("21:40:01.128248", "[  123.461598]  ? exit_to_user_mode_prepare+0x40/0x1e0"),
    ("21:40:01.128553", "[  123.461903]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8"),
    ("21:40:01.128865", "[  123.462215] RIP: 0033:0x7f3c5a6f2240"),
    ("21:40:01.129112", "[  123.462462] Code: 40 00 48 8b 15 c1 9b 0d 00 f7 d8 64 89 02 48 c7 c0 ff ff ff ff eb b7 0f"
                        " 1f 00 80 3d a1 23 0e 00 00 74 17 b8 01 00 00 00 0f 05 <48> 3d 00 f0 ff ff 77 58 c3 0f 1f"
                        " 80 00 00 00 00 48 83 ec 28 48 89"),
    ("21:40:01.130262", "[  123.463612] RSP: 002b:00007ffd2b3a6e28 EFLAGS: 00000202 ORIG_RAX: 0000000000000001"),
    ("21:40:01.130737", "[  123.464087] RAX: ffffffffffffffda RBX: 0000000000000002 RCX: 00007f3c5a6f2240"),
    ("21:40:01.131190", "[  123.464540] RDX: 0000000000000002 RSI: 000055d1c1c3ae90 RDI: 0000000000000001"),
    ("21:40:01.131643", "[  123.464993] RBP: 000055d1c1c3ae90 R08: 0000000000000007 R09: 0000000000000073"),
    ("21:40:01.132096", "[  123.465446] R10: 0000000000000000 R11: 0000000000000202 R12: 0000000000000002"),
    ("21:40:01.132549", "[  123.465899] R13: 00007f3c5a7cd760 R14: 0000000000000002 R15: 00007f3c5a7c89e0"),
    ("21:40:01.133002", "[  123.466352]  </TASK>"),
    # 77 s later the host is back; netconsole's module parameter replays the boot log.
    ("21:41:18.402113", "[    0.000000] Linux version 6.1.0-47-amd64 (debian-kernel@lists.debian.org)"
                        " (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40)"
                        " #1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)"),
    ("21:41:18.402190", "[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-47-amd64"
                        " root=UUID=4f1c2e0a-9b7d-4c59-8f3e-2a6d1b0c9e55 ro console=ttyS0 net.ifnames=0"
                        " crashkernel=256M"),
    ("21:41:18.402266", "[    9.640118] netconsole: network logging started"),
]

SYSRQ_TRACE = [
    "dump_stack_lvl+0x44/0x5c",
    "panic+0x118/0x2ec",
    "sysrq_handle_crash+0x16/0x20",
    "__handle_sysrq.cold+0x43/0x11b",
    "write_sysrq_trigger+0x24/0x40",
    "proc_reg_write+0x56/0xa0",
    "vfs_write+0xc7/0x3f0",
    "? __do_sys_newfstatat+0x35/0x60",
    "ksys_write+0x6b/0xf0",
    "do_syscall_64+0x55/0xb0",
    "? exit_to_user_mode_prepare+0x40/0x1e0",
    "entry_SYSCALL_64_after_hwframe+0x6e/0xd8",
]

# Debian 12 without kdump: an Oops in a module, panic_on_oops, and the kernel's end line.
OOPS_PANIC = [
    ("03:12:44.500101", "[ 4521.004211] BUG: kernel NULL pointer dereference, address: 0000000000000080"),
    ("03:12:44.500620", "[ 4521.004730] #PF: supervisor write access in kernel mode"),
    ("03:12:44.500992", "[ 4521.005102] #PF: error_code(0x0002) - not-present page"),
    ("03:12:44.501357", "[ 4521.005467] PGD 0 P4D 0 "),
    ("03:12:44.501580", "[ 4521.005690] Oops: 0002 [#1] PREEMPT SMP NOPTI"),
    ("03:12:44.501891", "[ 4521.006001] CPU: 1 PID: 204 Comm: modprobe Not tainted 6.1.0-47-amd64 #1"
                        "  Debian 6.1.158-1"),
    ("03:12:44.502430", "[ 4521.006540] Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS"
                        " 1.16.2-debian-1.16.2-1 04/01/2014"),
    ("03:12:44.502991", "[ 4521.007101] RIP: 0010:mutex_lock+0x14/0x30"),
    ("03:12:44.503890", "[ 4521.008001] RSP: 0018:ffffa8c3c05f7e28 EFLAGS: 00010246"),
    ("03:12:44.505791", "[ 4521.009900] Call Trace:"),
    ("03:12:44.505992", "[ 4521.010101]  <TASK>"),
    ("03:12:44.506141", "[ 4521.010250]  spk_ttyio_release+0x19/0x70 [speakup]"),
    ("03:12:44.506451", "[ 4521.010560]  synth_release.part.6+0xac/0xc0 [speakup]"),
    ("03:12:44.506771", "[ 4521.010880]  synth_remove+0x56/0x60 [speakup]"),
    ("03:12:44.507061", "[ 4521.011170]  __x64_sys_delete_module+0x156/0x250"),
    ("03:12:44.507361", "[ 4521.011470]  ? fpregs_assert_state_consistent+0x1d/0x50"),
    ("03:12:44.507681", "[ 4521.011790]  do_syscall_64+0x37/0x90"),
    ("03:12:44.507941", "[ 4521.012050]  entry_SYSCALL_64_after_hwframe+0x63/0xcd"),
    ("03:12:44.508251", "[ 4521.012360] RIP: 0033:0x7f2b6c52aa27"),
    ("03:12:44.509791", "[ 4521.013900]  </TASK>"),
    ("03:12:44.509991", "[ 4521.014100] Modules linked in: speakup_audptr(-) speakup netconsole nls_ascii"
                        " nls_cp437 vfat fat ext4 crc16 mbcache jbd2 virtio_net net_failover failover"),
    ("03:12:44.510391", "[ 4521.014500] CR2: 0000000000000080"),
    ("03:12:44.510691", "[ 4521.014800] ---[ end trace 0000000000000000 ]---"),
    ("03:12:44.510991", "[ 4521.015100] RIP: 0010:mutex_lock+0x14/0x30"),
    ("03:12:44.512691", "[ 4521.016800] Kernel panic - not syncing: Fatal exception"),
    ("03:12:44.513191", "[ 4521.017300] Kernel Offset: 0x1c600000 from 0xffffffff81000000 (relocation range:"
                        " 0xffffffff80000000-0xffffffffbfffffff)"),
    ("03:12:44.513791", "[ 4521.017900] ---[ end Kernel panic - not syncing: Fatal exception ]---"),
]

RELEASE = "6.12.38+deb13-amd64"
MODULES = (
    "Modules linked in: netconsole nft_chain_nat nf_nat nf_conntrack nf_defrag_ipv6 nf_defrag_ipv4 nft_compat"
    " nf_tables libcrc32c nfnetlink binfmt_misc intel_rapl_msr intel_rapl_common kvm_amd ccp kvm irqbypass"
    " ghash_clmulni_intel sha512_ssse3 sha256_ssse3 sha1_ssse3 aesni_intel gf128mul crypto_simd cryptd"
    " iTCO_wdt intel_pmc_bxt iTCO_vendor_support watchdog pcspkr virtio_balloon button evdev joydev serio_raw"
    " sg virtio_console loop efi_pstore configfs qemu_fw_cfg ip_tables x_tables autofs4 ext4 crc16 mbcache jbd2"
    " crc32c_generic sd_mod t10_pi crc64_rocksoft crc64 crc_t10dif crct10dif_generic virtio_net net_failover"
    " failover virtio_scsi virtio_blk ahci libahci crct10dif_pclmul crct10dif_common libata crc32_pclmul"
    " crc32c_intel psmouse scsi_mod virtio_pci virtio_pci_legacy_dev virtio_pci_modern_dev virtio i2c_i801"
    " i2c_smbus lpc_ich scsi_common virtio_ring xhci_pci xhci_hcd usbcore usb_common bochs drm_vram_helper"
    " drm_ttm_helper ttm drm_kms_helper drm floppy"
)


def ext(seq, level, ts_usec, text, release=RELEASE):
    header = "%d,%d,%d,-" % (level, seq, ts_usec)
    return ("%s,%s" % (release, header) if release else header) + ";" + text


def fragments(seq, level, ts_usec, body, release=RELEASE):
    """Packets as netconsole sends a record longer than 1000 bytes (see test_netconsole.kernel_fragments)."""
    prefix = "%s,%d,%d,%d,-" % (release, level, seq, ts_usec)
    data, packets, sent = body.encode(), [], 0
    while sent < len(data):
        head = "%s,ncfrag=%d/%d;" % (prefix, sent, len(data))
        chunk = data[sent : sent + 1000 - len(head)]
        packets.append(head + chunk.decode())
        sent += len(chunk)
    return packets


SYSRQ_EXT_TRACE = [
    "dump_stack_lvl+0x5d/0x80",
    "panic+0x118/0x2e0",
    "sysrq_handle_crash+0x1a/0x20",
    "__handle_sysrq.cold+0x9c/0xd0",
    "write_sysrq_trigger+0x5f/0x80",
    "proc_reg_write+0x55/0xa0",
    "vfs_write+0xf8/0x420",
    "ksys_write+0x6d/0xf0",
    "do_syscall_64+0x82/0x190",
    "entry_SYSCALL_64_after_hwframe+0x76/0x7e",
]


def extended_log():
    """Debian 13 host, extended + release. Returns the (time, message) list."""
    lines = [
        ("09:00:00.100000", ext(912, 6, 9812001, "netconsole: network logging started")),
        ("09:01:35.420001", ext(914, 5, 95220012, "audit: type=1400 audit(1795770095.418:31): apparmor=\"STATUS\""
                                                  " operation=\"profile_load\" name=\"lsb_release\" pid=731")),
        ("09:01:35.420377", ext(913, 12, 95120331, CANARY)),  # arrived after 914
        ("09:05:01.000120", ext(915, 4, 301000120, "WARNING: CPU: 1 PID: 0 at net/sched/sch_generic.c:525"
                                                   " dev_watchdog+0x207/0x210")),
    ]
    for index, packet in enumerate(fragments(916, 4, 301000340, MODULES)):
        lines.append(("09:05:01.00%04d" % (500 + index), packet))
    lines += [
        ("09:05:01.001200", ext(917, 4, 301001020, "CPU: 1 UID: 0 PID: 0 Comm: swapper/1 Not tainted %s #1"
                                                   "  Debian 6.12.38-1" % RELEASE)),
        ("09:05:01.001900", ext(918, 4, 301001710, "---[ end trace 0000000000000000 ]---")),
        # 919 and 920 never arrive.
        ("09:20:00.500000", ext(921, 6, 1200500000, "sysrq: Trigger a crash")),
        ("09:20:00.500310", ext(922, 0, 1200500310, "Kernel panic - not syncing: sysrq triggered crash")),
        ("09:20:00.500712", ext(923, 4, 1200500712, "CPU: 0 UID: 0 PID: 2211 Comm: bash Kdump: loaded Not tainted"
                                                    " %s #1  Debian 6.12.38-1" % RELEASE)),
        ("09:20:00.501201", ext(924, 4, 1200501201, "Hardware name: QEMU Standard PC (Q35 + ICH9, 2009), BIOS"
                                                    " 1.16.3-debian-1.16.3-2 04/01/2014")),
        ("09:20:00.501700", ext(925, 4, 1200501700, "Call Trace:")),
        ("09:20:00.501850", ext(926, 4, 1200501850, " <TASK>")),
    ]
    seq, ts = 927, 1200502000
    for frame in SYSRQ_EXT_TRACE:
        lines.append(("09:20:00.50%04d" % (ts - 1200500000), ext(seq, 4, ts, " " + frame)))
        if seq == 928:
            lines.append(("09:20:00.50%04d" % (ts - 1200500000 + 5), ext(seq, 4, ts, " " + frame)))  # duplicate
        seq, ts = seq + 1, ts + 250
    lines += [
        ("09:20:00.505000", ext(937, 4, 1200505000, "RIP: 0033:0x7f8a2e2a8a00")),
        ("09:20:00.505250", ext(938, 4, 1200505250, "Code: 0d 00 f7 d8 64 89 02 48 c7 c0 ff ff ff ff eb b7 0f 1f 00"
                                                    " 80 3d e1 f5 0d 00 00 74 17 b8 01 00 00 00 0f 05 <48> 3d 00 f0"
                                                    " ff ff 77 58 c3")),
        ("09:20:00.505500", ext(939, 4, 1200505500, "RSP: 002b:00007ffc4fa6f6d8 EFLAGS: 00000202 ORIG_RAX:"
                                                    " 0000000000000001")),
        ("09:20:00.505750", ext(940, 4, 1200505750, "RAX: ffffffffffffffda RBX: 0000000000000002 RCX:"
                                                    " 00007f8a2e2a8a00")),
        ("09:20:00.506000", ext(941, 4, 1200506000, " </TASK>")),
        # The host comes back and netconsole (module parameter) replays the new boot's log from 0.
        ("09:21:20.100000", ext(0, 5, 0, "Linux version %s (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-14"
                                         " (Debian 14.2.0-19) 14.2.0, GNU ld (GNU Binutils for Debian) 2.44) #1 SMP"
                                         " PREEMPT_DYNAMIC Debian 6.12.38-1 (2025-07-16)" % RELEASE)),
        ("09:21:20.100050", ext(1, 6, 0, "Command line: BOOT_IMAGE=/boot/vmlinuz-%s root=UUID=4f1c2e0a-9b7d-4c59-8f3e"
                                         "-2a6d1b0c9e55 ro console=ttyS0 net.ifnames=0 crashkernel=256M" % RELEASE)),
        ("09:21:20.100090", ext(2, 6, 0, "BIOS-provided physical RAM map:")),
        # 3 and 4 were below the console log level: never sent.
        ("09:21:20.100200", ext(5, 6, 12, "NX (Execute Disable) protection: active")),
    ]
    return lines


def write_log(path, entries, day=DAY, zone="+00:00"):
    with open(path, "w") as handle:
        for clock, message in entries:
            handle.write("%s%s%s %s\n" % (day, clock, zone, message))
    return str(path)


def epoch_of(clock, day=DAY):
    """Epoch seconds of `day` + `clock` in UTC, computed independently of the module."""
    whole, _dot, fraction = clock.partition(".")
    moment = datetime.datetime.strptime(day + whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp() + float("0." + (fraction or "0"))


@pytest.fixture
def log_dir(tmp_path):
    directory = tmp_path / "netconsole"
    directory.mkdir()
    return directory


# --------------------------------------------------------------------------------------------- plain


def test_plain_sysrq_panic_with_kdump(log_dir):
    path = write_log(log_dir / "web1.log", SYSRQ_PANIC_KDUMP)
    report = analyze_log(path, canary=CANARY, tail_lines=5, now=epoch_of("21:42:18.402266"))
    assert report["format"] == "plain"
    assert report["lines"] == len(SYSRQ_PANIC_KDUMP)
    assert report["size"] == os.path.getsize(path)
    (panic,) = report["panics"]
    assert panic["reason"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert panic["first_line"] == "sysrq: Trigger a crash"
    assert panic["call_trace"] == SYSRQ_TRACE
    assert panic["time"] == DAY + "21:40:01.123792+00:00"
    assert panic["epoch"] == pytest.approx(epoch_of("21:40:01.123792"))
    assert panic["complete"] is False  # kdump took over before the end line
    assert panic["excerpt"][-1] == "[  123.466352]  </TASK>"
    assert len(panic["excerpt"]) == 5
    signature = panic["signature"]
    assert (signature["kind"], signature["function"], signature["module"], signature["context"]) == (
        "sysrq", "sysrq_handle_crash", None, "process")
    assert signature["key"].startswith("sysrq:sysrq_handle_crash:")
    assert report["canary_found"] is True
    assert report["canary_count"] == 1
    assert report["canary_time"] == DAY + "21:38:14.611872+00:00"
    assert report["resets"] == [
        {"time": DAY + "21:41:18.402113+00:00", "epoch": pytest.approx(epoch_of("21:41:18.402113")),
         "from_uptime": 123.466352, "to_uptime": 0.0}
    ]
    assert report["last_message_time"] == DAY + "21:41:18.402266+00:00"
    assert report["age_seconds"] == pytest.approx(60.0)
    assert (report["records"], report["seq_gaps"]) == (0, [])


def test_oops_then_panic_takes_the_trace_before_the_panic_line(log_dir):
    path = write_log(log_dir / "nas.log", OOPS_PANIC)
    (panic,) = analyze_log(path, tail_lines=3)["panics"]
    assert panic["first_line"] == "BUG: kernel NULL pointer dereference, address: 0000000000000080"
    assert panic["reason"] == "Kernel panic - not syncing: Fatal exception"
    assert panic["call_trace"] == [
        "spk_ttyio_release+0x19/0x70 [speakup]",
        "synth_release.part.6+0xac/0xc0 [speakup]",
        "synth_remove+0x56/0x60 [speakup]",
        "__x64_sys_delete_module+0x156/0x250",
        "? fpregs_assert_state_consistent+0x1d/0x50",
        "do_syscall_64+0x37/0x90",
        "entry_SYSCALL_64_after_hwframe+0x63/0xcd",
    ]
    assert panic["complete"] is True
    assert panic["excerpt"] == [line for _clock, line in OOPS_PANIC[-3:]]
    # the signature reads the whole report, from its first line, not only the excerpt
    signature = panic["signature"]
    assert (signature["kind"], signature["function"], signature["suspect_module"], signature["release"]) == (
        "null-pointer-dereference", "mutex_lock", "speakup", "6.1.0-47-amd64")
    assert signature["reason"] == "Kernel panic - not syncing: Fatal exception"


def test_stale_crash_start_is_not_the_panics_first_line(log_dir):
    entries = [
        ("10:00:00.000000", "[  100.000000] BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:1:88]"),
        ("10:05:00.000000", "[  400.000000] Kernel panic - not syncing: hung_task: blocked tasks"),
    ]
    (panic,) = analyze_log(write_log(log_dir / "a.log", entries))["panics"]
    assert panic["first_line"] == "Kernel panic - not syncing: hung_task: blocked tasks"
    assert panic["call_trace"] == []
    assert panic["excerpt"][-1] == entries[-1][1]


def test_two_panics_and_no_excerpt(log_dir):
    entries = list(OOPS_PANIC) + [
        ("03:20:00.000001", "[    3.100000] random: crng init done"),
        ("03:30:00.000001", "[  600.000001] Kernel panic - not syncing: VFS: Unable to mount root fs on"
                            " unknown-block(0,0)"),
    ]
    report = analyze_log(write_log(log_dir / "b.log", entries), tail_lines=0)
    assert [p["reason"] for p in report["panics"]] == [
        "Kernel panic - not syncing: Fatal exception",
        "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)",
    ]
    assert all(p["excerpt"] == [] for p in report["panics"])
    assert len(report["resets"]) == 1


# --------------------------------------------------------------------------------------------- extended


def test_extended_gaps_reorder_duplicate_fragments_reset_and_panic(log_dir):
    entries = extended_log()
    path = write_log(log_dir / "db1.log", entries)
    report = analyze_log(path, canary=CANARY, tail_lines=4)
    assert report["format"] == "extended"
    assert report["kernel_release"] == RELEASE
    assert report["records"] == 7 + 21 + 4  # 912-918, 921-941, then 0, 1, 2 and 5; fragments once, duplicate once
    assert report["duplicates"] == 1
    assert report["late_records"] == 1
    assert report["seq_gaps"] == [[919, 920], [3, 4]]
    assert (report["seq_gaps_total"], report["missing_records"]) == (2, 4)
    assert report["resets"] == [
        {"time": DAY + "09:21:20.100000+00:00", "epoch": pytest.approx(epoch_of("09:21:20.100000")),
         "from_seq": 941, "to_seq": 0, "release": RELEASE}
    ]
    assert report["incomplete_records"] == 0
    assert report["canary_found"] is True
    assert report["canary_time"] == DAY + "09:01:35.420377+00:00"
    (panic,) = report["panics"]
    assert panic["first_line"] == "sysrq: Trigger a crash"
    assert panic["reason"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert panic["call_trace"] == SYSRQ_EXT_TRACE
    assert panic["excerpt"][-1] == " </TASK>"
    assert report["lines"] == len(entries)


def test_fragment_that_never_completes_is_counted(log_dir):
    first, _second = fragments(50, 4, 7000, MODULES)
    report = analyze_log(write_log(log_dir / "c.log", [("08:00:00.000000", first)]))
    assert (report["records"], report["incomplete_records"]) == (1, 1)


@pytest.mark.parametrize(
    "stored",
    [
        ["6,301,5002,-;virtio_net virtio1 eth1: link up#012 SUBSYSTEM=net#012 DEVICE=n3#012"],
        ["6,301,5002,-;virtio_net virtio1 eth1: link up", " SUBSYSTEM=net", " DEVICE=n3"],
    ],
    ids=["rsyslog-escaped", "raw-newlines"],
)
def test_dictionary_lines_whichever_way_rsyslog_stored_them(log_dir, stored):
    path = log_dir / "d.log"
    with open(path, "w") as handle:
        handle.write(DAY + "08:00:00.000000+00:00 " + stored[0] + "\n")
        for continuation in stored[1:]:
            handle.write(continuation + "\n")
        handle.write(DAY + "08:00:01.000000+00:00 6,302,6001,-;net n3: canary-in-dict\n")
    report = analyze_log(str(path), canary="SUBSYSTEM=net")
    assert report["records"] == 2
    assert report["seq_gaps"] == []
    assert report["canary_count"] == 1  # the dictionary is searched too
    assert report["lines"] == len(stored) + 1


def test_mixed_formats_are_reported(log_dir):
    path = write_log(log_dir / "e.log", [("08:00:00.000000", "[    1.000000] plain"),
                                         ("08:00:01.000000", "6,1,2,-;extended")])
    assert analyze_log(path)["format"] == "mixed"


# --------------------------------------------------------------------------------------------- since, big files


def test_since_reads_only_the_end_of_a_large_file(log_dir):
    entries = []
    start = epoch_of("00:00:00.000000")
    for index in range(6000):
        seconds = index * 30
        clock = "%02d:%02d:%02d.000000" % (seconds // 3600 % 24, seconds // 60 % 60, seconds % 60)
        day = "2026-11-%02d" % (25 + seconds // 86400) + "T"
        text = "[%7d.000000] audit: type=1400 audit(%d.123:%d): apparmor=\"DENIED\" operation=\"open\"" % (
            seconds, start + seconds, index)
        if index == 100:
            text = "[%7d.000000] Kernel panic - not syncing: early" % seconds
        if index == 5900:
            text = "[%7d.000000] %s" % (seconds, CANARY)
        entries.append((day, clock, text))
    path = log_dir / "big.log"
    with open(path, "w") as handle:
        for day, clock, text in entries:
            handle.write("%s%s+00:00 %s\n" % (day, clock, text))
    since = start + 5800 * 30
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        assert offset_since(handle, size, since) > size * 0.9
    report = analyze_log(str(path), canary=CANARY, since=since)
    assert report["lines"] == 200  # lines 5800..5999, the one stamped exactly `since` included
    assert report["panics"] == []
    assert report["canary_found"] is True
    whole = analyze_log(str(path))
    assert whole["lines"] == 6000
    assert len(whole["panics"]) == 1


def test_since_after_the_last_message_still_reports_it(log_dir):
    path = write_log(log_dir / "web1.log", SYSRQ_PANIC_KDUMP)
    report = analyze_log(path, since=epoch_of("23:00:00.000000"))
    assert report["lines"] == 0
    assert report["last_message_time"] == DAY + "21:41:18.402266+00:00"
    assert report["panics"] == []


def test_messages_joins_unstamped_lines_and_handles_crlf(tmp_path):
    path = tmp_path / "m.log"
    path.write_bytes(b"orphan before any stamp\n" + (DAY + "08:00:00Z first\r\n  more\n").encode()
                     + (DAY + "08:00:01.5+02:00 second\n").encode())
    with open(path, "rb") as handle:
        found = list(messages(handle))
    assert found == [
        (DAY + "08:00:00Z", epoch_of("08:00:00.0"), "first\n  more"),
        (DAY + "08:00:01.5+02:00", epoch_of("06:00:01.5"), "second"),
    ]


def test_stamp_parser_offsets():
    parser = StampParser()
    assert parser.parse(DAY + "21:40:01.123456+00:00 x")[1] == pytest.approx(epoch_of("21:40:01.123456"))
    assert parser.parse(DAY + "22:40:01.123456+0100 x")[1] == pytest.approx(epoch_of("21:40:01.123456"))
    assert parser.parse(DAY + "16:10:01-05:30 x")[1] == pytest.approx(epoch_of("21:40:01.0"))
    assert parser.parse("Nov 25 21:40:01 web1 kernel: x") is None


# --------------------------------------------------------------------------------------------- sequence tracker


def test_sequence_tracker_rules():
    tracker = SequenceTracker(window=8, max_gaps=2)
    assert [tracker.observe(seq, seq * 10) for seq in (5, 6, 9)] == ["start", "next", "gap"]
    assert tracker.observe(7, 70) == "late"
    assert tracker.open_gaps == [[8, 8]]
    assert tracker.observe(6, 60) == "duplicate"
    assert tracker.observe(8, 80) == "late"
    assert (tracker.missing, tracker.open_gaps) == (0, [])
    assert tracker.observe(20, 200) == "gap"
    assert tracker.observe(40, 400) == "gap"
    assert tracker.open_gaps == [[21, 39]]  # [10, 19] fell out of the reorder window
    assert tracker.observe(15, 150) == "reset"  # no longer fillable: the sender started again
    assert tracker.observe(30, 300) == "gap"
    assert tracker.observe(50, 500) == "gap"
    assert tracker.gaps() == [[16, 29], [31, 49]]  # capped to the latest two
    assert tracker.gap_total == 4
    assert tracker.missing == 10 + 19 + 14 + 19


def test_sequence_tracker_same_number_new_boot_is_a_reset():
    tracker = SequenceTracker()
    for seq in range(900, 910):
        tracker.observe(seq, 1000 + seq)
    assert tracker.observe(905, 12) == "reset"  # same number, another timestamp: a new boot


# --------------------------------------------------------------------------------------------- run() and main()


def module_params(log_dir, **overrides):
    base = {"log_dir": str(log_dir), "hosts": None, "canary": None, "since": None, "tail_lines": 40}
    base.update(overrides)
    return base


def test_run_reports_every_file_or_the_asked_hosts(log_dir):
    write_log(log_dir / "web1.log", SYSRQ_PANIC_KDUMP)
    write_log(log_dir / "db1.log", extended_log())
    (log_dir / "web1.log.1").write_text("rotated, not read\n")
    (log_dir / "empty.log").write_text("")
    result = run(module_params(log_dir))
    assert sorted(result["hosts"]) == ["db1", "empty", "web1"]
    assert result["missing_hosts"] == []
    assert result["hosts"]["empty"]["lines"] == 0
    assert result["hosts"]["empty"]["last_message_time"] is None
    assert result["changed"] is False

    asked = run(module_params(log_dir, hosts=["web1", "db2"]))
    assert sorted(asked["hosts"]) == ["db2", "web1"]
    assert asked["missing_hosts"] == ["db2"]
    assert asked["hosts"]["db2"] == {"file": str(log_dir / "db2.log"), "exists": False}


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"hosts": ["../../etc/passwd"]}, "hosts"),
        ({"hosts": [""]}, "hosts"),
        ({"tail_lines": -1}, "tail_lines"),
    ],
)
def test_run_refuses_bad_options(log_dir, overrides, words):
    with pytest.raises(LogError, match=words):
        run(module_params(log_dir, **overrides))


def test_run_without_log_dir_says_where_to_run(tmp_path):
    with pytest.raises(LogError) as info:
        run(module_params(tmp_path / "nowhere"))
    assert "log_dir" in str(info.value)
    assert "receiver" in str(info.value)


def test_main_in_check_mode_returns_the_same_data(log_dir, capsys):
    write_log(log_dir / "web1.log", SYSRQ_PANIC_KDUMP)
    outputs = []
    for check in (False, True):
        args = {"log_dir": str(log_dir), "canary": CANARY, "_ansible_check_mode": check}
        with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
            netconsole_log.main()
        assert exit_info.value.code == 0
        outputs.append(json.loads(capsys.readouterr().out))
    for output in outputs:
        output.pop("invocation", None)
        for host in output["hosts"].values():
            host.pop("age_seconds")
    assert outputs[0] == outputs[1]
    assert outputs[1]["changed"] is False
    assert outputs[1]["hosts"]["web1"]["panics"][0]["call_trace"] == SYSRQ_TRACE


def test_main_failure_is_json(tmp_path, capsys):
    with patch_module_args({"log_dir": str(tmp_path / "nowhere")}), pytest.raises(SystemExit) as exit_info:
        netconsole_log.main()
    result = json.loads(capsys.readouterr().out)
    assert exit_info.value.code == 1
    assert result["failed"] is True
    assert "does not exist" in result["msg"]
