// Drag and drop onto the zone, the chosen files listed with their sizes, upload progress.
(function () {
  // The limits come from the form's data attributes, which the server fills from its settings.
  function limitsOf(form) {
    return {
      csv: Number(form.dataset.csvLimitMb) * 1048576,
      other: Number(form.dataset.documentLimitMb) * 1048576
    };
  }
  function size(bytes) {
    return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1024)) + " kB";
  }
  function listFiles(input) {
    var list = document.getElementById("chosen-files");
    if (!list) return;
    list.innerHTML = "";
    var limits = limitsOf(input.form);
    Array.prototype.forEach.call(input.files, function (file) {
      var limit = /\.csv$/i.test(file.name) ? limits.csv : limits.other;
      var item = document.createElement("li");
      item.textContent = file.name + " · " + size(file.size);
      if (file.size > limit) {
        item.className = "negative";
        item.textContent += " — too large, it will be refused (limit " + size(limit) + ")";
      }
      list.appendChild(item);
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches("#import-form input[type=file]")) listFiles(event.target);
  });
  ["dragenter", "dragover"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var zone = event.target.closest && event.target.closest(".dropzone");
      if (!zone) return;
      event.preventDefault();
      zone.classList.add("is-over");
    });
  });
  ["dragleave", "drop"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var zone = event.target.closest && event.target.closest(".dropzone");
      if (!zone) return;
      event.preventDefault();
      zone.classList.remove("is-over");
      if (name === "drop" && event.dataTransfer.files.length) {
        var input = zone.querySelector("input[type=file]");
        input.files = event.dataTransfer.files;
        listFiles(input);
      }
    });
  });
  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = document.getElementById("upload-progress");
    if (!bar || !event.detail.total) return;
    bar.hidden = false;
    bar.querySelector("span").style.width = Math.round(100 * event.detail.loaded / event.detail.total) + "%";
  });
})();
