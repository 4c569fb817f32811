# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reports of the crash drill, the soak and collect: one row per host (or dump) from the modules' results.

Kept in Python, not Jinja, like the readiness report: every rule that makes a drill or a soak fail is unit-tested
on real module results, and the playbooks stay lists of plain tasks.
"""

from __future__ import annotations

import os
import time

from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.filter.iperf3 import iperf3_result
from ansible_collections.lastwords.panic.plugins.filter.readiness import human_bytes, receiver_answers, render_table
from ansible_collections.lastwords.panic.plugins.module_utils._crash_report import summary_and_signature

SYSRQ_REASON = "sysrq triggered crash"


# ---------------------------------------------------------------------------------------------
# Shared
# ---------------------------------------------------------------------------------------------


def _capture(result):
    """The `capture` dict of a registered capture_facts result, or {} when it did not run or failed."""
    if not isinstance(result, dict) or result.get("failed") or result.get("skipped") or result.get("unreachable"):
        return {}
    capture = result.get("capture")
    return capture if isinstance(capture, dict) else {}


def _seconds(value, digits=1):
    if value is None:
        return "-"
    return ("%." + str(digits) + "f s") % value


def new_dumps(after, before=None):
    """Dumps in `after` (capture_facts' `dumps`) that `before` did not have, oldest first.

    A dump is new when its name is new, or when the directory of the same name changed (kdump-tools names dumps by
    the minute, so two panics in one minute share a directory).
    """
    if after is None:
        return []
    if not isinstance(after, list) or not isinstance(before or [], list):
        raise AnsibleFilterError("new_dumps: expected two lists of capture_facts dumps")
    seen = dict((dump.get("name"), dump.get("mtime")) for dump in before or [] if isinstance(dump, dict))
    fresh = [dump for dump in after if isinstance(dump, dict)
             and (dump.get("name") not in seen or seen[dump.get("name")] != dump.get("mtime"))]
    return sorted(fresh, key=lambda dump: (dump.get("name") or "", dump.get("mtime") or 0))


def _vmcore_files(dump):
    """The dump files of a dump directory, as capture_facts counts them (`dump.*`, `vmcore*`, not dmesg)."""
    return [name for name in sorted(dump.get("files") or [])
            if (name.startswith("dump.") or name.startswith("vmcore")) and "dmesg" not in name
            and "incomplete" not in name]


def _dmesg_files(dump):
    """The dmesg files of a dump, systemd-pstore's ``dmesg.txt`` (a pstore record's parts joined) first."""
    return sorted((name for name in dump.get("files") or [] if "dmesg" in name),
                  key=lambda name: (name != "dmesg.txt", name))


# ---------------------------------------------------------------------------------------------
# Crash drill
# ---------------------------------------------------------------------------------------------

DRILL_COLUMNS = (
    ("host", "HOST"),
    ("verdict", "VERDICT"),
    ("trace", "TRACE ON RECEIVER"),
    ("to_trace", "TRIGGER->TRACE"),
    ("vmcore", "VMCORE ON HOST"),
    ("dump_size", "DUMP SIZE"),
    ("to_return", "TRIGGER->BACK"),
    ("boot", "BOOT ID"),
)


def _drill_trace(host, data, answers, expect):
    """(found dict or None, problem or None): this drill's panic on the receivers, the earliest one."""
    if not answers:
        return None, "no receiver was asked (is the receivers group empty?)"
    candidates, unasked = [], []
    for name, (ok, msg, hosts) in sorted(answers.items()):
        if not ok:
            unasked.append("%s %s" % (name, msg))
            continue
        entry = hosts.get(host) or {}
        marker = entry.get("canary_epoch") if entry.get("canary_found") else None
        floor = marker if marker is not None else data.get("since")
        for panic in entry.get("panics") or []:
            if panic.get("epoch") is None or (floor is not None and panic["epoch"] < floor):
                continue
            start = marker if marker is not None else data.get("fired_at")
            candidates.append({
                "receiver": name,
                "epoch": panic["epoch"],
                "time": panic.get("time"),
                "reason": panic.get("reason"),
                "first_line": panic.get("first_line"),
                "call_trace": list(panic.get("call_trace") or []),
                "signature": panic.get("signature"),
                "seconds": None if start is None else round(panic["epoch"] - start, 3),
                "from_marker": marker is not None,
                "file": entry.get("file"),
            })
            break
    if not candidates:
        where = ", ".join(sorted(name for name, (ok, _m, _h) in answers.items() if ok)) or "no receiver"
        problem = "no panic from this drill reached %s" % where
        if unasked:
            problem += " (%s)" % "; ".join(unasked)
        return None, problem
    found = min(candidates, key=lambda item: item["epoch"])
    if expect and expect not in (found["reason"] or ""):
        return found, "the receiver's panic is not the drill's: %r" % found["reason"]
    if not found["call_trace"]:
        return found, "the receiver got the panic line but no call trace"
    return found, None


