"""AWS ingestion from S3 through boto3 (against moto), manifest-driven, through the Dagster job."""

import boto3
from moto import mock_aws

from finops_pipeline.demo import generate_demo
from finops_pipeline.warehouse import Warehouse
from finops_pipeline_tests.defs.pipeline_run import DEMO_END, FIRST_DAY, expected_unblended_by_day, run, use_home

BUCKET = "finops-demo-cur"


def test_cur_read_from_s3_reconciles(tmp_path, monkeypatch):
    use_home(monkeypatch, tmp_path)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "FINOPS_AWS_BUCKET": BUCKET,
    }.items():
        monkeypatch.setenv(name, value)
    aws_root = tmp_path / "demo" / "aws"
    generate_demo(tmp_path / "demo", end_date=DEMO_END, days=90, seed=7)

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        for path in aws_root.rglob("*"):
            if path.is_file():
                s3.upload_file(str(path), BUCKET, path.relative_to(aws_root).as_posix())
        result = run()

    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    expected = expected_unblended_by_day(aws_root, FIRST_DAY, DEMO_END)
    with Warehouse.from_url(f"duckdb:///{tmp_path / 'warehouse.duckdb'}") as wh:
        totals = wh.read_frame(
            'SELECT "x_ChargeDay" AS day, SUM("BilledCost") AS billed FROM core.focus_costs '
            "WHERE \"x_SourceName\" = 'aws' GROUP BY 1 ORDER BY 1"
        )
        files = wh.read_frame(
            'SELECT DISTINCT "x_SourceFile" AS f FROM core.focus_costs WHERE "x_SourceName" = \'aws\''
        )
    assert dict(zip(totals["day"], totals["billed"], strict=True)) == expected
    assert all(f.startswith(f"s3://{BUCKET}/cur/finops-demo/") for f in files["f"])
