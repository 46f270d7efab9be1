"""Griffe extension: render the reStructuredText bits of modesim's docstrings as Markdown.

modesim's docstrings follow the numpy convention and, like numpy's and scipy's, use a few
Sphinx constructs that Markdown does not know.  Before mkdocstrings renders a docstring
this extension rewrites, in place:

- cross-reference roles (``:func:`make_task```, ``:class:`~modesim.EMA```, ``:mod:``,
  ``:meth:``, ``:attr:``, ``:data:``, ``:exc:``, ``:obj:``, ``:const:``) into autorefs
  links ``[`make_task`][modesim.task.make_task]`` when the target is rendered in the API
  reference (a module with a page under ``docs/api/``), and into inline code otherwise
  (private helpers, scipy, numpy);
- literal-block markers (a paragraph ending in ``::``) into a plain colon;
- simple tables (``====  ====`` borders) into Markdown tables.

Nothing is changed in the source files; the docstrings still read well as plain text and
in ``help()``.
"""

from __future__ import annotations

import re
from pathlib import Path

import griffe

_ROLE = re.compile(r":(?:py:)?(func|class|meth|attr|data|mod|obj|exc|const):`(~?)([^`]+)`")
_API_DIR = Path(__file__).resolve().parent.parent / "api"
_DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", re.M)
#: A code span (kept) or a bare pipe (escaped) inside a table cell.
_PIPE = re.compile(r"(``.*?``|`[^`]*`)|\|")


def _documented_modules() -> set[str]:
    """Modules rendered by a ``::: module`` line in a page under ``docs/api/``."""
    out = set()
    for page in _API_DIR.glob("*.md"):
        out.update(_DIRECTIVE.findall(page.read_text(encoding="utf-8")))
    return out


def _public_names(obj) -> list[str]:
    if obj.is_module and obj.exports is not None:
        return [str(n) for n in obj.exports]
    return [n for n in obj.members if not n.startswith("_")]


def _final(obj):
    try:
        return obj.final_target if obj.is_alias else obj
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _rendered_paths(pkg) -> set[str]:
    """Identifiers autorefs will know: every rendered module, its public objects (under
    the module's path and their canonical path) and their public members."""
    out: set[str] = set()
    for mod_path in _documented_modules():
        try:
            mod = pkg.modules_collection[mod_path]
        except KeyError:
            continue
        out.add(mod_path)
        for name in _public_names(mod):
            member = mod.members.get(name)
            target = _final(member) if member is not None else None
            if target is None or not target.has_docstrings:
                continue  # mkdocstrings does not render objects without docstrings
            out.add(f"{mod_path}.{name}")
            out.add(target.path)
            if target.is_class:
                for sub, obj in target.members.items():
                    if not sub.startswith("_") and not obj.is_alias and obj.has_docstrings:
                        out.add(f"{target.path}.{sub}")
                        out.add(f"{mod_path}.{name}.{sub}")
    return out


def _resolve(obj, target: str, pkg) -> str | None:
    """Full path of ``target`` as seen from ``obj``'s scope, or None."""
    head, _, rest = target.partition(".")
    candidates = []
    if head == pkg.name:
        candidates.append(target)
    else:
        try:
            base = obj.resolve(head)
            candidates.append(base + (f".{rest}" if rest else ""))
        except griffe.NameResolutionError:
            pass
        candidates.append(f"{pkg.name}.{target}")
    for path in candidates:
        try:
            found = pkg.modules_collection[path]
        except (KeyError, ValueError, griffe.AliasResolutionError):
            continue
        final = _final(found)
        if final is not None:
            return final.path
    return None


def _table(lines: list[str]) -> list[str] | None:
    """A reST simple table (``===`` borders, continuation rows) as Markdown, or None."""
    border = lines[0]
    spans = [(m.start(), m.end()) for m in re.finditer(r"=+", border)]
    if len(spans) < 2:
        return None
    rows: list[list[str]] = []
    for line in lines[1:]:
        if re.fullmatch(r"[= ]+", line):
            continue
        cells = [line[a:(spans[i + 1][0] if i + 1 < len(spans) else None)].strip()
                 for i, (a, _) in enumerate(spans)]
        if rows and not cells[0]:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    esc = [[_PIPE.sub(lambda m: m.group(1) or r"\|", c) for c in row] for row in rows]
    header = ["" for _ in spans]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in spans) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in esc]
    return out


def _tables(text: str) -> str:
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if re.fullmatch(r"=+(?: +=+)+ *", line):
            j = i + 1
            while j < len(lines) and not re.fullmatch(r"=+(?: +=+)+ *", lines[j]):
                j += 1
            md = _table(lines[i:j]) if j < len(lines) else None
            if md is not None:
                if out and out[-1].strip():
                    out.append("")
                out += md
                i = j + 1
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite reST roles, literal markers and simple tables in every docstring."""

    def on_package(self, *, pkg, **kwargs) -> None:
        rendered = _rendered_paths(pkg)

        def role(obj, m: re.Match) -> str:
            kind, short, target = m.groups()
            target = target.strip()
            shown = target.rsplit(".", 1)[-1] if short else target
            path = _resolve(obj, target, pkg)
            if path is not None and path in rendered:
                return f"[`{shown}`][{path}]"
            return f"`{shown}`"

        def visit(obj, seen) -> None:
            if obj.is_alias or id(obj) in seen:
                return
            seen.add(id(obj))
            if obj.docstring is not None:
                text = _ROLE.sub(lambda m: role(obj, m), obj.docstring.value)
                text = re.sub(r"(?m)(\S)::$", r"\1:", text)
                obj.docstring.value = _tables(text)
            for member in obj.members.values():
                visit(member, seen)

        visit(pkg, set())
