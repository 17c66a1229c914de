// Rectangles in image pixels: pure functions, no DOM.

export const clamp = (value, low, high) => Math.min(Math.max(value, low), high);

// The image point under a screen point, for an image of width × height drawn in `rect`
// (clamped inside the image unless `inside` is false).
export function pointInImage({ clientX, clientY }, rect, width, height, { inside = true } = {}) {
  const x = ((clientX - rect.left) * width) / rect.width;
  const y = ((clientY - rect.top) * height) / rect.height;
  return inside ? { x: clamp(x, 0, width), y: clamp(y, 0, height) } : { x, y };
}

export function rectBetween(a, b) {
  return { left: Math.min(a.x, b.x), top: Math.min(a.y, b.y), width: Math.abs(a.x - b.x), height: Math.abs(a.y - b.y) };
}

export function rectOf(box) {
  return { left: box.left, top: box.top, width: box.width, height: box.height };
}

// Whole image pixels, rounding the edges as the server does, so a box keeps its right edge.
export function rounded(rect) {
  const left = Math.round(rect.left);
  const top = Math.round(rect.top);
  return {
    left,
    top,
    width: Math.round(rect.left + rect.width) - left,
    height: Math.round(rect.top + rect.height) - top,
  };
}

export function sameRect(a, b) {
  return a.left === b.left && a.top === b.top && a.width === b.width && a.height === b.height;
}
