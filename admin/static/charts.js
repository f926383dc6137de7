/* Draw every <canvas data-chart="..."> with Chart.js.
 * The figures come from the data-chart attribute (JSON written by admin/ui/charts.py), so
 * the pages carry no inline script; Chart.js styles the canvas through the CSSOM, which
 * the style-src 'self' policy allows. */
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }
  var lang = document.documentElement.lang || "ja";
  var numbers = new Intl.NumberFormat(lang);
  var percents = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });

  function draw(canvas) {
    var spec = JSON.parse(canvas.getAttribute("data-chart"));
    var format = spec.percent ? percents : numbers;
    new Chart(canvas, {
      type: spec.type || "bar",
      data: { labels: spec.labels, datasets: spec.datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          y: {
            beginAtZero: true,
            ticks: {
              precision: spec.percent ? undefined : 0,
              callback: function (v) { return format.format(v); }
            }
          }
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label + ": " + format.format(item.parsed.y);
              }
            }
          }
        }
      }
    });
    canvas.setAttribute("data-drawn", "true");
  }

  document.querySelectorAll("canvas[data-chart]").forEach(draw);
})();
