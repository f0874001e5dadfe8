// aeflow explorer: every panel drives a real trained run through the API; the view is kept in the URL hash.
"use strict";

// Each panel keeps its own view (run, seed, sliders): the URL holds the shown panel's name and its view only,
// so a link opens exactly that view and no panel's settings leak into another's.
const fromHash = () => Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
const views = {};
let shown = fromHash().panel;
let state = Object.fromEntries(Object.entries(fromHash()).filter(([k]) => k !== "panel"));
let RUNS = [];
const $ = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) k.startsWith("on") ? el.addEventListener(k.slice(2), v) : el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
};
let drawing = 0;   // counts draw(): a reply asked for by a panel since left has nowhere to go
const api = async (path) => {
  const asked = drawing;
  const r = await fetch(path);
  const body = await r.json();
  if (asked !== drawing) return new Promise(() => {});   // never resolves: the left panel's code stops here
  if (!r.ok) throw new Error(body.detail);
  return body;
};
const num = (v, d = 2) => (v === null || v === undefined ? "—" : Number(v).toFixed(d));
const has = (run, c) => run.capabilities.includes(c) && run.shape.length === 3;   // image panels
function save() { location.hash = new URLSearchParams({panel: shown, ...state}).toString(); }
function setState(key, value) { state[key] = String(value); save(); }

// One control: a slider, a select or a number box, bound to a key of the URL state.
function slider(key, label, min, max, step, value, onchange) {
  if (state[key] === undefined) state[key] = value;
  const out = $("span", {}, state[key]);
  const input = $("input", {type: "range", min, max, step, value: state[key], "data-key": key,
    oninput: (e) => { out.textContent = e.target.value; setState(key, e.target.value); onchange(); }});
  return $("label", {}, label, input, out);
}
function select(key, label, options, value, onchange) {
  // the state holds strings (as the URL does): a number default would match no option and show the first one
  if (state[key] === undefined || !options.some(([v]) => String(v) === String(state[key]))) state[key] = String(value);
  const el = $("select", {"data-key": key, onchange: (e) => { setState(key, e.target.value); onchange(); }},
    ...options.map(([v, text]) => { const o = $("option", {value: v}, text); if (String(v) === state[key]) o.selected = true; return o; }));
  return $("label", {}, label, el);
}
function button(label, onclick) { return $("button", {onclick}, label); }
function view(id) { return $("img", {class: "view", id, alt: id}); }
function show(id, url) { document.getElementById(id).src = url; }
function numbers(run) {
  const n = run.numbers;
  const parts = [`${run.name} (${run.family})`];
  if (n.fd !== null) parts.push(`FD ${num(n.fd)} (floor ${num(n.fd_real_floor)}), precision ${num(n.precision)}, recall ${num(n.recall)}`);
  if (n.test_recon_error !== null) parts.push(`test reconstruction error ${num(n.test_recon_error, 3)}`);
  if (n.elbo !== null) parts.push(`ELBO ${num(n.elbo)} nats`);
  if (n.test_kl !== null) parts.push(`test KL ${num(n.test_kl)}, recon ${num(n.test_recon)} nats`);
  return $("div", {class: "numbers", id: "numbers"}, parts.join(" · "));
}
function runSelect(runs, onchange, key = "run") {
  return select(key, "run", runs.map((r) => [r.id, r.name]), runs[0].id, onchange);
}
const current = (runs, key = "run") => runs.find((r) => r.id === state[key]) || runs[0];

