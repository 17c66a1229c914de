// The bounding-box editor of labeling mode (spec §6.5), templates/datasets/box_editor.html.
//
// Boxes are kept in image pixels, as the server stores them. The stage is the image drawn at
// `scale` screen pixels per image pixel, and boxes sit on it in percentages, so zooming moves
// nothing. Every change is saved the moment it is made; saves run one after another, so a box
// moved while it is still being created is moved once it has its id. The server's answer is the
// truth: the box is redrawn from it, and put back as it was when the server refuses the change.

const root = document.getElementById("box-editor");
const config = JSON.parse(document.getElementById("box-editor-data").textContent);
const canvas = document.getElementById("editor-canvas");
const stage = document.getElementById("editor-stage");
const overlay = document.getElementById("editor-overlay");
const image = stage.querySelector("img");
const saveState = document.getElementById("save-state");
const zoomLevel = document.getElementById("zoom-level");
const boxList = document.getElementById("box-list");
const boxListEmpty = document.getElementById("box-list-empty");
const shortcuts = document.getElementById("editor-shortcuts");
const radios = [...root.querySelectorAll('input[name="box-label"]')];

const W = config.image.width || 0;
const H = config.image.height || 0;
const canDraw = W > 0 && H > 0;
const MIN_SCALE = 0.05;
const MAX_SCALE = 16;
const ZOOM_STEP = 1.25;
const CANVAS_PADDING = 16; // .editor-canvas padding, in screen pixels
const DRAG_THRESHOLD = 3; // screen pixels a press must travel before it draws or moves
const CORNERS = ["nw", "ne", "sw", "se"];

const labelColors = new Map(
  radios.map((radio) => [
    Number(radio.value),
    getComputedStyle(radio.closest(".label-choice")).getPropertyValue("--c").trim(),
  ]),
);
const labelNames = new Map(config.labels.map((label) => [label.id, label.name]));

let boxes = [];
let selected = null;
let drag = null;
let scale = 1;
let fitting = true;
const elements = new WeakMap(); // box element → box

// --- geometry ---------------------------------------------------------------------------------

const clamp = (value, low, high) => Math.min(Math.max(value, low), high);

function pointerToImage(event, { inside = true } = {}) {
  const rect = stage.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * W) / rect.width;
  const y = ((event.clientY - rect.top) * H) / rect.height;
  return inside ? { x: clamp(x, 0, W), y: clamp(y, 0, H) } : { x, y };
}

function rectBetween(a, b) {
  return { left: Math.min(a.x, b.x), top: Math.min(a.y, b.y), width: Math.abs(a.x - b.x), height: Math.abs(a.y - b.y) };
}

function rectOf(box) {
  return { left: box.left, top: box.top, width: box.width, height: box.height };
}

// Whole image pixels, rounding the edges as the server does, so a box keeps its right edge.
function rounded(rect) {
  const left = Math.round(rect.left);
  const top = Math.round(rect.top);
  return {
    left,
    top,
    width: Math.round(rect.left + rect.width) - left,
    height: Math.round(rect.top + rect.height) - top,
  };
}

function sameRect(a, b) {
  return a.left === b.left && a.top === b.top && a.width === b.width && a.height === b.height;
}

// --- drawing ----------------------------------------------------------------------------------

function boxElement(box) {
  const el = document.createElement("div");
  el.className = "bbox";
  const tag = document.createElement("span");
  tag.className = "bbox-tag";
  el.append(tag);
  for (const corner of CORNERS) {
    const handle = document.createElement("div");
    handle.className = "handle";
    handle.dataset.corner = corner;
    el.append(handle);
  }
  elements.set(el, box);
  return el;
}

function place(box) {
  box.el ??= boxElement(box);
  const el = box.el;
  if (!el.isConnected) overlay.append(el);
  el.style.left = `${(box.left / W) * 100}%`;
  el.style.top = `${(box.top / H) * 100}%`;
  el.style.width = `${(box.width / W) * 100}%`;
  el.style.height = `${(box.height / H) * 100}%`;
  const color = labelColors.get(box.label);
  if (color) el.style.setProperty("--c", color);
  el.querySelector(".bbox-tag").textContent = box.label_name;
  el.classList.toggle("selected", box === selected);
  el.classList.toggle("pending", box.id == null);
  // Near the top edge the name goes inside the box, where it can be seen.
  el.classList.toggle("at-top", box.top * scale < 20);
}

