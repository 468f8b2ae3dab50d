"""A process that writes runs as fast as it can (used by the concurrency tests).

usage: python writer.py N_RUNS TAG [--progress FILE]
"""

from __future__ import annotations

import sys

import nbtrack


def main() -> None:
    n, tag = int(sys.argv[1]), sys.argv[2]
    progress = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--progress" else None
    for i in range(n):
        with nbtrack.track(f"{tag}-{i}", params={f"p{k}": k * i for k in range(10)}) as run:
            run.log_metrics({f"m{k}": k + i / 1000 for k in range(10)})
            run.log_artifact(f"{tag} run {i}\n" * 20, name="notes.txt")
        if progress:
            with open(progress, "a") as f:
                f.write(f"{i}\n")


if __name__ == "__main__":
    main()