def _drill_vmcore(data, expect):
    """(dump dict or None, problem or None): the newest new dump, with a vmcore and the panic in its dmesg."""
    fresh = data.get("new_dumps") or []
    if not data.get("back"):
        return None, "the host is not back, its dumps could not be read"
    if not fresh:
        return None, "no new dump in the host's dump directory"
    dump = fresh[-1]
    if dump.get("incomplete") or not dump.get("has_vmcore"):
        return dump, "dump %s is incomplete (the capture kernel did not finish writing it)" % dump.get("name")
    if not dump.get("has_dmesg"):
        return dump, "dump %s has no dmesg file" % dump.get("name")
    summary = data.get("dmesg")
    if not isinstance(summary, dict):
        reason = data.get("dmesg_error") or "not read"
        return dump, "the dmesg of dump %s could not be read: %s" % (dump.get("name"), reason)
    if expect and expect not in (summary.get("reason") or ""):
        return dump, "the dmesg of dump %s does not hold the drill's panic (its reason: %r)" % (
            dump.get("name"), summary.get("reason"))
    return dump, None


def crash_drill_report(hosts, expect=SYSRQ_REASON, title="lastwords crash drill"):
    """The drill's verdict per host, from ``{host: {...}}`` gathered by ``playbooks/crash_drill.yml``.

    Each host's dict: ``before`` and ``after`` (registered capture_facts results), ``back`` (came back within the
    timeout), ``wait_error``, ``return_seconds`` (controller time from the trigger to SSH), ``fired_at`` (controller
    epoch of the trigger), ``since`` (the time the receivers were asked from), ``receivers`` (the looped
    netconsole_log results, ``item`` = receiver, asked with the drill's marker as ``canary``), ``new_dumps``,
    ``dmesg`` (dmesg_summary of the newest new dump's dmesg, with its ``signature``) and ``dmesg_error``. The
    receivers' panics carry netconsole_log's ``signature``; the report shows it, and says so when the dump's dmesg
    reads as another panic.
    A host PASSES when the receiver has the panic with its call trace, the host has a complete new dump whose dmesg
    holds the panic, and it came back with a new boot id.
    """
    if not isinstance(hosts, dict):
        raise AnsibleFilterError("crash_drill_report: expected a dict of host -> drill data, got %r"
                                 % type(hosts).__name__)
    rows = []
    for host in sorted(hosts):
        data = hosts[host] or {}
        problems = []
        answers = receiver_answers(data.get("receivers"))
        trace, problem = _drill_trace(host, data, answers, expect)
        if problem:
            problems.append(problem)
        dump, vmcore_problem = _drill_vmcore(data, expect)
        if vmcore_problem:
            problems.append(vmcore_problem)
        before, after = _capture(data.get("before")), _capture(data.get("after"))
        boot_before, boot_after = before.get("boot_id"), after.get("boot_id")
        if not data.get("back"):
            boot = "-"
            problems.append("not back within the timeout: %s" % (data.get("wait_error") or "no answer").strip())
        elif not boot_before or not boot_after:
            boot = "unknown"
            problems.append("boot id could not be compared (capture_facts returned none)")
        elif boot_before == boot_after:
            boot = "SAME"
            problems.append("the boot id did not change: the host never crashed")
        else:
            boot = "new"
        dump_size = dump.get("size_bytes") if dump else None
        row = {
            "host": host,
            "verdict": "FAIL" if problems else "PASS",
            "passed": not problems,
            "problems": problems,
            "trace": ("captured, %d frames" % len(trace["call_trace"]) if trace and trace["call_trace"]
                      else ("panic line only" if trace else "NOT captured")),
            "to_trace": "-" if not trace or trace["seconds"] is None else (
                "%.3f s" % trace["seconds"] if trace["from_marker"] else "%.1f s*" % trace["seconds"]),
            "vmcore": ("NOT captured" if not dump else
                       "%s (%s)" % ("BAD" if vmcore_problem else "captured", dump.get("name"))),
            "dump_size": human_bytes(dump_size) if dump_size else "-",
            "to_return": ("%d s" % round(data["return_seconds"]) if data.get("back") and
                          data.get("return_seconds") is not None else ("NOT BACK" if not data.get("back") else "-")),
            "boot": boot,
            "trace_seconds": trace["seconds"] if trace else None,
            "trace_from_marker": trace["from_marker"] if trace else None,
            "trace_receiver": trace["receiver"] if trace else None,
            "trace_reason": trace["reason"] if trace else None,
            "trace_frames": trace["call_trace"] if trace else [],
            "return_seconds": data.get("return_seconds") if data.get("back") else None,
            "dump_name": dump.get("name") if dump else None,
            "dump_path": dump.get("path") if dump else None,
            "dump_size_bytes": dump_size,
            "dump_files": sorted(dump.get("files") or []) if dump else [],
            "trace_signature": trace.get("signature") if trace else None,
            "dmesg_signature": (data.get("dmesg") or {}).get("signature"),
            "dmesg_reason": (data.get("dmesg") or {}).get("reason"),
            "dmesg_frames": (data.get("dmesg") or {}).get("call_trace") or [],
            "kernel_release": (data.get("dmesg") or {}).get("kernel_release") or before.get("kernel_release"),
            "boot_id_before": boot_before,
            "boot_id_after": boot_after,
        }
        rows.append(row)
    report = _verdicts(rows, title, DRILL_COLUMNS)
    text = report["text"]
    for row in rows:
        if row["trace_reason"]:
            text.append("  %s: receiver %s: %s; trace %s" % (
                row["host"], row["trace_receiver"], row["trace_reason"],
                " < ".join(frame for frame in row["trace_frames"][:4]) or "-"))
        if row["dump_path"]:
            text.append("  %s: dump %s (%s): dmesg says %s" % (
                row["host"], row["dump_path"], human_bytes(row["dump_size_bytes"]), row["dmesg_reason"] or "-"))
        text += _drill_signature(row)
        for problem in row["problems"]:
            text.append("  %s: FAIL: %s" % (row["host"], problem))
    if any(row["to_trace"].endswith("*") for row in rows):
        text.append("  * the drill's marker did not reach the receiver: measured from the controller's clock")
    return report


