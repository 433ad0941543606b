"""One check's result, and the wording helpers the checks share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

Status = Literal["PASS", "WARN", "FAIL", "SKIP"]


class CheckResult(BaseModel):
    name: str
    status: Status
    detail: str


def _result(name: str, status: Status, detail: str) -> CheckResult:
    return CheckResult(name=name, status=status, detail=detail)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _keys(keys: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")
