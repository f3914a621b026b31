"""The command line as a user runs it: a real process, the installed ``eco2`` script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ECO2 = str(Path(sys.executable).with_name("eco2"))


def eco2(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECO2_", "OPENAI_"))}
    env.update(ECO2_OFFLINE_TTFT_S="0", ECO2_OFFLINE_TOKENS_PER_S="0")  # no model latency
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
