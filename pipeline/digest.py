"""The daily digest: one static HTML page per day, for people who would rather look than
query.

Built from the committed tables of a day and the 30 days before it: the day's stories
(most outlets first), which are new and which continue, coverage per day by sector, the
outlets of the week, the stakeholders and concerns the week named most, the outlets'
rights signals, and the day's rejects and extraction alerts. The page is one file with its
styles and charts (SVG) inline: it opens offline, has no script, and reads on a phone.
It is written to ``digest/dt=D/index.html``, and to ``digest/latest/index.html`` unless a
later day's page exists. A story is shown as it stands when the page is built.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.lake.store import Lake
from pipeline.lake.tables import days as table_days
from pipeline.lake.tables import read_days, read_where
from pipeline.records import ARTICLES_SCHEMA, REJECTS_SCHEMA, STORIES_SCHEMA, STORY_DAYS_SCHEMA
from pipeline.stages.monitor import EXTRACTION_SCHEMA

COVERAGE_DAYS = 30  # the coverage chart's span, ending on the day
WEEK_DAYS = 7  # the span of the outlets, stakeholders, concerns and rights
TOP_STORIES = 25  # stories shown in full; the rest of the day's are counted
LATEST = "digest/latest/index.html"
STAKEHOLDER_KINDS = ("organisation", "person")  # of the entities; not works or products

_ARTICLE_COLUMNS = pa.schema(
    [
        ARTICLES_SCHEMA.field(name)
        for name in ("article_id", "url", "title", "source_name", "published_at", "story_id",
                     "duplicate_of", "topics", "entities", "rights")
    ]
).append(pa.field("dt", pa.string()))  # fmt: skip
_SECTOR_COLOURS = {
    "film": "#d1495b", "tv-streaming": "#edae49", "music": "#00798c", "games": "#30638e",
    "publishing": "#8f5e99", "advertising": "#66a182", "news-media": "#a05c34",
    "theatre": "#c97c5d", "other": "#9a9a9a",
}  # fmt: skip


def page_key(day: str) -> str:
    return f"digest/dt={day}/index.html"


@dataclass
class Digest:
    """What the page of ``day`` shows, read from the lake."""

    day: str
    stories: list[dict[str, Any]] = field(default_factory=list)  # the day's, most covered first
    today: dict[str, dict[str, Any]] = field(default_factory=dict)  # story → its story_days row
    earlier: set[str] = field(default_factory=set)  # stories that gained articles before the day
    articles: list[dict[str, Any]] = field(default_factory=list)  # of the 30 days
    stories_per_day: dict[str, int] = field(default_factory=dict)
    rejects: Counter[str] = field(default_factory=Counter)
    alerts: list[str] = field(default_factory=list)

    def is_new(self, story: dict[str, Any]) -> bool:
        """Whether the story first landed on the day (it may tell of earlier news)."""
        oldest = date.fromisoformat(self.day) - timedelta(days=COVERAGE_DAYS - 1)
        return story["story_id"] not in self.earlier and story["first_seen"].date() >= oldest

    def of_day(self) -> list[dict[str, Any]]:
        return [a for a in self.articles if a["dt"] == self.day]

    def of_week(self) -> list[dict[str, Any]]:
        first = (date.fromisoformat(self.day) - timedelta(days=WEEK_DAYS - 1)).isoformat()
        return [a for a in self.articles if a["dt"] >= first]


def span(day: str, length: int) -> list[str]:
    """The ``length`` days ending on ``day``, oldest first."""
    end = date.fromisoformat(day)
    return [(end - timedelta(days=n)).isoformat() for n in range(length - 1, -1, -1)]


def gather(lake: Lake, day: str) -> Digest:
    """The digest of ``day`` from the committed tables (its 30 days' articles without their
    text, its stories and story days, its rejects and extraction figures)."""
    window = span(day, COVERAGE_DAYS)
    digest = Digest(day)
    digest.articles = read_days(lake, "articles", window, _ARTICLE_COLUMNS).to_pylist()
    story_days = read_days(lake, "story_days", window, STORY_DAYS_SCHEMA.append(
        pa.field("dt", pa.string()))).to_pylist()  # fmt: skip
    digest.stories_per_day = dict(Counter(r["dt"] for r in story_days))
    digest.today = {r["story_id"]: r for r in story_days if r["dt"] == day}
    digest.earlier = {r["story_id"] for r in story_days if r["dt"] < day}
    if digest.today:
        # A story's current row lies in the partition of the last day it gained articles:
        # this day, or a later one when the page is built again after the story went on.
        wanted = pc.field("story_id").isin(sorted(digest.today))
        later = [d for d in table_days(lake, "stories") if d >= day]
        digest.stories = read_where(lake, "stories", STORIES_SCHEMA, wanted,
                                    days=later).to_pylist()  # fmt: skip
    digest.stories.sort(
        key=lambda s: (
            -len(digest.today[s["story_id"]]["outlets"] or []),
            -len(s["outlets"] or []),
            -s["article_count"],
            s["story_id"],
        )
    )
    reasons = read_days(lake, "rejects", [day], pa.schema([REJECTS_SCHEMA.field("reason")]))
    digest.rejects = Counter(reasons.column("reason").to_pylist())
    outlets = read_days(lake, "extraction", [day], EXTRACTION_SCHEMA).to_pylist()
    digest.alerts = [f"{r['source_domain']}: {a}" for r in outlets for a in r["alerts"] or []]
    return digest


def write_digest(lake: Lake, day: str) -> str:
    """Write the page of ``day`` (and the latest copy, if no later day has a page); its
    address."""
    page = render(gather(lake, day)).encode()
    lake.put(page_key(day), page)
    later = [k for k in lake.list_keys("digest/dt=") if k.endswith("/index.html")
             and k.removeprefix("digest/dt=").split("/")[0] > day]  # fmt: skip
    if not later:
        lake.put(LATEST, page)
    return lake.url(page_key(day))


# -- rendering ------------------------------------------------------------------------

_CSS = """
:root{--ink:#1d2330;--soft:#5b6475;--line:#e3e6ec;--bg:#fbfbfc;--accent:#30638e}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,sans-serif;color:var(--ink);background:var(--bg)}main{max-width:860px;margin:0 auto;
padding:16px}h1{font-size:1.6rem;margin:.2em 0}h2{font-size:1.15rem;margin:1.6em 0 .5em;
border-bottom:1px solid var(--line);padding-bottom:.2em}.sub{color:var(--soft);margin:0}
.story{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 14px;
margin:10px 0}.story h3{font-size:1.05rem;margin:0 0 .3em}.tag{display:inline-block;
font-size:.75rem;padding:1px 7px;border-radius:9px;background:#eef2f7;color:var(--soft);
margin:0 4px 4px 0}.new{background:#e5f4ea;color:#1f6b3a}.meta{color:var(--soft);
font-size:.9rem;margin:.2em 0}.story ul{margin:.4em 0 0;padding-left:1.1em;font-size:.9rem}
.story li{margin:.15em 0}a{color:var(--accent)}svg{width:100%;height:auto;display:block}
.legend span{display:inline-block;margin:0 10px 4px 0;font-size:.8rem;color:var(--soft)}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{text-align:left;
padding:3px 6px;border-bottom:1px solid var(--line)}td.n,th.n{text-align:right}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:0 24px}
.line{font-size:.9rem;color:var(--soft);margin:.3em 0}footer{color:var(--soft);
font-size:.8rem;margin:2em 0 1em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _label(topic: str) -> str:
    return topic.split("/", 1)[-1].replace("-", " ")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%d %b %H:%M UTC") if moment else "time unknown"


def render(digest: Digest) -> str:
    """The page, as one self-contained HTML document."""
    day_articles = digest.of_day()
    by_story: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for article in digest.articles:
        if article["story_id"]:
            by_story[article["story_id"]].append(article)
    new = sum(1 for s in digest.stories if digest.is_new(s))
    outlets_today = len({a["source_name"] for a in day_articles})
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>newsflow digest · {_e(digest.day)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>AI in entertainment · {_e(digest.day)}</h1>",
        f'<p class="sub">{len(day_articles)} articles from {outlets_today} outlets in '
        f"{len(digest.stories)} stories: {new} new, {len(digest.stories) - new} continuing.</p>",
        "<h2>Top stories</h2>",
    ]
    if not digest.stories:
        parts.append('<p class="line">No story gained articles on this day.</p>')
    for story in digest.stories[:TOP_STORIES]:
        parts.append(_story(story, digest, by_story.get(story["story_id"], [])))
    if len(digest.stories) > TOP_STORIES:
        parts.append(f'<p class="line">… and {len(digest.stories) - TOP_STORIES} more '
                     "stories, in the stories table.</p>")  # fmt: skip
    parts += _coverage(digest)
    parts += _week(digest)
    parts += _health(digest)
    parts.append(
        "<footer>Built by newsflow from the tables <code>articles</code>, <code>stories</code>, "
        "<code>story_days</code>, <code>rejects</code> and <code>extraction</code>; stories as "
        "they stand when the page was built.</footer></main></body></html>"
    )
    return "\n".join(parts)


def _story(story: dict[str, Any], digest: Digest, articles: list[dict[str, Any]]) -> str:
    today = digest.today[story["story_id"]]
    first = story["first_reported_by"] or {}
    outlets = story["outlets"] or []
    tags = ['<span class="tag new">new</span>' if digest.is_new(story) else
            f'<span class="tag">continues since {story["first_seen"]:%d %b}</span>']  # fmt: skip
    tags += [f'<span class="tag">{_e(_label(t))}</span>' for t in story["topics"] or []]
    seen = {a["article_id"] for a in articles}
    links = sorted(articles, key=lambda a: (a["published_at"] is None, a["published_at"] or 0))
    items = [
        f'<li><a href="{_e(a["url"])}">{_e(a["title"] or a["url"])}</a> '
        f'<span class="meta">{_e(a["source_name"])}, {_e(_when(a["published_at"]))}'
        f"{' · a copy' if a['duplicate_of'] else ''}</span></li>"
        for a in links
    ]
    older = len(set(story["article_ids"] or []) - seen)
    if older:
        items.append(f'<li class="meta">and {older} earlier, before the last '
                     f"{COVERAGE_DAYS} days</li>")  # fmt: skip
    stakeholders = ", ".join((story["stakeholders"] or [])[:8])
    return (
        f'<article class="story"><h3>{_e(story["headline"] or story["story_id"])}</h3>'
        f"<div>{''.join(tags)}</div>"
        f'<p class="meta"><b>{len(outlets)} outlet{"s" * (len(outlets) != 1)}</b>: '
        f"{_e(', '.join(outlets))} · {_count(story['article_count'], 'article')}, "
        f"{today['articles_today']} today</p>"
        f'<p class="meta">First reported by {_e(first.get("source_name") or "?")}, '
        f"{_e(_when(story['first_reported_at']))}</p>"
        + (f'<p class="meta">Stakeholders: {_e(stakeholders)}</p>' if stakeholders else "")
        + f"<ul>{''.join(items)}</ul></article>"
    )


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'s' * (n != 1)}"


