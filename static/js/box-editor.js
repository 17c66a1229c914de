// The bounding-box editor of labeling mode (spec §6.5), templates/datasets/box_editor.html.
//
// Boxes are kept in image pixels, as the server stores them. The stage is the image drawn at
// `scale` screen pixels per image pixel, and boxes sit on it in percentages, so zooming moves
// nothing. The modules it imports: box-editor/editor.js (page elements and shared state),
// geometry.js, drawing.js, api.js, saving.js (each change saved at once, in order), pointer.js, zoom.js.

import { select, setBoxes } from "./box-editor/drawing.js";
import { canvas, config, image, radios, root, state } from "./box-editor/editor.js";
import { cancelDrag, installPointer } from "./box-editor/pointer.js";
import { deleteBox, holdNavigationWhileSaving, relabel, undo } from "./box-editor/saving.js";
import { installZoom } from "./box-editor/zoom.js";

const shortcuts = document.getElementById("editor-shortcuts");
const navButton = (which) => root.querySelector(`[data-nav="${which}"]`);

function goTo(which) {
  const button = navButton(which);
  if (button && !button.disabled) button.form.requestSubmit(button);
}

function onKey(event) {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  const target = event.target;
  if (target.closest?.('input:not([type="radio"]), textarea, select, [contenteditable]')) return;
  const onRadio = target.matches?.('input[type="radio"]');
  const { selected } = state;
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
    if (state.drag) cancelDrag();
    else select(null);
  } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
    if (selected || onRadio) return;
    event.preventDefault();
    goTo(event.key === "ArrowLeft" ? "prev" : "next");
  } else if (event.key === "?") {
    event.preventDefault();
    shortcuts.togglePopover();
  }
}

function imageFailed() {
  const message = document.createElement("p");
  message.className = "editor-message";
  message.setAttribute("role", "alert");
  message.textContent = "The image could not be loaded from S3. Its boxes are shown on a blank area.";
  canvas.append(message);
}

installPointer();
installZoom();
document.addEventListener("keydown", onKey);
for (const radio of radios) {
  radio.addEventListener("change", () => {
    if (state.selected && radio.checked) relabel(state.selected, Number(radio.value));
  });
}
root.querySelector("[data-undo]").addEventListener("click", undo);
holdNavigationWhileSaving(root.querySelectorAll("form[data-navigation]"));

if (image) {
  image.addEventListener("error", imageFailed);
  if (image.complete && image.naturalWidth === 0 && image.currentSrc) imageFailed();
}

setBoxes(config.boxes);
