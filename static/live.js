// Live reading: when a stroke ends, the drawing goes to the JSON API (POST /predict, a PNG body) and
// the top answers replace the previous ones, without a page load. Only the newest drawing counts: a
// reading still under way when the drawing changes is aborted, and "aria-busy" is true until the
// newest drawing's reading is shown.
(function () {
  "use strict";
  var shared = window.emnistDrawing;
  var box = document.getElementById("live-reading");
  var form = document.getElementById("predict-form");
  if (!shared || !box || !window.fetch) { return; }
  var canvas = shared.canvas;
  var modelSelect = document.getElementById("model-select");
  var modelField = form.querySelector("input[name=model]");
  var WAIT_MS = 120;
  var TOP = 3;
  var timer = null;
  var pending = null;
  var sequence = 0;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function percent(probability, digits) { return (probability * 100).toFixed(digits) + " %"; }

  function show(nodes) {
    box.replaceChildren.apply(box, nodes);
  }

  function hint(text) { show([element("p", "live-hint", text)]); }

  function render(result) {
    var best = element("div", "live-best");
    best.appendChild(element("span", "live-char", result.label));
    best.appendChild(element("span", "live-pct", percent(result.probability, 1)));
    var cue = element("span", "live-cue " + (result.uncertain ? "uncertain" : "confident"),
                      result.uncertain ? "uncertain" : "confident");
    best.appendChild(cue);
    var list = element("ol", "live-top");
    result.top_k.forEach(function (item) {
      var row = element("li");
      row.appendChild(element("span", "char", item.label));
      if (!item.learned) { row.appendChild(element("span", "untrained-mark", "not learned")); }
      row.appendChild(element("span", "pct", percent(item.probability, 1)));
      list.appendChild(row);
    });
    var nodes = [element("h3", "live-heading", "Live reading"), best, list];
    if (!result.learned) {
      nodes.push(element("p", "untrained-note",
        "\u201c" + result.label + "\u201d is a class this model never learned: take it with care."));
    }
    box.setAttribute("data-label", result.label);
    show(nodes);
  }

  function model() {
    if (modelSelect) { return modelSelect.value; }
    return modelField ? modelField.value : "";
  }

  function pngBody() {
    // toDataURL encodes at once; Chromium runs toBlob in idle time, which can wait a second.
    var bytes = atob(canvas.toDataURL("image/png").split(",")[1]);
    var body = new Uint8Array(bytes.length);
    for (var i = 0; i < bytes.length; i++) { body[i] = bytes.charCodeAt(i); }
    return body;
  }

  function read(mine) {
    if (mine !== sequence) { return; }
    pending = new AbortController();
    var url = form.getAttribute("data-predict-url") + "?top_k=" + TOP +
      (model() ? "&model=" + encodeURIComponent(model()) : "");
    fetch(url, { method: "POST", body: pngBody(), headers: { "Content-Type": "image/png" },
                 signal: pending.signal })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, status: response.status, body: body };
        });
      })
      .then(function (answer) {
        if (mine !== sequence) { return; }
        box.setAttribute("aria-busy", "false");
        box.removeAttribute("data-label");
        if (answer.ok) { render(answer.body.results[0]); }
        else if (answer.status === 401) {
          // The server wants API tokens (EMNIST_API_TOKENS): the page has none; its form needs none.
          hint("The live reading needs an API token on this server; \u201cRead the character\u201d still works.");
        }
        else { hint("Not readable yet: " + answer.body.error + "."); }
      })
      .catch(function (error) {
        if (error.name === "AbortError" || mine !== sequence) { return; }
        box.setAttribute("aria-busy", "false");
        hint("The live reading is not available right now; \u201cRead the character\u201d still works.");
      });
  }

  function changed(hasInk) {
    // Every change makes the readings still under way stale.
    clearTimeout(timer);
    var mine = ++sequence;
    if (pending) { pending.abort(); pending = null; }
    if (!hasInk) {
      box.setAttribute("aria-busy", "false");
      box.removeAttribute("data-label");
      hint("The model\u2019s reading appears here as you lift the pen.");
      return;
    }
    box.setAttribute("aria-busy", "true");  // until the newest drawing's reading is shown
    timer = setTimeout(function () { read(mine); }, WAIT_MS);
  }

  canvas.addEventListener("drawing-change", function (event) { changed(event.detail.hasInk); });
  // A drawing put back before this script ran (after an error page) is read now.
  if (shared.hasInk()) { changed(true); }
}());
