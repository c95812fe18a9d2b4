"""Results on disk: one JSONL shard per process, whole batches at a time, nothing finished lost.

An output directory holds ``run.json`` (what the results depend on: task, data, model, decode
options; a rerun with other values is refused unless told to start afresh), one
``shard-<rank>.jsonl`` per process, and, once a run is complete, ``results.jsonl`` (the merged
lines in sample order) and ``summary.json``.

A batch's lines are written with one ``write`` and flushed to disk before the next batch
starts, so a crash or Ctrl-C loses at most the batch in flight. A process killed during that
write can leave part of a batch (or a torn last line): a batch counts as done only when all
its samples' lines are in one shard, so such a part is redone and dropped from its shard when
that shard's process next starts; merging takes each batch from one shard, so no line is
duplicated.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Iterable

RUN_FILE, RESULTS_FILE, SUMMARY_FILE = "run.json", "results.jsonl", "summary.json"
BatchKey = tuple  # (variant, batch number)


def shard_path(out: Path, rank: int) -> Path:
    return out / f"shard-{rank}.jsonl"


def read_lines(path: Path) -> list[dict]:
    """The records of a shard; a line that is not JSON (a torn write) ends the valid part."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return records


def complete_batches(records: Iterable[dict], expected: dict[BatchKey, set[str]]) -> dict[BatchKey, list[dict]]:
    """The records of each batch whose expected ids are all present (one record per id)."""
    groups: dict[BatchKey, dict[str, dict]] = defaultdict(dict)
    for r in records:
        groups[(r["variant"], r["batch"])].setdefault(r["id"], r)
    return {key: list(g.values()) for key, g in groups.items() if expected.get(key) == set(g)}


class Store:
    """The output directory of one run, seen from process ``rank``."""

    def __init__(self, out: str | os.PathLike, rank: int = 0):
        self.out, self.rank = Path(out), rank
        self.shard = shard_path(self.out, rank)

    def check_run(self, run: dict, force: bool) -> None:
        """Record ``run`` (rank 0), or refuse one that differs from what the directory holds."""
        path = self.out / RUN_FILE
        if path.exists() and not force:
            before = json.loads(path.read_text())
            changed = sorted(k for k in set(before) | set(run) if before.get(k) != run.get(k))
            if changed:
                raise ValueError(f"--out {self.out}: holds results of another run (differs in {', '.join(changed)}); "
                                 "use another --out, or --force to discard them")
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            if force:
                for p in [*self.out.glob("shard-*.jsonl"), self.out / RESULTS_FILE, self.out / SUMMARY_FILE]:
                    p.unlink(missing_ok=True)
            _write_atomic(path, json.dumps(run, indent=2, sort_keys=True) + "\n")

    def done(self, expected: dict[BatchKey, set[str]]) -> set[BatchKey]:
        """Batches complete in any shard; this process's shard is rewritten without the rest."""
        done: set[BatchKey] = set()
        for path in sorted(self.out.glob("shard-*.jsonl")):
            records = read_lines(path)
            complete = complete_batches(records, expected)
            done |= set(complete)
            if path == self.shard:
                kept = [r for r in records if (r["variant"], r["batch"]) in complete]
                if len(kept) != len(records) or path.stat().st_size != _size(kept):
                    _write_atomic(path, "".join(_line(r) for r in kept))
        return done

    def append(self, records: list[dict]) -> None:
        """One batch's lines: one write, then flushed to disk."""
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.shard, "a", encoding="utf-8") as fh:
            fh.write("".join(_line(r) for r in records))
            fh.flush()
            os.fsync(fh.fileno())

    def merge(self, expected: dict[BatchKey, set[str]]) -> tuple[list[dict], int]:
        """Every complete batch, each from one shard, in (variant, index) order, written to
        ``results.jsonl``; returns them and the number of samples still missing."""
        found: dict[BatchKey, list[dict]] = {}
        for path in sorted(self.out.glob("shard-*.jsonl")):
            for key, recs in complete_batches(read_lines(path), expected).items():
                found.setdefault(key, recs)
        records = sorted((r for recs in found.values() for r in recs), key=lambda r: (r["variant"], r["index"]))
        missing = sum(len(ids) for key, ids in expected.items() if key not in found)
        _write_atomic(self.out / RESULTS_FILE, "".join(_line(r) for r in records))
        return records, missing


def _line(record: dict) -> str:
    return json.dumps(record, allow_nan=False) + "\n"


def _size(records: list[dict]) -> int:
    return sum(len(_line(r).encode()) for r in records)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