def _drill_signature(row):
    """The panic's signature, from the receiver's trace and the dump's dmesg, and whether the two agree."""
    found = [(what, sig) for what, sig in (("trace", row["trace_signature"]), ("dmesg", row["dmesg_signature"]))
             if isinstance(sig, dict) and sig.get("found")]
    if not found:
        return []
    lines = ["  %s: signature %s (%s)" % (row["host"], found[0][1]["key"], found[0][1]["summary"])]
    if len(found) == 2 and found[0][1]["key"] != found[1][1]["key"]:
        lines.append("  %s: the dump's dmesg reads as another panic: %s" % (row["host"], found[1][1]["key"]))
    return lines


def _verdicts(rows, title, columns):
    """The common part of a PASS/FAIL report (drill, soak): who passed and failed, the summary, the table as text
    (the caller appends its notes to ``text``) and as Markdown."""
    passed = [row["host"] for row in rows if row["passed"]]
    failed = [row["host"] for row in rows if not row["passed"]]
    summary = "%d of %d hosts PASSED" % (len(passed), len(rows))
    return {
        "rows": rows,
        "passed": passed,
        "failed": failed,
        "all_passed": bool(rows) and not failed,
        "summary": summary,
        "text": ["%s: %s" % (title, summary)] + render_table(columns, rows),
        "markdown": "\n".join(["# %s" % title, "", summary, ""] + render_table(columns, rows, markdown=True)) + "\n",
    }


# ---------------------------------------------------------------------------------------------
# Soak
# ---------------------------------------------------------------------------------------------

SOAK_COLUMNS = (
    ("host", "HOST"),
    ("verdict", "VERDICT"),
    ("load", "LOAD"),
    ("throughput", "THROUGHPUT"),
    ("boot", "BOOT ID"),
    ("panics", "PANICS ON RECEIVER"),
    ("dumps", "NEW DUMPS"),
)


def _mbits(value):
    return "-" if value is None else "%.1f Mbit/s" % (value / 1e6)


def _soak_load(data):
    """(load cell, throughput cell, figures dict, problem or None) for one host's load task result."""
    load = data.get("load")
    mode = data.get("mode") or "iperf3"
    figures = {"mode": mode}
    if not isinstance(load, dict) or load.get("skipped"):
        return "not run", "-", figures, "the load did not run"
    if load.get("unreachable"):
        return "lost host", "-", figures, "the host stopped answering during the load: %s" % (
            (load.get("msg") or "").strip())
    if mode == "command":
        rc = load.get("rc")
        figures["rc"] = rc
        figures["stdout_tail"] = (load.get("stdout_lines") or [])[-5:]
        figures["stderr_tail"] = (load.get("stderr_lines") or [])[-5:]
        if rc == 124:
            return "command, whole window", "-", figures, None
        if rc == 0:
            return "command, ended early", "-", figures, None
        detail = (load.get("stderr") or load.get("msg") or "").strip().splitlines()
        return "command FAILED (rc %s)" % rc, "-", figures, "the load command failed (rc %s)%s" % (
            rc, ": " + detail[-1] if detail else "")
    result = iperf3_result(load.get("stdout") or "")
    figures.update(result)
    cell = "iperf3%s" % (" reverse" if result.get("reverse") else "")
    if not result["ok"]:
        detail = result["error"]
        if not load.get("stdout") and (load.get("stderr") or load.get("msg")):
            detail = (load.get("stderr") or load.get("msg")).strip()
        return cell + " FAILED", "-", figures, "iperf3 failed: %s" % detail
    seconds = result.get("seconds")
    return "%s %s" % (cell, _seconds(seconds, 0)), _mbits(result.get("bits_per_second")), figures, None