function renderList() {
  const focused = [...boxList.querySelectorAll("button")].indexOf(document.activeElement);
  boxList.replaceChildren(
    ...boxes.map((box) => {
      const button = document.createElement("button");
      button.type = "button";
      button.setAttribute("aria-pressed", String(box === selected));
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.setAttribute("aria-hidden", "true");
      const color = labelColors.get(box.label);
      if (color) swatch.style.setProperty("--c", color);
      const dims = document.createElement("span");
      dims.className = "dims";
      dims.textContent = `${box.width}×${box.height} at ${box.left}, ${box.top}`;
      button.append(swatch, box.label_name, dims);
      button.addEventListener("click", () => select(box));
      const item = document.createElement("li");
      item.append(button);
      return item;
    }),
  );
  boxListEmpty.hidden = boxes.length > 0;
  // The list is redrawn on every change; keep the keyboard where it was.
  const buttons = boxList.querySelectorAll("button");
  if (focused >= 0 && buttons.length) buttons[Math.min(focused, buttons.length - 1)].focus();
}

function render() {
  for (const box of boxes) place(box);
  renderList();
}

function select(box) {
  selected = box;
  render();
}

function removeLocal(box) {
  boxes = boxes.filter((other) => other !== box);
  box.el?.remove();
  if (selected === box) selected = null;
  render();
}

function setBoxes(list) {
  const selectedId = selected?.id;
  overlay.replaceChildren();
  boxes = list.map((box) => ({ ...box }));
  selected = boxes.find((box) => box.id === selectedId) ?? null;
  render();
}

// --- saving -----------------------------------------------------------------------------------

let queue = Promise.resolve();
let pending = 0;
let lastError = "";
let notice = "";

function showState() {
  if (pending > 0) {
    saveState.dataset.state = "saving";
    saveState.textContent = "Saving…";
  } else if (lastError) {
    saveState.dataset.state = "error";
    saveState.textContent = lastError;
  } else {
    saveState.dataset.state = "saved";
    saveState.textContent = notice || "All changes saved";
  }
}

function save(task) {
  pending += 1;
  lastError = "";
  notice = "";
  showState();
  queue = queue
    .then(task)
    .catch((error) => {
      lastError = error.message;
    })
    .then(() => {
      pending -= 1;
      showState();
    });
  return queue;
}

function csrfToken() {
  try {
    const token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
    if (token) return token;
  } catch {
    // Fall back to the cookie below.
  }
  const cookie = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}

async function request(url, { body, method = "POST" } = {}) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        ...(method === "POST" ? { "Content-Type": "application/json", "X-CSRFToken": csrfToken() } : {}),
      },
      body: method === "POST" ? JSON.stringify(body ?? {}) : undefined,
    });
  } catch {
    throw new Error("The change could not be saved: the server could not be reached.");
  }
  const isJson = (response.headers.get("Content-Type") || "").startsWith("application/json");
  const payload = isJson ? await response.json() : null;
  if (!response.ok || payload === null) {
    throw new Error(
      payload?.error ?? `The change could not be saved (HTTP ${response.status}). Reload the page and try again.`,
    );
  }
  return payload;
}

const boxUrl = (template, box) => template.replace("{id}", String(box.id));

function apply(box, saved) {
  Object.assign(box, {
    id: saved.id,
    label: saved.label,
    label_name: saved.label_name,
    left: saved.left,
    top: saved.top,
    width: saved.width,
    height: saved.height,
  });
  if (boxes.includes(box)) render();
}

function saveNew(box) {
  save(async () => {
    try {
      apply(box, await request(config.urls.boxes, { body: { label: box.label, ...rectOf(box) } }));
    } catch (error) {
      removeLocal(box);
      throw error;
    }
  });
}

function saveChange(box, before, changes) {
  save(async () => {
    if (box.id == null) return; // it was never created: that error has been shown
    try {
      apply(box, await request(boxUrl(config.urls.box, box), { body: changes }));
    } catch (error) {
      Object.assign(box, before);
      if (boxes.includes(box)) render();
      throw error;
    }
  });
}

function deleteBox(box) {
  const index = boxes.indexOf(box);
  removeLocal(box);
  save(async () => {
    if (box.id == null) return;
    try {
      await request(boxUrl(config.urls.box_delete, box), {});
    } catch (error) {
      boxes.splice(Math.min(index, boxes.length), 0, box);
      render();
      throw error;
    }
  });
}

