// The in-car screen in headless Chromium (puppeteer-core, the Debian chromium package): run by
// tests/daemon/ui_browser_test.cc against a daemon it started. Exits 0 when every step passed;
// otherwise prints the failing step and exits 1 (with failure.png beside the other screenshots).
//   node ui.test.mjs --url http://127.0.0.1:PORT --shots DIR --control DIR
//                    --dispatch-token TOKEN [--chromium /usr/bin/chromium]
import fs from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
for (const key of ["url", "shots", "control", "dispatch-token"]) {
  if (!args[key]) { console.error(`ui.test.mjs: --${key} is required`); process.exit(2); }
}
fs.mkdirSync(args.shots, { recursive: true });
const WAIT = { timeout: 30000 };  // generous: a loaded 2-core machine
let step = "start";
const log = (text) => { step = text; console.log(new Date().toISOString() + " " + text); };

const browser = await puppeteer.launch({
  executablePath: args.chromium || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  defaultViewport: { width: 1024, height: 600 },
});
const page = await browser.newPage();
const requests = [];
page.on("request", (r) => requests.push(r.url()));
page.on("pageerror", (e) => console.log("page error: " + e.message));
const shot = (name) => page.screenshot({ path: path.join(args.shots, name + ".png") });

async function signIn(pin) {
  for (const digit of pin) await page.click(`#keypad [data-key="${digit}"]`);
  await page.click('#keypad [data-key="ok"]');
}
async function phase(expected) {
  await page.waitForSelector(`#incident[data-phase="${expected}"]`, WAIT);
}
async function text(selector) { return page.$eval(selector, (n) => n.textContent); }
function check(ok, what) { if (!ok) throw new Error(what); }

