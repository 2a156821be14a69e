// The developer console (/console, SPEC §10) in headless Chromium (Debian `chromium`, installed
// on first use by `npm test`, driven by puppeteer-core): a developer signs up, uploads a PNG,
// runs image-to-image and text-to-model (with a chained conversion) to the end, sees the PNGs
// decoded and the GLB loaded in <model-viewer>, sees a refused request's error, and, once made
// an operator with the secret key, the operator tab. No response, request or WebSocket frame the
// browser handles carries the secret key, the legacy service key or the JWT secret.
// Screenshots: .runs/console/*.png. Without Chromium the test is reported as ignored (never
// as passed), with the reason.
import assert from "node:assert/strict";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { PROJECT_ROOT } from "../../localstack/db/prepare.ts";
import { makePng, serviceClient } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const OUT = `${PROJECT_ROOT}.runs/console`;
const WAIT = { timeout: 120_000 };

function chromiumMissing(): string | null {
  try {
    Deno.statSync(CHROMIUM);
    return null;
  } catch {
    return Deno.env.get("CHROMIUM_UNAVAILABLE") ?? `${CHROMIUM} does not exist`;
  }
}
const missing = chromiumMissing();
if (missing) {
  console.log(
    `SKIPPED: the console browser test needs Chromium (${missing}). ` +
      "Install it with `apt-get install chromium` (npm test does so when run as root).",
  );
}

/** Everything secret the stack has; none of it may ever reach the browser. */
function secrets(): string[] {
  return [stack.secretKey, stack.serviceRoleKey, stack.jwtSecret].filter((s) => s.length >= 16);
}

async function launch(): Promise<Browser> {
  const t0 = performance.now();
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // DevTools over a pipe (fds 3 and 4), not a WebSocket whose URL is read from Chromium's
    // stderr: that wait has a fixed 30 s bound, and a first start on a loaded machine (CI right
    // after installing Chromium) once took longer. Over the pipe the commands simply wait for it.
    pipe: true,
    // As root Chromium needs --no-sandbox; WebGL (model-viewer) runs on SwiftShader.
    args: [
      "--no-sandbox",
      "--disable-dev-shm-usage",
      "--use-angle=swiftshader",
      "--enable-unsafe-swiftshader",
      "--no-first-run",
      "--window-size=1400,1000",
    ],
    defaultViewport: { width: 1400, height: 1000 },
  });
  console.log(`CHROMIUM started in ${Math.round(performance.now() - t0)} ms`);
  return browser;
}

/** Records what the page receives and sends, to scan for secrets, and its errors. */
async function watchTraffic(page: Page) {
  const seen: { where: string; text: string }[] = [];
  const pending: Promise<void>[] = [];
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("request", (req) => {
    seen.push({
      where: `request ${req.url()}`,
      text: JSON.stringify(req.headers()) + (req.postData() ?? ""),
    });
  });
  const failedLoads: string[] = [];
  page.on("response", (res) => {
    if (res.status() >= 400) failedLoads.push(`${res.status()} ${new URL(res.url()).pathname}`);
    pending.push((async () => {
      let body = "";
      try {
        body = new TextDecoder("latin1").decode(await res.buffer());
      } catch { /* redirects and preflights have no body */ }
      seen.push({
        where: `response ${res.status()} ${res.url()}`,
        text: JSON.stringify(res.headers()) + body,
      });
    })());
  });
  const cdp = await page.createCDPSession();
  await cdp.send("Network.enable");
  cdp.on("Network.webSocketFrameReceived", (e) => {
    seen.push({ where: "websocket frame received", text: e.response.payloadData });
  });
  cdp.on("Network.webSocketFrameSent", (e) => {
    seen.push({ where: "websocket frame sent", text: e.response.payloadData });
  });
  return {
    errors,
    failedLoads,
    async leaks(): Promise<string[]> {
      await Promise.all(pending);
      const found: string[] = [];
      for (const s of seen) {
        for (const secret of secrets()) if (s.text.includes(secret)) found.push(s.where);
      }
      return found;
    },
    count: () => seen.length,
  };
}

/** Evaluates `expr` in the page (page-side code as text: it runs there, not here). */
async function js<T = unknown>(page: Page, expr: string): Promise<T> {
  return await page.evaluate(expr) as T;
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `${OUT}/${name}.png`, fullPage: true });
}

