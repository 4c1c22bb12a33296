"""The documentation stays true: the generated config reference is current, every command,
option and key binding is mentioned, and every relative link (README.md and docs/) resolves."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from tools.docs import config_ref, coverage

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
SNIPPET = re.compile(r'^--8<-- "([^"]+)"\s*$')


def test_the_config_reference_is_generated_from_the_current_schema() -> None:
    page = ROOT / config_ref.PAGE
    assert page.is_file(), f"{config_ref.PAGE} is missing: run `{config_ref.COMMAND}`"
    assert page.read_text(encoding="utf-8") == config_ref.render(), (
        f"{config_ref.PAGE} is out of date with the schema: run `{config_ref.COMMAND}`"
    )


def test_every_config_key_has_a_description_and_a_row() -> None:
    page = (ROOT / config_ref.PAGE).read_text(encoding="utf-8")
    keys = list(config_ref.config_keys())
    assert len(keys) > 100
    assert [k.dotted for k in keys if not k.description] == []
    assert [k.dotted for k in keys if f"| `{k.dotted}` |" not in page] == []


def test_the_reference_renders_types_defaults_and_bounds() -> None:
    rows = {k.dotted: k for k in config_ref.config_keys()}
    assert rows["precision"].allowed == '`"fp32"`, `"fp16"`, `"bf16"`'
    assert rows["precision"].default == '`"fp32"`'
    assert rows["optim.lr"].allowed == "> 0"
    assert rows["optim.betas"].default == "`[0.9, 0.999]`"
    assert rows["data.val_split"].allowed == "> 0, < 1"
    assert rows["data.val_batch_size"].type == "int | null"
    assert rows["steering[].step"].default == "required"
    assert rows["data.augment.mixup"].type == "section"


def test_the_docs_mention_every_command_option_and_key() -> None:
    gaps = coverage.missing(coverage.docs_text(ROOT))
    assert gaps == [], "the docs (docs/**/*.md) do not mention:\n" + "\n".join(gaps)


def test_the_coverage_walk_finds_what_is_missing() -> None:
    """On a text without them, the walk names commands, options, sub-commands and keys."""
    gaps = coverage.missing("tui-trainer run --detach")
    assert "command `watch`" in gaps
    assert "tui-trainer run: option `--nproc`" in gaps
    assert "sub-command `queue hold`" in gaps
    assert "RunScreen: key `p` (Pause)" in gaps
    assert "command `run`" not in gaps
    assert "tui-trainer run: option `--detach`" not in gaps


def slugify(text: str) -> str:
    """A heading's anchor as Python-Markdown's toc (and, for plain headings, GitHub) makes it."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def prose(path: Path) -> list[str]:
    """The file's lines outside fenced code blocks, snippet includes expanded."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        included = SNIPPET.match(line)
        if included and not fenced:
            lines += prose(ROOT / included.group(1))
        elif not fenced:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in prose(path):
        heading = HEADING.match(line)
        if heading:
            slug = base = slugify(heading.group(2))
            n = 0
            while slug in found:
                n += 1
                slug = f"{base}_{n}"
            found.add(slug)
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """`file: link (why)` for each relative link of `path` that does not resolve."""
    broken = []
    for line in prose(path):
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here (no network)
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(root)}: {target}"
            if not dest.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{where} (no such heading)")
    return broken


def test_every_relative_link_resolves() -> None:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = [b for path in files for b in broken_links(path)]
    assert broken == []


def test_the_link_check_catches_a_missing_file_and_heading(tmp_path: Path) -> None:
    page = ROOT / "docs" / "index.md"
    bad = tmp_path / "bad.md"
    bad.write_text(
        f"# Bad\n\n[a]({page}#no-such-heading) [b](nowhere.md) [c]({page}#where-to-go-next)\n"
    )
    found = broken_links(bad, root=tmp_path)
    assert found == [
        f"bad.md: {page}#no-such-heading (no such heading)",
        "bad.md: nowhere.md (no such file)",
    ]
