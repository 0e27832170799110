"""EPCO definitions files: the packaged ones or the authors' `defination*.md`, split into what prompts quote.

A definitions file is read at run time, never copied into code, so that the authors' file reproduces their
published prompts byte for byte. Its language is read from its section markers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..core import taxonomy

# Section markers of a definitions file, per language. The grading title doubles as the placeholder
# that sections write ("分级：常规分级") and that targeted prompts replace by the general grading text.
FLAGS = {
    "zh": ("## 术后并发症类别", "## 常规分级"),
    "en": ("## Postoperative complication categories", "## General grading"),
}
_HEADING = re.compile(r"^(\d+)\.[ \t]+([^\n]*)\n?", re.M)


class DefinitionsError(ValueError):
    """A definitions file that the prompt builders cannot use; the message names the file and fix."""


@dataclass
class Definitions:
    text: str
    language: str
    source: str
    categories: str  # the raw block between the two section markers (the comprehensive prompt body)
    general_grading: str  # raw text after the grading marker
    sections: dict[str, str] = field(default_factory=dict)  # cid -> criteria text under the heading
    headings: dict[str, str] = field(default_factory=dict)  # cid -> heading as written

    @property
    def placeholder(self) -> str:
        return FLAGS[self.language][1].lstrip("# ")

    @property
    def grading_inline(self) -> str:
        """General grading on one line (tabs for newlines), as the authors splice it into prompts."""
        return self.general_grading.replace("\n", "\t")

    def criteria(self, cid: str) -> str:
        """Criteria of one complication with the general-grading placeholder spelled out."""
        return self.sections[cid].replace(self.placeholder, self.grading_inline)

    def select(self, complications: Iterable[str] | None) -> list[str]:
        """Requested complications (any spelling) in the definitions' order; None: all of them."""
        if complications is None:
            return list(self.sections)
        wanted = {taxonomy.canonical_id(c) for c in complications}
        wanted.discard(taxonomy.NONE_ID)
        return [c for c in self.sections if c in wanted]


def packaged_definitions_path(language: str = "en") -> Path:
    """Our own EPCO definitions (en, and zh in the authors' section layout). The authors' exact wording is
    their prompt/defination_modified.md: pass its path as `definitions` to reproduce their prompts."""
    if language not in FLAGS:
        raise DefinitionsError(
            f"no packaged definitions for language {language!r} (pericomp_lib ships {', '.join(FLAGS)}); pass the "
            "path of a definitions markdown file as `definitions`"
        )
    return Path(str(resources.files("pericomp_lib") / "data" / f"definitions_{language}.md"))


def _sections(categories: str, line0: int, source: str) -> tuple[dict[str, str], dict[str, str]]:
    """({cid: criteria}, {cid: heading}) of the numbered headings; `line0` places errors in the file."""
    matches = list(_HEADING.finditer(categories))
    sections: dict[str, str] = {}
    headings: dict[str, str] = {}
    for i, m in enumerate(matches):
        heading = m.group(2)
        cid = taxonomy.lookup(heading)
        line = categories.count("\n", 0, m.start()) + line0 + 1
        if cid is None or cid == taxonomy.NONE_ID:
            raise DefinitionsError(
                f"{source}:{line}: heading {heading!r} is not one of the 22 complications (nearest: "
                f"{taxonomy.nearest_id(heading)!r}); number only complication headings at the start of a line"
            )
        if cid in sections:
            raise DefinitionsError(f"{source}:{line}: complication {cid!r} defined twice")
        stop = matches[i + 1].start() if i + 1 < len(matches) else len(categories)
        sections[cid] = categories[m.end() : stop]
        headings[cid] = heading
    return sections, headings


def parse_definitions(text: str, source: str = "<definitions>") -> Definitions:
    """Split a definitions file into the 22 numbered sections and the general grading."""
    language = next((lang for lang, (cat, _) in FLAGS.items() if cat in text), None)
    if language is None:
        markers = " or ".join(repr(c) for c, _ in FLAGS.values())
        raise DefinitionsError(f"{source}: no complication-category marker ({markers}); is this a definitions file?")
    cat_flag, grade_flag = FLAGS[language]
    start, end = text.find(cat_flag), text.find(grade_flag)
    if end < 0 or end < start:
        raise DefinitionsError(f"{source}: the general grading section {grade_flag!r} must follow {cat_flag!r}")
    categories = text[start + len(cat_flag) : end]
    general = text[end + len(grade_flag) :]
    sections, headings = _sections(categories, text.count("\n", 0, start), source)
    missing = [c for c in taxonomy.IDS if c not in sections]
    if missing:
        raise DefinitionsError(
            f"{source}: missing definitions for {', '.join(missing)}; all 22 complications are needed"
        )
    return Definitions(text, language, source, categories, general, sections, headings)


def load_definitions(path_or_language: str | Path | None = None, language: str = "en") -> Definitions:
    """None or a language code -> the packaged file; a path -> that file (its language from its markers)."""
    if path_or_language is None or str(path_or_language) in FLAGS:
        path = packaged_definitions_path(str(path_or_language or language))
    else:
        path = Path(path_or_language).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: definitions file not found; pass None for the packaged English definitions or the "
                "path of a definitions markdown file (e.g. <PeriComp clone>/prompt/defination_modified.md)"
            )
    return parse_definitions(path.read_text(encoding="utf-8"), str(path))


def as_definitions(definitions: Definitions | str | Path | None) -> Definitions:
    """Builders take parsed definitions, a path or a language code; this is the one place that decides."""
    return definitions if isinstance(definitions, Definitions) else load_definitions(definitions)
