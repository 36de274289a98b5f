"""Nothing on any page is cut off at a lecture hall's window sizes (issue 13), in Chromium.

Every page of app.py's navigation, and every tab of a tabbed page, is opened in
headless Chromium at 1280×800 and at 1600×1000, and every visible thing that
can lose text is checked:

* any element that clips its text (``text-overflow: ellipsis``, ``overflow``
  hidden or clip, a line clamp) and whose content is wider or taller than its
  box: selectbox and multiselect values, widget labels, metric labels and
  values, tab, radio and button labels, captions;
* any element that scrolls sideways (``overflow: auto``/``scroll``) and is wider
  inside than out: an ``st.table`` or a formula that does not fit;
* a tab bar that needs its scroll arrows;
* ``st.dataframe`` / ``st.data_editor``: Streamlit draws them on a canvas (Glide
  Data Grid), so nothing in the DOM overflows. The grid's scroller being wider
  inside than out means columns are cut at the frame; each column's width (read
  from the grid's ``columns`` prop) is compared with its header and every cell
  (measured with the grid's own fonts): narrower means an ellipsis on screen.

Tables that appear after a click (the GPU and cost measurements, the output
stride's measured memory) are revealed first, and closed expanders opened.
Each cut is reported with its page, tab, window size and text.
"""

from __future__ import annotations

import ast
import re
import time

import pytest
from browser_support import ROOT, chromium_available, exceptions, screenshot
from conftest import TFLITE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not chromium_available(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(not TFLITE.exists(), reason="offline model not found"),
]

SIZES = [(1280, 800), (1600, 1000)]
VIEWPORT = SIZES[0]  # the window the conftest's browser context opens with
RUN_TIMEOUT_MS = 300_000  # a first visit loads models on a shared CPU
SETTLE_TIMEOUT_S = 15


def navigation_pages() -> list[str]:
    """The url path of every page in app.py's navigation (``SECTIONS``), in its order."""
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SECTIONS":
            sections = ast.literal_eval(node.value)
            return [
                file.removesuffix(".py")
                for items in sections.values()
                for file, _, _ in items
                if (ROOT / "pages" / file).exists()
            ]
    raise AssertionError("app.py has no SECTIONS")


PAGES = navigation_pages()

# Tables that only appear after a click: (link parameters, buttons to press, data columns
# that must then be on the page). Settings from the link keep the runs short; the tables
# keep every column they have.
REVEAL: dict[str, tuple[str, list[str], list[str]]] = {
    "gpu_and_cost": (
        "cost_repeats=1",
        ["Run the latency benchmark", "Measure memory against rate"],
        ["median (ms)", "padded input (MB)"],  # the latency and the rate tables
    ),
    "output_stride": ("", ["Measure time and peak memory"], ["peak, torch allocations (MB)"]),
}


# --------------------------------------------------------------------------- waiting

IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  if (!main || !main.querySelector('h1')) return false;
  if (document.querySelector('[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]'))
    return false;
  // nothing left over from the previous run, no spinner, every element's code loaded
  if (app.querySelector('[data-stale="true"], [data-testid="stSpinner"], [data-testid="stSkeleton"]'))
    return false;
  // an open tab has drawn its content
  for (const panel of main.querySelectorAll('[data-testid="stTabPanel"]'))
    if (panel.getClientRects().length && !panel.querySelector('[data-testid="stElementContainer"]'))
      return false;
  // no transition under way (an expander opening, a tab's underline)
  if (document.getAnimations().some(a => a.playState === 'running' &&
      a.effect && a.effect.getTiming().iterations !== Infinity)) return false;
  return true;
}"""


def _idle(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Until the app's script has finished and the page shows its result (no fixed sleep).

    Checked twice in a row a frame apart, so a rerun that starts right after a run
    (the first visit's) is not mistaken for the end.
    """
    page.wait_for_function(IDLE_JS, timeout=timeout_ms)
    page.wait_for_function(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
    )
    page.wait_for_function(IDLE_JS, timeout=timeout_ms)


