"""The daily digest page: built from a day of the sample web, read by a person and a browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.digest import LATEST, gather, page_key, write_digest
from pipeline.lake.store import LocalLake
from tests.conftest import DAY

DT = DAY.isoformat()
NETFLIX = "Netflix goes all in on generative AI as it looks to speed up production"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def lake(landed_day: LocalLake) -> LocalLake:
    return landed_day


class Outline(HTMLParser):
    """The stories' headlines, in order, and what a page would load from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.headlines: list[str] = []
        self.loads: list[str] = []
        self.svgs = 0
        self._in_headline = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_headline = tag == "h3"
        self.svgs += tag == "svg"
        names = {name for name, _ in attrs}
        if tag in ("script", "link", "img", "iframe", "object") or "src" in names:
            self.loads.append(tag)

    def handle_data(self, data: str) -> None:
        if self._in_headline:
            self.headlines.append(data.strip())
            self._in_headline = False


def outline(page: str) -> Outline:
    parsed = Outline()
    parsed.feed(page)
    return parsed


def test_the_days_page_puts_the_most_covered_story_first_and_stands_alone(
    lake: LocalLake,
) -> None:
    url = write_digest(lake, DT)
    assert url == lake.url(page_key(DT))
    page = (lake.get(page_key(DT)) or b"").decode()
    assert lake.get(LATEST) == page.encode()
    parsed = outline(page)
    assert parsed.headlines[0] == NETFLIX
    top = page[page.index(NETFLIX) : page.index("</article>")]
    assert "<b>5 outlets</b>" in top
    for outlet in (
        "Rude Baguette",
        "Screen Trade Daily",
        "StreamWire",
        "TechBeat",
        "The Reel Post",
    ):
        assert outlet in top
    assert top.count("<li>") == 5  # a link to each article
    assert parsed.svgs == 1 and 'id="coverage"' in page
    assert parsed.loads == [] and "url(" not in page  # nothing fetched when it is opened
    assert len(page.encode()) < 1_000_000
    digest = gather(lake, DT)
    assert f"Rejects: {sum(digest.rejects.values())} (" in page and digest.rejects
    assert 'id="rights"' in page


def test_an_earlier_days_page_leaves_the_latest_copy_alone(lake: LocalLake) -> None:
    write_digest(lake, DT)
    before = (DAY - timedelta(days=1)).isoformat()
    write_digest(lake, before)
    assert b"No story gained articles on this day." in (lake.get(page_key(before)) or b"")
    assert NETFLIX.encode() in (lake.get(LATEST) or b"")


def test_the_digest_command_writes_the_page_to_the_lake_or_a_file(
    lake: LocalLake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["digest", "--lake", lake.uri]) == 0  # the last committed day
    assert lake.url(page_key(DT)) in capsys.readouterr().out
    out = tmp_path / "page" / "digest.html"
    assert main(["digest", "--lake", lake.uri, "--date", DT, "--out", str(out)]) == 0
    assert outline(out.read_text()).headlines[0] == NETFLIX
    assert main(["digest", "--lake", str(tmp_path / "nothing")]) == 2
    assert "there is no newsflow lake" in capsys.readouterr().err


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (make test installs Debian's)")
def test_the_page_renders_in_a_headless_browser_without_errors(
    lake: LocalLake, tmp_path: Path
) -> None:
    write_digest(lake, DT)
    page = tmp_path / "index.html"
    page.write_bytes(lake.get(page_key(DT)) or b"")
    shot = tmp_path / "digest.png"
    browser = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
               "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
               f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    shown = subprocess.run(
        [*browser, "--window-size=412,1800", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert outline(dom.stdout).headlines[0] == NETFLIX  # as the browser built it
    assert re.search(r"<svg id=\"coverage\"[^>]*>.*<rect ", dom.stdout, re.S)
    for output in (shown.stderr, dom.stderr):
        assert ":CONSOLE" not in output, output  # the console stayed silent
