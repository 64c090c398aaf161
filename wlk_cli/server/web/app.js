// wlk's page: the microphone through an AudioWorklet as float32 PCM to /v1/stream, the JSON lines back
// into a transcript (confirmed words by speaker, the tentative tail dimmed), files at the end.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const $ = (id) => document.getElementById(id);
const ui = {
  toggle: $("toggle"), mic: $("mic"), language: $("language"), diarization: $("diarization"),
  transcript: $("transcript"), status: $("status"), level: $("level"), downloads: $("downloads"),
};
const RTL = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]/;

let state = null; // the running session

function wsUrl() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const base = location.pathname.replace(/[^/]*$/, "");
  return `${proto}//${location.host}${base}v1/stream${token ? "?token=" + encodeURIComponent(token) : ""}`;
}

function setStatus(text, kind = "") {
  ui.status.textContent = text;
  ui.status.className = kind;
}

function speakerIndex(label) {
  const m = /^S(\d+)$/.exec(label || "");
  if (m) return Number(m[1]) - 1;
  let h = 0;
  for (const ch of label || "") h += ch.codePointAt(0);
  return h;
}

// -- the transcript ------------------------------------------------------------------------------
function render() {
  const s = state;
  if (!s) return;
  const frag = document.createDocumentFragment();
  let p = null;
  let speaker;
  let lastEnd = null;
  const open = (label) => {
    p = document.createElement("p");
    frag.appendChild(p);
    if (label) {
      const tag = document.createElement("span");
      tag.className = `label sp${speakerIndex(label) % 6}`;
      tag.textContent = label;
      p.appendChild(tag);
    }
  };
  const words = s.order.map((id) => s.words.get(id));
  for (const w of words) {
    if (!p || w.speaker !== speaker || (lastEnd !== null && w.start - lastEnd > 2.0)) {
      speaker = w.speaker;
      open(w.speaker);
    }
    const span = document.createElement("span");
    if (w.speaker) span.className = `sp${speakerIndex(w.speaker) % 6}`;
    span.textContent = w.text;
    p.appendChild(span);
    lastEnd = w.end;
  }
  if (s.tentative.length) {
    if (!p) open(null);
    const span = document.createElement("span");
    span.className = "tentative";
    span.textContent = s.tentative.map((w) => w.text).join("");
    p.appendChild(span);
  }
  for (const para of frag.querySelectorAll("p")) if (RTL.test(para.textContent)) para.dir = "rtl";
  const follow = ui.transcript.parentElement.scrollTop + ui.transcript.parentElement.clientHeight >=
    ui.transcript.parentElement.scrollHeight - 40;
  ui.transcript.replaceChildren(frag);
  if (follow) ui.transcript.parentElement.scrollTop = ui.transcript.parentElement.scrollHeight;
}

function onLine(e) {
  const s = state;
  if (e.type === "session") {
    s.session = e;
  } else if (e.type === "transcript") {
    for (const w of e.confirmed) {
      if (!s.words.has(w.id)) s.order.push(w.id);
      s.words.set(w.id, w);
    }
    s.tentative = e.tentative;
    s.language = e.language || s.language;
  } else if (e.type === "final") {
    // the utterance's final words take the place of its confirmed words
    const gone = new Set(e.replaces);
    let at = s.order.findIndex((id) => gone.has(id));
    if (at < 0) {
      const t = e.words.length ? e.words[0].start : 0;
      at = s.order.findIndex((id) => s.words.get(id).start > t);
      if (at < 0) at = s.order.length;
    }
    const before = s.order.slice(0, at).filter((id) => !gone.has(id));
    const after = s.order.slice(at).filter((id) => !gone.has(id));
    for (const id of gone) s.words.delete(id);
    for (const w of e.words) s.words.set(w.id, w);
    s.order = [...before, ...e.words.map((w) => w.id), ...after];
  } else if (e.type === "speakers") {
    for (const u of e.updates) {
      const w = s.words.get(u.id);
      if (w) w.speaker = u.speaker;
    }
  } else if (e.type === "status") {
    const lag = e.lag_s || 0;
    const dropped = e.dropped_audio_s ? `, ${e.dropped_audio_s.toFixed(1)} s dropped` : "";
    setStatus(`listening — ${e.audio_s.toFixed(0)} s heard, lag ${lag.toFixed(1)} s${dropped}`,
      lag > 2 || e.dropped_audio_s ? "behind" : "");
    return;
  } else if (e.type === "end") {
    s.stats = e.stats;
    s.tentative = [];
    const st = e.stats;
    const lat = st.latency_mean_s == null ? "" : `, mean latency ${st.latency_mean_s.toFixed(2)} s`;
    setStatus(`done — ${st.words} words in ${st.audio_duration_s.toFixed(1)} s${lat}`, st.error ? "error" : "");
    ui.downloads.hidden = s.order.length === 0;
  } else if (e.type === "error") {
    s.error = e.error;
    setStatus(`error: ${e.error}`, "error");
    return;
  }
  render();
}

