"""The CLI's own logic against fake services (httpx.MockTransport): error mapping and exit
codes, feed resolution, the streamed upload, --follow's outcome, paging, --json output.
The real services are in tests/integration."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tts_cli import context
from tts_cli.errors import ExitCode
from tts_cli.main import app
from typer.testing import CliRunner, Result

Handler = Callable[[httpx.Request], httpx.Response]

FEEDS = [
    {"id": "f-1", "name": "uk-main", "market": "UK", "connection_id": None, "active": True},
    {"id": "f-2", "name": "us-main", "market": "US", "connection_id": "c-1", "active": False},
]
SECRET = "tts_0123456789abcdef-very-secret"


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Handler], list[httpx.Request]]]:
    """Route the CLI's calls to a handler; returns the list of requests it received."""

    def install(handler: Handler) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            request.read()
            seen.append(request)
            return handler(request)

        monkeypatch.setattr(context, "transport", httpx.MockTransport(record))
        return seen

    yield install


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["--api-key", SECRET, "--admin-key", SECRET, *args])


def feeds_then(handler: Handler) -> Handler:
    def both(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path == "/v1/feeds":
            return httpx.Response(200, json=FEEDS)
        return handler(request)

    return both


def test_a_refused_connection_names_the_service_and_make_up(serve: Any) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    serve(down)
    result = run("--catalog-url", "http://127.0.0.1:1", "feeds", "list")
    assert result.exit_code == ExitCode.UNREACHABLE
    assert "catalog-sync is not reachable at http://127.0.0.1:1" in result.stderr
    assert "make up" in result.stderr
    assert result.stdout == ""


def test_a_refused_key_exits_4_and_never_prints_the_key(serve: Any) -> None:
    requests = serve(
        lambda r: httpx.Response(401, json={"error": "unauthorized", "detail": "no valid key"})
    )
    result = run("connections", "list")
    assert result.exit_code == ExitCode.AUTH
    assert "auth-broker refused GET /v1/connections: 401 unauthorized — no valid key" in (
        result.stderr
    )
    assert "--admin-key or TTS_ADMIN_KEY" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    # The key is sent (as a bearer header) but nowhere else.
    assert requests[0].headers["Authorization"] == f"Bearer {SECRET}"


def test_an_unknown_feed_lists_the_feeds_there_are(serve: Any) -> None:
    serve(feeds_then(lambda r: httpx.Response(500)))
    result = run("readiness", "nope")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "no feed is named or identified 'nope' (feeds: uk-main, us-main)" in result.stderr


def test_a_feed_is_found_by_name_or_id(serve: Any) -> None:
    requests = serve(feeds_then(lambda r: httpx.Response(200, content=b"feed:\n  name: us-main\n")))
    by_name = run("feeds", "export", "us-main")
    by_id = run("feeds", "export", "f-2")
    assert by_name.exit_code == by_id.exit_code == 0
    assert by_name.stdout == by_id.stdout == "feed:\n  name: us-main\n"
    assert [r.url.path for r in requests if r.url.path != "/v1/feeds"] == ["/v1/feeds/f-2/file"] * 2


def test_a_refused_feed_file_lists_each_problem_with_its_line(serve: Any, tmp_path: Path) -> None:
    body = {
        "error": "invalid_feed_file",
        "detail": "the feed file was refused whole: 2 problem(s); fix each and apply again",
        "problems": [
            {"path": "feed.market", "line": 4, "problem": "Input should be 'US' or 'UK'"},
            {"path": "lists[0].taxonomy", "line": 9, "problem": "unknown taxonomy"},
        ],
    }
    requests = serve(lambda r: httpx.Response(422, json=body))
    file = tmp_path / "feed.yaml"
    file.write_text("feed:\n  name: x\n")
    result = run("feeds", "apply", "-f", str(file))
    assert result.exit_code == ExitCode.INVALID
    assert "feed.market (line 4): Input should be 'US' or 'UK'" in result.stderr
    assert "lists[0].taxonomy (line 9): unknown taxonomy" in result.stderr
    assert requests[0].content == b"feed:\n  name: x\n"


def test_a_missing_local_file_is_a_usage_error(serve: Any, tmp_path: Path) -> None:
    serve(lambda r: httpx.Response(500))
    result = run("feeds", "apply", "-f", str(tmp_path / "absent.yaml"))
    assert result.exit_code == ExitCode.USAGE
    assert "cannot read" in result.stderr and "absent.yaml" in result.stderr


def test_upload_streams_the_file_and_shows_the_report(serve: Any, tmp_path: Path) -> None:
    report = {
        "upload_id": "u-1", "source_id": "s", "kind": "snapshot", "format": "csv",
        "status": "applied", "rows_read": 3, "new": 2, "changed": 0, "unchanged": 0,
        "deleted": 0, "refused": 1, "refused_by_reason": {"missing_product_id": 1},
        "problems": [{"line": 4, "reason": "missing_product_id: no product_id", "product_id": None}],
        "problems_truncated": False, "duration_s": 0.01,
    }  # fmt: skip
    requests = serve(feeds_then(lambda r: httpx.Response(200, json=report)))
    data = b"product_id,title\n" + b"".join(b"p%d,T\n" % i for i in range(100_000))
    file = tmp_path / "products.csv"
    file.write_bytes(data)
    result = run("products", "upload", "uk-main", str(file))
    assert result.exit_code == ExitCode.INVALID, result.output  # one row refused
    assert "1 of 3 rows refused (the other rows were applied)" in result.stderr
    upload = requests[-1]
    assert (upload.method, upload.url.path, upload.url.params["format"]) == (
        "PUT", "/v1/feeds/f-1/products", "csv",
    )  # fmt: skip
    assert upload.content == data
    assert "missing_product_id" in result.stdout and "rows read" in result.stdout

    as_json = run("products", "upload", "uk-main", str(file), "--upsert", "--json")
    assert as_json.exit_code == ExitCode.INVALID
    assert json.loads(as_json.stdout) == report
    assert requests[-1].method == "POST" and requests[-1].url.path.endswith("products:upsert")


def test_upload_needs_a_format_it_cannot_guess(serve: Any, tmp_path: Path) -> None:
    serve(feeds_then(lambda r: httpx.Response(500)))
    file = tmp_path / "export.txt"
    file.write_text("x")
    result = run("products", "upload", "uk-main", str(file))
    assert result.exit_code == ExitCode.USAGE
    assert "--format csv, ndjson or shopify" in result.stderr


def test_the_mass_deletion_guard_says_force(serve: Any, tmp_path: Path) -> None:
    body = {
        "error": "mass_deletion_refused",
        "detail": "the snapshot would delete 90% of the stored rows",
        "upload": {"upload_id": "u", "status": "refused", "deleted": 0, "rows_read": 1},
    }
    serve(feeds_then(lambda r: httpx.Response(409, json=body)))
    file = tmp_path / "p.ndjson"
    file.write_text('{"product_id": "a"}\n')
    result = run("products", "upload", "uk-main", str(file))
    assert result.exit_code == ExitCode.CONFLICT
    assert "--force" in result.stderr
    assert "would delete 90%" in result.stderr


def _run(status: str, done: int, total: int = 4, **extra: Any) -> dict[str, Any]:
    return {
        "id": "r-1", "feed_id": "f-1", "trigger": "manual", "dry_run": False, "only": "all",
        "status": status, "reason": extra.get("reason"), "progress": {"done": done, "total": total},
        "counts": extra.get("counts", {}), "cancel_requested": False,
        "created_at": "2026-12-01T12:00:00Z", "started_at": None, "finished_at": None,
        "duration_s": None,
    }  # fmt: skip


def _runs_service(states: list[dict[str, Any]]) -> Handler:
    queue = list(states)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            assert json.loads(request.content) == {"dry_run": True, "only": "failed"}
            return httpx.Response(202, json=_run("queued", 0))
        return httpx.Response(200, json=queue.pop(0))

    return feeds_then(handler)


def test_follow_ends_with_the_counts_and_exit_0_when_it_succeeded(serve: Any) -> None:
    counts = {"create": {"ok": 3, "failed": 1}}
    serve(
        _runs_service([_run("running", 1), _run("running", 3), _run("succeeded", 4, counts=counts)])
    )
    result = run(
        "runs", "start", "uk-main", "--dry-run", "--only", "failed", "--follow", "--interval", "0.1"
    )
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.stdout and "create" in result.stdout


@pytest.mark.parametrize("status", ["failed", "paused", "cancelled"])
def test_follow_exits_1_when_the_run_did_not_succeed(serve: Any, status: str) -> None:
    serve(_runs_service([_run("running", 2), _run(status, 2, reason="connection revoked")]))
    result = run(
        "--json", "runs", "start", "uk-main", "--dry-run", "--only", "failed", "--follow",
        "--interval", "0.1",
    )  # fmt: skip
    assert result.exit_code == ExitCode.FAILED
    assert json.loads(result.stdout)["status"] == status
    assert f"run r-1 {status}: connection revoked" in result.stderr


def test_a_run_in_progress_is_a_conflict_with_what_to_do(serve: Any) -> None:
    body = {"error": "run_in_progress", "detail": "run r-0 of feed uk-main is running"}
    serve(feeds_then(lambda r: httpx.Response(409, json=body)))
    result = run("runs", "start", "uk-main")
    assert result.exit_code == ExitCode.CONFLICT
    assert "tts runs list FEED" in result.stderr


def test_orders_list_follows_the_cursor_up_to_the_limit(serve: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params.get("cursor") or 0)
        limit = int(request.url.params["limit"])
        assert request.url.params.get_list("status") == ["AWAITING_SHIPMENT"]
        ids = range(after + 1, min(after + limit, 7) + 1)
        orders = [{"id": str(i), "status": "AWAITING_SHIPMENT"} for i in ids]
        return httpx.Response(
            200,
            json={
                "orders": orders,
                "next_cursor": str(after + len(orders)),
                "has_more": max(ids) < 7,
            },
        )

    serve(handler)
    result = run("orders", "list", "--status", "AWAITING_SHIPMENT", "--json", "--limit", "5")
    assert [o["id"] for o in json.loads(result.stdout)] == ["1", "2", "3", "4", "5"]
    every = run("orders", "list", "--status", "AWAITING_SHIPMENT", "--json", "--limit", "50")
    assert [o["id"] for o in json.loads(every.stdout)] == [str(i) for i in range(1, 8)]


def test_shipments_post_sends_the_notifiers_fields(serve: Any) -> None:
    requests = serve(lambda r: httpx.Response(202, json={"id": "s-1", "duplicate": False}))
    result = run(
        "shipments", "post", "--order-id", "576", "--tracking-number", "1Z9",
        "--carrier", "Royal Mail 24", "--shipped-at", "2026-12-01T10:00:00+00:00",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(requests[0].content) == {
        "order_id": "576",
        "tracking_number": "1Z9",
        "carrier": "Royal Mail 24",
        "shipped_at": "2026-12-01T10:00:00+00:00",
    }
    assert "shipment s-1 accepted" in result.stdout


def test_a_validation_error_lists_the_fields(serve: Any) -> None:
    body = {
        "error": "invalid_request",
        "detail": "fix the listed fields",
        "fields": [{"field": "body.tracking_number", "problem": "too long"}],
    }
    serve(lambda r: httpx.Response(422, json=body))
    result = run("shipments", "post", "--order-id", "1", "--tracking-number", "x")
    assert result.exit_code == ExitCode.INVALID
    assert "body.tracking_number: too long" in result.stderr


def test_json_output_is_the_services_document(serve: Any) -> None:
    serve(feeds_then(lambda r: httpx.Response(500)))
    result = run("feeds", "list", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == FEEDS
    table = run("feeds", "list")
    assert "uk-main" in table.stdout and "us-main" in table.stdout


def test_a_5xx_is_a_service_error(serve: Any) -> None:
    serve(lambda r: httpx.Response(500, json={"error": "internal", "detail": "unexpected"}))
    result = run("connections", "list")
    assert result.exit_code == ExitCode.SERVICE
    assert "500 internal" in result.stderr


def _complete(words: str, cword: int) -> Result:
    env = {"_TTS_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    return CliRunner().invoke(app, [], env=env, prog_name="tts")


def test_shell_completion_offers_commands_and_feed_names(serve: Any) -> None:
    serve(feeds_then(lambda r: httpx.Response(500)))
    assert _complete("tts fe", 1).stdout.split() == ["feedback", "feeds"]
    assert _complete("tts readiness ", 2).stdout.split() == ["uk-main", "us-main"]
    assert _complete("tts runs start uk", 3).stdout.split() == ["uk-main"]


def test_feed_completion_is_silent_when_catalog_sync_is_down(serve: Any) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    serve(down)
    result = _complete("tts readiness ", 2)
    assert result.exit_code == 0 and result.stdout.split() == []


def test_the_completion_script_is_typers(serve: Any) -> None:
    result = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="tts")
    assert result.exit_code == 0
    assert "_tts_completion" in result.stdout and "_TTS_COMPLETE=complete_bash" in result.stdout


def test_ctrl_c_stops_following_not_the_run(serve: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json=_run("running", 1))
        raise KeyboardInterrupt

    requests = serve(feeds_then(handler))
    result = run("runs", "start", "uk-main", "--follow", "--interval", "0.1")
    assert result.exit_code == ExitCode.INTERRUPTED
    assert "stopped following run r-1; the run goes on" in result.stderr
    assert "tts runs show uk-main r-1 --follow" in result.stderr
    assert not any(r.url.path.endswith(":cancel") for r in requests)


def test_the_progress_tally_sums_outcomes_over_actions() -> None:
    from tts_cli.runs import tally

    counts = {"create": {"ok": 3, "failed": 1}, "skip": {"ok": 5}, "edit": {"deferred": 2}}
    assert tally(_run("running", 11, counts=counts)) == "deferred 2 · failed 1 · ok 8"
