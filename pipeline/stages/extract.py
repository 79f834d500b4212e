"""Main text and metadata of an article page: trafilatura, and what the page says itself.

The page is parsed once (with each element's class decided in C), and its paywall and
newsletter boxes, readers' comments and lists of other stories are pruned, found in one
walk over the tree. The metadata newsflow keeps comes first (trafilatura's, its byline
search done with the same result at less cost, htmldate only when the page states no time
of publication, its extensive search only when the quick one finds nothing); then the
scripts but JSON-LD, the styles and the inline SVG, which nothing after reads, leave the
tree, and trafilatura extracts the main text (its balanced defaults, comments left out).
The page's own statements come from the same tree: ``<link rel=canonical>``, a full
publication time in ``article:published_time``, JSON-LD and friends, and the headline
(the ``<h1>`` that the page's title, ``og:title`` or JSON-LD ``headline`` confirm,
without the site's name). A body the page embeds as data (JSON-LD ``articleBody``, a
``__NEXT_DATA__``-style state) wins when the markup held no article, or when it is much
longer and holds the text (a paywall teaser); a gallery's captions are its text. The text
is then tidied (the headline repeated as its first line, repeated paragraphs or a second
copy of the body, sharing prompts, lines pointing to other stories, credit lines of
pictures and sources, calls to subscribe), and character references a page escaped twice
are decoded. Every step above trafilatura is measured on two development sets by
``bench/extract_ablation.py`` and kept only if it loses on neither. Pages that yield no
usable text raise :class:`ExtractionError` with a reason code for the rejects table.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html
import json
import re
import unicodedata
from collections import Counter
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import py3langid
import trafilatura
from htmldate import find_date
from lxml import etree
from lxml import html as lxml_html
from trafilatura.json_metadata import normalize_authors
from trafilatura.metadata import examine_meta, extract_meta_json, extract_title
from trafilatura.settings import Document, set_date_params
from trafilatura.utils import decode_file, is_dubious_html, repair_faulty_html, trim
from yaml.nodes import SequenceNode

from pipeline.records import (
    MAX_SUMMARY,
    MAX_TEXT,
    MAX_TITLE,
    MAX_URL,
    TEXT_TRUNCATED,
    clip,
    clip_names,
)
from pipeline.settings import MIN_WORDS
from pipeline.urls import source_domain
from pipeline.yamlfile import YamlFile

EXTRACTOR = f"trafilatura/{trafilatura.__version__}"
_WORD = re.compile(r"\w+", re.UNICODE)
# Words as newsflow counts them: runs of letters and digits, except that a Chinese or
# Japanese character is a word of its own (those scripts do not space their words; word
# processors count them so).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")
_TIME_META = (
    "article:published_time",
    "og:article:published_time",
    "datePublished",
    "date",
    "dc.date",
    "dc.date.issued",
    "pubdate",
    "parsely-pub-date",
    "sailthru.date",
)


# How trafilatura is asked for the main text: its balanced defaults, without readers'
# comments (the configuration that does best on both development sets; favouring recall
# gains on one and loses on the other).
TRAFILATURA_OPTIONS: dict[str, Any] = {"include_comments": False, "include_tables": True}
# htmldate's extensive search (dateparser over the whole page) costs more than the rest of
# the extraction together; it runs only when the quick search finds no date (_published).
_QUICK_DATE = set_date_params(False)
_STATED_OVERLAP = 0.6  # of the extracted words that a JSON-LD articleBody must hold
_SHORT_LINE = 5  # words
_TEASER_WORDS = 25  # a line that points to another story is its title, no longer
_RUN, _REPEATED = 6, 0.8  # a line whose runs of six words were 80% said above is a repeat
# Headings of lists of other stories, in the languages of the outlets and of the
# development sets, as ``_words`` folds them.
_RELATED_HEADINGS = (
    "related|related stories|related articles|related content|related news|related coverage|"
    "read more|read next|read also|also read|more on this|more on this story|see also|"
    "see the timeline|timeline|recommended|recommended for you|you may also like|"
    "you might also like|more stories|more from|up next|"
    "mehr zum thema|lesen sie auch|auch interessant|weitere artikel|verwandte artikel|"
    "das könnte sie auch interessieren|à lire aussi|lire aussi|sur le même sujet|voir aussi|"
    "à voir aussi|articles liés|lee también|te puede interesar|noticias relacionadas|"
    "también te puede interesar|leia também|leia mais|veja também|notícias relacionadas|"
    "leggi anche|potrebbe interessarti|articoli correlati|lees ook|gerelateerde artikelen|"
    "les også|les mer|se tidslinjen|relaterte saker|læs også|relaterede artikler|läs också|"
    "läs mer|relaterade artiklar|czytaj także|czytaj też|zobacz też|zobacz także|"
    "читайте также|по теме|смотрите также|関連記事|関連ニュース|あわせて読みたい|"
    "こちらもおすすめ|おすすめ記事|延伸閱讀|延伸阅读|相關新聞|相关新闻|相關文章|相关文章|"
    "看更多|更多新聞|推薦閱讀|推荐阅读|相關報導|相关报道|관련기사|관련 기사|추천 기사|"
    "relacionadas|relacionados|artículos relacionados|artigos relacionados|lea también|"
    "lea más|lea|mire|mira|puedes ver|le puede interesar|ver también|vea también|más sobre|"
    "auch lesen|zum weiterlesen|weitere artikel zum thema|mehr themen|lesen sie mehr|"
    "das könnte dich auch interessieren|das thema könnte dich auch interessieren"
)
_SHARING = frozenset(
    "share sharing compartir comparte partager partagez teilen tweet whatsapp".split()
)
# Labels of the credit lines of pictures and sources ("Foto: dpa", "Crédits photos : …",
# "Source: G2"), as ``_words`` folds them; a line that starts with one, or with "©", is
# a credit, not text, when it is short (_CREDIT_WORDS).
_CREDIT_LABELS = (
    "foto|fotos|photo|photos|bild|bilder|titelbild|beitragsbild|bildquelle|fotoquelle|credit|"
    "credits|photo credit|image credit|crédits photos|crédit photo|crédits|image|copyright|"
    "quelle|source|fuente|fonte"
)
_CREDIT_WORDS = 12
# A call to subscribe ("Sign up for our newsletter", "Subscribe now to our e-edition for the
# full story", "Abonnieren Sie unseren Newsletter", "… in deinen Posteingang"), dropped
# when it is a line of its own of at most _PROMPT_WORDS words: a sentence about a
# newsletter ("The newsletter is published once a month") is none.
_SUBSCRIBE = re.compile(
    r"^\W*(?:subscribe|sign up|signup)\b|\bsubscribe (?:now|to|today|for|here)\b|"
    r"\bsign up (?:for|to|here|now|today)\b|\bsigning up\b|"
    r"\b(?:abonnieren sie|abonnez-vous|suscr[ií]bete|iscriviti)\b|"
    r"newsletter (?:anmelden|abonnieren)|zum newsletter|posteingang|"
    r"(?:to|in) your inbox|delivered to your",
    re.IGNORECASE,
)
_PROMPT_WORDS = 30
# Boxes that are never the article, whatever their size: paywall prompts, newsletter
# sign-ups, "up next" video rails, by a token of their class. (trafilatura knows most
# boilerplate; these slip through on pages with little text, where it favours recall.)
# They are removed from the parsed page before anything reads it, in one pass over the
# elements that have a class: an XPath per name cost more than trafilatura's own pruning.
_BOXES = frozenset(
    "paywall subscribe subscription newsletter up-next upnext controls more-videos "
    "piano-offer comment-list commentlist comments-area".split()
)
# Readers' comments, by the ids the common publishing systems give their section.
# trafilatura keeps them when a page has so many that it takes it for a forum thread.
_COMMENT_IDS = frozenset(("comments", "disqus_thread", "respond"))
# A class that names one of them, as a token.
_BOX_CLASS = re.compile(r"(?:^|\s)(?:" + "|".join(map(re.escape, sorted(_BOXES))) + r")(?:\s|$)")
_WHOLE = frozenset(("html", "body", "main", "article"))
# A page whose text is this short but holds this many captions is a gallery: its captions
# are its text.
_GALLERY_WORDS, _GALLERY_CAPTIONS = 60, 3


class ExtractionError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[ExtractionError], tuple[str, str]]:
        return ExtractionError, (self.reason, self.detail)  # crosses process pools whole


@dataclass
class Extracted:
    title: str | None
    text: str
    authors: list[str]
    published_at: datetime | None  # UTC, when the page states a time
    language: str | None
    summary: str | None
    image: str | None
    canonical_url: str | None
    word_count: int
    flags: tuple[str, ...] = ()  # TEXT_TRUNCATED
    published_date: date | None = None  # the day of publication where the outlet is

    def __post_init__(self) -> None:
        self.title = clip(self.title, MAX_TITLE)
        self.summary = clip(self.summary, MAX_SUMMARY)
        self.authors = clip_names(self.authors)
        self.image = clip(self.image, MAX_URL)
        self.canonical_url = clip(self.canonical_url, MAX_URL)

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)


def content_hash(text: str) -> str:
    """Hash of the text with case, punctuation and spacing folded away."""
    folded = " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()[:32]


def _json_ld(tree: Any) -> list[dict[str, Any]]:
    """Every JSON-LD object of the page, nested ones (``@graph``) included."""
    found: list[dict[str, Any]] = []
    for script in tree.xpath('//script[@type="application/ld+json"]/text()'):
        try:
            stack = [json.loads(script)]
        except (json.JSONDecodeError, RecursionError):
            continue
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                found.append(node)
                stack.extend(v for v in node.values() if isinstance(v, list | dict))
    return found


def _json_ld_article(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The page's JSON-LD article (NewsArticle, BlogPosting, …), or nothing."""
    for node in objects:
        kinds = node.get("@type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if any(isinstance(k, str) and (k.endswith("Article") or k == "BlogPosting") for k in kinds):
            return node
    return {}


def _json_ld_authors(article: dict[str, Any]) -> list[str]:
    """Author names the JSON-LD article states."""
    authors = article.get("author")
    listed = authors if isinstance(authors, list) else [authors]
    names = [a.get("name") if isinstance(a, dict) else a for a in listed]
    return [n.strip() for n in names if isinstance(n, str) and n.strip()]


def _words(text: str | None) -> list[str]:
    return _TOKEN.findall((text or "").lower())


_RELATED = frozenset(" ".join(_words(h)) for h in _RELATED_HEADINGS.split("|"))
_RELATED_FIRST = frozenset(h.split()[0] for h in _RELATED if h)
_CREDITS = frozenset(" ".join(_words(label)) for label in _CREDIT_LABELS.split("|"))
# An entity with its semicolon: what is left of a page whose text was escaped twice.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _decoded(text: str) -> str:
    """``text`` with the character references a page escaped once too often decoded (the
    parser decodes one level): ``&amp;ccedil;`` and ``&#8216;`` read as what they name."""
    for _ in range(2):
        if not _ENTITY.search(text):
            break
        text = html.unescape(text)
    return text


def _headline(tree: Any, titles: list[str | None]) -> str | None:
    """The page's headline: the first ``<h1>`` that one of the page's titles confirms
    (half of its words in it), else the first title, without a " | Site" suffix."""
    confirming = [set(_words(t)) for t in titles if t]
    for h1 in tree.xpath("//h1")[:5]:
        text = " ".join(h1.text_content().split())
        words = set(_words(text))
        if words and any(len(words & other) >= len(words) / 2 for other in confirming):
            return text
    title = next((t.strip() for t in titles if t and t.strip()), None)
    if title:
        parts = re.split(r"\s+[|–—-]\s+", title)
        title = max(parts, key=len) if len(parts) > 1 else title
    return title


# trafilatura's byline search (``extract_author``: three tiers of XPath expressions, more
# specific first, over a copy of the page without its comments, dates and figures), as
# one walk over the elements with the same tests in Python: its regular expressions
# called from XPath cost a fifth of the whole extraction.
_BYLINE_TAGS = frozenset("a address div link p span strong".split())
_BYLINE_CLASS = re.compile(r"author-?name|AuthorName|authorName")
_AUTHOR_TAGS = frozenset("a div h3 h4 p span".split())
_AUTHOR_CLASSES = frozenset(("byline", "username", "byl", "BBL"))
_AUTHOR_ID = re.compile(r"author|zuozhe|bianji|xiaobian")
_AUTHOR_CLASS = re.compile(
    r"author|channel-name|zuozhe|bianji|xiaobian|submitted-by|posted-by|journalist-name"
)
_ANY_AUTHOR_ID = re.compile(r"[Aa]uthor")
_ANY_AUTHOR_CLASS = re.compile(r"[Aa]uthor|screenname|writer|[Bb]yline")
_NOT_BYLINE_TAGS = frozenset("a div section span".split())
_NOT_BYLINE_ID = re.compile(r"^comments|comment-?list|ProductReviews")
_NOT_BYLINE_CLASS = re.compile(
    r"^[Cc]omments|commentlist|comments-list|sidebar|is-hidden|quote|embedly-instagram|"
    r"article-(?:share|support)|print|category|meta-date|meta-reviewer"
)
_AUTHOR_LONGEST = 120


def _not_byline(element: Any) -> bool:
    """Comments, dates, figures, sidebars: where a name is not the article's author."""
    tag = element.tag
    if tag in ("time", "figure"):
        return True
    if tag not in _NOT_BYLINE_TAGS:
        return False
    id_, names = element.get("id"), element.get("class")
    if id_ is not None and (id_ == "comments" or _NOT_BYLINE_ID.search(id_)):
        return True
    if names is not None and (
        names in ("comments", "title", "date") or _NOT_BYLINE_CLASS.search(names)
    ):
        return True
    return "Figure" in (element.get("data-component") or "")


def _byline_tier(element: Any) -> int:
    """1 for an element that says it is the author, 2 for a byline-like one, 3 for any
    element whose name mentions an author or a byline, 0 for the rest."""
    tag = element.tag
    if tag == "author":
        return 1
    id_, names, prop = element.get("id"), element.get("class"), element.get("itemprop")
    if tag in _BYLINE_TAGS and (
        "author" in (element.get("rel"), id_, names)
        or any(child.text_content() == "me" for child in element.iterchildren("rel"))
        or prop == "author name"
        or element.get("data-testid") in ("AuthorCard", "AuthorURL")
        or (names is not None and _BYLINE_CLASS.search(names))
    ):
        return 1
    prop_author = prop is not None and "author" in prop
    if tag in _AUTHOR_TAGS and (
        names in _AUTHOR_CLASSES
        or prop_author
        or (id_ is not None and _AUTHOR_ID.search(id_))
        or (names is not None and _AUTHOR_CLASS.search(names))
    ):
        return 2
    if (
        "Byline" in (element.get("data-component") or "")
        or prop_author
        or (id_ is not None and _ANY_AUTHOR_ID.search(id_))
        or (names is not None and _ANY_AUTHOR_CLASS.search(names))
    ):
        return 3
    return 0


def _byline_text(element: Any, parts: list[str]) -> list[str]:
    """The pieces of the element's text, as ``itertext`` gives them once what
    ``_not_byline`` leaves out is deleted: a deleted element's tail joins the text before
    it, with no space (trafilatura's ``delete_element``)."""
    piece = element.text or ""
    for child in element:
        if isinstance(child.tag, str) and _not_byline(child):
            piece += child.tail or ""
            continue
        if piece:
            parts.append(piece)
        if isinstance(child.tag, str):
            _byline_text(child, parts)
        piece = child.tail or ""
    if piece:
        parts.append(piece)
    return parts


def _up_to(element: Any, root: Any) -> list[Any]:
    """The element and its ancestors below ``root``."""
    chain = []
    while element is not None and element is not root:
        chain.append(element)
        element = element.getparent()
    return chain


# The elements _byline_tier can rank, in the order of the page: a byline says what it is
# in an attribute, or is an <author>, or holds trafilatura's <rel>me</rel>.
_BYLINE_CANDIDATES = etree.XPath(
    "descendant-or-self::*[self::author or @id or @class or @itemprop or @rel"
    " or @data-testid or @data-component or rel]"
)


def _author(tree: Any) -> str | None:
    """The author a byline of the page names: the first element of the most specific tier
    whose text is a name's length."""
    tiers: tuple[list[Any], ...] = ([], [], [], [])
    for element in _BYLINE_CANDIDATES(tree):
        tier = _byline_tier(element)
        if tier:
            tiers[tier].append(element)
    for listed in tiers[1:]:
        for element in listed:
            # trafilatura deletes them from a copy of the page, whose root stays.
            if any(_not_byline(e) for e in _up_to(element, tree)):
                continue
            content = trim(" ".join(_byline_text(element, [])))
            if content and 2 < len(content) < _AUTHOR_LONGEST:
                return normalize_authors(None, content)
    return None


def _metadata(tree: Any, dated: bool) -> Document:
    """trafilatura's metadata steps that newsflow keeps (meta tags, JSON-LD, title, author,
    htmldate's quick search, unless the page states its time of publication: ``dated``),
    not those it does not (site name, categories, tags, licence), which cost as much
    again."""
    metadata = examine_meta(tree)
    if metadata.author and " " not in metadata.author:
        metadata.author = None  # a single word is a handle, not a name (as trafilatura)
    with contextlib.suppress(Exception):  # trafilatura's JSON-LD reader fails on odd JSON
        metadata = extract_meta_json(tree, metadata)
    metadata.title = metadata.title or extract_title(tree)
    metadata.author = metadata.author or _author(tree)
    metadata.date = None if dated else find_date(tree, **_QUICK_DATE)
    metadata.clean_and_trim()
    return metadata


def _published(
    tree: Any, stated: datetime | None, day: str | None
) -> tuple[datetime | None, date | None]:
    """The publication time in UTC, when the page states one, and the day in the outlet's
    own calendar: htmldate's day (its slow extensive search only when the quick one finds
    nothing), with the time of day the metadata states when it falls on that day where the
    outlet is. A page that states only a day has no time: midnight UTC would move it to
    the day before for every reader west of UTC."""
    if day is None and stated is None:
        day = find_date(tree, extensive_search=True, original_date=True)
    if stated is not None and (day is None or stated.date().isoformat() == day[:10]):
        return stated.astimezone(UTC), stated.date()
    try:
        return None, date.fromisoformat(day[:10]) if day else None
    except ValueError:
        return None, None


def _local_time(value: str) -> datetime | None:
    """A date and time with the offset it was written with (UTC if it has none)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Where a page rendered in the browser keeps its state, and the keys its article text has
# there: the article is in the page even when its markup is an empty shell.
_STATE_SCRIPTS = etree.XPath(
    "//script[@id='__NEXT_DATA__' or @id='__NUXT_DATA__' or @type='application/json']/text()"
    " | //script[not(@src) and (contains(., '__INITIAL_STATE__') or"
    " contains(., '__PRELOADED_STATE__') or contains(., '__APOLLO_STATE__'))]/text()"
)
_BODY_KEYS = frozenset(
    "articlebody body bodyhtml body_html content contenthtml content_html html text "
    "articletext article_text storybody story_body".split()
)
_BARE_TOKENS, _BODY_TOKENS = 25, 50  # a text this short is no article; a body has this many
# How much longer than the extracted text an embedded body must be to replace it: a teaser
# is a fraction of its article, while a body a little longer than a good extraction only
# adds what the markup rightly left out (captions, "related" headings, promotions).
_STATED_LONGER = 1.5
_MARKUP = re.compile(r"<(?:p|br|div|h[1-6]|li|blockquote)\b", re.IGNORECASE)


def _state_documents(tree: Any) -> list[Any]:
    """The JSON documents of the page's state scripts (``__NEXT_DATA__`` and the like)."""
    documents = []
    for script in _STATE_SCRIPTS(tree):
        script = str(script).strip()
        start = 0 if script.startswith(("{", "[")) else script.find("{")
        if start < 0:
            continue
        with contextlib.suppress(ValueError, RecursionError):
            documents.append(json.JSONDecoder().raw_decode(script, start)[0])
    return documents


def _as_text(value: str) -> str:
    """A body as the page's JSON holds it (markup, or plain text with blank lines between
    its paragraphs) as text, a paragraph a line."""
    if _MARKUP.search(value):
        with contextlib.suppress(etree.ParserError, ValueError):
            fragment = lxml_html.fragment_fromstring(value, create_parent="div")
            blocks = fragment.xpath(".//p | .//h2 | .//h3 | .//h4 | .//li | .//blockquote")
            lines = [" ".join(b.text_content().split()) for b in blocks] or [
                " ".join(fragment.text_content().split())
            ]
            return "\n".join(line for line in lines if line)
    return "\n".join(" ".join(line.split()) for line in value.splitlines() if line.strip())


def _embedded_bodies(tree: Any, article: dict[str, Any]) -> list[str]:
    """The article texts the page embeds as data: its JSON-LD ``articleBody``, and the
    body-like fields of its state scripts."""
    found = [article["articleBody"]] if isinstance(article.get("articleBody"), str) else []
    stack = _state_documents(tree)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str):
                    if key.lower() in _BODY_KEYS and len(value) >= 200:
                        found.append(value)
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    return [_decoded(_as_text(body)) for body in found]


