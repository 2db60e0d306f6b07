"""The difference between two versions of a text, for the pages that show
one: a result's versions, a post's edit history. Plain text in, plain text
out (the templates escape it; ``templates/core/_text_diff.html`` shows it)."""

import difflib
import re
from dataclasses import dataclass, field

WORD = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass
class DiffLine:
    """One row of a side-by-side difference: the old line and the new one
    (either may be absent), each as segments (text, changed)."""

    tag: str  # equal, delete, insert, replace
    old_number: int | None = None
    new_number: int | None = None
    old: list[tuple[str, bool]] = field(default_factory=list)
    new: list[tuple[str, bool]] = field(default_factory=list)


def _word_segments(old: str, new: str) -> tuple[list, list]:
    """The two lines as segments, the words that differ marked."""
    a, b = WORD.findall(old), WORD.findall(new)
    old_segments, new_segments = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if i2 > i1:
            old_segments.append(("".join(a[i1:i2]), tag != "equal"))
        if j2 > j1:
            new_segments.append(("".join(b[j1:j2]), tag != "equal"))
    return old_segments, new_segments


def text_diff(old_text: str, new_text: str, context: int = 3) -> list[DiffLine | None]:
    """A side-by-side difference of two Markdown sources, line by line, the
    changed words within a changed line marked; unchanged stretches longer
    than twice ``context`` are folded (None stands for the fold). The text
    is plain: the template escapes it."""
    a, b = old_text.splitlines(), new_text.splitlines()
    rows: list[DiffLine | None] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group_index, group in enumerate(matcher.get_grouped_opcodes(context)):
        if group_index or (group and (group[0][1] > 0 or group[0][3] > 0)):
            rows.append(None)
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for offset in range(i2 - i1):
                    line = a[i1 + offset]
                    rows.append(
                        DiffLine(
                            "equal",
                            i1 + offset + 1,
                            j1 + offset + 1,
                            [(line, False)],
                            [(line, False)],
                        )
                    )
                continue
            pairs = max(i2 - i1, j2 - j1)
            for offset in range(pairs):
                i, j = i1 + offset, j1 + offset
                old = a[i] if i < i2 else None
                new = b[j] if j < j2 else None
                if old is not None and new is not None:
                    old_segments, new_segments = _word_segments(old, new)
                    rows.append(DiffLine("replace", i + 1, j + 1, old_segments, new_segments))
                elif old is not None:
                    rows.append(DiffLine("delete", i + 1, None, [(old, True)], []))
                else:
                    rows.append(DiffLine("insert", None, j + 1, [], [(new, True)]))
    shown = [row for row in rows if row is not None]
    if shown:
        last_old = max((row.old_number or 0) for row in shown)
        last_new = max((row.new_number or 0) for row in shown)
        if last_old < len(a) or last_new < len(b):
            rows.append(None)
    return rows
