// The studio's page: every control and limit comes from /api/options; every request that changes anything
// carries the page's header (the server also checks its Origin).
const $ = (id) => document.getElementById(id);
const state = { upload: null, yaml: "", label: "", options: null, previewSeq: 0, original: null, styling: Promise.resolve(),
                view: "studio", uploads: [] };
const SAVED = "dreamvideo.studio";  // the last upload and style, so a reload goes on where it was
const PAGE = { "X-Dreamvideo": "1" };

function showError(message) { const box = $("error"); box.textContent = message || ""; box.style.display = message ? "block" : "none"; }

async function call(path, body) {
  const response = await fetch(path, { method: "POST", headers: { ...PAGE, "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) { const data = await response.json().catch(() => ({ error: response.statusText })); throw new Error(data.error); }
  return response;
}

// Style changes apply one after another, each to the style the one before it left (text null: the current
// style; changes a function: worked out from that style when its turn comes, so that quick edits build on
// each other); whatever sends the style to the server first waits for them (current()), so a render clicked
// just after Apply renders what was applied.
function setStyle(text, changes) {
  state.styling = state.styling.then(() => applyStyle(text ?? state.yaml, typeof changes === "function" ? changes() : changes));
  return state.styling;
}

async function current() { await state.styling; return state.yaml; }

async function applyStyle(text, changes) {
  try {
    const data = await (await call("/api/style", { yaml: text, set: changes || {} })).json();
    state.yaml = data.yaml; state.label = data.label; $("yaml").value = data.yaml; showControls(data.values); showError("");
    music.data = data.music; showMusic(); scheduleTimeline();
    showPreset(data.label); save();
    const blob = new Blob([data.yaml], { type: "text/yaml" }); $("download").href = URL.createObjectURL(blob); showJob();
    if (live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify({ type: "style", yaml: state.yaml }));
    schedulePreview();
  } catch (e) { showError(e.message); }
}

function save() { localStorage.setItem(SAVED, JSON.stringify({ upload: state.upload && state.upload.id, yaml: state.yaml })); }

function showPreset(label) {
  const select = $("preset");
  let custom = select.querySelector("option[value=custom]");
  if (label in state.options.presets) { select.value = label; if (custom) custom.remove(); return; }
  if (!custom) { custom = document.createElement("option"); custom.value = "custom"; select.append(custom); }
  custom.textContent = label; select.value = "custom";
}

function showKind(kind) {  // the controls that apply to a photo (a zoom) or a video (a render)
  for (const label of document.querySelectorAll("#sliders label")) label.classList.toggle("hidden", label.dataset.for !== "any" && label.dataset.for !== kind);
}

function buildSliders(controls) {
  const box = $("sliders");
  for (const c of controls) {
    const label = document.createElement("label"); label.title = c.help; label.dataset.for = c.for;
    const input = document.createElement("input");
    Object.assign(input, { id: c.id, type: "range", min: c.min, max: c.max, step: c.step });
    input.dataset.key = c.key;
    const out = document.createElement("output");
    label.append(c.label + " ", input, out); box.append(label);
    input.oninput = () => { out.value = input.value; };
    input.onchange = () => setStyle(null, { [c.key]: +input.value });
  }
}

function showControls(v) {
  $("model").value = v.model; fillLayers(v.model, v.layer); $("layer").value = v.layer; $("channels").value = v.channels || "";
  for (const c of state.options.controls) { const input = $(c.id); input.value = v[c.key]; input.nextElementSibling.value = v[c.key]; }
  $("colors").value = v.colors;
}

function fillLayers(model, current) {
  const known = state.options.models[model], select = $("layer");
  const layers = known ? known.layers : [{ name: current, channels: "?", stride: "?" }];  // a model the menu does not list
  if (select.dataset.model === model && known) return;
  select.innerHTML = ""; select.dataset.model = model;
  for (const l of layers) { const o = document.createElement("option"); o.value = l.name; o.textContent = `${l.name} (${l.channels} ch, stride ${l.stride})`; select.append(o); }
}

let previewTimer = null;
function schedulePreview() { clearTimeout(previewTimer); previewTimer = setTimeout(preview, 250); }

async function preview() {
  if (!state.upload) return;
  const seq = ++state.previewSeq;
  $("preview-status").textContent = "dreaming…";
  try {
    const at = timeNow();
    const response = await call("/api/preview", { upload: state.upload.id, yaml: await current(), time: at, ...songBody() });
    const blob = await response.blob();
    if (seq !== state.previewSeq) return;  // a newer preview is on its way
    $("preview").src = URL.createObjectURL(blob); state.original = null;
    const size = response.headers.get("X-Size"), render = response.headers.get("X-Render-Size");
    $("preview-status").textContent = `${response.headers.get("X-Label")}: dreamed in ${response.headers.get("X-Seconds")} s, ` +
      (size === render ? `at the render's size ${size}, as the render dreams this frame` : `at preview size ${size} (the render is ${render})`);
    $("preview").dataset.version = seq; $("preview").dataset.label = response.headers.get("X-Label"); showError("");
    $("preview").dataset.time = at; $("preview").dataset.moment = response.headers.get("X-Moment");
    $("pin-btn").disabled = false; $("original-btn").disabled = false;
  } catch (e) { if (seq === state.previewSeq) { $("preview-status").textContent = "no preview"; showError(e.message); } }
}

async function upload(file) {  // a file chosen at once waits for the options (its limit) and the style
  await ready;
  showError(""); $("upload-info").textContent = `uploading ${file.name}…`;
  if (file.size > state.options.limits.max_upload) {
    $("upload-info").textContent = "";
    showError(`${file.name} is larger than the studio's limit of ${Math.round(state.options.limits.max_upload / 2 ** 20)} MB`);
    return;
  }
  try {
    const response = await fetch("/api/upload", { method: "POST", headers: { ...PAGE, "X-Filename": encodeURIComponent(file.name) }, body: file });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error);
    if (data.kind === "audio" && stemNamed(data.name)) { await listUploads(); $("upload-info").textContent = `${data.name}: a stem the YAML names`; setStyle($("yaml").value); }
    else if (data.kind === "audio") { $("upload-info").textContent = state.upload ? state.upload.name + " (the song: see Music)" : "now a photo or a video to dream to it"; await listUploads(); useSong(data); }
    else { useUpload(data); listUploads(); }
  } catch (e) { clearUpload(); showError(e.message); }
}

function stemNamed(name) {  // whether the YAML's react mappings name this file (by name) as their stem
  const text = $("yaml").value.split("\n").map((l) => l.replace(/\s#.*$/, "")).filter((l) => !/^\s*#/.test(l)).join("\n");
  const named = [...text.matchAll(/\baudio:\s*["']?([^"',}\n]+?)["']?\s*(?=[,}\n]|$)/g)].map((m) => m[1]);
  return named.includes(name);
}

function clearUpload() {  // a failed upload leaves no file active
  state.upload = null; save();
  $("upload-info").textContent = "no file: drop one in"; $("preview").removeAttribute("src"); delete $("preview").dataset.version;
  for (const id of ["clip-btn", "render-btn", "pin-btn", "original-btn"]) $(id).disabled = true;
}

function useUpload(data) {
  state.upload = data; save(); $("uploads").value = data.id;
  const video = data.kind === "video"; showKind(data.kind);
  $("upload-info").textContent = `${data.name}: ${data.kind}, ${data.width}x${data.height}` + (video ? `, ${data.duration.toFixed(1)} s` : "");
  $("time-row").classList.toggle("hidden", !video); $("time").max = Math.max(0, data.duration - 0.1); $("time").value = 0; $("time-out").value = "0.0 s";
  $("seconds-row").classList.toggle("hidden", video);
  $("clip-btn").disabled = !video; $("render-btn").disabled = false;
  showRenderButton(); scheduleTimeline(); showJob();
  preview();
}

function showRenderButton() {
  const video = state.upload && state.upload.kind === "video", song = songBody().song;
  $("render-btn").textContent = song ? "Render the music video" : video ? "Render the video" : "Render a zoom";
  $("seconds-row").classList.toggle("hidden", video || !!song);
}

async function listUploads() {
  const uploads = await (await fetch("/api/uploads")).json(), select = $("uploads"), songs = $("song");
  state.uploads = uploads;
  select.innerHTML = "<option value=''>—</option>";
  for (const u of uploads) {
    const o = document.createElement("option"); o.value = u.id;
    o.textContent = u.kind === "audio" ? `${u.name} (song, ${clock(u.duration)})` : `${u.name} (${u.kind}, ${u.width}x${u.height})`; select.append(o);
  }
  if (state.upload) select.value = state.upload.id;
  const chosen = songs.value;
  songs.innerHTML = "<option value=''>the video's own sound</option>";
  for (const u of uploads.filter((x) => x.kind === "audio")) { const o = document.createElement("option"); o.value = u.id; o.textContent = u.name; songs.append(o); }
  songs.value = uploads.some((u) => u.id === chosen) ? chosen : "";
  return uploads;
}

function pin() {
  const pins = $("pins"), figure = document.createElement("figure");
  figure.innerHTML = "<img alt=''><figcaption></figcaption><button class='secondary' title='Unpin'>×</button>";
  figure.querySelector("img").src = $("preview").src;
  figure.querySelector("figcaption").textContent = ($("preview").dataset.label || "") + (state.view === "music" ? ` at ${$("playhead-out").value}` : "");
  figure.querySelector("button").onclick = () => figure.remove();
  pins.prepend(figure);
  while (pins.children.length > 4) pins.lastChild.remove();
}

async function showOriginal(on) {
  const img = $("preview");
  if (!on) { if (img.dataset.dream) { img.src = img.dataset.dream; delete img.dataset.dream; } return; }
  try {
    if (!state.original) {
      const response = await call("/api/original", { upload: state.upload.id, yaml: await current(), time: timeNow(), ...songBody() });
      state.original = URL.createObjectURL(await response.blob());
    }
    img.dataset.dream = img.src; img.src = state.original;
  } catch (e) { showError(e.message); }
}

async function clip() {
  const seconds = state.options.limits.clip_seconds, bar = $("clip-progress");
  $("clip-btn").disabled = true; $("clip-status").textContent = `rendering ${seconds} s around the chosen time…`;
  bar.classList.remove("hidden"); bar.value = 0;
  const timer = setInterval(async () => {
    const p = await (await fetch("/api/clip/progress")).json(); if (p.total) { bar.max = p.total; bar.value = p.done; }
  }, 400);
  try {
    const data = await (await call("/api/clip", { upload: state.upload.id, yaml: await current(), time: +$("time").value })).json();
    $("clip").src = data.url; $("clip").play().catch(() => {}); $("clip-status").textContent = `${seconds} s, as the render carries the dream`; showError("");
  } catch (e) { $("clip-status").textContent = ""; showError(e.message); }
  clearInterval(timer); bar.classList.add("hidden");
  $("clip-btn").disabled = false;
}

async function render() {
  try {
    await call("/api/render", { upload: state.upload.id, yaml: await current(), seconds: +$("seconds").value, ...songBody() });
    showError(""); pollJobs();
  } catch (e) { showError(e.message); }
}

async function cancel(id) {
  try { await call(`/api/jobs/${id}/cancel`, {}); showError(""); pollJobs(); } catch (e) { showError(e.message); }
}

async function removeJob(id) {
  try { await call(`/api/jobs/${id}/remove`, {}); document.getElementById("job-" + id).remove(); showError(""); } catch (e) { showError(e.message); }
}

function clock(seconds) { return seconds >= 60 ? `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s` : `${Math.round(seconds)} s`; }

let polling = false;
async function pollJobs() {
  if (polling) return; polling = true;
  try {
    while (true) {
      const jobs = await (await fetch("/api/jobs")).json();
      drawJobs(jobs);
      if (!jobs.some((j) => j.status === "queued" || j.status === "running")) break;
      await new Promise((r) => setTimeout(r, 700));
    }
  } finally { polling = false; }
}

function drawJobs(jobs) {
  const box = $("jobs");
  for (const job of jobs) {
    let row = document.getElementById("job-" + job.id);
    if (!row) {
      row = document.createElement("div"); row.className = "job"; row.id = "job-" + job.id;
      row.innerHTML = "<div class='what'></div><div class='meta'></div><progress max='1' value='0'></progress><div class='actions'>" +
        "<button class='secondary cancel' title='Stop it; rendering it again resumes where it stopped'>Cancel</button> " +
        "<button class='secondary use' title='Load this render&apos;s style back into the controls'>Use this style</button> " +
        "<button class='secondary remove' title='Take it off this list (its file stays)'>Remove</button></div>";
      row.querySelector(".cancel").onclick = () => cancel(job.id);
      row.querySelector(".remove").onclick = () => removeJob(job.id);
      row.querySelector(".use").onclick = whenReady(() => setStyle(job.yaml));
      box.prepend(row);
    }
    row.dataset.status = job.status;
    const pct = job.total ? ` ${job.done}/${job.total} frames` : "";
    row.querySelector(".what").textContent = `${job.kind} of ${job.upload}, ${job.label}: ${job.status}${pct}${job.error ? " — " + job.error : ""}`;
    const started = job.started || job.queued;
    row.querySelector(".meta").textContent = `${job.started ? "started" : "queued"} ${new Date(started * 1000).toLocaleTimeString()}` +
      (job.eta != null ? `, about ${clock(job.eta)} left` : "");
    const bar = row.querySelector("progress"); bar.max = job.total || 1; bar.value = job.status === "done" ? bar.max : job.done;
    const active = job.status === "queued" || job.status === "running";
    row.querySelector(".cancel").classList.toggle("hidden", !active); row.querySelector(".remove").classList.toggle("hidden", active);
    if (job.url && !row.querySelector("video")) {
      const v = document.createElement("video"); v.controls = true; v.src = job.url; v.className = "result"; row.append(v);
      const a = document.createElement("a"); a.href = job.url; a.download = ""; a.textContent = "download"; a.className = "button secondary"; row.append(a);
    }
  }
}

// --- Music: the song on a timeline, sections and keyframes on its bars, the preview at the playhead ---
// What is drawn comes from /api/timeline (the server's tracker and the render's own curves); what is edited
// is the style (schedule:, sections:, music:), sent as a change like any other control.
const music = { data: null, line: null, T: 0, pps: 40, lanes: [], drag: null, taps: [], timer: null, seq: 0, audio: "" };
const LANES = { song: 96, stem: 48, sections: 28, key: 68 };
const WIDEST = 30000;  // px: a browser draws no wider canvas (a long set is drawn at fewer pixels a second)

function showJob() {  // the job-list entry that renders what the page would (the style saved beside it as style.yaml)
  const u = state.upload, link = $("download-job");
  if (!u) { link.classList.add("hidden"); return; }
  const song = songUpload(), own = $("song").value ? song : null, q = (x) => JSON.stringify(String(x));
  const stem = u.name.replace(/\.[^.]*$/, "") || "dream";
  const lines = ["jobs:", `  - command: ${u.kind === "video" ? "render" : "zoom"}`, `    input: ${q(u.name)}`];
  if (state.view === "music" && own) lines.push(`    audio: ${q(own.name)}`);
  if (state.view === "music" && own && u.kind === "video") lines.push(`    cycle: ${$("cycle").value}`);
  if (u.kind !== "video" && !(state.view === "music" && own)) lines.push(`    seconds: ${+$("seconds").value}`);
  lines.push("    style: style.yaml", `    output: ${q(stem + (state.view === "music" && own ? "_music_video.mp4" : "_dream.mp4"))}`);
  const text = lines.join("\n") + "\n";
  link.href = URL.createObjectURL(new Blob([text], { type: "text/yaml" })); link.dataset.text = text; link.classList.remove("hidden");
}

function songUpload() {  // the chosen song, else the video's own sound
  const id = $("song").value;
  if (id) return state.uploads.find((u) => u.id === id) || null;
  return state.upload && state.upload.kind === "video" ? state.upload : null;
}

function songBody() {  // what the render and the preview are told of the song: a song of its own, and the cycle
  if (state.view !== "music" || !$("song").value) return {};
  return { song: $("song").value, cycle: $("cycle").value };
}

function timeNow() { return state.view === "music" ? music.T : +$("time").value; }

function useSong(data) {
  $("song").value = data.id; showView("music"); scheduleTimeline(); showRenderButton(); showJob();
}

function scheduleTimeline() { clearTimeout(music.timer); if (state.view === "music") music.timer = setTimeout(loadTimeline, 150); }

async function loadTimeline() {
  const song = songUpload();
  const seq = ++music.seq;  // (an answer for an earlier song that comes after this is dropped)
  if (!song) { forgetSong(); $("song-info").textContent = "drop a song (or a video with sound) in 1 · and it shows here"; return; }
  $("song-info").textContent = `listening to ${song.name}…`;
  try {
    const line = await (await call("/api/timeline", { song: song.id, yaml: await current() })).json();
    if (seq !== music.seq) return;
    music.line = line;
    if (music.audio !== line.audio) { music.audio = line.audio; $("song-audio").src = line.audio; }
    $("play").disabled = false;
    $("song-info").textContent = line.has_beat
      ? `${line.file}: ${line.tempo.toFixed(1)} BPM, ${line.meter}/4, ${line.bars} bars, ${clock(line.duration)}`
      : `${line.file}: no beat found (keys stay in seconds; give the tempo and a downbeat if it has one), ${clock(line.duration)}`;
    $("bpm").placeholder = line.has_beat ? line.tempo.toFixed(1) : ""; $("offset").placeholder = line.downbeats.length ? line.downbeats[0].toFixed(2) : "";
    $("meter").placeholder = line.meter;
    $("lanes").dataset.version = seq; showError("");
  } catch (e) {
    if (seq !== music.seq) return;
    forgetSong(); $("song-info").textContent = "no timeline"; showError(e.message); return;
  }
  drawTimeline();
}

function forgetSong() {  // no song on the timeline: nothing of the last one left playing or drawn
  music.line = null; $("play").disabled = true; $("song-audio").pause();
  const canvas = $("lanes"); canvas.width = 200; canvas.height = LANES.song; $("playhead").style.height = "0px";
}

function showMusic() {  // the style's side of the view: tempo fields, sections, lanes, the lane menu
  const d = music.data; if (!d) return;
  for (const k of ["bpm", "offset", "meter"]) $(k).value = d.music[k] ?? "";
  for (const key of Object.keys(d.schedule)) if (!music.lanes.includes(key)) music.lanes.push(key);
  const menu = $("lane-key");
  if (!menu.options.length) for (const key of Object.keys(d.targets)) { const o = document.createElement("option"); o.textContent = key; menu.append(o); }
  const list = $("sections"); list.innerHTML = "";
  d.sections.forEach((section) => {
    const li = document.createElement("li"), fade = section.crossfade && section.crossfade !== "0" && section.crossfade !== 0 ? `, faded in over ${section.crossfade}` : "";
    li.textContent = `from ${typeof section.at === "number" ? section.at + " s" : section.at}: ${section.style}${fade}`;
    const x = document.createElement("button"); x.className = "secondary"; x.textContent = "×"; x.title = "Remove this section";
    x.onclick = () => editSections((all) => all.filter((s) => s.at !== section.at));
    li.append(x); list.append(li);
  });
}

// moments: "beat N", "bar N" (counted from 1, fractions between), or seconds
function onGrid(marks, n) {
  if (!marks.length) return n;
  const i = Math.floor(n), f = n - i, period = marks.length > 1 ? (marks[marks.length - 1] - marks[0]) / (marks.length - 1) : 0.5;
  const at = (k) => k < 0 ? marks[0] + k * period : k < marks.length ? marks[k] : marks[marks.length - 1] + (k - marks.length + 1) * period;
  return at(i) + f * (at(i + 1) - at(i));
}

function timeOf(key) {
  const line = music.line, [unit, n] = String(key).split(/\s+/);
  if (n === undefined) return +key;
  return onGrid(unit === "bar" ? line.downbeats : line.beats, +n - 1);
}

function nearest(marks, t) { let best = 0; marks.forEach((m, i) => { if (Math.abs(m - t) < Math.abs(marks[best] - t)) best = i; }); return best; }

function keyAt(t, bars) {  // a keyframe's moment, snapped to the nearest beat (bar)
  const line = music.line;
  if (!line.has_beat) return String(Math.max(0, Math.round(t * 100) / 100));
  return bars ? `bar ${nearest(line.downbeats, t) + 1}` : `beat ${nearest(line.beats, t) + 1}`;
}

function barOf(t) {
  const line = music.line; if (!line || !line.has_beat) return "";
  let i = 0; while (i + 1 < line.downbeats.length && line.downbeats[i + 1] <= t) i++;
  const beat = line.beats.filter((b) => b >= line.downbeats[i] - 1e-6 && b <= t + 1e-6).length;
  return t < line.downbeats[0] ? "before bar 1 · " : `bar ${i + 1}.${Math.max(1, beat)} · `;
}

function layout() {
  const lanes = [{ kind: "song", top: 0, h: LANES.song }];
  let top = LANES.song;
  for (const stem of music.line ? music.line.stems : []) { lanes.push({ kind: "stem", stem, top, h: LANES.stem }); top += LANES.stem; }
  lanes.push({ kind: "sections", top, h: LANES.sections }); top += LANES.sections;
  for (const key of music.lanes) { lanes.push({ kind: "key", key, top, h: LANES.key }); top += LANES.key; }
  for (const name of Object.keys(music.line ? music.line.curves : {}).filter((n) => n.startsWith("react "))) {
    lanes.push({ kind: "react", key: name.slice(6), top, h: LANES.key }); top += LANES.key;
  }
  return { lanes, height: top };
}

function keyframes(key) {  // [[moment, value], ...] of a key's schedule
  const entry = music.data.schedule[key];
  if (entry === undefined) return [];
  if (typeof entry !== "object") return [["0", entry]];
  return Object.entries(entry).filter(([k]) => k !== "interpolation");
}

function range(lane) {
  if (music.drag && music.drag.key === lane.key) return music.drag.range;
  const target = music.data.targets[lane.key] || { min: 0, max: 1, value: 0.5 };
  const values = [...(music.line.curves["schedule " + lane.key] || []), ...keyframes(lane.key).map(([, v]) => +v), target.value];
  const [lo, hi] = extent(values), pad = (hi - lo) * 0.25 || Math.abs(hi) * 0.5 || 1;
  return [Math.max(target.min, lo - pad), Math.min(target.max, hi + pad)];
}

function extent(values) {  // [min, max], for arrays too long to spread into Math.min
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return lo <= hi ? [lo, hi] : [0, 1];
}

function yOf(lane, v) { const [lo, hi] = range(lane); return lane.top + 8 + (1 - (v - lo) / (hi - lo || 1)) * (lane.h - 16); }

function valueAt(lane, y) {
  const [lo, hi] = range(lane), target = music.data.targets[lane.key] || {};
  let v = lo + (1 - (y - lane.top - 8) / (lane.h - 16)) * (hi - lo);
  v = Math.min(target.max ?? hi, Math.max(target.min ?? lo, v));
  return target.whole ? Math.round(v) : +v.toPrecision(3);
}

function drawTimeline() {
  const canvas = $("lanes"), line = music.line;
  if (!line || state.view !== "music") return;
  music.pps = Math.min(+$("tl-zoom").value, (WIDEST - 2) / Math.max(line.duration, 1e-3));
  const { lanes, height } = layout(), x = (t) => t * music.pps;
  canvas.width = Math.max(200, Math.ceil(line.duration * music.pps) + 2); canvas.height = height;
  const g = canvas.getContext("2d");
  g.fillStyle = "#0d0c12"; g.fillRect(0, 0, canvas.width, height);
  for (const b of line.beats) { g.fillStyle = "#252333"; g.fillRect(Math.round(x(b)), 0, 1, height); }
  const every = Math.max(1, Math.ceil(30 / (music.pps * 60 / Math.max(line.tempo, 1) * line.meter)));
  g.font = "11px system-ui"; 
  line.downbeats.forEach((d, i) => {
    g.fillStyle = "#4b4670"; g.fillRect(Math.round(x(d)), 0, 1, height);
    if (i % every === 0) { g.fillStyle = "#b7b0e6"; g.fillText(String(i + 1), x(d) + 3, 11); }
  });
  const wave = (peaks, seconds, top, h, colour) => {
    const mid = top + h / 2, cols = peaks.length;
    g.fillStyle = colour;
    peaks.forEach((p, i) => { const half = p * h / 2; g.fillRect(x(seconds * i / cols), mid - half, Math.max(1, x(seconds / cols)), 2 * half || 1); });
  };
  const song = lanes[0];
  wave(line.wave, line.duration, song.top + 18, song.h - 24, "#5d5a6e");
  const curve = (values, fps, top, h, lo, hi, colour) => {
    g.strokeStyle = colour; g.beginPath();
    const step = Math.max(1, Math.floor(values.length / canvas.width));
    for (let i = 0; i < values.length; i += step) {
      const px = x(i / fps), py = top + 4 + (1 - (values[i] - lo) / (hi - lo || 1)) * (h - 8);
      if (i === 0) g.moveTo(px, py); else g.lineTo(px, py);
    }
    g.stroke();
  };
  curve(line.loudness, line.fps, song.top + 14, song.h - 14, 0, 1, "rgba(255,170,60,.55)");
  curve(line.onset, line.fps, song.top + 14, song.h - 14, 0, 1, "rgba(110,200,255,.35)");
  for (const lane of lanes.filter((l) => l.kind === "stem")) {  // each stem the mappings follow, its own lane
    g.fillStyle = "#0f1117"; g.fillRect(0, lane.top, canvas.width, lane.h); g.fillStyle = "#33313f"; g.fillRect(0, lane.top, canvas.width, 1);
    wave(lane.stem.wave, lane.stem.duration, lane.top + 14, lane.h - 16, "#4a5a6e");
    curve(lane.stem.loudness, line.fps, lane.top + 12, lane.h - 12, 0, 1, "rgba(255,170,60,.55)");
    g.fillStyle = "#e8e6f0"; g.fillText(`stem ${lane.stem.name} → ${lane.stem.keys.join(", ")}`, 4, lane.top + 12);
  }
  const parts = lanes.find((l) => l.kind === "sections");
  g.fillStyle = "#16141e"; g.fillRect(0, parts.top, canvas.width, parts.h);
  g.fillStyle = "#b7b0e6"; g.fillText("style", 4, parts.top + 18);
  line.sections.forEach(([begins, whole, name], i) => {
    if (music.drag && music.drag.section === i) { const to = timeOf(music.drag.at); begins += to - whole; whole = to; }
    g.fillStyle = "#3a2c4a"; g.fillRect(x(Math.max(0, begins)), parts.top + 2, Math.max(2, x(whole) - x(Math.max(0, begins))), parts.h - 4);
    g.fillStyle = "#e678e6"; g.fillRect(x(whole) - 1, parts.top, 3, parts.h); g.fillText(name, x(whole) + 5, parts.top + 18);
  });
  for (const lane of lanes.filter((l) => l.kind === "react")) {  // what each mapping makes of its key over the song
    const values = line.curves["react " + lane.key], m = music.data.react[lane.key] || {};
    const [lo, hi] = extent(values), pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.1 || 1;
    g.fillStyle = "#100f16"; g.fillRect(0, lane.top, canvas.width, lane.h); g.fillStyle = "#33313f"; g.fillRect(0, lane.top, canvas.width, 1);
    curve(values, line.fps, lane.top + 4, lane.h - 8, lo - pad, hi + pad, "#f0a050");
    const source = `${m.source || "?"}${m.audio ? " of " + String(m.audio).split("/").pop() : ""}`;
    g.fillStyle = "#e8e6f0"; g.fillText(`react ${lane.key}: follows the ${source}  ${lo.toPrecision(3)} .. ${hi.toPrecision(3)}`, 4, lane.top + 13);
  }
  for (const lane of lanes.filter((l) => l.kind === "key")) {
    g.fillStyle = "#121019"; g.fillRect(0, lane.top, canvas.width, lane.h); g.fillStyle = "#33313f"; g.fillRect(0, lane.top, canvas.width, 1);
    const values = line.curves["schedule " + lane.key], [lo, hi] = range(lane);
    const entry = music.data.schedule[lane.key], how = entry && typeof entry === "object" && entry.interpolation ? entry.interpolation : music.data.interpolation || "linear";
    if (values) curve(values, line.fps, lane.top + 4, lane.h - 8, lo, hi, "#8ce68c");
    for (const [k, v] of keyframes(lane.key)) {
      const moving = music.drag && music.drag.key === lane.key && music.drag.from === k;
      const t = moving ? timeOf(music.drag.k) : timeOf(k), value = moving ? music.drag.v : +v;
      g.fillStyle = moving ? "#ffffff" : "#c58cff"; g.beginPath(); g.arc(x(t), yOf(lane, value), 5, 0, 2 * Math.PI); g.fill();
    }
    g.fillStyle = "#e8e6f0"; g.fillText(`${lane.key} (${how}) ${lo.toPrecision(3)} .. ${hi.toPrecision(3)}`, 4, lane.top + 13);
  }
  showPlayhead();
}

function showPlayhead() {
  const head = $("playhead"); head.style.left = `${music.T * music.pps}px`; head.style.height = `${$("lanes").height}px`;
  $("playhead-out").value = `${barOf(music.T)}${Math.floor(music.T / 60)}:${(music.T % 60).toFixed(2).padStart(5, "0")}`;
}

function seek(t) {
  const line = music.line; if (!line) return;
  music.T = Math.max(0, Math.min(line.duration, t));
  const audio = $("song-audio"); if (audio.src) audio.currentTime = music.T;
  showPlayhead(); if (state.upload) schedulePreview();
}

function setKeyframes(key, edit) {  // the schedule with this key's keyframes edited (none left: the key goes)
  return setStyle(null, () => {
    const schedule = { ...music.data.schedule }, entry = schedule[key], pairs = edit(keyframes(key));
    if (!pairs.length) delete schedule[key];
    else {
      const keyed = {}; for (const [k, v] of pairs.sort((a, b) => timeOf(a[0]) - timeOf(b[0]))) keyed[k] = v;
      if (entry && typeof entry === "object" && entry.interpolation) keyed.interpolation = entry.interpolation;
      schedule[key] = keyed;
    }
    return { schedule };
  });
}

function editSections(edit) {  // the sections edited, in the order they play
  const at = (s) => (typeof s.at === "number" ? s.at : timeOf(s.at));
  return setStyle(null, () => {
    const sections = edit(music.data.sections);
    if (music.line) sections.sort((a, b) => at(a) - at(b));
    return { sections };
  });
}

function hitKeyframe(lane, px, py) {
  return keyframes(lane.key).find(([k, v]) => Math.hypot(timeOf(k) * music.pps - px, yOf(lane, +v) - py) <= 7);
}

function laneAt(py) { return layout().lanes.find((l) => py >= l.top && py < l.top + l.h); }

function where(e) { const r = $("lanes").getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }

function initMusic() {
  const canvas = $("lanes"), audio = $("song-audio");
  canvas.onpointerdown = (e) => {
    if (!music.line) return;
    const [px, py] = where(e), lane = laneAt(py);
    if (!lane) return;
    if (lane.kind === "sections") {  // a section's start is dragged along the bars
      const i = music.line.sections.findIndex(([, whole]) => Math.abs(whole * music.pps - px) <= 6);
      if (i >= 0 && music.line.has_beat) {
        music.drag = { section: i, at: music.data.sections[i].at, from: music.data.sections[i].at, moved: false, x: px, y: py };
        canvas.setPointerCapture(e.pointerId); return;
      }
    }
    if (lane.kind !== "key") { seek(px / music.pps); return; }
    const hit = hitKeyframe(lane, px, py);
    if (hit) {
      music.drag = { key: lane.key, from: hit[0], k: hit[0], v: +hit[1], range: range(lane), x: px, y: py, moved: false };
      canvas.setPointerCapture(e.pointerId); drawTimeline(); return;
    }
    const k = keyAt(px / music.pps, e.shiftKey), v = valueAt(lane, py);
    setKeyframes(lane.key, (pairs) => [...pairs.filter(([x]) => x !== k), [k, v]]);
  };
  canvas.onpointermove = (e) => {
    const d = music.drag; if (!d) return;
    const [px, py] = where(e), lane = layout().lanes.find((l) => l.key === d.key);
    if (Math.hypot(px - d.x, py - d.y) > 3) d.moved = true;
    if (!d.moved) return;
    if (d.section !== undefined) { d.at = `bar ${nearest(music.line.downbeats, px / music.pps) + 1}`; drawTimeline(); return; }
    d.k = keyAt(px / music.pps, e.shiftKey); d.v = valueAt(lane, Math.max(lane.top, Math.min(lane.top + lane.h, py))); drawTimeline();
  };
  canvas.onpointerup = () => {
    const d = music.drag; if (!d) return;
    music.drag = null;
    if (!d.moved) { drawTimeline(); return; }
    if (d.section !== undefined) {
      if (d.at === d.from) { drawTimeline(); return; }
      editSections((all) => all.filter((s) => s.at !== d.at).map((s) => (s.at === d.from ? { ...s, at: d.at } : s))); return;
    }
    setKeyframes(d.key, (pairs) => [...pairs.filter(([k]) => k !== d.from && k !== d.k), [d.k, d.v]]);
  };
  canvas.ondblclick = (e) => {
    if (!music.line) return;
    const [px, py] = where(e), lane = laneAt(py);
    if (!lane || lane.kind !== "key") return;
    const hit = hitKeyframe(lane, px, py);
    if (hit) setKeyframes(lane.key, (pairs) => pairs.filter(([k]) => k !== hit[0]));
  };
  $("tl-zoom").oninput = () => drawTimeline();
  $("lane-add").onclick = () => { const key = $("lane-key").value; if (key && !music.lanes.includes(key)) { music.lanes.push(key); drawTimeline(); } };
  $("song").onchange = () => { scheduleTimeline(); showRenderButton(); showJob(); if (state.upload) schedulePreview(); };
  $("cycle").onchange = () => { showJob(); if (state.upload) schedulePreview(); };
  $("section-add").onclick = whenReady(() => {
    const bar = Math.max(1, Math.round(+$("section-bar").value)), fade = Math.max(0, +$("section-fade").value);
    const section = { at: `bar ${bar}`, style: $("section-style").value, crossfade: fade ? `${fade} bar${fade === 1 ? "" : "s"}` : 0 };
    editSections((all) => [...all.filter((s) => s.at !== section.at), section]);
  });
  const tempo = (bpm, offset, meter) => setStyle(null, { "music.bpm": bpm, "music.offset": offset, "music.meter": meter });
  const num = (id) => ($(id).value === "" ? null : +$(id).value);
  $("tempo-use").onclick = whenReady(() => tempo(num("bpm"), num("offset"), num("meter")));
  $("tempo-tracked").onclick = whenReady(() => tempo(null, null, null));
  $("tap").onclick = () => {
    const now = performance.now();
    if (music.taps.length && now - music.taps[music.taps.length - 1][0] > 2000) music.taps = [];
    music.taps.push([now, audio.paused ? null : audio.currentTime]);
    if (music.taps.length >= 4) {
      const gaps = music.taps.slice(1).map(([t], i) => t - music.taps[i][0]).sort((a, b) => a - b);
      $("bpm").value = (60 * 1000 / gaps[gaps.length >> 1]).toFixed(1);
      if (music.taps[0][1] !== null) $("offset").value = music.taps[0][1].toFixed(2);
    }
  };
  $("play").onclick = () => { if (audio.paused) { audio.currentTime = music.T; audio.play().catch((e) => showError(e.message)); } else audio.pause(); };
  audio.onplay = () => {
    $("play").textContent = "Pause";
    const follow = () => {
      if (audio.paused) return;
      music.T = audio.currentTime; showPlayhead();
      const box = $("timeline"), px = music.T * music.pps;
      if (px < box.scrollLeft || px > box.scrollLeft + box.clientWidth - 20) box.scrollLeft = px - 40;
      requestAnimationFrame(follow);
    };
    requestAnimationFrame(follow);
  };
  audio.onpause = () => { $("play").textContent = "Play"; music.T = audio.currentTime; showPlayhead(); if (state.upload) schedulePreview(); };
}

// --- Live: the camera's frames to the studio over a WebSocket, one at a time, the dreamed ones back ---
const live = { ws: null, stream: null, size: null, sentAt: 0, frames: 0, began: 0, latencies: [], figures: null,
               recorder: null, chunks: [], sent: document.createElement("canvas"), answered: document.createElement("canvas") };

function showView(name) {
  state.view = name;
  for (const tab of ["studio", "music", "live"]) $("tab-" + tab).classList.toggle("active", name === tab);
  $("live-view").classList.toggle("hidden", name !== "live"); $("music-view").classList.toggle("hidden", name !== "music");
  for (const el of document.querySelectorAll(".studio-view")) el.classList.toggle("hidden", name === "live");
  $("time-row").classList.toggle("hidden", name === "music" || !(state.upload && state.upload.kind === "video"));
  showRenderButton(); showJob();
  if (name === "music") { scheduleTimeline(); drawTimeline(); }
  if (name !== "live" && state.upload) schedulePreview();
}

async function liveStart() {
  try {
    live.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: false });
  } catch (e) { showError(`no camera: ${e.message}`); return; }
  const camera = $("camera"); camera.srcObject = live.stream; await camera.play();
  live.frames = 0; live.latencies = []; live.began = performance.now();
  live.ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/live`);
  live.ws.binaryType = "blob";
  live.ws.onopen = () => live.ws.send(JSON.stringify({ type: "start", width: camera.videoWidth, height: camera.videoHeight, yaml: state.yaml }));
  live.ws.onclose = () => liveStop();
  live.ws.onmessage = async (event) => {
    if (typeof event.data === "string") {
      const m = JSON.parse(event.data);
      if (m.type === "ready") {
        live.size = [m.width, m.height]; const out = $("live-out"); out.width = m.width; out.height = m.height;
        for (const c of [live.sent, live.answered]) [c.width, c.height] = live.size;
        sendFrame();
      }
      else if (m.type === "frame") live.figures = m;
      else if (m.type === "error") showError(m.error);
      return;
    }
    const bitmap = await createImageBitmap(event.data);
    const out = $("live-out"); out.getContext("2d").drawImage(bitmap, 0, 0, out.width, out.height);
    [live.answered, live.sent] = [live.sent, live.answered];  // the camera frame this answer is the dream of
    live.latencies.push(performance.now() - live.sentAt); if (live.latencies.length > 100) live.latencies.shift();
    live.frames++; out.dataset.frames = live.frames;
    const fps = live.frames / ((performance.now() - live.began) / 1000), sorted = [...live.latencies].sort((a, b) => a - b);
    const ups = live.figures ? live.figures.updates_per_second : 0;
    $("live-status").textContent = `${fps.toFixed(1)} fps, latency ${sorted[sorted.length >> 1].toFixed(0)} ms (round trip), ${ups.toFixed(1)} dream updates/s`;
    out.dataset.fps = fps.toFixed(2); out.dataset.latency = sorted[sorted.length >> 1].toFixed(1);
    sendFrame();
  };
  $("live-start").disabled = true; $("live-stop").disabled = false; $("live-record").disabled = false;
}

function sendFrame() {
  if (!live.ws || live.ws.readyState !== WebSocket.OPEN) return;
  const grab = live.sent;
  grab.getContext("2d").drawImage($("camera"), 0, 0, grab.width, grab.height);
  grab.toBlob((blob) => { live.sentAt = performance.now(); if (live.ws && live.ws.readyState === WebSocket.OPEN) live.ws.send(blob); }, "image/jpeg", 0.85);
}

function liveStop() {
  if (live.recorder && live.recorder.state === "recording") live.recorder.stop();
  if (live.ws) { const ws = live.ws; live.ws = null; ws.close(); }
  if (live.stream) { for (const t of live.stream.getTracks()) t.stop(); live.stream = null; }
  $("live-start").disabled = false; $("live-stop").disabled = true; $("live-record").disabled = true;
}

function liveRecord() {
  if (live.recorder && live.recorder.state === "recording") { live.recorder.stop(); return; }
  live.chunks = [];
  live.recorder = new MediaRecorder($("live-out").captureStream(30), { mimeType: "video/webm" });
  live.recorder.ondataavailable = (e) => { if (e.data.size) live.chunks.push(e.data); };
  live.recorder.onstop = () => {
    const blob = new Blob(live.chunks, { type: "video/webm" }), take = $("live-take");
    take.href = URL.createObjectURL(blob); take.dataset.bytes = blob.size;
    take.classList.remove("hidden"); $("live-record").textContent = "Record a take";
  };
  live.recorder.start(250); $("live-record").textContent = "Stop recording";
}

// Every handler is attached at once, before anything is loaded, so that a user who acts at once is never
// ignored; the handlers that need the options, the style or the uploads wait for `ready` themselves.
let ready = null;

async function load() {
  state.options = await (await fetch("/api/options")).json();
  buildSliders(state.options.controls);
  $("seconds").max = state.options.limits.zoom_seconds;
  $("clip-btn").textContent = `Preview ${state.options.limits.clip_seconds} s`;
  for (const el of document.querySelectorAll("[data-help]")) el.title = state.options.help[el.dataset.help];
  for (const name of Object.keys(state.options.presets)) { const o = document.createElement("option"); o.textContent = name; $("section-style").append(o); }
  $("time-row").title = state.options.help.time;
  for (const name of Object.keys(state.options.presets)) { const o = document.createElement("option"); o.textContent = name; $("preset").append(o); }
  for (const name of Object.keys(state.options.models)) { const o = document.createElement("option"); o.textContent = name; $("model").append(o); }
  $("preset").value = "classic";
  const saved = JSON.parse(localStorage.getItem(SAVED) || "{}");
  await setStyle(saved.yaml || state.options.default);
  const uploads = await listUploads(), last = uploads.find((u) => u.id === saved.upload);
  if (last && !state.upload && last.kind !== "audio") useUpload(last);
}

async function openYaml(files) {  // a style, or a job list (with the style files it names) put on the page
  const texts = {}; for (const f of files) texts[f.name] = await f.text();
  const list = Object.keys(texts).find((name) => /^jobs\s*:/m.test(texts[name]));
  if (list === undefined) { for (const text of Object.values(texts)) setStyle(text); return; }
  try {
    const styles = { ...texts }; delete styles[list];
    const job = await (await call("/api/job", { text: texts[list], styles })).json();
    const uploads = await listUploads(), named = (name) => uploads.find((u) => u.name === name);
    const input = named(job.input), song = job.audio ? named(job.audio) : null;
    await setStyle(job.yaml);
    $("cycle").value = job.cycle || "loop";
    if (job.seconds) $("seconds").value = job.seconds;
    $("song").value = song ? song.id : "";  // the list's song, or none: never one chosen before
    if (input) useUpload(input);
    if (song) useSong(song); else { showRenderButton(); showJob(); scheduleTimeline(); }
    const missing = [job.input, job.audio].filter((name, i) => name && !(i ? song : input));
    if (missing.length) showError(`${list} names ${missing.join(" and ")}: drop ${missing.length > 1 ? "them" : "it"} in (1 ·) and open the list again`);
  } catch (e) { showError(e.message); }
}

function whenReady(act) { return async (...args) => { await ready; return act(...args); }; }

function init() {
  $("preset").onchange = whenReady(() => { if ($("preset").value in state.options.presets) setStyle(state.options.presets[$("preset").value]); });
  $("uploads").onchange = whenReady(async () => {
    const u = (await listUploads()).find((x) => x.id === $("uploads").value); if (u) (u.kind === "audio" ? useSong(u) : useUpload(u));
  });
  $("pin-btn").onclick = pin;
  const hold = $("original-btn");
  hold.onpointerdown = whenReady(() => showOriginal(true)); hold.onpointerup = hold.onpointerleave = () => showOriginal(false);
  $("model").onchange = whenReady(() => { const m = $("model").value; fillLayers(m); setStyle(null, { model: m, layers: state.options.models[m].default_layers }); });
  const layerChange = whenReady(() => { const ch = $("channels").value.trim(); setStyle(null, { layers: [$("layer").value + (ch ? ":" + ch : "")] }); });
  $("layer").onchange = layerChange; $("channels").onchange = layerChange;
  $("colors").onchange = whenReady(() => setStyle(null, { colors: $("colors").value }));
  $("apply-yaml").onclick = () => { const text = $("yaml").value; whenReady(setStyle)(text); };  // what was typed, even before the style loaded
  $("time").oninput = () => { $("time-out").value = (+$("time").value).toFixed(1) + " s"; };
  $("time").onchange = whenReady(preview);
  $("file").onchange = () => $("file").files[0] && upload($("file").files[0]);
  $("open").onchange = whenReady(async () => { await openYaml([...$("open").files]); $("open").value = ""; });
  const drop = $("drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); const file = e.dataTransfer.files[0]; if (file) upload(file); };
  $("clip-btn").onclick = whenReady(clip); $("render-btn").onclick = whenReady(render);
  $("tab-studio").onclick = () => showView("studio"); $("tab-live").onclick = () => showView("live");
  $("tab-music").onclick = whenReady(() => showView("music"));
  initMusic();
  $("live-start").onclick = whenReady(liveStart); $("live-stop").onclick = liveStop; $("live-record").onclick = liveRecord;
  ready = load();  // (no event can run before this line: they all wait for it)
  pollJobs();
}
init();
