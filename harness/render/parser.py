"""A tolerant Harmony parser: any list of token ids -> messages plus the spans it could not parse. Never raises.

Header grammar seen in the wild (both orders occur):
    <|start|>{role}[ to={recipient}]<|channel|>{channel}[ to={recipient}][ <|constrain|>{type}| {type}]<|message|>
    {content}<|end|> | <|return|> | <|call|>
The parser works on token indices: it scans for special ids with one pass, then decodes only header and content
spans, so every span is exact and a 32k-token sequence parses in a few milliseconds.

Every token lands in exactly one message or one unparsed span (stray tokens between messages, out-of-vocab ids).
Anomalies a message can carry: special-in-role, channel-in-role, unknown-role, missing-role, empty-channel,
special-in-recipient, multiple-recipients, text-after-constrain, header-text, missing-message, missing-end,
special-in-content. A trailing header without <|message|> (`<|start|>assistant`, the generation prompt) is a
message with empty content and no anomaly.
"""

from __future__ import annotations

import gc
import operator
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from harness.assets import FIRST_SPECIAL_ID, VOCAB_SIZE, harmony_encoding, special_token_names

STARTOFTEXT, ENDOFTEXT, RETURN, CONSTRAIN = 199998, 199999, 200002, 200003
CHANNEL, START, END, MESSAGE, CALL = 200005, 200006, 200007, 200008, 200012
TERMINATORS = {END: "<|end|>", RETURN: "<|return|>", CALL: "<|call|>"}
# What ends a model's turn: gpt-oss's eos ids, the stop ids of generation (<|endoftext|> doubles as padding).
STOP_IDS = (RETURN, CALL, ENDOFTEXT)

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
    return parse_tokens(harmony_encoding().encode(text, allowed_special="all"))


def parse_tokens(ids: Sequence[int], *, completion: bool | None = None) -> ParseResult:
    """Messages and unparsed spans of `ids`. `completion=None` auto-detects a model completion (no leading
    <|start|>, a header before the first <|message|>), whose first message is the assistant's."""
    encoding = harmony_encoding()  # a missing vocab is a setup error (HarnessError), not a parse problem
    ids = list(ids)
    # Parsing allocates thousands of small acyclic objects; cyclic GC passes over them would double the time.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Parser(ids, encoding).parse(completion)
    except Exception as exc:  # noqa: BLE001 -- a bug must not take down a report; keep every token visible instead
        return ParseResult((), (UnparsedSpan(0, len(ids), f"<parser error: {type(exc).__name__}>"),) if ids else ())
    finally:
        if gc_was_enabled:
            gc.enable()


def _coerce(token: object) -> object:
    """numpy and other integer types become int; anything else stays as it is and counts as out of vocab."""
    if isinstance(token, bool):
        return token
    try:
        return operator.index(token)
    except TypeError:
        return token


def _marks(ids: list) -> list[int]:
    return [i for i, t in enumerate(ids) if type(t) is not int or not 0 <= t < FIRST_SPECIAL_ID]


_INVALID, _EOF = -1, -2  # mark kinds besides real special ids: an out-of-vocab id, the end of the input
_HEADER_STOPS = frozenset({MESSAGE, END, RETURN, CALL, START, _INVALID, _EOF})
_BODY_STOPS = frozenset({END, RETURN, CALL, START, _INVALID, _EOF})


