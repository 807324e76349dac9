"""Headless Chromium for the browser tests: Debian's binary (``make sysdeps``), its flags, and
pages that may reach only what a test allows (everything else is recorded and aborted)."""

from __future__ import annotations

from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def block_outside(target: Any, *, allowed: tuple[str, ...], external: list[str]) -> None:
    """Let ``target`` (a page or a browser context) load only URLs starting with one of
    ``allowed``; every other request is recorded in ``external`` and aborted."""

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(allowed):
            route.continue_()
        else:
            external.append(url)
            route.abort()

    target.route("**/*", guard)
