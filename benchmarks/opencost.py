"""OpenCost CSV export → core.k8s_usage benchmark, against a polars floor.

    uv run python benchmarks/opencost.py --rows 10000000

1. Generates (once per row count, cached in benchmarks/.data/) an OpenCost CSV export with the header of
   `../shared/data/opencost-k8s/opencost_csv_export_example_with_labels_from_unit_test.csv` (the export's
   columns, a `Labels` JSON column and two `Label_*` columns): 30 days × containers with varying namespaces,
   pods, requests, usage and costs (the public sample has one row; its shape, not its values, is repeated).
2. In separate subprocesses, each reporting its own wall time, CPU time and peak RSS (ru_maxrss):
   (a) floor: `pl.scan_csv(file, infer_schema=False).sink_parquet(out)`, decode and rewrite every column;
   (b) ours: `scan_opencost_csv([file], cluster=…)` → `sink_parquet(out)`, the typed K8S_USAGE_SCHEMA rows
       (58 columns) the `k8s_usage` asset stores.
3. Prints the best of the repeats and the ratio b/a.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from aws_normalise import DATA_DIR, _cpu_seconds, best_of

SAMPLE = (
    Path(__file__).resolve().parent.parent
    / ".."
    / "shared"
    / "data"
    / "opencost-k8s"
    / "opencost_csv_export_example_with_labels_from_unit_test.csv"
).resolve()
BLOCK_ROWS = 500_000


def generate(rows: int) -> Path:
    import polars as pl

    target = DATA_DIR / f"opencost_{rows}.csv"
    if target.exists():
        return target
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    header = pl.read_csv(SAMPLE, infer_schema=False).columns
    partial = target.with_suffix(".partial")
    with open(partial, "wb") as out:
        for start in range(0, rows, BLOCK_ROWS):
            i = pl.int_range(start, min(rows, start + BLOCK_ROWS), dtype=pl.Int64, eager=True)
            block = pl.DataFrame({"i": i}).with_columns(
                Date=(pl.date(2026, 10, 1) + pl.duration(days=pl.col("i") % 30)).cast(pl.String),
                Namespace=pl.format("team-{}", (pl.col("i") // 30) % 50),
                ControllerKind=pl.lit("deployment"),
                ControllerName=pl.format("app-{}", (pl.col("i") // 30) % 400),
                Pod=pl.format("app-{}-{}", (pl.col("i") // 30) % 400, (pl.col("i") // 12000) % 1000),
                Container=pl.lit("main"),
                CPUCoreUsageAverage=((pl.col("i") % 97) / 100).cast(pl.String),
                CPUCoreRequestAverage=((pl.col("i") % 5 + 1) / 4).cast(pl.String),
                RAMBytesUsageAverage=((pl.col("i") % 89) * 10_000_000).cast(pl.String),
                RAMBytesRequestAverage=((pl.col("i") % 4 + 1) * 268_435_456).cast(pl.String),
                NetworkReceiveBytes=((pl.col("i") % 1000) * 1234).cast(pl.String),
                NetworkTransferBytes=((pl.col("i") % 700) * 4321).cast(pl.String),
                GPUs=pl.lit("0"),
                PVBytes=pl.lit("0"),
                CPUCost=((pl.col("i") % 1000) / 10_000).cast(pl.String),
                RAMCost=((pl.col("i") % 700) / 10_000).cast(pl.String),
                NetworkCost=pl.lit("0"),
                PVCost=pl.lit("0"),
                GPUCost=pl.lit("0"),
                TotalCost=((pl.col("i") % 1000) / 10_000 + (pl.col("i") % 700) / 10_000).cast(pl.String),
                Labels=pl.format(
                    '{{"team":"team-{}","app":"app-{}"}}', (pl.col("i") // 30) % 50, (pl.col("i") // 30) % 400
                ),
            )
            block = block.with_columns(
                pl.col("Namespace").alias(header[-2]), pl.col("ControllerName").alias(header[-1])
            ).select(header)
            block.write_csv(out, include_header=start == 0)
    partial.rename(target)
    return target


def measure(kind: str, source: Path, output: Path) -> dict:
    import polars as pl

    from finops_pipeline.sources.files import STREAMING_CHUNK_ROWS
    from finops_pipeline.sources.kubernetes import scan_opencost_csv

    cpu_before, started = _cpu_seconds(), time.perf_counter()
    with pl.Config(streaming_chunk_size=STREAMING_CHUNK_ROWS):
        if kind == "floor":
            pl.scan_csv(source, infer_schema=False).sink_parquet(output)
        else:
            scan_opencost_csv([source], cluster="bench").sink_parquet(output)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rows = pl.scan_parquet(output).select(pl.len()).collect().item()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak, "rows_out": rows}


def run_in_subprocess(kind: str, source: Path) -> dict:
    output = DATA_DIR / f"out_opencost_{kind}.parquet"
    args = [sys.executable, __file__, "--measure", kind, "--source", str(source), "--output", str(output)]
    done = subprocess.run(args, capture_output=True, text=True)
    output.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=["floor", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(generate(args.rows))
        return
    if args.measure:
        print(json.dumps(measure(args.measure, args.source, args.output)))
        return
    generated = subprocess.run(
        [sys.executable, __file__, "--generate", "--rows", str(args.rows)], check=True, capture_output=True, text=True
    )
    source = Path(generated.stdout.strip().splitlines()[-1])
    print(f"== OpenCost CSV export: {args.rows:,} rows, {source.stat().st_size / 1e6:,.0f} MB")
    runs: dict[str, list[dict]] = {"floor": [], "ours": []}
    for _ in range(args.repeat):
        for kind in runs:
            runs[kind].append(run_in_subprocess(kind, source))
    floor, ours = best_of(runs["floor"]), best_of(runs["ours"])
    for result, label in ((floor, "(a) floor: decode + rewrite"), (ours, "(b) scan_opencost_csv")):
        print(
            f"{label:30s} wall {result['seconds']:7.2f} s  CPU {result['cpu_seconds']:7.2f} s"
            f"  peak RSS {result['peak_bytes'] / 1024**2:7.0f} MiB  rows out {result['rows_out']:,}"
        )
    wall, cpu = ours["seconds"] / floor["seconds"], ours["cpu_seconds"] / floor["cpu_seconds"]
    print(f"ratio b/a: wall {wall:.2f}, CPU {cpu:.2f}")


if __name__ == "__main__":
    main()