def _soak_round(host, data):
    """One round of load on one host: the row's cells and what went wrong, from the data the soak gathered."""
    problems = []
    load_cell, throughput, figures, problem = _soak_load(data)
    if problem:
        problems.append(problem)
    before, after = _capture(data.get("before")), _capture(data.get("after"))
    if not data.get("back"):
        boot = "-"
        problems.append("not back within the timeout: %s" % (data.get("wait_error") or "no answer").strip())
    elif not before.get("boot_id") or not after.get("boot_id"):
        boot = "unknown"
        problems.append("boot id could not be compared (capture_facts returned none)")
    elif before["boot_id"] != after["boot_id"]:
        boot = "CHANGED"
        problems.append("the host rebooted during the soak (boot id changed)")
    else:
        boot = "unchanged"
    answers = receiver_answers(data.get("receivers"))
    panics, resets, unasked = [], [], []
    for name, (ok, msg, reported) in sorted(answers.items()):
        if not ok:
            unasked.append("%s %s" % (name, msg))
            continue
        entry = reported.get(host) or {}
        for panic in entry.get("panics") or []:
            panics.append(dict(panic, receiver=name))
        resets.extend(entry.get("resets") or [])
    if not answers:
        problems.append("no receiver was asked: a panic would not have been seen")
    elif len(unasked) == len(answers):
        problems.append("no receiver could be asked (%s)" % "; ".join(unasked))
    for panic in panics:
        problems.append("panic on receiver %s at %s: %s" % (panic["receiver"], panic.get("time"), panic.get("reason")))
    if resets and not panics and boot == "unchanged":
        problems.append("the receiver saw the host's kernel log restart %d time(s) (netconsole reloaded?)"
                        % len(resets))
    fresh = new_dumps(after.get("dumps"), before.get("dumps")) if after else []
    if fresh:
        problems.append("new dump(s) on the host: %s" % ", ".join(dump.get("name") for dump in fresh))
    start = data.get("start")
    first = min((panic for panic in panics if panic.get("epoch") is not None), key=lambda panic: panic["epoch"],
                default=None)
    keys = [((panic.get("signature") or {}).get("key")) for panic in panics]
    return {
        "problems": problems,
        "load": load_cell,
        "throughput": throughput,
        "boot": boot,
        "panics": len(panics) if answers and len(unasked) < len(answers) else None,
        "panicked": bool(panics) or boot == "CHANGED" or not data.get("back") or bool(fresh),
        "seconds_to_panic": (round(first["epoch"] - start, 1) if first is not None and start is not None else None),
        "keys": sorted(set(key for key in keys if key)),
        "dumps": [dump.get("name") for dump in fresh],
        "figures": figures,
        "panic_reasons": [panic.get("reason") for panic in panics],
        "unasked_receivers": unasked,
        "kernel": before.get("kernel_release"),
    }


def soak_round_panicked(data, host):
    """Whether one round's data (see soak_report) says the host panicked: its boot id changed, it did not come
    back, a receiver got a panic from it, or a new dump appeared."""
    if not isinstance(data, dict):
        raise AnsibleFilterError("soak_round_panicked: expected one round's data, got %r" % type(data).__name__)
    return _soak_round(host, data)["panicked"]


