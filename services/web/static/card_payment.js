// The pay page with Stripe (only when a publishable key is configured): mounts Stripe's Payment Element with
// the booking's PaymentIntent (or SetupIntent, data-setup: the card saved only) and confirms it there; Stripe.js handles 3-D Secure, then goes to the flow's
// confirming page (data-return-url). Without JavaScript the page says so in words (a noscript message).
(function () {
  "use strict";
  var form = document.querySelector("[data-card-payment]");
  var problem = document.querySelector("[data-card-problem]");
  if (!form || !problem) { return; }
  var GENERIC = "The payment could not be made. Nothing was charged. Please try again.";

  function tell(message) {
    problem.querySelector("[data-card-problem-text]").textContent = message;
    problem.hidden = false;
    problem.focus();
  }

  if (typeof window.Stripe !== "function") {
    tell("The card form could not be loaded. Check your internet connection and reload this page. Nothing was charged.");
    return;
  }
  var stripe = window.Stripe(form.getAttribute("data-stripe-key"));
  var elements = stripe.elements({ clientSecret: form.getAttribute("data-client-secret") });
  elements.create("payment").mount(form.querySelector("[data-payment-element]"));
  form.hidden = false;
  var pay = form.querySelector("button");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    pay.disabled = true;
    problem.hidden = true;
    // data-setup: the card is only saved (a SetupIntent: "card saved only"), nothing charged now.
    var confirm = form.hasAttribute("data-setup") ? stripe.confirmSetup : stripe.confirmPayment;
    confirm.call(stripe, { elements: elements, confirmParams: { return_url: form.getAttribute("data-return-url") } })
      .then(function (result) {
        // Reached only when the payment did not go ahead (else Stripe.js has left for return_url). Stripe's
        // own words for the customer's card or typing; ours for anything else.
        var error = result.error || {};
        tell(error.type === "card_error" || error.type === "validation_error" ? error.message : GENERIC);
        pay.disabled = false;
      });
  });
}());