def _stated_body(bodies: list[str], text: str) -> str | None:
    """The longest embedded body that is 1.5 times as long as the extracted text and holds
    most of it (the whole article behind a paywall teaser), or any body, when the markup
    held no article at all (a page rendered in the browser). A body that is shorter (a teaser) or
    says something else (a subscription pitch) is not the article."""
    ours = _words(text)
    best: str | None = None
    for body in bodies:
        theirs = _words(body)
        if len(theirs) < max(_STATED_LONGER * len(ours), _BODY_TOKENS):
            continue
        if len(ours) >= _BARE_TOKENS:
            shared = sum((Counter(ours) & Counter(theirs)).values())
            if shared < _STATED_OVERLAP * len(ours):
                continue
        if best is None or len(theirs) > len(_words(best)):
            best = body.strip()
    return best


def _with_captions(tree: Any, text: str) -> str:
    """A gallery's captions after its short text."""
    if len(_words(text)) >= _GALLERY_WORDS:
        return text
    captions = [" ".join(c.text_content().split()) for c in tree.xpath("//figcaption")]
    captions = [c for c in captions if len(c.split()) > 3 and c not in text]
    if len(captions) < _GALLERY_CAPTIONS:
        return text
    return "\n".join([text, *captions]).strip()


def _tidy(text: str, title: str | None) -> str:
    """Without the headline repeated as the first line, paragraphs repeated word for word or
    said again in other paragraphs (a second copy of the body), the second and later copies
    of a short line said three times or more (the "Share this post" of every entry of a live
    blog; once is kept, as a line of code said again is text), short sharing
    prompts ("Compartir en redes sociales"), the headings of lists of other stories
    ("Related", "Les også") whose lists are gone, lines that point to another story
    ("Lea también: …"), the credit lines of pictures and sources ("Foto: dpa"), and calls
    to subscribe ("Sign up for our newsletter")."""
    lines = text.split("\n")
    if title and lines and _words(lines[0]) == _words(title):
        lines = lines[1:]
    keys = [" ".join(_words(line)) for line in lines]
    times = Counter(keys)
    seen: set[str] = set()
    runs_seen: set[tuple[str, ...]] = set()
    short_seen: set[str] = set()
    kept = []
    for line, key in zip(lines, keys, strict=True):
        words = key.split()
        if len(words) <= _SHORT_LINE and (
            (times[key] >= 3 and (key in short_seen or not key))
            or _SHARING.intersection(words)
            or key in _RELATED
        ):
            continue
        if len(words) <= _SHORT_LINE:
            short_seen.add(key)
        if len(words) <= _TEASER_WORDS and _pointed(line) is not None:
            continue
        if len(words) <= _CREDIT_WORDS and _credit(line):
            continue
        if len(words) <= _PROMPT_WORDS and _SUBSCRIBE.search(line):
            continue
        if len(key) > 20:
            if key in seen:
                continue
            seen.add(key)
        runs = set(zip(*(words[k:] for k in range(_RUN)), strict=False))  # the runs of six
        if len(words) >= 2 * _RUN and len(runs & runs_seen) >= _REPEATED * len(runs):
            continue
        runs_seen |= runs
        kept.append(line)
    return "\n".join(kept).strip()


