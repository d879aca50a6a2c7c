"""Google Cloud: the billing export (files: `export`; BigQuery: `bigquery`), its FOCUS 1.2 mapping
(`focus_mapping`) and list prices from the Cloud Billing Catalog (`catalog`)."""
