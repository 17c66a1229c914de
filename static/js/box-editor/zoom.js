// Zoom: the buttons, Ctrl or ⌘ with the wheel or a pinch, and fit-to-window while the window resizes.

import { render } from "./drawing.js";
import { H, W, canDraw, canvas, pointerToImage, root, stage, state } from "./editor.js";
import { clamp } from "./geometry.js";

const zoomLevel = document.getElementById("zoom-level");
const MIN_SCALE = 0.05;
const MAX_SCALE = 16;
const ZOOM_STEP = 1.25;
const CANVAS_PADDING = 16; // .editor-canvas padding, in screen pixels

function fitScale() {
  const width = canvas.clientWidth - 2 * CANVAS_PADDING;
  const height = canvas.clientHeight - 2 * CANVAS_PADDING;
  return clamp(Math.min(width / W, height / H), MIN_SCALE, MAX_SCALE);
}

function setScale(next) {
  state.scale = clamp(next, MIN_SCALE, MAX_SCALE);
  stage.style.width = `${W * state.scale}px`;
  stage.style.height = `${H * state.scale}px`;
  zoomLevel.value = `${Math.round(state.scale * 100)}%`;
  render();
}

// Zoom keeping the image point under (clientX, clientY) where it is on the screen.
function zoomAt(next, clientX, clientY) {
  const point = pointerToImage({ clientX, clientY }, { inside: false });
  state.fitting = false;
  setScale(next);
  const rect = stage.getBoundingClientRect();
  canvas.scrollLeft += rect.left + point.x * state.scale - clientX;
  canvas.scrollTop += rect.top + point.y * state.scale - clientY;
}

function zoomAtCentre(next) {
  const rect = canvas.getBoundingClientRect();
  zoomAt(next, rect.left + rect.width / 2, rect.top + rect.height / 2);
}

function fit() {
  state.fitting = true;
  setScale(fitScale());
}

export function installZoom() {
  root.querySelector('[data-zoom="in"]').addEventListener("click", () => zoomAtCentre(state.scale * ZOOM_STEP));
  root.querySelector('[data-zoom="out"]').addEventListener("click", () => zoomAtCentre(state.scale / ZOOM_STEP));
  root.querySelector('[data-zoom="fit"]').addEventListener("click", fit);
  canvas.addEventListener(
    "wheel",
    (event) => {
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      // Lines (Firefox) and pages to pixels; a pinch on a touchpad sends small steps, a wheel notch about 100.
      const pixels = event.deltaY * [1, 33, 400][event.deltaMode];
      zoomAt(state.scale * Math.exp(-clamp(pixels, -200, 200) / 500), event.clientX, event.clientY);
    },
    { passive: false },
  );
  if (canDraw) {
    new ResizeObserver(() => {
      if (state.fitting) fit();
    }).observe(canvas);
  }
}