# Where such headings may be: short elements of these kinds.
_HEADING_TAGS = ("h2", "h3", "h4", "h5", "h6", "p", "strong", "b", "span")
_HEADING_LONGEST = 300  # characters: a heading, or a heading and the title it points to
_HEADING_CHARS = 40  # the longest heading of _RELATED_HEADINGS, and some


def _credit(line: str) -> bool:
    """A credit line: "© dpa", "Foto: City-Press", "(Credit: Clayton Aldern / Grist)"."""
    line = line.strip()
    if line.startswith("©"):
        return True
    head, colon, _ = line.lstrip("([").partition(":")
    return bool(colon) and len(head) <= _HEADING_CHARS and " ".join(_words(head)) in _CREDITS


def _pointed(line: str) -> str | None:
    """What follows the heading of a line that points to another story ("Lea también: …",
    "PUEDES VER: …", "Les også: …"); None for any other line."""
    head, colon, rest = line.partition(":") if ":" in line else line.partition("：")
    if colon and len(head) <= _HEADING_CHARS and " ".join(_words(head)) in _RELATED:
        return rest.strip()
    return None


def _related_box(element: Any) -> bool:
    """A heading of a list of other stories ("Related", "Les også", "関連記事"), or a
    paragraph that is such a heading followed by links: "Les også: <a>…</a>"."""
    text = " ".join(element.text_content().split())
    rest = _pointed(text)
    if rest is None:
        return len(text) <= _HEADING_CHARS and " ".join(_words(text)) in _RELATED
    linked = sum(len(" ".join(a.text_content().split())) for a in element.iter("a"))
    return linked >= 0.5 * len(rest)