class _Parser:
    def __init__(self, ids: list, encoding):
        # One pass: positions of every special or out-of-vocab id; all later scans walk only this short list.
        marks = _marks(ids)
        tokens = [ids[i] for i in marks]
        if any(type(t) is not int for t in tokens):  # numpy integers and the like
            ids = [_coerce(t) for t in ids]
            marks = _marks(ids)
            tokens = [ids[i] for i in marks]
        self.ids = ids
        self.n = len(ids)
        self.encoding = encoding
        self.special_names = special_token_names()
        self.marks = marks
        # Parallel to marks, plus a sentinel at the end, so scans need no bounds checks.
        self.mpos = marks + [self.n]
        self.mtok = [t if type(t) is int and 0 <= t < VOCAB_SIZE else _INVALID for t in tokens] + [_EOF]
        self.messages: list[ParsedMessage] = []
        self.unparsed: list[tuple[int, int]] = []

    # --- driving loop -------------------------------------------------------------------------------------------

    def parse(self, completion: bool | None) -> ParseResult:
        if self.n == 0:
            return ParseResult((), ())
        if completion is None:
            completion = self._looks_like_completion()
        pos, k = 0, 0  # k: index into the marks of the first mark at or after pos
        first_is_text = self.mpos[0] != 0  # no mark at index 0
        if completion and (first_is_text or self.mtok[0] not in (START, _INVALID)):
            pos, k = self._message(0, 0, virtual_start=True)
        mtok = self.mtok
        while pos < self.n:
            # Everything before the next <|start|> is stray (out-of-vocab ids included): unparsed.
            while mtok[k] != START and mtok[k] != _EOF:
                k += 1
            stop = self.mpos[k]
            if stop > pos:
                self._add_unparsed(pos, stop)
            if mtok[k] == _EOF:
                break
            pos, k = self._message(stop, k, virtual_start=False)
        return ParseResult(tuple(self.messages), tuple(UnparsedSpan(a, b, self._text(a, b)) for a, b in self.unparsed))

    def _looks_like_completion(self) -> bool:
        for token in self.mtok:  # a <|message|> before anything that would end a header
            if token == MESSAGE:
                return True
            if token in _BODY_STOPS:
                return False
        return False

    def _add_unparsed(self, a: int, b: int) -> None:
        if self.unparsed and self.unparsed[-1][1] == a:
            a = self.unparsed.pop()[0]
        self.unparsed.append((a, b))

    # --- one message --------------------------------------------------------------------------------------------

    def _message(self, start: int, k: int, *, virtual_start: bool) -> tuple[int, int]:
        """Parse the message beginning at `start` (k: its <|start|> mark, or the first mark of a completion);
        returns (position after it, index of the first mark at or after that position)."""
        mpos, mtok = self.mpos, self.mtok
        header_start, kh = (start, k) if virtual_start else (start + 1, k + 1)
        anomalies: list[str] = []
        k1 = kh
        while mtok[k1] not in _HEADER_STOPS:
            k1 += 1
        stop, token = mpos[k1], mtok[k1]
        specials_in_content = False
        if token == MESSAGE or virtual_start:
            if token == MESSAGE:
                header_end, content_start, kc = stop, stop + 1, k1 + 1
            else:  # a completion whose prompt ended with a prefilled header: all of it is content
                header_end, content_start, kc = header_start, header_start, kh
            k2 = kc
            while mtok[k2] not in _BODY_STOPS:
                k2 += 1
            content_end, token = mpos[k2], mtok[k2]
            specials_in_content = k2 > kc
            if token in TERMINATORS:
                terminator, end, k_next = TERMINATORS[token], content_end + 1, k2 + 1
            else:
                terminator, end, k_next = None, content_end, k2
                anomalies.append("missing-end")
        else:
            # No <|message|>: a bare header. At the very end it is the generation prompt (`<|start|>assistant`).
            header_end = content_start = content_end = stop
            if token in TERMINATORS:
                terminator, end, k_next = TERMINATORS[token], stop + 1, k1 + 1
                anomalies.append("missing-message")
            else:
                terminator, end, k_next = None, stop, k1
                if token != _EOF:
                    anomalies.append("missing-message")
        header = self._header(header_start, header_end, "assistant" if virtual_start else None)
        if specials_in_content:  # out-of-vocab ids end a message, so these are special tokens
            anomalies.append("special-in-content")
            content = self._text(content_start, content_end)
        else:
            content = self.encoding.decode(self.ids[content_start:content_end])
        self.messages.append(ParsedMessage(
            role=header.role, recipient=header.recipient, channel=header.channel, content_type=header.content_type,
            content=content, terminator=terminator, start=start, end=end,
            header_span=(header_start, header_end), content_span=(content_start, content_end),
            header_order=header.order, constrain_token=header.constrain_token,
            anomalies=header.anomalies + tuple(anomalies)))
        return end, k_next

    def _header(self, a: int, b: int, implied_role: str | None) -> _Header:
        # Headers repeat a lot (`user`, `assistant<|channel|>final`): parse each distinct one once.
        key = (tuple(self.ids[a:b]), implied_role)
        header = _HEADER_CACHE.get(key)
        if header is None:
            header = _parse_header(self._pieces(a, b), implied_role)
            if len(_HEADER_CACHE) >= _HEADER_CACHE_SIZE:
                _HEADER_CACHE.clear()
            _HEADER_CACHE[key] = header
        return header

    # --- decoding -----------------------------------------------------------------------------------------------

    def _pieces(self, a: int, b: int) -> list[tuple[str, int | None]]:
        """Span [a, b) as (text, special id or None) pieces; runs of ordinary tokens are decoded as a whole so
        multi-byte characters split across tokens come out intact. Out-of-vocab ids read `<id 999999>`."""
        pieces: list[tuple[str, int | None]] = []
        pos = a
        for k in range(bisect_left(self.marks, a), bisect_left(self.marks, b)):
            i, token = self.mpos[k], self.mtok[k]
            if i > pos:
                pieces.append((self.encoding.decode(self.ids[pos:i]), None))
            if token == _INVALID:
                pieces.append((f"<id {self.ids[i]!r}>", _INVALID))
            else:
                pieces.append((self.special_names[token], token))
            pos = i + 1
        if b > pos:
            pieces.append((self.encoding.decode(self.ids[pos:b]), None))
        return pieces

    def _text(self, a: int, b: int) -> str:
        return "".join(text for text, _ in self._pieces(a, b))


