// Labeling mode of the gallery: selection (click, shift-click ranges, select all), the label
// dialogs, keyboard shortcuts. The gallery is re-rendered by htmx after each change, so every
// handler is delegated from the document and state is read back from the DOM.

let lastClicked = null;

const gallery = () => document.getElementById("gallery");
const boxes = () => [...document.querySelectorAll("#selection-form .select-image")];
const cards = () => [...document.querySelectorAll("#selection-form .card")];

function updateSelection() {
  const all = boxes();
  const checked = all.filter((b) => b.checked);
  const allMatching = document.getElementById("all-matching");
  const matching = Number(document.getElementById("selection-form")?.dataset.matching || 0);
  const count = document.getElementById("selected-count");
  const selectPage = document.getElementById("select-page");
  const selectMatching = document.getElementById("select-matching");
  const banner = document.getElementById("matching-banner");
  for (const box of all) box.closest(".card").classList.toggle("selected", box.checked);
  const everyOnPage = all.length > 0 && checked.length === all.length;
  // Selecting every matching image is a step beyond the whole page: any image deselected ends it.
  if (allMatching && allMatching.value === "1" && !everyOnPage) allMatching.value = "";
  const isAllMatching = allMatching && allMatching.value === "1";
  if (count) count.textContent = `${isAllMatching ? matching.toLocaleString() : checked.length} selected`;
  if (selectPage) selectPage.checked = everyOnPage;
  if (selectMatching) selectMatching.hidden = !everyOnPage || isAllMatching || matching <= all.length;
  if (banner) banner.hidden = !isAllMatching;
  const draw = document.getElementById("draw-boxes");
  if (draw) {
    const ids = checked.map((b) => b.value).join(",");
    draw.href = ids ? `${draw.dataset.href}?images=${ids}` : draw.dataset.href;
  }
}

function setRange(from, to, value) {
  const all = boxes();
  const [a, b] = [all.indexOf(from), all.indexOf(to)].sort((x, y) => x - y);
  if (a < 0) return;
  for (let i = a; i <= b; i++) all[i].checked = value;
}

function toggle(box, shiftKey) {
  if (shiftKey && lastClicked && lastClicked !== box && document.contains(lastClicked)) {
    setRange(lastClicked, box, box.checked);
  }
  lastClicked = box;
  updateSelection();
}

document.addEventListener("click", (event) => {
  if (!gallery()?.classList.contains("labeling")) return;
  const target = event.target;
  const box = target.closest(".select-image");
  if (box) {
    toggle(box, event.shiftKey);
    return;
  }
  const card = target.closest("#selection-form .card");
  if (card && !target.closest("a, button, input, label")) {
    const cardBox = card.querySelector(".select-image");
    cardBox.checked = !cardBox.checked;
    toggle(cardBox, event.shiftKey);
    if (event.shiftKey) window.getSelection()?.removeAllRanges();
    return;
  }
  const id = target.id;
  if (id === "open-assign") document.getElementById("assign-dialog")?.showModal();
  else if (id === "open-remove") document.getElementById("remove-dialog")?.showModal();
  else if (id === "open-shortcuts") document.getElementById("shortcuts-dialog")?.showModal();
  else if (id === "select-matching") {
    document.getElementById("all-matching").value = "1";
    updateSelection();
  } else if (id === "clear-selection") {
    for (const b of boxes()) b.checked = false;
    document.getElementById("all-matching").value = "";
    updateSelection();
  } else if (target.classList.contains("close-dialog")) target.closest("dialog")?.close();
});

document.addEventListener("change", (event) => {
  if (event.target.id === "select-page") {
    for (const b of boxes()) b.checked = event.target.checked;
    if (!event.target.checked) document.getElementById("all-matching").value = "";
    updateSelection();
  }
});

function quickAssign(n) {
  const rows = [...document.querySelectorAll(".filters .label-row")];
  const row = rows[n - 1];
  const form = document.getElementById("quick-assign");
  if (!row || !form) return;
  const selected = boxes().some((b) => b.checked) || document.getElementById("all-matching")?.value === "1";
  if (!selected) {
    const state = document.getElementById("save-state");
    if (state) state.textContent = "Select one or more images first.";
    return;
  }
  document.getElementById("quick-assign-label").value = row.dataset.labelId;
  window.htmx.trigger(form, "submit");
}

function moveFocus(key) {
  const list = cards();
  if (!list.length) return;
  const current = list.indexOf(document.activeElement?.closest(".card"));
  const columns = Math.max(1, Math.round(list[0].parentElement.clientWidth / list[0].offsetWidth));
  const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns, ArrowDown: columns }[key];
  const next = current < 0 ? 0 : Math.min(list.length - 1, Math.max(0, current + step));
  list[next].focus();
}

document.addEventListener("keydown", (event) => {
  if (!gallery()?.classList.contains("labeling")) return;
  if (document.querySelector("dialog[open]")) return;
  const tag = event.target.tagName;
  if ((tag === "INPUT" && event.target.type !== "checkbox") || tag === "TEXTAREA" || tag === "SELECT") return;
  if (event.altKey || event.metaKey) return;
  if (event.ctrlKey) {
    if (event.key === "z") {
      event.preventDefault();
      document.querySelector('.toolbar form[hx-post*="/undo/"]')?.requestSubmit();
    }
    return;
  }
  if (/^[1-9]$/.test(event.key)) {
    event.preventDefault();
    quickAssign(Number(event.key));
  } else if (event.key.startsWith("Arrow")) {
    event.preventDefault();
    moveFocus(event.key);
  } else if (event.key === " " && event.target.classList?.contains("card")) {
    event.preventDefault();
    const box = event.target.querySelector(".select-image");
    box.checked = !box.checked;
    toggle(box, event.shiftKey);
  } else if (event.key === "?") {
    document.getElementById("shortcuts-dialog")?.showModal();
  }
});

document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.elt.closest?.("#gallery.labeling") && event.detail.requestConfig?.verb === "post") {
    const state = document.getElementById("save-state");
    if (state) state.textContent = "Saving…";
  }
  const dialog = event.detail.elt.closest?.("dialog");
  if (dialog) dialog.close();
});

document.addEventListener("htmx:responseError", () => {
  const state = document.getElementById("save-state");
  if (state) state.textContent = "Not saved: the server refused the change. Reload the page and try again.";
});

document.addEventListener("htmx:sendError", () => {
  const state = document.getElementById("save-state");
  if (state) state.textContent = "Not saved: the console could not be reached. Check your connection and try again.";
});

document.addEventListener("htmx:afterSettle", updateSelection);
document.addEventListener("DOMContentLoaded", updateSelection);
updateSelection();