def _mostly_links(element: Any) -> bool:
    text = len(" ".join(element.text_content().split()))
    linked = sum(len(" ".join(a.text_content().split())) for a in element.iter("a"))
    return text > 0 and linked >= 0.6 * text


def _stated_time(tree: Any, objects: list[dict[str, Any]]) -> datetime | None:
    """A full publication timestamp the page states in its metadata, if any, with the
    outlet's offset."""
    candidates: list[str] = []
    for meta in tree.xpath("//meta[@content]"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in (name.lower() for name in _TIME_META):
            candidates.append(meta.get("content", ""))
    candidates += tree.xpath("//time[@itemprop='datePublished']/@datetime")
    candidates += [o["datePublished"] for o in objects if isinstance(o.get("datePublished"), str)]
    for value in candidates:
        parsed = _local_time(value)
        if parsed is not None and "T" in value:
            return parsed
    return None


def _canonical(tree: Any, url: str | None) -> str | None:
    for href in tree.xpath("//link[@rel='canonical']/@href | //meta[@property='og:url']/@content"):
        href = str(href).strip()
        if href:
            return urljoin(url or "", href)
    return None


def detect_language(text: str, declared: str | None = None) -> str | None:
    """ISO 639-1 code of the text; the page's declared language only for very short text."""
    if len(text) >= 80:
        code, _ = py3langid.classify(text[:1500])
        return str(code)
    if declared:
        code = declared.strip().lower().replace("_", "-").split("-")[0]
        if re.fullmatch(r"[a-z]{2}", code):
            return str(code)
    return None


# trafilatura's parser settings, with the class of each element decided in C: lxml.html's
# own lookup runs Python code for every element the extraction touches, a tenth of its
# time. Every element is an HtmlElement (none is a form or a label; nothing here needs it).
_PARSER = lxml_html.HTMLParser(
    collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True,
    remove_pis=True,
)  # fmt: skip
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=lxml_html.HtmlElement,
        comment=lxml_html.HtmlComment,
        pi=lxml_html.HtmlProcessingInstruction,
        entity=lxml_html.HtmlEntity,
    )
)


