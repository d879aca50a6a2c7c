from decimal import Decimal
from pathlib import Path

import pytest

from finops_pipeline.chargeback import load_rate_card
from finops_pipeline.config_files import ConfigFileError

DEMO_RATE_CARD = Path(__file__).resolve().parents[2] / "finops_pipeline" / "demo" / "config" / "rate_card.yaml"
DEMO_TEAMS = ["platform", "payments", "data", "ml"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rate_card.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_rate_card_loads_and_resolves_per_owner_terms():
    card = load_rate_card(DEMO_RATE_CARD, known_owners=DEMO_TEAMS)
    assert card.markup_percent("Compute") == Decimal(3)
    assert card.markup_percent("Networking") == Decimal(0)  # default_markup_percent
    assert card.mode("payments") == "chargeback"
    assert card.mode("unallocated") == "showback"  # default_mode
    assert card.passes_through_discounts("payments") is True  # card-wide
    assert card.passes_through_discounts("ml") is False  # owner override
    assert card.platform_fee("payments").amount == Decimal(750)
    assert card.platform_fee("platform") is None
    assert card.source_file == str(DEMO_RATE_CARD)


def test_an_empty_card_charges_the_bill_as_is(tmp_path):
    card = load_rate_card(write(tmp_path, "default_mode: chargeback\n"))
    assert card.markup_percent("Compute") == 0
    assert card.passes_through_discounts("anyone") is True
    assert card.mode("anyone") == "chargeback"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("markups: {Compute: -5}", "markups.Compute", "markup must not be negative, got -5"),
        ("markups: {Comput: 5}", "markups.Comput", "unknown ServiceCategory 'Comput'"),
        ("default_markup_percent: -1", "default_markup_percent", "markup must not be negative"),
        ("markups: {Compute: lots}", "markups.Compute", "decimal"),
        ("default_mode: invoice", "default_mode", "'showback' or 'chargeback', got 'invoice'"),
        ("owners: {payments: {mode: bill}}", "owners.payments.mode", "'showback' or 'chargeback', got 'bill'"),
        ("owners: {payments: {platform_fee: {amount: -1, currency: USD}}}", "owners.payments.platform_fee.amount",
         "greater than or equal to 0"),
        ("owners: {payments: {platform_fee: {amount: 1.005, currency: USD}}}",
         "owners.payments.platform_fee.amount", "more than 2 decimal places"),
        ("owners: {payments: {platform_fee: {amount: 10, currency: dollars}}}",
         "owners.payments.platform_fee.currency", "ISO 4217"),
        ("owners: {payments: {platform_fee: {amount: 10}}}", "owners.payments.platform_fee.currency", "required"),
        ("pass_through_discount: false", "pass_through_discount", "unknown key"),
        ("owners: {payments: {passthrough: false}}", "owners.payments.passthrough", "unknown key"),
    ],
)  # fmt: skip
def test_bad_rate_card_names_file_key_and_problem(tmp_path, text, key, problem):
    path = write(tmp_path, text + "\n")
    with pytest.raises(ConfigFileError) as error:
        load_rate_card(path)
    assert error.value.file == str(path)
    assert error.value.key == key
    assert problem in error.value.problem
    assert str(error.value).startswith(f"{path}: {key}: ")


def test_unknown_owner_is_an_error_when_owners_are_known(tmp_path):
    path = write(tmp_path, "owners: {paymnets: {mode: chargeback}}\n")
    assert load_rate_card(path).mode("paymnets") == "chargeback"  # without known_owners: accepted
    with pytest.raises(ConfigFileError, match=r"rate_card\.yaml: owners\.paymnets: unknown owner 'paymnets'"):
        load_rate_card(path, known_owners=DEMO_TEAMS)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigFileError, match="rate_card.yaml: file not found"):
        load_rate_card(tmp_path / "rate_card.yaml")
    with pytest.raises(ConfigFileError, match="expected a mapping"):
        load_rate_card(write(tmp_path, "- Compute\n"))