def soak_report(hosts, title="lastwords soak"):
    """The soak's verdict per host, from ``{host: {...}}`` gathered by ``playbooks/soak.yml``.

    Each host's dict: ``before``/``after`` (capture_facts results), ``back``, ``wait_error``, ``mode`` (``iperf3``
    or ``command``), ``load`` (the load task's result), ``duration``, ``rate``, ``start`` (epoch the receivers
    were asked from) and ``receivers`` (the looped netconsole_log results); with rounds, ``rounds`` holds one
    such dict per round run. A host PASSES when, in every round, the load ran, its boot id is unchanged, no panic
    (or reboot) of it reached a receiver since the round's start, and no new dump appeared. ``records`` gives each
    host's record for ``soak_confirm``: kernel, rounds, panics (rounds that ended in a panic), the seconds from
    the round's start to each panic, and the panics' signature keys.
    """
    if not isinstance(hosts, dict):
        raise AnsibleFilterError("soak_report: expected a dict of host -> soak data, got %r" % type(hosts).__name__)
    rows, records = [], {}
    for host in sorted(hosts):
        data = hosts[host] or {}
        rounds = [item or {} for item in data.get("rounds") or [data]]
        results = [_soak_round(host, item) for item in rounds]
        last = results[-1]
        problems = []
        for number, result in enumerate(results, 1):
            prefix = "round %d of %d: " % (number, len(results)) if len(results) > 1 else ""
            problems += [prefix + problem for problem in result["problems"]]
        counted = [result["panics"] for result in results]
        panicked = [result for result in results if result["panicked"]]
        record = {
            "kernel": results[0]["kernel"],
            "rounds": len(results),
            "panics": len(panicked),
            "round_seconds": data.get("duration"),
            "panic_seconds": [result["seconds_to_panic"] for result in panicked],
            "keys": sorted(set(key for result in results for key in result["keys"])),
        }
        records[host] = record
        rows.append({
            "host": host,
            "verdict": "FAIL" if problems else "PASS",
            "passed": not problems,
            "problems": problems,
            "load": last["load"],
            "throughput": last["throughput"],
            "boot": last["boot"] if len(results) == 1 else (
                "%d of %d rounds ended in a panic" % (len(panicked), len(results)) if panicked
                else "%d of %d rounds clean" % (len(results), len(results))),
            "panics": "?" if None in counted else str(sum(counted)),
            "dumps": ", ".join(name for result in results for name in result["dumps"]) or "none",
            "figures": last["figures"],
            "duration": data.get("duration"),
            "rate": data.get("rate"),
            "panic_reasons": [reason for result in results for reason in result["panic_reasons"]],
            "unasked_receivers": sorted(set(note for result in results for note in result["unasked_receivers"])),
            "record": record,
        })
    report = _verdicts(rows, title, SOAK_COLUMNS)
    report["records"] = records
    text = report["text"]
    for row in rows:
        figures = row["figures"]
        if figures.get("mode") == "iperf3" and figures.get("ok"):
            text.append("  %s: %s for %s at target %s: received %s, sent %s, %s retransmits" % (
                row["host"], figures.get("remote") or "server", _seconds(figures.get("seconds"), 1),
                row["rate"] or "-", _mbits(figures.get("bits_per_second")),
                _mbits(figures.get("sent_bits_per_second")),
                "-" if figures.get("retransmits") is None else figures["retransmits"]))
        record = row["record"]
        if record["rounds"] > 1 or record["panics"]:
            text.append("  %s: %s: %d panic%s in %d round%s%s%s" % (
                row["host"], record["kernel"] or "kernel unknown", record["panics"],
                "" if record["panics"] == 1 else "s", record["rounds"], "" if record["rounds"] == 1 else "s",
                "; seconds to each panic: %s" % ", ".join("-" if value is None else "%g" % value
                                                          for value in record["panic_seconds"])
                if record["panics"] else "",
                "; signature %s" % ", ".join(record["keys"]) if record["keys"] else ""))
        for note in row["unasked_receivers"]:
            text.append("  %s: receiver %s" % (row["host"], note))
        for problem in row["problems"]:
            text.append("  %s: FAIL: %s" % (row["host"], problem))
    return report


# ---------------------------------------------------------------------------------------------
# Collect
# ---------------------------------------------------------------------------------------------

COLLECT_COLUMNS = (
    ("host", "HOST"),
    ("stamp", "DUMP"),
    ("state", "STATE"),
    ("kernel", "KERNEL"),
    ("reason", "REASON"),
    ("size", "DUMP SIZE"),
)


def collect_plan(dumps, collected=None, vmcore=False):
    """What to fetch from one host: one entry per dump of capture_facts' ``dumps``, oldest first.

    ``collected`` maps a dump's name (its stamp) to the ``summary.json`` already on the controller for it: such a
    dump is never fetched again, except its vmcore when ``vmcore`` is asked for and the summary says it was not
    fetched. Each entry: ``name``, ``path``, ``dmesg`` (its dmesg file, or None), ``vmcore_files``, ``fetch``
    (files to fetch now), ``fetch_dmesg``, ``fetch_vmcore``, ``state`` (``new``, ``add vmcore`` or
    ``collected``), ``size_bytes``, ``mtime``, ``incomplete``.
    """
    if dumps is None:
        dumps = []
    if not isinstance(dumps, list):
        raise AnsibleFilterError("collect_plan: expected capture_facts' dumps (a list), got %r" % type(dumps).__name__)
    collected = collected or {}
    if not isinstance(collected, dict):
        raise AnsibleFilterError("collect_plan: collected must map dump names to their summary, got %r"
                                 % type(collected).__name__)
    plan = []
    for dump in sorted((d for d in dumps if isinstance(d, dict)), key=lambda d: d.get("name") or ""):
        dmesg = _dmesg_files(dump)
        cores = _vmcore_files(dump)
        previous = collected.get(dump.get("name"))
        if previous is not None:
            fetch_dmesg = False
            fetch_vmcore = bool(vmcore and cores and not (previous or {}).get("vmcore_fetched"))
            state = "add vmcore" if fetch_vmcore else "collected"
        else:
            fetch_dmesg = bool(dmesg)
            fetch_vmcore = bool(vmcore and cores)
            state = "new"
        plan.append({
            "name": dump.get("name"),
            "path": dump.get("path"),
            "dmesg": dmesg[0] if dmesg else None,
            "vmcore_files": cores,
            "fetch_dmesg": fetch_dmesg,
            "fetch_vmcore": fetch_vmcore,
            "fetch": (dmesg[:1] if fetch_dmesg else []) + (cores if fetch_vmcore else []),
            "state": state,
            "size_bytes": dump.get("size_bytes"),
            "mtime": dump.get("mtime"),
            "incomplete": bool(dump.get("incomplete")),
            "files": sorted(dump.get("files") or []),
        })
    return plan


