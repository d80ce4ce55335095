"""Where a stage's database time goes: every statement sent through Django's cursor
(``connection.execute_wrapper``) is timed and grouped by its first words. COPY (psycopg2
``copy_expert``) does not pass through the wrapper and is not counted."""

from __future__ import annotations

import re
import time
from collections import defaultdict

_TEMP = re.compile(r"\b(tmp|bench|stage|keys)_\w+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
KEY_CHARS = 110


def statement_key(sql: str) -> str:
    text = _SPACE.sub(" ", sql).strip()
    return _TEMP.sub(r"\1_…", text)[:KEY_CHARS]


class SqlTimer:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = statement_key(sql)
            self.seconds[key] += time.perf_counter() - t0
            self.calls[key] += 1

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def top(self, n: int = 8) -> list[dict]:
        ranked = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:n]
        return [{"sql": k, "seconds": round(s, 2), "calls": self.calls[k]} for k, s in ranked]
