// Starts Swagger UI on the API page (a file, not an inline script: the page allows scripts of 'self' only).
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.url,
    domNode: root,
    deepLinking: true,
    // Requests from "Try it out" go to this server only.
    supportedSubmitMethods: ["get", "post"],
  });
})();
