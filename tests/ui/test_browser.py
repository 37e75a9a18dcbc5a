"""What a person sees in MLflow's UI, in a real browser: a run and a sweep made by the command line,
then `mlflow ui` on their store, driven by headless Chromium through Playwright.

(a) the link the run printed opens its run page, in the "Model training" view (not the GenAI one),
    showing the run's name and its headline metric as the store holds it;
(b) the run's Artifacts tab shows the lag-curve figure, loaded;
(c) the link the sweep printed opens its parent's page, which lists its two children; in the
    experiment's runs list they sit under the parent.

A screenshot is saved at each point, passing or failing, to ``$SEQFW_TEST_OUTPUT/browser/`` (else
``<repo>/test-output/browser/``). The browser is Debian's Chromium (``/usr/bin/chromium``, or ``chromium``
on PATH), never one downloaded by Playwright. Without it or without the ``playwright`` package the test
skips saying so, except where ``SEQFW_REQUIRE_BROWSER=1`` (``.ci/run`` sets it): there it fails.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tests.helpers.cli import TINY, clean_env, client_for
from tests.helpers.servers import free_port, wait_for_health
from tests.helpers.store import artifacts, seed_store

FIGURE = "grad_norms/lag.png"  # the lag-curve figure every run logs
TIMEOUT_MS = 30_000
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# a run small enough to be quick whose headline metric (val/entity_f1) is not 0
RUN = ["topology=bidir", "train.steps=60", "train.eval_every=30", "train.log_every=10", "train.batch_size=16",
       "task.num_sentences=120", "cell.hidden_size=16", "task.embed_dim=16", "optim.lr=0.03", "train.progress=false"]
SWEEP = ["--multirun", "cell=rnn,gru", *TINY]
PRINTED = re.compile(r"http://127\.0\.0\.1:5000(/[^\s`'\")]*)")  # the UI address a run prints


def output_dir() -> Path:
    base = os.environ.get("SEQFW_TEST_OUTPUT") or Path(__file__).resolve().parents[2] / "test-output"
    out = Path(base) / "browser"
    out.mkdir(parents=True, exist_ok=True)
    return out


def chromium() -> str:
    """The system's Chromium and the playwright package, or a skip (a failure where SEQFW_REQUIRE_BROWSER=1)."""
    path = next((p for p in ("/usr/bin/chromium", shutil.which("chromium")) if p and os.access(p, os.X_OK)), None)
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package is not installed (pip install '.[test]')")
    if path is None:
        missing.append("Chromium is not installed (Debian: apt-get install chromium; .ci/run does this)")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("SEQFW_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + ", and SEQFW_REQUIRE_BROWSER=1 requires it")
        pytest.skip(reason)
    return path


def js_number(x: float) -> str:
    """``x`` as JavaScript's Number#toString writes it, which is how MLflow's UI shows a metric (0.5, 1, 1e-7)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign, digits, exp = Decimal(repr(x)).normalize().as_tuple()
    ds, k = "".join(map(str, digits)), len(digits)
    n = exp + k  # the value is 0.ds × 10^n
    if k <= n <= 21:
        s = ds + "0" * (n - k)
    elif 0 < n <= 21:
        s = ds[:n] + "." + ds[n:]
    elif -6 < n <= 0:
        s = "0." + "0" * -n + ds
    else:
        s = ds[0] + ("." + ds[1:] if k > 1 else "") + "e" + ("+" if n - 1 > 0 else "-") + str(abs(n - 1))
    return ("-" if sign else "") + s


def png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@dataclass
class Site:
    base: str  # the test server's http://127.0.0.1:<port>
    root: Path  # where the command line ran: mlflow.db, mlruns/
    link: str  # the run's printed link, pointed at the test server
    run_id: str
    run_name: str
    metric: str
    value: float
    parent_id: str
    parent_name: str
    experiment_id: str  # the sweep's
    children: dict[str, str]  # run id -> run name
    sweep_stdout: str


@contextlib.contextmanager
def mlflow_ui(root: Path):
    """`mlflow ui` on ``root``'s store, as the run told the user to start it, on a free port of 127.0.0.1.

    The artifacts are the runs' own folders under ``root/mlruns``, which the server reads itself. One
    worker and no job runner: this test needs neither the GenAI jobs nor the 4 default workers."""
    port = free_port()
    log = root / "mlflow-ui.log"
    env = clean_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
                     "DO_NOT_TRACK": "true"})
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        yield server, base, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=30)


def run_cli(args: list[str], root: Path, name: str) -> subprocess.Popen:
    """``python -m seqfw *args`` in ``root``, started now; its output goes to ``root/<name>.out|.err``."""
    with open(root / f"{name}.out", "w") as out, open(root / f"{name}.err", "w") as err:
        return subprocess.Popen([sys.executable, "-m", "seqfw", *args], cwd=root, env=clean_env(),
                                stdout=out, stderr=err)


def finish(procs: dict[str, subprocess.Popen], root: Path) -> dict[str, str]:
    """Wait for every process of ``run_cli``; each one's stdout, or a failure showing what it printed."""
    codes = {name: proc.wait(timeout=300) for name, proc in procs.items()}
    outs = {name: (root / f"{name}.out").read_text() for name in procs}
    for name, code in codes.items():
        assert code == 0, (f"`python -m seqfw` ({name}) exited {code}:\n{outs[name][-2000:]}\n"
                           f"{(root / f'{name}.err').read_text()[-3000:]}")
    return outs


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, one context for the module (its cache saves reloading MLflow's UI for each page).

    MLflow reads its view (GenAI or Model training) from the URL first; only its own switch, clicked by
    hand, stores a choice in the browser, and no test clicks it, so pages of one context do not influence
    one another on that point (the control test below shows a plain link still opening in GenAI)."""
    executable = chromium()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS, headless=True)
        try:
            context = b.new_context(viewport={"width": 1600, "height": 1000})
            # keep MLflow's assistant panel (which opens itself on a first visit) closed: it hides half the page
            context.add_init_script(
                "try { localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');"
                " localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false'); } catch (e) {}")
            context.set_default_timeout(TIMEOUT_MS)
            yield context
        finally:
            b.close()


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory):
    """A fresh store holding one run and a 2-job sweep (made at once, by two processes), and `mlflow ui` on it."""
    root = tmp_path_factory.mktemp("store")
    seed_store(root)  # an empty store as MLflow makes it, so that the server can start beside the runs
    procs = {"run": run_cli(RUN, root, "run"), "sweep": run_cli(SWEEP, root, "sweep")}
    with mlflow_ui(root) as (server, base, log):
        outs = finish(procs, root)
        run_out, sweep_out = outs["run"], outs["sweep"]
        links = PRINTED.findall("\n".join(run_out.splitlines()[-3:]))
        assert links, f"the run printed no link to the UI (http://127.0.0.1:5000/...):\n{run_out[-1500:]}"
        run_id = re.search(r"MLflow run ([0-9a-f]{32})", run_out).group(1)
        metric = re.search(r"^objective (\S+) = ", run_out, re.MULTILINE).group(1)
        parent_id = re.search(r"parent MLflow run ([0-9a-f]{32})", sweep_out).group(1)
        client = client_for(root)
        run_info = client.get_run(run_id)
        parent = client.get_run(parent_id)
        children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
        assert len(children) == 2, [c.info.run_name for c in children]
        wait_for_health(server, base, log, "mlflow ui")
        yield Site(base=base, root=root, link=base + links[-1], run_id=run_id, run_name=run_info.info.run_name,
                   metric=metric, value=run_info.data.metrics[metric], parent_id=parent_id,
                   parent_name=parent.info.run_name, experiment_id=parent.info.experiment_id,
                   children={c.info.run_id: c.info.run_name for c in children}, sweep_stdout=sweep_out)


@pytest.fixture
def page(browser):
    page = browser.new_page()
    outside = []
    page.on("request", lambda r: r.url.startswith(("http://127.0.0.1", "data:", "blob:")) or outside.append(r.url))
    yield page
    page.close()
    assert not outside, f"the page asked for addresses outside the test server: {outside[:5]}"


@contextlib.contextmanager
def looking(page, shot: str, what: str):
    """Check ``what`` on ``page``; either way save ``shot``; on failure say what the page showed."""
    from playwright.sync_api import Error as PlaywrightError

    path = output_dir() / shot
    failure = None
    try:
        yield
    except (AssertionError, PlaywrightError) as err:
        failure = err
    page.screenshot(path=str(path))
    if failure is not None:
        try:
            text = re.sub(r"\s*\n\s*", " | ", page.inner_text("body"))[:1500]
        except PlaywrightError as e:
            text = f"(none: {e})"
        message = (f"{what}: {failure}\n  URL: {page.url}\n  title: {page.title()!r}\n  visible text: {text}\n"
                   f"  screenshot: {path}")
        raise pytest.fail.Exception(message, pytrace=False) from None  # not chained to the failure it reports


def test_the_printed_link_opens_the_run_page_with_its_name_and_metric(site, page):
    from playwright.sync_api import expect

    page.goto(site.link)
    with looking(page, "run_page.png", f"the printed link {site.link} should open run {site.run_id}'s page"):
        expect(page.get_by_role("heading", name=site.run_name, exact=True)).to_be_visible()
        row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=site.metric, exact=True))
        expect(row, f"the metrics table should have a row {site.metric}").to_have_count(1)
        row.scroll_into_view_if_needed()
        expect(row.get_by_role("cell").nth(1), f"{site.metric} should read as the store has it "
               f"({site.value!r})").to_have_text(js_number(site.value))
        # the "Model training" view ("<experiment> › Runs"), not the GenAI one ("<experiment> › Evaluations"),
        # which MLflow 3 opens unless the link says workflowType=machine_learning
        expect(page.get_by_test_id("experiment-observatory-link-runs"), "the run should open in MLflow's "
               "'Model training' view, whose breadcrumb reads Runs").to_have_text("Runs", timeout=5000)
        assert "workflowType=genai" not in page.url, "the UI switched to its GenAI view"
        expect(page.locator("[aria-current=page]"), "the sidebar should be Model training's, its current page "
               "Runs (GenAI's would be 'Evaluation runs')").to_have_text("Runs")


def test_without_the_view_parameter_the_same_page_opens_in_the_genai_view(site, page):
    """The control: it is the link's workflowType that picks the Model training view (the experiment's kind tag
    does not: without the parameter MLflow 3.17 shows the run under its GenAI switch)."""
    from playwright.sync_api import expect

    plain = site.link.split("?")[0]
    page.goto(plain)
    with looking(page, "run_page_genai.png", f"{plain} (no workflowType) should open in the GenAI view"):
        # the sidebar's current page: "Evaluation runs" under the GenAI switch, "Runs" under Model training
        expect(page.locator("[aria-current=page]")).to_have_text("Evaluation runs")


def test_the_artifacts_tab_shows_the_lag_figure(site, page):
    from playwright.sync_api import expect

    folder, _, name = FIGURE.rpartition("/")
    figure = artifacts(site.root, site.run_id) / FIGURE
    page.goto(site.link)
    with looking(page, "lag_figure.png", f"run {site.run_id}'s Artifacts tab should show {FIGURE}"):
        page.get_by_role("tab", name="Artifacts").click()
        node = lambda n: page.locator(f"[data-testid='artifact-tree-node'][artifact-name='{n}']")  # noqa: E731
        for part in folder.split("/") if folder else []:
            node(part).click()
        try:
            node(name).click()
        except Exception as err:  # noqa: BLE001 - say what the tree holds instead
            shown = page.get_by_test_id("artifact-tree-node").all_inner_texts()
            raise AssertionError(f"no {name} in the artifact tree ({type(err).__name__}); it shows {shown}; "
                                 f"on disk: {figure.exists() and 'present' or 'absent'}") from None
        expect(page.get_by_text(FIGURE, exact=True), "the preview should be titled with the path").to_be_visible()
        img = page.locator("img[src^='blob:']:visible").first
        expect(img, "the preview should hold the figure as an image").to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(),
                               timeout=TIMEOUT_MS)
        size = img.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert tuple(size) == png_size(figure), f"the image shown is {size}, the figure {png_size(figure)}"


def test_the_sweep_parent_lists_its_children(site, page):
    from playwright.sync_api import expect

    # the link the sweep printed to its parent: the parent's run page, which lists the children
    printed = [site.base + p for p in PRINTED.findall(site.sweep_stdout) if site.parent_id in p]
    assert printed, f"the sweep printed no link to its parent run {site.parent_id}:\n{site.sweep_stdout[-1500:]}"
    page.goto(printed[-1])
    with looking(page, "sweep_parent_run.png", f"the sweep's link {printed[-1]} should open its parent's page, "
                 "listing its children"):
        expect(page.get_by_role("heading", name=site.parent_name, exact=True)).to_be_visible()
        expect(page.get_by_test_id("experiment-observatory-link-runs")).to_have_text("Runs", timeout=5000)
        expect(page.get_by_text("Child runs", exact=True)).to_be_visible()
        for name in site.children.values():
            expect(page.get_by_role("link", name=name, exact=True), f"child {name!r}").to_be_visible()

    # the experiment's runs list: the parent's row, expanded, has both children right under it
    page.goto(f"{site.base}/#/experiments/{site.experiment_id}/runs?workflowType=machine_learning")
    with looking(page, "sweep_parent.png", "the runs list should show both children under the sweep's parent"):
        rows = lambda run_id: page.locator(f"[role='row'][row-id='{run_id}']").filter(  # noqa: E731
            has=page.locator("[col-id='attributes.`Run Name`']"))
        parent = rows(site.parent_id)
        expect(parent.get_by_role("link", name=site.parent_name, exact=True)).to_be_visible()
        parent.locator("[col-id='attributes.`Run Name`'] button").first.click()  # the expander (+)
        at = int(parent.get_attribute("row-index"))
        for run_id, name in site.children.items():
            expect(rows(run_id).get_by_role("link", name=name, exact=True), f"child {name!r}").to_be_visible()
        under = sorted(int(rows(r).get_attribute("row-index")) for r in site.children)
        assert under == [at + 1, at + 2], f"the children are rows {under}, the parent row {at}"
