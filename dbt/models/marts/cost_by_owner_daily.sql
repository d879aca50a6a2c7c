{#- Who spent what: allocated cost per day, provider, service and owner in every allocation dimension. -#}
{%- set relation = source('outputs', 'cost_allocation') -%}
{%- set dimensions = allocation_dimension_columns(relation) if source_exists(relation) else [] -%}
{%- if source_exists(relation) %}
select
    "x_ChargeDay" as charge_date,
    "x_SourceName" as source_name,
    "ProviderName" as provider_name,
    "BillingCurrency" as billing_currency,
    "ServiceCategory" as service_category,
    "ServiceName" as service_name,
    "AllocatedMethodId" as allocated_method_id,
    {%- for column in dimensions %}
    "{{ column }}" as {{ snake_case(column) }},
    {%- endfor %}
    {{ money('sum("BilledCost")') }} as billed_cost,
    {{ money('sum("EffectiveCost")') }} as effective_cost,
    {{ money('sum("ListCost")') }} as list_cost,
    count(*) as row_count
from {{ relation }}
group by
    "x_ChargeDay",
    "x_SourceName",
    "ProviderName",
    "BillingCurrency",
    "ServiceCategory",
    "ServiceName",
    "AllocatedMethodId"
    {%- for column in dimensions %},
    "{{ column }}"
    {%- endfor %}
{%- else %}
select
    cast(null as date) as charge_date,
    cast(null as varchar) as source_name,
    cast(null as varchar) as provider_name,
    cast(null as varchar) as billing_currency,
    cast(null as varchar) as service_category,
    cast(null as varchar) as service_name,
    cast(null as varchar) as allocated_method_id,
    {{ money('null') }} as billed_cost,
    {{ money('null') }} as effective_cost,
    {{ money('null') }} as list_cost,
    cast(null as bigint) as row_count
where 1 = 0
{%- endif %}
