"""The load-test client's SSE reader: frames split anywhere, comments, line-end variants."""

from __future__ import annotations

from collections.abc import AsyncIterator

from eco2.entrypoints.cli.loadtest_sse import sse_events


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read(*parts: bytes) -> list[dict[str, str]]:
    return [event async for event in sse_events(chunks(*parts))]


async def test_frames_split_across_chunks_are_joined() -> None:
    events = await read(
        b"retry: 1000\n\nid: 1-0\nevent: tok",
        b'en\ndata: {"count": 2}\n',
        b"\nid: 2-0\nevent: done\ndata: {}\n\n",
    )
    assert events == [
        {"retry": "1000"},
        {"id": "1-0", "event": "token", "data": '{"count": 2}'},
        {"id": "2-0", "event": "done", "data": "{}"},
    ]


async def test_comments_are_skipped_and_crlf_is_read_as_lf() -> None:
    events = await read(b": keep-alive\n\n", b"event: token\r\ndata: a\r\ndata: b\r\n\r\n")
    assert events == [{"event": "token", "data": "a\nb"}]


async def test_an_unterminated_frame_is_not_yielded() -> None:
    assert await read(b"event: token\ndata: x\n") == []


async def test_a_crlf_split_between_chunks_is_one_line_end() -> None:
    # The chunk ends between \r and \n: read apart, they would make a blank line and cut the
    # event in two, losing its id.
    events = await read(b"id: 7-0\r", b"\nevent: token\r\ndata: {}\r\n\r\n")
    assert events == [{"id": "7-0", "event": "token", "data": "{}"}]


async def test_a_carriage_return_held_at_the_end_of_the_stream_still_ends_the_frame() -> None:
    assert await read(b"event: done\rdata: {}\r", b"\r") == [{"event": "done", "data": "{}"}]
