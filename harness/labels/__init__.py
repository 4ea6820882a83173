"""Label parsers: turn a model's final answer into a label, or a parse failure kept as its own outcome.

`get_label_parser(spec)` builds one from a scenario's `label` table:

- `regex`: first (or last) match of `pattern`; `group` is the label, `fine_group` an optional fine label,
  `map` an optional table from matched text to label (an unmapped match is a failure).
- `json-field`: the last JSON object in the text (```json fences tolerated) holding `field` (dots for nesting).
- `enum`: whole labels, longest first, case-insensitive (`Non-violating` never reads as `Violating`).
- `likert`: an integer in `min..max` (ordinal), or an anchor phrase mapped to one.
- `module`: a policy module's own `parse(response)` (see `harness.labels.module`).
"""

from harness.labels._base import LabelParser, LabelResult
from harness.labels._registry import KINDS, get_label_parser
from harness.labels._response import ModelResponse

__all__ = ["KINDS", "LabelParser", "LabelResult", "ModelResponse", "get_label_parser"]