// A line chart on a canvas with its axes, ticks, labels and a legend outside the data:
// series = [{name, color, xs, ys}], y from yRange (or the data's range).
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
const range = (values) => [Math.min(...values), Math.max(...values)];
// A chart's frame on a cleared canvas: axes with 5 ticks each, their labels, and room above for a legend;
// returns the data -> canvas maps and their inverse (for clicks).
function chartFrame(canvas, [x0, x1], [y0, y1], xLabel, yLabel) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  const L = 52, R = 12, T = 28, B = 40;
  const px = (x) => L + (x - x0) / ((x1 - x0) || 1) * (W - L - R);
  const py = (y) => H - B - (y - y0) / ((y1 - y0) || 1) * (H - T - B);
  const inverse = (cx, cy) => [x0 + (cx - L) / (W - L - R) * (x1 - x0), y0 + (H - B - cy) / (H - T - B) * (y1 - y0)];
  const tick = (v, span) => (Math.abs(span) >= 10 ? v.toFixed(0) : Math.abs(span) >= 1 ? v.toFixed(1) : v.toFixed(2));
  ctx.clearRect(0, 0, W, H);
  ctx.strokeStyle = "#444"; ctx.fillStyle = "#222"; ctx.font = "11px sans-serif"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B); ctx.stroke();
  for (let i = 0; i <= 4; i++) {
    const yv = y0 + (y1 - y0) * i / 4, xv = x0 + (x1 - x0) * i / 4;
    ctx.textAlign = "right"; ctx.fillText(tick(yv, y1 - y0), L - 4, py(yv) + 4);
    ctx.textAlign = "center"; ctx.fillText(tick(xv, x1 - x0), px(xv), H - B + 14);
  }
  ctx.fillText(xLabel, (L + W - R) / 2, H - 6);
  ctx.save(); ctx.translate(12, (T + H - B) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(yLabel, 0, 0); ctx.restore();
  ctx.textAlign = "left";
  return {ctx, px, py, inverse};
}
// A legend above the frame, one coloured mark and name per entry.
function legend(ctx, entries) {
  let left = 52;
  for (const {name, color} of entries) {
    ctx.fillStyle = color; ctx.fillRect(left, 8, 14, 4);
    ctx.fillStyle = "#222"; ctx.textAlign = "left"; ctx.fillText(name, left + 18, 14);
    left += 26 + ctx.measureText(name).width;
  }
}
// Lines with their points: series = [{name, color, xs, ys}], y from yRange (or the data's range).
function lineChart(canvas, series, xLabel, yLabel, yRange) {
  const {ctx, px, py} = chartFrame(canvas, range(series.flatMap((s) => s.xs)),
                                   yRange || range(series.flatMap((s) => s.ys)), xLabel, yLabel);
  for (const s of series) {
    ctx.strokeStyle = ctx.fillStyle = s.color; ctx.lineWidth = 2; ctx.beginPath();
    s.xs.forEach((x, i) => (i ? ctx.lineTo(px(x), py(s.ys[i])) : ctx.moveTo(px(x), py(s.ys[i]))));
    ctx.stroke();
    s.xs.forEach((x, i) => ctx.fillRect(px(x) - 2.5, py(s.ys[i]) - 2.5, 5, 5));   // a point alone shows too
  }
  legend(ctx, series);
}

// Panels: which runs each needs, and how to draw it.
const PANELS = [
  {key: "plane", title: "Latent plane", needs: (r) => has(r, "encodes") && r.code_dim === 2,
   hint: "aeflow train vae -d digits -m latent_dim=2", draw: planePanel},
  {key: "codespace", title: "Code-space experiments", needs: (r) => has(r, "encodes"),
   hint: "aeflow train autoencoder -d digits", draw: codespacePanel},
  {key: "gallery", title: "Generation gallery", needs: (r) => r.sources.length > 0 && r.shape.length === 3,
   hint: "aeflow train vae -d digits", draw: galleryPanel},
  {key: "beta", title: "Beta", needs: (r) => r.family === "vae" && r.beta !== null, min: 2,
   hint: "aeflow sweep beta --values 0.5,1,4 -d digits", draw: betaPanel},
  {key: "cloud", title: "Gaussian cloud", needs: (r) => has(r, "posterior"),
   hint: "aeflow train vae -d digits", draw: cloudPanel},
  {key: "traversal", title: "Traversals", needs: (r) => has(r, "encodes"),
   hint: "aeflow train vae -d digits", draw: traversalPanel},
  {key: "prefix", title: "Prefix slider", needs: (r) => r.family === "ordered-ae",
   hint: "aeflow train ordered-ae -d digits", draw: prefixPanel},
  {key: "sparse", title: "Sparse dictionary", needs: (r) => r.family === "sparse-ae",
   hint: "aeflow train sparse-ae -d digits -m sparsity=topk -m k=16", draw: sparsePanel},
  {key: "denoiser", title: "Denoiser", needs: (r) => r.family === "denoising-ae",
   hint: "aeflow train denoising-ae -d digits", draw: denoiserPanel},
  {key: "vq", title: "Vector quantisation", needs: (r) => has(r, "tokens"),
   hint: "aeflow train vq-vae -d digits", draw: vqPanel},
  {key: "mask", title: "Mask ratio", needs: (r) => r.family === "mae",
   hint: "aeflow train mae -d mnist --data-dir DIR", draw: maskPanel},
  {key: "swissroll", title: "Swiss roll", needs: (r) => r.dataset === "swissroll", min: 2,
   hint: "aeflow reproduce swissroll", draw: swissrollPanel},
  {key: "noise", title: "Noise to data", needs: (r) => r.samplers.length > 0,
   hint: "aeflow train flow -d digits", draw: noisePanel},
  {key: "gan", title: "The discriminator", needs: (r) => has(r, "discriminates"),
   hint: "aeflow train dcgan -d digits", draw: ganPanel},
  {key: "pipeline", title: "Latent pipeline", needs: (r) => r.family === "latent-flow",
   hint: "aeflow train latent-flow -d digits -m autoencoder_run=RUN", draw: pipelinePanel},
];

