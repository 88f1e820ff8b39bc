// The seller header's menu button (templates/base.html). A file, not an inline script: the
// Content-Security-Policy allows none. Progressive enhancement: without this script the button
// stays hidden and the navigation stays open under the header; with it, below 768 px, the
// navigation folds behind the button (CSS: .site-header.menu-ready), which says whether it is open.
(function () {
  "use strict";
  var button = document.querySelector(".menu-toggle[aria-controls]");
  var nav = button && document.getElementById(button.getAttribute("aria-controls"));
  if (!nav) return;
  var header = button.closest(".site-header") || document.body;

  function set(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("open", open);
  }

  button.hidden = false;
  header.classList.add("menu-ready");
  set(false);
  button.addEventListener("click", function () {
    set(button.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      set(false);
      button.focus();
    }
  });
})();
