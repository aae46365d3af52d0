// Live amounts while keying; the server recomputes everything on capture.
(function () {
  function num(input) {
    var value = parseFloat(String(input && input.value || "").replace(/,/g, ""));
    return isNaN(value) ? 0 : value;
  }
  function fmt(amount, currency) {
    return amount.toLocaleString("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2}) + " " + currency;
  }
  function recalc(form) {
    var currencyInput = form.querySelector("[name=currency]");
    var currency = (currencyInput && currencyInput.value || "").toUpperCase();
    var net = 0;
    form.querySelectorAll("tr.formset-row").forEach(function (row) {
      var amount = num(row.querySelector("[name$=-quantity]")) * num(row.querySelector("[name$=-unit_price]"));
      amount = Math.round(amount * 100) / 100;
      net += amount;
      var cell = row.querySelector("[data-amount]");
      if (cell) cell.textContent = fmt(amount, currency);
    });
    var tax = form.querySelector("[name=tax_amount]");
    if (tax && !tax.dataset.touched) tax.value = (Math.max(0, Math.round(net * 21)) / 100).toFixed(2);
    form.querySelector("[data-net]").textContent = fmt(net, currency);
    form.querySelector("[data-total]").textContent = fmt(net + num(tax), currency);
  }
  // A second click while the first submit is on its way would send the invoice twice.
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("[data-submit-once]");
    if (!button) return;
    if (button.dataset.sent) { event.preventDefault(); return; }
    button.dataset.sent = "1";
    button.classList.add("disabled");
    button.textContent = "Capturing…";
  });
  document.addEventListener("input", function (event) {
    var form = event.target.closest("#invoice-form");
    if (!form) return;
    if (event.target.name === "tax_amount") event.target.dataset.touched = "1";
    recalc(form);
  });
})();