def _sector(article: dict[str, Any]) -> str:
    sectors = [t.split("/", 1)[1] for t in article["topics"] or [] if t.startswith("sector/")]
    return sectors[0] if sectors else "other"


def _coverage(digest: Digest) -> list[str]:
    """Articles per day by sector (stacked bars) and stories per day (a line), as SVG."""
    window = span(digest.day, COVERAGE_DAYS)
    counts: dict[str, Counter[str]] = {d: Counter() for d in window}
    for article in digest.articles:
        counts[article["dt"]][_sector(article)] += 1
    sectors = sorted({s for c in counts.values() for s in c},
                     key=lambda s: (s == "other", s))  # fmt: skip
    top = max([sum(c.values()) for c in counts.values()] + list(digest.stories_per_day.values())
              + [1])  # fmt: skip
    width, height, left, bottom = 600, 180, 28, 18
    step = (width - left) / len(window)
    bars, points = [], []
    for n, d in enumerate(window):
        x = left + n * step
        y = float(height - bottom)
        for sector in sectors:
            h = counts[d][sector] / top * (height - bottom - 8)
            if h:
                y -= h
                colour = _SECTOR_COLOURS.get(sector, "#7b8794")
                bars.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{step - 2:.1f}" '
                            f'height="{h:.1f}" fill="{colour}"><title>{d} {_e(sector)}: '
                            f"{counts[d][sector]}</title></rect>")  # fmt: skip
        stories = digest.stories_per_day.get(d, 0)
        points.append(f"{x + step / 2:.1f},"
                      f"{height - bottom - stories / top * (height - bottom - 8):.1f}")  # fmt: skip
    axis = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'stroke="#c5cad3"/>',
        f'<text x="0" y="12" font-size="10" fill="#5b6475">{top}</text>',
        f'<text x="{left}" y="{height - 4}" font-size="10" fill="#5b6475">{window[0][5:]}</text>',
        f'<text x="{width}" y="{height - 4}" font-size="10" fill="#5b6475" '
        f'text-anchor="end">{window[-1][5:]}</text>',
    ]
    line = (f'<polyline points="{" ".join(points)}" fill="none" stroke="#1d2330" '
            'stroke-width="1.5"/>')  # fmt: skip
    legend = "".join(
        f'<span><i style="background:{_SECTOR_COLOURS.get(s, "#7b8794")}"></i>{_e(s)}</span>'
        for s in sectors
    )
    return [
        f"<h2>Coverage, last {COVERAGE_DAYS} days</h2>",
        f'<svg id="coverage" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Articles per day by sector, and stories per day">'
        + "".join(axis + bars)
        + line
        + "</svg>",
        f'<p class="legend">{legend}<span><i style="background:#1d2330"></i>stories</span></p>',
    ]


