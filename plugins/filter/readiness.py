# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The readiness report: one row per host from capture_facts and the receivers' netconsole_log answers.

Kept in Python, not Jinja, so that every rule (what makes a row NOT ARMED, when the receiver is the likely
cause) is unit-tested on real module results, and the playbook stays a list of plain tasks.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

COLUMNS = (
    ("host", "HOST"),
    ("status", "STATUS"),
    ("kernel", "KERNEL"),
    ("crashkernel", "CRASHKERNEL"),
    ("kdump", "KDUMP"),
    ("dump_space", "DUMP SPACE"),
    ("netconsole", "NETCONSOLE"),
    ("pstore", "PSTORE"),
    ("canary", "CANARY"),
    ("reboot", "REBOOT"),
)


def human_bytes(value):
    """1536 MiB -> '1.5G', 268435456 -> '256M', None -> '-'."""
    if value is None:
        return "-"
    value = float(value)
    for unit, size in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value >= size:
            scaled = value / size
            text = ("%.1f" % scaled).rstrip("0").rstrip(".") if scaled < 10 else "%d" % round(scaled)
            return text + unit
    return "%dB" % value


def receiver_answers(results):
    """The registered results of a looped netconsole_log task: receiver -> (ok, problem or None, hosts dict).

    Shared by every report that asks the receivers (readiness, the crash drill, the soak).
    """
    answers = {}
    for result in results or []:
        if not isinstance(result, dict):
            raise AnsibleFilterError("each receiver result must be a dict, got %r" % (result,))
        name = result.get("item") or result.get("receiver") or "receiver"
        if result.get("unreachable"):
            answers[name] = (False, "unreachable: %s" % (result.get("msg") or "").strip(), {})
        elif result.get("skipped"):
            answers[name] = (False, "not asked (%s)" % (result.get("skip_reason") or "skipped"), {})
        elif not isinstance(result.get("hosts"), dict) or (result.get("failed") and not result["hosts"]):
            answers[name] = (False, "failed: %s" % (result.get("msg") or "no answer").strip(), {})
        else:
            answers[name] = (True, None, result["hosts"])
    return answers


def _canary(host, capture, answers):
    """(delivered, cell text, reason or None) for one host's canary across every receiver asked."""
    sent = capture.get("canary") or {}
    if not answers:
        return None, "not checked", None
    if not sent.get("written"):
        why = sent.get("error") or "no canary"
        return False, "not sent", "canary could not be written to the kernel log (%s)" % why
    missing, delays = [], []
    for name, (ok, _msg, hosts) in sorted(answers.items()):
        entry = hosts.get(host) or {}
        if not ok or not entry.get("canary_found"):
            missing.append(name)
        elif entry.get("canary_epoch") is not None and sent.get("epoch") is not None:
            delays.append((entry["canary_epoch"] - sent["epoch"]) * 1000.0)
    if missing:
        return False, "NOT delivered", "canary not delivered to %s" % ", ".join(missing)
    if not delays:
        return True, "delivered", None
    worst = max(delays)
    if worst < 0:  # the receiver stamped it before the host sent it: the two clocks disagree
        return True, "delivered (clock skew %d ms)" % worst, None
    return True, "delivered, %d ms" % round(worst), None


def _targets_cell(netconsole, count):
    """``1 target on vmbr0``: how many targets send, and from which devices (the one holding the address)."""
    if not (netconsole.get("loaded") and count):
        return "cmdline" if netconsole.get("cmdline") else "no"
    devices = sorted(set(t.get("dev_name") for t in netconsole.get("targets") or [] if t.get("enabled")
                         and t.get("dev_name")))
    return "%d target%s%s" % (count, "" if count == 1 else "s", (" on " + ", ".join(devices)) if devices else "")


def _pstore_cell(pstore):
    """``efi_pstore`` (and ``, 2 kept`` when systemd-pstore archived records), ``no``; ``-`` when not reported."""
    if not isinstance(pstore, dict):
        return "-"
    if not pstore.get("backend"):
        return "no"
    kept = len(pstore.get("archived") or [])
    return pstore["backend"] + (", %d kept" % kept if kept else "")


