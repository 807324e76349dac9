"""The estate pass: figures a store's report takes from the other stores, computed once.

Peer medians (本批店铺中位), the data traits (rule availability, JD's whole-hour rounding), the
newest store's ``data_as_of`` (the run's clock and 数据过期 follow it) and each store's place in
the estate are facts of *every* store of the data, never of a ``--stores`` selection or a
``--shard``. One polars pass over the loaded frame computes them (:func:`compute`) and
:func:`ensure` writes them to ``<out>/_estate.json`` beside the reports, with the data
fingerprint they were computed from. ``report``, ``batch`` (every ``--stores``/``--shard``) and
``daily`` call :func:`ensure`: a file for the same data, window and rules is read, anything else is
recomputed. The index and its roll-ups read the file too, so ``--index-only`` needs no data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aftersales_kit.files import atomic_write

if TYPE_CHECKING:
    import polars as pl

    from aftersales_kit.config import StoreEntry
    from aftersales_kit.rules import Rules
    from aftersales_kit.window import Window

ESTATE_NAME = "_estate.json"
#: what a store's group is made of (``[stores."<id>"]`` keys), in the index's order
GROUP_KEYS: tuple[str, ...] = ("brand", "manager")


@dataclass(frozen=True)
class StoreFigures:
    """One store's estate-wide figures."""

    counted: int
    mean_hours: float | None
    peer_median_hours: float | None
    peer_count: int
    data_as_of: str | None
    groups: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Estate:
    """Every store's estate figures and what they were computed from."""

    fingerprint: str
    window_start: str
    window_end: str
    data_as_of: str | None
    jd_whole_hours: bool
    rules_available: Mapping[str, bool]
    stores: Mapping[str, StoreFigures]

    def to_json(self) -> str:
        payload = {
            "fingerprint": self.fingerprint,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "data_as_of": self.data_as_of,
            "jd_whole_hours": self.jd_whole_hours,
            "rules_available": dict(sorted(self.rules_available.items())),
            "stores": {
                sid: {
                    "counted": f.counted,
                    "mean_hours": f.mean_hours,
                    "peer_median_hours": f.peer_median_hours,
                    "peer_count": f.peer_count,
                    "data_as_of": f.data_as_of,
                    "groups": dict(f.groups),
                }
                for sid, f in sorted(self.stores.items())
            },
        }
        return json.dumps(payload, ensure_ascii=False, indent=1, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> Estate:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            fingerprint=str(raw["fingerprint"]),
            window_start=str(raw["window_start"]),
            window_end=str(raw["window_end"]),
            data_as_of=raw.get("data_as_of"),
            jd_whole_hours=bool(raw["jd_whole_hours"]),
            rules_available={str(k): bool(v) for k, v in raw["rules_available"].items()},
            stores={
                str(sid): StoreFigures(
                    counted=int(v["counted"]),
                    mean_hours=v["mean_hours"],
                    peer_median_hours=v["peer_median_hours"],
                    peer_count=int(v["peer_count"]),
                    data_as_of=v.get("data_as_of"),
                    groups={str(k): str(g) for k, g in (v.get("groups") or {}).items()},
                )
                for sid, v in raw["stores"].items()
            },
        )


