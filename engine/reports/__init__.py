"""Read models and reports built from the store: the dashboard's pages (one module per page,
each returning a pydantic view), exports and the evidence pack (``engine.reports.evidence``).

Every dashboard query goes through :mod:`engine.reports.scope`, the one place that knows
what a viewer may see; the figures are small pure functions in
:mod:`engine.reports.figures`, so pages and exports compute them the same way.
"""
