"""Name why two renders of the same request differ, with the "Prompt render" ids of TAXONOMY.md.

The decision is made on the parsed message structure of both sides, not by searching the whole text:
1. the trailing generation prompt (`<|start|>assistant...` after the last terminator) is compared on its own;
2. messages are paired: identical token spans first (a same-span message elsewhere is a move), then by
   (role, channel, recipient), then by role, each time in order inside the stretch between identical messages;
3. each pair is compared field by field (header order, constrain token, terminator, then content read by role:
   system preamble lines, developer sections, tool results, tool-call arguments, plain text);
4. a message without a partner is retained analysis, a moved instruction, a second rendered preamble, or dropped;
5. every changed token segment must overlap a finding; whatever is left is `other`, never silence.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from harness.diff.align import Alignment
from harness.diff.tokens import decode, is_special, piece
from harness.render.parser import KNOWN_ROLES, START, TERMINATORS

# The ids of TAXONOMY.md, "Prompt render" table, in table order.
RENDER_CLASSES = (
    "date-line", "reasoning-effort", "model-identity", "channel-config", "instruction-role", "message-dropped",
    "message-order", "developer-section-order", "tool-namespace", "recipient-channel-order", "constrain-token",
    "history-terminator", "analysis-retention", "tool-result-serialization", "tool-args-serialization",
    "special-token-as-text", "double-render", "content-whitespace", "content-text", "generation-prompt", "other",
)
# A rendered Harmony conversation spelled inside content (specials as text, or stripped by skip_special_tokens).
_RENDERED = re.compile(r"<\|start\|>\s*(system|developer|user|assistant)\b.*?<\|message\|>"
                       r"|Knowledge cutoff: \d{4}-\d{2}.*?# Valid channels:", re.DOTALL)


@dataclass(frozen=True)
class Finding:
    """One named difference: the class id, the message on each side (index into the parse, None if absent)."""

    cls: str
    a_message: int | None
    b_message: int | None
    detail: str
    a_span: tuple[int, int] | None = None  # token span on each side the finding explains
    b_span: tuple[int, int] | None = None

    def to_json(self) -> dict:
        return {"class": self.cls, "a_message": self.a_message, "b_message": self.b_message, "detail": self.detail,
                "a_span": list(self.a_span) if self.a_span else None,
                "b_span": list(self.b_span) if self.b_span else None}


@dataclass(frozen=True)
class MessagePair:
    """How the messages of both sides were matched: a pair, or one side alone (the other index is None)."""

    a: int | None
    b: int | None
    how: str  # "identical" | "moved" | "paired" | "unpaired" | "generation-prompt"


@dataclass(frozen=True)
class Classification:
    findings: tuple[Finding, ...]
    pairs: tuple[MessagePair, ...]

    @property
    def classes(self) -> list[str]:
        return sorted({f.cls for f in self.findings})


def classify(a: Sequence[int], b: Sequence[int], alignment: Alignment, parse_a, parse_b) -> Classification:
    """Findings for two token sequences given their alignment and their `ParseResult`s."""
    if alignment.identical:
        return Classification((), ())
    return _Classifier(a, b, alignment, parse_a, parse_b).run()


# ---------------------------------------------------------------------------------------------------------------


class _Side:
    def __init__(self, ids: Sequence[int], parse):
        self.ids = ids
        self.tail = _tail_start(ids)
        self.messages = list(parse.messages)
        self.body = [i for i, m in enumerate(self.messages) if m.start < self.tail]
        self.unparsed = list(parse.unparsed)

    def sig(self, index: int) -> tuple[int, ...]:
        m = self.messages[index]
        return tuple(self.ids[m.start:m.end])

    def span(self, index: int) -> tuple[int, int]:
        m = self.messages[index]
        return (m.start, m.end)

    def tokens(self, span: tuple[int, int]) -> Sequence[int]:
        return self.ids[span[0]:span[1]]


def _tail_start(ids: Sequence[int]) -> int:
    """Where the generation prompt starts: after the last terminator, if a `<|start|>` follows it."""
    for i in range(len(ids) - 1, -1, -1):
        if ids[i] in TERMINATORS:
            return i + 1 if i + 1 < len(ids) and ids[i + 1] == START else len(ids)
    return 0 if ids and ids[0] == START and START not in ids[1:] else len(ids)


class _Classifier:
    def __init__(self, a, b, alignment: Alignment, parse_a, parse_b):
        self.alignment = alignment
        self.A, self.B = _Side(a, parse_a), _Side(b, parse_b)
        self.findings: list[Finding] = []
        self.pairs: list[MessagePair] = []

    def add(self, cls: str, ia: int | None, ib: int | None, detail: str, a_span=None, b_span=None) -> None:
        if a_span is None and ia is not None:
            a_span = self.A.span(ia)
        if b_span is None and ib is not None:
            b_span = self.B.span(ib)
        self.findings.append(Finding(cls, ia, ib, detail, a_span, b_span))

    def run(self) -> Classification:
        self._generation_prompt()
        self._pair_messages()
        self._special_tokens_as_text()
        self._uncovered_segments()
        return Classification(tuple(_unique(self.findings)), tuple(self.pairs))

    # --- 1. the generation prompt ------------------------------------------------------------------------------

    def _generation_prompt(self) -> None:
        A, B = self.A, self.B
        tail_a, tail_b = A.ids[A.tail:], B.ids[B.tail:]
        ia = next((i for i, m in enumerate(A.messages) if m.start >= A.tail), None)
        ib = next((i for i, m in enumerate(B.messages) if m.start >= B.tail), None)
        same = list(tail_a) == list(tail_b)
        if ia is not None or ib is not None:
            self.pairs.append(MessagePair(ia, ib, "identical" if same else "generation-prompt"))
        if not same:
            detail = f"{_show(decode(tail_a)) or 'nothing'} vs {_show(decode(tail_b)) or 'nothing'}"
            self.add("generation-prompt", ia, ib, f"generation prompt: {detail}", (A.tail, len(A.ids)),
                     (B.tail, len(B.ids)))

    # --- 2. pairing --------------------------------------------------------------------------------------------

    def _pair_messages(self) -> None:
        A, B = self.A, self.B
        sigs_a = [A.sig(i) for i in A.body]
        sigs_b = [B.sig(i) for i in B.body]
        matcher = difflib.SequenceMatcher(None, sigs_a, sigs_b, autojunk=False)
        regions = []
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                self.pairs.extend(MessagePair(A.body[i1 + k], B.body[j1 + k], "identical") for k in range(i2 - i1))
            else:
                regions.append(([A.body[i] for i in range(i1, i2)], [B.body[j] for j in range(j1, j2)]))
        # Moves: a message with the very same tokens in another stretch of the other side.
        left_a = [i for ra, _ in regions for i in ra]
        left_b = [j for _, rb in regions for j in rb]
        moved_a, moved_b = set(), set()
        for i in left_a:
            for j in left_b:
                if j not in moved_b and A.sig(i) == B.sig(j):
                    moved_a.add(i)
                    moved_b.add(j)
                    self.pairs.append(MessagePair(i, j, "moved"))
                    m = A.messages[i]
                    self.add("message-order", i, j, f"{_name(m)} message at position {A.body.index(i)} vs "
                                                    f"{B.body.index(j)}")
                    break
        for ra, rb in regions:
            ra = [i for i in ra if i not in moved_a]
            rb = [j for j in rb if j not in moved_b]
            for i, j in self._pair_region(ra, rb):
                if i is not None and j is not None:
                    self.pairs.append(MessagePair(i, j, "paired"))
                    self._compare(i, j)
                else:
                    self.pairs.append(MessagePair(i, j, "unpaired"))
                    self._unpaired(i, j)
        self.pairs[:] = _in_order(self.pairs)

    def _pair_region(self, ra: list[int], rb: list[int]) -> list[tuple[int | None, int | None]]:
        """Pair by (role, channel, recipient), then by role, then tool with tool, in order; leftovers stand alone."""
        A, B = self.A, self.B
        paired: dict[int, int] = {}
        for key in (lambda m: (m.role, m.channel, m.recipient), lambda m: m.role, lambda m: _role_family(m.role)):
            rest_a = [i for i in ra if i not in paired]
            rest_b = [j for j in rb if j not in paired.values()]
            keys_a = [key(A.messages[i]) for i in rest_a]
            keys_b = [key(B.messages[j]) for j in rest_b]
            for block in difflib.SequenceMatcher(None, keys_a, keys_b, autojunk=False).get_matching_blocks():
                for k in range(block.size):
                    paired[rest_a[block.a + k]] = rest_b[block.b + k]
        out: list[tuple[int | None, int | None]] = [(i, paired.get(i)) for i in ra]
        out.extend((None, j) for j in rb if j not in paired.values())
        return out

    # --- 3. one pair -------------------------------------------------------------------------------------------

    def _compare(self, i: int, j: int) -> None:
        A, B = self.A, self.B
        ma, mb = A.messages[i], B.messages[j]
        name = _name(ma)
        header_found = False
        if ma.header_order and mb.header_order and ma.header_order != mb.header_order:
            self.add("recipient-channel-order", i, j, f"{name}: to= {ma.header_order} vs {mb.header_order}")
            header_found = True
        if ma.constrain_token != mb.constrain_token or _ctype(ma) != _ctype(mb):
            cls = "constrain-token" if (ma.constrain_token != mb.constrain_token
                                        or (_ctype(ma) is None) != (_ctype(mb) is None)) else "other"
            self.add(cls, i, j, f"{name}: content type {ma.content_type!r} vs {mb.content_type!r}")
            header_found = True
        if ma.terminator != mb.terminator:
            self.add("history-terminator", i, j, f"{name} ends with {ma.terminator} vs {mb.terminator}")
            header_found = True
        if ma.role != mb.role:
            self.add("other", i, j, f"author {ma.role!r} vs {mb.role!r}")
            header_found = True
        if (ma.channel, ma.recipient) != (mb.channel, mb.recipient):
            self.add("other", i, j, f"{name}: channel/recipient {ma.channel}/{ma.recipient} vs "
                                    f"{mb.channel}/{mb.recipient}")
            header_found = True
        if not header_found and list(A.tokens(ma.header_span)) != list(B.tokens(mb.header_span)):
            header_a, header_b = decode(A.tokens(ma.header_span)), decode(B.tokens(mb.header_span))
            cls = ("special-token-as-text" if header_a == header_b
                   else "content-whitespace" if header_a.split() == header_b.split() else "other")
            self.add(cls, i, j, f"{name}: header {_show(header_a)} vs {_show(header_b)}")
        if list(A.tokens(ma.content_span)) != list(B.tokens(mb.content_span)):
            self._compare_content(i, j)

    def _compare_content(self, i: int, j: int) -> None:
        A, B = self.A, self.B
        ma, mb = A.messages[i], B.messages[j]
        name, ta, tb = _name(ma), ma.content, mb.content
        if ta == tb:  # same text, other ids: a control token spelled with ordinary tokens, or a re-tokenization
            specials_a = sum(1 for t in A.tokens(ma.content_span) if is_special(t))
            specials_b = sum(1 for t in B.tokens(mb.content_span) if is_special(t))
            if specials_a != specials_b:
                self.add("special-token-as-text", i, j, f"{name}: control tokens as specials ({specials_a}) vs "
                                                        f"as text ({specials_b})")
            else:
                self.add("other", i, j, f"{name}: same text, tokenized differently")
            return
        rendered_a, rendered_b = bool(_RENDERED.search(ta)), bool(_RENDERED.search(tb))
        if rendered_a != rendered_b:
            self.add("double-render", i, j, f"{name}: content holds an already rendered Harmony conversation on "
                                            f"side {'a' if rendered_a else 'b'}")
            return
        if ma.role == "system" and (_is_preamble(ta) or _is_preamble(tb)):
            self._compare_system(i, j, ta, tb)
        elif ma.role == "developer":
            self._compare_developer(i, j, ta, tb)
        elif _is_tool_role(ma.role):
            self._compare_serialized(i, j, ta, tb, "tool-result-serialization", f"{name} result")
        elif ma.role == "assistant" and (ma.recipient or _ctype(ma) or _ctype(mb)):
            self._compare_serialized(i, j, ta, tb, "tool-args-serialization", f"{name} arguments")
        else:
            self._text_finding(i, j, ta, tb, name)

    def _text_finding(self, i: int, j: int, ta: str, tb: str, where: str) -> None:
        if ta.split() == tb.split():
            self.add("content-whitespace", i, j, f"{where}: whitespace {_whitespace_detail(ta, tb)}")
        else:
            self.add("content-text", i, j, f"{where}: {_first_difference(ta, tb)}")

    def _compare_serialized(self, i: int, j: int, ta: str, tb: str, cls: str, where: str) -> None:
        na, nb = _json_value(ta), _json_value(tb)
        if na == nb and not (na[0] == "text" and ta.split() == tb.split()):
            depth_a, depth_b = _json_depth(ta), _json_depth(tb)
            how = "same value, serialized"
            if na[0] == "json" and depth_a != depth_b:  # a JSON string holding the JSON: encoded once more
                how = f"same value, {'double' if abs(depth_a - depth_b) == 1 else 'multiply'}-encoded on side " \
                      f"{'a' if depth_a > depth_b else 'b'}:"
            self.add(cls, i, j, f"{where}: {how} {_show(ta, 40)} vs {_show(tb, 40)}")
        else:
            self._text_finding(i, j, ta, tb, where)

    def _compare_system(self, i: int, j: int, ta: str, tb: str) -> None:
        parts_a, parts_b = _system_parts(ta), _system_parts(tb)
        before = len(self.findings)
        for part, cls in (("identity", "model-identity"), ("date", "date-line"), ("reasoning", "reasoning-effort"),
                          ("channels", "channel-config"), ("tools", "tool-namespace"), ("body", "content-text")):
            la, lb = parts_a.get(part, []), parts_b.get(part, [])
            if la == lb:
                continue
            if " ".join(la).split() == " ".join(lb).split():
                cls = "content-whitespace"
            text_a, text_b = " / ".join(la) or "absent", " / ".join(lb) or "absent"
            self.add(cls, i, j, f"system {part}: {_show(text_a, 50)} vs {_show(text_b, 50)}")
            if part in ("identity", "body"):
                self._instruction_moved(i, j)
        if len(self.findings) == before:  # only blank lines or line breaks moved
            self._text_finding(i, j, ta, tb, "system")

    def _compare_developer(self, i: int, j: int, ta: str, tb: str) -> None:
        sections_a, sections_b = _sections(ta), _sections(tb)
        before = len(self.findings)
        heads_a, heads_b = [h for h, _ in sections_a], [h for h, _ in sections_b]
        reordered = heads_a != heads_b and sorted(heads_a) == sorted(heads_b)
        if reordered:
            self.add("developer-section-order", i, j, f"developer sections {heads_a} vs {heads_b}")
        body_a, body_b = dict(sections_a), dict(sections_b)
        for head in dict.fromkeys(heads_a + heads_b):
            sa, sb = body_a.get(head), body_b.get(head)
            if sa == sb or (reordered and sa is not None and sb is not None and sa.strip() == sb.strip()):
                continue  # the blank lines between sections move with the sections
            label = head or "text before the first section"
            if "tools" in head.lower():
                self.add("tool-namespace", i, j, f"developer {label}: {_first_difference(sa or '', sb or '')}")
            elif sa is None or sb is None:
                if not self._instruction_moved(i, j):
                    self.add("content-text", i, j, f"developer {label} only on side {'b' if sa is None else 'a'}")
            else:
                self._text_finding(i, j, sa, sb, f"developer {label}")
        if len(self.findings) == before:
            self._text_finding(i, j, ta, tb, "developer")

    # --- 4. a message alone ------------------------------------------------------------------------------------

    def _unpaired(self, i: int | None, j: int | None) -> None:
        side, index = (self.A, i) if i is not None else (self.B, j)
        label = "a" if i is not None else "b"
        m = side.messages[index]
        name = _name(m)
        if m.role == "assistant" and m.channel == "analysis":
            self.add("analysis-retention", i, j, f"earlier analysis kept only on side {label}")
        elif m.role == "system" and _is_preamble(m.content) and any(
                side.messages[k].role == "system" and _is_preamble(side.messages[k].content)
                for k in side.body if k != index):
            self.add("double-render", i, j, f"a second rendered system preamble on side {label}")
        elif _RENDERED.search(m.content):
            self.add("double-render", i, j, f"{name} on side {label} holds an already rendered conversation")
        elif m.role in ("system", "developer") and self._instruction_moved(i, j):
            pass
        else:
            self.add("message-dropped", i, j, f"{name} message only on side {label}: {_show(m.content, 40)}")

    def _instruction_moved(self, i: int | None, j: int | None) -> bool:
        """Instruction text of one message found on the other side in another place (role or section)."""
        found = False
        for side, other, index, label in ((self.A, self.B, i, "a"), (self.B, self.A, j, "b")):
            if index is None:
                continue
            m = side.messages[index]
            for text, place in _instruction_texts(m):
                elsewhere = [(k, p) for k in other.body for p in _places_of(other.messages[k], text)]
                if elsewhere and all(p != place for _, p in elsewhere):
                    k, p = elsewhere[0]
                    ia, ib = (index, k) if label == "a" else (k, index)
                    self.add("instruction-role", ia, ib, f"instructions in {place} on side {label}, in {p} on the "
                                                         f"other side")
                    found = True
                    break
        return found

    # --- 5. token-level checks and the no-silence guarantee -----------------------------------------------------

    def _special_tokens_as_text(self) -> None:
        """A control token on one side where the other side spells its text with ordinary tokens."""
        A, B = self.A, self.B
        for seg in self.alignment.changes():
            tokens_a, tokens_b = A.ids[seg.a_start:seg.a_end], B.ids[seg.b_start:seg.b_end]
            for mine, theirs, label in ((tokens_a, tokens_b, "a"), (tokens_b, tokens_a, "b")):
                text = decode([t for t in theirs if not is_special(t)])
                spelled = sorted({piece(t) for t in mine if is_special(t) and piece(t) in text})
                if spelled:
                    self.add("special-token-as-text", self._at(A, seg.a_start), self._at(B, seg.b_start),
                             f"{', '.join(spelled)} as a special token on side {label}, as text on the other",
                             seg.a_span, seg.b_span)
                    break

    def _uncovered_segments(self) -> None:
        A, B = self.A, self.B
        for seg in self.alignment.changes():
            if any(_overlaps(seg.a_span, f.a_span) or _overlaps(seg.b_span, f.b_span) for f in self.findings):
                continue
            self.add("other", self._at(A, seg.a_start), self._at(B, seg.b_start),
                     f"unexplained: {_show(decode(A.ids[seg.a_start:seg.a_end]), 40) or 'nothing'} vs "
                     f"{_show(decode(B.ids[seg.b_start:seg.b_end]), 40) or 'nothing'}", seg.a_span, seg.b_span)

    @staticmethod
    def _at(side: _Side, position: int) -> int | None:
        for k, m in enumerate(side.messages):
            if m.start <= position < m.end:
                return k
        return None


# ---------------------------------------------------------------------------------------------------------------
# helpers on text


def _in_order(pairs: list[MessagePair]) -> list[MessagePair]:
    """Pairs in side-a order; a message only on side b goes right after the last pair before it on side b."""
    with_a = sorted((p for p in pairs if p.a is not None), key=lambda p: p.a)
    out: list[MessagePair] = []
    for p in sorted((p for p in pairs if p.a is None), key=lambda p: p.b):
        before = [k for k, q in enumerate(with_a) if q.b is not None and q.b < p.b]
        cut = before[-1] + 1 if before else 0
        with_a.insert(cut, p)
    out.extend(with_a)
    return out


def _unique(findings: list[Finding]) -> list[Finding]:
    seen, out = set(), []
    for f in findings:
        key = (f.cls, f.a_message, f.b_message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _overlaps(seg: tuple[int, int], span: tuple[int, int] | None) -> bool:
    return span is not None and seg[0] < seg[1] and seg[0] < span[1] and span[0] < seg[1]


def _show(text: str, limit: int = 60) -> str:
    text = repr(text)[1:-1]
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _name(m) -> str:
    parts = [m.role or "?"]
    if m.channel:
        parts.append(m.channel)
    if m.recipient:
        parts.append(f"to={m.recipient}")
    return " ".join(parts)


def _ctype(m) -> str | None:
    """Content type without the constrain marker: `<|constrain|>json` and ` json` both give `json`."""
    if not m.content_type:
        return None
    return m.content_type.replace("<|constrain|>", "").strip() or None


def _role_family(role: str | None) -> str | None:
    return "tool" if _is_tool_role(role) else role


def _is_tool_role(role: str | None) -> bool:
    return role is not None and (role == "tool" or role not in KNOWN_ROLES)


def _is_preamble(text: str) -> bool:
    return "Knowledge cutoff:" in text or "# Valid channels:" in text or re.search(r"^Reasoning: ", text, re.MULTILINE) is not None


def _system_parts(text: str) -> dict[str, list[str]]:
    """Lines of a system preamble by what they say (blank lines dropped; the identity runs up to the cutoff)."""
    parts: dict[str, list[str]] = {}
    lines = text.split("\n")
    has_cutoff = any(line.startswith("Knowledge cutoff") for line in lines)
    in_identity, in_tools = has_cutoff, False
    for line in lines:
        if line.startswith("# Tools"):
            in_tools = True
        if not line.strip():
            continue
        if in_tools:
            part = "tools"
        elif line.startswith("Knowledge cutoff"):
            part, in_identity = "identity", False
        elif in_identity:
            part = "identity"
        elif line.startswith("Current date:"):
            part = "date"
        elif line.startswith("Reasoning:"):
            part = "reasoning"
        elif line.startswith(("# Valid channels", "Calls to these tools must go to")):
            part = "channels"
        else:
            part = "body"
        parts.setdefault(part, []).append(line)
    return parts


def _sections(text: str) -> list[tuple[str, str]]:
    """Top-level `# Heading` sections of a developer message, with their bodies, in order."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in text.split("\n"):
        if line.startswith("# "):
            sections.append((line.strip(), []))
        else:
            sections[-1][1].append(line)
    out = [(head, "\n".join(body)) for head, body in sections]
    return out[1:] if out[0] == ("", "") else out


