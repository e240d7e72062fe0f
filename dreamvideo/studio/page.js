// The studio's page: every control and limit comes from /api/options; every request that changes anything
// carries the page's header (the server also checks its Origin).
const $ = (id) => document.getElementById(id);
const state = { upload: null, yaml: "", label: "", options: null, previewSeq: 0, original: null, styling: Promise.resolve() };
const SAVED = "dreamvideo.studio";  // the last upload and style, so a reload goes on where it was
const PAGE = { "X-Dreamvideo": "1" };

function showError(message) { const box = $("error"); box.textContent = message || ""; box.style.display = message ? "block" : "none"; }

async function call(path, body) {
  const response = await fetch(path, { method: "POST", headers: { ...PAGE, "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) { const data = await response.json().catch(() => ({ error: response.statusText })); throw new Error(data.error); }
  return response;
}

// Style changes apply one after another, each to the style the one before it left (text null: the current
// style); whatever sends the style to the server first waits for them (current()), so a render clicked just
// after Apply renders what was applied.
function setStyle(text, changes) {
  state.styling = state.styling.then(() => applyStyle(text ?? state.yaml, changes));
  return state.styling;
}

async function current() { await state.styling; return state.yaml; }

async function applyStyle(text, changes) {
  try {
    const data = await (await call("/api/style", { yaml: text, set: changes || {} })).json();
    state.yaml = data.yaml; state.label = data.label; $("yaml").value = data.yaml; showControls(data.values); showError("");
    showPreset(data.label); save();
    const blob = new Blob([data.yaml], { type: "text/yaml" }); $("download").href = URL.createObjectURL(blob);
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
    const response = await call("/api/preview", { upload: state.upload.id, yaml: await current(), time: +$("time").value });
    const blob = await response.blob();
    if (seq !== state.previewSeq) return;  // a newer preview is on its way
    $("preview").src = URL.createObjectURL(blob); state.original = null;
    const size = response.headers.get("X-Size"), render = response.headers.get("X-Render-Size");
    $("preview-status").textContent = `${response.headers.get("X-Label")}: dreamed in ${response.headers.get("X-Seconds")} s, ` +
      (size === render ? `at the render's size ${size}, as the render dreams this frame` : `at preview size ${size} (the render is ${render})`);
    $("preview").dataset.version = seq; $("preview").dataset.label = response.headers.get("X-Label"); showError("");
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
    useUpload(data); listUploads();
  } catch (e) { clearUpload(); showError(e.message); }
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
  $("render-btn").textContent = video ? "Render the video" : "Render a zoom";
  preview();
}

async function listUploads() {
  const uploads = await (await fetch("/api/uploads")).json(), select = $("uploads");
  select.innerHTML = "<option value=''>—</option>";
  for (const u of uploads) { const o = document.createElement("option"); o.value = u.id; o.textContent = `${u.name} (${u.kind}, ${u.width}x${u.height})`; select.append(o); }
  if (state.upload) select.value = state.upload.id;
  return uploads;
}

function pin() {
  const pins = $("pins"), figure = document.createElement("figure");
  figure.innerHTML = "<img alt=''><figcaption></figcaption><button class='secondary' title='Unpin'>×</button>";
  figure.querySelector("img").src = $("preview").src;
  figure.querySelector("figcaption").textContent = $("preview").dataset.label || "";
  figure.querySelector("button").onclick = () => figure.remove();
  pins.prepend(figure);
  while (pins.children.length > 4) pins.lastChild.remove();
}

async function showOriginal(on) {
  const img = $("preview");
  if (!on) { if (img.dataset.dream) { img.src = img.dataset.dream; delete img.dataset.dream; } return; }
  try {
    if (!state.original) {
      const response = await call("/api/original", { upload: state.upload.id, yaml: await current(), time: +$("time").value });
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
    await call("/api/render", { upload: state.upload.id, yaml: await current(), seconds: +$("seconds").value });
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

// --- Live: the camera's frames to the studio over a WebSocket, one at a time, the dreamed ones back ---
const live = { ws: null, stream: null, size: null, sentAt: 0, frames: 0, began: 0, latencies: [], figures: null,
               recorder: null, chunks: [], sent: document.createElement("canvas"), answered: document.createElement("canvas") };

function showView(name) {
  $("tab-studio").classList.toggle("active", name === "studio"); $("tab-live").classList.toggle("active", name === "live");
  $("live-view").classList.toggle("hidden", name !== "live");
  for (const el of document.querySelectorAll(".studio-view")) el.classList.toggle("hidden", name !== "studio");
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
  for (const label of document.querySelectorAll("label[data-help]")) label.title = state.options.help[label.dataset.help];
  $("time-row").title = state.options.help.time;
  for (const name of Object.keys(state.options.presets)) { const o = document.createElement("option"); o.textContent = name; $("preset").append(o); }
  for (const name of Object.keys(state.options.models)) { const o = document.createElement("option"); o.textContent = name; $("model").append(o); }
  $("preset").value = "classic";
  const saved = JSON.parse(localStorage.getItem(SAVED) || "{}");
  await setStyle(saved.yaml || state.options.default);
  const uploads = await listUploads(), last = uploads.find((u) => u.id === saved.upload);
  if (last && !state.upload) useUpload(last);
}

function whenReady(act) { return async (...args) => { await ready; return act(...args); }; }

function init() {
  $("preset").onchange = whenReady(() => { if ($("preset").value in state.options.presets) setStyle(state.options.presets[$("preset").value]); });
  $("uploads").onchange = whenReady(async () => { const u = (await listUploads()).find((x) => x.id === $("uploads").value); if (u) useUpload(u); });
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
  const drop = $("drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); const file = e.dataTransfer.files[0]; if (file) upload(file); };
  $("clip-btn").onclick = whenReady(clip); $("render-btn").onclick = whenReady(render);
  $("tab-studio").onclick = () => showView("studio"); $("tab-live").onclick = () => showView("live");
  $("live-start").onclick = whenReady(liveStart); $("live-stop").onclick = liveStop; $("live-record").onclick = liveRecord;
  ready = load();  // (no event can run before this line: they all wait for it)
  pollJobs();
}
init();
