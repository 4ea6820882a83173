"""A tolerant Harmony parser: any list of token ids -> messages plus the spans it could not parse. Never raises.

Header grammar seen in the wild (both orders occur):
    <|start|>{role}[ to={recipient}]<|channel|>{channel}[ to={recipient}][ <|constrain|>{type}| {type}]<|message|>
    {content}<|end|> | <|return|> | <|call|>
The parser works on token indices: it scans for special ids with one pass, then decodes only header and content
spans, so every span is exact and a 32k-token sequence parses in a few milliseconds.
"""

from __future__ import annotations

import operator
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from harness.assets import FIRST_SPECIAL_ID, VOCAB_SIZE

STARTOFTEXT, ENDOFTEXT, RETURN, CONSTRAIN = 199998, 199999, 200002, 200003
CHANNEL, START, END, MESSAGE, CALL = 200005, 200006, 200007, 200008, 200012
TERMINATORS = {END: "<|end|>", RETURN: "<|return|>", CALL: "<|call|>"}
# Tokens that close a message body: a terminator or the start of the next message.
_BODY_STOP = {END, RETURN, CALL, START}
_HEADER_STOP = _BODY_STOP | {MESSAGE}

KNOWN_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
# Tool authors are namespaced (`functions.get_weather`, `browser.search`) or a bare builtin tool (`python`).
_TOOL_ROLE = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+)+$")
_BUILTIN_TOOL_ROLES = frozenset({"python", "browser", "container"})


@dataclass(frozen=True)
class ParsedMessage:
    role: str | None  # "system", "user", "assistant", "developer", "functions.get_weather", ...
    recipient: str | None  # from `to=` in the header
    channel: str | None  # "analysis", "commentary", "final"
    content_type: str | None  # "json", "<|constrain|>json", "code" (the <|constrain|> token stays visible)
    content: str
    terminator: str | None  # "<|end|>", "<|return|>", "<|call|>", or None when the message ran to the end
    start: int  # index of its <|start|> (0 for the first message of a completion)
    end: int  # exclusive: after the terminator
    header_span: tuple[int, int]  # after <|start|> up to <|message|>
    content_span: tuple[int, int]  # after <|message|> up to the terminator
    header_order: str | None  # "recipient-first" | "channel-first" | None (no recipient or no channel)
    constrain_token: bool  # the header used the <|constrain|> special token
    anomalies: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnparsedSpan:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ParseResult:
    messages: tuple[ParsedMessage, ...]
    unparsed: tuple[UnparsedSpan, ...]

    def to_json(self) -> dict:
        messages = []
        for message in self.messages:
            row = asdict(message)
            row["header_span"] = list(message.header_span)
            row["content_span"] = list(message.content_span)
            row["anomalies"] = list(message.anomalies)
            messages.append(row)
        return {"messages": messages, "unparsed": [asdict(span) for span in self.unparsed]}


def parse_text(text: str) -> ParseResult:
    """Encode Harmony text (special tokens allowed) and parse it."""
    from harness.assets import harmony_encoding

    return parse_tokens(harmony_encoding().encode(text, allowed_special="all"))


def parse_tokens(ids: Sequence[int], *, completion: bool | None = None) -> ParseResult:
    """Messages and unparsed spans of `ids`. `completion=None` auto-detects a model completion (no leading
    <|start|>, a header before the first <|message|>), whose first message is the assistant's."""
    ids = list(ids)
    if not all(type(t) is int for t in ids):
        ids = [_coerce(t) for t in ids]
    from harness.assets import harmony_encoding

    encoding = harmony_encoding()  # a missing vocab is a setup error (HarnessError), not a parse problem
    try:
        return _Parser(ids, encoding).parse(completion)
    except Exception as exc:  # noqa: BLE001 -- a bug must not take down a report; keep every token visible instead
        return ParseResult((), (UnparsedSpan(0, len(ids), f"<parser error: {type(exc).__name__}>"),) if ids else ())


def _coerce(token: object) -> object:
    """numpy and other integer types become int; anything else stays as it is and counts as out of vocab."""
    if isinstance(token, bool):
        return token
    try:
        return operator.index(token)
    except TypeError:
        return token


def _valid(token: object) -> bool:
    return type(token) is int and 0 <= token < VOCAB_SIZE


