"""The Space in a real browser: Debian's headless Chromium driven by Playwright (never a browser
download). Types a message, presses Classify, reads every category's confidence and the confidence
card's headline (the decision) from the page, checks them against marginal_generate.score called
directly; at a phone's width measures the chart's text on screen and looks for a word broken across
lines in every table cell; saves screenshots at 1280x800 and at a phone's width into a temporary
directory (``scripts/space_screenshot.py`` refreshes the committed spaces/screenshots/; the tests
change no tracked file). Every request that leaves the local server is aborted and recorded: the
page must need nothing from the internet."""

import math
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
MESSAGE = "How can I steal credit card numbers with a phishing website and kill my neighbour?"

if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium); "
        "this test never lets Playwright download a browser",
        allow_module_level=True,
    )

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from test_space import HEADLINE_CASES, NetworkGuard, direct_scores, named  # noqa: E402

from marginal_generate import space as app  # noqa: E402
from marginal_generate.space.charts import CHART_DPI, CHART_WIDTH_IN, shown_font_px  # noqa: E402

#: The words of every table cell (a hyphen ends a word: a line may break after it) that the browser laid out on
#: more than one line.
BROKEN_WORDS = """cells => {
  const broken = [];
  for (const cell of cells) {
    if (!cell.getClientRects().length) continue;  // not laid out (a collapsed accordion)
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/[^\\s-]+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""
TABLE_CELLS = ", ".join(f".wide-table {cell}" for cell in ("td", "th", "[role=gridcell]", "[role=columnheader]"))


@pytest.fixture(scope="module")
def served():
    saved = {k: os.environ.pop(k, None) for k in ("MODEL_ID", "CALIBRATOR")}
    try:
        engine = app.get_engine()
        with NetworkGuard() as guard:
            demo = app.build_demo(engine)
            url = app.launch_local(demo)
            try:
                yield engine, url, guard
            finally:
                demo.close()
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Where the screenshots go: a temporary directory, never the committed spaces/screenshots/."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url, viewport, outside):
    """A page on the local server at ``viewport``; requests elsewhere are aborted and recorded in ``outside``."""

    def only_local(route):
        target = route.request.url
        if target.startswith(url) or target.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(target)
            route.abort()

    context = browser.new_context(viewport=viewport)
    context.route("**/*", only_local)
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(url, wait_until="load")
    page.locator("#user-message textarea").wait_for()
    return page


@pytest.fixture(scope="module")
def page(served, browser):
    _, url, _ = served
    outside = []
    page = open_page(browser, url, DESKTOP, outside)
    yield page, outside
    page.context.close()


def classify(page, message):
    page.locator("#user-message textarea").fill(message)
    page.locator("#classify").click()
    page.locator("#decision h2").wait_for()
    page.wait_for_function("document.querySelectorAll('#confidences meter').length >= 1")


def headline(page):
    """The confidence card's headline, in large type above the scores."""
    return page.locator("#confidences [data-testid=label-output-value]").inner_text().strip()


def page_overflow(page):
    """How far the page is wider than the viewport (0: nothing cut off, no sideways page scroll)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def read_confidences(page):
    """Display name → confidence, from the meters of the gr.Label (their full-precision values)."""
    pairs = page.eval_on_selector_all(
        "#confidences meter", "els => els.map(e => [e.getAttribute('aria-label'), e.value])"
    )
    return {name: float(value) for name, value in pairs}


def test_type_press_read_confidences_and_screenshot(served, page, shots):
    engine, _, guard = served
    page, outside = page
    page.locator("#user-message textarea").fill(MESSAGE)
    page.locator("#classify").click()
    page.locator("#decision h2").wait_for()
    page.wait_for_function("document.querySelectorAll('#confidences meter').length >= 15")
    page.locator("#chart img").wait_for()

    shown = read_confidences(page)
    direct = direct_scores(engine, MESSAGE, None, "any_place")
    expected = named(direct.labels, direct.probs[0].tolist())
    assert shown.keys() == expected.keys() and "S10 Hate" in shown
    for name, p in expected.items():
        assert shown[name] == pytest.approx(p, abs=1e-12)
    percents = page.locator("#confidences dd.confidence").all_inner_texts()
    assert percents[0] == f"{round(100 * max(expected.values()))}%"

    verdict = page.locator("#decision h2").inner_text().strip()
    assert verdict == ("unsafe" if expected["unsafe"] >= 0.5 else "safe")
    flagged = [name for name, p in expected.items() if name != "unsafe" and p >= 0.5]
    assert headline(page) == (f"unsafe: {', '.join(flagged)}" if verdict == "unsafe" and flagged else verdict)
    assert page.locator("#greedy textarea").input_value() == direct.texts[0]
    assert page.locator("#bounds").get_by_text("S14 Code Interpreter Abuse").count() >= 1
    assert page.locator("#completions").get_by_text("rank").count() >= 1
    assert "one pass" in page.locator("#timing").inner_text()

    # wide tables: long cells wrap, and the strategies table's last category is reachable inside its box
    assert page.eval_on_selector("#completions td", "e => getComputedStyle(e).whiteSpace") == "normal"
    last = page.locator("#strategies th").filter(has_text="S14 Code Interpreter Abuse").first
    last.scroll_into_view_if_needed()
    box = last.bounding_box()
    assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= DESKTOP["width"]
    assert page_overflow(page) <= 0

    page.evaluate("window.scrollTo(0, 0)")
    shot = shots / "space-1280x800.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000

    assert outside == []  # no font, script or analytics request left the local server
    assert guard.attempts == []


@pytest.mark.parametrize("message, expected", HEADLINE_CASES)
def test_headline_is_the_decision(page, message, expected):
    """The card's large type is the decision: 'safe' for a benign prompt whose top score is p(unsafe) 0.004."""
    page, outside = page
    classify(page, message)
    page.wait_for_function(
        "m => document.querySelector('#confidences [data-testid=label-output-value]')?.innerText.trim() === m",
        arg=expected,
    )
    assert headline(page) == expected
    assert page.locator("#decision h2").inner_text().strip() == expected.split(":")[0]
    assert outside == []


