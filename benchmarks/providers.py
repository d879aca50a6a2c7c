"""Per-provider normalisation benchmark (Azure, GCP, FOCUS export) against a polars floor.

    uv run python benchmarks/providers.py --rows 10000000 --provider NAME   (or: all)

NAME: azure, gcp, gcp_commitments, focus_export, focus_export_csv, focus_export_typed.

1. Generates (once per provider and row count, cached in benchmarks/.data/) an input of --rows rows by
   repeating real sample rows:
   * azure: finops-toolkit EA_AmortizedCost_Small.csv (28 rows), ResourceId suffixed with the copy number;
     CSV, the only format `scan_cost_export` reads;
   * gcp: koku's gcp_202011_…csv (25 rows, flattened CSV export); CSV: `scan_billing_export` reads parquet
     only in BigQuery's nested shape (structs, lists of structs), not this flattened one;
   * gcp_commitments: the demo organisation's GCP October (`finops demo`'s generator, 1,109 rows of 41
     columns: resource-based and spend-based CUD fees and covered usage, promotions, tax), each copy with its
     own commitments, resources and credit ids (`_commitments_of_copy`), all in the same month; CSV. koku's
     sample has no commitment at all, so `gcp` does not measure the commitment side table;
   * focus_export: FOCUS-Sample-Data focus_sample.csv (1,000 rows) as read (all columns text), written as
     parquet, which `scan_focus_export` reads lazily; ResourceId suffixed with the copy number, so the
     file does not compress to nothing;
   * focus_export_csv: the same rows as CSV, the format Azure's and OCI's FOCUS exports (and AWS's, gzipped)
     arrive in;
   * focus_export_typed: the same rows as typed parquet, as AWS and Azure write FOCUS parquet: money and
     quantities float64, dates UTC timestamps (the sample's "NULL"s in them null), text as text.
   Generation runs in its own subprocess: Linux carries a parent's peak RSS into its children's ru_maxrss.
2. In separate subprocesses, each reporting its own wall time, CPU time and peak RSS (ru_maxrss), --repeat
   times each, alternating:
   (a) floor: bare polars decode and rewrite of every column (scan_csv / scan_parquet → sink_parquet);
   (b) ours: scan_* → *_to_focus(…, source_name=…) → sink_parquet.
   (c) the input decoded alone (every column, nothing written);
   (d) (b)'s output, already in memory, written alone (sink_parquet): what writing the FOCUS-shaped output
   (66 typed columns, Decimal money, derived rows) costs, which the floor does not pay.
   (c) + (d) is the I/O bound: what any mapping from this input to this output pays before mapping anything.
3. Prints the best of the repeats, input rows per second of (a) and (b), the ratios b/a, (c+d)/a and
   b/(c+d), and whether (b) is under 1.5× the floor (wall), under 1.5× the I/O bound (wall) and under 3 GB
   peak RSS. All run with the same polars streaming chunk size (STREAMING_CHUNK_ROWS).

Why two speed targets: the floor rewrites the input's own columns, text as text; ours writes FOCUS rows (66
typed columns, Decimal money, a derived row per promotional credit or idle commitment). Where writing that
output alone costs about as much as the floor's whole job, (c+d)/a is 1.4–1.7 and no mapping can be under
1.5× the floor. b/(c+d) < 1.5 says the mapping itself costs less than half of what reading the input and
writing the output cost, which is the part a mapping controls.
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

from finops_pipeline.sources.files import STREAMING_CHUNK_ROWS

SHARED = (Path(__file__).resolve().parent.parent / ".." / "shared" / "data").resolve()
SAMPLES = {
    "azure": SHARED / "finops-toolkit" / "EA_AmortizedCost_Small.csv",
    "gcp": SHARED / "koku" / "gcp_202011_30c31bca571d9b7f3b2c8459dd8bc34a_2020-11-08_2020-11-11.csv",
    "gcp_commitments": None,  # generated (`_demo_gcp_month`)
    "focus_export": SHARED / "FOCUS-Sample-Data" / "focus_sample.csv",
    "focus_export_csv": SHARED / "FOCUS-Sample-Data" / "focus_sample.csv",
    "focus_export_typed": SHARED / "FOCUS-Sample-Data" / "focus_sample.csv",
}
FORMATS = {
    "azure": "csv",
    "gcp": "csv",
    "gcp_commitments": "csv",
    "focus_export": "parquet",
    "focus_export_csv": "csv",
    "focus_export_typed": "parquet",
}
VARIED_COLUMN = dict.fromkeys(("azure", "focus_export", "focus_export_csv", "focus_export_typed"), "ResourceId")
SPEED_TARGET = 1.5
MEMORY_TARGET_BYTES = 3 * 1024**3
BLOCK_ROWS = 200_000


def generate(provider: str, rows: int) -> Path:
    """The scaled input, written one block of repeated sample rows at a time to keep memory flat."""
    import polars as pl
    import pyarrow.parquet as pq

    fmt = FORMATS[provider]
    target = DATA_DIR / f"{provider}_{rows}.{fmt}"
    if target.exists():
        return target
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    base = _demo_gcp_month() if provider == "gcp_commitments" else pl.read_csv(SAMPLES[provider], infer_schema=False)
    if provider == "focus_export_typed":
        base = _typed_focus(base)
    copies_per_block = max(1, BLOCK_ROWS // base.height)
    partial = target.with_suffix(".partial")
    writer = None
    with open(partial, "wb") as out:
        written, copy = 0, 0
        while written < rows:
            n = min(copies_per_block, -(-(rows - written) // base.height))
            block = pl.concat([base.with_columns(__copy=pl.lit(copy + i)) for i in range(n)]).head(rows - written)
            varied = VARIED_COLUMN.get(provider)
            if varied:
                suffix = pl.lit("-c") + pl.col("__copy").cast(pl.String)
                block = block.with_columns(
                    pl.when(pl.col(varied).fill_null("") == "")
                    .then(pl.col(varied))
                    .otherwise(pl.col(varied) + suffix)
                    .alias(varied)
                )
            if provider == "gcp_commitments":
                block = block.with_columns(_commitments_of_copy())
            block = block.drop("__copy")
            if fmt == "csv":
                block.write_csv(out, include_header=written == 0)
            else:
                table = block.to_arrow()
                writer = writer or pq.ParquetWriter(out, table.schema, compression="snappy")
                writer.write_table(table)
            written += block.height
            copy += n
        if writer:
            writer.close()
    partial.rename(target)
    return target


def _demo_gcp_month():
    """The demo organisation's GCP export of October 2026, as text."""
    import tempfile
    from datetime import date

    import polars as pl

    from finops_pipeline.demo import generate_demo

    with tempfile.TemporaryDirectory() as tmp:
        exports = generate_demo(Path(tmp), end_date=date(2026, 10, 31), days=31)
        (month,) = [f for f in exports.gcp.data_files if f.name == "2026-10.csv"]
        return pl.read_csv(month, infer_schema=False)


