"""Every word a reader sees in Roster's own templates is marked for translation."""

from __future__ import annotations

import pytest

from tests.i18n.template_text import ROOT, template_files, unmarked_text

FILES = template_files()


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_template_text_is_marked_for_translation(path):
    assert unmarked_text(path) == [], (
        "wrap these in {% translate %} or {% blocktranslate trimmed %}"
    )


def test_the_check_finds_unmarked_text(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '{% load i18n %}<h1>{% translate "Marked" %}</h1><p title="Plain title">Plain text '
        "{{ value }}</p>{% blocktranslate %}Also marked {{ x }}{% endblocktranslate %}"
        "<code>program_text()</code>{% comment %}a note{% endcomment %}Roster · UTC"
    )
    assert unmarked_text(page) == ["Plain title", "Plain text"]
