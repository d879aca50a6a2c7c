"""FinOps KPIs per day and scope: tag and allocation coverage, effective savings rate, commitment
utilisation and coverage, Kubernetes idle share (definitions in `kpis.py`)."""

from finops_pipeline.kpis.kpis import KPI_SCHEMA, KPIS, finops_kpis

__all__ = ["KPIS", "KPI_SCHEMA", "finops_kpis"]
