"""The ``eco2`` command: chat, classify, bench (DESIGN.md §6)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from eco2.domain.chat import ChatJob, ChatRequest, GeoPoint
from eco2.domain.errors import Eco2Error, InvalidRequestError
from eco2.domain.events import EventType, NodeTiming, StreamEvent
from eco2.entrypoints.cli.bench import bench_app
from eco2.entrypoints.cli.character_server import character_server
from eco2.entrypoints.cli.distributed import api, worker
from eco2.entrypoints.cli.errors import fail
from eco2.entrypoints.cli.render import node_table
from eco2.entrypoints.logs import configure_logging

app = typer.Typer(
    name="eco2",
    help="Eco² chat: a Korean recycling assistant with node-level observability.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(bench_app, name="bench")

from eco2.entrypoints.cli.loadtest import loadtest as _loadtest  # noqa: E402

app.command("loadtest")(_loadtest)


def parse_location(value: str | None) -> GeoPoint | None:
    """Parse ``"LAT,LON"``."""
    if value is None:
        return None
    try:
        lat, lon = (float(part) for part in value.split(","))
    except ValueError:
        raise InvalidRequestError("--location", "expected LAT,LON, e.g. 37.498,127.028") from None
    return GeoPoint(lat, lon)


class _TokenPrinter:
    """Writes streamed tokens to stdout until its reader goes away (``eco2 chat … | head``)."""

    def __init__(self) -> None:
        self.closed = False

    def __call__(self, _: str, event: StreamEvent) -> None:
        if self.closed or event.type is not EventType.TOKEN:
            return
        try:
            sys.stdout.write(event.payload["text"])
            sys.stdout.flush()
        except BrokenPipeError:  # the job still ends; the closing echo exits (click: EPIPE)
            self.closed = True


@app.command()
def chat(
    message: Annotated[str, typer.Argument(help="The message, e.g. '페트병 어떻게 버려?'")],
    location: Annotated[
        str | None, typer.Option("--location", help="Your position as LAT,LON.")
    ] = None,
    session: Annotated[
        str | None, typer.Option("--session", help="Session id (conversation thread).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run one chat job in-process, stream the answer, then print the node timings."""
    from eco2.bootstrap import build_application

    try:
        request = ChatRequest(message, session_id=session, user_location=parse_location(location))
        application = build_application(listener=None if as_json else _TokenPrinter())
    except Eco2Error as exc:
        raise fail(str(exc)) from None
    job = ChatJob(request)
    timeout_s = application.settings.serving.job_timeout_s  # ECO2_JOB_TIMEOUT_S, as a worker
    outcome = asyncio.run(application.process_chat.execute(job, timeout_s=timeout_s))
    if outcome is None:
        ended = asyncio.run(application.events.read(job.job_id, None, count=10_000))
        reason = ended[-1].payload.get("message", "") if ended else ""
        raise fail(f"the job failed: {reason or 'see the log (ECO2_LOG_LEVEL=DEBUG)'}", 1)
    if as_json:
        typer.echo(json.dumps(outcome.to_dict(), ensure_ascii=False))
        return
    typer.echo("\n")
    typer.echo(f"intents: {', '.join(outcome.intents)}   job: {job.job_id}   trace: {job.trace_id}")
    typer.echo(node_table(outcome.nodes))


