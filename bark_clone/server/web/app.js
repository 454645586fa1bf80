// bark-clone's page: upload or record a voice, see the chosen window, hear the prompt and Bark. No build step.
"use strict";

const $ = (id) => document.getElementById(id);
let recorded = null;      // a WAV Blob from the microphone, used instead of the file input when present
let current = null;       // the selected speaker's name
const objectUrls = {};

$("token").value = localStorage.getItem("bark-clone-token") || "";
$("token").addEventListener("change", () => { localStorage.setItem("bark-clone-token", $("token").value); refresh(); });

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const token = $("token").value.trim();
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error || message; } catch (ignored) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function setStatus(id, text, kind) {
  const element = $(id);
  element.textContent = text || "";
  element.className = "status" + (kind ? " " + kind : "");
}

function busy(buttonId, statusId, text) {
  $(buttonId).disabled = true;
  setStatus(statusId, text, "busy");
  return (error) => {
    $(buttonId).disabled = false;
    if (error) setStatus(statusId, error.message, "error"); else setStatus(statusId, "");
  };
}

function setAudio(id, blob) {
  if (objectUrls[id]) URL.revokeObjectURL(objectUrls[id]);
  objectUrls[id] = URL.createObjectURL(blob);
  $(id).src = objectUrls[id];
}

// ---- the waveform with the chosen window -------------------------------------------------------------------
async function drawWaveform(blob, sidecar) {
  const canvas = $("waveform");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const seconds = ((sidecar.sources || [])[0] || {}).seconds;
  if (typeof seconds !== "number" || !Array.isArray(sidecar.window)) return;  // nothing to draw the window on
  const [start, end] = sidecar.window;
  let samples = null;
  try {
    const audioContext = new (window.AudioContext || window.webkitAudioContext)();
    const buffer = await audioContext.decodeAudioData(await blob.arrayBuffer());
    samples = buffer.getChannelData(0);
    audioContext.close();
  } catch (ignored) { /* a format the browser cannot decode: draw the window alone */ }
  const x = (time) => (time / seconds) * canvas.width;
  context.fillStyle = "rgba(63, 102, 234, 0.15)";
  context.fillRect(x(start), 0, x(end) - x(start), canvas.height);
  if (samples) {
    context.strokeStyle = "#3c4356";
    const step = Math.max(1, Math.floor(samples.length / canvas.width));
    for (let column = 0; column < canvas.width; column++) {
      let peak = 0;
      for (let i = column * step; i < Math.min(samples.length, (column + 1) * step); i++) {
        peak = Math.max(peak, Math.abs(samples[i]));
      }
      context.beginPath();
      context.moveTo(column + 0.5, canvas.height / 2 - peak * canvas.height / 2);
      context.lineTo(column + 0.5, canvas.height / 2 + peak * canvas.height / 2);
      context.stroke();
    }
  }
  context.strokeStyle = "#3f66ea";
  context.lineWidth = 2;
  context.strokeRect(x(start), 1, x(end) - x(start), canvas.height - 2);
  context.lineWidth = 1;
  $("window-caption").textContent = `Prompt window: ${start.toFixed(2)}-${end.toFixed(2)} s of ${seconds.toFixed(1)} s`;
}

// ---- recording with the microphone, encoded as 16-bit WAV in the page ---------------------------------------
let recorder = null;
$("record").addEventListener("click", async () => {
  if (recorder) { recorder.stop(); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const audioContext = new (window.AudioContext || window.webkitAudioContext)();
    const source = audioContext.createMediaStreamSource(stream);
    const processor = audioContext.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    processor.onaudioprocess = (event) => chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
    source.connect(processor);
    processor.connect(audioContext.destination);
    const started = Date.now();
    $("record").textContent = "Stop recording";
    setStatus("record-status", "recording…", "busy");
    recorder = {
      stop() {
        processor.disconnect(); source.disconnect(); stream.getTracks().forEach((track) => track.stop());
        recorded = encodeWav(chunks, audioContext.sampleRate);
        audioContext.close();
        recorder = null;
        $("record").textContent = "Record again";
        setStatus("record-status", `recorded ${((Date.now() - started) / 1000).toFixed(1)} s`);
      },
    };
  } catch (error) {
    setStatus("record-status", "microphone unavailable: " + error.message, "error");
  }
});

function encodeWav(chunks, rate) {
  const length = chunks.reduce((total, chunk) => total + chunk.length, 0);
  const view = new DataView(new ArrayBuffer(44 + length * 2));
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + length * 2, true); text(8, "WAVE"); text(12, "fmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, length * 2, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (const sample of chunk) {
      view.setInt16(offset, Math.max(-1, Math.min(1, sample)) * 0x7fff, true);
      offset += 2;
    }
  }
  return new Blob([view], { type: "audio/wav" });
}

// ---- making a speaker -----------------------------------------------------------------------------------
$("audio").addEventListener("change", () => { recorded = null; setStatus("record-status", ""); });

