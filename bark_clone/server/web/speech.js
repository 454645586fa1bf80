// Hearing Bark: one speaker's text or a script of several voices, whole or streamed. A streamed reply is an
// open-ended 16-bit mono WAV, played through Web Audio as its bytes arrive, then kept whole for replay.
"use strict";

const SCRIPT_LINE = /^\s*([^:\uff1a]{1,64}?)\s*[:\uff1a]\s*(.*)$/;
window.lastStream = null;  // what the last streamed reply did (ms from the request): for the curious, and tests

function joined(parts) {
  const all = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) { all.set(part, offset); offset += part.length; }
  return all;
}

// Plays the reply as it arrives; returns the whole WAV (its sizes filled in) as a Blob.
async function playStream(response, context, statusId) {
  const reader = response.body.getReader();
  const stats = { firstAudioMs: null, doneMs: null, samples: 0, started: performance.now() };
  window.lastStream = stats;
  const parts = [];
  let pending = new Uint8Array(0), rate = 0, next = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(value);
    pending = joined([pending, value]);
    if (!rate) {
      if (pending.length < 44) continue;
      rate = new DataView(pending.buffer, pending.byteOffset).getUint32(24, true);
      pending = pending.slice(44);
    }
    const usable = pending.length - (pending.length % 2);
    if (!usable) continue;
    const samples = new Int16Array(pending.slice(0, usable).buffer);
    pending = pending.slice(usable);
    const buffer = context.createBuffer(1, samples.length, rate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    next = Math.max(next, context.currentTime + 0.05);
    source.start(next);
    next += buffer.duration;
    stats.samples += samples.length;
    if (stats.firstAudioMs === null) {
      stats.firstAudioMs = performance.now() - stats.started;
      setStatus(statusId, "playing the first chunks; Bark is still speaking…", "busy");
    }
  }
  stats.doneMs = performance.now() - stats.started;
  const wav = joined(parts);
  const view = new DataView(wav.buffer);
  view.setUint32(4, wav.length - 8, true);
  view.setUint32(40, wav.length - 44, true);
  return new Blob([wav], { type: "audio/wav" });
}

// POST /speak with ``body``; plays it (streamed when asked and not already cached) into the audio element.
async function speakInto(body, audioId, statusId, stream) {
  const context = stream ? new AudioContext() : null;  // made during the click, so the browser lets it play
  try {
    const response = await api("/speak", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Object.assign({ stream }, body)),
    });
    if (response.headers.get("X-Stream")) {
      setAudio(audioId, await playStream(response, context, statusId));
      return response.headers;
    }
    setAudio(audioId, await response.blob());
    $(audioId).play().catch(() => { /* autoplay may be blocked; the controls are there */ });
    return response.headers;
  } finally {
    if (context) setTimeout(() => context.close(), 60_000);
  }
}

$("speak-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const done = busy("speak-button", "speak-status", "Bark is speaking…");
  try {
    showSimilarities(await speakInto({ name: current, text: $("text").value }, "spoken", "speak-status",
                                     $("stream").checked));
    done();
  } catch (error) {
    done(error);
  }
});

// The last text again in the chosen format: the server answers it from its cache (the speech is made once).
$("download-speech").addEventListener("click", async (event) => {
  event.preventDefault();
  const done = busy("speak-button", "speak-status", "Preparing the download…");
  try {
    const format = $("speech-format").value;
    const response = await api("/speak", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: current, text: $("text").value, format }),
    });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = `${current}-speech.${format}`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
    done();
  } catch (error) {
    done(error);
  }
});

// NAME: text lines, NAME among the listed speakers; a blank line asks for a longer pause before the next.
function parseScript(text) {
  const known = new Set([...document.querySelectorAll("#speaker-list li")].map((item) => item.dataset.name));
  const lines = [];
  let paragraph = false;
  text.split(/\r?\n/).forEach((raw, index) => {
    if (!raw.trim()) { paragraph = lines.length > 0; return; }
    const match = raw.match(SCRIPT_LINE);
    if (!match) throw new Error(`script line ${index + 1}: not NAME: text`);
    if (!known.has(match[1])) throw new Error(`script line ${index + 1}: no speaker named ${match[1]}`);
    if (!match[2].trim()) throw new Error(`script line ${index + 1}: ${match[1]} says nothing`);
    lines.push({ speaker: match[1], text: match[2], paragraph });
    paragraph = false;
  });
  if (!lines.length) throw new Error("the script has no lines (each line is NAME: text)");
  return lines;
}

$("script-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const done = busy("script-button", "script-status", "Bark is speaking the script…");
  try {
    const script = parseScript($("script-text").value);
    const headers = await speakInto({ script }, "script-audio", "script-status", $("script-stream").checked);
    const speakers = new Set(script.map((line) => line.speaker));
    $("script-lines").textContent = `${script.length} line(s) by ${speakers.size} speaker(s)` +
      (headers.get("X-Chunks") ? `, ${headers.get("X-Chunks")} chunk(s)` : "");
    done();
  } catch (error) {
    done(error);
  }
});
