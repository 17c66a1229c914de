// The pointer on the stage: draw a box with the chosen label, select, move, resize by a corner.

import { boxOfElement, place, render, select } from "./drawing.js";
import { H, W, canDraw, canvas, labelNames, pointerToImage, radios, stage, state } from "./editor.js";
import { clamp, rectBetween, rectOf, rounded, sameRect } from "./geometry.js";
import { saveChange, saveNew } from "./saving.js";

const DRAG_THRESHOLD = 3; // screen pixels a press must travel before it draws or moves

function currentLabel() {
  const checked = radios.find((radio) => radio.checked);
  return checked ? Number(checked.value) : null;
}

function startDrag(event) {
  if (!canDraw || event.button !== 0 || state.drag) return;
  const el = event.target.closest(".bbox");
  const box = el ? boxOfElement(el) : null;
  const start = pointerToImage(event);
  const common = { pointerId: event.pointerId, start, screen: { x: event.clientX, y: event.clientY }, moved: false };
  if (box) {
    select(box);
    const corner = event.target.closest(".handle")?.dataset.corner;
    state.drag = { ...common, mode: corner ? "resize" : "move", corner, box, before: rectOf(box) };
  } else {
    select(null);
    const label = currentLabel();
    if (label == null) return;
    state.drag = { ...common, mode: "draw", label, box: null };
  }
  stage.setPointerCapture(event.pointerId);
  event.preventDefault();
}

function moveDrag(event) {
  const drag = state.drag;
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
}

function endDrag(event) {
  if (!state.drag || event.pointerId !== state.drag.pointerId) return;
  const { mode, box, before, moved } = state.drag;
  state.drag = null;
  if (!moved) return; // a click: it only selected or deselected
  const rect = rounded(box);
  if (mode === "draw") {
    box.el.classList.remove("draft");
    Object.assign(box, rect);
    state.boxes.push(box);
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

export function cancelDrag() {
  if (!state.drag) return;
  const { mode, box, before, pointerId } = state.drag;
  state.drag = null;
  if (stage.hasPointerCapture(pointerId)) stage.releasePointerCapture(pointerId);
  if (mode === "draw") box?.el.remove();
  else Object.assign(box, before);
  render();
}

export function installPointer() {
  stage.addEventListener("pointerdown", startDrag);
  stage.addEventListener("pointermove", moveDrag);
  stage.addEventListener("pointerup", endDrag);
  stage.addEventListener("pointercancel", cancelDrag);
  canvas.addEventListener("pointerdown", (event) => {
    if (event.target === canvas) select(null);
  });
}
