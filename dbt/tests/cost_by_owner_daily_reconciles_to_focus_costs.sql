{{ config(meta={'dagster': {'ref': {'name': 'cost_by_owner_daily'}}}) }}
-- Allocation conserves cost: the mart's total per day and source equals core's (any difference at all fails).
with allocated as (
    select charge_date, source_name, sum(billed_cost) as billed, sum(effective_cost) as effective
    from {{ ref('cost_by_owner_daily') }}
    group by 1, 2
),
billed as (
    select "x_ChargeDay" as charge_date, "x_SourceName" as source_name,
        sum("BilledCost") as billed, sum("EffectiveCost") as effective
    from {{ source('core', 'focus_costs') }}
    where "x_ChargeDay" in (select charge_date from allocated)
    group by 1, 2
)
select *
from billed
full outer join allocated using (charge_date, source_name)
where coalesce(billed.billed, 0) <> coalesce(allocated.billed, 0)
   or coalesce(billed.effective, 0) <> coalesce(allocated.effective, 0)