try {
  log("the page loads from / (redirected to /ui/) and shows the PIN pad");
  await page.goto(args.url + "/", { waitUntil: "load" });
  await page.waitForSelector('#keypad [data-key="1"]', WAIT);
  check(page.url().endsWith("/ui/"), "/ did not redirect to /ui/: " + page.url());
  await shot("signin");

  log("a wrong PIN is refused with its reason");
  await signIn("9999");
  await page.waitForFunction(() => document.querySelector("#signin-error").textContent.includes("wrong PIN"), WAIT);

  log("the officer signs in with PIN 1111");
  await signIn("1111");
  await page.waitForSelector('body[data-page="crew"]', WAIT);
  check((await text("#signout")).includes("wang"), "the sign-out button does not name wang");

  log("the status bar shows every camera recording (red)");
  await page.waitForFunction(() => document.querySelectorAll("#bar-cameras .cam.recording").length === 3, WAIT);
  await page.waitForFunction(() => document.querySelector("#bar-gps").textContent.includes("test-holding-area"), WAIT);

  log("every camera's thumbnail changes");
  await page.waitForFunction(() => {
    const thumbs = [...document.querySelectorAll("#thumbs .thumb")];
    return thumbs.length === 3 && thumbs.every((t) => Number(t.dataset.frames) >= 3);
  }, WAIT);
  await shot("crew");

  log("a dispatch arrives through the API and shows on the screen");
  const dispatched = await fetch(args.url + "/v1/incidents", {
    method: "POST",
    headers: { Authorization: "Bearer " + args["dispatch-token"], "Content-Type": "application/json" },
    body: JSON.stringify({ alarm_number: "J2026120800042", incident_type: "dispatch-110",
      address: "通化市东昌区新华大街 88 号", officers: ["031234", "031235"] }),
  });
  check(dispatched.status === 201, "dispatch answered " + dispatched.status + ": " + await dispatched.text());
  await phase("dispatched");
  check((await text("#incident")).includes("J2026120800042"), "the alarm number is not shown");
  await page.waitForFunction(() => [...document.querySelectorAll("#alerts .alert")].some((a) => a.textContent.includes("J2026")
    || a.textContent.includes("dispatch")), WAIT).catch(() => {});
  await shot("dispatch");

  log("en route, on scene, suspect aboard");
  await page.click('[data-action="act_en_route"]');
  await phase("en-route");
  await page.click('[data-action="act_on_scene"]');
  await phase("on-scene");
  await page.click('[data-action="act_transporting"]');
  await phase("transporting");

  log("a stop is refused, and the screen says why");
  await page.click('[data-action="act_stop"]');
  await page.waitForFunction(() => document.querySelector("#refusal").textContent.includes("409"), WAIT);
  const refusal = await text("#refusal");
  check(refusal.length > 40, "the refusal is not shown in full: " + refusal);
  console.log("  refusal shown: " + refusal);
  await shot("refusal");

  log("the handover inside the holding area is accepted");
  await page.click('[data-action="act_handover"]');
  await page.waitForFunction(() => {
    const p = document.querySelector("#incident").dataset.phase;
    return p !== "transporting" && p !== undefined;
  }, WAIT);
  check((await text("#refusal")) === "", "the handover was refused: " + await text("#refusal"));
  await shot("handover");

  log("the RTSP camera goes away and an alert says so");
  fs.writeFileSync(path.join(args.control, "fail-camera"), "");
  await page.waitForFunction(() => [...document.querySelectorAll('#alerts .alert[data-kind="camera-failed"]')]
    .some((a) => a.textContent.includes("cabin-rear")), { timeout: 60000 });
  await page.waitForSelector('#bar-cameras .cam.failed[data-camera="cabin-rear"]', WAIT);
  await shot("camera-alert");

  log("English, and the night theme switched to day");
  await page.click("#lang");
  await page.waitForFunction(() => document.querySelector("#signout").textContent.startsWith("Sign out"), WAIT);
  await page.click("#theme");
  await shot("crew-english-day");
  await page.click("#theme");
  await page.click("#lang");

  log("the officer signs out; the technician signs in with PIN 3333");
  await page.click("#signout");
  await page.waitForSelector('body[data-page="signin"]', WAIT);
  const techFrom = requests.length;
  await signIn("3333");
  await page.waitForSelector('body[data-page="tech"]', WAIT);
  await page.waitForFunction(() => document.querySelectorAll("#inventory tr[data-camera]").length === 3, WAIT);
  const inventory = await text("#inventory");
  check(inventory.includes("PR-TEST-0001") && inventory.includes("x264enc") && inventory.includes("rtsp"),
    "the inventory lacks the device, the encoder or the RTSP source: " + inventory);
  await page.waitForFunction(() => [...document.querySelectorAll("#tech-thumbs .thumb")].length === 3, WAIT);
  await new Promise((r) => setTimeout(r, 3000));  // a few refreshes' worth of requests
  await shot("technician");
  const asked = requests.slice(techFrom).filter((u) => u.includes("/v1/incidents"));
  check(asked.length === 0, "the technician's page asked for incidents: " + asked.join(", "));
  check(await page.$eval("#crew", (n) => n.hidden), "the crew page is visible to the technician");

  log("/metrics answers the technician's session in Prometheus text");
  const token = await page.evaluate(() => sessionStorage.getItem("patrolrec.token"));
  const metrics = await fetch(args.url + "/metrics", { headers: { Authorization: "Bearer " + token } });
  const body = await metrics.text();
  check(metrics.status === 200 && body.includes('patrolrec_camera_recording{camera="road"} 1'),
    "/metrics: " + metrics.status + " " + body.slice(0, 300));
  check(body.includes('patrolrec_camera_state{camera="cabin-rear",state="recording"} 0'),
    "/metrics does not show cabin-rear not recording");

  log("done");
  await browser.close();
  process.exit(0);
} catch (e) {
  console.error(`FAILED at "${step}": ${e.message}`);
  try { await shot("failure"); console.error("page text: " + (await page.evaluate(() => document.body.innerText)).slice(0, 2000)); } catch (_) {}
  await browser.close();
  process.exit(1);
}
