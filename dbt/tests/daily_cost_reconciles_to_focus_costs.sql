{{ config(meta={'dagster': {'ref': {'name': 'daily_cost'}}}) }}
-- Σ daily_cost = Σ core.focus_costs per charge day and currency, for every money column and the row
-- count, to the cent. Returns the days that disagree.
with signed as (
    select charge_date, billing_currency, billed_cost, effective_cost, list_cost, contracted_cost, row_count
    from {{ ref('daily_cost') }}
    union all
    select
        "x_ChargeDay", "BillingCurrency",
        -"BilledCost", -"EffectiveCost", -"ListCost", -"ContractedCost", -1
    from {{ source('core', 'focus_costs') }}
)
select
    charge_date,
    billing_currency,
    sum(billed_cost) as billed_cost_difference,
    sum(effective_cost) as effective_cost_difference,
    sum(list_cost) as list_cost_difference,
    sum(contracted_cost) as contracted_cost_difference,
    sum(row_count) as row_count_difference
from signed
group by charge_date, billing_currency
having abs(coalesce(sum(billed_cost), 0)) >= 0.01
    or abs(coalesce(sum(effective_cost), 0)) >= 0.01
    or abs(coalesce(sum(list_cost), 0)) >= 0.01
    or abs(coalesce(sum(contracted_cost), 0)) >= 0.01
    or sum(row_count) <> 0
