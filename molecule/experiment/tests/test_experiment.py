"""experiment scenario: reproduce a receive-path panic, read its signature, move to the other kernel, confirm.

In file order, on real panics: the host goes to the faulty kernel (6.1.0-47); the test module is built there and
loaded at each boot of that kernel; the soak reproduces the panic round after round (a trace at the receiver and
a vmcore each time, the signature naming the module's function); kernel_changelog is asked about newer kernels;
the kernel role moves the host to 6.1.0-56, where the module does not exist; clean rounds under the same load, and
the verdict with its certainty. Each test acts, then checks (no testinfra fixture: lwtest.host says why).
"""

import base64
import json
import shutil
from pathlib import Path

import lwtest
from phase_rollback import switch

HOST = lwtest.hosts("panic_capture")[0]
RECEIVER = lwtest.hosts("receivers")[0]
FAULTY, FIXED = "6.1.0-47-amd64", "6.1.0-56-amd64"
MODULE_SOURCE = lwtest.PROJECT_DIR / "tests" / "lab" / "rxbug"
# Received on eth1 (the load, from the receiver) before the bug fires, in eth0's receive path at its next frame
# (the controller's SSH): netconsole, on eth1, cannot send an oops raised inside its own NIC's NAPI poll
# (tests/lab/rxbug/lastwords_rxbug.c says why; the lab saw three such oopses reach the receiver as nothing)
AFTER_BYTES = 64 << 20  # a few seconds of iperf3 --reverse at 200 Mbit/s
ROUND = 30  # seconds of load per round
FAULTY_ROUNDS, CLEAN_ROUNDS = 3, 7  # 3 panics in 3, then 7 clean: "fixed" at 95 % (0.040)
PLAYBOOKS = lwtest.PROJECT_DIR / "playbooks"
# the debug vmlinux crash needs, fetched once and kept across runs (the lab's image cache is its neighbour)
DEBUG_DIR = Path.home() / ".cache" / "lastwords" / "debug"
# what collect fetched and crash read, kept after the lab is gone (.lab/ is never committed)
COLLECTED = lwtest.PROJECT_DIR / ".lab" / "experiment-collected"
KEPT = lwtest.PROJECT_DIR / ".lab" / "experiment-report"
UNIT = """[Unit]
Description=lastwords test only: load the receive-path bug module (never outside the lab)
ConditionPathExists=!/proc/vmcore
ConditionKernelVersion={release}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/modprobe lastwords_rxbug after_bytes={after} ifname=eth1 fault_ifname=eth0

[Install]
WantedBy=multi-user.target
"""


def sh(command, timeout=120):
    res = lwtest.ssh(HOST, command, timeout=timeout)
    assert res.returncode == 0, f"{command}: {res.stdout[-2000:]} {res.stderr[-2000:]}"
    return res.stdout.strip()


def report(name, keep_as=None):
    """A report the last playbook wrote; with ``keep_as``, its .md and .json are also kept under KEPT (the
    walkthrough in docs/ quotes them)."""
    path = lwtest.EPHEMERAL / "report" / f"{name}.json"
    if keep_as:
        KEPT.mkdir(parents=True, exist_ok=True)
        for suffix in (".json", ".md"):
            shutil.copyfile(path.with_suffix(suffix), KEPT / f"{keep_as}{suffix}")
    return json.loads(path.read_text())


def soak(rounds, *extra):
    return lwtest.playbook(PLAYBOOKS / "soak.yml", "-e", f"lastwords_hosts={HOST}", "-e", "lastwords_soak_reverse=true",
                           "-e", "lastwords_soak_rate=200M", "-e", f"lastwords_soak_duration={ROUND}",
                           "-e", f"lastwords_soak_rounds={rounds}", *extra, timeout=5400)


def test_the_host_goes_to_the_faulty_kernel():
    switch("previous", "to-faulty", FAULTY, FIXED)


def test_the_test_module_is_built_for_the_faulty_kernel_only():
    sh("mkdir -p /root/rxbug && " + " && ".join(
        f"echo {base64.b64encode((MODULE_SOURCE / name).read_bytes()).decode()} | base64 -d > /root/rxbug/{name}"
        for name in ("lastwords_rxbug.c", "Kbuild")))
    # the headers of the very build that runs (a module built against others would not load), from the mirror
    sh("version=$(dpkg-query -W -f='${Version}' linux-image-" + FAULTY + ") && "
       "DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends gcc make "
       f"linux-headers-{FAULTY}=$version", timeout=1800)
    sh(f"make -C /lib/modules/{FAULTY}/build M=/root/rxbug modules && "
       f"install -D -m 0644 /root/rxbug/lastwords_rxbug.ko /lib/modules/{FAULTY}/updates/lastwords_rxbug.ko && "
       f"depmod -a {FAULTY}", timeout=900)
    unit = base64.b64encode(UNIT.format(release=FAULTY, after=AFTER_BYTES).encode()).decode()
    sh(f"echo {unit} | base64 -d > /etc/systemd/system/lastwords-rxbug.service && systemctl daemon-reload && "
       "systemctl enable --now lastwords-rxbug.service")
    assert "lastwords_rxbug" in sh("lsmod")
    assert sh("modinfo -F vermagic lastwords_rxbug").startswith(FAULTY + " ")
    assert lwtest.ssh(HOST, f"modinfo -k {FIXED} lastwords_rxbug").returncode != 0  # nothing for the other kernel


