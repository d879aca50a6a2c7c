{%- set relation = source('outputs', 'finops_kpis') -%}
{%- if source_exists(relation) %}
select
    "x_ChargeDay" as charge_date,
    kpi,
    scope_type,
    scope,
    currency,
    numerator,
    denominator,
    value
from {{ relation }}
{%- else %}
select
    cast(null as date) as charge_date,
    cast(null as varchar) as kpi,
    cast(null as varchar) as scope_type,
    cast(null as varchar) as scope,
    cast(null as varchar) as currency,
    {{ money('null') }} as numerator,
    {{ money('null') }} as denominator,
    cast(null as double precision) as value
where 1 = 0
{%- endif %}
