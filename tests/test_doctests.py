"""The examples in the public modules' docstrings run (doctest) and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

#: the modules an analyst reads with help(): the API, its views and the helpers they name
PUBLIC = (
    "aftersales_kit",
    "aftersales_kit.api",
    "aftersales_kit.render.charts",
    "aftersales_kit.render.html",
    "aftersales_kit.text",
    "aftersales_kit.rules",
    "aftersales_kit.load",
    "aftersales_kit.demo.simulate",
    "aftersales_kit.deliver.xlsx",
)


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_api_examples_are_real() -> None:
    """analyze, analyze_estate and compare carry runnable examples (not only skipped ones)."""
    from aftersales_kit import api

    finder = doctest.DocTestFinder()
    for func in (api.analyze, api.analyze_estate, api.compare):
        (test,) = finder.find(func, globs=vars(api))
        runnable = [e for e in test.examples if not e.options.get(doctest.SKIP)]
        assert len(runnable) >= 3, func.__name__
