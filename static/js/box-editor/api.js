// Requests to the box endpoints: JSON in and out, with the CSRF token, errors as readable messages.

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

export async function request(url, { body, method = "POST" } = {}) {
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

export const boxUrl = (template, box) => template.replace("{id}", String(box.id));