function planePanel(main, runs) {
  const canvas = $("canvas", {width: 420, height: 420, id: "plane"});
  let frame = null;
  const colour = (label) => `hsl(${(label * 36) % 360} 70% 45%)`;
  const redraw = async () => {
    const run = current(runs);
    const data = await api(`/api/runs/${run.id}/codes?n=800`);
    frame = chartFrame(canvas, range(data.points.map((p) => p[0])), range(data.points.map((p) => p[1])), "z1", "z2");
    data.points.forEach((p, i) => {
      frame.ctx.fillStyle = colour(data.labels[i]);
      frame.ctx.fillRect(frame.px(p[0]) - 1.5, frame.py(p[1]) - 1.5, 3, 3);
    });
    legend(frame.ctx, [...new Set(data.labels)].sort((a, b) => a - b).map((l) => ({name: String(data.classes[l] ?? l), color: colour(l)})));
    document.getElementById("numbers").replaceWith(numbers(run));
    show("manifold", `/api/runs/${run.id}/manifold.png?size=10`);
    interp();
    decodeAt();
  };
  canvas.addEventListener("click", (e) => {
    const r = canvas.getBoundingClientRect();
    const [x, y] = frame.inverse(e.clientX - r.left, e.clientY - r.top);
    setState("z", `${x.toFixed(3)},${y.toFixed(3)}`);
    decodeAt();
  });
  const decodeAt = async () => {
    const run = current(runs);
    const z = state.z || Array(run.code_dim).fill(0).join(",");
    show("decoded", `/api/runs/${run.id}/decode.png?z=${z}`);
    show("nearest", `/api/runs/${run.id}/nearest.png?z=${z}`);
    const near = await api(`/api/runs/${run.id}/nearest?z=${z}`);
    document.getElementById("nearest-numbers").textContent = `pixel distances ${near.distances.map((d) => num(d)).join(", ")}` +
      (near.labels ? ` (labels ${near.labels.join(", ")})` : "");
  };
  const interp = () => show("interp", `/api/runs/${current(runs).id}/interpolate.png?a=${state.a}&b=${state.b}&mode=${state.mode}`);
  main.append($("div", {class: "controls"}, runSelect(runs, redraw), slider("a", "image A", 0, 300, 1, 0, interp),
    slider("b", "image B", 0, 300, 1, 1, interp), select("mode", "path", [["linear", "linear"], ["spherical", "spherical"]], "linear", interp)),
    numbers(current(runs)),
    $("div", {class: "row"}, canvas, $("div", {}, $("p", {class: "caption"}, "Click the plane: that code, decoded."), view("decoded"),
      $("p", {class: "caption"}, "It, then the 6 training images nearest it (new, or a copy?):"), view("nearest"),
      $("p", {class: "numbers", id: "nearest-numbers"}),
      $("p", {class: "caption"}, "Decoded grid over the plane."), view("manifold"))),
    $("p", {class: "caption"}, "Interpolation between the codes of test images A and B:"), view("interp"));
  redraw();
}

function codespacePanel(main, runs) {
  const update = () => {
    const run = current(runs);
    show("perturb", `/api/runs/${run.id}/perturb.png?index=${state.index}&scale=${state.scale}&zero=${Math.min(state.zero, run.code_dim)}&seed=${state.seed}`);
    show("random", `/api/runs/${run.id}/samples.png?source=normal&n=16&seed=${state.seed}`);
    document.getElementById("numbers").replaceWith(numbers(run));
  };
  main.append($("div", {class: "controls"}, runSelect(runs, update), slider("index", "test image", 0, 300, 1, 0, update),
    slider("scale", "noise scale", 0, 3, 0.05, 0.1, update), slider("zero", "zero last k", 0, 64, 1, 0, update),
    slider("seed", "seed", 0, 99, 1, 0, update)), numbers(current(runs)),
    $("p", {class: "caption"}, "Test image, its reconstruction, and the decoded code with noise added and the last k dimensions zeroed:"),
    view("perturb"), $("p", {class: "caption"}, "Pure N(0, I) codes, decoded:"), view("random"));
  update();
}

function galleryPanel(main, runs) {
  const update = () => {
    const run = current(runs);
    const source = run.sources.includes(state.source) ? state.source : run.sources[0];
    // a temperature scales a code prior's codes; a model sampled by itself takes none (for a VAE's N(0, I)
    // at a temperature, choose the normal prior)
    const tempered = source !== "model";
    const knob = document.querySelector('input[data-key="temperature"]');
    if (knob) knob.disabled = !tempered;
    show("gallery", `/api/runs/${run.id}/samples.png?source=${source}&n=32&seed=${state.seed}${tempered ? `&temperature=${state.temperature}` : ""}`);
    document.getElementById("numbers").replaceWith(numbers(run));
  };
  const run = current(runs);
  main.append($("div", {class: "controls"}, runSelect(runs, () => { draw("gallery"); }),
    select("source", "source", run.sources.map((s) => [s, s]), run.sources[0], update),
    slider("temperature", "temperature", 0, 2, 0.05, 1, update),
    button("reseed", () => { setState("seed", Math.floor(Math.random() * 1e6)); update(); })),
    numbers(run), view("gallery"));
  if (state.seed === undefined) state.seed = 0;
  update();
}