def _commitments_of_copy():
    """Each copy of the demo month is another slice of a large organisation in the same month: its own
    commitments (`subscription.instance_id`, which ties a fee to its covered usage), resources and credits
    (each credit's `id`), so a commitment pool (commitment, hour, unit) keeps its real size, and credit cells
    are as varied as a real export's (where every amount differs). Dates stay in the month, as a real month's
    ~744 usage hours do."""
    import polars as pl

    suffix = pl.lit("-c") + pl.col("__copy").cast(pl.String)
    return [
        (pl.col("subscription.instance_id") + suffix).alias("subscription.instance_id"),
        (pl.col("resource.global_name") + suffix).alias("resource.global_name"),
        pl.col("credits").str.replace_all(r"('id': '[^']*)'", pl.lit("${1}") + suffix + pl.lit("'")),
    ]


def _typed_focus(text):
    """FOCUS text rows with money and quantities as float64 and dates as UTC timestamps."""
    import polars as pl

    from finops_pipeline.focus.parsing import NULL_TEXTS
    from finops_pipeline.focus.schema import FOCUS_COLUMNS, MONEY, TIMESTAMP

    kinds = {c.name: c.dtype for c in FOCUS_COLUMNS}
    value = {c: pl.when(~pl.col(c).str.strip_chars().is_in(NULL_TEXTS)).then(pl.col(c)) for c in text.columns}
    return text.with_columns(
        *(value[c].cast(pl.Float64).alias(c) for c in text.columns if kinds.get(c) == MONEY),
        *(
            value[c].str.to_datetime().dt.replace_time_zone("UTC").alias(c)
            for c in text.columns
            if kinds.get(c) == TIMESTAMP
        ),
    )


