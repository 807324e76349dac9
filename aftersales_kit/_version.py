"""The toolkit's version: one place, read by the package, the wheel's metadata and the reports."""

__version__ = "0.1.0"