def data_fingerprint(
    digests: Mapping[str, str],
    *,
    window: Window,
    rules: Rules,
    groups: Mapping[str, Mapping[str, str]],
) -> str:
    """What the estate figures depend on: every store's rows (:func:`report.store_digests`), the
    window, the rules and the configured groups."""
    from aftersales_kit import __version__

    payload = {
        "rows": dict(sorted(digests.items())),
        "window": [window.start.isoformat(), window.end.isoformat()],
        "rules": repr(rules),
        "groups": {k: dict(v) for k, v in sorted(groups.items())},
        "version": __version__,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def groups_of(entries: Mapping[str, StoreEntry]) -> dict[str, dict[str, str]]:
    """store → {"brand": …, "manager": …} from the ``[stores]`` tables (only keys given)."""
    out: dict[str, dict[str, str]] = {}
    for sid, entry in entries.items():
        found = {k: str(entry.extra[k]) for k in GROUP_KEYS if entry.extra.get(k)}
        if found:
            out[sid] = found
    return out


def peer_medians(
    means: Mapping[str, float], *, min_peers: int
) -> dict[str, tuple[float | None, int]]:
    """store → (median of the *other* stores' means, their count), for every store in ``means``
    (:func:`aftersales_kit.metrics.peer_median`: O(n log n) in all)."""
    from aftersales_kit.metrics import peer_median

    ordered = sorted(means.values())
    return {sid: peer_median(ordered, mean, min_peers=min_peers) for sid, mean in means.items()}


def compute(
    frame: pl.DataFrame,
    *,
    window: Window,
    rules: Rules,
    digests: Mapping[str, str],
    groups: Mapping[str, Mapping[str, str]] | None = None,
) -> Estate:
    """The estate figures of every store in ``frame`` (one polars pass for KPIs and traits)."""
    import polars as pl

    from aftersales_kit.diagnose import MIN_PEERS
    from aftersales_kit.metrics import store_metrics_lazy
    from aftersales_kit.orders import data_traits
    from aftersales_kit.schema import latest_timestamp

    groups = dict(groups or {})
    lf = frame.lazy()
    traits = data_traits(lf)
    kpis, latest = pl.collect_all(
        [
            store_metrics_lazy(lf, window=window, rules=rules, traits=traits).select(
                "store_id", "counted", "mean_hours"
            ),
            lf.group_by("store_id").agg(latest_timestamp(frame.columns).max().alias("as_of")),
        ]
    )
    latest_of = {str(k): v for k, v in latest.iter_rows()}
    rows = {str(r["store_id"]): r for r in kpis.iter_rows(named=True)}
    means = {
        sid: float(r["mean_hours"])
        for sid, r in rows.items()
        if r["counted"] and r["mean_hours"] is not None
    }
    peers = peer_medians(means, min_peers=MIN_PEERS)
    newest = max((v for v in latest_of.values() if v is not None), default=None)
    # a store without counted orders is compared with every counted store (computed once)
    everyone = (_median_of(list(means.values())), len(means))
    stores = {}
    for sid, r in sorted(rows.items()):
        median, count = peers.get(sid, everyone)
        stamp = latest_of.get(sid)
        stores[sid] = StoreFigures(
            counted=int(r["counted"] or 0),
            mean_hours=None if r["mean_hours"] is None else float(r["mean_hours"]),
            peer_median_hours=median,
            peer_count=count,
            data_as_of=None if stamp is None else _iso(stamp),
            groups=dict(groups.get(sid, {})),
        )
    return Estate(
        fingerprint=data_fingerprint(digests, window=window, rules=rules, groups=groups),
        window_start=window.start.isoformat(),
        window_end=window.end.isoformat(),
        data_as_of=None if newest is None else _iso(newest),
        jd_whole_hours=traits.jd_whole_hours,
        rules_available=dict(traits.available),
        stores=stores,
    )


def _median_of(values: Sequence[float]) -> float | None:
    """The median of a store without counted orders' peers (every counted store), or None."""
    from aftersales_kit.diagnose import MIN_PEERS

    if len(values) < MIN_PEERS:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _iso(value: datetime) -> str:
    return value.isoformat(sep=" ")


def path_in(out_dir: str | Path) -> Path:
    return Path(out_dir) / ESTATE_NAME


def read(out_dir: str | Path) -> Estate | None:
    """The estate file in ``out_dir``, or None when missing or unreadable."""
    try:
        return Estate.from_json(path_in(out_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure(
    out_dir: str | Path,
    frame: pl.DataFrame,
    *,
    window: Window,
    rules: Rules,
    digests: Mapping[str, str],
    groups: Mapping[str, Mapping[str, str]] | None = None,
) -> Estate:
    """The estate of this data, window and rules: read from ``out_dir`` when the file there was
    computed from exactly these (its fingerprint), else computed and written."""
    wanted = data_fingerprint(digests, window=window, rules=rules, groups=dict(groups or {}))
    found = read(out_dir)
    if found is not None and found.fingerprint == wanted:
        return found
    computed = compute(frame, window=window, rules=rules, digests=digests, groups=groups)
    atomic_write(path_in(out_dir), data=computed.to_json())
    return computed