# What the check looks at, reduced to numbers: when two readings agree, layout has settled
# (the grids size their columns and the charts their frames after a resize).
LAYOUT_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const parts = [innerWidth, innerHeight, main ? main.clientWidth : 0];
  for (const el of document.querySelectorAll(
      '[data-testid="stDataFrame"] .dvn-scroller, [data-testid="stTable"], [data-testid="stTabs"]'))
    parts.push(el.clientWidth, el.scrollWidth);
  return parts.join(',') + '|' + (document.fonts.status === 'loaded');
}"""


def _settle(page) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        page.wait_for_function(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
        )
        now = page.evaluate(LAYOUT_JS)
        if now == last and now.endswith("|true"):
            return
        last = now
    raise AssertionError(f"the layout did not settle: {last}")


# --------------------------------------------------------------------------- the check

CHECK_JS = r"""(withSidebar) => {
  const cuts = [];
  const columns = [];  // the data columns of every grid checked (Glide column ids)
  const app = document.querySelector('[data-testid="stApp"]');
  const skipped = withSidebar ? null : document.querySelector('[data-testid="stSidebar"]');
  const clean = s => (s || '').replace(/\s+/g, ' ').trim();
  const shown = el => {
    if (!el.getClientRects().length) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  const where = el => {  // the Streamlit element it belongs to, and that element's label
    const box = el.closest('[data-testid^="st"]:not([data-testid="stMarkdownContainer"])');
    const kind = box ? box.getAttribute('data-testid') : el.tagName.toLowerCase();
    const holder = el.closest('[data-testid="stElementContainer"]');
    const label = holder && holder.querySelector('[data-testid="stWidgetLabel"]');
    return label ? `${kind} “${clean(label.innerText)}”` : kind;
  };
  const inSidebar = el => !!el.closest('[data-testid="stSidebar"]');

  // 1. DOM text that is clipped or scrolls sideways. Where the text's own line boxes
  // (a Range over its text nodes) reach past the element's box, it is cut: an ellipsis
  // or clipping only paints over a layout that still runs past the edge.
  const tiny = el => el.clientWidth <= 2 || el.clientHeight <= 2;  // visually hidden (screen readers)
  const cutText = (el, axis) => {
    const box = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    const inner = {
      left: box.left + parseFloat(cs.borderLeftWidth), right: box.right - parseFloat(cs.borderRightWidth),
      top: box.top + parseFloat(cs.borderTopWidth), bottom: box.bottom - parseFloat(cs.borderBottomWidth)};
    const texts = []; let most = 0;
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      let hidden = false;
      for (let up = node.parentElement; up && up !== el; up = up.parentElement) {
        const display = getComputedStyle(up).display;
        if (display === 'contents') continue;  // no box of its own
        if (!shown(up) || (display !== 'inline' && tiny(up))) { hidden = true; break; }
      }
      if (hidden) continue;
      range.selectNodeContents(node);
      let past = 0;
      for (const r of range.getClientRects()) {
        if (r.width < 1 || r.height < 1) continue;
        past = Math.max(past, axis === 'x' ? Math.max(r.right - inner.right, inner.left - r.left)
                                           : Math.max(r.bottom - inner.bottom, inner.top - r.top));
      }
      if (past > 1) { texts.push(clean(node.textContent)); most = Math.max(most, past); }
    }
    return {most, texts: [...new Set(texts)]};
  };
  const grids = '[data-testid="stDataFrame"], [data-testid="stPlotlyChart"], ' +
      '[data-testid="stImage"], [data-testid="stElementToolbar"], svg, canvas, iframe';
  const flagged = [];
  for (const el of app.querySelectorAll('*')) {
    if (el.closest(grids) || (skipped && skipped.contains(el))) continue;
    const cs = getComputedStyle(el);
    if (cs.display === 'inline' || cs.display === 'contents' || tiny(el) || !shown(el)) continue;
    const wide = el.scrollWidth - el.clientWidth > 1;
    const tall = el.scrollHeight - el.clientHeight > 1;
    if (!wide && !tall) continue;
    if (el.matches('input, textarea')) {  // a selectbox shows its value in its input
      if (wide && clean(el.value)) flagged.push([el, [clean(el.value)], 'value wider than its box']);
      continue;
    }
    const clipX = ['hidden', 'clip', 'auto', 'scroll'].includes(cs.overflowX) ||
        cs.textOverflow === 'ellipsis';
    const clipY = ['hidden', 'clip'].includes(cs.overflowY) ||
        (cs.webkitLineClamp && cs.webkitLineClamp !== 'none');
    const how = ['auto', 'scroll'].includes(cs.overflowX) ? 'scrolls sideways' : 'clipped';
    if (clipX && wide) {
      const cut = cutText(el, 'x');
      if (cut.texts.length) { flagged.push([el, cut.texts, `${how}: text ${Math.round(cut.most)} px past the edge`]); continue; }
    }
    if (clipY && tall) {
      const cut = cutText(el, 'y');
      if (cut.texts.length) flagged.push([el, cut.texts, `clipped: text ${Math.round(cut.most)} px past the bottom`]);
    }
  }
  for (const [el, texts, how] of flagged) {
    if (flagged.some(([other]) => other !== el && el.contains(other))) continue;  // innermost
    cuts.push({where: where(el), sidebar: inSidebar(el), text: texts.join(' | ').slice(0, 160), by: how});
  }

  // 2. canvas grids
  const measure = document.createElement('canvas').getContext('2d');
  for (const df of app.querySelectorAll('[data-testid="stDataFrame"]')) {
    if (!shown(df) || (skipped && skipped.contains(df))) continue;
    const canvas = df.querySelector('canvas');
    const scroller = df.querySelector('.dvn-scroller');
    let fiber = canvas && canvas[Object.keys(canvas).find(k => k.startsWith('__reactFiber'))];
    while (fiber && !(fiber.memoizedProps && Array.isArray(fiber.memoizedProps.columns)))
      fiber = fiber.return;
    if (!fiber || !scroller) {
      cuts.push({where: 'stDataFrame', sidebar: inSidebar(df), by: 'unreadable',
                 text: 'the grid\'s columns could not be read: this check needs updating'});
      continue;
    }
    const props = fiber.memoizedProps;
    const cols = props.columns;
    for (const c of cols) columns.push(String(c.id || '').replace(/^_column-(.*)-\d+$/, '$1'));
    const titles = cols.map(c => c.title).filter(Boolean);
    const name = `stDataFrame [${titles.slice(0, 3).join(', ')}${titles.length > 3 ? ', …' : ''}]`;
    if (scroller.scrollWidth - scroller.clientWidth > 1) {
      let x = 0; const off = [];
      for (const c of cols) { if (x + c.width > scroller.clientWidth + 1) off.push(c.title); x += c.width; }
      cuts.push({where: name, sidebar: inSidebar(df), text: off.join(' | '),
                 by: `grid scrolls sideways (${scroller.scrollWidth}>${scroller.clientWidth} px)`});
    }
    const style = getComputedStyle(df.querySelector('.stDataFrameGlideDataEditor') || df);
    const v = k => style.getPropertyValue(k).trim();
    const family = v('--gdg-font-family') || 'sans-serif';
    const pad = parseFloat(v('--gdg-cell-horizontal-padding') || '8');
    const fits = (text, font, width) => {
      measure.font = `${font} ${family}`;
      return measure.measureText(text).width + 2 * pad <= width + 0.5;
    };
    const headerFont = v('--gdg-header-font-style') || '600 14px';
    const baseFont = v('--gdg-base-font-style') || '400 14px';
    const nRows = typeof props.rows === 'number' ? props.rows : 0;
    // A grid with taller rows wraps its text (Glide Data Grid's allowWrapping): a cell is
    // cut when its lines, broken at spaces as the grid breaks them, need more height than
    // the row has.
    const theme = props.theme || {};
    const basePx = parseFloat((baseFont.match(/([\d.]+)px/) || [0, 14])[1]);
    const lineHeight = (theme.lineHeight || 1.4) * basePx;
    const vPad = theme.cellVerticalPadding ?? 3;
    const rowHeight = r => typeof props.rowHeight === 'function' ? props.rowHeight(r) : props.rowHeight;
    const lines = (text, width) => {
      measure.font = `${baseFont} ${family}`;
      const w = t => measure.measureText(t).width;
      let n = 0;
      for (const para of text.split('\n')) {
        let line = '';
        n += 1;
        for (const word of para.split(' ')) {
          const trial = line ? `${line} ${word}` : word;
          if (w(trial) <= width) { line = trial; continue; }
          if (line) n += 1;
          n += Math.max(0, Math.ceil(w(word) / width) - 1);  // a word wider than a line is broken
          line = word;
        }
      }
      return n;
    };
    cols.forEach((c, i) => {
      if (c.title && !fits(c.title, headerFont, c.width))
        cuts.push({where: name, sidebar: inSidebar(df), text: c.title,
                   by: `column header wider than its column (${Math.round(c.width)} px)`});
      const cut = [];
      const check = (text, wrap, r) => {
        if (!text) return;
        if (!wrap) { if (!fits(text, baseFont, c.width)) cut.push(text); return; }
        const n = lines(text, c.width - 2 * pad);
        if (basePx + lineHeight * (n - 1) + vPad > rowHeight(r) + 0.5) cut.push(text);
      };
      if (typeof props.getCellContent === 'function') {
        for (let r = 0; r < nRows; r++) {
          let cell; try { cell = props.getCellContent([i, r]); } catch (e) { continue; }
          const shownText = cell && (cell.displayData ?? cell.data);
          if (shownText !== undefined && shownText !== null)
            check(String(shownText), cell.allowWrapping === true, r);
        }
      } else {
        for (const td of df.querySelectorAll(`td[aria-colindex="${i + 1}"]`))
          check(clean(td.textContent), false, 0);
      }
      if (cut.length)
        cuts.push({where: name, sidebar: inSidebar(df), text: `${c.title}: ${cut[0]}`,
                   by: `${cut.length} cell(s) wider than the column (${Math.round(c.width)} px)`});
    });
  }
  return {cuts, columns};
}"""


def _check(page, *, sidebar: bool) -> dict:
    """What is cut on the page as shown now (the sidebar too, if ``sidebar``), and the data
    columns of the grids it looked at."""
    return page.evaluate(CHECK_JS, sidebar)


# --------------------------------------------------------------------------- the pages


def _url(server, page_name: str, query: str = "") -> str:
    path = "" if page_name == "home" else page_name
    return f"{server.url}/{path}{('?' + query) if query else ''}"


def _main(page):
    return page.locator('[data-testid="stMainBlockContainer"]')


ARM_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__atrousRuns = 0;
  if (!window.__atrousWatch) {
    window.__atrousWatch = new MutationObserver(() => {
      if (app.getAttribute('data-test-script-state') === 'running') window.__atrousRuns++;
    });
    window.__atrousWatch.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  }
}"""