function betaPanel(main, runs) {
  // A sweep is the VAEs of one folder with one latent size, one run per beta: take the largest such group.
  const groups = {};
  for (const r of runs) {
    const key = `${r.name.split("/").slice(0, -1).join("/")}|${r.code_dim}`;
    groups[key] = groups[key] || {};
    groups[key][r.beta] = groups[key][r.beta] || r;
  }
  runs = Object.values(groups).map((g) => Object.values(g)).sort((a, b) => b.length - a.length)[0]
    .sort((a, b) => a.beta - b.beta);
  const canvas = $("canvas", {width: 380, height: 260, id: "rd"});
  const update = () => {
    const run = runs[Number(state.beta_index) || 0];
    document.getElementById("betalabel").textContent = `beta = ${run.beta}`;
    show("beta_recon", `/api/runs/${run.id}/image.png?index=${state.index}&recon=true`);
    show("beta_samples", `/api/runs/${run.id}/samples.png?n=16&seed=0`);
    document.getElementById("numbers").replaceWith(numbers(run));
    const pts = runs.map((r) => [r.numbers.test_kl, r.numbers.test_recon]);
    const {ctx, px, py} = chartFrame(canvas, range(pts.map((p) => p[0])), range(pts.map((p) => p[1])),
                                     "rate: KL (nats)", "distortion: -log p(x|z) (nats)");
    const chosen = Number(state.beta_index) || 0;
    pts.forEach((p, i) => { ctx.fillStyle = i === chosen ? "#d62728" : "#1f77b4";
      ctx.beginPath(); ctx.arc(px(p[0]), py(p[1]), i === chosen ? 7 : 4, 0, 7); ctx.fill();
      ctx.fillStyle = "#222"; ctx.fillText(`beta ${runs[i].beta}`, px(p[0]) + 8, py(p[1]) - 6); });
    legend(ctx, [{name: "the shown beta", color: "#d62728"}, {name: "the others", color: "#1f77b4"}]);
  };
  main.append($("div", {class: "controls"}, slider("beta_index", "beta (index)", 0, runs.length - 1, 1, 0, update),
    $("strong", {id: "betalabel"}), slider("index", "test image", 0, 300, 1, 0, update)), numbers(runs[0]),
    $("div", {class: "row"}, canvas, $("div", {}, $("p", {class: "caption"}, "A test image's reconstruction:"), view("beta_recon"),
      $("p", {class: "caption"}, "Prior samples:"), view("beta_samples"))));
  update();
}

function cloudPanel(main, runs) {
  const canvas = $("canvas", {width: 360, height: 360, id: "cloud"});
  const epsBox = $("div", {class: "controls", id: "eps"});
  const update = async () => {
    const run = current(runs);
    const post = await api(`/api/runs/${run.id}/posterior?indices=${state.indices}&dims=${state.d1},${state.d2}`);
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, 360, 360);
    const s = (v) => 180 + v * 50;
    for (const r of [1, 2, 3]) { ctx.strokeStyle = "#bbb"; ctx.beginPath(); ctx.ellipse(180, 180, r * 50, r * 50, 0, 0, 7); ctx.stroke(); }
    // axes: the two chosen code dimensions, ticks at -3..3 (the prior's standard deviations)
    ctx.strokeStyle = ctx.fillStyle = "#555";
    ctx.beginPath(); ctx.moveTo(0, 180); ctx.lineTo(360, 180); ctx.moveTo(180, 0); ctx.lineTo(180, 360); ctx.stroke();
    for (const t of [-3, -2, -1, 1, 2, 3]) { ctx.fillText(String(t), s(t) - 4, 192); ctx.fillText(String(t), 186, 360 - s(t) + 4); }
    ctx.fillText(`z${state.d1} →`, 320, 172); ctx.fillText(`↑ z${state.d2}`, 186, 12);
    post.mu.forEach((m, i) => {
      ctx.strokeStyle = ctx.fillStyle = `hsl(${i * 70} 70% 45%)`;
      ctx.beginPath(); ctx.ellipse(s(m[0]), 360 - s(m[1]), post.sigma[i][0] * 50, post.sigma[i][1] * 50, 0, 0, 7); ctx.stroke();
      ctx.fillRect(s(m[0]) - 2, 360 - s(m[1]) - 2, 4, 4);
    });
    document.getElementById("numbers").replaceWith(numbers(run));
    decodeEps();
  };
  const decodeEps = () => {
    const run = current(runs);
    const eps = Array.from({length: run.code_dim}, (_, i) => state[`e${i}`] || 0).join(",");
    show("epsilon", `/api/runs/${run.id}/epsilon.png?index=${state.indices.split(",")[0]}&eps=${eps}`);
  };
  const run = current(runs);
  if (state.indices === undefined) state.indices = "0,1,2";
  for (let i = 0; i < Math.min(run.code_dim, 8); i++) epsBox.append(slider(`e${i}`, `eps ${i}`, -3, 3, 0.1, 0, decodeEps));
  const dims = Array.from({length: run.code_dim}, (_, i) => [i, `z${i}`]);
  main.append($("div", {class: "controls"}, runSelect(runs, () => draw("cloud")), select("d1", "x axis", dims, 0, update),
    select("d2", "y axis", dims, Math.min(1, run.code_dim - 1), update),
    $("label", {}, "images", $("input", {value: state.indices, size: 10, onchange: (e) => { setState("indices", e.target.value); update(); }}))),
    numbers(run), $("div", {class: "row"}, canvas, $("div", {},
      $("p", {class: "caption"}, "q(z|x) of the chosen test images (mean and one standard deviation) over the prior's 1-3 sigma circles. Below: the first image, z = mu + sigma * eps from its posterior, and z = eps from the prior."),
      view("epsilon"))), epsBox);
  update();
}

