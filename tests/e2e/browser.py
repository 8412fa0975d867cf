"""Widget helpers shared by the real-browser tests."""


def choose(page, label, option, *, settle):
    """Open the selectbox labelled ``label`` and pick ``option``; ``settle(page)`` waits for Streamlit to be idle.

    Retried: a click that lands during a rerun may not open the list.
    """
    choice = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):
        settle(page)
        page.locator("[data-testid='stSelectbox']").filter(has_text=label).click()
        try:
            choice.wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - the list did not open: try again
            page.keyboard.press("Escape")
    choice.click()
    settle(page)
