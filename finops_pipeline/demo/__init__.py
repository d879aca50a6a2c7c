"""A deterministic demo: the native billing exports of a fictional company (Larkspur Commerce).

`generate_demo(out_dir, end_date)` writes what the providers would have delivered for the `days` days
ending on `end_date` (inclusive), laid out as in their buckets, so the pipeline can run end to end with
no cloud account. Same arguments, byte-identical files; the seed only moves the day-to-day noise and the
assembly ids, never the organisation itself (accounts, resource ids, tags, commitments).

Providers, all reading the same `organisation.ORGANISATION`:

* `out_dir/aws`: the legacy CUR bucket (`aws.py`);
* `out_dir/azure`: EA cost-details exports, actual and amortized, per billing month (`azure.py`);
* `out_dir/gcp`: the detailed billing export flattened to CSV, per invoice month (`gcp.py`);
* `out_dir/kubernetes/<cluster>`: one OpenCost `/allocation` response per cluster and day, on the EKS
  instances of the CUR and the scale-set VMs of the Azure export (`kubernetes.py`).

`out_dir` is laid out as the pipeline's default stores expect it under `FINOPS_HOME/demo`.
"""

import shutil
from datetime import date
from pathlib import Path

from finops_pipeline.demo import aws, azure, gcp, kubernetes
from finops_pipeline.demo.exports import BillingPeriod, DemoExports, ProviderExport, Window
from finops_pipeline.demo.organisation import ORGANISATION, Organisation, build_organisation

__all__ = [
    "ORGANISATION",
    "BillingPeriod",
    "DemoExports",
    "Organisation",
    "ProviderExport",
    "Window",
    "build_organisation",
    "generate_demo",
    "install_demo_config",
]

DEMO_CONFIG = Path(__file__).parent / "config"


def install_demo_config(config_dir: Path) -> list[Path]:
    """Copy the demo organisation's settings files (allocation rules, headcount driver, rate card, budgets)
    into `config_dir`, leaving files that are already there alone (the user may have edited them)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    installed = []
    for source in sorted(DEMO_CONFIG.iterdir()):
        target = config_dir / source.name
        if source.is_file() and not target.exists():
            shutil.copyfile(source, target)
            installed.append(target)
    return installed


def generate_demo(out_dir: Path, end_date: date, days: int = 90, seed: int = 7) -> DemoExports:
    """Write the demo exports for the `days` days ending on `end_date` (inclusive) under `out_dir`.

    Re-running replaces the previous demo report (only the report's own folder is removed, so stale
    assemblies from another seed cannot linger), and leaves everything else in `out_dir` alone.
    """
    window = Window.ending(end_date, days)
    organisation = build_organisation()
    out_dir = Path(out_dir)

    aws_root = out_dir / "aws"
    shutil.rmtree(aws_root / aws.PREFIX / aws.REPORT_NAME, ignore_errors=True)
    providers = {
        "aws": aws.write_cur(organisation, window, aws_root, seed),
        "azure": azure.write_exports(organisation, window, out_dir / "azure", seed),
        "gcp": gcp.write_export(organisation, window, out_dir / "gcp", seed),
        "kubernetes": kubernetes.write_allocations(organisation, window, out_dir / "kubernetes", seed),
    }
    return DemoExports(
        out_dir=out_dir,
        first_day=window.first_day,
        last_day=window.last_day,
        seed=seed,
        providers=providers,
    )
