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
}());
