// Draws every <div class="chart-canvas" data-chart="{...}"> with uPlot (see web/charts.py).
(function () {
  "use strict";
  var PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#1098ad", "#f08c00", "#5c940d", "#868e96", "#a61e4d"];

  function formatValue(unit, v) {
    if (v == null || isNaN(v)) return "—";
    switch (unit) {
      case "ms": return v < 1000 ? Math.round(v) + " ms" : (v / 1000).toFixed(2) + " s";
      case "usd": return "$" + (v < 0.01 ? v.toPrecision(3) : v.toFixed(4));
      case "ratio": return (v * 100).toFixed(1) + "%";
      case "score": return v.toFixed(3);
      case "tokens":
      case "count":
      default: return Math.round(v).toLocaleString("en-US");
    }
  }

  var WHOLE_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2500, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1e8, 1e9];

  function isoSeconds(s) { return new Date(s * 1000).toISOString().slice(0, 19); }

  function draw(el) {
    if (el.dataset.drawn === "1" || typeof uPlot === "undefined") return;
    var spec;
    try { spec = JSON.parse(el.dataset.chart); } catch (e) { return; }
    var series = [{ value: function (u, ts) { return ts == null ? "—" : isoSeconds(ts).replace("T", " ") + " UTC"; } }];
    spec.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        stroke: PALETTE[i % PALETTE.length],
        fill: spec.series.length === 1 ? PALETTE[0] + "22" : undefined,
        width: 1.6,
        spanGaps: false,
        points: { show: spec.x.length < 60 },
        value: function (u, v) { return formatValue(spec.unit, v); }
      });
    });
    var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    var opts = {
      width: Math.max(el.clientWidth, 280),
      height: 220,
      series: series,
      // A no-op drag click: uPlot's default swallows clicks on the last pixels, where the newest point is.
      cursor: { drag: { x: false, y: false, click: function () {} } },
      axes: [
        { stroke: "#667085", grid: { stroke: "#eef0f3" } },
        { stroke: "#667085", grid: { stroke: "#eef0f3" }, size: spec.unit === "usd" ? 90 : 70,
          // Whole-number steps for things that are counted (no "1, 1, 2, 2" labels).
          incrs: (spec.unit === "count" || spec.unit === "tokens") ? WHOLE_STEPS : undefined,
          values: function (u, vals) { return vals.map(function (v) { return formatValue(spec.unit, v); }); } }
      ],
      scales: { x: { time: true } }
    };
    el.textContent = "";
    var plot = new uPlot(opts, data, el);
    el.dataset.drawn = "1";
    if (spec.link) {
      el.classList.add("linked");
      plot.over.addEventListener("click", function () {
        var idx = plot.cursor.idx;
        if (idx == null) return;
        var from = spec.x[idx], to = from + spec.bucket;
        window.location.href = spec.link.replace("{from}", encodeURIComponent(isoSeconds(from)))
                                        .replace("{to}", encodeURIComponent(isoSeconds(to)));
      });
    }
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () {
        var w = Math.max(el.clientWidth, 280);
        if (Math.abs(w - plot.width) > 4) plot.setSize({ width: w, height: 220 });
      }).observe(el);
    }
  }

  function drawAll(root) {
    (root || document).querySelectorAll(".chart-canvas[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (evt) { drawAll(evt.target); });
})();