def test_the_soak_reproduces_the_panic_with_both_kinds_of_evidence():
    res = soak(FAULTY_ROUNDS, "-e", "lastwords_soak_stop_at_panic=false")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out[-4000:]  # the soak fails: the host panicked
    (row,) = report("soak", "1-soak-faulty")["rows"]
    record = row["record"]
    print(f"{HOST} on {FAULTY}: {record['panics']} panics in {record['rounds']} rounds of {ROUND} s, seconds to each "
          f"panic {record['panic_seconds']}, signature {record['keys']}")
    assert (record["kernel"], record["rounds"], record["panics"]) == (FAULTY, FAULTY_ROUNDS, FAULTY_ROUNDS), record
    (key,) = record["keys"]
    assert key.startswith("null-pointer-dereference:lwrx_refill[lastwords_rxbug]:"), key
    # what the receiver holds of the host, as it arrived (the walkthrough in docs/ quotes it)
    KEPT.mkdir(parents=True, exist_ok=True)
    (KEPT / "receiver-exp12.log").write_text(lwtest.ssh(RECEIVER, f"cat /var/log/netconsole/{HOST}.log").stdout)
    # every panic left its vmcore, and each dump's dmesg reads as the same bug; crash opens each vmcore with the
    # kernel's debug vmlinux, which the controller's apt fetches once (linux-image-6.1.0-47-amd64-dbg, ~860 MB)
    res = lwtest.playbook(PLAYBOOKS / "collect.yml", "-e", f"lastwords_hosts={HOST}",
                          "-e", "lastwords_collect_crash=true", "-e", "lastwords_collect_crash_fetch=true",
                          "-e", f"lastwords_collect_debug_dir={DEBUG_DIR}", "-e", f"lastwords_collect_dir={COLLECTED}",
                          timeout=1800)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    collected = report("collect", "2-collect")
    (group,) = [group for group in collected["signatures"] if group["key"] == key]
    assert group["evidence"]["vmcore"] >= FAULTY_ROUNDS and group["evidence"]["trace"] >= FAULTY_ROUNDS, group
    assert group["context"] == "softirq" and group["module"] == "lastwords_rxbug", group
    opened = [row for row in collected["rows"] if row["crash"]]
    assert len(opened) >= FAULTY_ROUNDS, collected["rows"]
    for row in opened:
        print(f"{row['host']} {row['stamp']}: {row['crash']}")
        state = json.loads((Path(row["dir"]) / "crash" / "crash.json").read_text())
        assert state["vmlinux"]["path"].startswith(str(DEBUG_DIR)), state
        bt = next((Path(row["dir"]) / "crash").glob("02-bt.txt")).read_text()
        assert "lwrx_refill" in bt and "[lastwords_rxbug]" in bt, bt
        assert "at lwrx_refill+" in row["crash"], row["crash"]
    lwtest.panic_proven(HOST, f"{FAULTY_ROUNDS} receive-path panics under iperf3 on {FAULTY}: {key}")


def test_kernel_changelog_answers_for_the_signature():
    signature = {"module": "lastwords_rxbug", "function": "lwrx_refill"}
    result = lwtest.module(HOST, "lastwords.panic.kernel_changelog", json.dumps({"signature": signature}))
    print(f"{HOST}: {result['summary']}")
    KEPT.mkdir(parents=True, exist_ok=True)
    (KEPT / "3-kernel_changelog.json").write_text(json.dumps(result, indent=1) + "\n")
    assert result["release"] == FAULTY and result["flavour"] == "amd64", result
    assert result["newer"], result  # the lists offer newer 6.1 builds
    assert result["mention_count"] == 0  # the test module is nobody's upstream driver
    assert "none of their changes mention lastwords_rxbug" in result["summary"], result["summary"]  # or lwrx_refill


def test_the_kernel_role_moves_the_host_to_the_other_kernel():
    switch(FIXED, "to-fixed", FIXED, FAULTY)
    assert "lastwords_rxbug" not in sh("lsmod")


def test_clean_rounds_confirm_the_fix_with_its_certainty():
    res = soak(CLEAN_ROUNDS, "-e", f"lastwords_soak_confirm={FAULTY}")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    soak_report = report("soak", "4-soak-confirm")
    verdict = soak_report["verdicts"][HOST]
    print(f"{HOST}: {verdict['verdict']}: {verdict['text']}")
    assert verdict["verdict"] == "fixed", verdict
    assert verdict["after"] == {"kernel": FIXED, "rounds": CLEAN_ROUNDS, "panics": 0}
    assert verdict["probability"] < 0.05
