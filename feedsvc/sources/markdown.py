"""Markdown source: a directory tree of .md files with optional YAML front matter."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from feedsvc import urls
from feedsvc.content.markdown import RenderError, render_markdown, render_stamp
from feedsvc.content.text import slugify, strip_control_chars
from feedsvc.posts.model import HASH_VERSION, SourceItem
from feedsvc.sources.assets import SUFFIXES, BadCover, cover_url
from feedsvc.sources.report import ItemError


class ItemProblem(Exception):
    """One file cannot be ingested; the message is the reason."""


@dataclass(frozen=True)
class Unchanged:
    """A file whose stat matches what is stored: not re-read (stat first)."""

    key: str


@dataclass(frozen=True)
class Changed:
    """A file whose stat differs from what is stored (or that is new): to be read."""

    key: str
    path: str
    stat: os.stat_result


ScanEvent = SourceItem | ItemError | Unchanged
StatEvent = Changed | ItemError | Unchanged


def iter_files(root: Path) -> Iterator[Path]:
    """Every Markdown file below ``root`` in a stable order, hidden entries skipped."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(SUFFIXES):
                yield Path(dirpath) / name


def stat_files(
    source: str, root: Path, known: Mapping[str, tuple[int | None, int | None]]
) -> Iterator[StatEvent]:
    """Stat every Markdown file (cheap): Unchanged when it matches ``known``, else Changed."""
    root = root.resolve()
    for path in iter_files(root):
        key = path.relative_to(root).as_posix()
        try:
            st = _safe_stat(root, path)
        except ItemProblem as exc:
            yield ItemError(source=source, item=key, reason=str(exc))
            continue
        if known.get(key) == (st.st_mtime_ns, st.st_size):
            yield Unchanged(key)
        else:
            yield Changed(key, str(path), st)


def read_changed(
    source: str,
    root: Path,
    changed: Changed,
    *,
    base_url: str,
    max_bytes: int,
    language: str | None = None,
) -> SourceItem | ItemError:
    """Read and render one changed file; any problem is that file's ItemError."""
    key = changed.key
    try:
        raw = _read(Path(changed.path), changed.stat, max_bytes)
        return parse_file(
            key,
            raw,
            base_url=base_url,
            source=source,
            root=root.resolve(),
            st=changed.stat,
            language=language,
        )
    except ItemProblem as exc:
        return ItemError(source=source, item=key, reason=str(exc))
    except RecursionError:
        return ItemError(source=source, item=key, reason="nested too deeply to read")
    except Exception as exc:  # one bad file never stops the others (issue 12 item 2)
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        return ItemError(source=source, item=key, reason=f"cannot ingest: {reason}")


def scan(
    source: str,
    root: Path,
    known: Mapping[str, tuple[int | None, int | None]],
    *,
    base_url: str,
    max_bytes: int,
    language: str | None = None,
) -> Iterator[ScanEvent]:
    """Yield an item, an error or an Unchanged marker for every Markdown file (in-process)."""
    for event in stat_files(source, root, known):
        if isinstance(event, Changed):
            yield read_changed(
                source, root, event, base_url=base_url, max_bytes=max_bytes, language=language
            )
        else:
            yield event


