"""Baseline: the liveness endpoint (no auth, no database)."""

from bench.harness import BenchContext, Scenario


def setup(ctx: BenchContext) -> list[Scenario]:
    return [Scenario(name="GET /health", path="/health")]
