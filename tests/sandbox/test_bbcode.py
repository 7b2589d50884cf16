"""Notification BBCode on the board: the portal's tags become markup, nothing else can."""

from __future__ import annotations

import pytest

from b24_sandbox.bbcode import to_html


@pytest.mark.parametrize(("text", "html"), [
    ("[B]Оплачено[/B][BR]итого", "<b>Оплачено</b><br>итого"),
    ("[i][b]вложено[/b][/i]", "<i><b>вложено</b></i>"),
    ("[URL=https://example.ru/a?b=1&c=2]счёт[/URL]",
     '<a href="https://example.ru/a?b=1&amp;c=2" target="_blank" rel="noopener">счёт</a>'),
    ("[URL=/crm/deal/details/12/]Открыть сделку[/URL]", '<a href="#deal-12" target="_self" rel="noopener">Открыть сделку</a>'),
    ("[USER=3]Анна[/USER], строка\nдругая", "<b>Анна</b>, строка<br>другая"),
    ("[B]не закрыт", "[B]не закрыт"),
])
def test_portal_tags_become_markup(text, html):
    assert to_html(text) == html


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[URL=javascript:alert(1)]ссылка[/URL]",
    '[URL="https://x.ru" onmouseover="alert(1)"]ссылка[/URL]',
    "[COLOR=red;background:url(javascript:alert(1))]цвет[/COLOR]",
])
def test_nothing_else_becomes_markup(text):
    html = to_html(text)
    assert "<script" not in html and "<img" not in html and "javascript:" not in html.replace("&", "")
    assert "onmouseover" not in html and "onerror=\"" not in html