def _safe_stat(root: Path, path: Path) -> os.stat_result:
    try:
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(root):
                raise ItemProblem(f"symlink points outside the source directory ({target})")
        st = path.stat()
    except OSError as exc:
        raise ItemProblem(f"cannot read file: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ItemProblem("not a regular file")
    return st


def _read(path: Path, st: os.stat_result, max_bytes: int) -> bytes:
    if st.st_size > max_bytes:
        raise ItemProblem(f"file is {st.st_size} bytes, over the limit of {max_bytes} bytes")
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ItemProblem(f"cannot read file: {exc.strerror or exc}") from exc
    if len(raw) > max_bytes:
        raise ItemProblem(f"file is over the limit of {max_bytes} bytes")
    return raw


def parse_file(
    key: str,
    raw: bytes,
    *,
    base_url: str,
    source: str,
    root: Path,
    st: os.stat_result | None = None,
    language: str | None = None,
) -> SourceItem:
    """Turn one file's bytes into a SourceItem (rendered and sanitised) or raise ItemProblem."""
    if b"\x00" in raw:
        raise ItemProblem("binary file (contains NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ItemProblem(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from exc
    text = strip_control_chars(text.replace("\r\n", "\n"))
    meta, body = split_front_matter(text)
    reldir = str(PurePosixPath(key).parent)
    try:
        html = render_markdown(
            body, base_url=urls.markdown_base(base_url, source, key), language=language
        )
    except RenderError as exc:
        raise ItemProblem(f"body: {exc}") from None
    digest = hashlib.sha256(raw + b"\0" + base_url.encode() + HASH_VERSION.encode()).hexdigest()
    return SourceItem(
        external_key=key,
        title=_title(meta, body, key),
        content_html=html,
        content_hash=digest,
        render_version=render_stamp(language),
        slug=_slug(meta),
        default_slug=default_slug(key),
        markdown=body,
        summary=_opt_str(meta, "summary"),
        published=_date(meta, "date"),
        updated=_date(meta, "updated"),
        categories=_str_list(meta, "categories") + _str_list(meta, "category"),
        tags=_str_list(meta, "tags"),
        author=_opt_str(meta, "author"),
        url=_url(meta, "url", base_url),
        image=_image(meta, root, reldir, source, base_url),
        draft=_bool(meta, "draft"),
        language=_opt_str(meta, "lang") or _opt_str(meta, "language"),
        file_mtime_ns=st.st_mtime_ns if st else None,
        file_size=st.st_size if st else None,
    )


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """YAML between a leading ``---`` line and the next ``---`` (or ``...``) line."""
    if not text.startswith("---\n") and text.rstrip("\n") != "---":
        return {}, text
    lines = text.split("\n")
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            block, body = "\n".join(lines[1:i]), "\n".join(lines[i + 1 :])
            break
    else:
        raise ItemProblem("front matter starts with --- but is never closed")
    try:
        meta = yaml.load(block, Loader=_FrontMatterLoader)  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        reason = " ".join(str(exc).split())[:300]
        raise ItemProblem(f"front matter is not valid YAML: {reason}") from exc
    except RecursionError:
        raise ItemProblem("front matter is nested too deeply") from None
    if meta is None:
        return {}, body
    if not isinstance(meta, dict):
        raise ItemProblem("front matter must be a mapping of keys to values")
    return {str(k).lower(): v for k, v in meta.items()}, body


class _FrontMatterLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases before anything is built (a billion-laughs file is a few
    hundred bytes and expands to gigabytes the moment its value is walked), and keeps an
    impossible timestamp (month 13, year 0) as text so that ``_date`` names the field."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise ItemProblem("front matter uses YAML aliases (not allowed)")
        return super().compose_node(parent, index)

    def construct_yaml_timestamp(self, node: Any) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return self.construct_scalar(node)


_FrontMatterLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _FrontMatterLoader.construct_yaml_timestamp
)


def _url(meta: Mapping[str, Any], key: str, base_url: str) -> str | None:
    """A front-matter URL through the one check for published URLs (relative = on this site)."""
    value = _opt_str(meta, key)
    if value is None:
        return None
    try:
        return urls.publishable_url(value, base_url)
    except urls.UnsafeURL as exc:
        raise ItemProblem(f"{key}: {value[:80]!r} {exc}") from None


def _image(
    meta: Mapping[str, Any], root: Path, reldir: str, source: str, base_url: str
) -> str | None:
    """``image:``: a cover, an http(s) URL or an image file of this source (see cover_url)."""
    value = _opt_str(meta, "image")
    if value is None:
        return None
    post_dir = "" if reldir == "." else reldir
    try:
        return cover_url(value, root=str(root), post_dir=post_dir, source=source, base_url=base_url)
    except BadCover as exc:
        raise ItemProblem(f"image: {value[:80]!r} {exc}") from None


def _slug(meta: Mapping[str, Any]) -> str | None:
    """An explicit ``slug:``: used as given, so it must already be one (no ``../x``)."""
    slug = _opt_str(meta, "slug")
    if slug is not None and slugify(slug) != slug:
        hint = f"e.g. {slugify(slug)!r}" if slugify(slug) else "letters, digits and dashes"
        raise ItemProblem(f"slug: {slug[:80]!r} is not a valid slug ({hint})")
    return slug


def default_slug(key: str) -> str:
    path = PurePosixPath(key)
    stem = path.parent.name if path.stem.lower() in ("index", "readme") else path.stem
    return slugify(stem) or hashlib.sha256(key.encode()).hexdigest()[:12]


def _title(meta: Mapping[str, Any], body: str, key: str) -> str:
    title = _opt_str(meta, "title")
    if title:
        return title
    for line in body.split("\n"):
        if line.startswith("#"):
            heading = line.lstrip("#").strip().rstrip("#").strip()
            if heading:
                return heading
    return PurePosixPath(key).stem


def _opt_str(meta: Mapping[str, Any], key: str) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise ItemProblem(f"{key}: expected text, got a {type(value).__name__}")
    text = " ".join(strip_control_chars(str(value)).split())
    return text or None


def _str_list(meta: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = meta.get(key)
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    if any(isinstance(v, dict | list) for v in items):
        raise ItemProblem(f"{key}: expected a list of names")
    cleaned = (" ".join(strip_control_chars(str(v)).split()) for v in items)
    return tuple(v for v in cleaned if v)


def _bool(meta: Mapping[str, Any], key: str) -> bool:
    value = meta.get(key, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "false", "no"):
        return value.lower() in ("true", "yes")
    raise ItemProblem(f"{key}: expected true or false, got {str(value)[:80]!r}")


def _date(meta: Mapping[str, Any], key: str) -> datetime | None:
    """Front-matter dates: YAML timestamps, ISO 8601 strings or plain dates; naive = UTC."""
    value = meta.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
        except ValueError:
            raise ItemProblem(f"{key}: {value[:80]!r} is not a valid date (use ISO 8601)") from None
    else:
        raise ItemProblem(f"{key}: {str(value)[:80]!r} is not a valid date (use ISO 8601)")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 9999 at a negative offset, year 1 at a positive one
        raise ItemProblem(f"{key}: {str(value)[:80]!r} is out of range in UTC") from None
