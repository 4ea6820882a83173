"""Terminal view of a token diff: message pairs side by side, changed tokens highlighted, class names alongside.

Plain data in (`TokenDiff`, `RenderDiff`), rich renderables out; nothing here prints.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from harness.diff import RenderDiff, TokenDiff
from harness.diff.tokens import decode, is_special, piece

STYLE_SPECIAL = "bold cyan"
STYLE_CHANGED_A = "bold white on red3"
STYLE_CHANGED_B = "bold white on green4"
STYLE_CHANGED_SPECIAL_A = "bold yellow on red3"
STYLE_CHANGED_SPECIAL_B = "bold yellow on green4"
STYLE_CLASS = "bold magenta"
CONTEXT_CHARS = 160  # unchanged text kept around each change; longer unchanged runs are elided


def token_diff_view(diff: TokenDiff, a_name: str = "a", b_name: str = "b") -> RenderableType:
    """Summary line plus one row per differing message pair (identical messages are counted, not shown)."""
    summary = summary_line(diff, a_name, b_name)
    if diff.identical:
        return summary
    changed_a, changed_b = _changed_positions(diff)
    table = Table(show_lines=True, expand=True, pad_edge=False)
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column(a_name, ratio=2, overflow="fold")
    table.add_column(b_name, ratio=2, overflow="fold")
    table.add_column("classes", style=STYLE_CLASS, ratio=1, overflow="fold")
    messages_a = diff.parse_a.messages if diff.parse_a else ()
    messages_b = diff.parse_b.messages if diff.parse_b else ()
    identical = 0
    shown_findings = set()
    for pair in diff.message_pairs:
        if pair.how == "identical":
            identical += 1
            continue
        findings = [f for f in diff.findings if (f.a_message, f.b_message) == (pair.a, pair.b)
                    or (pair.a is not None and f.a_message == pair.a)
                    or (pair.b is not None and f.b_message == pair.b)]
        shown_findings.update(id(f) for f in findings)
        cell_a = _message_cell(diff.a, messages_a[pair.a], changed_a, "a") if pair.a is not None else Text("—", "dim")
        cell_b = _message_cell(diff.b, messages_b[pair.b], changed_b, "b") if pair.b is not None else Text("—", "dim")
        label = f"{'' if pair.a is None else pair.a}/{'' if pair.b is None else pair.b}"
        table.add_row(label, cell_a, cell_b, _classes_cell(findings))
    rest = [f for f in diff.findings if id(f) not in shown_findings]
    if rest:  # findings outside any message (e.g. unparsed spans)
        for f in rest:
            span_a = _span_cell(diff.a, f.a_span, changed_a, "a")
            span_b = _span_cell(diff.b, f.b_span, changed_b, "b")
            table.add_row("-", span_a, span_b, _classes_cell([f]))
    footer = Text(f"{identical} identical message pair(s) not shown", style="dim") if identical else Text("")
    return Group(summary, table, footer)


def render_diff_view(result: RenderDiff) -> RenderableType:
    """Every renderer pair of a render diff: an overview table, then each differing pair in detail."""
    overview = Table(title=f"render diff (date {result.date})", expand=False)
    for column in ("a", "b", "identical", "first divergence", "classes"):
        overview.add_column(column, overflow="fold")
    for pair in result.pairs:
        overview.add_row(f"{pair.a} ({len(result.tokens[pair.a])})", f"{pair.b} ({len(result.tokens[pair.b])})",
                         "yes" if pair.identical else "[bold red]no[/]",
                         "-" if pair.first_divergence is None else str(pair.first_divergence),
                         Text(", ".join(pair.classes) or "-", style=STYLE_CLASS))
    parts: list[RenderableType] = [overview]
    for pair in result.pairs:
        if not pair.identical:
            parts.append(Text(""))
            parts.append(token_diff_view(pair.diff, pair.a, pair.b))
    return Group(*parts)


def summary_line(diff: TokenDiff, a_name: str = "a", b_name: str = "b") -> Text:
    text = Text()
    text.append(f"{a_name} ({len(diff.a)} tokens) vs {b_name} ({len(diff.b)} tokens): ", style="bold")
    if diff.identical:
        text.append("identical", style="bold green")
        return text
    changes = [s for s in diff.segments if s.op != "equal"]
    text.append(f"differ from token {diff.first_divergence}", style="bold red")
    text.append(f" in {len(changes)} place(s); ")
    text.append(", ".join(diff.classes), style=STYLE_CLASS)
    return text


# ---------------------------------------------------------------------------------------------------------------


def _changed_positions(diff: TokenDiff) -> tuple[set[int], set[int]]:
    changed_a, changed_b = set(), set()
    for seg in diff.segments:
        if seg.op != "equal":
            changed_a.update(range(seg.a_start, seg.a_end))
            changed_b.update(range(seg.b_start, seg.b_end))
    return changed_a, changed_b


def _message_cell(ids, message, changed: set[int], side: str) -> Text:
    return _tokens_text(ids, message.start, message.end, changed, side)


def _span_cell(ids, span, changed: set[int], side: str) -> Text:
    if span is None or span[0] >= span[1]:
        return Text("—", "dim")
    return _tokens_text(ids, span[0], span[1], changed, side)


def _tokens_text(ids, start: int, end: int, changed: set[int], side: str) -> Text:
    """The tokens of [start, end) with changes highlighted; long unchanged runs shortened to their ends."""
    text = Text()
    run: list[int] = []  # unchanged ordinary tokens waiting to be written (decoded together)

    def flush(at_start: bool, at_end: bool) -> None:
        if not run:
            return
        chunk = decode(run)
        run.clear()
        text.append(_elide(chunk, at_start, at_end))

    for k in range(start, end):
        token = ids[k]
        if k not in changed and not is_special(token):
            run.append(token)
            continue
        flush(at_start=not text.plain, at_end=False)
        if k in changed:
            special = is_special(token)
            style = {("a", False): STYLE_CHANGED_A, ("b", False): STYLE_CHANGED_B,
                     ("a", True): STYLE_CHANGED_SPECIAL_A, ("b", True): STYLE_CHANGED_SPECIAL_B}[(side, special)]
            text.append(_visible(piece(token)), style=style)
        else:
            text.append(piece(token), style=STYLE_SPECIAL)
    flush(at_start=not text.plain, at_end=True)
    return text


def _visible(chunk: str) -> str:
    """Changed whitespace must be seen: spaces as middle dots, line breaks as a return sign plus the break."""
    return chunk.replace(" ", "·").replace("\t", "→").replace("\n", "↵\n")


def _elide(chunk: str, at_start: bool, at_end: bool) -> str:
    keep = CONTEXT_CHARS
    if len(chunk) <= 2 * keep + 5:
        return chunk
    if at_start and at_end:
        return chunk[:keep] + " … " + chunk[-keep:]
    if at_start:  # only the part just before the next change matters
        return "… " + chunk[-keep:]
    if at_end:
        return chunk[:keep] + " …"
    return chunk[:keep] + " … " + chunk[-keep:]


def _classes_cell(findings) -> Text:
    text = Text()
    for k, f in enumerate(findings):
        if k:
            text.append("\n")
        text.append(f.cls, style=STYLE_CLASS)
        text.append(f"\n  {f.detail}", style="dim")
    return text