def _parse(page: bytes | str) -> Any:
    """The page's tree, as ``trafilatura.load_html`` makes it (its decoding and repairs),
    with the parser above; None for what is not HTML."""
    markup = decode_file(page)
    beginning = markup[:50].lower()
    markup = repair_faulty_html(markup, beginning)
    tree = None
    with contextlib.suppress(ValueError, etree.ParserError):  # a declared encoding
        tree = lxml_html.fromstring(markup, parser=_PARSER)
    if tree is None or len(tree) < 1:
        with contextlib.suppress(ValueError, etree.ParserError):
            tree = lxml_html.fromstring(markup.encode("utf-8", "surrogatepass"), parser=_PARSER)
    if tree is not None and is_dubious_html(beginning) and len(tree) < 2:
        return None
    return tree


def _looks_binary(data: bytes) -> str | None:
    head = data[:1024]
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head[:4] in (b"\x89PNG", b"GIF8", b"PK\x03\x04") or head[:3] == b"\xff\xd8\xff":
        return "an image or archive"
    if head.count(b"\x00") > 8:
        return "binary data"
    return None


@dataclass(frozen=True)
class Hints:
    """What an outlet's pages need beyond the generic method: XPath expressions of the
    element(s) holding the article text (``content``) and of boxes that are not the article
    (``drop``). From the ``extraction`` of the outlet in the outlets registry, by domain."""

    content: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


