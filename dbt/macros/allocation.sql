{#- The allocation dimension columns of outputs.cost_allocation (x_Team, x_CostCenter, …): user-defined in
    allocation_rules.yaml, so read from the table when the model runs (empty while dbt only parses). -#}
{% macro allocation_dimension_columns(relation) -%}
    {%- set lineage = ['x_ChargeDay', 'x_SourceName', 'x_AllocationRuleId', 'x_HasRequiredTags'] -%}
    {%- set dimensions = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- if column.name.startswith('x_') and column.name not in lineage -%}
                {%- do dimensions.append(column.name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(dimensions) }}
{%- endmacro %}

{#- x_CostCenter → cost_center -#}
{% macro snake_case(name) -%}
    {{ return(modules.re.sub('(?<!^)(?=[A-Z])', '_', name.removeprefix('x_')).lower()) }}
{%- endmacro %}

{#- True when the pipeline has written the source table (a fresh warehouse may have only core tables:
    the marts over outputs are then created empty, and filled on the next build after the assets ran). -#}
{% macro source_exists(relation) -%}
    {%- if not execute -%}{{ return(true) }}{%- endif -%}
    {{ return(adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) is not none) }}
{%- endmacro %}
