# syntax=docker/dockerfile:1.7
# One image for every eco2 process: `eco2 api`, `eco2 worker`, `eco2 character-server`.
#
#   docker build -t eco2:dev .
#   docker run --rm -p 8000:8000 eco2:dev                       # eco2 api --host 0.0.0.0
#   docker run --rm eco2:dev worker                               # eco2 worker
#   docker run --rm -p 50051:50051 eco2:dev character-server --host 0.0.0.0
#
# Stage 1 builds the package and its dependencies into a virtualenv; stage 2 copies only that
# virtualenv onto a slim Python, so compilers and pip caches never reach the final image.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# A compiler only for a dependency without a wheel for the target platform; not in the final image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The context holds only what the build reads (.dockerignore): pyproject.toml, README.md (the
# package's readme), setup.py and proto/ (gRPC code is generated from the .proto at build time)
# and src/.
COPY . .
RUN pip install --upgrade pip \
    && pip install . \
    && eco2 --help >/dev/null

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="eco2" \
      org.opencontainers.image.description="Eco² chat: API, worker and character service" \
      org.opencontainers.image.licenses="MIT"
# A fixed non-root uid/gid, so Kubernetes' runAsNonRoot and runAsUser can check it numerically.
RUN groupadd --system --gid 10001 eco2 \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/eco2 --create-home \
       --shell /usr/sbin/nologin eco2
COPY --from=builder /opt/venv /opt/venv
# Probes whichever eco2 command runs in the container: api/serve → GET /healthz on its --port,
# worker → GET /healthz on ECO2_WORKER_METRICS_PORT, character-server → TCP on its --port or
# ECO2_CHARACTER_GRPC_PORT. Kubernetes ignores HEALTHCHECK and uses the manifests' probes.
COPY --chmod=0755 <<'PY' /usr/local/bin/eco2-healthcheck
#!/opt/venv/bin/python
"""Container health check for the eco2 command running in this container."""
import os
import socket
import sys
import urllib.request
from pathlib import Path


def eco2_args(proc=Path("/proc")):
    """The arguments after ``eco2`` of the container's eco2 process (PID 1 first)."""
    pids = sorted((p for p in proc.glob("[0-9]*")), key=lambda p: int(p.name))
    for pid in pids:
        try:
            args = (pid / "cmdline").read_bytes().decode().split("\0")
        except (OSError, UnicodeDecodeError):
            continue
        for index, arg in enumerate(args):
            if arg == "eco2" or arg.endswith("/eco2"):
                return [a for a in args[index + 1 :] if a]
    return []


def option(args, name, default):
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def target(args, env):
    """What to probe: ("http", url) or ("tcp", port), or None for an unknown command."""
    command = args[0] if args else ""
    if command in ("api", "serve"):
        return "http", f"http://127.0.0.1:{option(args, '--port', '8000')}/healthz"
    if command == "worker":
        return "http", f"http://127.0.0.1:{env.get('ECO2_WORKER_METRICS_PORT', '9101')}/healthz"
    if command == "character-server":
        return "tcp", int(option(args, "--port", env.get("ECO2_CHARACTER_GRPC_PORT", "50051")))
    return None


def probe(what):
    kind, where = what
    if kind == "tcp":
        with socket.create_connection(("127.0.0.1", where), timeout=3):
            return 0
    with urllib.request.urlopen(where, timeout=3) as response:
        return 0 if response.status == 200 else 1


def main():
    args = eco2_args()
    what = target(args, os.environ)
    if what is None:
        print(f"eco2-healthcheck: no eco2 command found ({args!r})", file=sys.stderr)
        return 1
    return probe(what)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(f"eco2-healthcheck: {exc}", file=sys.stderr)
        sys.exit(1)
PY
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ECO2_WORKER_METRICS_PORT=9101 \
    ECO2_CHARACTER_GRPC_PORT=50051
USER 10001:10001
WORKDIR /home/eco2
# 8000: API HTTP (/healthz, /readyz, /metrics); 9101: worker /healthz, /readyz, /metrics;
# 50051: character gRPC.
EXPOSE 8000 9101 50051
# The worker's Kiwi model and classifier load in a few seconds: give start-up a minute.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/eco2-healthcheck"]
# The eco2 process is PID 1 and receives SIGTERM itself (the worker drains on it).
ENTRYPOINT ["eco2"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
