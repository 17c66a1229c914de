// Drawing the boxes: on the stage over the image, and in the list beside the label choices.

import { H, W, labelColors, overlay, state } from "./editor.js";

const boxList = document.getElementById("box-list");
const boxListEmpty = document.getElementById("box-list-empty");
const CORNERS = ["nw", "ne", "sw", "se"];
const elements = new WeakMap(); // box element → box

export const boxOfElement = (el) => elements.get(el);

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

export function place(box) {
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
  el.classList.toggle("selected", box === state.selected);
  el.classList.toggle("pending", box.id == null);
  // Near the top edge the name goes inside the box, where it can be seen.
  el.classList.toggle("at-top", box.top * state.scale < 20);
}

function renderList() {
  const focused = [...boxList.querySelectorAll("button")].indexOf(document.activeElement);
  boxList.replaceChildren(
    ...state.boxes.map((box) => {
      const button = document.createElement("button");
      button.type = "button";
      button.setAttribute("aria-pressed", String(box === state.selected));
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
  boxListEmpty.hidden = state.boxes.length > 0;
  // The list is redrawn on every change; keep the keyboard where it was.
  const buttons = boxList.querySelectorAll("button");
  if (focused >= 0 && buttons.length) buttons[Math.min(focused, buttons.length - 1)].focus();
}

export function render() {
  for (const box of state.boxes) place(box);
  renderList();
}

export function select(box) {
  state.selected = box;
  render();
}

export function removeLocal(box) {
  state.boxes = state.boxes.filter((other) => other !== box);
  box.el?.remove();
  if (state.selected === box) state.selected = null;
  render();
}

export function setBoxes(list) {
  const selectedId = state.selected?.id;
  overlay.replaceChildren();
  state.boxes = list.map((box) => ({ ...box }));
  state.selected = state.boxes.find((box) => box.id === selectedId) ?? null;
  render();
}
