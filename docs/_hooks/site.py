"""MkDocs hooks for modesim's documentation site (registered in ``mkdocs.yml``).

- **README sections.** A page line ``<!-- readme: Quickstart | Command line -->`` is
  replaced by those sections of the repository's README.md (matched by heading, ignoring
  case and any parenthesised suffix such as "(theory §5)"; ``(intro)`` is the text before
  the first section).  ``<!-- readme: * -->`` takes every section no other page claims, so
  a section added to the README always reaches the site.  Links are rewritten for the
  site: links to ``docs/`` pages become site pages, ``figures/`` stays (the
  PNGs are added to the site; ``<img src="figures/...">`` tags are pointed at them), and
  any other repository path becomes inline code.  A
  directive naming a section the README does not have stops the build.
- **Figures.** Every ``figures/*.png`` of the repository is added to the site under
  ``figures/`` (they are rebuilt by ``modesim figures``; nothing is copied into docs/).
- **Theory citations.** Every ``theory §N`` / ``theory §N.M`` in a rendered page (API
  reference included) becomes a link to that section of the theory page; a citation of a
  section that does not exist is a warning (an error under ``--strict``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File
from mkdocs.utils import get_relative_url

log = logging.getLogger("mkdocs.hooks.modesim")

_DIRECTIVE = re.compile(r"^<!--\s*readme:\s*(.*?)\s*-->\s*$", re.M)
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
_IMG_SRC = re.compile(r'(<img\b[^>]*?\bsrc=")(figures/[^"]+)(")')
_SECTION_HEADING = re.compile(r"^#{2,3}\s+§(\d+(?:\.\d+)?)\s", re.M)
_CITE = re.compile(r"theory(\s|&nbsp;)((?:§\d+(?:\.\d+)?(?:\s*[–-]\s*§?\d+(?:\.\d+)?)?(?:,\s*|\s+and\s+)?)+)")
_SECTION = re.compile(r"§(\d+(?:\.\d+)?)")
_SKIP = re.compile(r"(<pre\b.*?</pre>|<a\b.*?</a>|<[^>]+>)", re.S)

_state: dict = {}


def _root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def _key(title: str) -> str:
    if title.strip() == "(intro)":
        return "(intro)"
    return re.sub(r"\s*\(.*?\)\s*$", "", title).strip().lower()


def _readme_sections(text: str) -> dict[str, str]:
    """``{key: markdown}``: ``(intro)`` and one entry per ``## `` section, in order."""
    lines = text.split("\n")
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    out: dict[str, str] = {}
    key, buf, fence = "(intro)", [], False
    for line in lines:
        if line.startswith("```"):
            fence = not fence
        if not fence and line.startswith("## "):
            out[key] = "\n".join(buf).strip("\n")
            key, buf = _key(line[3:]), []
        buf.append(line)
    out[key] = "\n".join(buf).strip("\n")
    return out


def on_config(config):
    root = _root(config)
    readme = (root / "README.md").read_text(encoding="utf-8")
    sections = _readme_sections(readme)
    claims: dict[str, list[str]] = {}
    for page in sorted(Path(config.docs_dir).rglob("*.md")):
        for spec in _DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            if spec.strip() == "*":
                continue
            for name in spec.split("|"):
                key = _key(name)
                if key not in sections:
                    raise PluginError(
                        f"{page.name} includes the README section {name.strip()!r}, which README.md "
                        f"does not have; its sections are {list(sections)}"
                    )
                claims.setdefault(key, []).append(page.name)
    _state.update(sections=sections, claimed=set(claims))
    return config


def on_files(files, config):
    figures = _root(config) / "figures"
    for png in sorted(figures.glob("*.png")):
        uri = f"figures/{png.name}"
        if files.get_file_from_path(uri) is None:
            files.append(File.generated(config, uri, abs_src_path=str(png)))
    _state["files"] = files
    return files


def _rewrite_link(m: re.Match, depth: int) -> str:
    bang, text, target = m.groups()
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
        return m.group(0)
    path, _, anchor = target.partition("#")
    path = path.removeprefix("./").removeprefix("docs/")
    files = _state.get("files")
    if files is not None and files.get_file_from_path(path) is not None:
        new = "../" * depth + path + (f"#{anchor}" if anchor else "")
        return f"{bang}[{text}]({new})"
    return f"{text} (`{target}` in the repository)" if text else f"`{target}`"


def on_page_markdown(markdown, page, config, files):
    sections = _state["sections"]
    depth = page.file.src_uri.count("/")

    def include(m: re.Match) -> str:
        spec = m.group(1).strip()
        if spec == "*":
            keys = [k for k in sections if k not in _state["claimed"]]
        else:
            keys = [_key(s) for s in spec.split("|")]
        body = "\n\n".join(sections[k] for k in keys)
        body = _LINK.sub(lambda lm: _rewrite_link(lm, depth), body)
        # Raw HTML is not rewritten by MkDocs: point <img src="figures/..."> at the site's copy.
        return _IMG_SRC.sub(lambda im: im.group(1) + get_relative_url(im.group(2), page.url) + im.group(3),
                            body)

    return _DIRECTIVE.sub(include, markdown)


def _theory_sections(config) -> set[str]:
    if "theory" not in _state:
        text = (Path(config.docs_dir) / "theory.md").read_text(encoding="utf-8")
        _state["theory"] = set(_SECTION_HEADING.findall(text))
    return _state["theory"]


def on_page_content(html, page, config, files):
    known = _theory_sections(config)
    theory = files.get_file_from_path("theory.md")
    if theory is None:
        return html
    base = get_relative_url(theory.url, page.url) if page.file.src_uri != "theory.md" else ""

    def link_list(m: re.Match) -> str:
        def one(s: re.Match) -> str:
            sec = s.group(1)
            if sec not in known:
                log.warning("%s cites theory §%s, which docs/theory.md does not have", page.file.src_uri, sec)
                return s.group(0)
            anchor = "sec-" + sec.replace(".", "-")
            return f'<a href="{base}#{anchor}">§{sec}</a>'

        return f"theory{m.group(1)}" + _SECTION.sub(one, m.group(2))

    parts = _SKIP.split(html)
    for i in range(0, len(parts), 2):
        parts[i] = _CITE.sub(link_list, parts[i])
    return "".join(parts)
