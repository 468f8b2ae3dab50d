"""Child processes of the audit-chain race test (importable by multiprocessing's spawn)."""

from __future__ import annotations


def write_events_at_barrier(barrier, results, user: str, n: int) -> None:
    """Wait for the others, then write ``n`` audit events (alias moves) as fast as possible."""
    import os

    from nbtrack import workspace
    from nbtrack.registry.aliases import set_alias

    os.environ["NBTRACK_USER"] = user
    workspace.reset_cache()
    barrier.wait(timeout=60)
    for i in range(n):
        set_alias("churn", f"a-{user}", 1 + i % 2, reason=f"{user} {i}")
    results.put(user)