def collect_record(entry, previous=None, dmesg=None, host=None, directory=None, now=None, frames=8, fetched=True):
    """What ``summary.json`` holds for one dump of a ``collect_plan``, with ``text`` for ``summary.txt``.

    ``dmesg`` is the text of the dump's dmesg when the controller has it; the summary (``dmesg_summary``) and the
    signature (``panic_signature``) are built from it. Otherwise the ``previous`` record's are kept. ``fetched`` is
    false in check mode: the state then says what would happen.
    """
    if not isinstance(entry, dict):
        raise AnsibleFilterError("collect_record: expected an entry of collect_plan, got %r" % type(entry).__name__)
    previous = previous or {}
    summary, signature = previous.get("summary"), previous.get("signature")
    if dmesg is not None:
        try:
            summary, signature = summary_and_signature(dmesg, frames=int(frames))
        except ValueError as exc:
            raise AnsibleFilterError("collect_record: %s" % exc) from None
    state = entry.get("state") or "new"
    if not fetched and state != "collected":
        state = "would fetch" if state == "new" else "would add vmcore"
    record = {
        "host": host,
        "stamp": entry.get("name"),
        "state": state,
        "dir": directory,
        "source": entry.get("path"),
        "files": entry.get("files") or [],
        "size_bytes": entry.get("size_bytes"),
        "mtime": entry.get("mtime"),
        "incomplete": bool(entry.get("incomplete")),
        "dmesg_file": entry.get("dmesg"),
        "vmcore_files": entry.get("vmcore_files") or [],
        "vmcore_fetched": bool((entry.get("fetch_vmcore") and fetched) or previous.get("vmcore_fetched")),
        "collected_at": previous.get("collected_at") or now,
        "updated_at": now if state in ("new", "add vmcore") else previous.get("updated_at"),
        "summary": summary,
        "signature": signature,
    }
    summary = summary or {}
    lines = [
        "%s %s (%s, %s)" % (host, record["stamp"], record["source"], human_bytes(record["size_bytes"])),
        "reason:     %s" % (summary.get("reason") or ("no dmesg file" if not record["dmesg_file"] else "-")),
        "first line: %s" % (summary.get("first_line") or "-"),
        "kernel:     %s" % (summary.get("kernel_release") or "-"),
        "task:       %s (pid %s, cpu %s), %s" % (summary.get("comm") or "-", summary.get("pid", "-"),
                                                 summary.get("cpu", "-"), summary.get("tainted") or "-"),
        "crashed in: %s" % (summary.get("crashed_in") or "- (user space, or not printed)"),
        "signature:  %s" % ((signature or {}).get("summary") or "-"),
        "key:        %s" % ((signature or {}).get("key") or "-"),
        "call trace: first %d of %d frames" % (len(summary.get("call_trace") or []), summary.get("trace_frames") or 0),
    ]
    lines += ["  %s" % frame for frame in summary.get("call_trace") or []]
    fetched = "yes" if record["vmcore_fetched"] else "no"
    lines.append("files:      %s (vmcore fetched: %s)" % (", ".join(record["files"]) or "-", fetched))
    if record["incomplete"]:
        lines.append("incomplete: the capture kernel did not finish writing this dump")
    record["text"] = "\n".join(lines) + "\n"
    return record


def _collect_reason(record, summary):
    if summary.get("reason"):
        return summary["reason"]
    if not record.get("dmesg_file"):
        return "no dmesg file"
    if (record.get("state") or "").startswith("would") or not summary:
        return "-"
    return "no crash report in the dmesg"


SIGNATURE_COLUMNS = (
    ("key", "SIGNATURE"),
    ("count", "PANICS"),
    ("evidence", "EVIDENCE"),
    ("hosts", "HOSTS"),
    ("kernels", "KERNELS"),
    ("first", "FIRST SEEN"),
    ("last", "LAST SEEN"),
)
# A dump is written by the capture kernel after the panic (under TCG, minutes after); a receiver's trace is stamped
# when the panic happened. Same host, same key, the dump this long after the trace at most: one panic.
DUMP_AFTER_TRACE = (-120.0, 1800.0)
# Two receivers stamp the same panic within this much of each other.
SAME_TRACE_SECONDS = 30.0


def _utc(epoch):
    return "-" if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _event(host, signature, epoch, evidence, source):
    return {"host": host, "key": signature["key"], "signature": signature, "epoch": epoch,
            "evidence": [evidence], "sources": [source]}