def _click_and_wait_for_run(page, locator) -> None:
    """Click, then wait for the run the click starts to begin and to end."""
    page.evaluate(ARM_JS)
    locator.click()
    page.wait_for_function("() => window.__atrousRuns > 0", timeout=RUN_TIMEOUT_MS)
    _idle(page)


def _reveal(page, buttons: list[str]) -> None:
    for label in buttons:
        _click_and_wait_for_run(page, _main(page).get_by_role("button", name=label).first)


def _open_expanders(page) -> None:
    """Open every closed expander in view (their content is hidden until then)."""
    from playwright.sync_api import expect

    for details in page.locator('[data-testid="stExpander"] details').all():
        if details.is_visible() and details.get_attribute("open") is None:
            details.locator("summary").first.click()
            expect(details).to_have_attribute("open", "")
    _idle(page)


def _tab_labels(page) -> list[str]:
    """The labels of the page's top-level tabs (none when the page has no tabs)."""
    tabs = _main(page).locator('[data-testid="stTabs"]').first
    if not tabs.count():
        return []
    return [t.strip() for t in tabs.locator('[data-testid="stTab"]').all_inner_texts()]


def _open_tab(page, label: str) -> None:
    """Open the tab; a tab bound to the link (lazy: only the open one runs) starts a run,
    and writes its label into the URL in the click itself."""
    from playwright.sync_api import expect

    tab = (
        _main(page)
        .locator('[data-testid="stTabs"]')
        .first.get_by_role("tab", name=label, exact=True)
    )
    if tab.get_attribute("aria-selected") == "true":
        return
    page.evaluate(ARM_JS)
    before = page.url
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    if page.url != before:
        page.wait_for_function("() => window.__atrousRuns > 0", timeout=RUN_TIMEOUT_MS)
    _idle(page)