def _ranked(title: str, counts: Counter[str], unit: str, limit: int = 10) -> str:
    rows = "".join(f'<tr><td>{_e(name)}</td><td class="n">{n}</td></tr>'
                   for name, n in counts.most_common(limit))  # fmt: skip
    body = rows or '<tr><td colspan="2">none</td></tr>'
    return (f'<div><h2>{_e(title)}</h2><table><tr><th></th><th class="n">{_e(unit)}</th></tr>'
            f"{body}</table></div>")  # fmt: skip


def _week(digest: Digest) -> list[str]:
    week = digest.of_week()
    outlets = Counter(a["source_name"] for a in week)
    # Organisations and people, each counted once per article that names it.
    stakeholders = Counter(
        name
        for a in week
        for name in {e["name"] for e in a["entities"] or [] if e["kind"] in STAKEHOLDER_KINDS}
    )
    concerns = Counter(_label(t) for a in week for t in a["topics"] or []
                       if t.startswith("concern/"))  # fmt: skip
    refusing = [a for a in week if (a["rights"] or {}).get("ai_crawlers_disallowed")]
    reserved = [a for a in week if (a["rights"] or {}).get("tdm_reserved")]
    either = {a["article_id"] for a in refusing} | {a["article_id"] for a in reserved}
    total = len(week) or 1
    rights = (
        f'<p class="line" id="rights">Of the week\'s {len(week)} articles, '
        f"{len(either) / total:.0%} come from outlets that refuse AI crawlers or reserve text "
        f"and data mining: {len(refusing) / total:.0%} turn AI crawlers away in robots.txt, "
        f"{len(reserved) / total:.0%} reserve TDM.</p>"
    )
    return [
        '<div class="cols">',
        _ranked("Outlets this week", outlets, "articles"),
        _ranked("Most named stakeholders", stakeholders, "articles"),
        _ranked("Concerns raised", concerns, "articles"),
        "</div>",
        "<h2>Rights</h2>",
        rights,
    ]


def _health(digest: Digest) -> list[str]:
    rejects = ", ".join(f"{reason} {n}" for reason, n in digest.rejects.most_common())
    return [
        "<h2>The day's run</h2>",
        f'<p class="line">Rejects: {sum(digest.rejects.values())}'
        + (f" ({_e(rejects)})" if rejects else "")
        + ".</p>",
        *(f'<p class="line">Extraction alert: {_e(alert)}</p>' for alert in digest.alerts),
        *([] if digest.alerts else ['<p class="line">No extraction alerts.</p>']),
    ]
