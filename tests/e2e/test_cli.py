"""The command line as a user runs it: a real process, the installed ``eco2`` script."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

ECO2 = str(Path(sys.executable).with_name("eco2"))


def eco2(
    *args: str, stdin: bytes | None = None, **variables: str
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECO2_", "OPENAI_"))}
    env.update(ECO2_OFFLINE_TTFT_S="0", ECO2_OFFLINE_TOKENS_PER_S="0")  # no model latency
    env.update(variables)
    return subprocess.run(
        [ECO2, *args], input=stdin, capture_output=True, timeout=120, env=env, check=False
    )


def test_chat_streams_pet_steps_then_the_timing_table() -> None:
    done = eco2("chat", "페트병 어떻게 버려?")
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode()
    answer, _, table = out.partition("intents:")
    assert "투명 페트병" in answer and "라벨" in answer
    for node in ("intent", "router", "waste_rag", "weather", "aggregator", "answer"):
        assert f"\n{node} " in table
    assert "slowest" in table
    assert done.stderr == b""


def test_chat_json_contract() -> None:
    done = eco2("chat", "--json", "--location", "37.5665,126.978", "소파 버리는 방법이랑 내일 날씨")
    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert set(result) == {"job_id", "intents", "subagents", "answer", "nodes", "usage", "trace_id"}
    assert result["intents"][:2] == ["bulk_waste", "weather"]
    assert {s["name"] for s in result["subagents"]} == {"bulk_waste", "weather"}
    for node in result["nodes"]:
        assert set(node) == {"name", "status", "start_ms", "duration_ms"}
    assert set(result["usage"]) == {"input_tokens", "output_tokens"}
    assert len(result["trace_id"]) == 32


def test_classify_reads_lines_and_prints_json_lines() -> None:
    done = eco2("classify", stdin="페트병 어떻게 버려?\n\n이코 소개해줘\n".encode())
    assert done.returncode == 0, done.stderr.decode()
    rows = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert rows == [
        {"text": "페트병 어떻게 버려?", "intents": ["waste"]},
        {"text": "이코 소개해줘", "intents": ["character"]},
    ]


def test_bad_input_is_a_clear_error() -> None:
    for args, stdin, fragment in (
        (("chat", "   "), None, "message: must not be empty"),
        (("chat", "--location", "north", "hi"), None, "--location"),
        (("classify",), b"", "no messages on stdin"),
        (("classify",), b"\xff\xfe\x00bad", "cannot read stdin"),
    ):
        done = eco2(*args, stdin=stdin)
        assert done.returncode == 2, args
        assert fragment in done.stderr.decode()
        assert b"Traceback" not in done.stderr


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_bad_setting_is_a_clear_error_naming_the_variable() -> None:
    for args, variables, fragment in (
        (("chat", "hi"), {"ECO2_SUBAGENT_TIMEOUT_S": "abc"}, "ECO2_SUBAGENT_TIMEOUT_S: "),
        (("worker",), {"ECO2_AMQP_URL": "rabbitmq"}, "ECO2_AMQP_URL: the scheme must be"),
        (("api",), {"ECO2_AMQP_URL": "amqp://guest:pw@/"}, "ECO2_AMQP_URL: the URL names no"),
        (("api",), {"ECO2_REDIS_URL": "redis://cache:port/0"}, "ECO2_REDIS_URL: not a URL"),
        # Past RabbitMQ's consumer timeout the broker would take the job back mid-run.
        (("worker",), {"ECO2_JOB_TIMEOUT_S": "3600"}, "ECO2_JOB_TIMEOUT_S: Input should be"),
    ):
        done = eco2(*args, **variables)
        assert done.returncode == 2, (args, done.stderr.decode())
        assert fragment in done.stderr.decode()
        assert b"Traceback" not in done.stderr


def test_an_unreachable_service_is_named_without_its_password() -> None:
    redis = f"redis://:secret-pw@127.0.0.1:{closed_port()}/0"
    for args in (("worker", "--redis-url", redis), ("api", "--redis-url", redis)):
        done = eco2(*args)
        stderr = done.stderr.decode()
        assert done.returncode == 1, (args, stderr)
        assert "cannot reach Redis at 127.0.0.1:" in stderr and "(ECO2_REDIS_URL)" in stderr
        assert "secret-pw" not in stderr and "Traceback" not in stderr


def test_chat_and_classify_end_with_a_clear_error_instead_of_hanging_or_a_traceback() -> None:
    slow = eco2(
        "chat", "페트병 어떻게 버려?", ECO2_JOB_TIMEOUT_S="0.3", ECO2_OFFLINE_TOKENS_PER_S="5"
    )
    assert slow.returncode == 1, slow.stderr.decode()
    assert "the job failed: no answer within 0.3 s" in slow.stderr.decode()
    refused = eco2(
        "classify",
        stdin="페트병\n".encode(),
        ECO2_LLM_PROVIDER="openai",
        OPENAI_API_KEY="sk-test-not-a-real-key",
        OPENAI_BASE_URL=f"http://127.0.0.1:{closed_port()}/v1",
        ECO2_LLM_MAX_RETRIES="0",
    )
    assert refused.returncode == 1, refused.stderr.decode()
    assert "classification failed: " in refused.stderr.decode()
    assert b"Traceback" not in refused.stderr and b"sk-test" not in refused.stderr


class NotAnApi(BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


def test_trace_with_a_bad_url_or_a_server_that_is_not_eco2_is_a_clear_error() -> None:
    for url in ("http://[::1", "notaurl", "ftp://127.0.0.1/"):
        bad = eco2("trace", "job-1", "--url", url)
        assert bad.returncode == 2, url
        assert "--url: not a usable http(s) URL" in bad.stderr.decode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotAnApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        other = eco2("trace", "job-1", "--url", url)
        climbing = eco2("trace", "../../../healthz?", "--url", url)
    finally:
        server.shutdown()
        server.server_close()
    assert other.returncode == 1 and "did not answer as an eco2 API" in other.stderr.decode()
    assert b"Traceback" not in other.stderr
    assert climbing.returncode == 1  # the id stayed one path segment: no other endpoint asked
    assert NotAnApi.paths == [
        "/api/v1/chat/job-1/trace",
        "/api/v1/chat/..%2F..%2F..%2Fhealthz%3F/trace",
    ]


def test_classify_ignores_a_byte_order_mark() -> None:
    done = eco2("classify", stdin="\ufeff페트병 어떻게 버려?\n".encode())
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["text"] == "페트병 어떻게 버려?"


def test_output_to_a_reader_that_left_ends_quietly() -> None:
    """``eco2 chat … | head -c 5``: stdout's reader is gone before the answer is written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECO2_", "OPENAI_"))}
    env.update(ECO2_OFFLINE_TTFT_S="0", ECO2_OFFLINE_TOKENS_PER_S="0", ECO2_LOG_LEVEL="INFO")
    for args, stdin in (
        (("chat", "페트병 어떻게 버려?"), None),
        (("classify",), "페트병 어떻게 버려?\n".encode() * 2000),
    ):
        process = subprocess.Popen(
            [ECO2, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert process.stdout is not None
        process.stdout.close()  # every write now fails with EPIPE
        _, err = process.communicate(stdin, timeout=120)
        assert process.returncode == 1, args
        assert b"Traceback" not in err and b"event_listener_failed" not in err, err.decode()
        assert b"classification failed" not in err


def test_serve_on_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = eco2("serve", "--port", str(busy.getsockname()[1]))
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "eco2: error: cannot listen on 127.0.0.1:" in err and "serving on" not in err
