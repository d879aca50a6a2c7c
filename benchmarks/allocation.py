"""Allocation benchmark: a 10M-row month of FOCUS rows with 10k Kubernetes containers a day.

    uv run python benchmarks/allocation.py --rows 10000000 --containers 10000

1. Generates (once per size, cached in benchmarks/.data/) a DuckDB warehouse holding a month (30 days) of
   `core.focus_costs` with the columns allocation reads: 40 accounts, 12 services, 300k resources with tags
   in the usual mess (aliases, case, typos, missing), costs with 10 decimals; 500 Kubernetes nodes whose
   hourly EC2 rows are in the bill; and `core.k8s_usage` for 2 clusters: `--containers` containers a day on
   those nodes (20 per node), plus one `__idle__` row per node and day.
2. In separate subprocesses, each reporting its own wall time, CPU time and peak RSS (ru_maxrss):
   (a) bare scan: the same per-day reads of focus_costs that allocation makes, and Σ of the three cost
       columns: the least any allocation has to do with the input;
   (b) ours: `allocate_days()` as the `cost_allocation` asset runs it (the bill read a day at a time, then
       direct by tags and accounts, Kubernetes with shared namespaces, three shared pools) with the demo's
       allocation rules, collecting the output table (the asset then writes it; not timed here).
3. Prints both, the ratio, and whether (b) met the targets (under 60 s, peak RSS under 4 GB), and checks
   conservation (Σ allocated = Σ input per cost column, exactly).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from aws_normalise import DATA_DIR, _cpu_seconds, best_of

HERE = Path(__file__).resolve().parent
RULES = HERE.parent / "finops_pipeline" / "demo" / "config" / "allocation_rules.yaml"
DAYS = 30
NODES = 500
SECONDS_TARGET = 60
MEMORY_TARGET_BYTES = 4 * 1024**3


def generate(rows: int, containers: int) -> Path:
    """The warehouse file (built from parquet files written first, then loaded by DuckDB)."""
    import duckdb

    warehouse = DATA_DIR / f"allocation_{rows}_{containers}.duckdb"
    if warehouse.exists():
        return warehouse
    focus_path, usage_path = _generate_parquet(rows, containers)
    partial = warehouse.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with duckdb.connect(str(partial)) as connection:
        connection.execute("CREATE SCHEMA core")
        connection.execute(f"CREATE TABLE core.focus_costs AS SELECT * FROM read_parquet('{focus_path}')")
        connection.execute(f"CREATE TABLE core.k8s_usage AS SELECT * FROM read_parquet('{usage_path}')")
    partial.rename(warehouse)
    focus_path.unlink()
    usage_path.unlink()
    return warehouse


def _generate_parquet(rows: int, containers: int) -> tuple[Path, Path]:
    import polars as pl

    from finops_pipeline.allocation.schema import AMOUNTS, COST_KEYS, FOCUS_COLUMNS_NEEDED
    from finops_pipeline.focus.schema import MONEY
    from finops_pipeline.sources.kubernetes import K8S_USAGE_SCHEMA

    focus_path = DATA_DIR / f"allocation_focus_{rows}.parquet"
    usage_path = DATA_DIR / f"allocation_usage_{rows}_{containers}.parquet"
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    first_day = pl.date(2026, 10, 1)
    accounts = ["318204657114", "048213575790", "527390418862", "009871234561", "694027185530"]
    accounts += [f"{100000000000 + i}" for i in range(35)]
    services = ["Amazon Elastic Compute Cloud", "Amazon Simple Storage Service", "AmazonCloudWatch"]
    services += ["AWS Data Transfer", "Amazon Relational Database Service", "AWS Support (Business)"]
    services += [f"Service {i}" for i in range(6)]
    tag_variants = [
        '{"team":"platform","env":"prod","cost-center":"CC-1001"}',
        '{"Team":"Payments","env":"production","cost-center":"2001"}',
        '{"team":"paymnets","env":"prod"}',
        '{"team":"data","Environment":"Production","CostCenter":"CC-3001"}',
        '{"team":"ML","env":"sandbox","project":"llm"}',
        '{"aws:createdBy":"terraform"}',
        "{}",
    ]
    node_rows = NODES * 24 * DAYS
    other = rows - node_rows
    i = pl.int_range(0, other, dtype=pl.Int64, eager=True)
    cost = ((i * 7919) % 1_000_003).cast(pl.Decimal(38, 0)).cast(MONEY) / 100_000  # 0 … 10.00003
    base = pl.DataFrame({"i": i, "cost": cost}).with_columns(
        x_ChargeDay=first_day + pl.duration(days=pl.col("i") % DAYS),
        SubAccountId=pl.lit(pl.Series(accounts)).get(pl.col("i") % len(accounts)),
        ServiceName=pl.lit(pl.Series(services)).get((pl.col("i") // 7) % len(services)),
        ResourceId=pl.format("res-{}", pl.col("i") % 300_000),
        Tags=pl.lit(pl.Series(tag_variants)).get((pl.col("i") // 3) % len(tag_variants)),
    )
    n = pl.int_range(0, node_rows, dtype=pl.Int64, eager=True)
    nodes = pl.DataFrame({"i": n}).with_columns(
        x_ChargeDay=first_day + pl.duration(days=(pl.col("i") // (NODES * 24)) % DAYS),
        SubAccountId=pl.lit("318204657114"),
        ServiceName=pl.lit("Amazon Elastic Compute Cloud"),
        ResourceId=pl.format("i-node{}", pl.col("i") % NODES),
        Tags=pl.lit('{"team":"platform","env":"prod","cost-center":"CC-1001","eks:cluster-name":"c"}'),
        cost=pl.lit(0.384).cast(MONEY),
    )
    focus = pl.concat([base, nodes], how="diagonal").with_columns(
        x_SourceName=pl.lit("aws"),
        ProviderName=pl.lit("AWS"),
        BillingAccountId=pl.lit("771455802306"),
        BillingCurrency=pl.lit("USD"),
        SubAccountName=pl.lit(None, pl.String),
        ServiceCategory=pl.lit("Compute"),
        ChargeCategory=pl.lit("Usage"),
        CommitmentDiscountStatus=pl.lit(None, pl.String),
        ResourceName=pl.lit(None, pl.String),
        RegionId=pl.lit("us-east-1"),
        **{amount: pl.col("cost") for amount in AMOUNTS},
    )
    focus.select(
        pl.col(name).cast(COST_KEYS.get(name, MONEY if name in AMOUNTS else pl.String)) for name in FOCUS_COLUMNS_NEEDED
    ).write_parquet(focus_path)
    del focus, base, nodes

    per_node = max(1, containers // NODES)
    c = pl.int_range(0, DAYS * NODES * per_node, dtype=pl.Int64, eager=True)
    usage = pl.DataFrame({"c": c}).with_columns(
        day=pl.col("c") // (NODES * per_node),
        node=(pl.col("c") // per_node) % NODES,
        slot=pl.col("c") % per_node,
    )
    namespaces = ["kube-system", "monitoring", "payments", "data", "ml", "platform"] + [f"team-{k}" for k in range(44)]
    usage = usage.with_columns(
        x_ChargeDay=first_day + pl.duration(days=pl.col("day")),
        cluster=pl.when(pl.col("node") < NODES // 2).then(pl.lit("eks-a")).otherwise(pl.lit("eks-b")),
        node=pl.format("node-{}", pl.col("node")),
        node_resource_id=pl.format("i-node{}", pl.col("c") // per_node % NODES),
        namespace=pl.lit(pl.Series(namespaces)).get((pl.col("c") * 31) % len(namespaces)),
        pod=pl.format("pod-{}-{}", pl.col("node"), pl.col("slot")),
        container=pl.lit("app"),
        is_idle=pl.lit(False),
        is_unallocated=pl.lit(False),
        is_unmounted=pl.lit(False),
        labels=pl.when(pl.col("slot") % 3 == 0).then(pl.lit('{"team":"data"}')).otherwise(pl.lit("{}")),
        namespace_labels=pl.lit("{}"),
        minutes=pl.lit(1440.0),
        cpu_core_request_average=0.1 + (pl.col("slot") % 5) * 0.05,
        cpu_core_usage_average=0.05 + (pl.col("slot") % 7) * 0.04,
        ram_byte_request_average=(256 + (pl.col("slot") % 4) * 256) * 1024.0**2,
        ram_byte_usage_average=(200 + (pl.col("slot") % 6) * 200) * 1024.0**2,
    )
    usage = usage.with_columns(
        cpu_core_hours=pl.max_horizontal("cpu_core_request_average", "cpu_core_usage_average") * 24,
        ram_byte_hours=pl.max_horizontal("ram_byte_request_average", "ram_byte_usage_average") * 24,
        gpu_hours=pl.lit(0.0),
    )
    idle = (
        usage.group_by("x_ChargeDay", "cluster", "node", "node_resource_id")
        .agg(cpu_used=pl.col("cpu_core_hours").sum(), ram_used=pl.col("ram_byte_hours").sum())
        .with_columns(
            is_idle=pl.lit(True),
            is_unallocated=pl.lit(False),
            is_unmounted=pl.lit(False),
            minutes=pl.lit(1440.0),
            cpu_core_hours=(8 * 24 - pl.col("cpu_used")).clip(lower_bound=0),
            ram_byte_hours=(32 * 1024.0**3 * 24 - pl.col("ram_used")).clip(lower_bound=0),
            gpu_hours=pl.lit(0.0),
            allocation_name=pl.format("{}/{}/__idle__", pl.col("cluster"), pl.col("node")),
            labels=pl.lit("{}"),
            namespace_labels=pl.lit("{}"),
        )
        .drop("cpu_used", "ram_used")
    )
    usage = usage.with_columns(
        allocation_name=pl.format("{}/{}/{}/{}/{}", "cluster", "node", "namespace", "pod", "container"),
        x_SourceName=pl.lit("opencost"),
    )
    pl.concat([usage, idle], how="diagonal_relaxed").select(
        pl.col(name).cast(dtype) if name in usage.columns or name in idle.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in K8S_USAGE_SCHEMA.items()
    ).write_parquet(usage_path)
    return focus_path, usage_path


def measure(kind: str, warehouse_path: Path) -> dict:
    """Runs in its own process: one pipeline, its wall and CPU time and this process's peak RSS."""
    import polars as pl

    from finops_pipeline.allocation.pipeline import allocate_days
    from finops_pipeline.allocation.rules import load_allocation_rules
    from finops_pipeline.allocation.schema import AMOUNTS, FOCUS_COLUMNS_NEEDED
    from finops_pipeline.warehouse import Warehouse

    cpu_before, started = _cpu_seconds(), time.perf_counter()
    with Warehouse.from_url(f"duckdb:///{warehouse_path}") as wh:
        days = wh.read_frame('SELECT DISTINCT "x_ChargeDay" AS day FROM core.focus_costs ORDER BY 1')["day"].to_list()
        if kind == "scan":
            columns = ", ".join(f'"{name}"' for name in FOCUS_COLUMNS_NEEDED)
            sums = [
                wh.read_frame(
                    f'SELECT {columns} FROM core.focus_costs WHERE "x_ChargeDay" = :day', {"day": day}
                ).select(pl.col(amount).sum() for amount in AMOUNTS)
                for day in days
            ]
            out = pl.concat(sums)
            totals = {amount: str(out[amount].sum()) for amount in AMOUNTS}
            rows_out = out.height
        else:
            result = allocate_days(wh, days, load_allocation_rules(RULES))
            totals = {amount: str(result.frame[amount].sum()) for amount in AMOUNTS}
            rows_out = result.frame.height
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak, "rows_out": rows_out, "totals": totals}


