# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Did the change fix it? Two kernels' records under the same load, and a verdict whose certainty is honest for
the small numbers a homelab can afford (a handful of rounds of ten minutes).

The question is one-sided: the faulty kernel panicked in k of n rounds; the candidate in j of m. Take the lowest
per-round panic probability the faulty kernel's record allows at the asked confidence (the exact, Clopper-Pearson,
lower bound: the p at which k or more panics in n rounds would happen with probability 1 - confidence). Had the
candidate been no better than that, j or fewer panics in m rounds would have happened with probability x (the
binomial distribution's sum). x is the chance that a kernel with the bug would have looked this good: small x
means the record says fixed; x above 1 - confidence means there were not enough rounds to say, and the verdict
gives how many clean rounds would be enough.
"""

from __future__ import annotations

import math

from ansible.errors import AnsibleFilterError


def _binomial_cdf(j, m, p):
    """P(X <= j) for X ~ Binomial(m, p), summed exactly (m is small)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if j >= m else 0.0
    return min(1.0, sum(math.comb(m, i) * p**i * (1.0 - p) ** (m - i) for i in range(0, j + 1)))


def lowest_rate(k, n, confidence=0.95):
    """The exact one-sided lower bound of a per-round probability from k events in n rounds (0 when k is 0)."""
    if k == 0:
        return 0.0
    if k == n:
        return (1.0 - confidence) ** (1.0 / n)
    low, high = 0.0, 1.0
    for _step in range(200):  # bisection: P(X >= k | n, p) rises with p
        mid = (low + high) / 2.0
        if 1.0 - _binomial_cdf(k - 1, n, mid) < 1.0 - confidence:
            low = mid
        else:
            high = mid
    return low


def _record(name, record):
    if not isinstance(record, dict):
        raise AnsibleFilterError("soak_confirm: %s must be a kernel's soak record (a dict), got %s"
                                 % (name, type(record).__name__))
    try:
        rounds, panics = int(record.get("rounds")), int(record.get("panics"))
    except (TypeError, ValueError):
        raise AnsibleFilterError("soak_confirm: %s needs whole numbers rounds and panics, got %r and %r"
                                 % (name, record.get("rounds"), record.get("panics"))) from None
    if rounds < 1 or not 0 <= panics <= rounds:
        raise AnsibleFilterError("soak_confirm: %s: panics must be 0..rounds and rounds at least 1, got %d in %d"
                                 % (name, panics, rounds))
    return rounds, panics


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def soak_confirm(before, after, confidence=0.95):
    """Compare the faulty kernel's soak record (``before``) with the candidate's (``after``).

    Each record: ``kernel``, ``rounds``, ``panics`` (rounds that ended in a panic), ``round_seconds`` (the length of
    a round of load) and optionally ``keys`` (the panics' signature keys). Returns ``verdict`` (``fixed``,
    ``not fixed``, ``not enough rounds`` or ``never reproduced``), ``probability`` (x above), ``lowest_rate``,
    ``rounds_needed`` (clean rounds of the candidate that would make x at most 1 - confidence), ``same_bug``
    (whether the candidate's panics have one of the faulty kernel's keys) and ``text``.
    """
    try:
        confidence = float(confidence)
    except (TypeError, ValueError):
        raise AnsibleFilterError("soak_confirm: confidence must be a number between 0 and 1, got %r"
                                 % (confidence,)) from None
    if not 0.5 <= confidence < 1.0:
        raise AnsibleFilterError("soak_confirm: confidence must be at least 0.5 and below 1, got %r" % confidence)
    n, k = _record("before", before)
    m, j = _record("after", after)
    old, new = before.get("kernel") or "before", after.get("kernel") or "after"
    seconds = after.get("round_seconds") or before.get("round_seconds")
    if not seconds:
        unit = " of load"
    elif seconds % 60 == 0:
        unit = " of %d min" % (seconds // 60)
    else:
        unit = " of %d s" % seconds
    rate = lowest_rate(k, n, confidence)
    keys_before = set(before.get("keys") or [])
    same_bug = bool(keys_before & set(after.get("keys") or []))
    record = "%s: %d %s in %s; %s: %d in %s%s" % (
        old, k, "panic" if k == 1 else "panics", _plural(n, "round"), new, j, _plural(m, "round"), unit)
    result = {"before": {"kernel": old, "rounds": n, "panics": k}, "after": {"kernel": new, "rounds": m, "panics": j},
              "confidence": confidence, "lowest_rate": rate, "probability": None, "rounds_needed": None,
              "same_bug": same_bug}
    if k == 0:
        result["verdict"] = "never reproduced"
        result["text"] = ("%s. %s never panicked under this load, so nothing can be concluded about %s: find a "
                          "trigger that reproduces the panic first." % (record, old, new))
        return result
    x = _binomial_cdf(j, m, rate)
    result["probability"] = x
    if rate > 0.0 and rate < 1.0:
        needed = math.ceil(math.log(1.0 - confidence) / math.log(1.0 - rate) - 1e-9)
    else:
        needed = 1
    result["rounds_needed"] = max(needed, 1)
    bound = ("if %s panicked at the lowest rate consistent with %s's record (%.0f%%: %.2f per round), %d in %d "
             "would have happened with probability at most %s" % (new, old, confidence * 100, rate, j, m, _p(x)))
    if j == 0 and x <= 1.0 - confidence:
        result["verdict"] = "fixed"
        result["text"] = "%s; %s. Fixed, with %.0f%% confidence." % (record, bound, confidence * 100)
    elif j > 0:
        result["verdict"] = "not fixed"
        result["text"] = "%s. %s still panics under this load%s." % (
            record, new, ", with the same signature" if same_bug else " (with another signature)" if after.get(
                "keys") else "")
    else:
        result["verdict"] = "not enough rounds"
        more = " %s clean round%s in all would say fixed with %.0f%% confidence." % (
            result["rounds_needed"], "" if result["rounds_needed"] == 1 else "s", confidence * 100)
        result["text"] = "%s; %s. Not enough rounds to say.%s" % (record, bound, more)
    return result


def _p(value):
    return "%.3f" % value if value >= 0.001 else "%.1e" % value


def soak_book(book, records):
    """The soak records kept on the controller, ``{host: {kernel: record}}``, with this run's ``records`` (the
    soak report's, ``{host: record}``) added: rounds and panics summed, the seconds to each panic and the keys
    kept. A record without a kernel (the host could not be read) is left out."""
    if book is None:
        book = {}
    if not isinstance(book, dict) or not isinstance(records, dict):
        raise AnsibleFilterError("soak_book: expected the book (host -> kernel -> record) and the report's records")
    out = dict((host, dict((kernel, dict(record)) for kernel, record in kernels.items()))
               for host, kernels in book.items() if isinstance(kernels, dict))
    for host, record in sorted(records.items()):
        kernel = (record or {}).get("kernel")
        if not kernel:
            continue
        entry = out.setdefault(host, {}).setdefault(kernel, {"kernel": kernel, "rounds": 0, "panics": 0,
                                                             "panic_seconds": [], "keys": [], "round_seconds": None})
        entry["rounds"] += int(record.get("rounds") or 0)
        entry["panics"] += int(record.get("panics") or 0)
        entry["panic_seconds"] = list(entry.get("panic_seconds") or []) + list(record.get("panic_seconds") or [])
        entry["keys"] = sorted(set(entry.get("keys") or []) | set(record.get("keys") or []))
        entry["round_seconds"] = record.get("round_seconds") or entry.get("round_seconds")
    return out


def soak_verdicts(book, faulty, kernels, confidence=0.95):
    """``{host: soak_confirm verdict}`` of each host's record on the ``faulty`` kernel against its record on the
    kernel it runs now (``kernels``: host -> release, or the soak report's records); a host with no record of one
    of them is left out."""
    if not isinstance(book, dict) or not isinstance(kernels, dict):
        raise AnsibleFilterError("soak_verdicts: expected the book and host -> running kernel")
    out = {}
    for host, current in sorted(kernels.items()):
        if isinstance(current, dict):  # the soak report's records: host -> record
            current = current.get("kernel")
        records = book.get(host) or {}
        if faulty in records and current in records and current != faulty:
            out[host] = soak_confirm(records[faulty], records[current], confidence)
    return out


def soak_with_verdicts(report, verdicts, faulty=""):
    """The soak report with the verdicts (``soak_verdicts``) added to its text and Markdown, and as ``verdicts``."""
    if not isinstance(report, dict) or not isinstance(verdicts or {}, dict):
        raise AnsibleFilterError("soak_with_verdicts: expected the soak report and host -> verdict")
    verdicts = verdicts or {}
    out = dict(report, verdicts=verdicts)
    lines = ["  %s: %s: %s" % (host, verdict["verdict"].upper(), verdict["text"]) for host, verdict in
             sorted(verdicts.items())]
    if faulty and not verdicts:
        lines = ["  no host has records on both %s and the kernel it runs now: nothing to compare" % faulty]
    out["text"] = list(report.get("text") or []) + lines
    if lines:
        out["markdown"] = (report.get("markdown") or "") + "\n## Fixed?\n\n" + "\n".join(
            "- " + line.strip() for line in lines) + "\n"
    return out


class FilterModule:
    def filters(self):
        return {"soak_confirm": soak_confirm, "soak_book": soak_book, "soak_verdicts": soak_verdicts,
                "soak_with_verdicts": soak_with_verdicts}
