select
    "x_ChargeDay" as charge_date,
    "ProviderName" as provider_name,
    "BillingAccountId" as billing_account_id,
    "SubAccountId" as sub_account_id,
    "SubAccountName" as sub_account_name,
    "ServiceCategory" as service_category,
    "ServiceName" as service_name,
    "ChargeCategory" as charge_category,
    "BillingCurrency" as billing_currency,
    {{ money('sum("BilledCost")') }} as billed_cost,
    {{ money('sum("EffectiveCost")') }} as effective_cost,
    {{ money('sum("ListCost")') }} as list_cost,
    {{ money('sum("ContractedCost")') }} as contracted_cost,
    count(*) as row_count
from {{ source('core', 'focus_costs') }}
group by
    "x_ChargeDay",
    "ProviderName",
    "BillingAccountId",
    "SubAccountId",
    "SubAccountName",
    "ServiceCategory",
    "ServiceName",
    "ChargeCategory",
    "BillingCurrency"