class _Parser:
    def __init__(self, ids: list[int], encoding):
        self.ids = ids
        self.n = len(ids)
        self.encoding = encoding
        # One pass: positions of every special or out-of-vocab id; all later scans walk only this short list.
        self.marks = [i for i, t in enumerate(ids) if not (type(t) is int and 0 <= t < FIRST_SPECIAL_ID)]
        self.invalid = {i for i in self.marks if not _valid(ids[i])}
        self.messages: list[ParsedMessage] = []
        self.unparsed: list[tuple[int, int]] = []

    # --- driving loop -------------------------------------------------------------------------------------------

    def parse(self, completion: bool | None) -> ParseResult:
        if self.n == 0:
            return ParseResult((), ())
        if completion is None:
            completion = self._looks_like_completion()
        pos, k = 0, 0  # k: index into self.marks of the first mark at or after pos
        if completion and self.ids[0] != START:
            pos, k = self._message(0, 0, virtual_start=True)
        while pos < self.n:
            k = self._next_mark(k, pos)
            # Stray tokens before the next <|start|> (or an out-of-vocab id) are unparsed.
            stop = self.n
            while k < len(self.marks):
                i = self.marks[k]
                if self.ids[i] == START and i not in self.invalid:
                    stop = i
                    break
                k += 1
            if stop > pos:
                self._add_unparsed(pos, stop)
            if stop >= self.n:
                break
            pos, k = self._message(stop, k, virtual_start=False)
        return ParseResult(tuple(self.messages), tuple(UnparsedSpan(a, b, self._text(a, b)) for a, b in self.unparsed))

    def _looks_like_completion(self) -> bool:
        if self.ids[0] == START:
            return False
        for i in self.marks:  # a <|message|> before anything that would end a header
            token = self.ids[i]
            if i in self.invalid or token in _BODY_STOP:
                return False
            if token == MESSAGE:
                return True
        return False

    def _next_mark(self, k: int, pos: int) -> int:
        while k < len(self.marks) and self.marks[k] < pos:
            k += 1
        return k

    def _find(self, k: int, pos: int, stops: set[int]) -> tuple[int, int]:
        """First mark at or after `pos` that is out of vocab or in `stops`: (token index or n, mark index)."""
        k = self._next_mark(k, pos)
        while k < len(self.marks):
            i = self.marks[k]
            if i in self.invalid or self.ids[i] in stops:
                return i, k
            k += 1
        return self.n, k

    def _add_unparsed(self, a: int, b: int) -> None:
        if self.unparsed and self.unparsed[-1][1] == a:
            a = self.unparsed.pop()[0]
        self.unparsed.append((a, b))

    # --- one message --------------------------------------------------------------------------------------------

    def _message(self, start: int, k: int, *, virtual_start: bool) -> tuple[int, int]:
        """Parse the message beginning at `start`; returns (position after it, mark index)."""
        header_start = start if virtual_start else start + 1
        anomalies: list[str] = []
        stop, k = self._find(k, header_start, _HEADER_STOP)
        header_end = stop
        if stop < self.n and stop not in self.invalid and self.ids[stop] == MESSAGE:
            content_start = stop + 1
            stop, k = self._find(k, content_start, _BODY_STOP)
            content_end = stop
            if stop < self.n and stop not in self.invalid and self.ids[stop] in TERMINATORS:
                terminator, end = TERMINATORS[self.ids[stop]], stop + 1
            else:
                terminator, end = None, stop
                anomalies.append("missing-end")
        else:
            # No <|message|>: a bare header. At the very end it is the generation prompt (`<|start|>assistant`).
            content_start = content_end = header_end
            if stop < self.n and stop not in self.invalid and self.ids[stop] in TERMINATORS:
                terminator, end = TERMINATORS[self.ids[stop]], stop + 1
                anomalies.append("missing-message")
            else:
                terminator, end = None, stop
                if stop < self.n:
                    anomalies.append("missing-message")
        header = _parse_header(self._pieces(header_start, header_end), implied_role="assistant" if virtual_start
                               else None)
        if any(self.ids[i] >= FIRST_SPECIAL_ID for i in self._marks_in(content_start, content_end)):
            anomalies.append("special-in-content")
        self.messages.append(ParsedMessage(
            role=header.role, recipient=header.recipient, channel=header.channel, content_type=header.content_type,
            content=self._text(content_start, content_end), terminator=terminator, start=start, end=end,
            header_span=(header_start, header_end), content_span=(content_start, content_end),
            header_order=header.order, constrain_token=header.constrain_token,
            anomalies=tuple(header.anomalies + anomalies)))
        return end, k

    def _marks_in(self, a: int, b: int) -> list[int]:
        lo, hi = bisect_left(self.marks, a), bisect_left(self.marks, b)
        return self.marks[lo:hi]

    # --- decoding -----------------------------------------------------------------------------------------------

    def _pieces(self, a: int, b: int) -> list[tuple[str, int | None]]:
        """Span [a, b) as (text, special id or None) pieces; runs of ordinary tokens are decoded as a whole so
        multi-byte characters split across tokens come out intact."""
        pieces: list[tuple[str, int | None]] = []
        pos = a
        for i in self._marks_in(a, b):
            if i > pos:
                pieces.append((self.encoding.decode(self.ids[pos:i]), None))
            token = self.ids[i]
            if i in self.invalid:
                pieces.append((f"<id {token!r}>", -1))
            else:
                pieces.append((self.encoding.decode([token]), token))
            pos = i + 1
        if b > pos:
            pieces.append((self.encoding.decode(self.ids[pos:b]), None))
        return pieces

    def _text(self, a: int, b: int) -> str:
        return "".join(text for text, _ in self._pieces(a, b))