function traversalPanel(main, runs) {
  const update = async () => {
    const run = current(runs);
    show("traverse", `/api/runs/${run.id}/traverse.png?index=${state.index}&dim=${Math.min(state.dim, run.code_dim - 1)}`);
    const act = await api(`/api/runs/${run.id}/activity`);
    const values = act.kl_per_dim || act.variance_per_dim;
    document.getElementById("activity").textContent = `${act.active_units} of ${act.latent_dim} units active; ` +
      `${act.kl_per_dim ? "KL" : "variance"} per dimension: ` + values.map((v, i) => `z${i} ${num(v, 3)}`).join(", ");
    document.getElementById("numbers").replaceWith(numbers(run));
  };
  // the dimension slider spans this run's code (rebuilt when another run is chosen)
  main.append($("div", {class: "controls"}, runSelect(runs, () => draw("traversal")),
    slider("dim", "dimension", 0, Math.max(0, current(runs).code_dim - 1), 1, 0, update),
    slider("index", "test image", 0, 300, 1, 0, update)), numbers(current(runs)),
    $("p", {class: "caption", id: "activity"}), view("traverse"));
  update();
}

function prefixPanel(main, runs) {
  const update = async () => {
    const run = current(runs);
    const k = Math.min(state.k, run.code_dim);
    show("prefix", `/api/runs/${run.id}/prefix.png?index=${state.index}&k=${k}`);
    const p = await api(`/api/runs/${run.id}/prefix?index=${state.index}&k=${k}`);
    document.getElementById("prefixnum").textContent = `first ${p.k} of ${p.code_dim} units: squared error ${num(p.error, 3)}, compression ${num(p.compression, 1)}x`;
  };
  main.append($("div", {class: "controls"}, runSelect(runs, update), slider("k", "keep first k", 1, current(runs).code_dim, 1, 1, update),
    slider("index", "test image", 0, 300, 1, 0, update)), numbers(current(runs)), $("p", {class: "numbers", id: "prefixnum"}), view("prefix"));
  update();
}

function sparsePanel(main, runs) {
  const update = async () => {
    const run = current(runs);
    show("sparse", `/api/runs/${run.id}/sparse.png?index=${state.index}&k=${state.k}`);
    const s = await api(`/api/runs/${run.id}/sparse?index=${state.index}&k=${state.k}`);
    document.getElementById("sparsenum").textContent = `${s.active.length} active atoms of ${s.code_dim} (largest first: ${s.active.slice(0, 14).join(", ")}); squared error ${num(s.error, 3)}`;
  };
  main.append($("div", {class: "controls"}, runSelect(runs, update), slider("k", "top k", 1, current(runs).code_dim, 1, 8, update),
    slider("index", "test image", 0, 300, 1, 0, update)), numbers(current(runs)),
    $("p", {class: "numbers", id: "sparsenum"}), $("p", {class: "caption"}, "The input, its top-k reconstruction, then the active atoms (decoder columns), largest activation first:"), view("sparse"));
  update();
}

function denoiserPanel(main, runs) {
  const update = async () => {
    const run = current(runs);
    const q = `index=${state.index}&kind=${state.kind}&level=${state.level}&seed=0`;
    show("denoise", `/api/runs/${run.id}/denoise.png?${q}`);
    const p = await api(`/api/runs/${run.id}/denoise?${q}`);
    document.getElementById("psnr").textContent = `PSNR corrupted ${num(p.psnr_corrupted)} dB, denoised ${num(p.psnr_denoised)} dB`;
  };
  main.append($("div", {class: "controls"}, runSelect(runs, update),
    select("kind", "corruption", [["gaussian", "Gaussian"], ["salt_pepper", "salt and pepper"], ["masking", "masking"]], "gaussian", update),
    slider("level", "level", 0, 0.9, 0.05, 0.3, update), slider("index", "test image", 0, 300, 1, 0, update)),
    numbers(current(runs)), $("p", {class: "numbers", id: "psnr"}), $("p", {class: "caption"}, "Clean, corrupted, denoised:"), view("denoise"));
  update();
}

