// The run page: polls the run's status while it runs (writing text, never HTML), reloads
// the page once it ends, asks before cancelling, and draws the charts whose figures the
// server put in a JSON data block (the table under each chart holds the same figures).
"use strict";
(function () {
  var POLL_MS = 2000;
  var MAX_FAILURES = 5;
  var COLOURS = ["#0b5394", "#a61b1b", "#1b6e2a", "#8a5300", "#6a3d9a", "#28527a", "#b15928", "#444444"];

  function setText(root, selector, text) {
    var el = root.querySelector(selector);
    if (el && el.textContent !== text) el.textContent = text;
    return el;
  }

  function stamp(value) {
    return value ? value.replace("T", " ").replace(/\.\d+/, "").replace(/(\+00:00|Z)$/, "") + " UTC" : "";
  }

  function seconds(start, end) {
    if (!start || !end) return "";
    return ((Date.parse(end) - Date.parse(start)) / 1000).toFixed(1) + " s";
  }

  function showStatus(section, run) {
    var status = setText(section, '[data-run="status"]', run.status);
    if (status) status.className = "status status-" + run.status.toLowerCase();
    var result = setText(section, '[data-run="result"]', run.result);
    if (result) result.className = "result result-" + run.result.toLowerCase();
    setText(section, '[data-run="started_at"]', stamp(run.started_at));
    setText(section, '[data-run="ended_at"]', stamp(run.ended_at));
    var s = run.summary;
    setText(section, '[data-run="summary"]', s.error_count + " errors, " + s.warning_count + " warnings, " + s.info_count + " info");
    run.steps.forEach(function (step) {
      var row = document.querySelector('tr[data-step="' + step.order + '"]');
      if (!row) return;
      var cell = setText(row, '[data-field="status"]', step.status);
      if (cell) cell.className = "status status-" + step.status.toLowerCase();
      setText(row, '[data-field="started_at"]', stamp(step.started_at));
      setText(row, '[data-field="ended_at"]', stamp(step.ended_at));
      setText(row, '[data-field="took"]', seconds(step.started_at, step.ended_at));
    });
  }

  function poll(section) {
    var url = section.getAttribute("data-status-url");
    var failures = 0;
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (answer) {
          if (!answer.ok) throw new Error("status " + answer.status);
          return answer.json();
        })
        .then(function (run) {
          failures = 0;
          showStatus(section, run);
          if (run.terminal) {
            window.location.reload();
          } else {
            window.setTimeout(tick, POLL_MS);
          }
        })
        .catch(function () {
          failures += 1;
          if (failures < MAX_FAILURES) {
            window.setTimeout(tick, POLL_MS * failures);
          } else {
            setText(section, '[data-run="polling"]', "(no longer updating: reload the page)");
          }
        });
    }
    window.setTimeout(tick, POLL_MS);
  }

  function confirmForms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  }

  function seriesOptions(chart, width) {
    var series = [{ label: chart.x_label }];
    chart.series.forEach(function (s, i) {
      series.push({ label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: false });
    });
    return {
      width: width,
      height: 320,
      scales: { x: { time: false } },
      axes: [{ label: chart.x_label }, {}],
      series: series,
    };
  }

  function seriesData(chart) {
    return [chart.x].concat(chart.series.map(function (s) { return s.values; }));
  }

  function barOptions(chart, width) {
    var labels = chart.labels;
    return {
      width: width,
      height: 300,
      legend: { show: false },
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: function (u, min, max) { return [0, max * 1.1 || 1]; } } },
      axes: [
        { splits: function () { return labels.map(function (_, i) { return i; }); },
          values: function (u, splits) { return splits.map(function (i) { return labels[i] || ""; }); } },
        { label: "kWh" },
      ],
      series: [{}, { label: "kWh", fill: COLOURS[0], stroke: COLOURS[0], paths: window.uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false } }],
    };
  }

  function barData(chart) {
    return [chart.labels.map(function (_, i) { return i; }), chart.values];
  }

  function drawCharts() {
    var block = document.getElementById("run-charts");
    if (!block || !window.uPlot) return;
    var charts = JSON.parse(block.textContent);
    var plots = [];
    charts.forEach(function (chart) {
      var box = document.getElementById(chart.id);
      if (!box) return;
      var width = Math.max(300, box.clientWidth || 800);
      var bars = chart.kind === "bars";
      var options = bars ? barOptions(chart, width) : seriesOptions(chart, width);
      var data = bars ? barData(chart) : seriesData(chart);
      plots.push({ plot: new window.uPlot(options, data, box), box: box });
    });
    window.addEventListener("resize", function () {
      plots.forEach(function (p) {
        p.plot.setSize({ width: Math.max(300, p.box.clientWidth || 800), height: p.plot.height });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.getElementById("run");
    if (section && section.getAttribute("data-terminal") === "false") poll(section);
    confirmForms();
    drawCharts();
  });
})();
