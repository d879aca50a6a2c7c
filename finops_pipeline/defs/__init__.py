"""Dagster wiring: thin assets that read inputs, call the pure functions of the domain packages, write."""
