import os

import dagster as dg

# Daily partitions are the unit users backfill. `end_offset=1` makes today a partition too: billing
# exports carry today's usage so far, and the daily schedule refreshes it.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("FINOPS_START_DATE", "2020-01-01"), end_offset=1
)

# A backfill of N days runs as one run, so each billing period touched is read once, not once per day.
single_run = dg.BackfillPolicy.single_run()

# Chargeback statements are monthly; same start as the days so any backfilled day has its month.
monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=os.environ.get("FINOPS_START_DATE", "2020-01-01")[:8] + "01", end_offset=1
)
