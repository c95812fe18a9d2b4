"""Results on disk: one JSONL shard per process, whole batches at a time, nothing finished lost.

An output directory holds ``run.json`` (what the results depend on: task, data, model and its
dtype and device type, decode options; a rerun with other values is refused unless told to start
afresh, and so are shards without a ``run.json``), one ``shard-<rank>.jsonl`` per process, and,
once a run is complete, ``results.jsonl`` (the merged lines in sample order) and
``summary.json``.

Each line names its sample by id and by a digest of the sample's content (``sample_sha``): a
batch counts as done only when its lines are those of the samples the run now expects, so a
rerun with another ``--limit`` reuses exactly the batches whose samples did not change, and
keeps the lines of batches it does not evaluate (a later run may want them again).

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

RUN_FILE, RESULTS_FILE, SUMMARY_FILE, FIGURE_FILE = "run.json", "results.jsonl", "summary.json", "accuracy.png"
BatchKey = tuple  # (variant, batch number)
Expected = dict  # BatchKey -> {sample id: sample digest} of every batch the run evaluates
_RECORD_KEYS = {"variant": str, "batch": int, "id": str, "index": int}


def check_out(out: str | os.PathLike) -> Path:
    """``out`` as a directory this process can write, created if missing; a ValueError naming
    ``--out`` otherwise (before any model is loaded)."""
    text = os.fspath(out)
    if not text:
        raise ValueError("--out: an empty path")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"--out {path}: cannot create it ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"--out {path}: not writable")
    return path


def shard_path(out: Path, rank: int) -> Path:
    return out / f"shard-{rank}.jsonl"


def read_lines(path: Path) -> list[dict]:
    """The records of a shard; a line that is not JSON (a torn write) ends the valid part. A
    JSON line that is not a result record raises a ValueError naming the file and line."""
    records = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                break
            if not isinstance(record, dict) or any(not isinstance(record.get(k), t) or isinstance(record.get(k), bool)
                                                   for k, t in _RECORD_KEYS.items()):
                raise ValueError(f"{path}: line {n} is not a result line of igkernels eval (no "
                                 f"{', '.join(_RECORD_KEYS)}); move the file away, or use --force to discard it")
            records.append(record)
    return records


def _expected(record: dict, expected: Expected) -> bool:
    """Whether ``record`` is the line of a sample the run expects in that batch (id and digest)."""
    digest = expected.get((record["variant"], record["batch"]), {}).get(record["id"])
    return digest is not None and digest == record.get("sample_sha")


def complete_batches(records: Iterable[dict], expected: Expected) -> dict[BatchKey, list[dict]]:
    """The records of each expected batch whose samples all have a line (the first of each),
    counting only lines of the samples expected (same id and digest)."""
    groups: dict[BatchKey, dict[str, dict]] = defaultdict(dict)
    for r in records:
        if _expected(r, expected):
            groups[(r["variant"], r["batch"])].setdefault(r["id"], r)
    return {key: list(g.values()) for key, g in groups.items() if len(g) == len(expected[key])}


class Store:
    """The output directory of one run, seen from process ``rank``."""

    def __init__(self, out: str | os.PathLike, rank: int = 0):
        self.out, self.rank = Path(out), rank
        self.shard = shard_path(self.out, rank)

    def check_run(self, run: dict, force: bool) -> None:
        """Record ``run`` (rank 0), or refuse one that differs from what the directory holds,
        and results that no ``run.json`` describes."""
        path = self.out / RUN_FILE
        if not force:
            if path.exists():
                changed = _changed(_read_run(path), run)
                if changed:
                    raise ValueError(f"--out {self.out}: holds results of another run (differs in "
                                     f"{', '.join(changed)}); use another --out, or --force to discard them")
            elif self.rank == 0 and (any(self.out.glob("shard-*.jsonl")) or (self.out / RESULTS_FILE).exists()):
                raise ValueError(f"--out {self.out}: holds results but no {RUN_FILE} saying which run made them; "
                                 "use another --out, or --force to discard them")
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            if force:
                for p in [*self.out.glob("shard-*.jsonl"), *(self.out / f for f in (RESULTS_FILE, SUMMARY_FILE,
                                                                                      FIGURE_FILE))]:
                    p.unlink(missing_ok=True)
            _write_atomic(path, json.dumps(run, indent=2, sort_keys=True) + "\n")

    def _complete(self, expected: Expected, own=None) -> dict[BatchKey, list[dict]]:
        """The records of every batch complete in some shard, each batch from the first shard
        that completes it; ``own(records, complete)`` sees this process's shard."""
        found: dict[BatchKey, list[dict]] = {}
        for path in sorted(self.out.glob("shard-*.jsonl")):
            records = read_lines(path)
            complete = complete_batches(records, expected)
            for key, recs in complete.items():
                found.setdefault(key, recs)
            if own is not None and path == self.shard:
                own(records, complete)
        return found

    def done(self, expected: Expected) -> dict[BatchKey, list[dict]]:
        """The records of every batch complete in some shard. This process's shard is rewritten
        without the lines of expected samples whose batch it does not complete (a part written
        when a process was killed)."""
        def rewrite(records: list[dict], complete: dict) -> None:
            kept = [r for r in records if (r["variant"], r["batch"]) in complete or not _expected(r, expected)]
            if len(kept) != len(records) or self.shard.stat().st_size != _size(kept):
                _write_atomic(self.shard, "".join(_line(r) for r in kept))
        return self._complete(expected, rewrite)

    def append(self, records: list[dict]) -> None:
        """One batch's lines: one write, then flushed to disk."""
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.shard, "a", encoding="utf-8") as fh:
            fh.write("".join(_line(r) for r in records))
            fh.flush()
            os.fsync(fh.fileno())

    def merge(self, expected: Expected) -> tuple[list[dict], int]:
        """Every complete batch, each from one shard, in (variant, index) order, written to
        ``results.jsonl``; returns them and the number of samples still missing."""
        found = self._complete(expected)
        records = sorted((r for recs in found.values() for r in recs), key=lambda r: (r["variant"], r["index"]))
        missing = sum(len(ids) for key, ids in expected.items() if key not in found)
        _write_atomic(self.out / RESULTS_FILE, "".join(_line(r) for r in records))
        return records, missing


def _read_run(path: Path) -> dict:
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a run description of igkernels eval ({exc}); move it away, or use --force "
                         "to discard the directory's results") from None
    if not isinstance(run, dict):
        raise ValueError(f"{path}: not a run description of igkernels eval (a JSON {type(run).__name__}); move it "
                         "away, or use --force to discard the directory's results")
    return run


def _changed(before: dict, now: dict, prefix: str = "") -> list[str]:
    """The keys whose values differ (nested dicts by their own keys, as ``config.seed``)."""
    out = []
    for k in sorted(set(before) | set(now)):
        a, b = before.get(k), now.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changed(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}")
    return out


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
