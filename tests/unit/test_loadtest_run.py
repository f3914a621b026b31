"""The load-test users against a scripted service: how a job's event stream is followed."""

from __future__ import annotations

import httpx

from eco2.entrypoints.cli.loadtest_run import MAX_RESUMES, JobResult, run_load


def recycling_service(tokens: int, per_connection: int) -> httpx.MockTransport:
    """A job of ``tokens`` token events then ``done``, served ``per_connection`` events per
    connection (the server closes it, as with ``ECO2_SSE_MAX_CONNECTION_S``); ``0`` serves
    only keep-alive comments: a stream that never moves."""
    events = [f'id: {n}-0\nevent: token\ndata: {{"count": 1}}\n\n' for n in range(1, tokens + 1)]
    events.append(f"id: {tokens + 1}-0\nevent: done\ndata: {{}}\n\n")

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={"job_id": "j1"})
        if not per_connection:
            return httpx.Response(200, text=": keep-alive\n\n")
        after = int(request.headers.get("Last-Event-ID", "0-0").split("-")[0])
        return httpx.Response(200, text="".join(events[after : after + per_connection]))

    return httpx.MockTransport(handle)


async def one_job(transport: httpx.MockTransport) -> JobResult:
    run = await run_load("http://lt.test", 1, 0.01, think_s=0, seed=1, transport=transport)
    return run.jobs[0]


async def test_a_stream_moving_over_recycled_connections_is_followed_to_the_end() -> None:
    # 30 connections, each with one new event: far more than the budget of fruitless ones.
    job = await one_job(recycling_service(tokens=29, per_connection=1))
    assert (job.outcome, job.tokens, job.recoveries) == ("done", 29, 29)
    assert job.e2e_s is not None


async def test_a_stream_that_stops_moving_is_given_up_after_the_budget() -> None:
    job = await one_job(recycling_service(tokens=3, per_connection=0))
    assert (job.outcome, job.recoveries, job.e2e_s) == ("no_terminal", MAX_RESUMES, None)
