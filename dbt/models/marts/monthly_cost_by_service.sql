-- One row per billing month x provider x service x currency, with the change from the previous month.
-- A service billed last month but not this month still gets a row (cost 0), so drops are visible;
-- a service never billed in the previous month has no previous cost and no percentage change.
with monthly as (
    select
        {{ utc_month('"BillingPeriodStart"') }} as billing_month,
        "ProviderName" as provider_name,
        "ServiceName" as service_name,
        "BillingCurrency" as billing_currency,
        {{ money('sum("BilledCost")') }} as billed_cost,
        {{ money('sum("EffectiveCost")') }} as effective_cost
    from {{ source('core', 'focus_costs') }}
    group by 1, 2, 3, 4
),

months as (
    select billing_month, provider_name, service_name, billing_currency from monthly
    union
    select {{ next_month('billing_month') }}, provider_name, service_name, billing_currency
    from monthly
    where billing_month < (select max(billing_month) from monthly)
)

select
    months.billing_month,
    months.provider_name,
    months.service_name,
    months.billing_currency,
    {{ money('coalesce(cur.billed_cost, 0)') }} as billed_cost,
    {{ money('coalesce(cur.effective_cost, 0)') }} as effective_cost,
    prev.billed_cost as previous_billed_cost,
    prev.effective_cost as previous_effective_cost,
    {{ money('coalesce(cur.billed_cost, 0) - coalesce(prev.billed_cost, 0)') }} as billed_cost_change,
    {{ money('coalesce(cur.effective_cost, 0) - coalesce(prev.effective_cost, 0)') }} as effective_cost_change,
    {{ change_pct('coalesce(cur.billed_cost, 0)', 'prev.billed_cost') }} as billed_cost_change_pct,
    {{ change_pct('coalesce(cur.effective_cost, 0)', 'prev.effective_cost') }} as effective_cost_change_pct
from months
left join monthly as cur
    on cur.billing_month = months.billing_month
    and cur.provider_name = months.provider_name
    and cur.service_name = months.service_name
    and cur.billing_currency = months.billing_currency
left join monthly as prev
    on prev.billing_month = {{ previous_month('months.billing_month') }}
    and prev.provider_name = months.provider_name
    and prev.service_name = months.service_name
    and prev.billing_currency = months.billing_currency