function vqPanel(main, runs) {
  const canvas = $("canvas", {width: 320, height: 320, id: "codebook"});
  const grid = $("div", {class: "tokens", id: "tokens"});
  const swapImage = () => show("swap", `/api/runs/${current(runs).id}/swap.png?index=${state.index}&position=${state.position || 0}&code=${state.code}`);
  const update = async () => {
    const run = current(runs);
    const book = await api(`/api/runs/${run.id}/codebook`);
    const xs = book.points.map((p) => p[0]), ys = book.points.map((p) => p[1]);
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, 320, 320);
    book.points.forEach((p, i) => {
      ctx.fillStyle = `rgba(46,134,193,${0.25 + 0.75 * Math.min(1, book.usage[i] * book.points.length)})`;
      const r = 2 + 14 * Math.sqrt(book.usage[i]);
      ctx.beginPath(); ctx.arc(10 + (p[0] - Math.min(...xs)) / (Math.max(...xs) - Math.min(...xs) || 1) * 300,
        310 - (p[1] - Math.min(...ys)) / (Math.max(...ys) - Math.min(...ys) || 1) * 300, r, 0, 7); ctx.fill();
    });
    const t = await api(`/api/runs/${run.id}/tokens?index=${state.index}`);
    grid.style.gridTemplateColumns = `repeat(${t.grid[1]}, 28px)`;
    grid.replaceChildren(...t.tokens.map((code, pos) => $("span", {class: String(pos) === state.position ? "on" : "",
      onclick: () => { setState("position", pos); update(); }}, code)));
    swapImage();
  };
  main.append($("div", {class: "controls"}, runSelect(runs, update), slider("index", "test image", 0, 300, 1, 0, update),
    slider("code", "swap in code", 0, current(runs).codebook_size - 1, 1, 0, swapImage)), numbers(current(runs)),
    $("div", {class: "row"}, $("div", {}, $("p", {class: "caption"}, "The codebook (PCA of its vectors); area = usage on test images."), canvas),
      $("div", {}, $("p", {class: "caption"}, "The image's token map: click a position."), grid,
        $("p", {class: "caption"}, "The image, decoded from its tokens, and with the chosen position's code swapped:"), view("swap"))));
  update();
}

function maskPanel(main, runs) {
  const update = () => show("mask", `/api/runs/${current(runs).id}/mask.png?index=${state.index}&ratio=${state.ratio}&seed=${state.seed || 0}`);
  main.append($("div", {class: "controls"}, runSelect(runs, update), slider("ratio", "mask ratio", 0, 0.95, 0.05, 0.75, update),
    slider("index", "test image", 0, 300, 1, 0, update), slider("seed", "mask seed", 0, 99, 1, 0, update)), numbers(current(runs)),
    $("p", {class: "caption"}, "The image, its visible patches (hidden ones grey), and the hidden patches filled in by the decoder:"), view("mask"));
  update();
}

function swissrollPanel(main) {
  const roll = $("canvas", {width: 360, height: 360, id: "roll"});
  const pca = $("canvas", {width: 260, height: 260, id: "pca"});
  const ae = $("canvas", {width: 260, height: 260, id: "ae"});
  let data = null;
  const colour = (t) => `hsl(${240 - 240 * (t - data.tmin) / (data.tmax - data.tmin)} 80% 45%)`;
  const plot2d = (canvas, pts, hover) => {
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, 260, 260);
    pts.forEach((p, i) => { ctx.fillStyle = i === hover ? "#000" : colour(data.t[i]);
      const r = i === hover ? 5 : 2;
      ctx.fillRect(10 + (p[0] - Math.min(...xs)) / (Math.max(...xs) - Math.min(...xs)) * 240 - r / 2,
        250 - (p[1] - Math.min(...ys)) / (Math.max(...ys) - Math.min(...ys)) * 240 - r / 2, r, r); });
  };
  const draw3d = () => {
    const a = Number(state.angle) * Math.PI / 180, ctx = roll.getContext("2d");
    ctx.clearRect(0, 0, 360, 360);
    const hover = Number(state.hover);
    data.points.forEach((p, i) => {
      const x = (p[0] - 0.5) * Math.cos(a) - (p[2] - 0.5) * Math.sin(a);
      ctx.fillStyle = i === hover ? "#000" : colour(data.t[i]);
      ctx.fillRect(180 + x * 300, 330 - p[1] * 300, i === hover ? 6 : 2, i === hover ? 6 : 2);
    });
    plot2d(pca, data.pca, hover); plot2d(ae, data.autoencoder, hover);
  };
  const hoverOn = (canvas, pts) => canvas.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect();
    const xs = pts().map((p) => p[0]), ys = pts().map((p) => p[1]);
    let best = 0, dist = Infinity;
    pts().forEach((p, i) => { const dx = 10 + (p[0] - Math.min(...xs)) / (Math.max(...xs) - Math.min(...xs)) * 240 - (e.clientX - r.left);
      const dy = 250 - (p[1] - Math.min(...ys)) / (Math.max(...ys) - Math.min(...ys)) * 240 - (e.clientY - r.top);
      if (dx * dx + dy * dy < dist) { dist = dx * dx + dy * dy; best = i; } });
    setState("hover", best); draw3d();
  });
  hoverOn(pca, () => data.pca); hoverOn(ae, () => data.autoencoder);
  main.append($("div", {class: "controls"}, slider("angle", "rotate", 0, 360, 5, 30, () => draw3d())),
    $("p", {class: "numbers", id: "trust"}),
    $("div", {class: "row"}, roll, $("div", {}, $("p", {class: "caption"}, "PCA"), pca), $("div", {}, $("p", {class: "caption"}, "autoencoder 3-2-3"), ae)),
    $("p", {class: "caption"}, "Colour: the roll's intrinsic coordinate. Hover an embedding: the point lights up in all three views."));
  api("/api/swissroll").then((d) => { data = d; data.tmin = Math.min(...d.t); data.tmax = Math.max(...d.t);
    document.getElementById("trust").textContent = `trustworthiness (10 neighbours): PCA ${num(d.pca_trustworthiness, 3)}, autoencoder ${num(d.autoencoder_trustworthiness, 3)}`;
    draw3d(); });
}