@app.command()
def trace(
    job_id: Annotated[str, typer.Argument(help="The job id (from POST /api/v1/chat).")],
    url: Annotated[
        str, typer.Option("--url", help="Base URL of an eco2 API (eco2 serve or eco2 api).")
    ] = "http://127.0.0.1:8000",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Node waterfall of a job, from its own progress events: which node was the bottleneck."""
    from urllib.parse import quote

    import httpx

    path = f"/api/v1/chat/{quote(job_id, safe='')}/trace"  # an id is never a path of its own
    try:
        response = httpx.get(f"{url.rstrip('/')}{path}", timeout=10)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise fail(f"--url: not a usable http(s) URL ({exc})") from None
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach {url}: {exc}", 1) from None
    if response.status_code == 404:
        raise fail(f"no job {job_id} at {url} (streams expire after their TTL)", 1)
    if response.status_code != 200:
        raise fail(f"{url} answered {response.status_code}", 1)
    try:
        body = response.json()
        nodes = [NodeTiming(**node) for node in body["nodes"]]
        header = f"job {job_id}   status: {body['status']}   trace: {body['trace_id']}"
    except (ValueError, TypeError, KeyError):
        raise fail(f"{url} did not answer as an eco2 API (is --url right?)", 1) from None
    if as_json:
        typer.echo(json.dumps(body, ensure_ascii=False))
        return
    typer.echo(header)
    if body.get("truncated"):
        typer.echo("(the stream's oldest entries were trimmed: earlier nodes are missing)")
    typer.echo(node_table(nodes))


@app.command()
def classify() -> None:
    """Classify messages from stdin, one per line; print one JSON object per line."""
    from eco2.bootstrap import build_classifier
    from eco2.settings import Settings

    try:
        text = sys.stdin.buffer.read().decode("utf-8-sig")  # a byte-order mark is not text
        lines = [line.strip() for line in text.splitlines()]
    except (UnicodeDecodeError, OSError) as exc:
        raise fail(f"cannot read stdin as UTF-8 text: {exc}") from None
    messages = [line for line in lines if line]
    if not messages:
        raise fail("no messages on stdin (one message per line)")
    settings = Settings()
    try:
        classifier = build_classifier(settings)
    except Eco2Error as exc:
        raise fail(str(exc)) from None

    async def run() -> None:
        for text in messages:
            async with asyncio.timeout(settings.serving.job_timeout_s):  # ECO2_JOB_TIMEOUT_S
                prediction = await classifier.classify(text)
            intents = [i.value for i in prediction.intents]
            typer.echo(json.dumps({"text": text, "intents": intents}, ensure_ascii=False))

    try:
        asyncio.run(run())
    except BrokenPipeError:
        raise  # stdout's reader left (``| head``): click exits quietly
    except TimeoutError:
        raise fail(f"no classification within {settings.serving.job_timeout_s:g} s", 1) from None
    except Exception as exc:  # the model server refused, failed or answered nonsense
        raise fail(f"classification failed: {type(exc).__name__}: {exc}"[:300], 1) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to bind.")] = 8000,
) -> None:
    """Embedded mode: API + worker + web page in one process, in-memory transports."""
    from eco2.bootstrap.serving import build_embedded
    from eco2.entrypoints.api.server import listening_socket, run_api

    try:
        deps = build_embedded()
    except Eco2Error as exc:
        raise fail(str(exc)) from None
    try:
        sock = listening_socket(host, port)
    except OSError as exc:
        raise fail(exc.strerror or str(exc), 1) from None
    typer.echo(f"eco2: serving on http://{host}:{port}/ (embedded mode)", err=True)
    run_api(deps, host, port, sock=sock)


app.command()(api)
app.command()(worker)
app.command("character-server")(character_server)


def settings_problem(exc: ValidationError | SettingsError) -> str:
    """One line naming each invalid environment variable and what is wrong (never its value)."""
    if isinstance(exc, SettingsError):  # a value the source could not decode (e.g. JSON)
        return f"invalid settings: {exc}"
    problems = [
        f"{'.'.join(str(part) for part in error['loc'])}: "
        f"{str(error['msg']).removeprefix('Value error, ')}"
        for error in exc.errors()
    ]
    return "invalid settings: " + "; ".join(problems)


def main() -> None:
    """Console-script entry point."""
    configure_logging()
    try:
        app()
    except (ValidationError, SettingsError) as exc:  # Settings() read a bad environment value
        sys.exit(fail(settings_problem(exc)).exit_code)
