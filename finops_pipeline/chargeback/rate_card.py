"""`rate_card.yaml`: how allocated cost becomes what each owner is charged (or shown).

The file is validated whole when loaded (`load_rate_card`); nothing runs on a file with an error, and the
error names the file, the key (`markups.Compute`) and what is wrong. See `demo/config/rate_card.yaml` for a
commented example. The shape:

    default_mode: showback           # showback | chargeback, for owners without their own `mode`
    pass_through_discounts: true     # false: owners pay ListCost (on-demand), the central team keeps the rest
    default_markup_percent: 0        # markup on ServiceCategories not listed under `markups`
    markups:                         # percent per FOCUS ServiceCategory, on the charged basis
      Compute: 5
      Storage: 2.5
    owners:                          # per-owner settings (owners of the statement's owner dimension)
      payments:
        mode: chargeback
        pass_through_discounts: false
        platform_fee: {amount: 500, currency: USD}   # fixed, per month

Percentages are numbers of percent (`5` = 5 %), read as exact decimals. An owner's platform fee is charged
every month, on the statement in the fee's currency (one is created if the owner had no cost in it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from finops_pipeline.config_files import ConfigFileError, KeyProblem, StrictModel, load_yaml_model
from finops_pipeline.focus.schema import SERVICE_CATEGORIES

Mode = Literal["showback", "chargeback"]
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


def check_currency(code: str) -> str:
    if not CURRENCY_CODE.match(code):
        raise ValueError(f"currency must be an ISO 4217 code like USD, got {code!r}")
    return code


class PlatformFee(StrictModel):
    amount: Decimal = Field(ge=0)
    currency: str

    @field_validator("currency")
    @classmethod
    def _currency(cls, code: str) -> str:
        return check_currency(code)

    @field_validator("amount")
    @classmethod
    def _cents(cls, amount: Decimal) -> Decimal:
        if amount != amount.quantize(Decimal("0.01")):
            raise ValueError(f"amount {amount} has more than 2 decimal places")
        return amount


class OwnerTerms(StrictModel):
    mode: Mode | None = None  # None: the card's default_mode
    pass_through_discounts: bool | None = None  # None: the card's setting
    platform_fee: PlatformFee | None = None


class RateCard(StrictModel):
    default_mode: Mode = "showback"
    pass_through_discounts: bool = True
    default_markup_percent: Decimal = Decimal(0)
    markups: dict[str, Decimal] = {}
    owners: dict[str, OwnerTerms] = {}
    source_file: str = Field(default="", exclude=True)  # where it was loaded from (for error messages)

    @field_validator("default_markup_percent")
    @classmethod
    def _default_not_negative(cls, percent: Decimal) -> Decimal:
        if percent < 0:
            raise ValueError(f"markup must not be negative, got {percent}")
        return percent

    @field_validator("markups")
    @classmethod
    def _markups(cls, markups: dict[str, Decimal]) -> dict[str, Decimal]:
        for category, percent in markups.items():
            if category not in SERVICE_CATEGORIES:
                raise KeyProblem(
                    category, f"unknown ServiceCategory {category!r} (FOCUS 1.2: {', '.join(SERVICE_CATEGORIES)})"
                )
            if percent < 0:
                raise KeyProblem(category, f"markup must not be negative, got {percent}")
        return markups

    @model_validator(mode="after")
    def _owner_names(self) -> RateCard:
        for owner in self.owners:
            if not owner.strip():
                raise KeyProblem("owners", "owner names must not be blank")
        return self

    def markup_percent(self, service_category: str) -> Decimal:
        return self.markups.get(service_category, self.default_markup_percent)

    def mode(self, owner: str) -> Mode:
        terms = self.owners.get(owner)
        return terms.mode if terms is not None and terms.mode is not None else self.default_mode

    def passes_through_discounts(self, owner: str) -> bool:
        terms = self.owners.get(owner)
        if terms is not None and terms.pass_through_discounts is not None:
            return terms.pass_through_discounts
        return self.pass_through_discounts

    def platform_fee(self, owner: str) -> PlatformFee | None:
        terms = self.owners.get(owner)
        return terms.platform_fee if terms is not None else None


def load_rate_card(path: Path | str, *, known_owners: Iterable[str] | None = None) -> RateCard:
    """Read and validate a rate card; with `known_owners`, every owner it names must be one of them."""
    path = Path(path)
    card = load_yaml_model(path, RateCard)
    if known_owners is not None:
        known = set(known_owners)
        for owner in card.owners:
            if owner not in known:
                raise ConfigFileError(path, f"owners.{owner}", f"unknown owner {owner!r} (known: {sorted(known)})")
    return card.model_copy(update={"source_file": str(path)})