def _row(host, result, answers):
    row = dict((key, "-") for key, _title in COLUMNS)
    row.update(host=host, reasons=[], armed=False, delivered=None, delivery_ms=None)
    if not isinstance(result, dict) or not result:
        row.update(status="NOT CHECKED", reasons=["capture_facts did not run on this host"])
        return row
    if result.get("unreachable"):
        row.update(status="UNREACHABLE", reasons=["unreachable: %s" % (result.get("msg") or "").strip()])
        return row
    capture = result.get("capture")
    if result.get("failed") or not isinstance(capture, dict):
        row.update(status="NOT ARMED", reasons=["capture_facts failed: %s" % (result.get("msg") or "").strip()])
        return row
    netconsole = capture.get("netconsole") or {}
    targets = netconsole.get("enabled_targets") or 0
    free, needed = capture.get("dump_dir_free_bytes"), capture.get("dump_space_needed_bytes")
    row.update(
        kernel=capture.get("kernel_release") or "-",
        crashkernel=human_bytes(capture.get("crash_size")) if capture.get("crash_size") else "none",
        kdump="yes" if capture.get("crash_loaded") else "no",
        dump_space="%s free (%s)" % (human_bytes(free), "ok" if capture.get("dump_space_ok") else
                                     "needs %s" % human_bytes(needed)) if free is not None else "-",
        netconsole=_targets_cell(netconsole, targets),
        reboot="yes" if capture.get("reboot_pending") else "no",
        pstore=_pstore_cell(capture.get("pstore")),
    )
    reasons = list(capture.get("problems") or [])
    delivered, cell, reason = _canary(host, capture, answers)
    row["canary"], row["delivered"] = cell, delivered
    if cell.startswith("delivered, "):
        row["delivery_ms"] = int(cell.split(", ")[1].split()[0])
    if reason:
        reasons.append(reason)
    row["reasons"] = reasons
    row["armed"] = not reasons
    row["status"] = "ARMED" if row["armed"] else "NOT ARMED"
    return row


def render_table(columns, rows, markdown=False):
    """Fixed-width columns for a terminal, or a Markdown table with the same widths (readable as text too).

    ``columns`` is a list of (key, title); a row without a key shows ``-``. Every report's table.
    """
    widths = [max([len(title)] + [len(str(row.get(key, "-"))) for row in rows]) for key, title in columns]

    def line(cells, fill=" "):
        padded = [str(cell).ljust(width, fill) for cell, width in zip(cells, widths, strict=True)]
        return ("| " + " | ".join(padded) + " |") if markdown else "  ".join(padded).rstrip()

    out = [line([title for _key, title in columns]), line([""] * len(columns), "-")]
    out.extend(line([row.get(key, "-") for key, _title in columns]) for row in rows)
    return out


def readiness_report(captures, receivers=None, title="lastwords readiness"):
    """Build the report from ``{host: registered capture_facts result}`` and the receivers' results.

    ``receivers`` is the ``results`` list of the looped ``netconsole_log`` task (``item`` is the receiver), or
    ``None``/``[]`` when no receiver was asked. Returns a dict with ``rows`` (one per host, sorted by name),
    ``armed``/``not_armed`` (host names), ``receiver_note`` (the likely common cause, or None), ``receivers``
    (name -> problem or None) and the rendered ``text`` and ``markdown``.
    """
    if not isinstance(captures, dict):
        raise AnsibleFilterError("readiness_report: expected a dict of host -> capture_facts result, got %r"
                                 % type(captures).__name__)
    answers = receiver_answers(receivers)
    rows = [_row(host, captures[host], answers) for host in sorted(captures)]
    notes = []
    for name, (ok, msg, _hosts) in sorted(answers.items()):
        if not ok:
            notes.append("receiver %s %s: no canary could be confirmed" % (name, msg))
    sent = [row for row in rows if row["delivered"] is not None and row["canary"] != "not sent"]
    if answers and sent and not any(row["delivered"] for row in sent) and not notes:
        notes.append("no host's canary reached %s: the receiver is the likely cause (is it up, is rsyslog "
                     "listening on the netconsole port, does its firewall let the hosts in?)"
                     % ", ".join(sorted(answers)))
    note = "; ".join(notes) or None
    armed = [row["host"] for row in rows if row["armed"]]
    not_armed = [row["host"] for row in rows if not row["armed"]]
    summary = "%d of %d hosts ARMED" % (len(armed), len(rows))

    text = ["%s: %s" % (title, summary)] + render_table(COLUMNS, rows)
    for row in rows:
        for reason in row["reasons"]:
            text.append("  %s: %s" % (row["host"], reason))
    if note:
        text.append("  NOTE: " + note)

    markdown = ["# %s" % title, "", summary, ""] + render_table(COLUMNS, rows, markdown=True)
    reasons = ["- **%s**: %s" % (row["host"], reason) for row in rows for reason in row["reasons"]]
    if reasons or note:
        markdown += ["", "## Reasons", ""] + reasons + (["", "**Note:** " + note] if note else [])

    return {
        "rows": rows,
        "armed": armed,
        "not_armed": not_armed,
        "all_armed": bool(rows) and not not_armed,
        "summary": summary,
        "receiver_note": note,
        "receivers": dict((name, msg) for name, (ok, msg, _h) in answers.items()),
        "text": text,
        "markdown": "\n".join(markdown) + "\n",
    }


class FilterModule:
    def filters(self):
        return {"readiness_report": readiness_report}
