"""The local receiver ``eco2 bench overhead`` exports to: OTLP/HTTP traces and LangSmith runs.

It runs in a child process so its CPU is not counted against the instrumented variant; it only
counts what arrives (spans by kind, distinct LangSmith run ids) and answers like the real servers.
Its ``/info`` answers as LangSmith's hosted service does, so the SDK takes its production path:
runs as multipart parts, zstd-compressed in one buffer, posted by the SDK's compression thread
(``multipart=False`` answers as older servers do: JSON batches of up to 100 runs).
"""

from __future__ import annotations

import gzip
import io
import json
import re
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

_LIMITS = {"size_limit": 100, "size_limit_bytes": 20_971_520, "scale_up_qsize_trigger": 1000}
_LIMITS |= {"scale_up_nthreads_limit": 1, "scale_down_nempty_trigger": 4}
# ``/info`` as LangSmith answers it: multipart ingestion, zstd compression enabled.
_INFO_MULTIPART = {
    "batch_ingest_config": {"use_multipart_endpoint": True, **_LIMITS},
    "instance_flags": {"zstd_compression_enabled": True},
}
_INFO_JSON = {"batch_ingest_config": {"use_multipart_endpoint": False, **_LIMITS}}
_PART_RUN_ID = re.compile(rb'name="(?:post|patch)\.([0-9a-f-]{36})"')


def _decompress(body: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body)).read()
    return body


class _Receiver(BaseHTTPRequestHandler):
    """OTLP/HTTP ``/v1/traces`` and the LangSmith ingest endpoints; counts what arrives."""

    protocol_version = "HTTP/1.1"  # keep-alive, as real collectors do
    spans: ClassVar[Counter[str]] = Counter()
    runs: ClassVar[set[str]] = set()
    info: ClassVar[dict[str, Any]] = _INFO_MULTIPART

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        return _decompress(body, self.headers.get("content-encoding"))

    def _reply(self, body: bytes = b"{}", kind: str = "application/json") -> None:
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """``/info`` for the LangSmith SDK, ``/stats`` for the benchmark."""
        stats = {"spans": dict(self.spans), "runs": len(self.runs)}
        self._reply(json.dumps(self.info if self.path.endswith("/info") else stats).encode())

    def do_POST(self) -> None:
        """Count spans (parsed from protobuf) and distinct LangSmith run ids."""
        body = self._body()
        if self.path.endswith("/v1/traces"):
            from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as otlp

            request = otlp.ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    self.spans.update(span.name.split(" ")[0] for span in scope.spans)
            self._reply(b"", "application/x-protobuf")
            return
        if self.path.endswith("/runs/multipart"):  # one part per run field, named op.run_id
            self.runs.update(m.decode() for m in _PART_RUN_ID.findall(body))
        if self.path.endswith("/runs/batch"):  # JSON batches (older servers)
            batch = json.loads(body or b"{}")
            self.runs.update(str(r["id"]) for key in ("post", "patch") for r in batch.get(key, []))
        self._reply()

    do_PATCH = do_POST  # a run update: nothing to count


def serve_receiver(multipart: bool = True) -> None:
    """Serve the receiver on a free loopback port; print the port (the child process's main)."""
    _Receiver.info = _INFO_MULTIPART if multipart else _INFO_JSON
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    print(server.server_address[1], flush=True)
    server.serve_forever()


@contextmanager
def running_receiver(multipart: bool = True) -> Iterator[str]:
    """Run the receiver in a child process for the ``with`` block; yield its base URL."""
    serve = f"serve_receiver({multipart})"
    code = f"from eco2.entrypoints.cli.bench_receiver import serve_receiver; {serve}"
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            yield f"http://127.0.0.1:{int(child.stdout.readline())}"
        finally:
            child.terminate()  # leaving the block closes the pipe and waits


def receiver_stats(url: str) -> dict[str, Any]:
    """What the receiver has counted so far."""
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as response:
        return dict(json.load(response))
