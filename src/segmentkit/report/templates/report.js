/* segmentkit report charts: reads the inline JSON, draws every [data-chart] with ECharts (SVG). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  function esc(s) { return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) { return ESC[c]; }); }
  var nf1 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  var nf2 = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  var nf0 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  function pct(v) { return v == null ? "—" : nf1.format(v * 100) + " %"; }
  function idx(v) { return v == null ? "—" : nf0.format(v); }
  function num(v) {
    if (v == null) { return "—"; }
    var a = Math.abs(v);
    return a >= 1000 ? nf0.format(v) : a >= 100 ? nf1.format(v) : nf2.format(v);
  }
  function trunc(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + "…" : s; }
  var TEXT = { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif" };
  var KIND_COLORS = { "under-served": "#d62728", "over-served": "#1f77b4", "balanced": "#8c8c8c" };

  var builders = {
    "size-value": function () {
      var segs = data.segments.slice().reverse();
      return {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, formatter: function (ps) {
          var s = segs[ps[0].dataIndex];
          return "<b>" + esc(s.name) + "</b><br>" + esc(s.size_fmt) + " customers<br>share " +
            esc(pct(s.share)) + " · value " + esc(pct(s.value_share));
        } },
        legend: { top: 0, textStyle: TEXT },
        grid: { left: 150, right: 50, top: 30, bottom: 24 },
        xAxis: { type: "value", axisLabel: { formatter: function (v) { return v + " %"; } } },
        yAxis: { type: "category", data: segs.map(function (s) { return trunc(s.name, 22); }), axisLabel: { color: "#1f2933" } },
        series: [
          { name: "Share of customers", type: "bar", itemStyle: { color: "#9fb3c8" },
            data: segs.map(function (s) { return s.share == null ? null : s.share * 100; }),
            label: { show: true, position: "right", fontSize: 10, formatter: function (p) { return pct(p.value / 100); } } },
          { name: "Share of value", type: "bar",
            data: segs.map(function (s) { return { value: s.value_share == null ? null : s.value_share * 100, itemStyle: { color: s.color } }; }),
            label: { show: true, position: "right", fontSize: 10, formatter: function (p) { return pct(p.value / 100); } } }
        ]
      };
    },
    "heatmap": function () {
      var h = data.heatmap;
      return {
        tooltip: { formatter: function (p) {
          return "<b>" + esc(h.segments[p.value[0]]) + "</b><br>" + esc(h.features[p.value[1]]) + ": index " + esc(p.value[3]);
        } },
        grid: { left: 230, right: 20, top: 10, bottom: 90 },
        xAxis: { type: "category", data: h.segments.map(function (s) { return trunc(s, 18); }), position: "bottom",
          axisLabel: { interval: 0, rotate: h.segments.length > 6 ? 30 : 0, color: "#1f2933" }, splitArea: { show: true } },
        yAxis: { type: "category", inverse: true, data: h.features.map(function (f) { return trunc(f, 36); }),
          axisLabel: { interval: 0, color: "#1f2933" }, splitArea: { show: true } },
        visualMap: { type: "continuous", min: 0, max: 200, dimension: 2, calculable: false, orient: "horizontal",
          left: "center", bottom: 0, itemHeight: 160, text: ["200 (above)", "0 (below)"],
          inRange: { color: ["#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b"] } },
        series: [{ type: "heatmap", data: h.cells, label: { show: true, fontSize: 10, formatter: function (p) { return p.value[3]; } },
          itemStyle: { borderColor: "#fff", borderWidth: 1 } }]
      };
    },
    "map": function () {
      var m = data.map;
      return {
        tooltip: { trigger: "item", formatter: function (p) { return esc(p.seriesName); } },
        legend: { top: 0, type: "scroll", textStyle: TEXT },
        grid: { left: 50, right: 20, top: 40, bottom: 40 },
        xAxis: { type: "value", name: "PC1", nameLocation: "middle", nameGap: 24, scale: true, splitLine: { show: false }, axisLine: { onZero: false } },
        yAxis: { type: "value", name: "PC2", nameLocation: "middle", nameGap: 34, scale: true, splitLine: { show: false }, axisLine: { onZero: false } },
        series: m.series.map(function (s) {
          return { name: s.name, type: "scatter", data: s.points, symbolSize: 4, itemStyle: { color: s.color, opacity: 0.6 } };
        })
      };
    },
    "k-metric": function (el) {
      var k = data.k;
      var m = k.metrics[Number(el.getAttribute("data-metric"))];
      var series = m.series.map(function (s, i) {
        var out = { name: s.algorithm, type: "line", data: s.points, symbolSize: 6 };
        var isRec = k.recommended_algorithm == null ? i === 0 : s.algorithm === k.recommended_algorithm;
        if (isRec && k.recommended_k != null) {
          out.markLine = { symbol: "none", silent: true, label: { formatter: "chosen", fontSize: 10 },
            lineStyle: { color: "#2f8a4a", type: "dashed" }, data: [{ xAxis: k.recommended_k }] };
        }
        return out;
      });
      return {
        tooltip: { trigger: "axis", formatter: function (ps) {
          return "k = " + esc(ps[0].value[0]) + ps.map(function (p) { return "<br>" + esc(p.seriesName) + ": " + esc(num(p.value[1])); }).join("");
        } },
        legend: { show: m.series.length > 1, top: 0, textStyle: TEXT },
        grid: { left: 56, right: 14, top: m.series.length > 1 ? 28 : 12, bottom: 28 },
        xAxis: { type: "value", minInterval: 1, scale: true, name: "k", nameGap: 4 },
        yAxis: { type: "value", scale: true, axisLabel: { formatter: function (v) { return num(v); } } },
        series: series
      };
    },
    "crosstab": function () {
      var c = data.personas;
      var max = 1;
      c.cells.forEach(function (cell) { if (cell[2] > max) { max = cell[2]; } });
      return {
        tooltip: { formatter: function (p) {
          return esc(c.personas[p.value[1]]) + " → " + esc(c.segments[p.value[0]]) + ": " + esc(nf0.format(p.value[2]));
        } },
        grid: { left: 150, right: 20, top: 10, bottom: 70 },
        xAxis: { type: "category", data: c.segments.map(function (s) { return trunc(s, 16); }),
          axisLabel: { interval: 0, rotate: c.segments.length > 4 ? 30 : 0, color: "#1f2933" } },
        yAxis: { type: "category", inverse: true, data: c.personas.map(function (s) { return trunc(s, 22); }), axisLabel: { color: "#1f2933" } },
        visualMap: { show: false, min: 0, max: max, inRange: { color: ["#f7fbff", "#6baed6", "#08306b"] } },
        series: [{ type: "heatmap", data: c.cells, itemStyle: { borderColor: "#fff", borderWidth: 1 },
          label: { show: true, fontSize: 10, formatter: function (p) { return nf0.format(p.value[2]); } } }]
      };
    },
    "sankey": function () {
      var c = data.personas;
      var labelOf = {};
      c.nodes.forEach(function (n) { labelOf[n.name] = n.label; });
      return {
        tooltip: { trigger: "item", formatter: function (p) {
          if (p.dataType === "edge") {
            return esc(labelOf[p.data.source]) + " → " + esc(labelOf[p.data.target]) + ": " + esc(nf0.format(p.data.value));
          }
          return esc(labelOf[p.data.name]);
        } },
        series: [{ type: "sankey", left: 10, right: 150, top: 10, bottom: 10, nodeAlign: "justify", draggable: false,
          emphasis: { focus: "adjacency" },
          data: c.nodes.map(function (n) { return { name: n.name, itemStyle: { color: n.color }, label: { formatter: trunc(n.label, 24).replace(/[{}]/g, "") } }; }),
          links: c.links, lineStyle: { color: "gradient", opacity: 0.35 },
          label: { fontSize: 11, color: "#1f2933" } }]
      };
    },
    "opportunities": function () {
      var pts = data.opportunities;
      var lo = Infinity, hi = -Infinity, maxSize = 1;
      pts.forEach(function (p) {
        lo = Math.min(lo, p.x, p.y); hi = Math.max(hi, p.x, p.y);
        if (p.size > maxSize) { maxSize = p.size; }
      });
      lo = Math.floor(Math.min(lo, 100) * 0.09) * 10; hi = Math.ceil(Math.max(hi, 100) * 0.11) * 10;
      return {
        tooltip: { formatter: function (p) {
          var d = pts[p.dataIndex];
          return "<b>" + esc(d.name) + "</b><br>" + esc(d.kind) + "<br>value " + esc(idx(d.y)) + " · attention " +
            esc(idx(d.x)) + "<br>" + esc(d.size_fmt) + " customers";
        } },
        grid: { left: 60, right: 30, top: 20, bottom: 50 },
        xAxis: { type: "value", name: "attention index", nameLocation: "middle", nameGap: 28, min: lo, max: hi,
          axisLabel: { formatter: function (v) { return idx(v); } } },
        yAxis: { type: "value", name: "value index", nameLocation: "middle", nameGap: 44, min: lo, max: hi,
          axisLabel: { formatter: function (v) { return idx(v); } } },
        series: [{ type: "scatter",
          data: pts.map(function (p) {
            return { value: [p.x, p.y], symbolSize: 10 + 40 * Math.sqrt(Math.max(p.size, 0) / maxSize),
              itemStyle: { color: KIND_COLORS[p.kind] || "#8c8c8c", opacity: 0.75 } };
          }),
          label: { show: true, position: "right", fontSize: 11, color: "#1f2933",
            formatter: function (p) { return trunc(pts[p.dataIndex].name, 24).replace(/[{}]/g, ""); } },
          markLine: { silent: true, symbol: "none", lineStyle: { type: "dashed", color: "#999" }, label: { show: false },
            data: [[{ coord: [lo, lo] }, { coord: [hi, hi] }]] } }]
      };
    }
  };

  var charts = [];
  Array.prototype.forEach.call(document.querySelectorAll("[data-chart]"), function (el) {
    var kind = el.getAttribute("data-chart");
    try {
      var option = builders[kind](el);
      option.animation = false;
      option.textStyle = TEXT;
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.on("finished", function () { el.setAttribute("data-rendered", "1"); });
      chart.setOption(option);
      charts.push(chart);
    } catch (err) {
      el.setAttribute("data-rendered", "error");
      console.error("segmentkit: chart '" + kind + "' failed: " + err);
    }
  });
  function resizeAll() { charts.forEach(function (c) { c.resize(); }); }
  window.addEventListener("resize", resizeAll);
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
    resizeAll();
  });
  window.addEventListener("afterprint", resizeAll);
  window.segmentkitCharts = charts;
})();
