"""XSS: known payloads through the one Markdown pipeline (``core.markdown.render``
and ``groups.mentions.render_post`` with the group's @mentions) come out
with nothing a browser would run.

The output is parsed with a real HTML parser (the standard library's; html5lib
is not installed) and checked element by element: only the allowed tags and
their allowed attributes, no event handler, no style, no comment or
declaration, and every URL ``http``, ``https``, ``mailto`` or relative once
normalised the way a browser's URL parser does (entities decoded, tabs and
newlines removed, leading controls and spaces stripped). Sanitising the output
again must not change it: a difference would mean the parser and the
sanitiser disagree, the ground mutation XSS grows on.
"""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from core.markdown import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, render, sanitise
from core.tests.test_markdown import url_scheme
from discussions import services
from groups.mentions import render_post
from tests.fixtures.people import join

FORBIDDEN_TAGS = {
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
    "input", "button", "textarea", "select", "meta", "base", "link", "svg", "math", "noscript",
    "template", "title", "xmp", "noembed", "noframes", "plaintext", "video", "audio", "source",
    "details", "body", "html", "head", "div", "span",
}  # fmt: skip
SAFE_SCHEMES = {"http", "https", "mailto"}


class Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.other: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.other.append(f"comment {data!r}")

    def handle_decl(self, decl):
        self.other.append(f"declaration {decl!r}")

    def handle_pi(self, data):
        self.other.append(f"processing instruction {data!r}")

    def unknown_decl(self, data):
        self.other.append(f"declaration {data!r}")


def parse(html: str) -> Collector:
    collector = Collector()
    collector.feed(html)
    collector.close()
    return collector


def assert_nothing_executable(html: str) -> None:
    parsed = parse(html)
    assert not parsed.other, parsed.other
    for tag, attrs in parsed.elements:
        assert tag not in FORBIDDEN_TAGS, (tag, html)
        assert tag in ALLOWED_TAGS, (tag, html)
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set())
        names = [name for name, _value in attrs]
        assert len(names) == len(set(names)), (tag, attrs)  # no duplicate to confuse
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name, html)
            assert name != "style", (tag, html)
            assert name in allowed, (tag, name, html)
            if name in {"href", "src"}:
                assert url_scheme(value or "") in SAFE_SCHEMES | {""}, (tag, value, html)
    assert sanitise(html) == html


PAYLOADS = [
    # script tags
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<script type="text/javascript">alert(1);</script>',
    '"><script>alert(1)</script>',
    "</p><script>alert(1)</script><p>",
    "<<script>alert(1);//<</script>",
    # event handlers
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x OnErRoR=alert(1)>",
    "<img src=x onerror=alert(1)//",
    "<body onload=alert(1)>",
    '<div onmouseover="alert(1)">hover</div>',
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    '<a href="https://example.org" onclick="alert(1)">x</a>',
    # javascript: links, hidden with entities, case, whitespace, controls
    "[a](javascript:alert(1))",
    "[a](JaVaScRiPt:alert(1))",
    "[a](&#106;avascript:alert(1))",
    "[a](&#x6A;avascript&#x3A;alert(1))",
    "[a](&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105"
    "&#0000112&#0000116&#0000058alert(1))",
    "[a](javascript&colon;alert(1))",
    "[a](   javascript:alert(1))",
    "[a](<javascript:alert(1)>)",
    "[a](java\tscript:alert(1))",
    "[a](java&#9;script:alert(1))",
    "[a](java&#10;script:alert(1))",
    "[a](java&#13;script:alert(1))",
    "[a](&#x01;javascript:alert(1))",
    "[a](\x00javascript:alert(1))",
    "[a](jav\x00ascript:alert(1))",
    "[a](javascript\u2028:alert(1))",
    "[a](javascript://%0Aalert(1))",
    "[a](%6Aavascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<java\nscript:alert(1)>",
    "[a][ref]\n\n[ref]: javascript:alert(1)",
    '[a][ref]\n\n[ref]: <javascript:alert(1)> "title"',
    "[ref]\n\n[ref]: &#106;avascript:alert(1)",
    "![x](javascript:alert(1))",
    "![x][img]\n\n[img]: javascript:alert(1)",
    # data:, vbscript:, other schemes
    "[a](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "<data:text/html,<script>alert(1)</script>>",
    "[a](vbscript:msgbox(1))",
    "[a](VBScript:msgbox(1))",
    "[a](file:///etc/passwd)",
    # SVG and MathML, including namespace-confusion mutations
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><style><img src=x onerror=alert(1)></style></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">x</text></a></svg>',
    '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<title><img src=x onerror=alert(1)></title>",
    "<style><img src=x onerror=alert(1)></style>",
    "<textarea><img src=x onerror=alert(1)></textarea>",
    "<xmp><img src=x onerror=alert(1)></xmp>",
    "<!--<img src=x onerror=alert(1)>-->",
    "<!-- --!><img src=x onerror=alert(1)> -->",
    "<![CDATA[<img src=x onerror=alert(1)>]]>",
    # embedding, forms, navigation
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    # CSS
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="width: expression(alert(1))">x</p>',
    "<style>@import 'javascript:alert(1)';</style>",
    '<style>*{background:url("javascript:alert(1)")}</style>',
    # Markdown link and image tricks: titles with quotes, nested brackets
    '[a](https://example.org "t\\" onmouseover=\\"alert(1)")',
    "[a](https://example.org 'x\" onmouseover=\"alert(1)')",
    '[a](https://example.org" onmouseover="alert(1))',
    '![x" onerror="alert(1)](https://example.org/a.png)',
    '![x](https://example.org/a.png "\\" onerror=\\"alert(1)")',
    "[x](https://example.org/?a=1&quot;onmouseover=alert(1)//)",
    "[[a](javascript:alert(1))](https://example.org)",
    "[a](https://example.org)(javascript:alert(1))",
    "[![x](https://example.org/i.png)](javascript:alert(1))",
    "![[a](javascript:alert(1))](https://example.org/i.png)",
    "[a](<https://example.org> 'x\"><img src=x onerror=alert(1)>')",
    # code keeps markup as text; the info string cannot break out of class=""
    "`<img src=x onerror=alert(1)>`",
    "```html\n<script>alert(1)</script>\n```",
    '```"><script>alert(1)</script>\nx\n```',
    "```python onload=alert(1)\nx\n```",
    # tables and entities
    "| <img src=x onerror=alert(1)> |\n|---|\n| x |",
    "| a |\n|:-|\n| [x](javascript:alert(1)) |",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;img src=x onerror=alert(1)&#62;",
    # mention-shaped text
    "@<img src=x onerror=alert(1)>",
    "[@mia-member](javascript:alert(1))",
    "[@mia-member](https://example.org)",
]

