// The dashboard's only script: small enhancements; every page works without it.
// - times in the reader's time zone; - live status of a queued or running submission;
// - progress of a regrade; - file size check before uploading; - confirmations; no double submits.
"use strict";

(function () {
  function localTimes() {
    var format = { weekday: "short", day: "numeric", month: "short", year: "numeric",
                   hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
    document.querySelectorAll("time[data-local]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      el.title = el.textContent;
      var options = Object.assign({}, format, el.hasAttribute("data-seconds") ? { second: "2-digit" } : {});
      try { el.textContent = date.toLocaleString(undefined, options); } catch (e) { /* keep UTC */ }
    });
  }

  // Polls url every `every` ms while `update(data)` returns true; slows down after errors.
  // Polls start fast (first) and slow down to `every`: a report ready in half a second is shown at once.
  function poll(url, every, update, first) {
    var delay = first || every;
    function tick() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.status === 401) { window.location.reload(); return null; }
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          if (data === null) return;
          delay = Math.min(Math.max(delay * 1.5, first || every), every);
          if (update(data)) schedule();
        })
        .catch(function () { delay = Math.min(delay * 2, 15000); schedule(); });
    }
    function schedule() { window.setTimeout(tick, document.hidden ? Math.max(delay, 5000) : delay); }
    schedule();
  }

  function liveStatus() {
    var box = document.getElementById("live");
    if (!box || !box.dataset.statusUrl) return;
    var message = box.querySelector("[data-live-message]");
    poll(box.dataset.statusUrl, 1500, function (data) {  // 200 ms, 300, 450, ... up to 1.5 s
      if (data.final) {
        message.textContent = data.status === "graded" ? "Graded. Loading the report…" : "Finished. Loading…";
        window.location.reload();
        return false;
      }
      if (message.textContent !== data.message) message.textContent = data.message;
      if (data.status !== box.dataset.status) {
        box.dataset.status = data.status;
        var badge = document.querySelector("#status-badge .badge");
        if (badge) {
          badge.className = "badge badge-" + data.status;
          badge.textContent = data.status === "running" ? "Grading" : "Queued";
        }
      }
      return true;
    }, 200);
  }

  function regradeProgress() {
    var box = document.getElementById("regrade");
    if (!box || !box.dataset.progressUrl) return;
    var bar = box.querySelector("progress");
    var done = box.querySelector("[data-done]");
    var state = box.querySelector("[data-state]");
    poll(box.dataset.progressUrl, 1500, function (data) {
      bar.value = data.done;
      bar.textContent = data.done + " of " + data.total;
      done.textContent = data.done;
      if (data.finished) {
        state.textContent = "Done: every submission has its new report; the gradebook uses them.";
        box.dataset.finished = "true";
        return false;
      }
      state.textContent = data.pending + " still queued or running.";
      return true;
    });
  }

  function fileChecks() {
    document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
      var limit = parseInt(input.dataset.maxBytes, 10);
      var error = input.parentElement.querySelector("[data-file-error]");
      input.addEventListener("change", function () {
        var big = Array.prototype.filter.call(input.files, function (f) { return f.size > limit; });
        var text = big.length ? big[0].name + " is " + Math.ceil(big[0].size / 1024) +
          " KiB; the limit is " + Math.floor(limit / 1024) + " KiB per file." : "";
        input.setCustomValidity(text);
        input.setAttribute("aria-invalid", big.length ? "true" : "false");
        if (error) { error.textContent = text; error.hidden = !text; }
      });
    });
  }

  function forms() {
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
        if (form.method.toLowerCase() !== "post") return;
        // One upload or regrade per click, even on a slow connection.
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          window.setTimeout(function () { button.disabled = true; }, 0);
          if (form.enctype === "multipart/form-data") button.textContent = "Uploading…";
        });
      });
    });
  }

  // A box that scrolls (a wide table on a phone, long code) must be reachable with the keyboard alone (WCAG
  // 2.1.1): it takes the focus while it scrolls, and stops taking it when the window grows and it no longer does.
  function scrollers() {
    function update() {
      document.querySelectorAll(".table-wrap, .code-view, pre, .chart-figure").forEach(function (el) {
        var style = window.getComputedStyle(el);
        var scrolls = (el.scrollWidth > el.clientWidth + 1 && style.overflowX !== "visible") ||
          (el.scrollHeight > el.clientHeight + 1 && style.overflowY !== "visible");
        if (scrolls && !el.hasAttribute("tabindex")) {
          el.tabIndex = 0;
          el.setAttribute("data-scroll-focus", "");
        } else if (!scrolls && el.hasAttribute("data-scroll-focus")) {
          el.removeAttribute("tabindex");
          el.removeAttribute("data-scroll-focus");
        }
      });
    }
    update();
    window.addEventListener("resize", update);
  }

  // A page that follows a job reloads itself every few seconds (a <meta> refresh without JavaScript): not while
  // the reader is elsewhere, and never while they are typing or have opened something on it.
  function reloads() {
    var meta = document.querySelector("meta[name=grader-reload]");
    if (!meta) return;
    var every = Math.max(1, parseFloat(meta.content) || 5) * 1000;
    window.setInterval(function () {
      var busy = document.activeElement && document.activeElement.matches("input, select, textarea, summary");
      if (!document.hidden && !busy && !document.querySelector("details[open]")) window.location.reload();
    }, every);
  }

  // A link to a folded test (a passed one, "#test-naive_loss_at_zero") opens it.
  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (target && target.tagName === "DETAILS") target.open = true;
  }

  document.addEventListener("DOMContentLoaded", function () {
    openTarget();
    window.addEventListener("hashchange", openTarget);
    reloads();
    scrollers();
    localTimes();
    liveStatus();
    regradeProgress();
    fileChecks();
    forms();
  });
})();
