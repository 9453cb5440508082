// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // After a failed form, move focus to the error summary so screen readers announce it.
  var summary = document.querySelector("[data-focus]");
  if (summary) { summary.focus(); }
  // The hold's countdown: the server states the expiry; this only keeps the minutes left current.
  var countdown = document.querySelector("[data-expires-at]");
  if (countdown) {
    var until = Date.parse(countdown.getAttribute("data-expires-at"));
    var tick = function () {
      var left = Math.max(0, Math.round((until - Date.now()) / 60000));
      countdown.textContent = left > 0 ? left + (left === 1 ? " minute" : " minutes") : "no time";
      if (left > 0) { window.setTimeout(tick, 15000); }
    };
    tick();
  }
  // Inside the overlay of a clinic's website (/embed.js). That page cannot hear keys pressed in here, so
  // Escape asks it to close the overlay (a fixed word; nothing about the customer goes with it). Only the
  // booking pages may be shown in there (the others refuse any frame), so a link to anything else (the
  // clinic's page, the manage page, a calendar) opens a window of its own.
  if (window.parent !== window) {
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { window.parent.postMessage("clinic-booking:close", "*"); }
    });
    Array.prototype.forEach.call(document.querySelectorAll("a[href]"), function (link) {
      var inFlow = link.origin === window.location.origin && /^\/c\/[^/]+\/book(\/|$)/.test(link.pathname);
      if (/^https?:$/.test(link.protocol) && !inFlow) {
        link.target = "_blank";
        link.rel = "noopener";
      }
    });
  }
  // A message's character count (the server refuses what is over; this says so while typing).
  Array.prototype.forEach.call(document.querySelectorAll("textarea[data-maxlength]"), function (area) {
    var limit = parseInt(area.getAttribute("data-maxlength"), 10);
    var count = document.getElementById(area.id + "-count");
    var update = function () {
      var left = limit - area.value.length;
      count.textContent = left >= 0 ? "You have " + left + (left === 1 ? " character" : " characters") + " remaining"
                                    : "You have " + (-left) + (left === -1 ? " character" : " characters") + " too many";
      count.classList.toggle("field-error", left < 0);
    };
    area.addEventListener("input", update);
    update();
  });
}());
