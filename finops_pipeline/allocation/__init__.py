"""Allocation: every cost of the bill to an owner per dimension, by rules the FinOps team writes down.

`allocate` runs the three layers in order: direct (tags, then account maps, `direct.py`), Kubernetes
(node cost from the bill split over workloads, `kubernetes.py`), shared pools (`shared_pools.py`). Every
split is exact (`split.py`), so Σ allocated = Σ input per day, source and cost type.
"""