Deno.test({
  name: "console: sign up, upload, image-to-image and text-to-model to the end in Chromium; " +
    "operator tab; no secret reaches the browser",
  ignore: missing !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await Deno.mkdir(OUT, { recursive: true });
    await Deno.remove(`${OUT}/99-failure.png`).catch(() => {}); // a former run's
    const input = `${OUT}/input.png`;
    await Deno.writeFile(input, makePng(96, 96, 7));
    const browser = await launch();
    try {
      const page = await browser.newPage();
      const traffic = await watchTraffic(page);

      // The page and what the stack tells it: the URL and the publishable key, no more.
      const cfg = await (await fetch(`${stack.url}/console/config.json`)).json();
      assert.deepEqual(cfg, { url: stack.url, publishableKey: stack.publishableKey });
      const res = await page.goto(`${stack.url}/console`, { waitUntil: "load" });
      assert.equal(res?.status(), 200);
      await page.waitForSelector("body[data-ready=true]", WAIT);

      // Sign up.
      const email = `console-${crypto.randomUUID().slice(0, 8)}@example.test`;
      await page.type("#auth-form input[name=email]", email);
      await page.type("#auth-form input[name=password]", `pw-${crypto.randomUUID()}`);
      await page.click("#sign-up");
      await page.waitForSelector("body[data-signed-in=true]", WAIT);
      await page.waitForSelector("#live[data-realtime=SUBSCRIBED]", WAIT);
      assert.equal(await page.$eval("#who", (e) => e.textContent), email);
      assert.equal(await js(page, `document.querySelector("#tab-operator").hidden`), true);
      await shot(page, "01-signed-in");

      // Upload a PNG; the job form picks it up.
      const file = await page.$("#upload-form input[type=file]");
      await file!.uploadFile(input);
      await page.click("#upload");
      await page.waitForSelector("#upload-msg[data-code=uploaded]", WAIT);

      // A refused request shows the BFF's error (unknown fields are refused, nothing starts).
      await page.select("#kind", "text_to_image");
      await page.type("#job-fields textarea[name=prompt]", "a kettle");
      await page.type("#job-fields textarea[name=__extra]", '{"bogus": 1}');
      await page.click("#start");
      await page.waitForSelector("#job-msg[data-code=validation_failed]", WAIT);

      // A job the provider refuses ends failed, its code and message on its card.
      await page.type("#job-fields textarea[name=prompt]", " [sim:moderation]");
      await js(page, `document.querySelector("#job-fields textarea[name=__extra]").value = ""`);
      await page.click("#start");
      await page.waitForSelector("#job-msg[data-code=accepted]", WAIT);
      await page.waitForSelector(
        ".job[data-kind=text_to_image][data-status=failed] .error[data-error-code]",
        WAIT,
      );
      const failure = await js<string>(
        page,
        `document.querySelector(".job[data-kind=text_to_image] .error").dataset.errorCode`,
      );
      assert.ok(failure.length > 0, "the failure code is shown");

      // image-to-image, two concepts.
      await page.select("#kind", "image_to_image");
      const preset = await js<string>(
        page,
        `document.querySelector("#job-fields input[name=input_image_asset_url]").value`,
      );
      assert.match(preset, /\/storage\/v1\/object\/authenticated\/input-assets\/.+\.png$/);
      await page.type("#job-fields textarea[name=prompt]", "a cosy cabin, watercolour");
      await page.select("#job-fields select[name=n]", "2");
      await page.click("#start");
      await page.waitForSelector("#job-msg[data-code=accepted]", WAIT);

      // text-to-model with a chained USDZ conversion.
      await page.select("#kind", "text_to_model");
      await page.type("#job-fields textarea[name=prompt]", "a small red teapot");
      await page.select("#job-fields select[name=texture_quality]", "detailed");
      await page.click("#job-fields input[name=output_formats][value=USDZ]");
      await js(page, `document.querySelector("#job-msg").textContent = ""`);
      await page.click("#start");
      await page.waitForFunction(
        `document.querySelector("#job-msg").textContent.startsWith("accepted")`,
        WAIT,
      );

      // The live list: each job to its end, outputs shown.
      const i2i = ".job[data-kind=image_to_image][data-status=complete]";
      await page.waitForSelector(`${i2i} img.output-image[data-decoded]`, WAIT);
      const imgs = `[...document.querySelectorAll("${i2i} img")]`;
      await page.waitForFunction(
        `${imgs}.length === 2 && ${imgs}.every((i) => i.complete && i.naturalWidth > 0)`,
        WAIT,
      );
      const widths = await js<number[]>(page, `${imgs}.map((i) => i.naturalWidth)`);
      assert.equal(widths.length, 2);
      assert.ok(widths.every((w) => w > 0), `decoded widths ${widths}`);

      const t2m = ".job[data-kind=text_to_model][data-status=complete]";
      await page.waitForSelector(`${t2m} model-viewer[data-loaded=true]`, WAIT);
      const mv = await js<{ loaded: boolean; src: string | null; error: string | null }>(
        page,
        `(() => { const e = document.querySelector("${t2m} model-viewer");
          return { loaded: e.loaded, src: e.getAttribute("src"), error: e.dataset.error ?? null };
        })()`,
      );
      assert.equal(mv.loaded, true, JSON.stringify(mv));
      assert.equal(mv.error, null);
      assert.match(mv.src ?? "", /\.glb/);
      // Its decoders for compressed models point at this origin, not model-viewer's CDNs.
      const decoders = await js<string[]>(
        page,
        `(() => { const c = customElements.get("model-viewer");
          return [c.dracoDecoderLocation, c.ktx2TranscoderLocation, c.lottieLoaderLocation,
                  c.meshoptDecoderLocation ?? "unset"]; })()`,
      );
      const local = (d: string) => d.startsWith(`${stack.url}/console/vendor/`);
      assert.ok(decoders.slice(0, 3).every(local), decoders.join(" "));
      assert.equal(decoders[3], "unset", "the bundled meshopt decoder fetches nothing");
      // The chained conversion shows up as a job of its own and ends with a download.
      await page.waitForSelector(
        ".job[data-kind=convert_model][data-status=complete] .outputs a",
        WAIT,
      );
      await page.waitForFunction(
        `document.querySelector("${t2m} .conversions")?.textContent === "conversions: USDZ complete"`,
        WAIT,
      );
      const meta = await js<string>(
        page,
        `document.querySelector(".job[data-kind=image_to_image] .meta").textContent`,
      );
      assert.match(meta, /progress 100%/);
      await shot(page, "02-jobs-complete");

      // Not an operator: no tab, and the function says 403 to this token whatever the page does.
      const opsStatus = await js<number>(
        page,
        `(async () => {
          const token = JSON.parse(localStorage.getItem("m3d-console-auth")).access_token;
          const r = await fetch("${stack.url}/functions/v1/ops", {
            headers: { authorization: "Bearer " + token },
          });
          return r.status;
        })()`,
      );
      assert.equal(opsStatus, 403);

      // Made an operator with the secret key (Auth's admin API, from here: never the page).
      const admin = serviceClient();
      const { data: list } = await admin.auth.admin.listUsers({ page: 1, perPage: 1000 });
      const me = list.users.find((u) => u.email === email);
      assert.ok(me, "the page's user exists");
      const set = await admin.auth.admin.updateUserById(me.id, {
        app_metadata: { role: "operator" },
      });
      assert.equal(set.error, null);
      await page.click("#reload-claims");
      await page.waitForSelector("#tab-operator:not([hidden])", WAIT);
      await page.click("#tab-operator");
      await page.waitForSelector("#ops[data-state=loaded]", WAIT);
      assert.equal(await js(page, `document.querySelectorAll("#ops table").length`), 4);
      const queueText = await js<string>(page, `document.querySelector("#ops table").textContent`);
      assert.match(queueText, /succeeded/);
      assert.match(queueText, /tripo/);
      const failuresText = await js<string>(
        page,
        `document.querySelectorAll("#ops table")[1].textContent`,
      );
      assert.match(failuresText, new RegExp(failure));
      await shot(page, "03-operator");

      assert.ok(traffic.count() > 20, "the scan saw the page's traffic");
      assert.deepEqual(await traffic.leaks(), [], "no secret in anything the browser handled");
      // The refused start (400) and the operator check above (403) are the only failed loads.
      assert.deepEqual(traffic.failedLoads.sort(), [
        "400 /functions/v1/generate-text-to-image",
        "403 /functions/v1/ops",
      ]);
      assert.deepEqual(
        traffic.errors.filter((e) => !/^Failed to load resource/.test(e)),
        [],
        "no page errors",
      );
    } catch (e) {
      // What the page showed when it went wrong: a screenshot and its messages.
      const page = (await browser.pages()).at(-1);
      if (page) {
        await shot(page, "99-failure").catch(() => {});
        const msgs = await js(
          page,
          `[...document.querySelectorAll(".msg, .error")].map((e) => e.id + ": " + e.textContent)`,
        ).catch(() => []);
        console.error("page messages:", msgs);
      }
      throw e;
    } finally {
      await browser.close();
    }
  },
});