class HintsError(ValueError):
    pass


def load_hints(*paths: Path | str) -> dict[str, Hints]:
    """The extraction hints of the outlets, by domain, from each file of ``paths`` (later
    ones win): the outlets registry (``outlets:`` a list, each outlet's ``extraction:``
    with ``content`` and ``drop``), or a hints file (``outlets:`` a mapping of domains to
    their ``content`` and ``drop``). Each expression is compiled here, so that a mistake
    names its file and line at start-up."""
    hints: dict[str, Hints] = {}
    for path in paths:
        doc = YamlFile(path, HintsError)
        root = doc.mapping(doc.root, "the file", None)
        listed = root.get("outlets")
        if isinstance(listed, SequenceNode):  # the registry
            for item in listed.value:
                entry = doc.mapping(item, "an outlet", None)
                if "extraction" in entry:
                    name = getattr(entry.get("name"), "value", "?")
                    hints[_outlet_domain(doc, entry)] = _hints(doc, entry["extraction"], name)
        else:
            for domain, node in doc.mapping(listed, "outlets").items():
                hints[domain.lower()] = _hints(doc, node, domain)
    return hints


def _outlet_domain(doc: YamlFile, entry: dict[str, Any]) -> str:
    """The domain an outlet of the registry gives, else its first feed's."""
    if "domain" in entry:
        return str(entry["domain"].value).lower()
    feeds = doc.strings(entry.get("feeds"), "feeds")
    if not feeds:
        raise doc.fail(next(iter(entry.values())), "an outlet with hints needs 'feeds' or 'domain'")
    return source_domain(feeds[0])


