// The new-listing page (listings/templates/listings/listing_create.html): live price suggestion
// and the auction end field. A file, not an inline script: the Content-Security-Policy allows none.
// Progressive enhancement: without it the page works, with the suggestion rendered by the server.
(function () {
  "use strict";
  var form = document.getElementById("listing-form");
  var panel = document.getElementById("suggestion");
  if (!form || !panel || !window.fetch || !window.URLSearchParams) return;
  var money = new Intl.NumberFormat(document.documentElement.lang || undefined, {style: "currency", currency: "EUR"});
  var filled = panel.querySelector("[data-filled]");
  var empty = panel.querySelector("[data-empty]");
  var useButton = panel.querySelector("[data-use-price]");
  var price = form.elements.namedItem("floor_price");
  var auctionEnd = form.querySelector("[data-auction-end]");
  var estimateCents = panel.dataset.estimateCents ? Number(panel.dataset.estimateCents) : null;
  var latest = 0;

  function show(total) {
    estimateCents = total ? total.estimate_cents : null;
    filled.hidden = !total;
    empty.hidden = !!total;
    if (!total) return;
    panel.querySelector("[data-estimate]").textContent = money.format(total.estimate_cents / 100);
    panel.querySelector("[data-range]").textContent = panel.dataset.rangePattern
      .replace("%(low)s", money.format(total.low_cents / 100))
      .replace("%(high)s", money.format(total.high_cents / 100));
  }

  function refresh() {
    var categories = form.querySelectorAll("input[name=categories]:checked");
    var licence = form.querySelector("input[name=licence_days]:checked");
    if (!categories.length) { latest += 1; show(null); return; }
    var params = new URLSearchParams({licence_days: licence ? licence.value : "30"});
    categories.forEach(function (box) { params.append("category", box.value); });
    form.querySelectorAll("input[name=purposes]:checked").forEach(function (box) { params.append("purpose", box.value); });
    var request = ++latest;
    fetch(panel.dataset.url + "?" + params.toString(), {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (data) { if (request === latest) show(data.total); })
      .catch(function () { /* keep the suggestion already shown */ });
  }

  function toggleAuctionEnd() {
    var mode = form.querySelector("input[name=pricing_mode]:checked");
    auctionEnd.hidden = !mode || mode.value !== "auction";
  }

  form.addEventListener("change", function (event) {
    var name = event.target.name;
    if (name === "categories" || name === "purposes" || name === "licence_days") refresh();
    if (name === "pricing_mode") toggleAuctionEnd();
  });
  useButton.hidden = false;
  useButton.addEventListener("click", function () {
    if (estimateCents === null || !price) return;
    price.value = (estimateCents / 100).toFixed(2);
    price.focus();
  });
  toggleAuctionEnd();
})();
