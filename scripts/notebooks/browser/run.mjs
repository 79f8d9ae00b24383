// Drives a real Chromium through JupyterLab: opens each notebook, runs all cells, checks that no cell
// failed and that the inline figures are on the rendered page, and saves screenshots.
// Started by scripts/notebooks/browser-test.sh, which starts JupyterLab and passes:
//
//   node run.mjs --url http://127.0.0.1:PORT --token T --out DIR [--timeout S] [--chromium PATH] NAME.ipynb ...
//
// For a notebook with a GoNB slider (nb.Slider: an <input type=range> followed by a "Done" button) it
// also moves the slider, checks that the figure under it is redrawn, and presses Done.
// Exit status 0 when every notebook passed.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
const opt = { timeout: 1800, chromium: "/usr/bin/chromium", notebooks: [] };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--url") opt.url = args[++i];
  else if (a === "--token") opt.token = args[++i];
  else if (a === "--out") opt.out = args[++i];
  else if (a === "--timeout") opt.timeout = Number(args[++i]);
  else if (a === "--chromium") opt.chromium = args[++i];
  else opt.notebooks.push(a);
}
if (!opt.url || !opt.out || opt.notebooks.length === 0) {
  console.error("usage: node run.mjs --url URL --token T --out DIR [--timeout S] NOTEBOOK.ipynb ...");
  process.exit(2);
}
fs.mkdirSync(opt.out, { recursive: true });

const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The state of the open notebook, read from JupyterLab's own models (the app is exposed as
// window.jupyterapp by --LabApp.expose_app_in_browser) and from the rendered page.
function notebookState() {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return { ready: false };
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = [];
  panel.content.widgets.forEach((w, idx) => {
    const m = w.model;
    if (m.type !== "code") return;
    const outs = [];
    for (let i = 0; i < m.outputs.length; i++) {
      const o = m.outputs.get(i).toJSON();
      outs.push({
        type: o.output_type,
        name: o.name || "",
        text: Array.isArray(o.text) ? o.text.join("") : o.text || "",
        ename: o.ename || "",
        evalue: o.evalue || "",
        mimes: o.data ? Object.keys(o.data) : [],
        html: o.data && o.data["text/html"] ? [].concat(o.data["text/html"]).join("") : "",
      });
    }
    const prompt = w.node.querySelector(".jp-InputPrompt");
    cells.push({
      idx,
      count: m.executionCount,
      running: prompt ? prompt.textContent.includes("*") : false,
      source: m.sharedModel.getSource().split("\n")[0].slice(0, 90),
      outs,
    });
  });
  // Images actually drawn on the page: inline PNG outputs and images inside HTML outputs.
  const imgs = [...panel.content.node.querySelectorAll(".jp-OutputArea-output img")];
  const mdImgs = [...panel.content.node.querySelectorAll(".jp-MarkdownOutput img")];
  return {
    ready: true,
    kernel: kernel ? kernel.status : "none",
    connection: kernel ? kernel.connectionStatus : "none",
    cells,
    imgs: imgs.length,
    imgsDrawn: imgs.filter((i) => i.complete && i.naturalWidth > 0).length,
    mdImgs: mdImgs.length,
    mdImgsDrawn: mdImgs.filter((i) => i.complete && i.naturalWidth > 0).length,
  };
}