def _hints(doc: YamlFile, node: Any, name: str) -> Hints:
    entry = doc.mapping(node, f"outlets.{name}", ("content", "drop"))
    for key, listed in entry.items():
        for expression in doc.strings(listed, f"outlets.{name}.{key}"):
            try:
                etree.XPath(expression)
            except etree.XPathSyntaxError as exc:
                raise doc.fail(listed, f"{expression!r} is not an XPath: {exc}") from None
    return Hints(
        content=tuple(doc.strings(entry.get("content"), "content")),
        drop=tuple(doc.strings(entry.get("drop"), "drop")),
    )


@functools.lru_cache(maxsize=256)
def _xpath(expression: str) -> etree.XPath:
    return etree.XPath(expression)


def _boxes(tree: Any) -> list[Any]:
    """The paywall, newsletter and comment boxes of the page, by a token of their class
    or by their id, found in one walk over the elements (XPath tests of each class cost
    more than trafilatura's own pruning). A "box" that is an ``<article>`` or holds the
    headline is the article itself (``<article class=paywall>`` on a page whose whole
    text is there)."""
    found = []
    for element in tree.iter(etree.Element):
        names = element.get("class")
        boxed = (names and _BOX_CLASS.search(names)) or element.get("id") in _COMMENT_IDS
        if boxed and element.tag not in _WHOLE and element.find(".//h1") is None:
            found.append(element)
    return found


