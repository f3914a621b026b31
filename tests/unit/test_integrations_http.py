"""HttpProvider: retries, Retry-After, typed errors, breaker, timeouts, spans, no leaked keys."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eco2.domain.errors import SubagentError
from eco2.infrastructure.integrations.http import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    HttpProvider,
    MalformedResponseError,
    ProviderAuthError,
    ProviderErrorCode,
    ProviderRateLimitedError,
    ProviderUnavailableError,
    RetryPolicy,
    Scrubber,
    create_async_client,
    json_body,
)
from eco2.infrastructure.integrations.http.retry import parse_retry_after
from tests.fakes.providers.http_payloads import KEY
from tests.fakes.providers.http_scripted import Scripted, json_reply, text_reply


class Sleeps:
    """Records backoff sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    scripted: Scripted,
    *,
    retries: int = 2,
    breaker: CircuitBreaker | None = None,
    tracer_provider: TracerProvider | None = None,
) -> tuple[HttpProvider, Sleeps]:
    sleeps = Sleeps()
    scrubber = Scrubber([KEY])
    client = create_async_client(
        base_url="https://provider.test",
        transport=scripted.transport(),
        scrubber=scrubber,
        tracer_provider=tracer_provider,
    )
    provider = HttpProvider(
        "test",
        client,
        retry=RetryPolicy(retries=retries, backoff_base_s=0.1, backoff_max_s=1.0),
        breaker=breaker,
        scrubber=scrubber,
        sleep=sleeps,
    )
    return provider, sleeps


def body(response: httpx.Response) -> object:
    return json_body(response, "test")


async def call(provider: HttpProvider) -> object:
    return await provider.get("/x", body, params={"serviceKey": KEY, "q": "소파"})


async def test_500_then_success_is_retried_with_backoff() -> None:
    scripted = Scripted().on("/x", json_reply({}, 500), json_reply({"ok": 1}))
    provider, sleeps = make(scripted)
    assert await call(provider) == {"ok": 1}
    assert len(scripted.calls("/x")) == 2
    assert len(sleeps.calls) == 1 and 0.1 <= sleeps.calls[0] <= 0.2  # base plus jitter ≤ base


async def test_persistent_500_gives_up_after_the_retries() -> None:
    provider, sleeps = make(Scripted().on("/x", json_reply({}, 503)))
    with pytest.raises(ProviderUnavailableError, match="HTTP 503"):
        await call(provider)
    assert len(sleeps.calls) == 2


async def test_429_honours_retry_after() -> None:
    scripted = Scripted().on(
        "/x", json_reply({}, 429, **{"Retry-After": "2"}), json_reply({"ok": 1})
    )
    provider, sleeps = make(scripted)
    assert await call(provider) == {"ok": 1}
    assert sleeps.calls == [2.0]


async def test_retry_after_beyond_the_cap_stops_retrying() -> None:
    scripted = Scripted().on("/x", json_reply({}, 429, **{"Retry-After": "120"}))
    provider, sleeps = make(scripted)
    with pytest.raises(ProviderRateLimitedError) as caught:
        await call(provider)
    assert caught.value.retry_after_s == 120.0
    assert sleeps.calls == [] and len(scripted.calls()) == 1


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_are_not_retried(status: int) -> None:
    scripted = Scripted().on("/x", json_reply({"message": f"bad key {KEY}"}, status))
    provider, sleeps = make(scripted)
    with pytest.raises(ProviderAuthError) as caught:
        await call(provider)
    assert isinstance(caught.value, SubagentError)
    assert sleeps.calls == [] and KEY not in str(caught.value)


async def test_other_4xx_is_a_provider_error_code() -> None:
    provider, _ = make(Scripted().on("/x", json_reply({}, 400)))
    with pytest.raises(ProviderErrorCode, match="HTTP 400"):
        await call(provider)


async def test_malformed_json_is_typed_and_not_retried() -> None:
    scripted = Scripted().on("/x", text_reply("{not json", content_type="application/json"))
    provider, sleeps = make(scripted)
    with pytest.raises(MalformedResponseError):
        await call(provider)
    assert sleeps.calls == []


async def test_parse_bugs_become_malformed_response() -> None:
    provider, _ = make(Scripted().on("/x", json_reply({"a": 1})))

    def parse(response: httpx.Response) -> object:
        return response.json()["missing"]

    with pytest.raises(MalformedResponseError, match="KeyError"):
        await provider.get("/x", parse)


async def test_read_timeout_is_retried_then_unavailable() -> None:
    scripted = Scripted().on("/x", httpx.ReadTimeout(f"timed out reading https://p/?k={KEY}"))
    provider, sleeps = make(scripted, retries=1)
    with pytest.raises(ProviderUnavailableError, match="ReadTimeout") as caught:
        await call(provider)
    assert len(scripted.calls()) == 2 and len(sleeps.calls) == 1
    assert KEY not in str(caught.value) and caught.value.__cause__ is None


async def test_connect_error_then_success() -> None:
    scripted = Scripted().on("/x", httpx.ConnectError("refused"), json_reply([1]))
    provider, _ = make(scripted)
    assert await call(provider) == [1]