function relabel(box, labelId) {
  if (box.label === labelId) return;
  const before = { ...rectOf(box), label: box.label, label_name: box.label_name };
  box.label = labelId;
  box.label_name = labelNames.get(labelId);
  render();
  saveChange(box, before, { label: labelId });
}

async function reloadBoxes() {
  const payload = await request(config.urls.boxes, { method: "GET" });
  setBoxes(payload.boxes);
}

function undo() {
  save(async () => {
    let response;
    try {
      response = await fetch(config.urls.undo, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
    } catch {
      throw new Error("Undo failed: the server could not be reached.");
    }
    if (!response.ok) throw new Error(`Undo failed (HTTP ${response.status}). Reload the page and try again.`);
    const { undone } = await response.json();
    await reloadBoxes();
    notice = undone ? `Undone: ${undone}.` : "There is nothing to undo.";
  });
}

// --- pointer: draw, select, move, resize ------------------------------------------------------

function currentLabel() {
  const checked = radios.find((radio) => radio.checked);
  return checked ? Number(checked.value) : null;
}

stage.addEventListener("pointerdown", (event) => {
  if (!canDraw || event.button !== 0 || drag) return;
  const el = event.target.closest(".bbox");
  const box = el ? elements.get(el) : null;
  const start = pointerToImage(event);
  const common = { pointerId: event.pointerId, start, screen: { x: event.clientX, y: event.clientY }, moved: false };
  if (box) {
    select(box);
    const corner = event.target.closest(".handle")?.dataset.corner;
    drag = { ...common, mode: corner ? "resize" : "move", corner, box, before: rectOf(box) };
  } else {
    select(null);
    const label = currentLabel();
    if (label == null) return;
    drag = { ...common, mode: "draw", label, box: null };
  }
  stage.setPointerCapture(event.pointerId);
  event.preventDefault();
});

stage.addEventListener("pointermove", (event) => {
  if (!drag || event.pointerId !== drag.pointerId) return;
  if (!drag.moved) {
    if (Math.hypot(event.clientX - drag.screen.x, event.clientY - drag.screen.y) < DRAG_THRESHOLD) return;
    drag.moved = true;
    if (drag.mode === "draw") {
      drag.box = { id: null, label: drag.label, label_name: labelNames.get(drag.label), ...rectBetween(drag.start, drag.start) };
      place(drag.box);
      drag.box.el.classList.add("draft");
    }
  }
  const { box, before, start } = drag;
  if (drag.mode === "draw") {
    Object.assign(box, rectBetween(start, pointerToImage(event)));
  } else if (drag.mode === "move") {
    const point = pointerToImage(event, { inside: false });
    Object.assign(box, {
      left: clamp(before.left + point.x - start.x, 0, W - before.width),
      top: clamp(before.top + point.y - start.y, 0, H - before.height),
    });
  } else {
    // The corner across from the one dragged stays where it is.
    const fixed = {
      x: drag.corner.endsWith("w") ? before.left + before.width : before.left,
      y: drag.corner.startsWith("n") ? before.top + before.height : before.top,
    };
    Object.assign(box, rectBetween(fixed, pointerToImage(event)));
  }
  place(box);
});

function endDrag(event) {
  if (!drag || event.pointerId !== drag.pointerId) return;
  const { mode, box, before, moved } = drag;
  drag = null;
  if (!moved) return; // a click: it only selected or deselected
  const rect = rounded(box);
  if (mode === "draw") {
    box.el.classList.remove("draft");
    Object.assign(box, rect);
    boxes.push(box);
    render();
    saveNew(box);
  } else if (sameRect(rect, before)) {
    Object.assign(box, before);
    render();
  } else {
    Object.assign(box, rect);
    render();
    saveChange(box, { ...before }, rect);
  }
}

function cancelDrag() {
  if (!drag) return;
  const { mode, box, before, pointerId } = drag;
  drag = null;
  if (stage.hasPointerCapture(pointerId)) stage.releasePointerCapture(pointerId);
  if (mode === "draw") box?.el.remove();
  else Object.assign(box, before);
  render();
}

stage.addEventListener("pointerup", endDrag);
stage.addEventListener("pointercancel", cancelDrag);
canvas.addEventListener("pointerdown", (event) => {
  if (event.target === canvas) select(null);
});

// --- zoom -------------------------------------------------------------------------------------

function fitScale() {
  const width = canvas.clientWidth - 2 * CANVAS_PADDING;
  const height = canvas.clientHeight - 2 * CANVAS_PADDING;
  return clamp(Math.min(width / W, height / H), MIN_SCALE, MAX_SCALE);
}

function setScale(next) {
  scale = clamp(next, MIN_SCALE, MAX_SCALE);
  stage.style.width = `${W * scale}px`;
  stage.style.height = `${H * scale}px`;
  zoomLevel.value = `${Math.round(scale * 100)}%`;
  render();
}

// Zoom keeping the image point under (clientX, clientY) where it is on the screen.
function zoomAt(next, clientX, clientY) {
  const point = pointerToImage({ clientX, clientY }, { inside: false });
  fitting = false;
  setScale(next);
  const rect = stage.getBoundingClientRect();
  canvas.scrollLeft += rect.left + point.x * scale - clientX;
  canvas.scrollTop += rect.top + point.y * scale - clientY;
}

function zoomAtCentre(next) {
  const rect = canvas.getBoundingClientRect();
  zoomAt(next, rect.left + rect.width / 2, rect.top + rect.height / 2);
}

function fit() {
  fitting = true;
  setScale(fitScale());
}

root.querySelector('[data-zoom="in"]').addEventListener("click", () => zoomAtCentre(scale * ZOOM_STEP));
root.querySelector('[data-zoom="out"]').addEventListener("click", () => zoomAtCentre(scale / ZOOM_STEP));
root.querySelector('[data-zoom="fit"]').addEventListener("click", fit);
canvas.addEventListener(
  "wheel",
  (event) => {
    if (!event.ctrlKey && !event.metaKey) return;
    event.preventDefault();
    // Lines (Firefox) and pages to pixels; a pinch on a touchpad sends small steps, a wheel notch about 100.
    const pixels = event.deltaY * [1, 33, 400][event.deltaMode];
    zoomAt(scale * Math.exp(-clamp(pixels, -200, 200) / 500), event.clientX, event.clientY);
  },
  { passive: false },
);
if (canDraw) {
  new ResizeObserver(() => {
    if (fitting) fit();
  }).observe(canvas);
}

// --- keyboard, labels, navigation -------------------------------------------------------------

const navButton = (which) => root.querySelector(`[data-nav="${which}"]`);

function goTo(which) {
  const button = navButton(which);
  if (button && !button.disabled) button.form.requestSubmit(button);
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  const target = event.target;
  if (target.closest?.('input:not([type="radio"]), textarea, select, [contenteditable]')) return;
  const onRadio = target.matches?.('input[type="radio"]');
  if (/^[1-9]$/.test(event.key)) {
    const radio = radios[Number(event.key) - 1];
    if (!radio) return;
    event.preventDefault();
    if (selected) relabel(selected, Number(radio.value));
    else radio.checked = true;
  } else if (event.key === "Delete" || event.key === "Backspace") {
    if (!selected) return;
    event.preventDefault();
    deleteBox(selected);
  } else if (event.key === "Escape") {
    if (drag) cancelDrag();
    else select(null);
  } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
    if (selected || onRadio) return;
    event.preventDefault();
    goTo(event.key === "ArrowLeft" ? "prev" : "next");
  } else if (event.key === "?") {
    event.preventDefault();
    shortcuts.togglePopover();
  }
});

for (const radio of radios) {
  radio.addEventListener("change", () => {
    if (selected && radio.checked) relabel(selected, Number(radio.value));
  });
}

root.querySelector("[data-undo]").addEventListener("click", undo);

// Leaving waits for the saves under way, and stays put if one of them failed, to show why.
for (const form of root.querySelectorAll("form[data-navigation]")) {
  form.addEventListener("submit", (event) => {
    if (pending === 0) return;
    event.preventDefault();
    const submitter = event.submitter;
    queue.then(() => {
      if (!lastError) form.requestSubmit(submitter);
    });
  });
}
window.addEventListener("beforeunload", (event) => {
  if (pending > 0) event.preventDefault();
});

function imageFailed() {
  const message = document.createElement("p");
  message.className = "editor-message";
  message.setAttribute("role", "alert");
  message.textContent = "The image could not be loaded from S3. Its boxes are shown on a blank area.";
  canvas.append(message);
}

if (image) {
  image.addEventListener("error", imageFailed);
  if (image.complete && image.naturalWidth === 0 && image.currentSrc) imageFailed();
}

setBoxes(config.boxes);