def _report(page_name: str, tab: str | None, size: tuple[int, int], cut: dict) -> str:
    where = ("sidebar · " if cut["sidebar"] else "") + cut["where"]
    return (
        f"{page_name} · {'tab “' + tab + '”' if tab else 'no tabs'} · {size[0]}×{size[1]} · "
        f"{where}: “{cut['text']}” ({cut['by']})"
    )


@pytest.mark.parametrize("page_name", PAGES)
def test_nothing_is_cut_off(ctx, server, page_name):
    query, buttons, revealed = REVEAL.get(page_name, ("", [], []))
    page = ctx.new_page()
    found: list[str] = []
    columns: set[str] = set()
    try:
        page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
        page.goto(_url(server, page_name, query), timeout=RUN_TIMEOUT_MS)
        _idle(page)
        _reveal(page, buttons)
        for i, tab in enumerate(_tab_labels(page) or [None]):
            if tab is not None:
                _open_tab(page, tab)
            _open_expanders(page)
            for size in SIZES:
                page.set_viewport_size({"width": size[0], "height": size[1]})
                _settle(page)
                # the sidebar is the same on every tab: checked with the first
                seen = _check(page, sidebar=i == 0)
                found += [_report(page_name, tab, size, c) for c in seen["cuts"]]
                columns.update(seen["columns"])
                slug = re.sub(r"[^0-9A-Za-z]+", "_", tab).strip("_") if tab else ""
                screenshot(page, f"fit-{page_name}{'-' + slug if slug else ''}-{size[0]}")
        assert exceptions(page) == [], server.log_text()
    finally:
        page.close()
    assert not found, "cut off:\n" + "\n".join(found)
    assert set(revealed) <= columns, f"tables not shown: {set(revealed) - columns}"