def measure(provider: str, kind: str, source: Path, output: Path, chunk_rows: int) -> dict:
    """Runs in its own process: one pipeline, its wall and CPU time and this process's peak RSS."""
    import polars as pl

    in_memory = pl.read_parquet(source) if kind == "write" else None  # `source` is ours' output; not timed
    cpu_before, started = _cpu_seconds(), time.perf_counter()
    mode, decoded = "sink", None
    with pl.Config(streaming_chunk_size=chunk_rows or None):
        if kind == "write":
            in_memory.lazy().sink_parquet(output)
        elif kind == "decode":  # every column decoded, a trivial aggregate written nowhere
            scan = pl.scan_csv(source, infer_schema=False) if FORMATS[provider] == "csv" else pl.scan_parquet(source)
            # Text read as bytes, other types their max: every value touched, nothing converted.
            touched = [pl.col(pl.String).str.len_bytes().sum(), pl.exclude(pl.String).max()]
            decoded = scan.select(pl.len(), *touched).collect(engine="streaming")
        elif kind == "floor":
            if FORMATS[provider] == "csv":
                pl.scan_csv(source, infer_schema=False).sink_parquet(output)
            else:
                pl.scan_parquet(source).sink_parquet(output)
        else:
            focus = _ours(provider, source)
            try:
                focus.sink_parquet(output)
            except pl.exceptions.InvalidOperationError:  # a plan the streaming sink cannot run
                mode = "collect+write"
                focus.collect().write_parquet(output)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    rows = decoded.item(0, 0) if kind == "decode" else pl.scan_parquet(output).select(pl.len()).collect().item()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak, "rows_out": rows, "mode": mode}


def _ours(provider: str, source: Path):
    name = f"benchmark-{provider}"
    if provider == "azure":
        from finops_pipeline.sources import azure

        export = azure.scan_cost_export([source], source_names=[name])
        return azure.cost_export_to_focus(export, source_name=name, lookups=azure.default_lookups())
    if provider in ("gcp", "gcp_commitments"):
        from finops_pipeline.sources.gcp.export import scan_billing_export
        from finops_pipeline.sources.gcp.focus_mapping import billing_export_to_focus

        return billing_export_to_focus(scan_billing_export([source], source_names=[name]), source_name=name)
    from finops_pipeline.sources.focus_export import focus_export_to_focus, scan_focus_export

    return focus_export_to_focus(scan_focus_export([source], source_names=[name]), source_name=name)


def generate_in_subprocess(provider: str, rows: int) -> Path:
    """Keeps this process small: a child's ru_maxrss starts at its parent's peak (kept across fork + exec)."""
    args = [sys.executable, __file__, "--generate", "--provider", provider, "--rows", str(rows)]
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    return Path(done.stdout.strip().splitlines()[-1])


