"""Read models of the trainers' dashboard: one module per page, each returning a pydantic view.

Every query goes through :mod:`engine.reports.scope`, the one place that knows
what a viewer may see; the figures are small pure functions in
:mod:`engine.reports.figures`, so pages and exports compute them the same way.
"""
