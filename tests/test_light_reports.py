"""Light batch reports: one shared chart library per reports folder, ≤ 250 KB a page, charts drawn
in Chromium from file:// (network blocked), also from a zipped-and-unzipped copy of the folder."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from chromium import CHROMIUM, block_outside

from aftersales_kit.render import batch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGE = "1000101/2026-03-02_2026-03-31.html"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from aftersales_kit.demo import simulate as demo

    data = demo.write_demo(
        tmp_path_factory.mktemp("demo"), stores=3, orders=300, end="2026-03-31"
    ).parquet
    out = tmp_path_factory.mktemp("reports")
    result = batch.run_batch(
        [data], out_dir=out, end="2026-03-31", as_of="2026-04-01 09:00", workers=1, progress=False
    )
    assert not result.failed
    return out


def test_batch_reports_share_one_asset_pair_and_stay_small(reports: Path) -> None:
    assets = sorted(
        (p.name for p in (reports / "_assets").iterdir()), key=lambda n: not n.endswith(".css")
    )
    assert len(assets) == 2 and assets[0].endswith(".css") and assets[1].endswith(".js")
    pages = sorted(reports.glob("*/2026-03-02_2026-03-31.html"))
    assert len(pages) == 3
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert page.stat().st_size <= 250_000, (page, page.stat().st_size)
        assert f'src="../_assets/{assets[1]}"' in html
        assert f'href="../_assets/{assets[0]}"' in html
        assert "vegaEmbed=" not in html and "function vegaEmbed" not in html
    assert (reports / "_assets" / assets[1]).stat().st_size > 500_000  # the library, once


def _draws(browser: Any, page_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    external: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    block_outside(page, allowed=("file:",), external=external)
    page.goto(page_path.as_uri(), wait_until="load")
    expected = page.locator(".report-chart").count()
    assert expected >= 6
    page.wait_for_function(
        "n => document.querySelectorAll('.report-chart svg.marks').length >= n",
        arg=expected,
        timeout=20_000,
    )
    assert page.locator(".vega-error").count() == 0
    assert errors == [] and external == []
    page.close()


def test_a_batch_report_draws_its_charts_from_file_and_from_a_zipped_copy(
    reports: Path, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    archive = shutil.make_archive(str(tmp_path / "reports"), "zip", reports)
    unzipped = tmp_path / "elsewhere"
    with zipfile.ZipFile(archive) as z:
        z.extractall(unzipped)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            _draws(browser, reports / PAGE)
            _draws(browser, unzipped / PAGE)
        finally:
            browser.close()
