// The clinic's own website: <a href="https://…/c/{clinic}/book">BOOK NOW</a> plus this script (docs/embedding.md).
// On a wide screen a click on a link to our booking pages opens them in an overlay (a modal dialog with a
// close button; Escape closes it; the focus goes into it and back to the link after). On a narrow one, or a
// browser without <dialog>, the link is left alone: the booking opens as a page of its own. It styles through
// the DOM only, so a strict Content-Security-Policy on the clinic's page does not stop it.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || typeof window.HTMLDialogElement !== "function") { return; }
  var ours = new URL(script.src).origin;
  var WIDE = window.matchMedia("(min-width: 48em)");
  var BOOKING_PATH = /^\/c\/[a-z0-9-]+\/book(\/|$)/;
  var CLOSE_MESSAGE = "clinic-booking:close";   // from our pages in the frame, which hear its Escape key
  var shown = null;

  function bookingLink(target) {
    var link = target && target.closest ? target.closest("a[href]") : null;
    if (!link) { return null; }
    var url = new URL(link.href, document.baseURI);
    return url.origin === ours && BOOKING_PATH.test(url.pathname) ? link : null;
  }

  function styled(tag, rules) {
    var element = document.createElement(tag);
    Object.keys(rules).forEach(function (name) { element.style.setProperty(name, rules[name]); });
    return element;
  }

  function open(link) {
    var dialog = styled("dialog", { "width": "min(64rem, 94vw)", "height": "92vh", "max-height": "92vh",
                                    "padding": "0", "border": "0", "border-radius": "6px" });
    dialog.setAttribute("aria-label", "Online booking");
    var layout = styled("div", { "display": "flex", "flex-direction": "column", "height": "100%" });
    var bar = styled("div", { "display": "flex", "justify-content": "space-between", "align-items": "center",
                              "gap": "1rem", "padding": ".5rem .75rem", "background": "#f3f2f1",
                              "font": "16px/1.4 system-ui, sans-serif" });
    var away = document.createElement("a");
    away.href = link.href;
    away.target = "_blank";
    away.rel = "noopener";
    away.textContent = "Open in a new window";
    var close = styled("button", { "font": "inherit", "padding": ".4rem .9rem", "cursor": "pointer" });
    close.type = "button";
    close.textContent = "Close";
    var frame = styled("iframe", { "flex": "1", "width": "100%", "border": "0" });
    frame.title = "Online booking";
    frame.src = link.href;
    bar.append(away, close);
    layout.append(bar, frame);
    dialog.append(layout);

    var page = document.documentElement;
    var overflow = page.style.getPropertyValue("overflow");
    close.addEventListener("click", function () { dialog.close(); });
    // After the click has opened the new window (a link taken out of the page mid-click opens nothing).
    away.addEventListener("click", function () { window.setTimeout(function () { dialog.close(); }, 0); });
    dialog.addEventListener("close", function () {
      dialog.remove();
      page.style.setProperty("overflow", overflow);
      shown = null;
      link.focus();
    });
    document.body.append(dialog);
    page.style.setProperty("overflow", "hidden");
    dialog.showModal();
    close.focus();
    shown = { dialog: dialog, frame: frame };
  }

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;     // a new tab or window asked for: the browser's business
    }
    var link = bookingLink(event.target);
    if (link && WIDE.matches) {
      event.preventDefault();
      open(link);
    }
  });
  window.addEventListener("message", function (event) {
    if (shown && event.origin === ours && event.source === shown.frame.contentWindow && event.data === CLOSE_MESSAGE) {
      shown.dialog.close();
    }
  });
}());