def panic_events(records, answers=None):
    """Every panic collect knows of, oldest first: one per dump or pstore record with a crash report in its dmesg,
    one per panic a receiver holds, and a dump and a trace of the same host, key and time counted once.

    ``records`` is ``{host: [record, ...]}`` (collect_record's), ``answers`` what ``receiver_answers`` made of the
    looped netconsole_log results. Each event: ``host``, ``key``, ``signature``, ``epoch`` (the trace's time, else
    the dump's), ``evidence`` (``vmcore``, ``pstore``, ``trace``) and ``sources`` (dump stamps, ``receiver:time``).
    """
    events = []
    for host in sorted(records or {}):
        for record in records[host] or []:
            signature = record.get("signature") or {}
            if not signature.get("found"):
                continue
            kind = "pstore" if (record.get("stamp") or "").startswith("pstore-") else "vmcore"
            events.append(_event(host, signature, record.get("mtime"), kind, record.get("stamp")))
    traces = []
    for name, (ok, _msg, hosts) in sorted((answers or {}).items()):
        for host, entry in sorted((hosts or {}).items()) if ok else ():
            for panic in (entry or {}).get("panics") or []:
                signature = panic.get("signature") or {}
                if signature.get("found"):
                    traces.append((panic.get("epoch"), host, signature, "%s:%s" % (name, panic.get("time"))))
    for epoch, host, signature, source in sorted(traces, key=lambda item: (item[0] or 0, item[1])):
        same = None
        for event in events:
            if event["host"] != host or event["key"] != signature["key"] or epoch is None or event["epoch"] is None:
                continue
            if "trace" in event["evidence"]:
                if abs(event["epoch"] - epoch) <= SAME_TRACE_SECONDS:
                    same = event
            elif DUMP_AFTER_TRACE[0] <= event["epoch"] - epoch <= DUMP_AFTER_TRACE[1]:
                same = event
            if same is not None:
                break
        if same is None:
            events.append(_event(host, signature, epoch, "trace", source))
            continue
        if "trace" not in same["evidence"]:
            same["evidence"].append("trace")
            same["epoch"] = epoch
        same["sources"].append(source)
    return sorted(events, key=lambda event: (event["epoch"] or 0, event["host"]))


def panic_groups(events):
    """The events grouped by signature key, the most frequent first: count, hosts, kernels, first and last seen."""
    groups = {}
    for event in events:
        group = groups.setdefault(event["key"], {
            "key": event["key"], "count": 0, "hosts": [], "kernels": [], "first_epoch": None, "last_epoch": None,
            "evidence": {"trace": 0, "vmcore": 0, "pstore": 0}, "events": []})
        signature = event["signature"]
        group["count"] += 1
        for name, value in (("hosts", event["host"]), ("kernels", signature.get("release"))):
            if value and value not in group[name]:
                group[name].append(value)
        for kind in event["evidence"]:
            group["evidence"][kind] += 1
        if event["epoch"] is not None:
            group["first_epoch"] = min(filter(None, (group["first_epoch"], event["epoch"])))
            group["last_epoch"] = max(filter(None, (group["last_epoch"], event["epoch"])))
        for field in ("kind", "kind_text", "function", "module", "suspect_module", "context", "summary", "reason"):
            group[field] = signature.get(field)
        group["events"].append({"host": event["host"], "epoch": event["epoch"], "time": _utc(event["epoch"]),
                                "release": signature.get("release"), "evidence": event["evidence"],
                                "sources": event["sources"]})
    out = sorted(groups.values(), key=lambda group: (-group["count"], -(group["last_epoch"] or 0), group["key"]))
    for group in out:
        group["hosts"].sort()
        group["kernels"].sort()
        group["first_seen"], group["last_seen"] = _utc(group["first_epoch"]), _utc(group["last_epoch"])
    return out


def _signature_rows(groups):
    return [{
        "key": group["key"],
        "count": str(group["count"]),
        "evidence": ", ".join("%d %s" % (group["evidence"][kind], kind) for kind in ("trace", "vmcore", "pstore")
                              if group["evidence"][kind]),
        "hosts": ", ".join(group["hosts"]),
        "kernels": ", ".join(group["kernels"]) or "-",
        "first": group["first_seen"],
        "last": group["last_seen"],
    } for group in groups]


def _crash_answers(crash):
    """``{(host, stamp): crash_batch result}`` from ``{host: [looped crash_batch results]}``."""
    out = {}
    if not isinstance(crash, dict):
        raise AnsibleFilterError("collect_report: crash must map hosts to their looped crash_batch results, got %r"
                                 % type(crash).__name__)
    for host, results in crash.items():
        for result in results or []:
            item = result.get("item") if isinstance(result, dict) else None
            if isinstance(item, dict) and item.get("stamp") and not result.get("skipped"):
                out[(host, item["stamp"])] = result
    return out


def _crash_line(result):
    if result.get("failed"):
        return "crash failed: %s" % (result.get("msg") or "-")
    if result.get("ran"):
        outputs = sorted((result.get("outputs") or {}).values())
        where = os.path.dirname(outputs[0]) if outputs else "-"
        fetched = result.get("fetched")
        got = (" (fetched %s %s, %s, in %s s)" % (fetched["package"], fetched["version"],
                                                  human_bytes(fetched["bytes"]), fetched["seconds"])
               if fetched else "")
        return "%s; outputs in %s%s" % (result.get("summary") or "crash ran", where, got)
    return "crash not run: %s" % (result.get("how") or result.get("msg") or "-")


