// The editor's page elements, its configuration from the server, and the state its modules share.

import { pointInImage } from "./geometry.js";

export const root = document.getElementById("box-editor");
export const config = JSON.parse(document.getElementById("box-editor-data").textContent);
export const canvas = document.getElementById("editor-canvas");
export const stage = document.getElementById("editor-stage");
export const overlay = document.getElementById("editor-overlay");
export const image = stage.querySelector("img");
export const radios = [...root.querySelectorAll('input[name="box-label"]')];

export const W = config.image.width || 0;
export const H = config.image.height || 0;
export const canDraw = W > 0 && H > 0;

export const labelColors = new Map(
  radios.map((radio) => [
    Number(radio.value),
    getComputedStyle(radio.closest(".label-choice")).getPropertyValue("--c").trim(),
  ]),
);
export const labelNames = new Map(config.labels.map((label) => [label.id, label.name]));

// `scale` is screen pixels per image pixel; `fitting` while the image follows the window's size.
export const state = { boxes: [], selected: null, drag: null, scale: 1, fitting: true };

export function pointerToImage(event, options) {
  return pointInImage(event, stage.getBoundingClientRect(), W, H, options);
}