assert len(PAYLOADS) >= 50
assert len(set(PAYLOADS)) == len(PAYLOADS)


@pytest.mark.parametrize("source", PAYLOADS)
def test_render_outputs_nothing_executable_if_source_is_hostile(source):
    assert_nothing_executable(render(source))


@pytest.mark.parametrize("source", PAYLOADS)
def test_render_post_outputs_nothing_executable_if_source_is_hostile(
    source, group, member, moderator
):
    html, _mentioned = render_post(source, group)
    assert_nothing_executable(html)


def test_hostile_markup_shows_as_text():
    html = render("<script>alert(1)</script> and &lt;b&gt;")
    assert "".join(parse(html).text).strip() == "<script>alert(1)</script> and <b>"


# --- display names with markup, through @mentions ----------------------------------

HOSTILE_NAMES = [
    "<img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "<svg onload=alert(1)>",
    "javascript:alert(1)",
    "[x](javascript:alert(1))",
    "**Bold** `code`",
    "&lt;b&gt; Amp",
    "Quote ' \" Person",
]


@pytest.fixture
def hostile_people(make_user, group):
    people = []
    for number, name in enumerate(HOSTILE_NAMES):
        person = make_user(f"hostile{number}@example.org", display_name=name)
        join(person, group)
        people.append(person)
    assert len({person.mention_handle for person in people}) == len(people)
    return people


def profile(user) -> str:
    return reverse("accounts:profile", args=[user.pk])


def mention_links(html: str) -> list[tuple[str, str]]:
    """(href, text) of each mention link, parsed."""

    class Links(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.links, self.current = [], None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "a" and attrs.get("class") == "mention":
                self.current = [attrs["href"], ""]

        def handle_data(self, data):
            if self.current is not None:
                self.current[1] += data

        def handle_endtag(self, tag):
            if tag == "a" and self.current is not None:
                self.links.append(tuple(self.current))
                self.current = None

    parser = Links()
    parser.feed(html)
    return parser.links


def test_render_post_links_hostile_display_names_as_plain_text(group, hostile_people):
    body = "\n\n".join(f"Hello @{person.mention_handle}!" for person in hostile_people)
    html, mentioned = render_post(body, group)
    assert_nothing_executable(html)
    assert mention_links(html) == [
        (profile(person), f"@{person.display_name}") for person in hostile_people
    ]
    assert {person.pk for person in mentioned} == {person.pk for person in hostile_people}


def test_post_create_stores_hostile_display_names_as_plain_text(group, member, hostile_people):
    thread = services.thread_create(
        actor=member,
        group=group,
        title="<script>alert(1)</script>",
        body=" ".join(f"@{person.mention_handle}" for person in hostile_people)
        + "\n\n<img src=x onerror=alert(1)> [x](javascript:alert(1))",
    )
    html = thread.posts.get().body_html
    assert_nothing_executable(html)
    assert [text for _href, text in mention_links(html)] == [
        f"@{person.display_name}" for person in hostile_people
    ]


# --- what must still work -----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "tag", "attribute", "value"),
    [
        ("[site](https://example.org/a?b=1&c=2)", "a", "href", "https://example.org/a?b=1&c=2"),
        ("[site](http://example.org)", "a", "href", "http://example.org"),
        ("[mail](mailto:someone@example.org)", "a", "href", "mailto:someone@example.org"),
        ("[here](/groups/fair-migration/)", "a", "href", "/groups/fair-migration/"),
        ("<https://example.org/x>", "a", "href", "https://example.org/x"),
        ("![chart](https://example.org/c.png)", "img", "src", "https://example.org/c.png"),
        ("[site](https://example.org)", "a", "rel", "nofollow noopener noreferrer"),
        ("```python\nx = 1\n```", "code", "class", "language-python"),
    ],
)
def test_render_keeps_safe_links_images_and_code(source, tag, attribute, value):
    html = render(source)
    assert_nothing_executable(html)
    assert (tag, value) in [
        (found, dict(attrs).get(attribute)) for found, attrs in parse(html).elements
    ]


def test_render_post_links_member_mention_with_display_name(group, member, moderator):
    html, mentioned = render_post("Thanks @max-moderator.", group)
    assert mention_links(html) == [(profile(moderator), "@Max Moderator")]
    assert mentioned == [moderator]
