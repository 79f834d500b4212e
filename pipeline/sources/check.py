"""``newsflow feeds check``: each feed of a feeds file polled once, nothing landed.

For each feed: whether it answered and parsed (or why not), how many items it lists and
the newest one's date, whether its robots.txt lets newsflow read the feed, and which AI
crawlers the outlet's robots.txt turns away from its home page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from pipeline.sources.feeds import Feed, poll
from pipeline.sources.http import ROBOTS_AGENT, Fetcher, by_host
from pipeline.stages.enrich import AI_CRAWLERS, ai_crawlers_disallowed


@dataclass
class FeedCheck:
    url: str
    status: str  # "ok" or "failed"
    items: int = 0
    newest: datetime | None = None
    problem: str | None = None  # why it failed, or what was odd about it
    robots_allows_feed: bool | None = None  # None: no robots.txt could be read
    ai_crawlers_disallowed: list[str] | None = field(default=None)


def check_feed(fetcher: Fetcher, feed: Feed) -> FeedCheck:
    result = poll(fetcher, feed, None)
    dates = [i.published_at for i in result.items if i.published_at]
    check = FeedCheck(
        url=feed.url,
        status="ok" if result.status == "ok" else "failed",
        items=len(result.items),
        newest=max(dates) if dates else None,
        problem=f"{result.error.reason}: {result.error.detail}" if result.error else result.problem,
    )
    robots = fetcher.robots(feed.url)
    if robots is not None:
        parts = urlsplit(feed.url)
        check.robots_allows_feed = robots.can_fetch(feed.url, ROBOTS_AGENT)
        home = f"{parts.scheme}://{parts.netloc}/"
        check.ai_crawlers_disallowed = ai_crawlers_disallowed(robots, home, AI_CRAWLERS)
    return check


def check_feeds(fetcher: Fetcher, feeds: list[Feed], workers: int) -> list[FeedCheck]:
    """Every feed checked, a slow host holding only its own feeds; in the feeds' order."""
    done: dict[str, FeedCheck] = {}
    for feed, outcome in by_host(
        feeds, lambda f: f.url, lambda f: check_feed(fetcher, f), workers, fetcher.threads_per_host
    ):
        if isinstance(outcome, Exception):  # a bug, not the feed's: the others go on
            outcome = FeedCheck(feed.url, "failed", problem=f"internal error: {outcome!r}")
        done[feed.url] = outcome
    return [done[f.url] for f in feeds]


def describe(check: FeedCheck) -> str:
    newest = check.newest.strftime("%Y-%m-%d %H:%M") if check.newest else "no dates"
    robots = {True: "robots.txt allows newsflow", False: "robots.txt refuses newsflow",
              None: "no robots.txt read"}[check.robots_allows_feed]  # fmt: skip
    refused = check.ai_crawlers_disallowed
    ai = f"turns away {', '.join(refused)}" if refused else "turns away no AI crawler"
    head = f"{check.status:<7}{check.url}"
    if check.status != "ok":
        return f"{head}\n         {check.problem}; {robots}"
    said = f"{check.items} item{'s' * (check.items != 1)}, newest {newest}; {robots}"
    return (
        f"{head}\n         {said}"
        + (f"; {ai}" if refused is not None else "")
        + (f"\n         note: {check.problem}" if check.problem else "")
    )
