"""``eco2 bench``: benchmarks that print their figures (accuracy, latency)."""

from __future__ import annotations

from typing import Annotated

import typer

from eco2.entrypoints.cli.errors import fail

bench_app = typer.Typer(help="Benchmarks; each prints its figures.", no_args_is_help=True)


@bench_app.command("classify")
def bench_classify(
    eval_file: Annotated[
        str, typer.Option("--eval", help="JSONL of {text, intents}; default: held-out split.")
    ] = "intents_eval.jsonl",
    repeat: Annotated[int, typer.Option(min=1, help="Passes over the set (latency).")] = 3,
    show_errors: Annotated[bool, typer.Option("--errors", help="List wrong primaries.")] = False,
) -> None:
    """Offline classifier: primary accuracy, multi-intent recall, per-message latency."""
    from eco2.infrastructure.llm.intent_data import load_examples
    from eco2.infrastructure.llm.intent_eval import evaluate, percentile
    from eco2.infrastructure.llm.offline_classifier import OfflineIntentClassifier

    try:
        examples = load_examples(eval_file)
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    classifier = OfflineIntentClassifier()
    reports = [evaluate(classifier.predict, examples) for _ in range(repeat)]
    report = reports[0]
    latencies = [ms for r in reports for ms in r.latencies_ms]
    typer.echo(f"messages:                {report.total}")
    typer.echo(f"primary accuracy:        {report.primary_accuracy:.1%}")
    typer.echo(f"multi-intent recall:     {report.multi_recall:.1%} ({report.multi_total} msgs)")
    typer.echo(
        "latency ms p50/p95/p99:  "
        + " / ".join(f"{percentile(latencies, q):.3f}" for q in (50, 95, 99))
    )
    if show_errors:
        for text, labelled, predicted in report.errors:
            typer.echo(f"  {text!r}: labelled {labelled}, predicted {predicted}")


@bench_app.command("retrieval")
def bench_retrieval(
    show_misses: Annotated[bool, typer.Option("--misses", help="List top-3 misses.")] = False,
) -> None:
    """Knowledge-base retrieval: top-1 and top-3 accuracy on the packaged query set."""
    from eco2.bootstrap import build_retriever
    from eco2.infrastructure.retrieval.evaluation import evaluate, load_queries

    retriever = build_retriever()
    report = evaluate(retriever.search_sync, load_queries())
    typer.echo(f"queries: {report.total}")
    typer.echo(f"top-1:   {report.top1:.1%}")
    typer.echo(f"top-3:   {report.top3:.1%}")
    if show_misses:
        for query, expected, got in report.misses:
            typer.echo(f"  {query!r}: expected {expected}, got {got}")


# `eco2 bench stream` lives in bench_stream.py (and its helpers) to keep this module small.
from eco2.entrypoints.cli.bench_stream import bench_stream  # noqa: E402

bench_app.command("stream")(bench_stream)

# `eco2 bench overhead` lives in bench_overhead.py (NoOp vs full instrumentation).
from eco2.entrypoints.cli.bench_overhead import bench_overhead  # noqa: E402

bench_app.command("overhead")(bench_overhead)
