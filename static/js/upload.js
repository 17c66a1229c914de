// The "Add images" dialog: choose or drop up to 30 images, send them one request per file (so each
// has a real progress bar and its own result), show what became of each, refresh the gallery.
// The requests of one "Add images" share a batch token: the server records them as one import.

const dialog = document.getElementById("add-images-dialog");
if (dialog) setUp(dialog);

function setUp(dialog) {
  const form = dialog.querySelector("form");
  const input = dialog.querySelector('input[type="file"]');
  const drop = dialog.querySelector(".drop-zone");
  const list = dialog.querySelector(".upload-list");
  const error = dialog.querySelector(".upload-error");
  const summary = dialog.querySelector(".upload-summary");
  const submit = dialog.querySelector("#add-images-submit");
  const cancel = dialog.querySelector("#add-images-cancel");
  const maxFiles = Number(dialog.dataset.maxFiles);
  const limitMessage = dialog.querySelector(".upload-limit").textContent.trim();
  const csrfToken = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
  let busy = false;
  let added = 0;

  dialog.classList.add("enhanced");

  function pageUrl() {
    const url = new URL(window.location.href);
    url.searchParams.delete("add_images");
    return url.toString();
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  function open() {
    if (!busy) {
      form.reset();
      list.replaceChildren();
      summary.textContent = "";
      showError("");
      cancel.textContent = "Cancel";
    }
    if (!dialog.open) dialog.showModal();
  }

  function size(bytes) {
    if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
    return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  }

  function row(file) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "file-name";
    name.textContent = file.name;
    const bytes = document.createElement("span");
    bytes.className = "file-size";
    bytes.textContent = size(file.size);
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", `Upload progress of ${file.name}`);
    const result = document.createElement("span");
    result.className = "file-result";
    item.append(name, bytes, bar, result);
    return item;
  }

  function chosen() {
    const files = [...input.files];
    list.replaceChildren();
    summary.textContent = "";
    if (files.length > maxFiles) {
      showError(limitMessage);
      return;
    }
    showError("");
    list.append(...files.map(row));
  }

  function batchToken() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  function send(file, batch, item) {
    const bar = item.querySelector("progress");
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("batch", batch);
      data.append("images", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRFToken", csrfToken);
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) bar.value = Math.round((100 * event.loaded) / event.total);
      });
      xhr.addEventListener("load", () => {
        const body = xhr.response;
        if (body && Array.isArray(body.files) && body.files.length) resolve(body.files[0]);
        else if (body && body.message) resolve({ ok: false, message: body.message });
        else resolve({ ok: false, message: "The upload failed. Reload the page and try again." });
      });
      xhr.addEventListener("error", () =>
        resolve({ ok: false, message: "The upload failed: the console could not be reached. Try again." }),
      );
      xhr.send(data);
    });
  }

  function refreshGallery() {
    if (document.getElementById("gallery") && window.htmx) {
      window.htmx.ajax("GET", pageUrl(), { target: "#gallery", swap: "outerHTML" });
    }
  }

  async function upload() {
    const files = [...input.files];
    if (!files.length) {
      showError("Choose one or more .jpg, .jpeg or .png files to upload.");
      return;
    }
    if (files.length > maxFiles) {
      showError(limitMessage);
      return;
    }
    showError("");
    busy = true;
    submit.disabled = input.disabled = cancel.disabled = true;
    drop.classList.add("busy");
    summary.textContent = `Uploading ${files.length} file${files.length === 1 ? "" : "s"}…`;
    const items = [...list.children];
    const batch = batchToken();
    let ok = 0;
    for (const [i, file] of files.entries()) {
      const item = items[i];
      item.classList.add("sending");
      const result = await send(file, batch, item);
      item.classList.remove("sending");
      item.classList.add(result.ok ? "accepted" : "refused");
      item.querySelector("progress").value = 100;
      item.querySelector(".file-result").textContent = result.ok ? "Accepted" : result.message;
      if (result.ok) ok += 1;
    }
    const refused = files.length - ok;
    summary.textContent = `${ok} image${ok === 1 ? "" : "s"} added${refused ? `, ${refused} refused` : ""}.`;
    added += ok;
    busy = false;
    input.value = "";
    submit.disabled = input.disabled = cancel.disabled = false;
    drop.classList.remove("busy");
    cancel.textContent = "Close";
    if (ok) refreshGallery();
  }

  document.getElementById("open-add-images")?.addEventListener("click", (event) => {
    event.preventDefault();
    open();
  });

  input.addEventListener("change", chosen);

  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (!busy) drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (busy || !event.dataTransfer?.files.length) return;
    input.files = event.dataTransfer.files;
    chosen();
  });

  form.addEventListener("submit", (event) => {
    if (event.submitter?.getAttribute("formmethod") === "dialog") return; // Cancel closes the dialog
    event.preventDefault();
    if (!busy) upload();
  });

  // Escape must not hide a dialog whose uploads are still running.
  dialog.addEventListener("cancel", (event) => {
    if (busy) event.preventDefault();
  });

  // The status, the last import and the counts outside the gallery change too: show them fresh.
  dialog.addEventListener("close", () => {
    if (added) window.location.replace(pageUrl());
  });

  // ?add_images=1 (after "Upload images from your computer" creates the dataset) renders the
  // dialog open for pages without JavaScript; here it becomes a modal one.
  if (dialog.open) {
    dialog.close();
    history.replaceState(history.state, "", pageUrl());
    open();
  }
}
