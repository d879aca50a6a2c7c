from datetime import date, datetime
from decimal import Decimal

import polars as pl

from finops_pipeline.focus import CORE_TABLE_SCHEMA, REASON, conform_to_focus


def _row(**overrides):
    row = {
        "BilledCost": "1.25",
        "EffectiveCost": "1.00",
        "ListCost": "1.50",
        "ContractedCost": "1.50",
        "BillingAccountId": "012345678901",
        "BillingCurrency": "USD",
        "BillingPeriodStart": "2026-10-01T00:00:00Z",
        "BillingPeriodEnd": "2026-11-01T00:00:00Z",
        "ChargePeriodStart": "2026-10-05T00:00:00Z",
        "ChargePeriodEnd": "2026-10-06T00:00:00Z",
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "InvoiceIssuerName": "Amazon Web Services, Inc.",
        "ProviderName": "AWS",
        "PublisherName": "Amazon Web Services, Inc.",
        "ServiceCategory": "Compute",
        "ServiceName": "Amazon Elastic Compute Cloud",
        "x_SourceName": "aws",
        "x_ChargeDay": date(2026, 10, 5),
        "x_SourceRowNumber": 1,
    }
    row.update(overrides)
    return row


def test_valid_rows_are_cast_to_the_table_schema_exactly():
    result = conform_to_focus(pl.DataFrame([_row(BilledCost="12345678901234567890.1234567891")]))
    assert result.rejected.height == 0
    assert dict(result.valid.schema) == CORE_TABLE_SCHEMA
    row = result.valid.row(0, named=True)
    assert row["BilledCost"] == Decimal("12345678901234567890.1234567891")
    assert row["ChargePeriodStart"] == datetime.fromisoformat("2026-10-05T00:00:00+00:00")
    assert row["Tags"] is None  # absent columns become typed nulls


def test_each_broken_rule_is_named_in_the_reason_and_the_row_is_split_off():
    frame = pl.DataFrame(
        [
            _row(x_SourceRowNumber=1),
            _row(x_SourceRowNumber=2, ChargeCategory="Refund"),
            _row(x_SourceRowNumber=3, BilledCost="twelve"),
            _row(x_SourceRowNumber=4, ServiceName=None),
            _row(x_SourceRowNumber=5, ChargePeriodEnd="2026-10-05T00:00:00Z"),
            _row(x_SourceRowNumber=6, ChargeClass="Refund", BillingCurrency=None),
        ]
    )
    result = conform_to_focus(frame)
    assert result.valid["x_SourceRowNumber"].to_list() == [1]
    reasons = dict(result.rejected.select("x_SourceRowNumber", REASON).iter_rows())
    assert reasons == {
        2: "ChargeCategory: 'Refund' is not an allowed value",
        3: "BilledCost: value is not a number of magnitude under 1e+24; BilledCost: mandatory, is null",
        4: "ServiceName: mandatory, is null",
        5: "ChargePeriodStart: not before ChargePeriodEnd",
        6: "BillingCurrency: mandatory, is null; ChargeClass: 'Refund' is not an allowed value",
    }


def test_columns_outside_focus_without_x_prefix_are_reported_and_dropped():
    result = conform_to_focus(pl.DataFrame([_row(Id="abc", x_Custom="kept?")]))
    assert result.dropped_columns == ["Id"]
    assert "Id" not in result.valid.columns


def test_money_out_of_range_is_rejected_not_a_failed_cast():
    """A float of 1e30 does not fit Decimal(38, 10), and polars' cast raises for the whole frame even when not
    strict; 9e27 fits, but two would overflow a sum. Both are rejected, named, and the other rows pass."""
    rows = [_row(x_SourceRowNumber=n, EffectiveCost=cost) for n, cost in [(1, "1"), (2, "9e27"), (3, "2.5")]]
    frame = pl.DataFrame(rows).with_columns(BilledCost=pl.Series([1.25, 1e30, 2.5]))  # a float column
    result = conform_to_focus(frame)
    assert result.valid["x_SourceRowNumber"].to_list() == [1, 3]
    assert result.valid["BilledCost"].to_list() == [Decimal("1.25"), Decimal("2.5")]
    out_of_range = "value is not a number of magnitude under 1e+24"
    assert result.rejected.select("x_SourceRowNumber", REASON).rows() == [
        (
            2,
            f"BilledCost: {out_of_range}; EffectiveCost: {out_of_range}; "
            "BilledCost: mandatory, is null; EffectiveCost: mandatory, is null",
        )
    ]