function noisePanel(main, all) {
  // opens on a generator whose steps the slider moves (a flow, DDPM), not on a one-pass map (one-step, GAN)
  const steps = (r) => (r.sampler_options[r.default_sampler] || []).includes("steps");
  const runs = [...all.filter(steps), ...all.filter((r) => !steps(r))];
  const fd = $("canvas", {width: 480, height: 280, id: "fdnfe"});
  let frames = 1, playing = null;
  const trajectoryQuery = (run) => {
    const sampler = run.samplers.includes(state.sampler) ? state.sampler : run.default_sampler;
    // only a sampler with a step count is given one (ddpm runs all T, adaptive chooses, direct is one pass)
    const steps = (run.sampler_options[sampler] || []).includes("steps") ? `&steps=${Math.max(1, Number(state.steps))}` : "";
    return `sampler=${sampler}${steps}&seed=${state.seed}`;
  };
  const when = (s) => `step ${s.index} (t = ${num(s.t, Number.isInteger(s.t) ? 0 : 2)}, ${s.nfe} NFE)`;
  const showFrame = async () => {   // the chosen step alone, with its time
    const run = current(runs), query = trajectoryQuery(run);
    show("frame", `/api/runs/${run.id}/trajectory.png?${query}&frame=${state.frame}`);
    const one = await api(`/api/runs/${run.id}/trajectory?${query}&frame=${state.frame}`);
    document.getElementById("frame-time").textContent = `Below: ${when(one.shown[0])}.`;
  };
  const play = () => {   // the step slider walks through every step, four a second
    clearInterval(playing);
    const input = document.querySelector("[data-key='frame']");
    let k = 0;
    playing = setInterval(() => {
      if (!document.body.contains(input) || k >= Math.min(frames, Number(input.max) + 1)) { clearInterval(playing); return; }
      input.value = k; input.dispatchEvent(new Event("input")); k += 1;
    }, 250);
  };
  const update = async () => {
    const run = current(runs);
    show("side", "");
    document.getElementById("sidebyside").replaceChildren(...runs.map((r) => $("div", {}, $("p", {class: "caption"}, r.name),
      $("img", {class: "view", src: `/api/runs/${r.id}/samples.png?n=8&seed=${state.seed}${r.samplers.includes("ddpm") && r.samplers[0] === "ddpm" ? "&sampler=ddim" : ""}`}))));
    const query = trajectoryQuery(run);
    show("traj", `/api/runs/${run.id}/trajectory.png?${query}`);
    showFrame();
    api(`/api/runs/${run.id}/trajectory?${query}`).then((all) => {
      frames = all.steps;
      document.getElementById("times").textContent = `${all.steps} steps; shown: ${all.shown.map(when).join(", ")}. ` +
        "t runs from 0 (noise) to 1 (data) for a flow; for DDPM it is the timestep reached (-1: the end).";
    });
    document.getElementById("numbers").replaceWith(numbers(run));
    const rows = (await api(`/api/runs/${run.id}/sweep`)).filter((r) => r.fd !== null).sort((a, b) => a.nfe - b.nfe);
    const bySampler = {};
    for (const r of rows) {
      const key = r.sampler + r.setting.replaceAll("-", " ");   // e.g. "ddim eta1": another sampler's setting
      const s = bySampler[key] || (bySampler[key] = {xs: [], ys: []});
      s.xs.push(Math.log10(r.nfe)); s.ys.push(r.fd);
    }
    if (rows.length) {
      lineChart(fd, Object.entries(bySampler).map(([name, s], i) => ({name, color: PALETTE[i % PALETTE.length], ...s})),
                "network evaluations per sample (log10)", "FD (lower is better)");
    } else {
      const ctx = fd.getContext("2d");
      ctx.clearRect(0, 0, fd.width, fd.height);
      ctx.fillText("no FD-vs-NFE points: `aeflow sweep steps RUN` or `aeflow lineage` measures them", 10, 14);
    }
  };
  const run = current(runs);
  main.append($("div", {class: "controls"}, runSelect(runs, () => draw("noise")),
    select("sampler", "sampler", run.samplers.map((s) => [s, s]), run.default_sampler, update),
    slider("steps", "steps", 1, 50, 1, 10, update), slider("frame", "step shown (past the last: the last)", 0, 49, 1, 0, showFrame),
    slider("seed", "seed", 0, 99, 1, 0, update)), numbers(run),
    $("p", {class: "caption"}, "The trajectory from one noise: x_t above, the model's clean-image estimate below, at evenly chosen steps; then the chosen step alone."),
    view("traj"), $("p", {class: "numbers", id: "times"}), button("play the steps", play), view("frame"),
    $("p", {class: "numbers", id: "frame-time"}), $("div", {class: "row"}, fd),
    $("p", {class: "caption"}, "The same seed through every generator (each with its default sampler; DDPM with DDIM here):"),
    $("div", {class: "row", id: "sidebyside"}), $("img", {id: "side", hidden: ""}));
  update();
}