@dataclass
class _Header:
    role: str | None = None
    recipient: str | None = None
    channel: str | None = None
    content_type: str | None = None
    order: str | None = None
    constrain_token: bool = False
    anomalies: list[str] | None = None


def _words(pieces: list[tuple[str, int | None]]) -> list[tuple[str, bool]]:
    """Whitespace-separated words of a header part as (word, holds a special token). A <|constrain|> token always
    starts a new word, so `commentary<|constrain|>json` gives `commentary`, `<|constrain|>json`."""
    words: list[tuple[str, bool]] = []
    current, special, open_word = "", False, False
    for text, token in pieces:
        if token is None:
            for index, part in enumerate(re.split(r"(\s+)", text)):
                if index % 2 == 1:  # whitespace: close the word
                    if open_word:
                        words.append((current, special))
                    current, special, open_word = "", False, False
                elif part:
                    current, open_word = current + part, True
            continue
        if token == CONSTRAIN and open_word:
            words.append((current, special))
            current, special = "", False
        current, special, open_word = current + text, True, True
    if open_word:
        words.append((current, special))
    return words


def _parse_header(pieces: list[tuple[str, int | None]], implied_role: str | None) -> _Header:
    header = _Header(anomalies=[])
    anomalies = header.anomalies
    header.constrain_token = any(token == CONSTRAIN for _, token in pieces)
    channels = [index for index, (_, token) in enumerate(pieces) if token == CHANNEL]
    # With two channel markers the first one leaked into the role (`assistant<|channel|>analysis<|channel|>final`).
    split = channels[-1] if channels else len(pieces)
    role_words = _words(pieces[:split])
    channel_words = _words(pieces[split + 1:]) if channels else []

    if implied_role is not None:
        header.role = implied_role
        if role_words and role_words[0][0] == implied_role:
            role_words = role_words[1:]
    elif role_words and not role_words[0][0].startswith("to="):
        word, special = role_words.pop(0)
        header.role = word
        if special:
            anomalies.append("special-in-role")
        if len(channels) > 1:
            anomalies.append("channel-in-role")
        if not special and word not in KNOWN_ROLES and word not in _BUILTIN_TOOL_ROLES and not _TOOL_ROLE.match(word):
            anomalies.append("unknown-role")
    else:
        anomalies.append("missing-role")

    if channels:
        if channel_words and not channel_words[0][0].startswith("to=") and not channel_words[0][0].startswith(
                "<|constrain|>"):
            header.channel = channel_words.pop(0)[0]
        else:
            anomalies.append("empty-channel")

    extras: list[str] = []
    recipients: list[tuple[str, str]] = []
    for words, order in ((role_words, "recipient-first"), (channel_words, "channel-first")):
        for word, special in words:
            if word.startswith("to="):
                recipients.append((word[3:], order))
                if special:
                    anomalies.append("special-in-recipient")
            else:
                extras.append(word)
    if recipients:
        header.recipient, order = recipients[0]
        header.order = order if channels else None
        if len(recipients) > 1:
            anomalies.append("multiple-recipients")
    header.content_type = _content_type(extras, anomalies)
    return header


def _content_type(extras: list[str], anomalies: list[str]) -> str | None:
    if not extras:
        return None
    marker = "<|constrain|>"
    for index, word in enumerate(extras):
        if word.startswith(marker):
            if word == marker and index + 1 < len(extras):  # `<|constrain|> json`: keep the space visible
                content_type, rest = f"{marker} {extras[index + 1]}", extras[index + 2:]
            else:
                content_type, rest = word, extras[index + 1:]
            if rest or index > 0:
                anomalies.append("text-after-constrain" if rest else "header-text")
            return content_type
    if len(extras) > 1:
        anomalies.append("header-text")
    return " ".join(extras)