def _instruction_texts(m) -> list[tuple[str, str]]:
    """The policy-like texts a message carries, with where it sits: (text, place)."""
    if m.role == "developer":
        return [(body.strip(), f"developer {head or 'text'}") for head, body in _sections(m.content)
                if "tools" not in head.lower() and len(body.strip()) >= 8]
    if m.role == "system":
        if _is_preamble(m.content):
            identity = _system_parts(m.content).get("identity", [])
            text = "\n".join(line for line in identity if not line.startswith("Knowledge cutoff")).strip()
            return [(text, "system identity")] if len(text) >= 8 else []
        return [(m.content.strip(), "raw system message")] if len(m.content.strip()) >= 8 else []
    return []


def _places_of(m, text: str) -> list[str]:
    """Where `text` sits inside message `m`, in the same terms as `_instruction_texts`."""
    if not text or text not in m.content:
        return []
    if m.role == "developer":
        return [f"developer {head or 'text'}" for head, body in _sections(m.content) if text in body] or ["developer"]
    if m.role == "system":
        if _is_preamble(m.content):
            return ["system identity" if text in "\n".join(_system_parts(m.content).get("identity", []))
                    else "system preamble"]
        return ["raw system message"]
    return [f"{m.role} message"]


def _json_value(text: str):
    """Canonical JSON of the value `text` holds, unwrapping JSON strings that hold JSON (double encoding).
    A text that is not JSON stands for itself, so `sunny` and `"sunny"` compare equal."""
    value: object = text.strip()
    for _ in range(3):
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            break
    if isinstance(value, str):
        return ("text", value)
    return ("json", json.dumps(value, sort_keys=True, separators=(",", ":")))


def _json_depth(text: str) -> int:
    """How many JSON string layers wrap the value `text` holds (0: the value itself, 1: double encoded, ...)."""
    value: object = text.strip()
    depth = 0
    for _ in range(3):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError, TypeError):
            break
        if not isinstance(value, str):
            break
        depth += 1
    return depth


def _whitespace_detail(ta: str, tb: str) -> str:
    a_end, b_end = ta[len(ta.rstrip()):], tb[len(tb.rstrip()):]
    if ta.rstrip() == tb.rstrip():
        return f"trailing {_show(a_end) or 'nothing'} vs {_show(b_end) or 'nothing'}"
    a_start, b_start = ta[:len(ta) - len(ta.lstrip())], tb[:len(tb) - len(tb.lstrip())]
    if ta.lstrip() == tb.lstrip():
        return f"leading {_show(a_start) or 'nothing'} vs {_show(b_start) or 'nothing'}"
    return "inside the text"


def _first_difference(ta: str, tb: str) -> str:
    k = 0
    while k < min(len(ta), len(tb)) and ta[k] == tb[k]:
        k += 1
    lo = max(0, k - 15)
    return f"{_show(ta[lo:k + 25], 45)!s} vs {_show(tb[lo:k + 25], 45)!s}"
