// Draws every chart spec from the view; a click on a bar or point opens the list behind it.
(function () {
  var source = document.getElementById("kpi-charts");
  if (!source || typeof Chart === "undefined") { return; }
  Chart.defaults.font.size = 12;
  Chart.defaults.color = "#4a5263";
  var specs = JSON.parse(source.textContent);

  function format(spec, value, percent) {
    if (value === null || value === undefined) { return "—"; }
    if (percent) { return value + " %"; }
    return spec.unit ? value.toLocaleString() + " " + spec.unit : value.toLocaleString();
  }

  specs.forEach(function (spec) {
    var canvas = document.getElementById(spec.id);
    if (!canvas) { return; }
    var datasets = spec.datasets.map(function (set) {
      return {
        type: set.kind,
        label: set.label,
        data: set.data,
        borderColor: set.color,
        backgroundColor: set.kind === "bar" ? set.color + "cc" : set.color,
        borderDash: set.dashed ? [6, 4] : [],
        pointRadius: set.dashed ? 0 : 3,
        spanGaps: false,
        cubicInterpolationMode: "monotone",
        yAxisID: set.axis || "y",
        order: set.kind === "line" ? 0 : 1,
        urls: set.urls || []
      };
    });
    var valueAxis = {
      beginAtZero: true,
      stacked: !!spec.stacked,
      ticks: { callback: function (value) { return format(spec, value, spec.percent); } }
    };
    if (spec.percent) { valueAxis.max = 100; }
    var scales = spec.horizontal
      ? { x: valueAxis, y: { ticks: { autoSkip: false } } }
      : { x: { stacked: !!spec.stacked,
               ticks: spec.allLabels ? { autoSkip: false, maxRotation: 40, minRotation: 0 }
                                     : { maxRotation: 0, autoSkipPadding: 8 } },
          y: valueAxis };
    if (spec.y2Percent) {
      scales.y2 = { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
                    ticks: { callback: function (value) { return value + " %"; } } };
    }
    new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        indexAxis: spec.horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: scales,
        plugins: {
          legend: { display: spec.legend, position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: function (item) {
            var percent = item.dataset.yAxisID === "y2" || spec.percent;
            return item.dataset.label + ": " + format(spec, item.raw, percent);
          } } }
        },
        onHover: function (event, elements) {
          var link = elements.length && elements[0] && datasets[elements[0].datasetIndex].urls[elements[0].index];
          event.native.target.style.cursor = link ? "pointer" : "default";
        },
        onClick: function (event, elements) {
          if (!elements.length) { return; }
          var hit = elements[0];
          var link = datasets[hit.datasetIndex].urls[hit.index];
          if (link) { window.location.href = link; }
        }
      }
    });
  });
})();
