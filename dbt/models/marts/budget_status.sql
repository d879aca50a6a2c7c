{%- set relation = source('outputs', 'budget_status') -%}
{%- set columns = [
    ('day', 'date'), ('month', 'date'), ('dimension', 'varchar'), ('owner', 'varchar'), ('currency', 'varchar'),
    ('budget', 'decimal(38, 10)'), ('warning_percent', 'double precision'), ('critical_percent', 'double precision'),
    ('mtd_cost', 'decimal(38, 10)'), ('days_elapsed', 'integer'), ('days_in_month', 'integer'),
    ('daily_burn', 'decimal(38, 10)'), ('projected_cost', 'decimal(38, 10)'), ('projection_method', 'varchar'),
    ('pct_used', 'double precision'), ('projected_pct', 'double precision'), ('status', 'varchar'),
    ('projected_status', 'varchar'), ('projected_over_budget', 'boolean'), ('warning_crossed_on', 'date'),
    ('critical_crossed_on', 'date'), ('runs_out_on', 'date'),
] -%}
select
{%- for name, type in columns %}
    {{ name if source_exists(relation) else 'cast(null as ' ~ type ~ ')' }} as {{ name }}{{ ',' if not loop.last }}
{%- endfor %}
{%- if source_exists(relation) %}
from {{ relation }}
{%- else %}
where 1 = 0
{%- endif %}