// -- audio ---------------------------------------------------------------------------------------
async function listMicrophones() {
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const chosen = ui.mic.value;
    ui.mic.replaceChildren(new Option("default", ""));
    for (const d of devices) if (d.kind === "audioinput" && d.deviceId && d.deviceId !== "default") {
      ui.mic.appendChild(new Option(d.label || `microphone ${ui.mic.length}`, d.deviceId));
    }
    ui.mic.value = chosen;
  } catch (_) { /* no permission yet: the default is used */ }
}

async function start() {
  if (!navigator.mediaDevices || !window.AudioWorkletNode) {
    setStatus("this page needs a secure origin (https, or http on localhost) for the microphone", "error");
    return;
  }
  ui.downloads.hidden = true;
  state = { words: new Map(), order: [], tentative: [], session: null, stats: null, error: null, sent: 0 };
  render();
  setStatus("starting…");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: {
        deviceId: ui.mic.value ? { exact: ui.mic.value } : undefined,
        echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1,
      },
    });
  } catch (err) {
    setStatus(`microphone: ${err.message || err.name}`, "error");
    state = null;
    return;
  }
  listMicrophones();
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule("static/pcm-worklet.js");
  const source = ctx.createMediaStreamSource(stream);
  const tap = new AudioWorkletNode(ctx, "pcm-tap");
  const mute = ctx.createGain();
  mute.gain.value = 0;
  source.connect(tap).connect(mute).connect(ctx.destination);
  const ws = new WebSocket(wsUrl());
  ws.binaryType = "arraybuffer";
  Object.assign(state, { ws, ctx, stream, tap });
  const s = state;
  ws.onopen = () => {
    const start = { type: "start", format: "f32le", rate: ctx.sampleRate, channels: 1, status: true };
    if (ui.language.value) start.language = ui.language.value;
    if (ui.diarization.checked) start.diarization = true;
    ws.send(JSON.stringify(start));
    setStatus("listening");
    tap.port.onmessage = (msg) => {
      const block = msg.data;
      let sum = 0;
      for (let i = 0; i < block.length; i++) sum += block[i] * block[i];
      const db = 10 * Math.log10(sum / block.length + 1e-10);
      ui.level.style.setProperty("--lvl", `${Math.max(0, Math.min(100, (db + 60) * 100 / 60))}%`);
      if (ws.readyState === WebSocket.OPEN && !s.stopping) {
        ws.send(block.buffer);
        s.sent += block.length / ctx.sampleRate;
      }
    };
  };
  ws.onmessage = (msg) => { if (state === s) onLine(JSON.parse(msg.data)); };
  ws.onerror = () => { if (!s.error) setStatus("connection error", "error"); };
  ws.onclose = (ev) => {
    releaseAudio(s);
    if (ev.code !== 1000 && !s.error) {
      setStatus(`closed: ${ev.reason || "connection lost"} (${ev.code})`, "error");
    }
    ui.toggle.textContent = "Start";
    ui.toggle.classList.remove("recording");
    ui.downloads.hidden = s.order.length === 0;
    s.closed = true;
  };
  ui.toggle.textContent = "Stop";
  ui.toggle.classList.add("recording");
}

function releaseAudio(s) {
  if (s.stream) s.stream.getTracks().forEach((t) => t.stop());
  if (s.ctx && s.ctx.state !== "closed") s.ctx.close();
}

function stop() {
  const s = state;
  if (!s || s.stopping) return;
  s.stopping = true;
  releaseAudio(s);
  if (s.ws && s.ws.readyState === WebSocket.OPEN) s.ws.send(new ArrayBuffer(0)); // the end of the stream
  setStatus("finishing…");
}

ui.toggle.addEventListener("click", () => {
  if (state && !state.closed && !state.stopping) stop();
  else start();
});

// -- files ---------------------------------------------------------------------------------------
ui.downloads.addEventListener("click", async (ev) => {
  const fmt = ev.target.dataset && ev.target.dataset.format;
  if (!fmt || !state) return;
  ev.preventDefault();
  const words = state.order.map((id) => state.words.get(id));
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(`v1/files/${fmt}`, {
    method: "POST", headers, body: JSON.stringify({ words, language: state.language || null }),
  });
  if (!r.ok) {
    setStatus(`download: ${(await r.json()).error}`, "error");
    return;
  }
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = `wlk-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-")}.${fmt}`;
  a.click();
  URL.revokeObjectURL(url);
});

// for scripts driving the page (tests): the words as text, and whether the session has ended
window.wlk = {
  text: () => (state ? state.order.map((id) => state.words.get(id).text).join("").trim() : ""),
  words: () => (state ? state.order.map((id) => state.words.get(id)) : []),
  done: () => !!(state && state.closed),
  start, stop,
};

listMicrophones();
if (params.get("autostart") === "1") start();