def collect_report(records, title="lastwords collect", receivers=None, crash=None):
    """The collect report: one row per dump from ``{host: [record, ...]}``, where a record is what ``summary.json``
    holds (``state`` says whether it was fetched now), each new dump's reason and first frames, then every panic
    known (dumps, pstore records and, with ``receivers``, the looped netconsole_log results of the receivers)
    grouped by signature. ``crash`` maps hosts to their looped crash_batch results (an item is a record): each
    dump opened says what crash read, or how to get what it needs. ``text`` is for the terminal, ``markdown`` for
    the report file."""
    if not isinstance(records, dict):
        raise AnsibleFilterError("collect_report: expected a dict of host -> dump records, got %r"
                                 % type(records).__name__)
    answers = receiver_answers(receivers)
    crashed = _crash_answers(crash or {})
    rows = []
    for host in sorted(records):
        for record in sorted(records[host] or [], key=lambda r: r.get("stamp") or ""):
            summary = record.get("summary") or {}
            rows.append({
                "host": host,
                "stamp": record.get("stamp") or "-",
                "state": record.get("state") or "-",
                "kernel": summary.get("kernel_release") or "-",
                "reason": _collect_reason(record, summary),
                "size": human_bytes(record.get("size_bytes")) if record.get("size_bytes") else "-",
                "frames": summary.get("call_trace") or [],
                "crashed_in": summary.get("crashed_in"),
                "dir": record.get("dir"),
                "new": record.get("state") in ("new", "add vmcore", "would fetch", "would add vmcore"),
                "vmcore_fetched": bool(record.get("vmcore_fetched")),
                "incomplete": bool(record.get("incomplete")),
                "crash": (_crash_line(crashed[(host, record.get("stamp"))])
                          if (host, record.get("stamp")) in crashed else None),
            })
    fetched = [row for row in rows if row["new"]]
    verb = "to fetch (check mode)" if any(row["state"].startswith("would") for row in rows) else "fetched now"
    summary = "%d dump(s) on %d host(s), %d %s" % (len(rows), len(records), len(fetched), verb)
    text = ["%s: %s" % (title, summary)]
    if rows:
        text += render_table(COLLECT_COLUMNS, rows)
    for row in fetched:
        text.append("  %s %s -> %s%s" % (row["host"], row["stamp"], row["dir"] or "-",
                                         " (vmcore fetched)" if row["vmcore_fetched"] else ""))
        if row["crashed_in"]:
            text.append("    crashed in %s" % row["crashed_in"])
        for frame in row["frames"]:
            text.append("    %s" % frame)
        if row["incomplete"]:
            text.append("    the dump is incomplete: the capture kernel did not finish writing it")
    opened = [row for row in rows if row["crash"]]
    for row in opened:
        text.append("  %s %s: %s" % (row["host"], row["stamp"], row["crash"]))
    events = panic_events(records, answers)
    groups = panic_groups(events)
    asked = sorted(name for name, (ok, _msg, _hosts) in answers.items() if ok)
    unasked = ["%s: %s" % (name, msg) for name, (ok, msg, _hosts) in sorted(answers.items()) if not ok]
    source = ("dumps, pstore records and the traces on %s" % ", ".join(asked)) if asked else (
        "dumps and pstore records (no receiver asked)")
    heading = "%d panic(s) with %d signature(s), from %s" % (len(events), len(groups), source)
    signature_table = render_table(SIGNATURE_COLUMNS, _signature_rows(groups)) if groups else []
    text.append("%s: %s" % (title, heading))
    text += signature_table
    for group in groups:
        text.append("  %s: %s" % (group["key"], group["summary"]))
    text += ["  receiver %s" % line for line in unasked]
    markdown = ["# %s" % title, "", summary, ""]
    if rows:
        markdown += render_table(COLLECT_COLUMNS, rows, markdown=True) + [""]
    if opened:
        markdown += ["## Opened with crash", ""] + ["- %s %s: %s" % (row["host"], row["stamp"], row["crash"])
                                                    for row in opened] + [""]
    markdown += ["## Panics by signature", "", heading, ""]
    if groups:
        markdown += render_table(SIGNATURE_COLUMNS, _signature_rows(groups), markdown=True) + [""]
        markdown += ["- `%s`: %s" % (group["key"], group["summary"]) for group in groups]
    markdown += ["- receiver %s" % line for line in unasked]
    return {"rows": rows, "fetched": len(fetched), "summary": summary, "text": text, "events": events,
            "signatures": groups, "receivers_asked": asked, "receivers_unasked": unasked,
            "markdown": "\n".join(markdown) + "\n"}


class FilterModule:
    def filters(self):
        return {
            "new_dumps": new_dumps,
            "crash_drill_report": crash_drill_report,
            "soak_report": soak_report,
            "soak_round_panicked": soak_round_panicked,
            "collect_plan": collect_plan,
            "collect_record": collect_record,
            "collect_report": collect_report,
        }
