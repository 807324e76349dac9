"""aftersales-kit: JD.com after-sales service duration (售后服务时长) diagnosis.

The Python API (docs/API.md)::

    import aftersales_kit as ak
    d = ak.analyze("exports/", store="1000101")   # a Diagnosis: displays in Jupyter
    d.orders                                       # one row per order, every figure's source
    estate = ak.analyze_estate("exports/")         # every store: the portfolio overview
    ak.compare(estate["1000101"], estate["1000102"])  # side by side: a table and a chart
    from aftersales_kit.load import load
    frame = load(["exports/"]).frame               # load once, analyze(frame, ...) many times

Importing the package changes no global state of altair, polars or pandas; the API is imported
on first use, so the command line starts as fast as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aftersales_kit._version import __version__

__all__ = [
    "Comparison",
    "Diagnosis",
    "Estate",
    "Rules",
    "__version__",
    "analyze",
    "analyze_estate",
    "compare",
]

if TYPE_CHECKING:
    from aftersales_kit.api import Comparison, Diagnosis, Estate, analyze, analyze_estate, compare
    from aftersales_kit.rules import Rules


def __getattr__(name: str) -> Any:
    # Lazy: `aftersales_kit.analyze` imports polars; `aftersales --help` should not wait for it.
    if name in {"analyze", "analyze_estate", "Estate", "Diagnosis", "compare", "Comparison"}:
        from aftersales_kit import api

        return getattr(api, name)
    if name == "Rules":
        from aftersales_kit.rules import Rules

        return Rules
    msg = f"module 'aftersales_kit' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    # Tab completion offers the API (the lazy names included), not the typing imports.
    return sorted(__all__)
