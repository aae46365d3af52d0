// Live line amounts and total while typing, and contract items filling their line;
// the server re-prices and recomputes everything on save.
(function () {
  const form = document.querySelector("[data-request-form]");
  const currency = () => form.querySelector("[name=currency]").value;
  const fmt = (n) => n.toLocaleString("en-GB", {minimumFractionDigits: 2, maximumFractionDigits: 2}) + " " + currency();
  function contractItem(code) {
    const list = document.getElementById("contract-items");
    if (!list || !code) return null;
    return Array.from(list.options).find((option) => option.value === code) || null;
  }
  function recalc() {
    let total = 0;
    form.querySelectorAll("[data-line-row]").forEach(function (row) {
      const qty = parseFloat(row.querySelector("[name$=-quantity]").value);
      const item = contractItem(row.querySelector("[name$=-item_code]").value.trim());
      let price = parseFloat(row.querySelector("[name$=-unit_price]").value);
      if (isNaN(price) && item) price = parseFloat(item.dataset.price);
      const removed = row.querySelector("[name$=-DELETE]").checked;
      const cell = row.querySelector("[data-line-amount]");
      row.classList.toggle("faint", removed);
      if (isNaN(qty) || isNaN(price)) { cell.textContent = "—"; return; }
      cell.textContent = fmt(qty * price);
      if (!removed) total += qty * price;
    });
    form.querySelector("[data-request-total]").textContent = fmt(total);
  }
  form.addEventListener("change", function (event) {
    if (event.target.name && event.target.name.endsWith("-item_code")) {
      const row = event.target.closest("[data-line-row]");
      const item = contractItem(event.target.value.trim());
      if (item) {
        const description = row.querySelector("[name$=-description]");
        if (!description.value) description.value = item.dataset.description;
        row.querySelector("[name$=-uom]").value = item.dataset.uom;
        row.querySelector("[name$=-unit_price]").value = item.dataset.price;
      }
    }
    recalc();
  });
  form.addEventListener("input", recalc);
  document.body.addEventListener("htmx:afterSwap", recalc);
  recalc();
})();
