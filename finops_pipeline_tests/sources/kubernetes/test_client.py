"""OpenCostClient against a real local HTTP server (stdlib http.server in a thread) serving recorded JSON."""

import json
import threading
from collections import deque
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from finops_pipeline.sources.kubernetes import (
    DEFAULT_AGGREGATE,
    OpenCostApiError,
    OpenCostClient,
    allocation_response_to_frame,
    read_allocation_json,
)
from finops_pipeline_tests.paths import SHARED_DATA

RECORDED = SHARED_DATA / "opencost-k8s" / "kubecost_docs_allocation_api_container_level_example.json"
TOKEN_ENV = "FINOPS_TEST_OPENCOST_TOKEN"


class Handler(BaseHTTPRequestHandler):
    server: "RecordingServer"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        status, body = self.server.next_response(self.path)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args) -> None:  # keep pytest output clean
        pass


class RecordingServer(ThreadingHTTPServer):
    """Answers each GET with the next scripted (status, body), else with the recorded allocation response."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.script: deque[tuple[int, object]] = deque()
        self.recorded = json.loads(RECORDED.read_text())

    def next_response(self, path: str) -> tuple[int, object]:
        if self.script:
            return self.script.popleft()
        return 200, self.recorded

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    srv = RecordingServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def client(server: RecordingServer, **kwargs) -> OpenCostClient:
    return OpenCostClient(server.url + "/", timeout=5, backoff_seconds=0.01, **kwargs)


def query(path: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(path)
    return parts.path, parse_qs(parts.query, keep_blank_values=True)


def test_one_request_per_day_with_the_documented_query(server):
    days = [date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
    results = list(client(server).iter_allocations(days))
    assert [day for day, _, _ in results] == days
    assert len(server.seen) == 3
    for (path, _), day, (_, url, _) in zip(server.seen, days, results, strict=True):
        endpoint, params = query(path)
        assert endpoint == "/allocation"
        nxt = date.fromordinal(day.toordinal() + 1)
        assert params == {
            "window": [f"{day.isoformat()}T00:00:00Z,{nxt.isoformat()}T00:00:00Z"],
            "aggregate": [DEFAULT_AGGREGATE],
            "accumulate": ["false"],
            "step": ["1d"],
        }
        assert url == server.url + path
    assert query(server.seen[1][0])[1]["window"] == ["2024-02-29T00:00:00Z,2024-03-01T00:00:00Z"]  # leap day


def test_optional_parameters_and_path(server):
    oc = client(server, allocation_path="allocation/compute")
    oc.fetch_allocation(date(2024, 5, 1), aggregate="namespace", resolution="5m", include_idle=True)
    endpoint, params = query(server.seen[0][0])
    assert endpoint == "/allocation/compute"
    assert params["aggregate"] == ["namespace"] and params["resolution"] == ["5m"]
    assert params["includeIdle"] == ["true"]


def test_response_is_the_recorded_json_and_converts_like_the_file(server):
    oc = client(server)
    payload = oc.fetch_allocation(date(2023, 1, 27))
    assert payload == json.loads(RECORDED.read_text())
    url = oc.allocation_url(date(2023, 1, 27))
    frame = allocation_response_to_frame(payload, cluster=None, source="opencost", source_file=url)
    from_file = read_allocation_json(RECORDED, cluster=None, source="opencost", source_file=url)
    assert frame.equals(from_file)
    assert frame["cpu_core_request_average"][0] == 0.05
    assert frame["x_opencost_total_cost"][0] == Decimal("0.004661")
    assert frame["x_SourceFile"][0] == url


def test_a_503_is_retried_then_the_200_is_returned(server):
    server.script.append((503, {"code": 503, "message": "prometheus not ready"}))
    payload = client(server).fetch_allocation(date(2024, 5, 1))
    assert payload["code"] == 200
    assert len(server.seen) == 2
    assert server.seen[0][0] == server.seen[1][0]  # the same day asked again


def test_persistent_5xx_gives_up_with_url_and_status_but_no_secret(server, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "s3cr3t-token")
    server.script.extend([(500, {"code": 500, "message": "boom"})] * 3)
    oc = client(server, max_attempts=3, bearer_token_env=TOKEN_ENV)
    with pytest.raises(OpenCostApiError) as caught:
        oc.fetch_allocation(date(2024, 5, 1))
    assert len(server.seen) == 3
    assert caught.value.status == 500
    assert caught.value.url == oc.allocation_url(date(2024, 5, 1))
    assert oc.allocation_url(date(2024, 5, 1)) in str(caught.value)
    assert "gave up after 3 attempts" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_client_errors_are_not_retried(server):
    server.script.append((404, b"404 page not found"))
    with pytest.raises(OpenCostApiError) as caught:
        client(server).fetch_allocation(date(2024, 5, 1))
    assert caught.value.status == 404 and "404 page not found" in str(caught.value)
    assert len(server.seen) == 1


def test_error_code_inside_a_200_body_and_non_json_body(server):
    server.script.append((200, {"code": 400, "message": "invalid window"}))
    server.script.append((200, b"<html>proxy login</html>"))
    oc = client(server)
    with pytest.raises(OpenCostApiError, match="code 400: invalid window"):
        oc.fetch_allocation(date(2024, 5, 1))
    with pytest.raises(OpenCostApiError, match="not JSON"):
        oc.fetch_allocation(date(2024, 5, 1))


def test_bearer_token_and_extra_headers_come_from_named_env_vars(server, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "tok-123")
    monkeypatch.setenv("FINOPS_TEST_TENANT", "team-a")
    client(
        server, bearer_token_env=TOKEN_ENV, headers_from_env={"X-Scope-OrgID": "FINOPS_TEST_TENANT"}
    ).fetch_allocation(date(2024, 5, 1))
    headers = server.seen[0][1]
    assert headers["authorization"] == "Bearer tok-123"
    assert headers["x-scope-orgid"] == "team-a"


def test_missing_token_variable_is_named_before_any_request(server, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(OpenCostApiError, match=TOKEN_ENV):
        client(server, bearer_token_env=TOKEN_ENV).fetch_allocation(date(2024, 5, 1))
    assert server.seen == []


def test_connection_refused_is_retried_then_reported():
    srv = RecordingServer()  # bound, then closed: nothing listens on that port any more
    url = srv.url
    srv.server_close()
    oc = OpenCostClient(url, timeout=2, max_attempts=2, backoff_seconds=0.01)
    with pytest.raises(OpenCostApiError) as caught:
        oc.fetch_allocation(date(2024, 5, 1))
    assert "gave up after 2 attempts" in str(caught.value) and "ConnectionError" in str(caught.value)
    assert caught.value.status is None
