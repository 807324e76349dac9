"""Suite-wide settings."""

from __future__ import annotations

import os

# The commands keep parsed downloads in ~/.cache (aftersales_kit.parse_cache). The suite turns
# that off, here and in every command it starts: a test that changes how a file is read must see
# the file read, and nothing lands in the home folder. tests/test_parse_cache.py turns it on.
os.environ["AFTERSALES_CACHE"] = "off"