def _related_lists(tree: Any) -> list[Any]:
    """The headings of lists of other stories, and the lists of links that follow them.
    Only an element whose first word starts such a heading has its text read whole."""
    found = []
    for element in tree.iter(*_HEADING_TAGS):
        head = ""
        for text in element.itertext():
            head = " ".join((head + text).split()) + (" " if text[-1:].isspace() else "")
            if len(head) >= _HEADING_CHARS:
                break
        words = _words(head[:_HEADING_CHARS])
        if not words or words[0] not in _RELATED_FIRST:
            continue
        if len(" ".join(element.text_content().split())) > _HEADING_LONGEST:
            continue
        if _related_box(element):
            found.append(element)
            following = element.getnext()
            listed = following is not None and following.tag in ("ul", "ol", "div", "section")
            if listed and _mostly_links(following):
                found.append(following)
    return found


def _prune(tree: Any, drop: tuple[str, ...]) -> None:
    """Remove the boxes that are never the article, the lists of other stories, and what
    the outlet's ``drop`` hint names, keeping their tails (text that follows them in
    their parent)."""
    doomed = _boxes(tree) + _related_lists(tree)
    doomed += [e for expression in drop for e in _xpath(expression)(tree)]
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()


# What no step of trafilatura's extraction reads (its baseline reads JSON-LD) and every
# step pays for: on many pages most of the tree's nodes and bytes, copied several times.
_INERT = etree.XPath("//style | //svg | //template | //script[not(@type='application/ld+json')]")


def _strip_inert(tree: Any) -> None:
    """Remove the scripts, styles, pictures drawn in markup and templates, once what reads
    them (the metadata, the embedded bodies, the dates) has read them."""
    for element in _INERT(tree):
        if element.getparent() is not None:
            element.drop_tree()


def _hinted_text(tree: Any, url: str | None, hints: Hints) -> str:
    """The text of the elements the outlet's ``content`` hint names, extracted alone."""
    found = [e for expression in hints.content for e in _xpath(expression)(tree)]
    if not found:
        return ""
    body = etree.Element("body")
    body.extend(deepcopy(element) for element in found if isinstance(element, etree._Element))
    page = etree.Element("html")
    page.append(body)
    document = trafilatura.bare_extraction(
        page, url=url, include_comments=False, include_tables=True, favor_recall=True
    )
    return (document.text or "").strip() if isinstance(document, Document) else ""


def extract(
    page: bytes | str,
    url: str | None = None,
    min_words: int = MIN_WORDS,
    hints: Hints | None = None,
) -> Extracted:
    """Extract one article page, with the outlet's ``hints`` if it has any. Raises
    :class:`ExtractionError` when nothing usable is there."""
    if isinstance(page, bytes):
        if not page.strip():
            raise ExtractionError("empty", "the page body is empty")
        binary = _looks_binary(page)
        if binary:
            raise ExtractionError("not-html", f"the body is {binary}, not HTML")
    tree = _parse(page)
    if tree is None:
        raise ExtractionError("unparseable", "the body could not be parsed as HTML")
    _prune(tree, hints.drop if hints else ())
    declared = tree.get("lang")
    canonical = _canonical(tree, url)
    objects = _json_ld(tree)
    article = _json_ld_article(objects)
    stated = _stated_time(tree, objects)
    metadata = _metadata(tree, stated is not None)
    bodies = _embedded_bodies(tree, article)
    published, published_date = _published(tree, stated, metadata.date)  # reads scripts too
    _strip_inert(tree)
    document = trafilatura.bare_extraction(tree, url=url, **TRAFILATURA_OPTIONS)
    if document is not None and not isinstance(document, Document):
        raise TypeError("trafilatura.bare_extraction returned a dict; expected a Document")
    hinted = _hinted_text(tree, url, hints) if hints and hints.content else ""
    og_title = tree.xpath("//meta[@property='og:title']/@content")
    headline = article.get("headline") if isinstance(article.get("headline"), str) else None
    title = _headline(tree, [headline, metadata.title, og_title[0] if og_title else None])
    title = title and _decoded(title)
    main = _decoded((document.text or "").strip() if document is not None else "")
    main = hinted or _stated_body(bodies, main) or main
    text = _tidy(_with_captions(tree, main), title)
    if not text:
        raise ExtractionError("no-text", "no main text found on the page")
    flags = (TEXT_TRUNCATED,) if len(text) > MAX_TEXT else ()
    text = text[:MAX_TEXT]
    words = len(_TOKEN.findall(text))
    if words < min_words:
        raise ExtractionError("too-short", f"{words} words of main text, fewer than {min_words}")
    authors = [a.strip() for a in _decoded(metadata.author or "").split(";") if a.strip()]
    return Extracted(
        title=title,
        text=text,
        authors=authors or _json_ld_authors(article),
        published_at=published,
        language=detect_language(text, declared),
        summary=_decoded((metadata.description or "").strip()) or None,
        image=metadata.image or None,
        canonical_url=canonical,
        word_count=words,
        flags=flags,
        published_date=published_date,
    )
