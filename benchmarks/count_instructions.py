"""Instructions one provider's mapping executes, counted by valgrind's callgrind: a measure that other jobs on
the machine do not disturb (CPU time here varies by 10–20% between identical runs).

    uv run python benchmarks/count_instructions.py --provider gcp --rows 50000
    PYTHONPATH=/path/to/other/worktree uv run python benchmarks/count_instructions.py --provider gcp --rows 50000

Builds the plan of `providers.py`'s "ours" on its generated input (same cache in benchmarks/.data/) and
collects it with the streaming engine on one thread (POLARS_MAX_THREADS=1, so the count does not depend on
scheduling). Only building and running the plan is counted: interpreter start-up and imports are not
(`--instr-atstart=no`, switched on with `callgrind_control` once imported). Run it at two row counts (say
1,000 and 50,000) and take the difference for the per-row cost without the fixed cost of building the plan.
Needs valgrind (Debian package `valgrind`); under it the pipeline runs ~50× slower.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def run_counted(provider: str, rows: int) -> None:
    """In the valgrind child: switch counting on, then build and collect the plan."""
    import polars as pl
    from providers import _ours, generate

    import finops_pipeline.sources.azure
    import finops_pipeline.sources.focus_export
    import finops_pipeline.sources.gcp.focus_mapping  # noqa: F401 (imported here, so not counted)
    from finops_pipeline.sources.files import STREAMING_CHUNK_ROWS

    source = generate(provider, rows)
    subprocess.run(["callgrind_control", "--instr=on", str(os.getpid())], check=True, capture_output=True)
    with pl.Config(streaming_chunk_size=STREAMING_CHUNK_ROWS):
        _ours(provider, source).collect(engine="streaming")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider", choices=["azure", "gcp", "focus_export"], required=True)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--counted", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.counted:
        run_counted(args.provider, args.rows)
        return
    from providers import generate_in_subprocess

    generate_in_subprocess(args.provider, args.rows)  # outside valgrind: generating is not what we count
    with tempfile.TemporaryDirectory() as tmp:
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/out"]
        command += [sys.executable, __file__, "--counted", "--provider", args.provider, "--rows", str(args.rows)]
        done = subprocess.run(command, env={**os.environ, "POLARS_MAX_THREADS": "1"}, capture_output=True, text=True)
    collected = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not collected:
        raise SystemExit(f"callgrind run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    print(f"{args.provider}, {args.rows:,} rows: {int(collected.group(1)) / 1e9:.3f} G instructions")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
