{{ config(meta={'dagster': {'ref': {'name': 'monthly_cost_by_service'}}}) }}
-- Σ monthly_cost_by_service = Σ core.focus_costs per billing month, provider and currency, to the cent.
with signed as (
    select billing_month, provider_name, billing_currency, billed_cost, effective_cost
    from {{ ref('monthly_cost_by_service') }}
    union all
    select
        {{ utc_month('"BillingPeriodStart"') }}, "ProviderName", "BillingCurrency",
        -"BilledCost", -"EffectiveCost"
    from {{ source('core', 'focus_costs') }}
)
select
    billing_month,
    provider_name,
    billing_currency,
    sum(billed_cost) as billed_cost_difference,
    sum(effective_cost) as effective_cost_difference
from signed
group by billing_month, provider_name, billing_currency
having abs(coalesce(sum(billed_cost), 0)) >= 0.01
    or abs(coalesce(sum(effective_cost), 0)) >= 0.01
