// The form's script (progressive enhancement: without it the page is a plain file upload form).
// It shows the drawing panel, draws with pointer events (mouse, pen, touch), and on submit sends the
// drawing or the file, whichever was touched last, naming it in the "source" field. The drawing is
// kept in sessionStorage while the form is sent, so an error page shows it again.
(function () {
  "use strict";
  var canvas = document.getElementById("draw-canvas");
  var form = document.getElementById("predict-form");
  if (!canvas || !form) { return; }
  var STORE_KEY = "emnist-reader-drawing";
  var panel = document.getElementById("draw-panel");
  var field = document.getElementById("drawing-input");
  var sourceField = document.getElementById("source-input");
  var fileInput = document.getElementById("image-input");
  var note = document.getElementById("source-note");
  var modelSelect = document.getElementById("model-select");
  var classesNote = document.getElementById("classes-note");
  var context = canvas.getContext("2d");
  var drawing = false;
  var last = null;
  var hasInk = false;
  var lastTouched = "";

  function changed() {
    canvas.dispatchEvent(new CustomEvent("drawing-change", { detail: { hasInk: hasInk } }));
    describeSource();
  }

  function paper() {
    // Always black ink on white in the canvas' pixels (dark mode inverts only how it is shown).
    context.fillStyle = "#ffffff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.strokeStyle = "#000000";
    context.fillStyle = "#000000";
    context.lineWidth = 18;
    context.lineCap = "round";
    context.lineJoin = "round";
  }

  function reset() {
    paper();
    hasInk = false;
    if (lastTouched === "drawing") { lastTouched = hasFile() ? "file" : ""; }
    changed();
  }

  function hasFile() { return Boolean(fileInput && fileInput.files && fileInput.files.length); }

  function source() {
    if (hasInk && (lastTouched === "drawing" || !hasFile())) { return "drawing"; }
    return hasFile() ? "file" : "";
  }

  function describeSource() {
    var which = source();
    if (which === "drawing") {
      note.textContent = hasFile() ? "Reads your drawing (drawn after choosing the file)." : "Reads your drawing.";
    } else if (which === "file") {
      note.textContent = "Reads the file \u201c" + fileInput.files[0].name + "\u201d" +
        (hasInk ? " (chosen after drawing)." : ".");
    } else {
      note.textContent = "Draw a character or choose a picture first.";
    }
  }

  function position(event) {
    var box = canvas.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * canvas.width / box.width,
      y: (event.clientY - box.top) * canvas.height / box.height
    };
  }

  function dot(point) {
    context.beginPath();
    context.arc(point.x, point.y, context.lineWidth / 2, 0, 2 * Math.PI);
    context.fill();
  }

  canvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    drawing = true;
    hasInk = true;
    lastTouched = "drawing";
    last = position(event);
    dot(last);
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drawing) { return; }
    event.preventDefault();
    var point = position(event);
    context.beginPath();
    context.moveTo(last.x, last.y);
    context.lineTo(point.x, point.y);
    context.stroke();
    last = point;
  });
  function stop() {
    if (!drawing) { return; }
    drawing = false;
    last = null;
    changed();
  }
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);

  document.getElementById("clear-button").addEventListener("click", reset);
  fileInput.addEventListener("change", function () {
    lastTouched = hasFile() ? "file" : (hasInk ? "drawing" : "");
    describeSource();
  });
  if (modelSelect && classesNote) {
    modelSelect.addEventListener("change", function () {
      classesNote.textContent = modelSelect.options[modelSelect.selectedIndex].getAttribute("data-note");
      changed();
    });
  }

  form.addEventListener("submit", function () {
    var which = source();
    sourceField.value = which;
    field.value = which === "drawing" ? canvas.toDataURL("image/png") : "";
    try {
      if (hasInk) { sessionStorage.setItem(STORE_KEY, canvas.toDataURL("image/png")); }
      else { sessionStorage.removeItem(STORE_KEY); }
    } catch (ignored) { /* storage disabled: the drawing is then only lost on an error page */ }
  });

  function restore() {
    var saved = null;
    var error = document.getElementById("error-message");
    try {
      saved = error ? sessionStorage.getItem(STORE_KEY) : null;
      if (!error) { sessionStorage.removeItem(STORE_KEY); }
    } catch (ignored) { saved = null; }
    if (error) { error.focus(); }
    if (!saved) { return; }
    var picture = new Image();
    picture.onload = function () {
      paper();
      context.drawImage(picture, 0, 0, canvas.width, canvas.height);
      hasInk = true;
      lastTouched = "drawing";
      changed();
    };
    picture.src = saved;
  }

  panel.hidden = false;
  note.hidden = false;
  paper();
  describeSource();
  restore();
  window.emnistDrawing = { canvas: canvas, hasInk: function () { return hasInk; } };
}());
