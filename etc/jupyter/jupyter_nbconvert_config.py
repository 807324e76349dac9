"""nbconvert configuration: ``--template aftersales`` finds the project's report template.

With ``JUPYTER_CONFIG_PATH=etc/jupyter`` (``make notebook`` sets it for Lab's terminals and
"Export Notebook As…"), ``jupyter nbconvert --to html --template aftersales x.ipynb`` renders an
executed store notebook as the page ``aftersales report`` writes (the template's conf.json adds
``aftersales_kit.render.report.ReportPreprocessor``).
"""

from __future__ import annotations

from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821 -- provided by the Jupyter config loader
c.TemplateExporter.extra_template_basedirs = [str(Path(__file__).resolve().parents[2] / "templates")]
