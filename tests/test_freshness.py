"""One freshness rule for report, batch and email: what the fingerprint covers."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from factory import planned_jobs

from aftersales_kit.cli import deliver as cli_deliver
from aftersales_kit.deliver import mail as deliver
from aftersales_kit.render import batch, report
from aftersales_kit.render.report import ReportParams

AS_OF = "2026-04-01 09:00"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aftersales_kit.demo import simulate as demo

    path = tmp_path_factory.mktemp("fresh") / "orders.parquet"
    demo.generate(stores=3, orders=120, end=date(2026, 3, 31)).write_parquet(path)
    return path


@pytest.fixture
def fake_render(monkeypatch: pytest.MonkeyPatch) -> list[ReportParams]:
    """Rendering replaced by writing a stub page; the calls are recorded."""
    calls: list[ReportParams] = []

    def render(params: ReportParams, *, out_dir: Any, **_: Any) -> Path:
        calls.append(params)
        rules_window = report._window(params)
        path = report.report_path(Path(out_dir), store=params.store, window=rules_window)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<html>{params.lang}</html>", encoding="utf-8")
        return path

    monkeypatch.setattr(report, "render", render)
    monkeypatch.setattr(report, "_render", lambda params, **kw: render(params, **kw))
    monkeypatch.setattr(report, "_kernel", lambda *a: _null())
    return calls


def _null() -> Any:
    from contextlib import nullcontext

    return nullcontext("none")


def test_fingerprint_covers_language_rules_target_and_as_of(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("", encoding="utf-8")
    base = ReportParams(store="1", as_of="2026-04-01 09:00", start="2026-03-02", end="2026-03-31")

    def key(params: ReportParams, *, given: bool = True) -> str:
        return report.fingerprint(params, rows="r", inputs={"median": 1.0}, as_of_given=given)

    same_moment = dataclasses.replace(base, as_of="2026-04-01 09:00:00")
    assert key(base) == key(same_moment)
    assert key(base) != key(dataclasses.replace(base, lang="en"))
    assert key(base) != key(dataclasses.replace(base, target_hours=48.0))
    assert key(base) != key(dataclasses.replace(base, as_of="2026-04-02 09:00"))
    assert key(base) != key(base, given=False)
    # without an explicit as-of, "now" moving on keeps the report current
    later = dataclasses.replace(base, as_of="2026-04-01 18:00")
    assert key(base, given=False) == key(later, given=False)
    # rules: the file's content counts
    with_rules = dataclasses.replace(base, rules=str(rules))
    before = key(with_rules)
    rules.write_text("[thresholds]\n", encoding="utf-8")
    assert key(with_rules) != before


def test_report_sidecar_is_the_batch_rule(
    data: Path, tmp_path: Path, fake_render: list[ReportParams], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "reports"
    html = report.render_store(
        ReportParams(store="1000101", data=(str(data),), as_of=AS_OF), out_dir=out
    )
    assert report.read_sidecar(html) is not None

    class NoPool:
        def shutdown(self, **_: Any) -> None:
            pass

    def run_pool(pool: Any, planned: Any, outcomes: dict, **_: Any) -> None:
        for job in planned_jobs(planned, outcomes):
            outcomes[job.store] = batch.Outcome(job.store, "done")

    monkeypatch.setattr(batch, "_start_pool", lambda workers, **_: NoPool())
    monkeypatch.setattr(batch, "_run_pool", run_pool)
    kwargs = {"out_dir": out, "as_of": AS_OF, "progress": False, "index": False}
    result = batch.run_batch([data], **kwargs)
    status = {o.store: o.status for o in result.outcomes}
    assert status == {"1000101": "skipped", "1000102": "done", "1000103": "done"}
    result = batch.run_batch([data], lang="en", **kwargs)
    assert {o.status for o in result.outcomes} == {"done"}  # another language is not current


def test_email_never_reuses_a_report_of_another_language_rules_or_as_of(
    data: Path, tmp_path: Path, fake_render: list[ReportParams]
) -> None:
    import argparse

    out = tmp_path / "reports"
    report.render_store(ReportParams(store="1000101", data=(str(data),), as_of=AS_OF), out_dir=out)
    assert len(fake_render) == 1
    rules = tmp_path / "rules.toml"
    rules.write_text("", encoding="utf-8")

    def ensure(**changes: Any) -> None:
        values = {
            "data": [str(data)],
            "rules": None,
            "as_of": AS_OF,
            "start": None,
            "end": None,
            "config": None,
            "skip_bad_rows": False,
            "store_id": None,
        }
        values.update(changes)
        args = argparse.Namespace(**values)
        diagnoses, paths, digests = cli_deliver._diagnoses(args, ["1000101"])
        deliver.ensure_report(
            diagnoses["1000101"],
            out_dir=out,
            data=paths,
            rules=args.rules,
            lang=changes.get("lang", "zh"),
            as_of=args.as_of,
            rows=digests["1000101"],
        )

    ensure()
    assert len(fake_render) == 1  # same report: reused
    ensure(lang="en")
    assert len(fake_render) == 2 and fake_render[-1].lang == "en"
    ensure(lang="en")
    assert len(fake_render) == 2  # the en report is now current
    ensure(lang="en", as_of="2026-04-02 09:00")
    assert len(fake_render) == 3
    ensure(lang="en", as_of="2026-04-02 09:00", rules=str(rules))
    assert len(fake_render) == 4
