"""The benchmarks' own measuring tools, where a slip would quietly change every figure."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.harness import WARM_UP, Answer, Recorder, tree_cpu_s


async def _answered(status: int) -> Answer:
    return Answer(status, b"")


async def test_answers_to_requests_sent_in_the_warm_up_are_kept_apart_and_their_failures_count() -> None:
    recorder = Recorder(warmup_s=1.0)
    await recorder.time("search", recorder.started + 0.5, lambda: _answered(503))
    await recorder.time("search", recorder.started + 1.5, lambda: _answered(200))
    await recorder.time("search", recorder.started + 2.5, lambda: _answered(200))
    figures = recorder.figures()
    assert {route: len(samples) for route, samples in figures.latencies.items()} == {"search": 2, "search" + WARM_UP: 1}
    assert figures.errors == {"search" + WARM_UP: {"503": 1}}
    assert figures.failures() == 1


def test_the_cpu_of_a_process_tree_includes_children_that_have_exited() -> None:
    before = tree_cpu_s(os.getpid())
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)  # waited for: reaped
    tick = 1 / os.sysconf("SC_CLK_TCK")  # /proc counts CPU time in ticks: 0.3 s may read 0.29999…
    assert tree_cpu_s(os.getpid()) - before >= 0.3 - tick
