"""`allocation_rules.yaml`: who owns which cost, as the FinOps team writes it down.

The file is validated whole when loaded; nothing runs on a file with an error, and the error names the
file, the key (`shared_pools[1].percentages`) and what is wrong. See `demo/allocation_rules.yaml` for a
commented example. The shape:

    dimensions:            # allocation dimensions, user-defined; the FIRST is the owner (statements, budgets)
      team:
        tag_keys: [team, Team]         # tag key aliases, first present wins
        case: lower                    # lower | upper | keep, applied before `values`
        values: {paymnets: payments}   # value normalisation (typos, synonyms), after case folding
      cost_center: {tag_keys: [cost-center, CostCenter], case: upper, values: {"3001": CC-3001}}
    owners:                # the owners of the first dimension, with their values in the other dimensions
      payments: {cost_center: CC-2001}
    required_tags: [team, cost_center]   # dimensions every cost row should carry a tag for (tag coverage)
    accounts:              # SubAccountId (AWS account, Azure subscription, GCP project) → dimension values
      "048213575790": {team: payments, environment: prod}
    default_owner: unallocated
    shared_pools: [...]    # see SharedPool
    kubernetes: {...}      # see KubernetesRules
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from finops_pipeline.allocation.schema import COST_KEYS
from finops_pipeline.config_files import ConfigFileError, KeyProblem, StrictModel, load_yaml_model

OWNER_PSEUDO_COLUMN = "owner"  # a pool may match rows by the owner direct allocation gave them


class Dimension(StrictModel):
    tag_keys: list[str] = Field(min_length=1)
    case: Literal["lower", "upper", "keep"] = "lower"
    values: dict[str, str] = {}


class DriverSource(StrictModel):
    file: str
    column: str


class SharedPool(StrictModel):
    """Cost that belongs to everyone: matched rows are split among `owners` (default: all owners).

    method: `even` (equal shares), `fixed` (`percentages`, summing to 100), `proportional` (to each owner's
    directly allocated EffectiveCost of the same day), `driver` (to a number per owner the user maintains
    in a CSV: `driver.file` with columns `owner` and `driver.column`, optionally `month` = YYYY-MM for
    values that change over time; the row of the cost's month wins over a row without month).
    """

    id: str = Field(min_length=1)
    description: str = ""
    match: dict[str, list[str]] = Field(min_length=1)  # cost key column (or `owner`) → values, all must match
    method: Literal["even", "fixed", "proportional", "driver"]
    owners: list[str] = []
    percentages: dict[str, Decimal] = {}
    driver: DriverSource | None = None

    @field_validator("match")
    @classmethod
    def _known_columns(cls, match: dict[str, list[str]]) -> dict[str, list[str]]:
        known = [*COST_KEYS, OWNER_PSEUDO_COLUMN]
        for column, values in match.items():
            if column not in known:
                raise KeyProblem(column, f"pools match on {', '.join(known)}; not on {column!r}")
            if not values:
                raise KeyProblem(column, "lists no values")
        return match

    @model_validator(mode="after")
    def _method_settings(self) -> SharedPool:
        if self.method == "fixed":
            if not self.percentages:
                raise KeyProblem("percentages", "method fixed needs percentages")
            total = sum(self.percentages.values(), Decimal(0))
            if total != 100:
                raise KeyProblem("percentages", f"percentages sum to {total}, not 100")
            if any(value < 0 for value in self.percentages.values()):
                raise KeyProblem("percentages", "percentages must not be negative")
        elif self.percentages:
            raise KeyProblem("percentages", f"percentages only apply to method fixed, not {self.method}")
        if self.method == "driver" and self.driver is None:
            raise KeyProblem("driver", "method driver needs driver: {file: …, column: …}")
        if self.method != "driver" and self.driver is not None:
            raise KeyProblem("driver", f"driver only applies to method driver, not {self.method}")
        return self

    def target_owners(self, all_owners: list[str]) -> list[str]:
        if self.method == "fixed":
            return list(self.percentages)
        return self.owners or all_owners


class PriceRatio(StrictModel):
    """Relative prices used to split a node's billed cost into CPU, RAM and GPU (only their ratio matters).

    Default: OpenCost's default prices (configs/default.json), the ratio OpenCost itself uses when a
    provider gives only a node price (≈ 7.46 $/core-h per $/GiB-h)."""

    cpu_core_hour: Decimal = Decimal("0.031611")
    ram_gib_hour: Decimal = Decimal("0.004237")
    gpu_hour: Decimal = Decimal("0.95")

    @model_validator(mode="after")
    def _positive(self) -> PriceRatio:
        if min(self.cpu_core_hour, self.ram_gib_hour, self.gpu_hour) <= 0:
            raise ValueError("prices must be positive")
        return self


class KubernetesRules(StrictModel):
    """How node cost from the bill is spread over workloads (OpenCost semantics; see allocation.kubernetes)."""

    price_ratio: PriceRatio = PriceRatio()
    idle: Literal["separate", "share_weighted"] = "separate"  # idle as its own line, or shared by cost
    idle_by: Literal["node", "cluster"] = "node"  # the scope idle is computed (and shared) in
    shared_namespaces: list[str] = []  # e.g. kube-system, monitoring: split over the other namespaces
    shared_namespace_split: Literal["weighted", "even"] = "weighted"
    # Pod label keys (OpenCost-sanitised, e.g. app_kubernetes_io_part_of) per dimension, first present wins;
    # namespace labels are looked up with the same keys after the pod's own.
    owner_labels: dict[str, list[str]] = {}
    namespace_owners: dict[str, dict[str, str]] = {}  # namespace → dimension values


class AllocationRules(StrictModel):
    dimensions: dict[str, Dimension] = Field(min_length=1)
    owners: dict[str, dict[str, str]] = {}
    required_tags: list[str] = []
    accounts: dict[str, dict[str, str]] = {}
    default_owner: str = "unallocated"
    shared_pools: list[SharedPool] = []
    kubernetes: KubernetesRules = KubernetesRules()
    source_file: str = Field(default="", exclude=True)  # where it was loaded from (for error messages)

    @property
    def owner_dimension(self) -> str:
        return next(iter(self.dimensions))

    @model_validator(mode="after")
    def _references(self) -> AllocationRules:
        dims = set(self.dimensions)

        def check_values(where: str, values: dict[str, str]) -> None:
            for dimension in values:
                if dimension not in dims:
                    raise KeyProblem(f"{where}.{dimension}", f"unknown dimension {dimension!r} (known: {sorted(dims)})")
            owner = values.get(self.owner_dimension)
            if owner is not None and self.owners and owner not in self.owners and owner != self.default_owner:
                raise KeyProblem(f"{where}.{self.owner_dimension}", f"unknown owner {owner!r}")

        for owner, values in self.owners.items():
            check_values(f"owners.{owner}", values)
        for account, values in self.accounts.items():
            check_values(f"accounts.{account}", values)
        for namespace, values in self.kubernetes.namespace_owners.items():
            check_values(f"kubernetes.namespace_owners.{namespace}", values)
        for dimension in self.kubernetes.owner_labels:
            if dimension not in dims:
                raise KeyProblem(f"kubernetes.owner_labels.{dimension}", f"unknown dimension {dimension!r}")
        for name in self.required_tags:
            if name not in dims:
                raise KeyProblem("required_tags", f"unknown dimension {name!r} (known: {sorted(dims)})")
        seen = set()
        for i, pool in enumerate(self.shared_pools):
            if pool.id in seen:
                raise KeyProblem(f"shared_pools[{i}].id", f"duplicate pool id {pool.id!r}")
            seen.add(pool.id)
            if not self.owners:
                raise KeyProblem(f"shared_pools[{i}]", "shared pools need the owners they split over (owners:)")
            key = "percentages" if pool.method == "fixed" else "owners"
            for owner in pool.target_owners(list(self.owners)):
                if owner not in self.owners:
                    raise KeyProblem(
                        f"shared_pools[{i}].{key}", f"unknown owner {owner!r} (known: {sorted(self.owners)})"
                    )
        return self


def load_allocation_rules(path: Path | str) -> AllocationRules:
    path = Path(path)
    rules = load_yaml_model(path, AllocationRules)
    for i, pool in enumerate(rules.shared_pools):
        if pool.driver is not None:
            read_driver(path.parent / pool.driver.file, pool.driver.column, f"shared_pools[{i}].driver", rules)
    return rules.model_copy(update={"source_file": str(path)})


def read_driver(path: Path, column: str, key: str, rules: AllocationRules) -> dict[tuple[str, str | None], Decimal]:
    """A driver CSV → {(owner, month or None): value}; errors name the CSV, its row and column."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            for needed in ("owner", column):
                if needed not in header:
                    raise ConfigFileError(path, key, f"column {needed!r} missing (header: {header})")
            values: dict[tuple[str, str | None], Decimal] = {}
            for row_number, row in enumerate(reader, start=2):
                owner, month = row["owner"].strip(), (row.get("month") or "").strip() or None
                if rules.owners and owner not in rules.owners:
                    raise ConfigFileError(path, f"row {row_number}, column owner", f"unknown owner {owner!r}")
                try:
                    value = Decimal(row[column].strip())
                except (InvalidOperation, AttributeError):
                    raise ConfigFileError(
                        path, f"row {row_number}, column {column}", f"not a number: {row[column]!r}"
                    ) from None
                if value < 0:
                    raise ConfigFileError(path, f"row {row_number}, column {column}", "must not be negative")
                values[(owner, month)] = value
    except FileNotFoundError:
        raise ConfigFileError(path, key, "driver file not found") from None
    return values