@dataclass(frozen=True)
class _Header:
    role: str | None
    recipient: str | None
    channel: str | None
    content_type: str | None
    order: str | None
    constrain_token: bool
    anomalies: tuple[str, ...]


_HEADER_CACHE: dict[tuple, _Header] = {}
_HEADER_CACHE_SIZE = 4096


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
    anomalies: list[str] = []
    channels = [index for index, (_, token) in enumerate(pieces) if token == CHANNEL]
    # With two channel markers the first one leaked into the role (`assistant<|channel|>analysis<|channel|>final`).
    split = channels[-1] if channels else len(pieces)
    role_words = _words(pieces[:split])
    channel_words = _words(pieces[split + 1:]) if channels else []
    if len(channels) > 1:
        anomalies.append("channel-in-role")

    role = implied_role
    if implied_role is not None:
        if role_words and role_words[0][0] == implied_role:
            role_words = role_words[1:]
    elif role_words and not role_words[0][0].startswith("to="):
        role, special = role_words.pop(0)
        if special:
            anomalies.append("special-in-role")
        elif role not in KNOWN_ROLES and role not in _BUILTIN_TOOL_ROLES and not _TOOL_ROLE.match(role):
            anomalies.append("unknown-role")
    else:
        anomalies.append("missing-role")

    channel = None
    if channels:
        if channel_words and not channel_words[0][0].startswith(("to=", "<|constrain|>")):
            channel = channel_words.pop(0)[0]
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
    recipient = order = None
    if recipients:
        recipient, order = recipients[0]
        order = order if channels else None
        if len(recipients) > 1:
            anomalies.append("multiple-recipients")
    content_type = _content_type(extras, anomalies)
    return _Header(role=role, recipient=recipient, channel=channel, content_type=content_type, order=order,
                   constrain_token=any(token == CONSTRAIN for _, token in pieces), anomalies=tuple(anomalies))


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
