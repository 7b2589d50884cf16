"""BBCode of Bitrix24 notifications and comments as safe HTML, for the board.

The text is HTML-escaped first, then the tags a portal renders become markup: ``[B] [I] [U] [S]``,
``[BR]`` and line breaks, ``[URL=…]text[/URL]`` and ``[URL]…[/URL]`` (http, https, portal-relative and
``#`` links only; anything else — ``javascript:`` included — stays text), ``[USER=id]name[/USER]`` (the
name), ``[COLOR=…]`` (a CSS colour name or ``#hex``), ``[QUOTE]``, ``[CODE]``.  Tags are case-insensitive;
an unpaired tag is left as typed.  A link to a deal on the portal (``/crm/deal/details/N/``) points at
that deal's card on the board.
"""

from __future__ import annotations

import re
from html import escape

_SIMPLE = {"B": "b", "I": "i", "U": "u", "S": "s", "QUOTE": "blockquote", "CODE": "code"}
_DEAL_LINK = re.compile(r"^/crm/deal/details/(\d+)/?$")
_SAFE_URL = re.compile(r"^(https?://|/|#)[^\s\"'<>]*$", re.IGNORECASE)
_FLAGS = re.IGNORECASE | re.DOTALL
_COLOR = re.compile(r"^(#[0-9a-f]{3,8}|[a-z]{3,20})$", re.IGNORECASE)


def _href(url: str) -> str | None:
    url = url.strip().strip('"').strip("'")
    deal = _DEAL_LINK.match(url)
    if deal:
        return f"#deal-{deal.group(1)}"
    return url if _SAFE_URL.match(url) else None


def _anchor(raw_url: str, text: str) -> str:
    href = _href(_unescape(raw_url))
    if href is None:
        return text
    target = "_self" if href.startswith("#") else "_blank"
    return f'<a href="{escape(href, quote=True)}" target="{target}" rel="noopener">{text}</a>'


def _unescape(text: str) -> str:
    return text.replace("&quot;", '"').replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">") \
        .replace("&amp;", "&")


def _color(match: re.Match[str]) -> str:
    color, text = _unescape(match.group(1)).strip(), match.group(2)
    return f'<span style="color:{color}">{text}</span>' if _COLOR.match(color) else text


def to_html(text: str | None) -> str:
    """``text`` with its BBCode rendered; nothing in it can inject markup or script."""
    out = escape(text or "", quote=True)
    for _ in range(4):  # nested tags: each pass renders the innermost ones
        before = out
        for tag, element in _SIMPLE.items():
            out = re.sub(rf"\[{tag}\](.*?)\[/{tag}\]", rf"<{element}>\1</{element}>", out, flags=_FLAGS)
        out = re.sub(r"\[URL=([^\]]*)\](.*?)\[/URL\]", lambda m: _anchor(m.group(1), m.group(2)), out, flags=_FLAGS)
        out = re.sub(r"\[URL\](.*?)\[/URL\]", lambda m: _anchor(m.group(1), m.group(1)), out, flags=_FLAGS)
        out = re.sub(r"\[USER=\d+\](.*?)\[/USER\]", r"<b>\1</b>", out, flags=_FLAGS)
        out = re.sub(r"\[COLOR=([^\]]*)\](.*?)\[/COLOR\]", _color, out, flags=_FLAGS)
        if out == before:
            break
    out = re.sub(r"\[BR\]", "<br>", out, flags=re.IGNORECASE)
    return out.replace("\r\n", "\n").replace("\n", "<br>")