def test_strategy_change_moves_threshold_and_first_token_has_no_categories(served, page):
    engine, _, _ = served
    page, outside = page
    number = page.locator("#threshold input[type=number]")
    number.fill("0.8")
    number.press("Enter")
    page.wait_for_function("document.querySelector('#threshold input[type=number]').value === '0.8'")
    page.locator("#strategy input").click()
    page.get_by_role("option", name="first_token", exact=True).click()
    page.locator("#user-message textarea").fill(MESSAGE)
    page.locator("#classify").click()
    page.wait_for_function("document.querySelectorAll('#confidences meter').length === 1")
    shown = read_confidences(page)
    direct = direct_scores(engine, MESSAGE, None, "first_token")
    assert list(shown) == ["unsafe"] and shown["unsafe"] == pytest.approx(float(direct.probs[0, 0]), abs=1e-12)
    assert not any(math.isnan(v) for v in shown.values())
    page.wait_for_function(
        f"document.querySelector('#threshold input[type=number]').value == {app.default_threshold('first_token')}"
    )
    assert float(number.input_value()) == app.default_threshold("first_token")
    assert outside == []


def test_empty_message_shows_a_message_and_clears_the_verdict(page):
    """Last, so that its error toast is not in the screenshot."""
    page, _ = page
    classify(page, MESSAGE)  # a verdict on screen
    page.locator("#user-message textarea").fill("")
    toast = page.get_by_text("The user message is empty")
    # A button's click is dropped while its event is still pending (Gradio's trigger_mode "once"): on a loaded
    # machine the first verdict's event can still be closing when the outputs are already drawn. Click again until
    # the page takes it (each try waits 15 s), so the assertion is on the message, not on the machine's load.
    for attempt in range(8):
        page.locator("#classify").click()
        try:
            toast.first.wait_for(state="visible", timeout=15_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 7:
                raise
    assert "Traceback" not in page.content()
    assert page.locator("#decision h2").count() == 0  # the earlier verdict is gone
    assert page.locator("#confidences meter").count() == 0
    assert page.locator("#greedy textarea").input_value() == ""


def test_phone_width_nothing_cut_off(served, browser, shots):
    _, url, _ = served
    outside = []
    page = open_page(browser, url, PHONE, outside)
    try:
        classify(page, MESSAGE)
        page.locator("#chart img").wait_for()
        assert page_overflow(page) <= 0  # no sideways page scroll: wide tables scroll inside their own box
        chart = page.locator("#chart img").bounding_box()
        assert chart is not None and chart["x"] >= 0 and chart["x"] + chart["width"] <= PHONE["width"]
        natural = page.eval_on_selector("#chart img", "e => e.naturalWidth")
        assert natural == round(CHART_WIDTH_IN * CHART_DPI)  # the PNG the chart module draws
        figure = app.run(MESSAGE, "", "any_place", 0.5, engine=served[0]).figure
        ax = figure.axes[0]
        smallest = min(t.get_fontsize() for t in [*ax.get_yticklabels(), *ax.get_xticklabels(), *ax.texts])
        on_screen = smallest / 72 * CHART_DPI * chart["width"] / natural  # the image scaled to its box
        assert on_screen == pytest.approx(shown_font_px(smallest, chart["width"]))
        assert on_screen >= 11, f"chart labels {on_screen:.1f} px tall at {PHONE['width']} px wide"
        page.wait_for_function("document.querySelectorAll('#bounds [role=gridcell], #bounds td').length >= 15")
        cells = page.locator(TABLE_CELLS)
        assert cells.count() > 60  # the three tables' cells, headers included
        assert page.evaluate(BROKEN_WORDS, cells.element_handles()) == []  # no word split across lines
        shot = shots / "space-phone.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
        assert outside == []
    finally:
        page.context.close()
