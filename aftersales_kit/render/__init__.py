"""The HTML a diagnosis becomes: sections, tables and charts (html, charts, sections,
portfolio), and the machinery that renders the notebooks into report pages (papermill: report,
engine, batch; nbconvert: report, _compat; shared assets).
"""
