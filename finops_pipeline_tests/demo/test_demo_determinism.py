"""Same arguments, same bytes, for every provider; re-running replaces a provider's files; short windows work."""

import csv
import json
from datetime import date
from pathlib import Path

from finops_pipeline.demo import DemoExports, generate_demo
from finops_pipeline_tests.demo.conftest import DAYS, END

PROVIDERS = ("aws", "azure", "gcp", "kubernetes")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_provider_is_generated(demo_exports: DemoExports) -> None:
    assert tuple(demo_exports.providers) == PROVIDERS
    for name in PROVIDERS:
        export = demo_exports.providers[name]
        assert export.provider == name
        assert export.root == demo_exports.out_dir / name
        assert export.files and all(p.is_file() for p in export.files)


def test_same_seed_writes_byte_identical_files_for_every_provider(demo_exports: DemoExports, tmp_path: Path) -> None:
    again = generate_demo(tmp_path, END, DAYS, seed=7)
    for name in PROVIDERS:
        ours, theirs = _files(demo_exports.providers[name].root), _files(again.providers[name].root)
        assert ours.keys() == theirs.keys(), name
        assert ours == theirs, name
        assert again.providers[name].totals == demo_exports.providers[name].totals


def test_another_seed_moves_the_numbers_not_the_company(demo_exports: DemoExports, tmp_path: Path) -> None:
    other = generate_demo(tmp_path, END, DAYS, seed=8)
    for name in ("azure", "gcp", "kubernetes"):
        assert other.providers[name].totals != demo_exports.providers[name].totals, name

    def column(export: DemoExports, provider: str, name: str) -> set[str]:
        values = set()
        for path in export.providers[provider].data_files:
            with path.open(encoding="utf-8-sig", newline="") as f:
                values |= {row[name] for row in csv.DictReader(f)}
        return values

    # Same subscriptions, projects and reservation; resources differ only where autoscaling reached a slot.
    for provider, name in (("azure", "SubscriptionId"), ("azure", "benefitId"), ("gcp", "project.id")):
        assert column(other, provider, name) == column(demo_exports, provider, name)
    fixed = {r for r in column(demo_exports, "azure", "ResourceId") if "/virtualmachinescalesets/" not in r}
    assert fixed == {r for r in column(other, "azure", "ResourceId") if "/virtualmachinescalesets/" not in r}


def test_rerunning_with_a_shorter_window_leaves_no_stale_files(tmp_path: Path) -> None:
    generate_demo(tmp_path, END, 40, seed=1)
    second = generate_demo(tmp_path, END, 10, seed=2)
    for name in ("azure", "gcp", "kubernetes"):
        export = second.providers[name]
        assert sorted(p for p in export.root.rglob("*") if p.is_file()) == sorted(export.files), name
    assert len(second.kubernetes.files) == 2 * 10


def test_a_one_day_window_on_the_first_of_a_month(tmp_path: Path) -> None:
    # The Azure reservation is bought on the window's only day; the GCP commitment runs; one file per cluster.
    exports = generate_demo(tmp_path, date(2026, 12, 1), 1, seed=3)
    with (exports.azure.root / "ea-costs" / "20261201-20261231" / "actual.csv").open(encoding="utf-8-sig") as f:
        actual = list(csv.DictReader(f))
    assert {r["Date"] for r in actual} == {"12/01/2026"}
    assert [r["ChargeType"] for r in actual].count("Purchase") == 1
    assert [p.name for p in exports.gcp.data_files] == ["2026-12.csv"]
    for cluster in ("eks-prod", "aks-prod"):
        payload = json.loads((exports.kubernetes.root / cluster / "2026-12-01.json").read_text())
        assert payload["data"][0]
