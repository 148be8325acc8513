"""The memory a daemon of a benchmark holds, read from ``/proc``, and its report rows.

Resident set (``VmRSS``) and its peak (``VmHWM``) come from ``/proc/PID/status``; the
proportional set size (``Pss``: shared pages divided among the processes sharing them) from
``/proc/PID/smaps_rollup`` where the kernel has it and it is readable (it needs the rights of
``ptrace``), else it is left out. Figures are in MB of 10^6 bytes, the unit of the targets.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import common

KIB = 1024
MB = 1_000_000


@dataclass(frozen=True, slots=True)
class Memory:
    rss_mb: float
    peak_mb: float
    """The largest resident set the process has had (``VmHWM``)."""
    pss_mb: float | None


def kib_field(text: str, field: str) -> int | None:
    """The value of ``field`` (``VmRSS``, ``Pss``…) in a ``/proc`` text listing it in kB."""
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name.strip() == field:
            return int(rest.split()[0])
    return None


def mb(kib: int) -> float:
    return round(kib * KIB / MB, 1)


def memory(pid: int) -> Memory:
    """The memory of process ``pid`` now."""
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    rss, peak = kib_field(status, "VmRSS"), kib_field(status, "VmHWM")
    if rss is None or peak is None:
        raise RuntimeError(f"/proc/{pid}/status lists no VmRSS or VmHWM: not a user process")
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            pss = kib_field(f.read(), "Pss")
    except OSError:
        pss = None
    return Memory(mb(rss), mb(peak), None if pss is None else mb(pss))


def row(name: str, state: str, found: Memory, target_mb: float) -> common.Result:
    """The resident set of ``name`` in ``state`` (its PSS named beside), against the target."""
    pss = "" if found.pss_mb is None else f", PSS {found.pss_mb:g} MB"
    return _against(f"footprint: {name} {state}, RSS{pss}", found.rss_mb, target_mb)


def peak_row(name: str, what: str, found: Memory, target_mb: float) -> common.Result:
    """The largest resident set ``name`` had up to now (``VmHWM``), against the target."""
    return _against(f"footprint: {name} peak RSS (VmHWM) {what}", found.peak_mb, target_mb)


def _against(metric: str, mb: float, target_mb: float) -> common.Result:
    return common.Result(
        metric,
        mb,
        "MB",
        f"<= {target_mb:g} MB",
        ratio=round(mb / target_mb, 3),
        meets_target=mb <= target_mb,
    )
