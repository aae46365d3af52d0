// Behaviour every page shares, bound through data attributes: the Content-Security-Policy
// allows no inline script or event handler.
(function () {
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });
})();
