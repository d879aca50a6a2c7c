{{ config(meta={'dagster': {'ref': {'name': 'quarantine_summary'}}}) }}
-- Every quarantined row and its cost is in quarantine_summary, per day and source, to the cent.
with signed as (
    select charge_date, source_name, row_count, source_cost
    from {{ ref('quarantine_summary') }}
    union all
    select "x_ChargeDay", "x_SourceName", -1, -coalesce("x_SourceCost", 0)
    from {{ source('core', 'quarantine') }}
)
select
    charge_date,
    source_name,
    sum(row_count) as row_count_difference,
    sum(source_cost) as source_cost_difference
from signed
group by charge_date, source_name
having sum(row_count) <> 0 or abs(sum(source_cost)) >= 0.01
