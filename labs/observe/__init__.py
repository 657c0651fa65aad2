"""Observation: what is read from a run's journal. Metrics and percentiles (``metrics``),
traces and W3C trace context (``tracing``), pictures (``viz``: Mermaid, Vega-Lite, tables),
checkers that report the smallest counter-example (``checkers``), exercise checks
(``exercises``) and the figures a chapter page quotes from its lab (``quotes``)."""