// GoNB (v0.11.3) replies "ok" to a cell whose program panics or exits non-zero and to a failing shell
// line; it only prints "exit status N" on stderr. The same rule as scripts/notebooks/execute.py.
const GONB_EXIT = /^(exit status [1-9][0-9]*|signal: [a-z ]+|GoNB Error:.*)$/m;
function cellFailure(c) {
  for (const o of c.outs) {
    if (o.type === "error") return `${o.ename}: ${o.evalue}`;
  }
  const stderr = c.outs.filter((o) => o.type === "stream" && o.name === "stderr").map((o) => o.text).join("");
  const m = stderr.replace(/\x1b\[[0-9;]*m/g, "").match(GONB_EXIT);
  return m ? m[1] + "\n" + stderr.slice(-1500) : null;
}

const SCROLLER = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer";

// shot saves a screenshot of the window; full: the whole notebook. JupyterLab scrolls inside the
// notebook panel, not the page, so the window is made as tall as the notebook (up to MAX_H pixels);
// a longer notebook is saved in parts (FILE-part1.png, ...). Returns the files written.
const MAX_H = 12000;
async function shot(page, file, full) {
  if (!full) {
    await page.screenshot({ path: file });
    log("screenshot", file);
    return [file];
  }
  const h = await page.evaluate((sel) => (document.querySelector(sel) || {}).scrollHeight || 2000, SCROLLER);
  await page.setViewportSize({ width: 1400, height: Math.min(Math.max(h + 250, 1000), MAX_H) });
  await sleep(2000);
  const view = await page.evaluate((sel) => (document.querySelector(sel) || {}).clientHeight || 1000, SCROLLER);
  const files = [];
  if (h <= view) {
    await page.screenshot({ path: file });
    files.push(file);
  } else {
    for (let k = 0; k * view < h; k++) {
      await page.evaluate(([sel, y]) => { const s = document.querySelector(sel); if (s) s.scrollTop = y; }, [SCROLLER, k * view]);
      await sleep(1500);
      const f = file.replace(/\.png$/, `-part${k + 1}.png`);
      await page.screenshot({ path: f });
      files.push(f);
    }
  }
  await page.setViewportSize({ width: 1400, height: 1000 });
  log("screenshots", files.join(" "));
  return files;
}

// driveSlider moves a live nb.Slider, checks the figure under it changes, and presses Done.
async function driveSlider(page, name) {
  const slider = page.locator(".jp-OutputArea-output input[type=range]").first();
  await slider.waitFor({ state: "attached", timeout: 120000 });
  await slider.scrollIntoViewIfNeeded();
  const imgSrc = async () =>
    page.evaluate(() => {
      const r = document.querySelector(".jp-OutputArea-output input[type=range]");
      const area = r && r.closest(".jp-OutputArea");
      const im = area && [...area.querySelectorAll("img")].filter((i) => i.src.startsWith("data:image/png"));
      return im && im.length ? im[im.length - 1].src : "";
    });
  // Wait for the first drawing under the slider.
  let before = "";
  for (let i = 0; i < 120 && !before; i++) {
    before = await imgSrc();
    if (!before) await sleep(1000);
  }
  if (!before) throw new Error("slider: no figure under the slider");
  await slider.evaluate((el) => el.scrollIntoView({ block: "start" }));
  await sleep(500);
  await shot(page, path.join(opt.out, `${name}-slider-start.png`), false);
  const max = Number(await slider.getAttribute("max"));
  // A quarter of the way: in notebook 00 that is ω = −2, where FI of x1 alone falls far below the odds.
  const target = Math.round(max * 0.25);
  await slider.evaluate((el, v) => {
    el.value = String(v);
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }, target);
  let after = before;
  for (let i = 0; i < 120 && after === before; i++) {
    await sleep(1000);
    after = await imgSrc();
  }
  if (after === before) throw new Error(`slider: moved to ${target} but the figure was not redrawn within 120 s`);
  log(`${name}: slider moved to ${target}/${max}, figure redrawn`);
  await sleep(1000);
  // The slider at the top of the view, its figure and text under it.
  await slider.evaluate((el) => el.scrollIntoView({ block: "start" }));
  await sleep(500);
  await shot(page, path.join(opt.out, `${name}-slider-moved.png`), false);
  const done = page.locator(".jp-OutputArea-output button", { hasText: "Done" }).first();
  await done.click();
  log(`${name}: pressed Done`);
  return { target, max };
}

async function runNotebook(browser, nbPath) {
  const name = path.basename(nbPath, ".ipynb");
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const consoleErrors = [];
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  const t0 = Date.now();
  const result = { name, ok: false, problems: [] };
  try {
    await page.goto(`${opt.url}/lab/tree/${encodeURIComponent(nbPath)}?token=${opt.token}`, { timeout: 120000 });
    // Wait for the notebook and its kernel.
    let st;
    // GoNB (v0.11.3) publishes no status outside its replies, and JupyterLab ignores the ones that
    // answer kernel_info requests: until the first cell runs, the kernel's status stays "unknown"
    // (so does JupyterLab's status bar). A connected kernel is ready.
    const started = (s) => s.ready && s.connection === "connected" && (s.kernel === "idle" || s.kernel === "unknown") && s.cells.length > 0;
    for (let i = 0; i < 240; i++) {
      st = await page.evaluate(notebookState);
      if (started(st)) break;
      await sleep(1000);
    }
    if (!started(st)) throw new Error(`the notebook or its kernel did not start (kernel: ${st.kernel}, ${st.connection})`);
    await sleep(2000);
    log(`${name}: open, ${st.cells.length} code cells, kernel ${st.kernel} and connected; Run All`);
    // Start Run All without waiting for it: the command's promise resolves only when every cell has
    // run, and a slider cell runs until its Done button is pressed.
    await page.evaluate(() => { window.jupyterapp.commands.execute("notebook:run-all-cells"); });

    const deadline = Date.now() + opt.timeout * 1000;
    let slider = null;
    let lastDone = -1;
    let idleSince = 0;
    for (;;) {
      await sleep(2000);
      st = await page.evaluate(notebookState);
      const done = st.cells.filter((c) => c.count !== null && !c.running).length;
      if (done !== lastDone) {
        log(`${name}: ${done}/${st.cells.length} cells done, kernel ${st.kernel}`);
        lastDone = done;
      }
      const failed = st.cells.map((c) => [c, cellFailure(c)]).find(([, f]) => f);
      if (failed) {
        result.problems.push(`cell ${failed[0].idx + 1} (${failed[0].source}) failed: ${failed[1]}`);
        break;
      }
      const hasSlider = await page.locator(".jp-OutputArea-output input[type=range]").count();
      if (hasSlider && !slider) {
        slider = await driveSlider(page, name);
        continue;
      }
      const busy = st.kernel === "busy" || st.cells.some((c) => c.running || c.count === null);
      if (!busy) {
        if (!idleSince) idleSince = Date.now();
        if (Date.now() - idleSince > 4000) break;
      } else idleSince = 0;
      if (Date.now() > deadline) {
        result.problems.push(`not finished after ${opt.timeout} s (${done}/${st.cells.length} cells)`);
        break;
      }
    }
    // Inline figures: every image output of the model must be drawn on the page.
    st = await page.evaluate(notebookState);
    const pngOutputs = st.cells.reduce((n, c) => n + c.outs.filter((o) => o.mimes.includes("image/png")).length, 0);
    const htmlImgs = st.cells.reduce(
      (n, c) => n + c.outs.reduce((k, o) => k + (o.html.match(/<img /g) || []).length, 0), 0);
    const notRun = st.cells.filter((c) => c.count === null).length;
    result.cells = st.cells.length;
    result.figures = st.imgsDrawn;
    result.expectedFigures = pngOutputs + htmlImgs;
    result.markdownImages = `${st.mdImgsDrawn}/${st.mdImgs}`;
    if (notRun && !result.problems.length) result.problems.push(`${notRun} code cells did not run`);
    if (st.imgs === 0) result.problems.push("no inline figure on the page");
    if (st.imgsDrawn < st.imgs) result.problems.push(`${st.imgs - st.imgsDrawn} of ${st.imgs} inline images are not drawn`);
    if (st.imgsDrawn < pngOutputs + htmlImgs)
      result.problems.push(`the notebook has ${pngOutputs + htmlImgs} image outputs but only ${st.imgsDrawn} are on the page`);
    if (st.mdImgsDrawn < st.mdImgs) result.problems.push(`${st.mdImgs - st.mdImgsDrawn} markdown images (key figures) are broken`);
    if (slider) result.slider = slider;
    await page.evaluate((sel) => { const s = document.querySelector(sel); if (s) s.scrollTop = 0; }, SCROLLER);
    await sleep(1000);
    await shot(page, path.join(opt.out, `${name}-top.png`), false);
    await shot(page, path.join(opt.out, `${name}.png`), true);
    result.ok = result.problems.length === 0;
  } catch (e) {
    result.problems.push(String(e && e.stack ? e.stack.split("\n").slice(0, 3).join(" | ") : e));
    await page.screenshot({ path: path.join(opt.out, `${name}-error.png`) }).catch(() => {});
  }
  result.seconds = Math.round((Date.now() - t0) / 1000);
  if (consoleErrors.length) result.consoleErrors = consoleErrors.slice(0, 5);
  await page.close();
  return result;
}

const browser = await chromium.launch({
  executablePath: opt.chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
});
const results = [];
for (const nb of opt.notebooks) {
  const r = await runNotebook(browser, nb);
  results.push(r);
  log(`${r.ok ? "ok  " : "FAIL"} ${r.name} ${r.seconds} s: ${r.cells} code cells, ${r.figures}/${r.expectedFigures} figures drawn,` +
    ` key figures ${r.markdownImages}${r.slider ? `, slider moved to ${r.slider.target}/${r.slider.max} and redrawn` : ""}`);
  for (const p of r.problems) log(`  ${r.name}: ${p}`);
}
await browser.close();
fs.writeFileSync(path.join(opt.out, "results.json"), JSON.stringify(results, null, 1) + "\n");
process.exit(results.every((r) => r.ok) ? 0 : 1);