async def test_breaker_opens_then_recovers_through_half_open() -> None:
    clock, states = Clock(), []
    breaker = CircuitBreaker(
        "test",
        failure_threshold=2,
        reset_timeout_s=10,
        clock=clock,
        observer=lambda p, s: states.append((p, s)),
    )
    scripted = Scripted().on("/x", json_reply({}, 500))
    provider, _ = make(scripted, retries=0, breaker=breaker)
    for _ in range(2):
        with pytest.raises(ProviderUnavailableError):
            await call(provider)
    assert breaker.state is BreakerState.OPEN
    sent = len(scripted.calls())
    with pytest.raises(CircuitOpenError):
        await call(provider)
    assert len(scripted.calls()) == sent  # short-circuited: the provider was not called

    clock.now += 11
    scripted.replies["/x"].clear()
    scripted.on("/x", json_reply({"ok": 1}))
    assert await call(provider) == {"ok": 1}
    assert breaker.state is BreakerState.CLOSED
    assert states == [("test", "open"), ("test", "half_open"), ("test", "closed")]


async def test_failed_trial_reopens_the_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker("test", failure_threshold=1, reset_timeout_s=5, clock=clock)
    provider, _ = make(Scripted().on("/x", json_reply({}, 502)), retries=0, breaker=breaker)
    with pytest.raises(ProviderUnavailableError):
        await call(provider)
    clock.now += 6
    with pytest.raises(ProviderUnavailableError, match="HTTP 502"):
        await call(provider)  # the trial call went through and failed
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        await call(provider)


async def test_auth_errors_do_not_open_the_breaker() -> None:
    breaker = CircuitBreaker("test", failure_threshold=1)
    provider, _ = make(Scripted().on("/x", json_reply({}, 401)), breaker=breaker)
    for _ in range(3):
        with pytest.raises(ProviderAuthError):
            await call(provider)
    assert breaker.state is BreakerState.CLOSED


def test_breaker_observer_errors_are_contained(caplog: pytest.LogCaptureFixture) -> None:
    def broken(provider: str, state: str) -> None:
        raise RuntimeError("metrics down")

    breaker = CircuitBreaker("test", failure_threshold=1, observer=broken)
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert "provider_breaker_observer_failed" in caplog.text


async def test_key_never_reaches_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    scripted = Scripted().on("/x", json_reply({}, 500))
    provider, _ = make(scripted, retries=1)
    with pytest.raises(ProviderUnavailableError) as caught:
        await call(provider)
    assert "serviceKey" in str(scripted.calls()[0].url)  # the key was sent …
    assert "HTTP Request" in caplog.text  # … httpx logged the request …
    assert "provider_retry" in caplog.text and "provider_call_failed" in caplog.text
    encoded = str(httpx.URL("https://x", params={"k": KEY})).split("k=")[1]
    for text in (caplog.text, str(caught.value), *(str(r.__dict__) for r in caplog.records)):
        assert KEY not in text and encoded not in text  # … but never the key
    # Nor the query's other values (words of the user's message, coordinates): DESIGN.md §5.
    logged = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert logged and all("https://provider.test/x" in line for line in logged)
    assert not any("?" in line or "%EC%86%8C" in line or "소파" in line for line in logged)


async def test_spans_are_children_with_scrubbed_urls() -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider, _ = make(Scripted().on("/x", json_reply({"ok": 1})), tracer_provider=tracer_provider)
    with tracer_provider.get_tracer("test").start_as_current_span("subagent weather") as parent:
        await call(provider)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    child = spans["GET"]
    assert child.parent is not None
    assert child.parent.span_id == parent.get_span_context().span_id
    encoded = str(httpx.URL("https://x", params={"k": KEY})).split("k=")[1]
    for value in (child.attributes or {}).values():
        assert KEY not in str(value) and encoded not in str(value)
        assert "serviceKey" not in str(value)  # no query at all: it may carry the user's words
    urls = {k: v for k, v in (child.attributes or {}).items() if k in ("url.full", "http.url")}
    assert urls and all(str(v).endswith("/x") for v in urls.values())
    tracer_provider.shutdown()


def test_scrubber_redacts_encoded_forms_and_key_params() -> None:
    scrub = Scrubber([KEY])
    url = str(httpx.URL("https://h/p", params={"serviceKey": KEY, "q": 1}))
    assert KEY not in scrub(url) and "serviceKey=***" in scrub(url)
    assert scrub(f"Authorization: KakaoAK {KEY}") == "Authorization: KakaoAK ***"
    assert Scrubber()("https://h/?serviceKey=abc&x=1") == "https://h/?serviceKey=***&x=1"


async def test_deadline_bounds_the_whole_call_and_counts_as_failure() -> None:
    breaker = CircuitBreaker("test", failure_threshold=1)
    scripted = Scripted().on("/x", json_reply({}, 500))
    sleeps = Sleeps()
    client = create_async_client(base_url="https://provider.test", transport=scripted.transport())

    async def slow_sleep(seconds: float) -> None:
        sleeps.calls.append(seconds)
        await asyncio.sleep(1)

    provider = HttpProvider(
        "test",
        client,
        retry=RetryPolicy(retries=3, deadline_s=0.05),
        breaker=breaker,
        sleep=slow_sleep,
    )
    with pytest.raises(ProviderUnavailableError, match=r"no answer within 0\.05 s"):
        await call(provider)
    assert breaker.state is BreakerState.OPEN


async def test_cancelled_trial_reopens_the_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker("test", failure_threshold=1, reset_timeout_s=5, clock=clock)
    breaker.record_failure()
    clock.now += 6
    gate = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return json_reply({})

    client = httpx.AsyncClient(base_url="https://p.test", transport=httpx.MockTransport(hang))
    provider = HttpProvider("test", client, breaker=breaker)
    task = asyncio.create_task(call(provider))
    await asyncio.sleep(0.01)
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError, match="trial"):
        await call(provider)  # only one trial at a time
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is BreakerState.OPEN
