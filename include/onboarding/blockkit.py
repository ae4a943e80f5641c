"""Slack Block Kit messages that Slack accepts, whatever the data in them.

Slack refuses a whole message with ``400 invalid_blocks`` when one block
breaks a published limit, and much of our text comes from CRMs and customers:
a company name can be 20,000 characters.  Every Slack message is made of the
block constructors here, which cut text to Slack's limits and mark the cut
with an ellipsis, and every post goes through :func:`fit`, which holds any
block to the same limits (so a hand-built block cannot slip past) and keeps a
message to 50 blocks.  Only the message is cut: the store keeps the full text.

Slack's limits, in characters: header text 150; section text 3000; section
fields 2000 each and at most 10 per section; context at most 10 elements;
button text 75; at most 50 blocks per message.  The top-level ``text`` (the
notification and fallback) is cut by Slack at 40,000; it is kept to 4,000
here, as Slack advises.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from include.onboarding.text import clip as clip

Block = dict[str, Any]

HEADER_CHARS = 150
TEXT_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
BUTTON_CHARS = 75
MAX_BLOCKS = 50
FALLBACK_CHARS = 4000
NAME_CHARS = 150
"""How much of a name (an account's, a person's) a message repeats, so that what follows it stays in view."""


def _clip_text(obj: Any, limit: int) -> Any:
    """A copy of the text object ``obj`` with its text clipped; anything else (an image) as it is."""
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return {**obj, "text": clip(obj["text"], limit)}
    return obj


def _chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def header(text: str) -> Block:
    """A header block (plain text, 150 characters)."""
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_CHARS)}}


def section(text: str) -> Block:
    """A section block of mrkdwn text (3000 characters)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, TEXT_CHARS)}}


def fields(pairs: Iterable[tuple[str, Any]]) -> list[Block]:
    """``*label*`` over value, two columns: one section per ten fields, each field 2000 characters."""
    items = [{"type": "mrkdwn", "text": clip(f"*{label}*\n{value}", FIELD_CHARS)} for label, value in pairs]
    return [{"type": "section", "fields": chunk} for chunk in _chunks(items, MAX_FIELDS)]


def context(text: str) -> Block:
    """A context block of one mrkdwn line (3000 characters)."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, TEXT_CHARS)}]}


def link_button(text: str, url: str) -> Block:
    """An actions block with one button opening ``url`` (button text 75 characters)."""
    button = {"type": "button", "text": {"type": "plain_text", "text": clip(text, BUTTON_CHARS)}, "url": url}
    return {"type": "actions", "elements": [button]}


def _fit_block(block: Block) -> list[Block]:
    """``block`` within its kind's limits; a section or context over its count becomes several."""
    kind = block.get("type")
    if kind == "header":
        return [{**block, "text": _clip_text(block.get("text"), HEADER_CHARS)}]
    if kind == "section":
        out = dict(block)
        if "text" in block:
            out["text"] = _clip_text(block["text"], TEXT_CHARS)
        if not block.get("fields"):
            return [out]
        chunks = _chunks([_clip_text(f, FIELD_CHARS) for f in block["fields"]], MAX_FIELDS)
        return [{**out, "fields": chunks[0]}] + [{"type": "section", "fields": chunk} for chunk in chunks[1:]]
    if kind == "context" and block.get("elements"):
        chunks = _chunks([_clip_text(e, TEXT_CHARS) for e in block["elements"]], MAX_CONTEXT_ELEMENTS)
        return [{**block, "elements": chunks[0]}] + [{"type": "context", "elements": chunk} for chunk in chunks[1:]]
    if kind == "actions" and block.get("elements"):
        elements = [
            {**e, "text": _clip_text(e.get("text"), BUTTON_CHARS)} if isinstance(e, dict) and e.get("type") == "button"
            else e
            for e in block["elements"]
        ]  # fmt: skip
        return [{**block, "elements": elements}]
    return [block]


def fit(text: str, blocks: Sequence[Block]) -> tuple[str, list[Block]]:
    """(fallback text, blocks) as Slack takes them: every block within its limits, at most 50 blocks.

    A message of more than 50 blocks keeps its first 49 and ends with a line
    saying how many were left out.
    """
    fitted = [part for block in blocks for part in _fit_block(block)]
    if len(fitted) > MAX_BLOCKS:
        left_out = len(fitted) - (MAX_BLOCKS - 1)
        fitted = fitted[: MAX_BLOCKS - 1] + [
            context(f"{left_out} more blocks left out (Slack shows at most {MAX_BLOCKS})")
        ]
    return clip(text, FALLBACK_CHARS), fitted