def run_in_subprocess(provider: str, kind: str, source: Path, chunk_rows: int, keep: bool = False) -> dict:
    output = DATA_DIR / f"out_{provider}_{kind}.parquet"
    args = [sys.executable, __file__, "--measure", kind, "--provider", provider, "--source", str(source)]
    args += ["--output", str(output), "--chunk-rows", str(chunk_rows)]
    done = subprocess.run(args, capture_output=True, text=True)
    if not keep:
        output.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"{provider} {kind} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(provider: str, args) -> None:
    started = time.perf_counter()
    source = generate_in_subprocess(provider, args.rows)
    print(
        f"\n== {provider}: {source.name}, {args.rows:,} rows, {source.stat().st_size / 1e6:,.0f} MB"
        f" (ready in {time.perf_counter() - started:.1f} s); load average {os.getloadavg()[0]:.2f}"
    )
    runs: dict[str, list[dict]] = {"floor": [], "ours": [], "decode": [], "write": []}
    for _ in range(args.repeat):
        runs["floor"].append(run_in_subprocess(provider, "floor", source, args.chunk_rows))
        runs["ours"].append(run_in_subprocess(provider, "ours", source, args.chunk_rows, keep=True))
        runs["decode"].append(run_in_subprocess(provider, "decode", source, args.chunk_rows))
        ours_output = DATA_DIR / f"out_{provider}_ours.parquet"
        runs["write"].append(run_in_subprocess(provider, "write", ours_output, args.chunk_rows))
        ours_output.unlink()
    floor, ours, decode, write = (best_of(runs[kind]) for kind in ("floor", "ours", "decode", "write"))
    labels = (
        (floor, "(a) floor: decode + rewrite all columns"),
        (ours, f"(b) ours ({runs['ours'][0]['mode']})"),
        (decode, "(c) decode of the input alone"),
        (write, "(d) write of (b)'s output alone"),
    )
    for result, label in labels:
        print(
            f"{label:40s} wall {result['seconds']:7.2f} s  CPU {result['cpu_seconds']:7.2f} s"
            f"  peak RSS {result['peak_bytes'] / 1024**2:7.0f} MiB  rows out {result['rows_out']:,}"
        )
    ratio, cpu_ratio = ours["seconds"] / floor["seconds"], ours["cpu_seconds"] / floor["cpu_seconds"]
    bound = {unit: decode[unit] + write[unit] for unit in ("seconds", "cpu_seconds")}
    over_bound = ours["seconds"] / bound["seconds"]
    print(f"input rows/s: floor {args.rows / floor['seconds']:,.0f}, ours {args.rows / ours['seconds']:,.0f}")
    print(f"ratio b/a: wall {ratio:.2f}, CPU {cpu_ratio:.2f}   (best of {args.repeat})")
    print(
        f"I/O bound (c+d)/a: wall {bound['seconds'] / floor['seconds']:.2f}, CPU"
        f" {bound['cpu_seconds'] / floor['cpu_seconds']:.2f};  b/(c+d): wall {over_bound:.2f},"
        f" CPU {ours['cpu_seconds'] / bound['cpu_seconds']:.2f}"
    )
    print(f"target < {SPEED_TARGET}x floor (wall): {'met' if ratio < SPEED_TARGET else 'NOT met'}")
    print(f"target < {SPEED_TARGET}x I/O bound (wall): {'met' if over_bound < SPEED_TARGET else 'NOT met'}")
    print(f"target peak < 3 GB:        {'met' if ours['peak_bytes'] < MEMORY_TARGET_BYTES else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--provider", choices=[*SAMPLES, "all"], default="all")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each pipeline, alternating (default 1)")
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=STREAMING_CHUNK_ROWS,
        help=f"polars streaming chunk rows for both pipelines; 0 = polars default (default {STREAMING_CHUNK_ROWS:,})",
    )
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=["floor", "ours", "decode", "write"], help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        print(generate(args.provider, args.rows))
        return
    if args.measure:
        print(json.dumps(measure(args.provider, args.measure, args.source, args.output, args.chunk_rows)))
        return
    chunk = f"{args.chunk_rows:,} rows" if args.chunk_rows else "polars default"
    print(f"streaming chunk: {chunk}; {os.cpu_count()} CPUs")
    for provider in SAMPLES if args.provider == "all" else [args.provider]:
        bench(provider, args)


if __name__ == "__main__":
    main()
