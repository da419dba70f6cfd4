// Progressive enhancement for every console page (pages work without it).
// htmx requests that change state carry this session's CSRF token, like the forms do.
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) event.detail.headers["X-CSRF-Token"] = meta.content;
});
// A polled fragment that answers 404 means its workspace or team is gone: show the page's
// own answer (the not-found page) instead of polling on.
document.addEventListener("htmx:responseError", (event) => {
  if (event.detail.xhr && event.detail.xhr.status === 404) window.location.reload();
});
