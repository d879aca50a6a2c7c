-- What the pipeline could not normalise, per day, source and reason: how many rows and how much cost.
-- charge_date is null for rows whose date itself did not parse; source_cost counts parsed costs only.
select
    "x_ChargeDay" as charge_date,
    "x_SourceName" as source_name,
    "x_QuarantineReason" as quarantine_reason,
    count(*) as row_count,
    {{ money('coalesce(sum("x_SourceCost"), 0)') }} as source_cost,
    count(*) - count("x_SourceCost") as rows_without_cost
from {{ source('core', 'quarantine') }}
group by "x_ChargeDay", "x_SourceName", "x_QuarantineReason"
