"""The one error table: a row for every class of the tree, and an inverse that gives it back."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from romana.core import errors, problems
from romana.integrations.cni import spec


def tree() -> list[type[errors.RomanaError]]:
    """Every class of the exception tree (``romana.core.errors``), root first."""
    found: list[type[errors.RomanaError]] = []
    stack: list[type[errors.RomanaError]] = [errors.RomanaError]
    while stack:
        kind = stack.pop()
        if kind.__module__ == errors.__name__:
            found.append(kind)
        stack.extend(kind.__subclasses__())
    return found


def sample(kind: type[errors.RomanaError]) -> errors.RomanaError:
    if issubclass(kind, errors.InvalidInput):
        return kind([errors.Issue("name", "must not be empty"), errors.Issue("", "and more")])
    if issubclass(kind, errors.QuotaExceeded):
        return kind("shop", "allocations", 4, 4)
    return kind(f"a {kind.__name__} happened", retry_after=2.5 if kind.temporary else None)


def owner(kind: type[errors.RomanaError]) -> type[errors.RomanaError]:
    """The class whose row ``kind`` takes: its own, else its nearest ancestor's."""
    return next(c for c in kind.__mro__ if c in problems.TABLE)


def test_every_child_of_the_root_has_its_own_row() -> None:
    children = set(errors.RomanaError.__subclasses__()) & set(tree())
    assert children <= set(problems.TABLE)
    assert errors.Compacted not in problems.TABLE  # it takes Unavailable's row
    assert problems.row_of(errors.Compacted) == problems.TABLE[errors.Unavailable]


def test_titles_are_the_reason_phrases_of_the_statuses() -> None:
    for row in problems.TABLE.values():
        assert row.title == HTTPStatus(row.status).phrase


def test_an_answer_tells_apart_every_two_classes_that_share_a_status() -> None:
    shown = [problems._key(kind) for kind in problems.TABLE]
    assert len(shown) == len(set(shown))


@pytest.mark.parametrize("kind", tree(), ids=lambda k: k.__name__)
def test_render_then_error_of_gives_back_the_class_and_its_members(
    kind: type[errors.RomanaError],
) -> None:
    exc = sample(kind)
    status, body, headers = problems.render(exc)
    after = float(headers["Retry-After"]) if "Retry-After" in headers else None
    back = problems.error_of(status, body, exc.message, after)
    if kind is errors.RomanaError:
        assert (status, back) == (500, None)  # a bug in the server: each client decides
        return
    assert back is not None and type(back) is owner(kind)
    assert back.message == exc.message
    assert (after is not None) == exc.temporary
    if kind in problems.TABLE:  # a class without a row comes back as its ancestor
        assert back.temporary == exc.temporary and back.retry_after == (
            3.0 if exc.temporary else None
        )  # whole s
    if isinstance(exc, errors.InvalidInput):
        assert isinstance(back, errors.InvalidInput) and back.issues == exc.issues
    if isinstance(exc, errors.QuotaExceeded):
        assert isinstance(back, errors.QuotaExceeded)
        assert (back.tenant, back.quota, back.limit, back.usage) == ("shop", "allocations", 4, 4)


@pytest.mark.parametrize(
    ("status", "body", "after", "expected"),
    [
        (400, {"issues": [{"field": "body", "rule": "must be valid JSON"}]}, None, "InvalidInput"),
        (503, {}, None, "Unavailable"),  # no Retry-After: still the only 503 row
        (503, {"type": "https://romana.io/problems/exhausted"}, None, "Unavailable"),
        (403, {"type": "https://romana.io/problems/forbidden"}, None, "Forbidden"),
        (429, {}, None, "Throttled"),
        (422, {"field": "tenant", "detail": "bad"}, None, "InvalidInput"),
        (405, {}, None, None),
        (500, {}, None, None),
        (418, {}, None, None),
    ],
)
def test_answers_that_fit_no_row_exactly(
    status: int, body: dict[str, object], after: float | None, expected: str | None
) -> None:
    back = problems.error_of(status, body, "why", after)
    assert (type(back).__name__ if back is not None else None) == expected


def test_exit_codes_are_distinct_but_for_the_catch_all() -> None:
    codes = [row.exit_code for row in problems.TABLE.values() if row.exit_code != 1]
    assert len(codes) == len(set(codes))
    assert 0 not in codes and 2 not in codes  # success and usage errors


def test_cni_codes_are_codes_the_spec_module_names() -> None:
    named = {v for k, v in vars(spec).items() if k.startswith("ERR_")}
    assert {row.cni_code for row in problems.TABLE.values()} <= named
    temporary = [k for k in problems.TABLE if k.temporary and k is not errors.Throttled]
    assert all(problems.TABLE[k].cni_code == spec.ERR_TRY_AGAIN_LATER for k in temporary)
