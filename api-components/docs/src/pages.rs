//! The HTML of `/docs` (Swagger UI) and `/redoc` (ReDoc), the pages FastAPI serves: each
//! loads its UI from jsDelivr at a pinned version, with the file's SHA-384 as Subresource
//! Integrity (computed from the npm packages of these versions), and points it at
//! `/api/openapi.json`.

/// The document the pages show.
const OPENAPI_URL: &str = "/api/openapi.json";

/// The page title.
const TITLE: &str = "code-exec-platform API";

/// swagger-ui-dist 5.35.0.
const SWAGGER_JS: &str = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0/swagger-ui-bundle.js";
const SWAGGER_JS_SRI: &str =
    "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9";
const SWAGGER_CSS: &str = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0/swagger-ui.css";
const SWAGGER_CSS_SRI: &str =
    "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I";

/// redoc 2.5.4 (the 2.x line FastAPI uses).
const REDOC_JS: &str = "https://cdn.jsdelivr.net/npm/redoc@2.5.4/bundles/redoc.standalone.js";
const REDOC_JS_SRI: &str =
    "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5";

/// Swagger UI with "Try it out" against this server (the bearer token goes into
/// "Authorize").
pub fn swagger_ui() -> String {
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE} - Swagger UI</title>
<link rel="stylesheet" href="{SWAGGER_CSS}" integrity="{SWAGGER_CSS_SRI}" crossorigin="anonymous">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{SWAGGER_JS}" integrity="{SWAGGER_JS_SRI}" crossorigin="anonymous"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "{OPENAPI_URL}",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  persistAuthorization: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
}});
</script>
</body>
</html>
"##
    )
}

/// ReDoc: the same document as one readable page.
pub fn redoc() -> String {
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE} - ReDoc</title>
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc needs JavaScript. The document itself is at <a href="{OPENAPI_URL}">{OPENAPI_URL}</a>.</noscript>
<redoc spec-url="{OPENAPI_URL}"></redoc>
<script src="{REDOC_JS}" integrity="{REDOC_JS_SRI}" crossorigin="anonymous"></script>
</body>
</html>
"##
    )
}
