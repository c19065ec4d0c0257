// patrolrec's in-car screen (docs/ui.md). Plain JS on the control API: every action is an API
// call with the signed-in person's session token, so it passes the same role checks and lands in
// the same audit log as patrolctl's. The technician's page never asks for an incident or a
// segment (R13): it calls only status, health, inventory, self-check and thumbnails.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const S = {
    token: sessionStorage.getItem("patrolrec.token") || "",
    user: sessionStorage.getItem("patrolrec.user") || "",
    role: sessionStorage.getItem("patrolrec.role") || "",
    lang: localStorage.getItem("patrolrec.lang") || "zh-CN",
    dark: localStorage.getItem("patrolrec.theme") !== "day",
    pin: "",
    status: null, health: null, uplink: null,
    cameraStates: {},   // name -> last state seen, for alerts on change
    timers: [], stream: null, streamGen: 0,
    lastTouch: Date.now(),
  };
  const IDLE_SIGNOUT_MS = 10 * 60 * 1000;  // a screen left alone signs its person out

  function t(key) {
    const table = window.PATROLREC_TEXT[S.lang] || {};
    return table[key] !== undefined ? table[key] : key;
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  function applyTexts() {
    document.documentElement.lang = S.lang;
    document.body.classList.toggle("dark", S.dark);
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  }

  // ---- the API ------------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + S.token };
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      return { ok: false, status: 0, body: { error: "patrolrecd does not answer (" + e.message + ")", code: "network" } };
    }
    if (response.status === 401 && path !== "/v1/session") { signedOut(t("signin_title")); }
    const type = response.headers.get("Content-Type") || "";
    const data = type.startsWith("application/json") ? await response.json() : await response.text();
    return { ok: response.ok, status: response.status, body: data, headers: response.headers };
  }
  function refusalText(r) {
    const b = r.body || {};
    return t("refused") + " (" + r.status + (b.code ? " " + b.code : "") + "): " + (b.error || JSON.stringify(b));
  }
  async function act(method, path, body) {
    const r = await api(method, path, body);
    $("refusal").textContent = r.ok ? "" : refusalText(r);
    if (!r.ok) addAlert(refusalText(r), "warn");
    await refreshStatus();
    return r;
  }

  // ---- sign-in ------------------------------------------------------------------------------
  function buildKeypad() {
    const pad = $("keypad");
    pad.innerHTML = "";
    for (const key of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok"]) {
      pad.append(el("button", { type: "button", "data-key": key, class: key === "ok" ? "primary" : "",
        onclick: () => pressKey(key) }, key === "clear" ? t("clear") : key === "ok" ? t("ok") : key));
    }
  }
  function pressKey(key) {
    if (key === "clear") S.pin = "";
    else if (key === "ok") { signIn(); return; }
    else if (S.pin.length < 12) S.pin += key;
    $("pin-shown").textContent = "•".repeat(S.pin.length);
  }
  async function signIn() {
    const r = await api("POST", "/v1/session", { pin: S.pin });
    S.pin = "";
    $("pin-shown").textContent = "";
    if (!r.ok) { $("signin-error").textContent = refusalText(r); return; }
    S.token = r.body.token; S.user = r.body.user; S.role = r.body.role;
    sessionStorage.setItem("patrolrec.token", S.token);
    sessionStorage.setItem("patrolrec.user", S.user);
    sessionStorage.setItem("patrolrec.role", S.role);
    $("signin-error").textContent = "";
    start();
  }
  async function signOut() {
    if (S.token) await api("DELETE", "/v1/session");
    signedOut("");
  }
  function signedOut(message) {
    stop();
    S.token = S.user = S.role = "";
    sessionStorage.clear();
    for (const id of ["crew", "tech"]) $(id).hidden = true;
    $("signin").hidden = false;
    $("signout").hidden = true;
    $("signin-error").textContent = message || "";
    document.body.dataset.page = "signin";
  }

  // ---- pages --------------------------------------------------------------------------------
  function start() {
    stop();
    const tech = S.role === "technician";
    $("signin").hidden = true;
    $("crew").hidden = tech;
    $("tech").hidden = !tech;
    $("signout").hidden = false;
    $("signout").textContent = t("signout") + " " + S.user;
    document.body.dataset.page = tech ? "tech" : "crew";
    document.body.dataset.role = S.role;
    refreshStatus();
    refreshHealth();
    S.timers.push(setInterval(refreshStatus, 1000));
    S.timers.push(setInterval(refreshHealth, 5000));
    if (S.role !== "auditor") S.timers.push(setInterval(refreshThumbnails, 1000));
    if (tech) { refreshTech(); S.timers.push(setInterval(refreshTech, 15000)); }
    openStream();
  }
  function stop() {
    for (const id of S.timers) clearInterval(id);
    S.timers = [];
    S.streamGen++;
    if (S.stream) { S.stream.abort(); S.stream = null; }
  }

  function cameraClass(c) {
    if (c.state === "failed") return "failed";
    if (c.state === "recording") return c.video === false ? "audio" : "recording";
    return "on";
  }
  function cameraWord(c) {
    if (c.state === "failed") return t("cam_failed");
    if (c.state === "recording") return c.video === false ? t("cam_audio") : t("cam_recording");
    if (c.state === "paused") return t("cam_paused");
    if (c.state === "starting") return t("cam_starting");
    return t("cam_on");
  }

  async function refreshStatus() {
    if (!S.token) return;
    if (Date.now() - S.lastTouch > IDLE_SIGNOUT_MS) { signOut(); return; }
    const r = await api("GET", "/v1/status");
    if (!r.ok) return;
    const before = S.status;
    S.status = r.body;
    renderBar();
    if (S.role !== "technician") renderIncident();
    renderThumbLabels();
    const time = S.status.time || {};
    if (before && before.time && before.time.verified && !time.verified) {
      addAlert(t("alert_time") + ": " + (time.reason || ""), "warn");
    }
  }
  async function refreshHealth() {
    const [h, u] = await Promise.all([api("GET", "/v1/health"), api("GET", "/v1/uplink")]);
    if (h.ok) {
      const alertBefore = S.health && S.health.disk && S.health.disk.alert;
      S.health = h.body;
      const alert = S.health.disk && S.health.disk.alert;
      if (alert && alert !== alertBefore) addAlert(t("alert_disk") + ": " + alert, "warn");
    }
    if (u.ok) S.uplink = u.body;
    renderBar();
  }

  function renderBar() {
    const s = S.status;
    if (!s) return;
    const cams = $("bar-cameras");
    cams.innerHTML = "";
    for (const c of s.cameras) {
      cams.append(el("span", { class: "cam " + cameraClass(c), "data-camera": c.name, "data-state": c.state,
        title: c.problem || "" }, c.name + " " + cameraWord(c)));
    }
    const time = s.time || {};
    const timeNode = $("bar-time");
    timeNode.className = "bar-item" + (time.verified ? "" : " bad");
    timeNode.dataset.verified = String(!!time.verified);
    timeNode.textContent = new Date().toLocaleTimeString(S.lang, { hour12: false }) + " " +
      (time.verified ? t("time_ok") + " (" + time.source + ")" : t("time_bad") + ": " + (time.reason || ""));
    const gps = s.position || {};
    const gpsNode = $("bar-gps");
    gpsNode.className = "bar-item" + (gps.state === "3d" || gps.state === "2d" ? "" : " bad");
    gpsNode.textContent = t("gps") + " " + gps.state + (gps.text ? " " + gps.text : "") +
      (gps.geofences && gps.geofences.length ? " [" + gps.geofences.join(", ") + "]" : "");
    const disk = (S.health && S.health.disk) || {};
    const diskNode = $("bar-disk");
    diskNode.className = "bar-item" + (disk.alert ? " bad" : "");
    diskNode.textContent = t("disk") + " " + (S.health && S.health.record_hours_left !== undefined
      ? S.health.record_hours_left + " " + t("hours") : "?");
    const u = S.uplink;
    const upNode = $("bar-uplink");
    if (!u || !u.enabled) {
      upNode.textContent = t("uplink") + " " + t("uplink_off");
    } else {
      let bytes = 0;
      for (const q of Object.values(u.queue || {})) bytes += (q.ready_bytes || 0) + (q.held_bytes || 0);
      const deadlines = Object.entries(u.deadline_counts || {}).map(([k, v]) => k + " " + v).join(", ");
      upNode.textContent = t("uplink") + " " + u.mode + ", " + t("queued") + " " +
        (bytes / 1048576).toFixed(1) + " MiB" + (deadlines ? " · 24h: " + deadlines : "");
    }
  }

  // ---- thumbnails ---------------------------------------------------------------------------
  function thumbBox() { return S.role === "technician" ? $("tech-thumbs") : $("thumbs"); }
  function renderThumbLabels() {
    const box = thumbBox();
    for (const c of S.status.cameras) {
      let node = box.querySelector(`[data-camera="${c.name}"]`);
      if (!node) {
        node = el("div", { class: "thumb", "data-camera": c.name, "data-frames": "0" },
          el("img", { alt: c.name }), el("div", { class: "label" }));
        box.append(node);
      }
      node.className = "thumb " + cameraClass(c);
      const probe = c.health ? " · " + t("probe") + ": " + (c.health.state || JSON.stringify(c.health)) : "";
      node.querySelector(".label").textContent = c.name + " · " + cameraWord(c) + probe +
        (c.problem ? " · " + c.problem : "");
    }
  }
  async function refreshThumbnails() {
    if (!S.status) return;
    await Promise.all(S.status.cameras.map(async (c) => {
      let response;
      try {
        response = await fetch("/v1/cameras/" + encodeURIComponent(c.name) + "/thumbnail",
          { headers: { Authorization: "Bearer " + S.token } });
      } catch (e) { return; }
      const node = thumbBox().querySelector(`[data-camera="${c.name}"]`);
      if (!node || !response.ok) return;
      const utc = response.headers.get("X-Thumbnail-UTC") || "";
      if (utc === node.dataset.utc) return;
      const url = URL.createObjectURL(await response.blob());
      const img = node.querySelector("img");
      const old = img.src;
      img.src = url;
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      node.dataset.utc = utc;
      node.dataset.frames = String(Number(node.dataset.frames) + 1);
    }));
  }

  // ---- the incident -------------------------------------------------------------------------
  function renderIncident() {
    const box = $("incident"), actions = $("actions");
    const i = S.status.incident;
    // Rebuilt only when the incident or the language changed: a button replaced every second
    // would lose the touch that lands on it.
    const key = JSON.stringify([S.lang, i || null]);
    if (key === S.incidentKey && actions.childElementCount) return;
    S.incidentKey = key;
    box.innerHTML = "";
    actions.innerHTML = "";
    const button = (key, onclick, cls) => actions.append(el("button", { type: "button", "data-action": key,
      class: cls || "", onclick }, t(key)));
    if (!i) {
      box.dataset.phase = "none";
      box.append(el("h2", {}, t("no_incident")));
      button("act_record", () => act("POST", "/v1/record", { action: "start" }), "primary");
      button("act_stop", () => act("POST", "/v1/record", { action: "stop" }), "danger");
      return;
    }
    box.dataset.phase = i.phase;
    box.dataset.incident = i.id;
    box.append(el("h2", {}, t("incident") + " " + i.id + " · " + t("phase_" + i.phase)));
    const dl = el("dl");
    const row = (k, v) => { if (v !== null && v !== undefined && v !== "") dl.append(el("dt", {}, t(k)), el("dd", {}, v)); };
    row("alarm", i.alarm_number); row("type", i.incident_type); row("address", i.address);
    row("officers", (i.officers || []).join(", ")); row("case_number", i.case_number);
    row("trigger", i.trigger + (i.trigger_detail ? " (" + i.trigger_detail + ")" : ""));
    const gaps = i.interruptions || [];
    if (gaps.length) {
      const owed = gaps.filter((g) => !g.explained).length;
      row("interruptions", gaps.length + (owed ? " (" + owed + " " + t("unexplained") + ")" : ""));
    }
    box.append(dl);
    const base = "/v1/incidents/" + encodeURIComponent(i.id);
    const phase = (p) => () => act("POST", base + "/phase", { phase: p });
    if (i.phase === "dispatched") button("act_en_route", phase("en-route"), "primary");
    if (i.phase === "dispatched" || i.phase === "en-route") button("act_on_scene", phase("on-scene"), "primary");
    if (i.phase === "on-scene") button("act_transporting", phase("transporting"), "primary");
    if (i.phase === "transporting") button("act_handover", () => act("POST", base + "/handover", { confirm: true }), "primary");
    if (i.phase !== "transporting") {
      button("act_close", async () => {
        const reason = await ask(t("ask_close"));
        if (reason) act("POST", base + "/close", { no_suspect: true, reason });
      });
    }
    button("act_mark", async () => {
      const note = await ask(t("ask_mark"));
      if (note) act("POST", base + "/marks", { note });
    });
    button("act_explain", async () => {
      const text = await ask(t("ask_explain"));
      if (!text) return;
      const owed = gaps.find((g) => !g.explained);
      act("POST", base + "/explanations", owed ? { text, interruption: owed.number } : { text });
    });
    button("act_case", async () => {
      const n = await ask(t("ask_case"));
      if (n) act("POST", base + "/links", { case_number: n });
    });
    button("act_stop", () => act("POST", "/v1/record", { action: "stop" }), "danger");
  }

  function ask(label) {
    return new Promise((resolve) => {
      const dialog = $("ask");
      $("ask-label").textContent = label;
      $("ask-input").value = "";
      dialog.onclose = () => resolve(dialog.returnValue === "ok" ? $("ask-input").value.trim() : null);
      dialog.showModal();
    });
  }

  // ---- alerts and the event stream ----------------------------------------------------------
  function addAlert(text, kind) {
    const box = S.role === "technician" ? $("tech-alerts") : $("alerts");
    const stamp = new Date().toLocaleTimeString(S.lang, { hour12: false });
    box.prepend(el("div", { class: "alert " + (kind || "warn"), "data-kind": kind || "warn" }, stamp + " " + text));
    while (box.children.length > 30) box.lastChild.remove();
  }
  function onEvent(name, data) {
    if (name === "health") {
      for (const c of data.cameras || []) {
        const before = S.cameraStates[c.name];
        if (c.state === "failed" && before !== "failed") {
          addAlert(t("alert_camera") + ": " + c.name + (c.problem ? " — " + c.problem : ""), "camera-failed");
        } else if (before === "failed" && c.state === "recording") {
          addAlert(t("alert_camera_back") + ": " + c.name, "info");
        }
        S.cameraStates[c.name] = c.state;
      }
      refreshStatus();
    } else if (name === "incident") {
      addAlert(t("alert_incident") + " " + data.id + ": " + data.change + " (" + t("phase_" + data.phase) + ")", "info");
      refreshStatus();
    } else if (name === "prompt") {
      addAlert(t("alert_explain") + ": " + (data.text || data.prompt || JSON.stringify(data)), "prompt");
    } else if (name === "interruption-unexplained") {
      addAlert(t("alert_explain") + ": " + t("interruptions") + " " + data.number, "prompt");
    } else if (name === "self-check") {
      addAlert(t("alert_selfcheck") + ": " + data.overall, data.ok ? "info" : "warn");
      if (S.role === "technician") refreshTech();
    }
  }
  async function openStream() {
    const generation = S.streamGen;
    const controller = new AbortController();
    S.stream = controller;
    try {
      const response = await fetch("/v1/events", { headers: { Authorization: "Bearer " + S.token },
        signal: controller.signal });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (data) { try { onEvent(name, JSON.parse(data)); } catch (e) { /* a partial event */ } }
        }
      }
    } catch (e) {
      if (generation !== S.streamGen) return;  // stopped on purpose
    }
    if (generation === S.streamGen) setTimeout(() => { if (generation === S.streamGen) openStream(); }, 2000);
  }

  // ---- the technician's page ----------------------------------------------------------------
  async function refreshTech() {
    const [inv, checks, history] = await Promise.all([api("GET", "/v1/inventory"),
      api("GET", "/v1/self-check/history?limit=5"), api("GET", "/v1/health/history?hours=24")]);
    const box = $("inventory");
    box.innerHTML = "";
    box.append(el("h2", {}, t("inventory")));
    if (inv.ok) {
      const v = inv.body;
      const dl = el("dl");
      for (const [k, value] of [["device", v.device], ["key", v.key_fingerprint], ["software", v.software],
        ["os", v.os], ["kernel", v.kernel]]) dl.append(el("dt", {}, t(k)), el("dd", {}, value));
      box.append(dl);
      const table = el("table", {}, el("tr", {}, el("th", {}, t("cameras")), el("th", {}, t("source")),
        el("th", {}, t("format")), el("th", {}, t("encoder"))));
      for (const c of v.cameras) {
        table.append(el("tr", { "data-camera": c.name }, el("td", {}, c.name),
          el("td", {}, c.source + " " + (c.device || c.url || c.pattern || c.clip || "")),
          el("td", {}, (c.format ? c.format + " " : "") + c.width + "x" + c.height + "@" + c.framerate),
          el("td", {}, c.encoder || "")));
      }
      box.append(table);
    } else {
      box.append(el("p", { class: "refusal" }, refusalText(inv)));
    }
    const sc = $("selfchecks");
    sc.innerHTML = "";
    sc.append(el("h2", {}, t("selfchecks")));
    if (checks.ok) {
      for (const run of (checks.body.runs || []).slice(0, 5)) {
        const failing = (run.items || []).filter((x) => x.result === "fail").map((x) => x.name + ": " + x.reason);
        sc.append(el("div", {}, run.utc + " " + run.trigger + " → " + run.overall + (failing.length ? " (" + failing.join("; ") + ")" : "")));
      }
    } else sc.append(el("p", { class: "refusal" }, refusalText(checks)));
    const hl = $("healthlog");
    hl.innerHTML = "";
    hl.append(el("h2", {}, t("healthlog")));
    if (history.ok) {
      const events = history.body.events || history.body.history || [];
      for (const e of events.slice(-15).reverse()) {
        hl.append(el("div", {}, (e.utc || "") + " " + (e.camera || e.subject || "") + " " + (e.state || e.kind || "") +
          (e.detail || e.cause ? " — " + (e.detail || e.cause) : "")));
      }
    } else hl.append(el("p", { class: "refusal" }, refusalText(history)));
  }

  // ---- start --------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("lang").addEventListener("click", () => {
      S.lang = S.lang === "zh-CN" ? "en" : "zh-CN";
      localStorage.setItem("patrolrec.lang", S.lang);
      applyTexts(); buildKeypad();
      if (S.status) { renderBar(); if (S.role !== "technician") renderIncident(); renderThumbLabels(); }
    });
    $("theme").addEventListener("click", () => {
      S.dark = !S.dark;
      localStorage.setItem("patrolrec.theme", S.dark ? "night" : "day");
      applyTexts();
    });
    $("signout").addEventListener("click", signOut);
    $("selfcheck").addEventListener("click", async () => {
      const r = await api("POST", "/v1/self-check");
      if (!r.ok) addAlert(refusalText(r), "warn");
      refreshTech();
    });
    document.addEventListener("pointerdown", () => { S.lastTouch = Date.now(); }, true);
    applyTexts();
    buildKeypad();
    if (S.token) start(); else signedOut("");
  });
})();
