{#- No two rows share the same values in these columns (nulls compare equal, as in GROUP BY).
    Written here because dbt_utils (a package download) is not available offline. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    select {{ combination_of_columns | join(', ') }}, count(*) as duplicates
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}
