"""Every member page of the demo, walked in a real Chromium as a member and as
a moderator, in English and German, on a desktop (1280×900) and a phone
(360×740). Each page must answer 200, fit the screen (no horizontal
scrolling), log no console error, have no serious or critical axe-core
violation, and, in German, show no English string of the project's catalog.

Screenshots go to ``test-artifacts/page-walk/`` (left out by .gitignore), for
a person to look at."""

import re
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Page

from accounts.models import User
from discussions.models import Thread
from documents.models import Document
from groups.models import WorkingGroup
from meetings.models import Meeting
from tests.fixtures.people import enable_mfa

from .helpers import ARTIFACTS, accessibility_violations, browser_log, login_with_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}
CATALOG = Path(__file__).resolve().parents[2] / "locale" / "de" / "LC_MESSAGES" / "django.po"
SHOTS = ARTIFACTS / "page-walk"


def _po_strings(path: Path) -> dict[str, str]:
    """msgid → msgstr of a .po file (singular forms; enough for this check)."""
    entries, current, key = {}, {"msgid": "", "msgstr": ""}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            if current["msgid"]:
                entries[current["msgid"]] = current["msgstr"]
            current, key = {"msgid": "", "msgstr": ""}, "msgid"
        elif line.startswith(("msgstr ", "msgstr[0] ")):
            key = "msgstr"
        elif line.startswith(("msgid_plural", "msgstr[", "#")) or not line.strip():
            key = None if not line.startswith('"') else key
            continue
        if key and '"' in line:
            current[key] += (
                line[line.index('"') + 1 : line.rindex('"')]
                .encode()
                .decode("unicode_escape")
                .encode("latin-1")
                .decode("utf-8")
            )
    if current["msgid"]:
        entries[current["msgid"]] = current["msgstr"]
    return entries


def english_ui_strings() -> set[str]:
    """The project's interface strings whose German differs, without
    placeholders: any of them as a whole text on a German page is left in
    English."""
    return {
        msgid
        for msgid, msgstr in _po_strings(CATALOG).items()
        if msgstr
        and msgstr != msgid
        and "%" not in msgid
        and "{" not in msgid
        and len(msgid) >= 4
        and re.search(r"[A-Za-z]{3}", msgid)
    }


# The page's own words: text nodes and the labels of controls, without what
# people wrote (rendered Markdown, chat messages), code, what is marked
# translate="no", and what is marked as another language (the language
# control names each language in itself: "English" on the German page).
VISIBLE_TEXTS = """() => {
  const page = document.documentElement.lang;
  const skip = "script, style, code, pre, .prose, .markdown, [translate=no], .chat-body";
  const foreign = (element) => {
    const marked = element.closest("[lang]");
    return marked && marked.lang !== page;
  };
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement && (node.parentElement.closest(skip) || foreign(node.parentElement)))
      continue;
    const text = node.textContent.replace(/\\s+/g, " ").trim();
    if (text) texts.push(text);
  }
  for (const element of document.querySelectorAll("[placeholder], [title], [aria-label], [alt]")) {
    if (element.closest(skip) || foreign(element)) continue;
    for (const name of ["placeholder", "title", "aria-label", "alt"]) {
      const value = element.getAttribute(name);
      if (value) texts.push(value.replace(/\\s+/g, " ").trim());
    }
  }
  return texts;
}"""


def member_pages(group: WorkingGroup, user: User) -> list[str]:
    thread = Thread.objects.filter(group=group).order_by("pk").first()
    document = Document.objects.filter(group=group).order_by("pk").first()
    meeting = (
        Meeting.objects.filter(group=group, room__messages__isnull=False)
        .order_by("pk")
        .distinct()
        .first()
    )
    assert thread and document and meeting, "the demo has threads, documents and a meeting"
    slug = group.slug
    return [
        "/",
        f"/groups/{slug}/",
        f"/groups/{slug}/members/",
        f"/groups/{slug}/threads/",
        f"/threads/{thread.pk}/",
        f"/groups/{slug}/documents/",
        f"/documents/{document.pk}/",
        f"/groups/{slug}/meetings/",
        f"/meetings/{meeting.pk}/",
        f"/groups/{slug}/chat/",
        f"/groups/{slug}/results/",
        "/notifications/",
        "/notifications/settings/",
        f"/groups/{slug}/notifications/",
        "/calendar/",
        "/search/?q=migration",
        f"/profile/{user.pk}/",
        "/profile/edit/",
        "/accounts/email/",
        "/accounts/2fa/",
    ]


def moderator_pages(group: WorkingGroup) -> list[str]:
    slug = group.slug
    return [
        f"/groups/{slug}/manage/",
        f"/groups/{slug}/manage/invite/",
        f"/groups/{slug}/settings/",
        f"/groups/{slug}/audit/",
        f"/groups/{slug}/reports/",
        "/join-requests/",
        f"/groups/{slug}/meetings/new/",
        f"/groups/{slug}/results/new/",
    ]


def check_page(page: Page, url: str, width: int, english: set[str] | None) -> list[str]:
    problems = []
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    if response is None or response.status != 200:
        problems.append(f"{url}: HTTP {response.status if response else 'no answer'}")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    if scroll > width:
        wide = page.evaluate(
            """(width) => [...document.querySelectorAll("body *")]
                 .filter(e => e.getBoundingClientRect().right > width + 1)
                 .slice(0, 3).map(e => e.tagName.toLowerCase() + "." + e.className)""",
            width,
        )
        problems.append(f"{url}: {scroll} px wide on a {width} px screen ({wide})")
    problems += accessibility_violations(page)
    if english is not None:
        left = sorted({text for text in page.evaluate(VISIBLE_TEXTS) if text in english})
        if left:
            problems.append(f"{url}: English on the German page: {left}")
    return problems


@pytest.fixture
def demo(server):
    call_command("seed_demo", verbosity=0)
    return WorkingGroup.objects.get(slug="crises")


@pytest.mark.parametrize("role", ["member", "moderator"])
@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("size", SIZES)
def test_every_member_page_of_the_demo(new_context, server, demo, role, language, size):
    user = User.objects.get(
        email="member1@example.org" if role == "member" else "moderator1@example.org"
    )
    paths = member_pages(demo, user) + (moderator_pages(demo) if role == "moderator" else [])
    context = new_context(locale=language, viewport=SIZES[size])
    if role == "moderator":
        enable_mfa(user)  # moderating needs two-factor authentication
    login_with_session(context, server, user)
    page = context.new_page()
    english = english_ui_strings() if language == "de" else None
    problems = []
    for path in paths:
        problems += check_page(page, server + path, SIZES[size]["width"], english)
        name = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "home"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / f"{role}-{language}-{size}-{name}.png", full_page=True)
    problems += browser_log(page).problems()
    assert not problems, "\n".join(problems)
