"""The header, measured in a real browser for every role: one line on a 1200 px screen with every menu link in
view, at most two lines on a 390 px phone, and every menu link reached by Tab, in the menu's order."""

from __future__ import annotations

import pytest

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The header's rows, from the boxes of what it shows (brand, each menu link, account): a box that starts below
# the bottom of the row above it starts a new row. Also each menu link's box against the menu's own box, so a
# link pushed out of sight (the menu scrolls sideways rather than wrap) is seen.
MEASURE = """() => {
  const header = document.querySelector("header");
  const nav = header.querySelector("nav").getBoundingClientRect();
  const boxes = [...header.querySelectorAll(".brand, nav a, .who")]
    .map((element) => element.getBoundingClientRect())
    .filter((box) => box.width > 0 && box.height > 0)
    .sort((a, b) => a.top - b.top);
  const rows = [];
  for (const box of boxes) {
    const row = rows[rows.length - 1];
    if (row && box.top < row.bottom - 1) row.bottom = Math.max(row.bottom, box.bottom);
    else rows.push({top: box.top, bottom: box.bottom});
  }
  const style = getComputedStyle(header);
  return {
    rows: rows.map((row) => row.bottom - row.top),
    content: header.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom),
    rowGap: parseFloat(style.rowGap) || 0,
    hidden: [...header.querySelectorAll("nav a")]
      .filter((a) => { const box = a.getBoundingClientRect(); return box.left < nav.left - 1 || box.right > nav.right + 1; })
      .map((a) => a.textContent.trim()),
  };
}"""

# The focused element, two frames after the key press (base.html scrolls a focused menu link into view).
ACTIVE = """async () => {
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const element = document.activeElement;
  const box = element.getBoundingClientRect();
  const inView = box.left >= 0 && box.right <= window.innerWidth && box.top >= 0 && box.bottom <= window.innerHeight;
  return {inMenu: !!element.closest("header nav"), text: element.textContent.trim(), inView, box: [box.left, box.right]};
}"""


def users() -> dict[str, object]:
    """One user per role, named as the demo names them, and staff holding every role (the longest header)."""
    people = {role: factories.user_with_role(role, username=role) for role in ("label", "creator", "reviewer", "buyer")}
    admin = factories.user_with_role("label", username="admin")
    for role in ("creator", "reviewer", "buyer"):
        factories.MembershipFactory(user=admin, organisation=factories.OrganisationFactory(), role=role)
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    people["staff"] = admin
    return people


def tab_through_menu(page) -> list[str]:
    """Press Tab from the brand link until focus leaves the menu; the menu links focused, in order (each must be
    in view when focused: a phone's menu scrolls to it)."""
    page.focus("header .brand")
    focused: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        active = page.evaluate(ACTIVE)
        if not active["inMenu"]:
            break
        assert active["inView"], f"{active['text']!r} is focused out of sight at {active['box']}"
        focused.append(active["text"])
    return focused


def test_the_header_fits_one_line_at_1200_px_two_on_a_phone_and_its_links_take_tab_in_order(visitor):
    for role, user in users().items():
        browser = visitor()
        browser.log_in(user)
        page = browser.page
        menu = [text.strip() for text in page.locator("header nav a").all_text_contents()]
        assert "Dashboard" in menu and "Ledger" in menu and "API" in menu, (role, menu)

        page.set_viewport_size({"width": 1200, "height": 800})
        wide = page.evaluate(MEASURE)
        assert len(wide["rows"]) == 1, (role, wide)
        assert wide["content"] <= wide["rows"][0] + 8, (role, wide)
        assert wide["hidden"] == [], (role, wide)  # "API" and "Admin" in view, not scrolled away
        assert tab_through_menu(page) == menu, role

        page.set_viewport_size({"width": 390, "height": 844})
        phone = page.evaluate(MEASURE)
        assert len(phone["rows"]) <= 2, (role, phone)
        # Two of its tallest rows, and the sliver under the menu that its sideways scrollbar takes.
        assert phone["content"] <= 2 * max(phone["rows"]) + phone["rowGap"] + 8, (role, phone)
        assert tab_through_menu(page) == menu, role
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, role  # the page never scrolls sideways
        browser.assert_clean()
