// Saving: every change is saved the moment it is made, one save after another, so a box moved
// while it is still being created is moved once it has its id. The server's answer is the truth:
// the box is redrawn from it, and put back as it was when the server refuses the change.

import { boxUrl, request } from "./api.js";
import { removeLocal, render, setBoxes } from "./drawing.js";
import { config, labelNames, state } from "./editor.js";
import { rectOf } from "./geometry.js";

const saveState = document.getElementById("save-state");
const saving = { queue: Promise.resolve(), pending: 0, lastError: "", notice: "" };

function showState() {
  if (saving.pending > 0) {
    saveState.dataset.state = "saving";
    saveState.textContent = "Saving…";
  } else if (saving.lastError) {
    saveState.dataset.state = "error";
    saveState.textContent = saving.lastError;
  } else {
    saveState.dataset.state = "saved";
    saveState.textContent = saving.notice || "All changes saved";
  }
}

function save(task) {
  saving.pending += 1;
  saving.lastError = "";
  saving.notice = "";
  showState();
  saving.queue = saving.queue
    .then(task)
    .catch((error) => {
      saving.lastError = error.message;
    })
    .then(() => {
      saving.pending -= 1;
      showState();
    });
  return saving.queue;
}

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
  if (state.boxes.includes(box)) render();
}

export function saveNew(box) {
  save(async () => {
    try {
      apply(box, await request(config.urls.boxes, { body: { label: box.label, ...rectOf(box) } }));
    } catch (error) {
      removeLocal(box);
      throw error;
    }
  });
}

export function saveChange(box, before, changes) {
  save(async () => {
    if (box.id == null) return; // it was never created: that error has been shown
    try {
      apply(box, await request(boxUrl(config.urls.box, box), { body: changes }));
    } catch (error) {
      Object.assign(box, before);
      if (state.boxes.includes(box)) render();
      throw error;
    }
  });
}

export function deleteBox(box) {
  const index = state.boxes.indexOf(box);
  removeLocal(box);
  save(async () => {
    if (box.id == null) return;
    try {
      await request(boxUrl(config.urls.box_delete, box), {});
    } catch (error) {
      state.boxes.splice(Math.min(index, state.boxes.length), 0, box);
      render();
      throw error;
    }
  });
}

export function relabel(box, labelId) {
  if (box.label === labelId) return;
  const before = { ...rectOf(box), label: box.label, label_name: box.label_name };
  box.label = labelId;
  box.label_name = labelNames.get(labelId);
  render();
  saveChange(box, before, { label: labelId });
}

export function undo() {
  save(async () => {
    // The undo view answers JSON, {undone: what was undone or null}, to a request that accepts it.
    const { undone } = await request(config.urls.undo);
    const payload = await request(config.urls.boxes, { method: "GET" });
    setBoxes(payload.boxes);
    saving.notice = undone ? `Undone: ${undone}.` : "There is nothing to undo.";
  });
}

// Leaving waits for the saves under way, and stays put if one of them failed, to show why.
export function holdNavigationWhileSaving(forms) {
  for (const form of forms) {
    form.addEventListener("submit", (event) => {
      if (saving.pending === 0) return;
      event.preventDefault();
      const submitter = event.submitter;
      saving.queue.then(() => {
        if (!saving.lastError) form.requestSubmit(submitter);
      });
    });
  }
  window.addEventListener("beforeunload", (event) => {
    if (saving.pending > 0) event.preventDefault();
  });
}
