from pathlib import Path

import pytest

from finops_pipeline.allocation.rules import load_allocation_rules
from finops_pipeline.config_files import ConfigFileError
from finops_pipeline.demo import DEMO_CONFIG

VALID = """
dimensions:
  team: {tag_keys: [team]}
owners: {web: {}, data: {}}
shared_pools:
  - id: support
    match: {ServiceName: [Support]}
    method: fixed
    percentages: {web: 60, data: 40}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "allocation_rules.yaml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as caught:
        load_allocation_rules(_write(tmp_path, text))
    return caught.value


def test_the_demo_rules_load():
    rules = load_allocation_rules(DEMO_CONFIG / "allocation_rules.yaml")
    assert rules.owner_dimension == "team"
    assert list(rules.dimensions) == ["team", "cost_center", "environment"]
    assert [pool.method for pool in rules.shared_pools] == ["driver", "fixed", "proportional"]


def test_valid_rules_load(tmp_path):
    rules = load_allocation_rules(_write(tmp_path, VALID))
    assert rules.shared_pools[0].target_owners(list(rules.owners)) == ["web", "data"]


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (("method: fixed", "method: evenly"), "shared_pools[0].method", "'even', 'fixed', 'proportional' or 'driver'"),
        (("data: 40}", "data: 30}"), "shared_pools[0].percentages", "percentages sum to 90, not 100"),
        (("{web: 60, data: 40}", "{web: 60, dta: 40}"), "shared_pools[0].percentages", "unknown owner 'dta'"),
        (("ServiceName: [Support]", "Servicename: [Support]"), "shared_pools[0].match.Servicename", "pools match on"),
        (("tag_keys: [team]", "tag_key: [team]"), "dimensions.team.tag_key", "unknown key"),
        (
            ("owners: {web: {}, data: {}}", "owners: {web: {squad: x}, data: {}}"),
            "owners.web.squad",
            "unknown dimension",
        ),
    ],
)
def test_bad_rules_name_the_file_the_key_and_the_problem(tmp_path, change, key, problem):
    error = _error(tmp_path, VALID.replace(*change))
    assert error.file.endswith("allocation_rules.yaml")
    assert error.key == key
    assert problem in error.problem
    assert str(error).startswith(f"{tmp_path / 'allocation_rules.yaml'}: {key}: ")


def test_an_account_mapped_to_an_unknown_owner_is_refused(tmp_path):
    error = _error(tmp_path, VALID + 'accounts:\n  "123": {team: wbe}\n')
    assert (error.key, error.problem) == ("accounts.123.team", "unknown owner 'wbe'")


def test_driver_csv_errors_name_the_csv_row_and_column(tmp_path):
    (tmp_path / "headcount.csv").write_text("owner,headcount\nweb,12\ndata,twelve\n")
    text = VALID.replace("method: fixed", "method: driver").replace(
        "percentages: {web: 60, data: 40}", "driver: {file: headcount.csv, column: headcount}"
    )
    error = _error(tmp_path, text)
    assert error.file == str(tmp_path / "headcount.csv")
    assert (error.key, error.problem) == ("row 3, column headcount", "not a number: 'twelve'")


def test_yaml_syntax_and_missing_file(tmp_path):
    assert "not valid YAML" in _error(tmp_path, "dimensions: [team\n").problem
    with pytest.raises(ConfigFileError, match="file not found"):
        load_allocation_rules(tmp_path / "nope.yaml")
