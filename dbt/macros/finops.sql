{#- Money stays exact: every sum is cast back to DECIMAL(38,10), as in core (DESIGN.md §4). -#}
{% macro money(expression) -%}
    cast({{ expression }} as decimal(38, 10))
{%- endmacro %}

{#- The UTC calendar month of a TIMESTAMPTZ, as a DATE (its first day), whatever the session time zone. -#}
{% macro utc_month(timestamp_column) -%}
    cast(date_trunc('month', {{ timestamp_column }} at time zone 'UTC') as date)
{%- endmacro %}

{% macro next_month(date_column) -%}
    cast({{ date_column }} + interval '1 month' as date)
{%- endmacro %}

{% macro previous_month(date_column) -%}
    cast({{ date_column }} - interval '1 month' as date)
{%- endmacro %}

{#- 100 × (current − previous) / previous, to 4 places; null without a previous value to compare to. -#}
{% macro change_pct(current, previous) -%}
    cast(round(cast(100 * ({{ current }} - {{ previous }}) / nullif({{ previous }}, 0) as decimal(38, 10)), 4) as decimal(38, 4))
{%- endmacro %}
