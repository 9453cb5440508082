// Starts Swagger UI on /docs (a file of ours: the pages' CSP allows no inline script).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null  // no badge from validator.swagger.io: nothing leaves this site
  });
});