$("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = recorded || $("audio").files[0];
  const name = $("name").value.trim();
  if (!file) { setStatus("create-status", "choose or record a recording first", "error"); return; }
  const done = busy("create-button", "create-status", "making the speaker (the first one loads the models)…");
  try {
    const form = new FormData();
    form.append("audio", file, file.name || "recording.wav");
    form.append("name", name);
    const minutes = Number($("search-minutes").value) || 0;
    if (minutes > 0) form.append("search_minutes", String(minutes));
    const sidecar = await (await api("/speakers", { method: "POST", body: form })).json();
    done();
    setStatus("create-status", `made ${name}`);
    if (sidecar.status === "searching") followSearch(name);
    await drawWaveform(file, sidecar);
    await refresh();
    select(name);
  } catch (error) {
    done(error);
  }
});

// A running search reports its best score so far; when it is done the speaker holds the best prompt.
async function followSearch(name) {
  try {
    const metadata = await (await api(`/speakers/${encodeURIComponent(name)}`)).json();
    const search = metadata.search || {};
    if (metadata.status === "searching") {
      const best = search.best_score === null || search.best_score === undefined ? "-" : search.best_score.toFixed(3);
      setStatus("create-status", `searching ${name}: step ${search.step}, best score ${best}`, "busy");
      setTimeout(() => followSearch(name), 2000);
    } else {
      setStatus("create-status", search.error ? `${name}: ${search.error}` :
        `${name}: the search kept the best prompt (score ${(metadata.score || {}).score})`, search.error ? "error" : "");
      await refresh();
      if (current === name) select(name);
    }
  } catch (error) {
    setStatus("create-status", error.message, "error");
  }
}

// ---- the list -------------------------------------------------------------------------------------------
// Any speaker is listed, whatever its sidecar lacks (a bare .npz copied in by hand has none at all).
function promptLength(speaker) {
  const seconds = (speaker.durations || {}).prompt_seconds;
  return typeof seconds === "number" ? `${seconds.toFixed(1)} s prompt` : "prompt (no details)";
}

async function refresh() {
  try {
    const { speakers } = await (await api("/speakers")).json();
    const list = $("speaker-list");
    list.replaceChildren();
    for (const speaker of speakers) {
      const item = document.createElement("li");
      item.dataset.name = speaker.name;
      const label = document.createElement("span");
      label.className = "name";
      label.textContent = speaker.name;
      const info = document.createElement("span");
      info.className = "muted";
      info.textContent = promptLength(speaker);
      const use = document.createElement("button");
      use.textContent = "Use"; use.className = "secondary"; use.addEventListener("click", () => select(speaker.name));
      const remove = document.createElement("button");
      remove.textContent = "Delete"; remove.className = "danger";
      remove.addEventListener("click", () => removeSpeaker(speaker.name));
      item.append(label, info, use, remove);
      list.append(item);
    }
    setStatus("list-status", speakers.length ? "" : "no speakers yet");
  } catch (error) {
    setStatus("list-status", error.message, "error");
  }
}

async function removeSpeaker(name) {
  if (!confirm(`Delete the speaker ${name}?`)) return;
  try {
    await api(`/speakers/${encodeURIComponent(name)}`, { method: "DELETE" });
    if (current === name) { current = null; $("speak").hidden = true; }
    await refresh();
  } catch (error) {
    setStatus("list-status", error.message, "error");
  }
}

// ---- hearing it -----------------------------------------------------------------------------------------
async function select(name) {
  current = name;
  $("speak").hidden = false;
  $("current-name").textContent = name;
  $("spoken").removeAttribute("src");
  showSimilarities(new Headers());
  setStatus("speak-status", "loading the preview…", "busy");
  try {
    setAudio("preview", await (await api(`/speakers/${encodeURIComponent(name)}/preview.wav`)).blob());
    setStatus("speak-status", "");
  } catch (error) {
    setStatus("speak-status", error.message, "error");
  }
}

// Each chunk's speaker similarity to the reference voice: below the guard's threshold it was retried, and the
// best try kept (the server's report says more; the CLI writes it as JSON).
function showSimilarities(headers) {
  const values = (headers.get("X-Chunk-Similarities") || "").split(",").filter(Boolean).map(Number);
  const list = $("chunk-similarities");
  list.replaceChildren();
  $("similarity").textContent = values.length
    ? `${values.length} chunk(s); speaker similarity, lowest ${Number(headers.get("X-Min-Similarity")).toFixed(3)}:`
    : "";
  const wers = (headers.get("X-Chunk-Wers") || "").split(",");  // with the server's words check: each chunk's WER
  values.forEach((value, index) => {
    const item = document.createElement("li");
    item.textContent = value.toFixed(3) + (wers[index] ? `, WER ${Number(wers[index]).toFixed(2)}` : "");
    item.className = value < 0.75 ? "low" : "";
    list.append(item);
  });
}

$("download").addEventListener("click", async (event) => {
  event.preventDefault();
  try {
    const blob = await (await api(`/speakers/${encodeURIComponent(current)}.npz`)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${current}.npz`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  } catch (error) {
    setStatus("speak-status", error.message, "error");
  }
});

refresh();
