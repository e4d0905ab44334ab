"""Every form of a leakwatch document, behind one protocol: text for people,
HTML for a browser, JSON for tools.

Each form reads the same input, a document as plain data (``Report.to_dict()``,
a run's report, a session's results, a baseline, requests per route), and
gives back the whole file's text::

    render("html", data)             # the page leakwatch run --html writes
    render("text", data, verbose=True)
    render("json", data)

A shell picks the form by name and writes the result whole
(:func:`leakwatch._base.files.write_whole`).  Must not read or write files.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from leakwatch._base.files import json_text

FormName = Literal["text", "html", "json"]


class Form(Protocol):
    def __call__(self, data: Mapping[str, Any], *, verbose: bool = False) -> str: ...


def _text(data: Mapping[str, Any], *, verbose: bool = False) -> str:
    from leakwatch._report.document_text import format_document

    return format_document(data, verbose=verbose)


def _html(data: Mapping[str, Any], *, verbose: bool = False) -> str:
    from leakwatch._report.html import render_html  # only who asks for HTML pays its import

    page = io.StringIO()
    render_html(data, page)
    return page.getvalue()


def _json(data: Mapping[str, Any], *, verbose: bool = False) -> str:
    return json_text(data)


FORMS: dict[str, Form] = {"text": _text, "html": _html, "json": _json}


def render(form: FormName, data: Mapping[str, Any], *, verbose: bool = False) -> str:
    """``data`` in the form named (``"text"``, ``"html"`` or ``"json"``)."""
    return FORMS[form](data, verbose=verbose)
