// A little JavaScript for the console: copy buttons, and refreshing a page's live part while work runs.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const text = document.querySelector(button.dataset.copy).textContent.trim();
  navigator.clipboard.writeText(text).then(() => {
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
});

// While #live says data-live="on", fetch the page again every 2 s and swap in its new #live.
function refreshLive() {
  const live = document.getElementById("live");
  if (!live || live.dataset.live !== "on") return;
  setTimeout(async () => {
    try {
      const response = await fetch(location.href, { headers: { "X-Requested-With": "refresh" } });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.getElementById("live");
        if (fresh) live.replaceWith(fresh);
      }
    } finally {
      refreshLive();
    }
  }, 2000);
}
document.addEventListener("DOMContentLoaded", refreshLive);