function ganPanel(main, runs) {
  const canvas = $("canvas", {width: 420, height: 240, id: "duel"});
  const update = async () => {
    const run = current(runs);
    const query = `start=${state.start}&seed=${state.seed}`;
    const d = await api(`/api/runs/${run.id}/discriminator?${query}`);
    lineChart(canvas, [{name: "D(x), test images", color: "#1f77b4", xs: d.epoch, ys: d.d_real},
                       {name: "D(G(z)), fakes", color: "#d62728", xs: d.epoch, ys: d.d_fake}],
              "epoch", "discriminator output (mean)", [0, 1]);
    show("judged", `/api/runs/${run.id}/discriminator.png?${query}`);
    document.getElementById("scores").textContent =
      `D says real, test images: ${d.real_scores.map((v) => num(v)).join(" ")} · its generator's samples: ` +
      `${d.fake_scores.map((v) => num(v)).join(" ")}`;
    document.getElementById("numbers").replaceWith(numbers(run));
  };
  main.append($("div", {class: "controls"}, runSelect(runs, update), slider("start", "first test image", 0, 300, 8, 0, update),
    slider("seed", "seed", 0, 99, 1, 0, update)), numbers(current(runs)),
    $("p", {class: "caption"}, "The game over training: the discriminator's mean output on test images and on the generator's fakes after each epoch (0.5 for both: it cannot tell them apart)."),
    canvas, $("p", {class: "caption"}, "What it says now: 8 test images (top) and 8 fresh samples (bottom), each with its probability of being real:"),
    view("judged"), $("p", {class: "numbers", id: "scores"}));
  update();
}

function pipelinePanel(main, runs) {
  const update = async () => {
    const run = current(runs);
    const p = await api(`/api/runs/${run.id}/pipeline`);
    document.getElementById("shapes").textContent = `noise latent ${p.noise.join("x")} -> denoised latent ${p.latent.join("x")} -> decoded image ${p.image.join("x")} by the frozen ${p.autoencoder}: the generator walks ${num(p.compression, 0)}x fewer numbers than pixels`;
    show("pipe", `/api/runs/${run.id}/pipeline.png?seed=${state.seed}&steps=${state.steps}`);
    document.getElementById("numbers").replaceWith(numbers(run));
  };
  main.append($("div", {class: "controls"}, runSelect(runs, update), slider("seed", "seed", 0, 99, 1, 0, update),
    slider("steps", "steps", 1, 50, 1, 10, update)), numbers(current(runs)), $("p", {class: "numbers", id: "shapes"}),
    $("p", {class: "caption"}, "The noise latent and the denoised latent (one grey bar per dimension), then the decoded image:"), view("pipe"));
  update();
}

function draw(key) {
  drawing += 1;
  const panel = PANELS.find((p) => p.key === key) || PANELS[0];
  if (shown !== panel.key) { views[shown] = state; state = views[panel.key] || {}; shown = panel.key; }
  save();
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("on", a.dataset.key === panel.key));
  const main = document.getElementById("panel");
  main.replaceChildren($("h2", {}, panel.title));
  const runs = RUNS.filter(panel.needs);
  if (runs.length < (panel.min || 1)) {
    main.append($("p", {class: "hint"}, `No run here supports this panel. Train one with: ${panel.hint}`));
    return;
  }
  panel.draw(main, runs);
}

async function start() {
  const all = await api("/api/runs");
  RUNS = all.filter((r) => !r.problem);   // a run that cannot be read is listed with its reason, its panels off
  const broken = all.filter((r) => r.problem);
  document.getElementById("found").textContent = `${RUNS.length} runs: ` +
    Object.entries(RUNS.reduce((acc, r) => ({...acc, [r.family]: (acc[r.family] || 0) + 1}), {})).map(([f, n]) => `${f} ${n}`).join(", ") +
    (broken.length ? `; ${broken.length} could not be read:` : "");
  document.getElementById("broken").replaceChildren(...broken.map((r) => $("li", {}, `${r.name}: ${r.problem}`)));
  document.getElementById("nav").replaceChildren(...PANELS.map((p) => $("a", {href: "#", "data-key": p.key,
    class: RUNS.filter(p.needs).length >= (p.min || 1) ? "" : "off", onclick: (e) => { e.preventDefault(); draw(p.key); }}, p.title)));
  if (!PANELS.some((p) => p.key === shown)) shown = PANELS[0].key;   // a link without a (known) panel: the first
  draw(shown);
}
// A pasted or edited link opens its panel (the controls' own hash updates keep the panel, and are ignored).
window.addEventListener("hashchange", () => {
  const {panel, ...view} = fromHash();
  if (panel && panel !== shown) { views[panel] = view; draw(panel); }
});
start().catch((e) => { document.getElementById("found").textContent = `the explorer could not start: ${e.message}`; });
