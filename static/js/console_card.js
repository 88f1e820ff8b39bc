// The console's card page: Stripe.js (or localstripe's stand-in in development) mounts the card
// element and confirms the SetupIntent; the form then posts the SetupIntent's id, which the
// server checks with Stripe and saves as the organisation's default card.
(function () {
  "use strict";
  const form = document.getElementById("card-form");
  if (!form || typeof window.Stripe === "undefined") {
    return;
  }
  const stripe = window.Stripe(form.dataset.publishableKey);
  const card = stripe.elements().create("card");
  card.mount("#card-element");
  const errors = document.getElementById("card-errors");
  const button = form.querySelector("button[type=submit]");
  let confirmed = false;

  form.addEventListener("submit", async function (event) {
    if (confirmed) {
      return;
    }
    event.preventDefault();
    button.disabled = true;
    errors.textContent = "";
    const result = await stripe.confirmCardSetup(form.dataset.clientSecret, {
      payment_method: { card: card },
    });
    if (result.error || !result.setupIntent) {
      errors.textContent = (result.error && result.error.message) || form.dataset.failed;
      button.disabled = false;
      return;
    }
    form.elements.setup_intent.value = result.setupIntent.id;
    confirmed = true;
    form.submit();
  });
})();
