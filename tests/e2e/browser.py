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


WAIT = 120_000      # ms: a shared CI machine can take a while to draw a page


def idle(page, *, wait=WAIT):
    """Wait until Streamlit has drawn the page and no script run is in progress."""
    page.wait_for_selector("[data-testid='stApp']", timeout=wait)
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=wait)


def sign_in(page, url, user, password, *, wait=WAIT):
    """Open ``url``, fill the sign-in form and wait until the page says who is signed in."""
    page.set_default_timeout(wait)
    page.goto(url)
    page.get_by_label("User name").wait_for(timeout=wait)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {user}").wait_for(timeout=wait)
    idle(page, wait=wait)