def run_in_subprocess(kind: str, warehouse: Path) -> dict:
    args = [sys.executable, __file__, "--measure", kind, "--warehouse", str(warehouse)]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--containers", type=int, default=10_000, help="containers per day")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=["scan", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(generate(args.rows, args.containers))
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.warehouse)))
        return
    started = time.perf_counter()
    generated = subprocess.run(
        [sys.executable, __file__, "--generate", "--rows", str(args.rows), "--containers", str(args.containers)],
        check=True,
        capture_output=True,
        text=True,
    )
    warehouse = Path(generated.stdout.strip().splitlines()[-1])
    print(
        f"== {args.rows:,} FOCUS rows, {args.containers:,} containers/day in {warehouse.name}"
        f" ({warehouse.stat().st_size / 1e6:,.0f} MB)"
        f" (inputs ready in {time.perf_counter() - started:.1f} s); load average {os.getloadavg()[0]:.2f}"
    )
    runs: dict[str, list[dict]] = {"scan": [], "ours": []}
    for _ in range(args.repeat):
        for kind in runs:
            runs[kind].append(run_in_subprocess(kind, warehouse))
    scan, ours = best_of(runs["scan"]), best_of(runs["ours"])
    for result, label in ((scan, "(a) read + sum per day"), (ours, "(b) allocate_days()")):
        print(
            f"{label:22s} wall {result['seconds']:7.2f} s  CPU {result['cpu_seconds']:7.2f} s"
            f"  peak RSS {result['peak_bytes'] / 1024**2:7.0f} MiB  rows out {result['rows_out']:,}"
        )
    print(
        f"ratio b/a: wall {ours['seconds'] / scan['seconds']:.1f}, CPU {ours['cpu_seconds'] / scan['cpu_seconds']:.1f}"
    )
    conserved = runs["scan"][0]["totals"] == runs["ours"][0]["totals"]
    print(f"conservation (Σ allocated = Σ input, each cost column): {'exact' if conserved else 'BROKEN'}")
    print(f"target < {SECONDS_TARGET} s: {'met' if ours['seconds'] < SECONDS_TARGET else 'NOT met'}")
    print(f"target peak < 4 GB: {'met' if ours['peak_bytes'] < MEMORY_TARGET_BYTES else 'NOT met'}")


if __name__ == "__main__":
    main()
